//! Accounts people can recover: password reset and address verification and change, through
//! the handlers against the real database. The mail each request queues is read from the app's
//! outbox, as the function hands it to delivery (delivery itself is tested through `make dev`
//! and a real SMTP inbox in scripts/e2e.py, and SES against moto in `ssm.rs`).

use shared::App;
use shared::config::Config;
use shared::identity::Identity;
use shared::links::Purpose;
use shared::mail::{Mail, MailKind};
use shared::users::linked::LinkedUser;
use shared::users::{DisplayName, Email};
use uuid::Uuid;

use crate::support::*;

const NEW_PASSWORD: &str = "a brand new passphrase";

/// The token of a link, as the frontend page reads it from its URL.
fn token_of(link: &str) -> String {
    let (page, token) = link.split_once("?token=").unwrap();
    assert!(page.starts_with("http://localhost:3000/"), "{link}");
    token.to_owned()
}

/// The one mail queued, of the kind `pick` accepts, and its link's token.
fn link_in(mails: &[Mail], to: &str, pick: fn(&MailKind) -> Option<&String>) -> String {
    let links: Vec<&String> = mails
        .iter()
        .filter(|m| m.to == to)
        .filter_map(|m| pick(&m.kind))
        .collect();
    assert_eq!(links.len(), 1, "{mails:?}");
    token_of(links[0])
}

fn reset_link(kind: &MailKind) -> Option<&String> {
    match kind {
        MailKind::ResetPassword { link } => Some(link),
        _ => None,
    }
}

fn verify_link(kind: &MailKind) -> Option<&String> {
    match kind {
        MailKind::VerifyAddress { link } | MailKind::ConfirmNewAddress { link } => Some(link),
        _ => None,
    }
}

async fn forgot(app: &App, email: &str) -> (StatusCode, Value) {
    let req = call(Method::POST, "/api/auth/password/forgot").json(json!({"email": email}));
    read(send(app, "forgot", req).await)
}

async fn reset(app: &App, token: &str, password: &str) -> lambda_http::Response<lambda_http::Body> {
    let req = call(Method::POST, "/api/auth/password/reset")
        .json(json!({"token": token, "new_password": password}));
    send(app, "reset", req).await
}

async fn verify(app: &App, token: &str) -> lambda_http::Response<lambda_http::Body> {
    let req = call(Method::POST, "/api/auth/email/verify").json(json!({"token": token}));
    send(app, "verify", req).await
}

async fn me(app: &App, token: &str) -> (StatusCode, Value) {
    read(send(app, "me", call(Method::GET, "/api/auth/me").token(token)).await)
}

async fn signin_status(app: &App, email: &str, password: &str) -> StatusCode {
    let req =
        call(Method::POST, "/api/auth/signin").json(json!({"email": email, "password": password}));
    send(app, "signin", req).await.status()
}

/// Lets the next mail to `email` and its account through at once: the per-minute limit is what
/// tests that send two in a row would otherwise meet.
async fn forget_quota(app: &App, email: &str) {
    let owner = admin()
        .await
        .query_opt("SELECT id FROM users WHERE email = $1", &[&email])
        .await
        .unwrap();
    let mut keys = Vec::new();
    for purpose in [Purpose::Reset, Purpose::Verify, Purpose::Change] {
        keys.extend(app.throttle.mail_keys(purpose, email));
        if let Some(row) = &owner {
            keys.push(format!(
                "mail-{}-account:{}",
                purpose.as_str(),
                row.get::<_, Uuid>(0)
            ));
        }
    }
    admin()
        .await
        .execute("DELETE FROM mail_quotas WHERE key = ANY($1)", &[&keys])
        .await
        .unwrap();
}

/// An account whose signup mail has been taken from the outbox.
async fn account(app: &App) -> Account {
    let account = signup(app).await;
    app.outbox.take();
    account
}

type Value = serde_json::Value;

#[tokio::test]
async fn signup_mails_a_verification_link_that_verifies_the_address_once() {
    let app = app();
    let account = signup(&app).await;
    let token = link_in(&app.outbox.take(), &account.email, verify_link);
    let (_, body) = me(&app, &account.token).await;
    assert_eq!(body["user"]["email_verified"], false, "{body}");

    assert_eq!(verify(&app, &token).await.status(), StatusCode::NO_CONTENT);
    let (_, body) = me(&app, &account.token).await;
    assert_eq!(body["user"]["email_verified"], true, "{body}");
    let body = assert_error(
        verify(&app, &token).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert!(body["error"]["details"]["token"].is_string(), "{body}");
}

#[tokio::test]
async fn a_malformed_or_unknown_link_token_is_refused_with_the_contracts_error() {
    let app = app();
    for token in ["", "x", &"A".repeat(43), "../../etc/passwd"] {
        let response = verify(&app, token).await;
        assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        let response = reset(&app, token, NEW_PASSWORD).await;
        assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
    }
    let response = send(
        &app,
        "verify",
        call(Method::POST, "/api/auth/email/verify").json(json!({})),
    )
    .await;
    assert_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
}

#[tokio::test]
async fn forgot_answers_every_address_alike_and_mails_only_a_password_account() {
    let app = app();
    let account = account(&app).await;
    // A Better Auth user: a row with this address, but no password here.
    let linked = unique_email();
    Identity::BetterAuth(LinkedUser {
        issuer: "http://127.0.0.1:9125".into(),
        subject: Uuid::new_v4().simple().to_string(),
        email: Some(Email::parse(&linked).unwrap()),
        name: DisplayName::parse(None).unwrap(),
        email_verified: true,
    })
    .user(&app.db)
    .await
    .unwrap();

    let answers = [
        forgot(&app, &account.email).await,
        forgot(&app, &unique_email()).await,
        forgot(&app, &linked).await,
        // Within the minute: over the address's limit.
        forgot(&app, &account.email).await,
    ];
    for answer in &answers {
        assert_eq!(answer, &answers[0]);
    }
    assert_eq!(answers[0].0, StatusCode::ACCEPTED);
    assert!(answers[0].1["detail"].is_string());
    let mails = app.outbox.take();
    assert_eq!(mails.len(), 1, "{mails:?}");
    link_in(&mails, &account.email, reset_link);
}

/// One client naming account after account: past its address's allowance each request is
/// answered as any other and mails nothing; the accounts' owners, elsewhere, still get theirs.
#[tokio::test]
async fn a_client_past_its_allowance_of_reset_requests_is_answered_alike_and_mails_nothing() {
    let mut config = config();
    config.reset_requests_per_address = 2;
    let app = App::new(&config).unwrap();
    let (client, elsewhere) = (address(), address());
    let app = &app;
    let forgot_from = |ip: String, email: String| {
        let req = call(Method::POST, "/api/auth/password/forgot")
            .source_ip(&ip)
            .json(json!({"email": email}));
        async move { read(send(app, "forgot", req).await) }
    };
    let accounts = [account(app).await, account(app).await, account(app).await];
    let mut answers = Vec::new();
    for account in &accounts {
        answers.push(forgot_from(client.clone(), account.email.clone()).await);
    }
    for answer in &answers {
        assert_eq!(answer, &answers[0]);
    }
    assert_eq!(answers[0].0, StatusCode::ACCEPTED);
    let mailed: Vec<String> = app.outbox.take().into_iter().map(|m| m.to).collect();
    assert_eq!(
        mailed,
        [accounts[0].email.clone(), accounts[1].email.clone()]
    );

    forgot_from(elsewhere, accounts[2].email.clone()).await;
    link_in(&app.outbox.take(), &accounts[2].email, reset_link);
}

#[tokio::test]
async fn forgot_refuses_a_body_without_a_valid_email() {
    let app = app();
    for body in [json!({}), json!({"email": "nobody"}), json!({"email": 7})] {
        let req = call(Method::POST, "/api/auth/password/forgot").json(body);
        let response = send(&app, "forgot", req).await;
        assert!(
            response.status().is_client_error(),
            "{:?}",
            response.status()
        );
    }
    assert!(app.outbox.take().is_empty());
}

#[tokio::test]
async fn a_reset_ends_every_session_and_only_the_new_password_signs_in_after() {
    let app = app();
    let account = account(&app).await;
    let (other_token, other_refresh) = sign_in(&app, &account.email, PASSWORD).await;
    forgot(&app, &account.email).await;
    let token = link_in(&app.outbox.take(), &account.email, reset_link);

    assert_eq!(
        reset(&app, &token, NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
    let mails = app.outbox.take();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(
        (mails[0].to.as_str(), &mails[0].kind),
        (account.email.as_str(), &MailKind::PasswordChanged)
    );
    for token in [&account.token, &other_token] {
        assert_invalid_token(
            send(&app, "me", call(Method::GET, "/api/auth/me").token(token)).await,
        );
    }
    for refresh_token in [&account.refresh_token, &other_refresh] {
        let req =
            call(Method::POST, "/api/auth/refresh").json(json!({"refresh_token": refresh_token}));
        assert_eq!(
            send(&app, "refresh", req).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        signin_status(&app, &account.email, PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );
    let (token, _) = sign_in(&app, &account.email, NEW_PASSWORD).await;
    let (_, body) = me(&app, &token).await;
    assert_eq!(
        body["user"]["email_verified"], true,
        "the link came to the address: {body}"
    );
    let devices: i64 = admin()
        .await
        .query_one(
            "SELECT count(*) FROM devices WHERE user_id = $1",
            &[&account.id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(devices, 1, "only the new signin's device remains");
}

#[tokio::test]
async fn a_reset_link_works_once_and_a_newer_one_replaces_it() {
    let app = app();
    let account = account(&app).await;
    forgot(&app, &account.email).await;
    let first = link_in(&app.outbox.take(), &account.email, reset_link);
    forget_quota(&app, &account.email).await;
    forgot(&app, &account.email).await;
    let second = link_in(&app.outbox.take(), &account.email, reset_link);

    let response = reset(&app, &first, NEW_PASSWORD).await;
    assert_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(
        signin_status(&app, &account.email, PASSWORD).await,
        StatusCode::OK,
        "nothing changed"
    );
    assert_eq!(
        reset(&app, &second, NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
    let response = reset(&app, &second, "yet another long passphrase").await;
    assert_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(
        signin_status(&app, &account.email, NEW_PASSWORD).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_expired_reset_link_is_refused_and_changes_nothing() {
    let app = app();
    let account = account(&app).await;
    forgot(&app, &account.email).await;
    let token = link_in(&app.outbox.take(), &account.email, reset_link);
    admin()
        .await
        .execute(
            "UPDATE email_tokens SET expires_at = now() - interval '1 second' WHERE user_id = $1",
            &[&account.id],
        )
        .await
        .unwrap();
    assert_error(
        reset(&app, &token, NEW_PASSWORD).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(
        me(&app, &account.token).await.0,
        StatusCode::OK,
        "the session lives on"
    );
    assert_eq!(
        signin_status(&app, &account.email, PASSWORD).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_reset_with_a_weak_password_is_refused_and_leaves_the_link_usable() {
    let app = app();
    let account = account(&app).await;
    forgot(&app, &account.email).await;
    let token = link_in(&app.outbox.take(), &account.email, reset_link);
    let body = assert_error(
        reset(&app, &token, "password").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert!(
        body["error"]["details"]["new_password"].is_string(),
        "{body}"
    );
    // Built from the account's own address: refused, as signup refuses it.
    let local = account.email.split('@').next().unwrap();
    let response = reset(&app, &token, &format!("{local}{local}")).await;
    let body = assert_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert!(
        body["error"]["details"]["new_password"].is_string(),
        "{body}"
    );
    assert_eq!(
        reset(&app, &token, NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn a_reset_clears_the_accounts_signin_throttle() {
    let app = app();
    let account = account(&app).await;
    // Failures from many addresses: the account-wide key blocks.
    let mut blocked = false;
    for _ in 0..15 {
        blocked |= signin_status(&app, &account.email, "wrong password!").await
            == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(blocked);
    forgot(&app, &account.email).await;
    let token = link_in(&app.outbox.take(), &account.email, reset_link);
    assert_eq!(
        reset(&app, &token, NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        signin_status(&app, &account.email, NEW_PASSWORD).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn mail_to_one_address_is_limited_to_one_a_minute_and_five_an_hour() {
    let app = app();
    let account = account(&app).await;
    let mut sent = 0;
    for _ in 0..8 {
        forgot(&app, &account.email).await;
        forgot(&app, &account.email).await;
        sent += app.outbox.take().len();
        // A minute passes; the hour does not.
        admin()
            .await
            .execute(
                "UPDATE mail_quotas SET last_sent_at = last_sent_at - interval '61 seconds' \
                 WHERE key = ANY($1) OR key = $2",
                &[
                    &app.throttle.mail_keys(Purpose::Reset, &account.email),
                    &format!("mail-reset-account:{}", account.id),
                ],
            )
            .await
            .unwrap();
    }
    assert_eq!(sent, 5);
}

#[tokio::test]
async fn resend_mails_a_new_link_only_while_the_address_is_unverified() {
    let app = app();
    let account = signup(&app).await;
    let first = link_in(&app.outbox.take(), &account.email, verify_link);
    let resend = || call(Method::POST, "/api/auth/email/verify/resend").token(&account.token);
    let (status, body) = read(send(&app, "resend", resend()).await);
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert!(app.outbox.take().is_empty(), "within the minute: nothing");
    forget_quota(&app, &account.email).await;
    send(&app, "resend", resend()).await;
    let second = link_in(&app.outbox.take(), &account.email, verify_link);
    assert_ne!(first, second);
    // The newer link replaces the first.
    assert_error(
        verify(&app, &first).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(verify(&app, &second).await.status(), StatusCode::NO_CONTENT);
    forget_quota(&app, &account.email).await;
    assert_eq!(
        send(&app, "resend", resend()).await.status(),
        StatusCode::ACCEPTED
    );
    assert!(app.outbox.take().is_empty(), "verified: nothing to send");
    let unauthenticated = call(Method::POST, "/api/auth/email/verify/resend");
    assert_eq!(
        send(&app, "resend", unauthenticated).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

fn strict_app() -> App {
    let url = std::env::var("DATABASE_URL").unwrap();
    let config = Config::from_lookup(|name| match name {
        "DATABASE_URL" => Some(url.clone()),
        "JWT_SECRET" => Some(JWT_SECRET.into()),
        "BCRYPT_COST" => Some("4".into()),
        "REQUIRE_VERIFIED_EMAIL" => Some("true".into()),
        _ => None,
    })
    .unwrap();
    app();
    App::new(&config).unwrap()
}

#[tokio::test]
async fn with_verified_email_required_an_unverified_account_may_only_verify_resend_read_me_change_address_and_sign_out()
 {
    let app = strict_app();
    let account = signup(&app).await;
    let token = link_in(&app.outbox.take(), &account.email, verify_link);
    let t = account.token.as_str();
    let closed = [
        ("list", call(Method::GET, "/api/tasks").token(t)),
        (
            "create",
            call(Method::POST, "/api/tasks")
                .token(t)
                .json(json!({"title": "x"})),
        ),
        (
            "get",
            call(Method::GET, "/api/tasks/1")
                .token(t)
                .path_param("id", 1),
        ),
        ("sessions", call(Method::GET, "/api/auth/sessions").token(t)),
        (
            "revoke",
            call(Method::DELETE, "/api/auth/sessions").token(t),
        ),
        (
            "password",
            call(Method::POST, "/api/auth/password")
                .token(t)
                .json(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
        ),
        (
            "account",
            call(Method::DELETE, "/api/auth/me")
                .token(t)
                .json(json!({"password": PASSWORD})),
        ),
    ];
    for (endpoint, req) in closed {
        let body = assert_error(
            send(&app, endpoint, req).await,
            StatusCode::FORBIDDEN,
            "email_unverified",
        );
        assert!(
            body["detail"].as_str().unwrap().contains("verify"),
            "{endpoint}: {body}"
        );
    }
    assert_eq!(me(&app, t).await.0, StatusCode::OK);
    let resend = call(Method::POST, "/api/auth/email/verify/resend").token(t);
    assert_eq!(
        send(&app, "resend", resend).await.status(),
        StatusCode::ACCEPTED
    );

    assert_eq!(verify(&app, &token).await.status(), StatusCode::NO_CONTENT);
    let (status, body) = read(send(&app, "list", call(Method::GET, "/api/tasks").token(t)).await);
    assert_eq!(status, StatusCode::OK, "{body}");
    // An ended session is still 401, not 403.
    let other = signup(&app).await;
    send(
        &app,
        "signout",
        call(Method::POST, "/api/auth/signout").token(&other.token),
    )
    .await;
    assert_invalid_token(
        send(
            &app,
            "list",
            call(Method::GET, "/api/tasks").token(&other.token),
        )
        .await,
    );
}

async fn change_email(
    app: &App,
    account: &Account,
    new_email: &str,
    password: &str,
) -> lambda_http::Response<lambda_http::Body> {
    let req = call(Method::POST, "/api/auth/email")
        .token(&account.token)
        .json(json!({"new_email": new_email, "password": password}));
    send(app, "email", req).await
}

#[tokio::test]
async fn an_address_change_applies_only_when_the_link_to_the_new_address_is_used() {
    let app = app();
    let account = account(&app).await;
    let new_email = unique_email();
    let (status, body) =
        read(change_email(&app, &account, &new_email.to_uppercase(), PASSWORD).await);
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let mails = app.outbox.take();
    assert_eq!(mails.len(), 2, "{mails:?}");
    let token = link_in(&mails, &new_email, verify_link);
    assert!(mails.iter().any(|m| m.to == account.email
        && m.kind
            == MailKind::AddressChangeRequested {
                new_address: new_email.clone()
            }));
    let (_, body) = me(&app, &account.token).await;
    assert_eq!(
        body["user"]["email"],
        account.email.as_str(),
        "not before the link: {body}"
    );

    assert_eq!(verify(&app, &token).await.status(), StatusCode::NO_CONTENT);
    let (_, body) = me(&app, &account.token).await;
    assert_eq!(
        (
            body["user"]["email"].as_str(),
            body["user"]["email_verified"].as_bool()
        ),
        (Some(new_email.as_str()), Some(true))
    );
    assert_eq!(
        signin_status(&app, &new_email, PASSWORD).await,
        StatusCode::OK
    );
    assert_eq!(
        signin_status(&app, &account.email, PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_address_change_to_an_address_taken_meanwhile_is_refused_when_the_link_is_used() {
    let app = app();
    let account = account(&app).await;
    let wanted = unique_email();
    change_email(&app, &account, &wanted, PASSWORD).await;
    let token = link_in(&app.outbox.take(), &wanted, verify_link);
    shared::testing::signup_as(&app, wanted.clone())
        .await
        .unwrap();
    assert_error(
        verify(&app, &token).await,
        StatusCode::CONFLICT,
        "email_taken",
    );
    let (_, body) = me(&app, &account.token).await;
    assert_eq!(body["user"]["email"], account.email.as_str(), "{body}");
}

#[tokio::test]
async fn an_address_change_needs_the_password_and_a_new_valid_address() {
    let app = app();
    let account = account(&app).await;
    let response = change_email(&app, &account, &unique_email(), "not the password").await;
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials");
    let response = change_email(&app, &account, "not an address", PASSWORD).await;
    assert_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let response = change_email(&app, &account, &account.email, PASSWORD).await;
    assert_error(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert!(app.outbox.take().is_empty());
}

/// Address quotas are keyed with the signing secret, as throttle keys are, and a rotation must
/// not give an address a fresh allowance: here, mail to someone else's address, asked for from a
/// second account within the minute.
#[tokio::test]
async fn a_key_rotation_keeps_the_mail_sent_to_an_address_before_it() {
    let before = app();
    let (first, second) = (account(&before).await, account(&before).await);
    let stranger = unique_email();
    change_email(&before, &first, &stranger, PASSWORD).await;
    assert!(before.outbox.take().iter().any(|mail| mail.to == stranger));

    let during = rotated_app();
    let (status, body) = read(change_email(&during, &second, &stranger, PASSWORD).await);
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let mails = during.outbox.take();
    assert!(
        mails.iter().all(|mail| mail.to != stranger),
        "a second mail within the minute: {mails:?}"
    );
}

#[tokio::test]
async fn an_address_change_voids_the_links_sent_to_the_old_address() {
    let app = app();
    let account = account(&app).await;
    forgot(&app, &account.email).await;
    let reset_token = link_in(&app.outbox.take(), &account.email, reset_link);
    let new_email = unique_email();
    change_email(&app, &account, &new_email, PASSWORD).await;
    let token = link_in(&app.outbox.take(), &new_email, verify_link);
    assert_eq!(verify(&app, &token).await.status(), StatusCode::NO_CONTENT);
    assert_error(
        reset(&app, &reset_token, NEW_PASSWORD).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
}

#[tokio::test]
async fn the_owner_of_an_address_takes_back_an_account_someone_else_registered_with_it() {
    let app = app();
    // The squatter signs up first with the victim's address and keeps a session.
    let squatter = account(&app).await;
    let victim_email = squatter.email.clone();
    forgot(&app, &victim_email).await;
    let token = link_in(&app.outbox.take(), &victim_email, reset_link);
    assert_eq!(
        reset(&app, &token, NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_invalid_token(
        send(
            &app,
            "me",
            call(Method::GET, "/api/auth/me").token(&squatter.token),
        )
        .await,
    );
    assert_eq!(
        signin_status(&app, &victim_email, PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );
    let (token, _) = sign_in(&app, &victim_email, NEW_PASSWORD).await;
    assert_eq!(me(&app, &token).await.1["user"]["email_verified"], true);
}

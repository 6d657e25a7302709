//! Signup, signin and `me`, against the real database.

use crate::support::*;
use shared::auth::Caller;
use shared::handlers::{me, signin, signup};

async fn post_signup(
    app: &shared::App,
    body: serde_json::Value,
) -> lambda_http::Response<lambda_http::Body> {
    let Ok(response) = signup::handle(
        app,
        call(Method::POST, "/api/auth/signup").json(body).build(),
    )
    .await;
    response
}

async fn post_signin(
    app: &shared::App,
    body: serde_json::Value,
) -> lambda_http::Response<lambda_http::Body> {
    let Ok(response) = signin::handle(
        app,
        call(Method::POST, "/api/auth/signin").json(body).build(),
    )
    .await;
    response
}

async fn get_me(
    app: &shared::App,
    token: Option<&str>,
) -> lambda_http::Response<lambda_http::Body> {
    let mut req = call(Method::GET, "/api/auth/me");
    if let Some(token) = token {
        req = req.token(token);
    }
    let Ok(response) = me::handle(app, req.build()).await;
    response
}

#[tokio::test]
async fn signup_returns_the_user_and_a_bearer_token_that_me_accepts() {
    let app = app();
    let email = unique_email();
    let response = post_signup(&app, json!({"email": format!("  {}  ", email.to_uppercase()), "password": PASSWORD, "name": "  Ada  "})).await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let (status, body) = read(response);
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["user"]["email"], email);
    assert_eq!(body["user"]["name"], "Ada");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(
        body["expires_in"], 86_400,
        "a day by default: FastAPI-era frontends never refresh"
    );
    assert_eq!(body["refresh_token"].as_str().unwrap().len(), 43);
    assert!(body["user"]["created_at"].as_str().unwrap().ends_with('Z'));
    let fields: Vec<&String> = body["user"].as_object().unwrap().keys().collect();
    assert_eq!(
        fields,
        ["created_at", "email", "email_verified", "id", "name"],
        "no hash, nothing else"
    );

    let (status, me) = read(get_me(&app, body["token"].as_str()).await);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"], body["user"]);
}

#[tokio::test]
async fn signup_without_a_name_stores_null() {
    let app = app();
    let (status, body) = read(
        post_signup(
            &app,
            json!({"email": unique_email(), "password": PASSWORD, "name": null}),
        )
        .await,
    );
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["user"]["name"], serde_json::Value::Null);
}

#[tokio::test]
async fn signup_with_a_taken_email_in_any_case_is_a_conflict() {
    let app = app();
    let account = signup(&app).await;
    let response = post_signup(
        &app,
        json!({"email": account.email.to_uppercase(), "password": PASSWORD}),
    )
    .await;
    assert_error(response, StatusCode::CONFLICT, "email_taken");
}

#[tokio::test]
async fn simultaneous_signups_with_one_email_create_one_account() {
    let app = app();
    let email = unique_email();
    let attempts = (0..6).map(|_| post_signup(&app, json!({"email": email, "password": PASSWORD})));
    let statuses: Vec<StatusCode> = futures_statuses(attempts).await;
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        5,
        "{statuses:?}"
    );
}

async fn futures_statuses(
    calls: impl Iterator<Item = impl Future<Output = lambda_http::Response<lambda_http::Body>>>,
) -> Vec<StatusCode> {
    let mut set = Vec::new();
    for call in calls {
        set.push(call);
    }
    let mut statuses = Vec::new();
    for response in join_all(set).await {
        statuses.push(response.status());
    }
    statuses
}

/// Polls every future together, so the requests really overlap on the connection.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}

#[tokio::test]
async fn signup_validation_names_every_bad_field() {
    let app = app();
    let body = assert_error(
        post_signup(
            &app,
            json!({"email": "not-an-email", "password": "short", "name": "n".repeat(101)}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let details = body["error"]["details"].as_object().unwrap();
    assert_eq!(
        details.keys().collect::<Vec<_>>(),
        ["email", "name", "password"]
    );
}

#[tokio::test]
async fn signup_table_of_invalid_bodies() {
    let app = app();
    let long_password = "é".repeat(37);
    let cases = [
        (json!({"password": PASSWORD}), "email"),
        (json!({"email": unique_email()}), "password"),
        (
            json!({"email": unique_email(), "password": "1234567"}),
            "password",
        ),
        (
            json!({"email": unique_email(), "password": long_password}),
            "password",
        ),
        (
            json!({"email": unique_email(), "password": "p".repeat(73)}),
            "password",
        ),
        (json!({"email": "a@b", "password": PASSWORD}), "email"),
        (
            json!({"email": format!("{}@example.com", "a".repeat(250)), "password": PASSWORD}),
            "email",
        ),
        (json!({"email": 42, "password": PASSWORD}), "email"),
        (
            json!({"email": unique_email(), "password": PASSWORD, "name": ["x"]}),
            "name",
        ),
    ];
    for (body, field) in cases {
        let response = post_signup(&app, body.clone()).await;
        let error = assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert!(
            error["error"]["details"][field].is_string(),
            "{body} → {error}"
        );
    }
}

#[tokio::test]
async fn long_passwords_in_any_script_are_accepted_and_every_character_counts() {
    let app = app();
    // 64 characters, 192 bytes: past bcrypt's 72, so pre-hashed, never truncated.
    let password = "鸟语花香春暖花开风和日丽万紫千红".repeat(4);
    let email = unique_email();
    let (status, body) =
        read(post_signup(&app, json!({"email": email, "password": password})).await);
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = read(post_signin(&app, json!({"email": email, "password": password})).await);
    assert_eq!(status, StatusCode::OK);
    let last_changed = format!("{}白", password.strip_suffix('红').unwrap());
    assert_error(
        post_signin(&app, json!({"email": email, "password": last_changed})).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
}

#[tokio::test]
async fn guessable_passwords_and_ones_built_from_the_email_are_refused_at_signup() {
    let app = app();
    for (email, password) in [
        (unique_email(), "password123".to_owned()),
        (unique_email(), "qwertyuiop".to_owned()),
        (
            "grace.hopper@navy.example".to_owned(),
            "gracehopper1906".to_owned(),
        ),
    ] {
        let body = assert_error(
            post_signup(&app, json!({"email": email, "password": password})).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert!(
            body["error"]["details"]["password"]
                .as_str()
                .unwrap()
                .contains("too easy to guess"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn signin_normalises_the_password_and_replaces_outdated_hashes() {
    let app = app();
    let email = unique_email();
    // Typed with full-width letters and a ligature; stored as before normalisation and at
    // another cost than configured (4): signin still works, and leaves a fresh hash.
    let typed = "ｃｏｒｒｅｃｔ ﬁsh battery";
    let (status, body) =
        read(post_signup(&app, json!({"email": email, "password": PASSWORD})).await);
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let legacy = bcrypt::hash(typed, 5).unwrap();
    let admin = admin().await;
    admin
        .execute(
            "UPDATE users SET password_hash = $1 WHERE lower(email) = $2",
            &[&legacy, &email],
        )
        .await
        .unwrap();
    let (status, _) = read(post_signin(&app, json!({"email": email, "password": typed})).await);
    assert_eq!(status, StatusCode::OK);
    let stored: String = admin
        .query_one(
            "SELECT password_hash FROM users WHERE lower(email) = $1",
            &[&email],
        )
        .await
        .unwrap()
        .get(0);
    assert!(stored.starts_with("bcrypt+hmac-sha256:$2b$04$"), "{stored}");
    // The plain form of the same password works from now on, as does the typed one.
    for password in ["correct fish battery", typed] {
        let (status, _) =
            read(post_signin(&app, json!({"email": email, "password": password})).await);
        assert_eq!(status, StatusCode::OK, "{password}");
    }
}

/// Password shucking, as the review confirmed it over HTTP: a 105-character password's
/// `base64(SHA-256(password))`, an unsalted digest another site may have leaked, sent as the
/// password. It signed in while bcrypt was given exactly that digest past 72 bytes.
#[tokio::test]
async fn a_leaked_sha256_of_a_long_password_signs_in_neither_before_nor_after_its_hash_is_upgraded()
{
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let app = app();
    let email = unique_email();
    let password = "correct horse battery staple, ".repeat(3) + "and fifteen mor";
    assert_eq!(password.chars().count(), 105);
    let shucked = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&password));
    let (status, body) =
        read(post_signup(&app, json!({"email": email, "password": password})).await);
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let signin = |password: &str| post_signin(&app, json!({"email": email, "password": password}));
    assert_error(
        signin(&shucked).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );

    // The hash as the old scheme stored it: bcrypt of that very digest.
    let admin = admin().await;
    let older = bcrypt::hash(&shucked, 4).unwrap();
    admin
        .execute(
            "UPDATE users SET password_hash = $1 WHERE email = $2",
            &[&older, &email],
        )
        .await
        .unwrap();
    assert_error(
        signin(&shucked).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    assert_eq!(read(signin(&password).await).0, StatusCode::OK);
    let stored: String = admin
        .query_one(
            "SELECT password_hash FROM users WHERE email = $1",
            &[&email],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        stored.starts_with("bcrypt+hmac-sha256:"),
        "upgraded at signin: {stored}"
    );
    assert_error(
        signin(&shucked).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
}

#[tokio::test]
async fn signin_with_the_right_password_in_any_email_case_returns_a_session() {
    let app = app();
    let account = signup(&app).await;
    let (status, body) = read(
        post_signin(
            &app,
            json!({"email": account.email.to_uppercase(), "password": PASSWORD}),
        )
        .await,
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["user"]["id"], account.id.to_string());
    assert_eq!(body["token_type"], "Bearer");
    let (status, _) = read(get_me(&app, body["token"].as_str()).await);
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn signin_with_unknown_email_looks_like_a_wrong_password() {
    let app = app();
    let account = signup(&app).await;
    let wrong = post_signin(
        &app,
        json!({"email": account.email, "password": "not the password"}),
    )
    .await;
    let unknown = post_signin(&app, json!({"email": unique_email(), "password": PASSWORD})).await;
    for response in [wrong, unknown] {
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body = assert_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials");
        assert_eq!(body["error"]["message"], "email or password is incorrect");
    }
}

#[tokio::test]
async fn signin_requires_both_fields() {
    let app = app();
    let body = assert_error(
        post_signin(&app, json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(
        body["error"]["details"],
        json!({"email": "is required", "password": "is required"})
    );
}

#[tokio::test]
async fn me_without_a_token_is_401_with_a_bare_bearer_challenge() {
    let app = app();
    let response = get_me(&app, None).await;
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized");

    let Ok(response) = me::handle(
        &app,
        call(Method::GET, "/api/auth/me")
            .header("authorization", "Basic dXNlcjpwYXNz")
            .build(),
    )
    .await;
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn me_with_a_rejected_token_says_invalid_token() {
    let app = app();
    for token in ["garbage", "a.b.c", ""] {
        let Ok(response) = me::handle(
            &app,
            call(Method::GET, "/api/auth/me")
                .header("authorization", &format!("Bearer {token}"))
                .build(),
        )
        .await;
        assert_invalid_token(response);
    }
}

#[tokio::test]
async fn a_token_for_a_session_that_never_existed_is_refused() {
    let app = app();
    let caller = Caller::new(uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let token = app.tokens.issue(caller).unwrap().token;
    assert_error(
        get_me(&app, Some(&token)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
}

#[tokio::test]
async fn a_token_signed_with_another_secret_is_refused_by_me() {
    let app = app();
    let mut other = config();
    other.tokens.secret = "a-different-secret-that-is-32-bytes-long".into();
    let account = signup(&app).await;
    let caller = app.tokens.verify(&account.token).unwrap();
    let foreign = shared::App::new(&other)
        .unwrap()
        .tokens
        .issue(caller)
        .unwrap()
        .token;
    assert_error(
        get_me(&app, Some(&foreign)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
}

#[tokio::test]
async fn auth_endpoints_refuse_other_methods_with_405_and_allow() {
    let app = app();
    let Ok(response) = signup::handle(&app, call(Method::GET, "/api/auth/signup").build()).await;
    assert_eq!(response.headers()["allow"], "POST");
    assert_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    let Ok(response) = me::handle(&app, call(Method::DELETE, "/api/auth/me").build()).await;
    assert_eq!(response.headers()["allow"], "GET");
    assert_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
}

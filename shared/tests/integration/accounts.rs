//! Accounts people manage: changing the password, seeing and ending sessions, deleting the
//! account. Against the real database, with a session of their own for each test.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::support::*;
use serde_json::Value;
use shared::App;
use uuid::Uuid;

const NEW_PASSWORD: &str = "a different passphrase";

async fn me_status(app: &App, token: &str) -> StatusCode {
    send(app, "me", call(Method::GET, "/api/auth/me").token(token))
        .await
        .status()
}

async fn refresh_status(app: &App, refresh_token: &str) -> StatusCode {
    let req = call(Method::POST, "/api/auth/refresh").json(json!({"refresh_token": refresh_token}));
    send(app, "refresh", req).await.status()
}

fn change_password(token: &str, current: &str, new: &str) -> Call {
    call(Method::POST, "/api/auth/password")
        .token(token)
        .json(json!({"current_password": current, "new_password": new}))
}

async fn sessions_of(app: &App, token: &str) -> Vec<Value> {
    let (status, body) = read(
        send(
            app,
            "sessions",
            call(Method::GET, "/api/auth/sessions").token(token),
        )
        .await,
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().unwrap().clone()
}

fn end_session(token: &str, id: &str) -> Call {
    call(Method::DELETE, &format!("/api/auth/sessions/{id}"))
        .token(token)
        .path_param("id", id)
}

fn delete_account(token: &str, password: &str) -> Call {
    call(Method::DELETE, "/api/auth/me")
        .token(token)
        .json(json!({"password": password}))
}

async fn rows_of(user: Uuid) -> (i64, i64, i64, i64) {
    let row = admin()
        .await
        .query_one(
            "SELECT (SELECT count(*) FROM users WHERE id = $1),
                    (SELECT count(*) FROM tasks WHERE user_id = $1),
                    (SELECT count(*) FROM sessions WHERE user_id = $1),
                    (SELECT count(*) FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id
                     WHERE s.user_id = $1)",
            &[&user],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2), row.get(3))
}

#[tokio::test]
async fn changing_the_password_ends_every_other_session_and_keeps_the_callers() {
    let app = app();
    let account = signup(&app).await;
    let (laptop, laptop_refresh) = sign_in(&app, &account.email, PASSWORD).await;
    let (status, body) = read(
        send(
            &app,
            "password",
            change_password(&account.token, PASSWORD, NEW_PASSWORD),
        )
        .await,
    );
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));

    assert_eq!(me_status(&app, &laptop).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refresh_status(&app, &laptop_refresh).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(me_status(&app, &account.token).await, StatusCode::OK);
    assert_eq!(
        refresh_status(&app, &account.refresh_token).await,
        StatusCode::OK
    );
    let old = call(Method::POST, "/api/auth/signin")
        .json(json!({"email": account.email, "password": PASSWORD}));
    assert_error(
        send(&app, "signin", old).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    sign_in(&app, &account.email, NEW_PASSWORD).await;
}

#[tokio::test]
async fn a_password_change_touches_no_other_user() {
    let app = app();
    let (account, bystander) = (signup(&app).await, signup(&app).await);
    let response = send(
        &app,
        "password",
        change_password(&account.token, PASSWORD, NEW_PASSWORD),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(me_status(&app, &bystander.token).await, StatusCode::OK);
    sign_in(&app, &bystander.email, PASSWORD).await;
}

#[tokio::test]
async fn a_wrong_current_password_is_401_and_counts_toward_the_sessions_own_throttle_only() {
    let app = app();
    let account = signup(&app).await;
    let address = format!("2001:db8::{:x}", Uuid::new_v4().as_u128() as u16);
    // A session is allowed five wrong confirmations; the fifth blocks it, so the sixth is
    // refused even with the right password.
    for _ in 0..5 {
        let req =
            change_password(&account.token, "not the password", NEW_PASSWORD).source_ip(&address);
        let response = send(&app, "password", req).await;
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let req = change_password(&account.token, PASSWORD, NEW_PASSWORD).source_ip(&address);
    assert_error(
        send(&app, "password", req).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    );
    // Only that session: the account signs in from the same address, and its new session
    // confirms the password.
    let (token, _) = sign_in(&app, &account.email, PASSWORD).await;
    let req = change_password(&token, PASSWORD, NEW_PASSWORD).source_ip(&address);
    assert_eq!(
        send(&app, "password", req).await.status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn the_new_password_follows_the_signup_rules_and_differs_from_the_current() {
    let app = app();
    let account = signup(&app).await;
    for (body, field, problem) in [
        (
            json!({"current_password": PASSWORD, "new_password": "short"}),
            "new_password",
            "at least",
        ),
        (
            json!({"current_password": PASSWORD, "new_password": PASSWORD}),
            "new_password",
            "must differ",
        ),
        // The same password in full-width letters: one password, as signin compares them.
        (
            json!({"current_password": PASSWORD, "new_password": "ｃｏｒｒｅｃｔ ｈｏｒｓｅ ｂａｔｔｅｒｙ"}),
            "new_password",
            "must differ",
        ),
        (json!({"current_password": PASSWORD}), "new_password", ""),
        (
            json!({"new_password": NEW_PASSWORD}),
            "current_password",
            "",
        ),
        (
            json!({"current_password": 7, "new_password": NEW_PASSWORD}),
            "current_password",
            "",
        ),
    ] {
        let req = call(Method::POST, "/api/auth/password")
            .token(&account.token)
            .json(body.clone());
        let error = assert_error(
            send(&app, "password", req).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert!(
            error["error"]["details"][field]
                .as_str()
                .is_some_and(|p| p.contains(problem)),
            "{body} → {error}"
        );
    }
    sign_in(&app, &account.email, PASSWORD).await;
}

#[tokio::test]
async fn password_changes_need_a_live_session() {
    let app = app();
    let account = signup(&app).await;
    let response = send(
        &app,
        "password",
        call(Method::POST, "/api/auth/password")
            .json(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
    )
    .await;
    assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized");
    let signout = call(Method::POST, "/api/auth/signout").token(&account.token);
    send(&app, "signout", signout).await;
    assert_invalid_token(
        send(
            &app,
            "password",
            change_password(&account.token, PASSWORD, NEW_PASSWORD),
        )
        .await,
    );
    sign_in(&app, &account.email, PASSWORD).await;
}

#[tokio::test]
async fn the_session_list_shows_the_callers_live_sessions_and_marks_the_current_one() {
    let app = app();
    let account = signup(&app).await;
    let (phone, _) = sign_in(&app, &account.email, PASSWORD).await;
    let (ended, _) = sign_in(&app, &account.email, PASSWORD).await;
    send(
        &app,
        "signout",
        call(Method::POST, "/api/auth/signout").token(&ended),
    )
    .await;
    let stranger = signup(&app).await;

    let listed = sessions_of(&app, &account.token).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    let mine = app.tokens.verify(&account.token).unwrap().session;
    let phones = app.tokens.verify(&phone).unwrap().session;
    let ids: Vec<&str> = listed.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&mine.to_string().as_str()));
    assert!(ids.contains(&phones.to_string().as_str()));
    for session in &listed {
        assert_eq!(
            session["current"],
            session["id"] == mine.to_string(),
            "{session}"
        );
        let fields: Vec<&String> = session.as_object().unwrap().keys().collect();
        assert_eq!(fields, ["created_at", "current", "id", "last_used_at"]);
    }
    assert_eq!(sessions_of(&app, &stranger.token).await.len(), 1);
    assert_invalid_token(
        send(
            &app,
            "sessions",
            call(Method::GET, "/api/auth/sessions").token(&ended),
        )
        .await,
    );
}

#[tokio::test]
async fn a_session_records_its_use_when_last_used_at_is_stale() {
    let app = app();
    let account = signup(&app).await;
    let session = app.tokens.verify(&account.token).unwrap().session;
    admin()
        .await
        .execute(
            "UPDATE sessions SET last_used_at = now() - interval '1 hour' WHERE id = $1",
            &[&session],
        )
        .await
        .unwrap();
    let last_used = || async {
        let listed = sessions_of(&app, &account.token).await;
        listed[0]["last_used_at"].as_str().unwrap().to_owned()
    };
    let stale = last_used().await;
    let list = call(Method::GET, "/api/tasks").token(&account.token);
    assert_eq!(send(&app, "list", list).await.status(), StatusCode::OK);
    let fresh = last_used().await;
    assert!(fresh > stale, "{stale} → {fresh}");
    // Within the granularity a request writes nothing.
    let list = call(Method::GET, "/api/tasks").token(&account.token);
    send(&app, "list", list).await;
    assert_eq!(last_used().await, fresh);
}

#[tokio::test]
async fn ending_one_session_refuses_its_tokens_and_leaves_the_others() {
    let app = app();
    let account = signup(&app).await;
    let (phone, phone_refresh) = sign_in(&app, &account.email, PASSWORD).await;
    let phones = app.tokens.verify(&phone).unwrap().session.to_string();

    let response = send(&app, "revoke", end_session(&account.token, &phones)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(me_status(&app, &phone).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refresh_status(&app, &phone_refresh).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(me_status(&app, &account.token).await, StatusCode::OK);
    // Ended already: nothing left to end.
    assert_error(
        send(&app, "revoke", end_session(&account.token, &phones)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn another_users_session_or_an_unknown_id_is_404_and_untouched() {
    let app = app();
    let (account, stranger) = (signup(&app).await, signup(&app).await);
    let strangers = app
        .tokens
        .verify(&stranger.token)
        .unwrap()
        .session
        .to_string();
    for id in [
        strangers.as_str(),
        &Uuid::new_v4().to_string(),
        "not-a-uuid",
        "",
    ] {
        assert_error(
            send(&app, "revoke", end_session(&account.token, id)).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
    assert_eq!(me_status(&app, &stranger.token).await, StatusCode::OK);
}

#[tokio::test]
async fn ending_the_other_sessions_keeps_only_the_callers() {
    let app = app();
    let account = signup(&app).await;
    let (phone, _) = sign_in(&app, &account.email, PASSWORD).await;
    let (tablet, tablet_refresh) = sign_in(&app, &account.email, PASSWORD).await;
    let stranger = signup(&app).await;

    let others = call(Method::DELETE, "/api/auth/sessions").token(&account.token);
    assert_eq!(
        send(&app, "revoke", others).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(me_status(&app, &phone).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me_status(&app, &tablet).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refresh_status(&app, &tablet_refresh).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(me_status(&app, &account.token).await, StatusCode::OK);
    assert_eq!(me_status(&app, &stranger.token).await, StatusCode::OK);
    assert_eq!(sessions_of(&app, &account.token).await.len(), 1);
}

#[tokio::test]
async fn deleting_the_account_removes_everything_it_owned_at_once() {
    let app = app();
    let account = signup(&app).await;
    let (phone, phone_refresh) = sign_in(&app, &account.email, PASSWORD).await;
    for i in 0..3 {
        create_task(&app, &account, json!({"title": format!("t{i}")})).await;
    }
    let bystander = signup(&app).await;
    create_task(&app, &bystander, json!({"title": "stays"})).await;

    let response = send(&app, "account", delete_account(&account.token, PASSWORD)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(rows_of(account.id).await, (0, 0, 0, 0));
    for token in [&account.token, &phone] {
        assert_invalid_token(
            send(&app, "list", call(Method::GET, "/api/tasks").token(token)).await,
        );
        assert_eq!(me_status(&app, token).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        refresh_status(&app, &phone_refresh).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(tasks_owned_by(bystander.id).await, 1);
    // The address is free again.
    let again = call(Method::POST, "/api/auth/signup")
        .json(json!({"email": account.email, "password": PASSWORD}));
    assert_eq!(
        send(&app, "signup", again).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_wrong_or_missing_password_deletes_nothing() {
    let app = app();
    let account = signup(&app).await;
    create_task(&app, &account, json!({"title": "kept"})).await;
    let wrong = send(
        &app,
        "account",
        delete_account(&account.token, "not the password"),
    )
    .await;
    assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials");
    let missing = call(Method::DELETE, "/api/auth/me")
        .token(&account.token)
        .json(json!({}));
    assert_error(
        send(&app, "account", missing).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let no_body = call(Method::DELETE, "/api/auth/me").token(&account.token);
    assert_error(
        send(&app, "account", no_body).await,
        StatusCode::BAD_REQUEST,
        "invalid_json",
    );
    assert_eq!(rows_of(account.id).await.0, 1);
    assert_eq!(tasks_owned_by(account.id).await, 1);
    assert_eq!(me_status(&app, &account.token).await, StatusCode::OK);
}

/// Deleting an account while two other sessions of it create tasks: every create either lands
/// before the delete (and goes with it) or is refused after it, never a 500; nothing is left
/// behind. The race is narrow, so it is run a few times.
#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn deleting_an_account_while_its_other_sessions_create_tasks_leaves_nothing() {
    for _ in 0..6 {
        race_a_delete_against_creates().await;
    }
}

async fn race_a_delete_against_creates() {
    let setup = app();
    let account = signup(&setup).await;
    let deleted = Arc::new(AtomicBool::new(false));
    let creating = Arc::new(AtomicUsize::new(0));
    let mut creators = Vec::new();
    for _ in 0..2 {
        let (device, _) = sign_in(&setup, &account.email, PASSWORD).await;
        let deleted = Arc::clone(&deleted);
        let creating = Arc::clone(&creating);
        creators.push(tokio::spawn(async move {
            // An app of its own: a connection of its own, as another function instance has.
            let app = app();
            let mut statuses = Vec::new();
            loop {
                let done = deleted.load(Ordering::SeqCst);
                let req = call(Method::POST, "/api/tasks")
                    .token(&device)
                    .json(json!({"title": "racing"}));
                statuses.push(send(&app, "create", req).await.status());
                if statuses.len() == 1 {
                    creating.fetch_add(1, Ordering::SeqCst);
                }
                if done {
                    return statuses;
                }
            }
        }));
    }
    // The delete goes in while both are creating, however slow the machine is today.
    while creating.load(Ordering::SeqCst) < 2 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    let response = send(&setup, "account", delete_account(&account.token, PASSWORD)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    deleted.store(true, Ordering::SeqCst);
    for creator in creators {
        let statuses = creator.await.unwrap();
        assert!(
            statuses.contains(&StatusCode::CREATED),
            "some creates ran before the delete: {statuses:?}"
        );
        assert_eq!(statuses.last(), Some(&StatusCode::UNAUTHORIZED));
        assert!(
            statuses
                .iter()
                .all(|s| *s == StatusCode::CREATED || *s == StatusCode::UNAUTHORIZED),
            "{statuses:?}"
        );
    }
    assert_eq!(rows_of(account.id).await, (0, 0, 0, 0));
}

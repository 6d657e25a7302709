//! Sessions: refresh-token rotation, reuse detection and signout, against the real database.

use crate::support::*;
use serde_json::Value;
use shared::App;

async fn refresh(app: &App, refresh_token: &str) -> (StatusCode, Value) {
    read(
        send(
            app,
            "refresh",
            call(Method::POST, "/api/auth/refresh").json(json!({ "refresh_token": refresh_token })),
        )
        .await,
    )
}

async fn signout(app: &App, token: &str) -> lambda_http::Response<lambda_http::Body> {
    send(
        app,
        "signout",
        call(Method::POST, "/api/auth/signout").token(token),
    )
    .await
}

async fn me_status(app: &App, token: &str) -> StatusCode {
    send(app, "me", call(Method::GET, "/api/auth/me").token(token))
        .await
        .status()
}

/// Every endpoint that takes an access token, called with `token` on `account`'s task.
async fn statuses_with(app: &App, token: &str, task: &Value) -> Vec<(&'static str, StatusCode)> {
    let on_task = |method: Method, suffix: &str| {
        call(method, &format!("/api/tasks/{}{suffix}", task["id"]))
            .token(token)
            .path_param("id", &task["id"])
    };
    let requests = [
        ("me", call(Method::GET, "/api/auth/me").token(token)),
        ("list", call(Method::GET, "/api/tasks").token(token)),
        (
            "create",
            call(Method::POST, "/api/tasks")
                .token(token)
                .json(json!({"title": "after signout"})),
        ),
        ("get", on_task(Method::GET, "")),
        (
            "update",
            on_task(Method::PUT, "").json(json!({"title": "changed"})),
        ),
        ("toggle", on_task(Method::PATCH, "/complete")),
        ("delete", on_task(Method::DELETE, "")),
        (
            "signout",
            call(Method::POST, "/api/auth/signout").token(token),
        ),
    ];
    let mut statuses = Vec::new();
    for (endpoint, req) in requests {
        statuses.push((endpoint, send(app, endpoint, req).await.status()));
    }
    statuses
}

#[tokio::test]
async fn refresh_returns_new_tokens_for_the_same_user() {
    let app = app();
    let account = signup(&app).await;
    let (status, body) = refresh(&app, &account.refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["id"], account.id.to_string());
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 86_400);
    let token = body["token"].as_str().unwrap();
    let next = body["refresh_token"].as_str().unwrap();
    assert_ne!(token, account.token);
    assert_ne!(next, account.refresh_token);
    assert_eq!(me_status(&app, token).await, StatusCode::OK);
    // The old access token belongs to the same, still live session.
    assert_eq!(me_status(&app, &account.token).await, StatusCode::OK);

    let (status, _) = refresh(&app, next).await;
    assert_eq!(status, StatusCode::OK, "the rotated token works once too");
}

/// Moves a refresh token's spending `seconds` into the past, as if that long had passed.
async fn spent_ago(refresh_token: &str, seconds: f64) {
    admin()
        .await
        .execute(
            "UPDATE refresh_tokens SET used_at = used_at - make_interval(secs => $2)
             WHERE token_hash = sha256(convert_to($1, 'UTF8'))",
            &[&refresh_token, &seconds],
        )
        .await
        .unwrap();
}

/// Asserts that every token of the session is refused: its access tokens and `refresh_token`.
async fn assert_session_ended(app: &App, access_tokens: &[&str], refresh_token: &str) {
    let (status, _) = refresh(app, refresh_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for token in access_tokens {
        assert_eq!(me_status(app, token).await, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn a_refresh_token_spent_longer_ago_than_the_reuse_window_ends_the_whole_session() {
    let app = app();
    let account = signup(&app).await;
    let (_, first) = refresh(&app, &account.refresh_token).await;
    spent_ago(&account.refresh_token, 11.0).await;
    let stolen_replay = refresh(&app, &account.refresh_token).await;
    assert_eq!(stolen_replay.0, StatusCode::UNAUTHORIZED);
    assert_eq!(stolen_replay.1["error"]["code"], "unauthorized");

    // Both parties are out: the legitimate holder's newer tokens stop working too.
    let newer = first["token"].as_str().unwrap();
    let newer_refresh = first["refresh_token"].as_str().unwrap();
    assert_session_ended(&app, &[newer, &account.token], newer_refresh).await;
}

#[tokio::test]
async fn a_refresh_token_presented_again_within_the_window_gets_the_same_successor() {
    let app = app();
    let account = signup(&app).await;
    let (status, first) = refresh(&app, &account.refresh_token).await;
    assert_eq!(status, StatusCode::OK);
    // A retry after a lost answer, or a second tab, moments later.
    spent_ago(&account.refresh_token, 8.0).await;
    let (status, again) = refresh(&app, &account.refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["refresh_token"], first["refresh_token"]);
    assert_eq!(again["user"]["id"], account.id.to_string());
    // The session goes on: every access token works, and the successor refreshes once.
    for token in [
        &account.token,
        first["token"].as_str().unwrap(),
        again["token"].as_str().unwrap(),
    ] {
        assert_eq!(me_status(&app, token).await, StatusCode::OK);
    }
    let (status, _) = refresh(&app, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
}

/// A key rotation deployed between a refresh and its retry: the successor was derived under
/// the previous secret, and is still recognised, so the retry is not taken for reuse.
#[tokio::test]
async fn a_retry_across_a_key_rotation_gets_the_same_successor_and_the_old_tokens_work() {
    let before = app();
    let account = signup(&before).await;
    let (status, first) = refresh(&before, &account.refresh_token).await;
    assert_eq!(status, StatusCode::OK);
    spent_ago(&account.refresh_token, 5.0).await;

    let during = rotated_app();
    let (status, again) = refresh(&during, &account.refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["refresh_token"], first["refresh_token"]);
    for token in [
        &account.token,
        first["token"].as_str().unwrap(),
        again["token"].as_str().unwrap(),
    ] {
        assert_eq!(me_status(&during, token).await, StatusCode::OK);
    }
    let (status, next) = refresh(&during, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{next}");
}

#[tokio::test]
async fn only_the_token_spent_last_gets_its_successor_again() {
    let app = app();
    let account = signup(&app).await;
    let (_, first) = refresh(&app, &account.refresh_token).await;
    let (_, second) = refresh(&app, first["refresh_token"].as_str().unwrap()).await;
    // Within the window, but its successor is spent too: a grandparent is reuse.
    let (status, _) = refresh(&app, &account.refresh_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let latest = second["token"].as_str().unwrap();
    assert_session_ended(&app, &[latest], second["refresh_token"].as_str().unwrap()).await;
}

#[tokio::test]
async fn concurrent_refreshes_with_one_token_all_get_the_same_successor() {
    // Separate connections, all waiting on the token's row lock (held here until every refresh
    // has started), so each of them began before the winner's refresh committed.
    let apps: Vec<App> = (0..4).map(|_| app()).collect();
    for app in &apps {
        app.db.warm_up().await;
    }
    let account = signup(&apps[0]).await;
    let mut holder = admin().await;
    let lock = holder.transaction().await.unwrap();
    lock.execute(
        "SELECT FROM refresh_tokens WHERE token_hash = sha256(convert_to($1, 'UTF8')) FOR UPDATE",
        &[&account.refresh_token],
    )
    .await
    .unwrap();
    let refreshes =
        futures_util::future::join_all(apps.iter().map(|app| refresh(app, &account.refresh_token)));
    let release = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        lock.commit().await.unwrap();
    };
    let (answers, ()) = tokio::join!(refreshes, release);
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert_eq!(body["refresh_token"], answers[0].1["refresh_token"]);
    }
    let successor = answers[0].1["refresh_token"].as_str().unwrap();
    assert_eq!(refresh(&apps[0], successor).await.0, StatusCode::OK);
}

#[tokio::test]
async fn with_the_window_at_zero_any_second_use_ends_the_session() {
    let mut settings = config();
    settings.sessions.reuse_interval_seconds = 0;
    let app = App::new(&settings).unwrap();
    let account = signup(&app).await;
    let (_, first) = refresh(&app, &account.refresh_token).await;
    let (status, _) = refresh(&app, &account.refresh_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let newer = first["token"].as_str().unwrap();
    assert_session_ended(&app, &[newer], first["refresh_token"].as_str().unwrap()).await;
}

#[tokio::test]
async fn after_signout_the_access_token_is_refused_at_once_everywhere() {
    let app = app();
    let account = signup(&app).await;
    let task = create_task(&app, &account, json!({"title": "mine"})).await;
    let response = signout(&app, &account.token).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.body().is_empty());

    for (endpoint, status) in statuses_with(&app, &account.token, &task).await {
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{endpoint}");
    }
    let (status, _) = refresh(&app, &account.refresh_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "refresh after signout");

    // Nothing was written with the dead token.
    let rows = admin()
        .await
        .query(
            "SELECT title, completed FROM tasks WHERE user_id = $1",
            &[&account.id],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, String>(0), "mine");
    assert!(!rows[0].get::<_, bool>(1));
}

#[tokio::test]
async fn signout_refuses_the_token_with_an_invalid_token_challenge() {
    let app = app();
    let account = signup(&app).await;
    signout(&app, &account.token).await;
    let response = send(
        &app,
        "me",
        call(Method::GET, "/api/auth/me").token(&account.token),
    )
    .await;
    assert_invalid_token(response);
}

#[tokio::test]
async fn signout_ends_only_its_own_session() {
    let app = app();
    let account = signup(&app).await;
    let (status, other) = read(
        send(
            &app,
            "signin",
            call(Method::POST, "/api/auth/signin")
                .json(json!({"email": account.email, "password": PASSWORD})),
        )
        .await,
    );
    assert_eq!(status, StatusCode::OK);
    signout(&app, &account.token).await;
    assert_eq!(
        me_status(&app, other["token"].as_str().unwrap()).await,
        StatusCode::OK
    );
    let (status, _) = refresh(&app, other["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn signout_without_a_token_is_401() {
    let app = app();
    let response = send(&app, "signout", call(Method::POST, "/api/auth/signout")).await;
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn an_expired_refresh_token_or_session_is_refused() {
    let app = app();
    let admin = admin().await;

    let account = signup(&app).await;
    admin
        .execute(
            "UPDATE refresh_tokens SET expires_at = now() - interval '1 second'
             WHERE session_id IN (SELECT id FROM sessions WHERE user_id = $1)",
            &[&account.id],
        )
        .await
        .unwrap();
    assert_eq!(
        refresh(&app, &account.refresh_token).await.0,
        StatusCode::UNAUTHORIZED
    );

    let account = signup(&app).await;
    admin
        .execute(
            "UPDATE sessions SET expires_at = now() - interval '1 second' WHERE user_id = $1",
            &[&account.id],
        )
        .await
        .unwrap();
    assert_eq!(
        refresh(&app, &account.refresh_token).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        me_status(&app, &account.token).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn refresh_tokens_are_stored_only_as_their_sha256() {
    let app = app();
    let account = signup(&app).await;
    let row = admin()
        .await
        .query_one(
            "SELECT count(*) FILTER (WHERE token_hash = sha256(convert_to($1, 'UTF8'))),
                    count(*) FILTER (WHERE position(convert_to($1, 'UTF8') in token_hash) > 0)
             FROM refresh_tokens",
            &[&account.refresh_token],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 1);
    assert_eq!(row.get::<_, i64>(1), 0);
}

#[tokio::test]
async fn refresh_refuses_bad_bodies_with_the_contract_errors() {
    let app = app();
    let post = || call(Method::POST, "/api/auth/refresh");
    let cases = [
        (post(), StatusCode::BAD_REQUEST, "invalid_json"),
        (
            post().json(json!({})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            post().json(json!({"refresh_token": 42})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            post().json(json!({"refresh_token": "nope"})),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            post().json(json!({"refresh_token": "A".repeat(43)})),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (post().raw("[1]"), StatusCode::BAD_REQUEST, "invalid_json"),
        (
            post().header("content-type", "text/plain").raw("{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
    ];
    for (req, status, code) in cases {
        assert_error(send(&app, "refresh", req).await, status, code);
    }
    let response = send(&app, "refresh", call(Method::GET, "/api/auth/refresh")).await;
    assert_eq!(response.headers()["allow"], "POST");
}

#[tokio::test]
async fn ended_and_expired_sessions_and_expired_refresh_tokens_are_pruned_oldest_first() {
    let app = app();
    let account = signup(&app).await;
    let admin = admin().await;
    let session_of = |token: &str| app.tokens.verify(token).unwrap().session;
    // A signed-out session, one past its lifetime, and a live one whose first token expired.
    let (ended, _) = sign_in(&app, &account.email, PASSWORD).await;
    assert_eq!(signout(&app, &ended).await.status(), StatusCode::NO_CONTENT);
    let (lapsed, _) = sign_in(&app, &account.email, PASSWORD).await;
    let (live, stale_refresh) = sign_in(&app, &account.email, PASSWORD).await;
    admin
        .execute(
            "UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = $1",
            &[&session_of(&lapsed)],
        )
        .await
        .unwrap();
    admin
        .execute(
            "UPDATE refresh_tokens SET expires_at = now() - interval '1 second'
             WHERE token_hash = sha256(convert_to($1, 'UTF8'))",
            &[&stale_refresh],
        )
        .await
        .unwrap();
    let count = |sql: &'static str, id: uuid::Uuid| {
        let admin = &admin;
        async move { admin.query_one(sql, &[&id]).await.unwrap().get::<_, i64>(0) }
    };
    const SESSIONS: &str = "SELECT count(*) FROM sessions WHERE id = $1";
    const TOKENS: &str = "SELECT count(*) FROM refresh_tokens WHERE session_id = $1";

    // Each new session prunes at most 20 of each kind, oldest first: ours are older than any
    // other test's still to come, so a handful of signins reach them whatever else is there.
    let backlog: i64 = admin
        .query_one(
            "SELECT greatest(
                (SELECT count(*) FROM sessions WHERE ended_at IS NOT NULL),
                (SELECT count(*) FROM sessions WHERE expires_at < now()),
                (SELECT count(*) FROM refresh_tokens WHERE expires_at < now()))",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    for _ in 0..backlog / 20 + 2 {
        sign_in(&app, &account.email, PASSWORD).await;
    }
    assert_eq!(count(SESSIONS, session_of(&ended)).await, 0, "ended");
    assert_eq!(
        count(SESSIONS, session_of(&lapsed)).await,
        0,
        "past its lifetime"
    );
    assert_eq!(
        count(TOKENS, session_of(&live)).await,
        0,
        "its only token expired"
    );
    // What is live stays.
    assert_eq!(count(SESSIONS, session_of(&live)).await, 1);
    assert_eq!(me_status(&app, &account.token).await, StatusCode::OK);
}

//! The functions' logs, captured as Lambda would get them (JSON): one line per request with its
//! request id, route, status and latency; authentication failures with their reason; and never a
//! password, hash or token.

use crate::support::*;
use serde_json::Value;

#[tokio::test]
async fn logs_are_json_lines_with_request_ids_and_reasons_but_no_secrets() {
    let (captured, _guard) = capture("debug");

    let app = app();
    let account = signup(&app).await;
    let bad_password = "wrong horse battery staple";
    let wrong = send(
        &app,
        "signin",
        call(Method::POST, "/api/auth/signin")
            .json(json!({"email": account.email, "password": bad_password})),
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let (_, refreshed) = read(
        send(
            &app,
            "refresh",
            call(Method::POST, "/api/auth/refresh")
                .json(json!({"refresh_token": account.refresh_token})),
        )
        .await,
    );
    let tampered = format!("{}x", account.token);
    send(
        &app,
        "me",
        call(Method::GET, "/api/auth/me").token(&tampered),
    )
    .await;
    send(
        &app,
        "signout",
        call(Method::POST, "/api/auth/signout").token(&account.token),
    )
    .await;
    send(
        &app,
        "list",
        call(Method::GET, "/api/tasks").token(&account.token),
    )
    .await;

    let lines = captured.lines();
    let requests: Vec<&Value> = lines.iter().filter(|l| l["message"] == "request").collect();
    assert_eq!(requests.len(), 6, "one line per request: {lines:#?}");
    for line in &requests {
        assert!(
            line["request_id"].as_str().is_some_and(|id| !id.is_empty()),
            "{line}"
        );
        assert!(
            line["route"].as_str().is_some_and(|r| r.contains("/api/")),
            "{line}"
        );
        assert!(line["status"].is_u64(), "{line}");
        assert!(line["latency_us"].is_u64(), "{line}");
    }
    let statuses: Vec<u64> = requests
        .iter()
        .map(|l| l["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [201, 401, 200, 401, 204, 401]);

    let reasons: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["reason"].as_str().or(l["outcome"].as_str()))
        .collect();
    for reason in [
        "wrong password",
        "bad signature",
        "session ended or expired",
    ] {
        assert!(
            reasons.contains(&reason),
            "{reason} not logged: {reasons:?}"
        );
    }

    let text = captured.text();
    let hash: String = admin()
        .await
        .query_one(
            "SELECT password_hash FROM users WHERE id = $1",
            &[&account.id],
        )
        .await
        .unwrap()
        .get(0);
    let secrets = [
        PASSWORD,
        bad_password,
        &account.token,
        &account.refresh_token,
        refreshed["token"].as_str().unwrap(),
        refreshed["refresh_token"].as_str().unwrap(),
        &hash,
        JWT_SECRET,
    ];
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "a secret leaked into the logs: {secret}"
        );
    }
    assert!(!text.contains("eyJ"), "no JWT fragment either");
}

/// What the Lambda runtime and tokio-postgres log below INFO (raw events with passwords and
/// tokens; statement parameters) stays out, even with the level at TRACE.
#[tokio::test]
async fn at_trace_the_runtimes_raw_events_and_statement_parameters_are_not_logged() {
    let (captured, _guard) = capture("TRACE");
    // As lambda_runtime 1.x logs every invocation (layers/api_response.rs), and tokio-postgres
    // its statements.
    tracing::trace!(
        target: "lambda_runtime::layers::api_response",
        body = r#"{"password": "runtime-event-secret"}"#,
        "raw JSON event received from Lambda"
    );
    tracing::debug!(target: "lambda_runtime_api_client", "runtime-client-secret");
    tracing::debug!(target: "lambda_http::request", "http-layer-secret");
    tracing::debug!(target: "tokio_postgres::query", "statement-parameter-secret");
    tracing::trace!("ours at trace");
    tracing::info!(target: "lambda_runtime", "the runtime at info");

    let text = serde_json::to_string(&captured.lines()).unwrap();
    for secret in [
        "runtime-event-secret",
        "runtime-client-secret",
        "http-layer-secret",
        "statement-parameter-secret",
    ] {
        assert!(!text.contains(secret), "{secret} was logged: {text}");
    }
    assert!(text.contains("ours at trace"), "{text}");
    assert!(text.contains("the runtime at info"), "{text}");
}

/// A database failure answered 500 is logged with what the log needs to explain it: SQLSTATE,
/// message and constraint. Never its DETAIL, which quotes the row's values.
#[tokio::test]
async fn a_database_error_is_logged_with_its_sqlstate_and_message_but_not_its_detail() {
    let (captured, _guard) = capture("info");

    let app = app();
    let key = format!("row-value-{}", uuid::Uuid::new_v4());
    let duplicate = shared::db::Statement::new(
        "INSERT INTO throttles (key, hits, last_hit_at) VALUES ($1, 1, now()), ($1, 1, now())",
    )
    .arg(key.as_str(), tokio_postgres::types::Type::TEXT);
    let error = shared::Error::Database(app.db.query(&duplicate).await.unwrap_err());
    let response = shared::http::error_response(&error);
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);

    let failure = captured
        .lines()
        .into_iter()
        .find(|line| line["message"] == "request failed")
        .expect("the 500 is logged");
    let logged = failure["error"].as_str().unwrap();
    assert!(logged.contains("SQLSTATE 23505"), "{logged}");
    assert!(
        logged.contains("duplicate key value violates unique constraint"),
        "{logged}"
    );
    assert!(logged.contains("throttles_pkey"), "{logged}");
    assert!(!logged.contains(&key), "DETAIL quotes the row: {logged}");
    // And the client learns nothing of it.
    let (_, body) = read(response);
    assert!(!body.to_string().contains("23505"), "{body}");
}

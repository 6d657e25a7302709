//! The functions' logs, captured as Lambda would get them (JSON): one line per request with its
//! request id, route, status and latency; authentication failures with their reason; and never a
//! password, hash or token.

use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::support::*;
use serde_json::Value;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<Value> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

#[tokio::test]
async fn logs_are_json_lines_with_request_ids_and_reasons_but_no_secrets() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = shared::logging::json_subscriber("debug", move || writer.clone());
    let _guard = tracing::subscriber::set_default(subscriber);

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
    let requests: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "request")
        .collect();
    assert_eq!(requests.len(), 6, "one line per request: {lines:#?}");
    for line in &requests {
        assert!(
            line["span"]["request_id"]
                .as_str()
                .is_some_and(|id| !id.is_empty()),
            "{line}"
        );
        assert!(
            line["span"]["route"]
                .as_str()
                .is_some_and(|r| r.contains("/api/")),
            "{line}"
        );
        assert!(line["fields"]["status"].is_u64(), "{line}");
        assert!(line["fields"]["latency_us"].is_u64(), "{line}");
    }
    let statuses: Vec<u64> = requests
        .iter()
        .map(|l| l["fields"]["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [201, 401, 200, 401, 204, 401]);

    let reasons: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["fields"]["reason"].as_str())
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

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
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

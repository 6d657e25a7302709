//! Security events (OWASP ASVS V16) and the metrics in the same lines, captured as Lambda gets
//! them: each event one JSON line with its stable name, who it is about (the user id, or a
//! keyed hash of an email no account has), the source address and the outcome; the counted ones
//! CloudWatch Embedded Metric Format documents.

use serde_json::Value;
use shared::App;
use shared::auth::{BetterAuthSettings, JwksTimings};
use shared::testing::key_server::{KeyServer, Signer};

use crate::support::*;

/// The one line with `event == name`.
fn event<'a>(lines: &'a [Value], name: &str) -> &'a Value {
    let found: Vec<&Value> = lines.iter().filter(|l| l["event"] == name).collect();
    assert_eq!(found.len(), 1, "one {name} line: {lines:#?}");
    found[0]
}

/// The names of the metrics an EMF line counts, after checking it is one.
fn metrics(line: &Value) -> Vec<&str> {
    let directive = &line["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "todo-auth-lambda", "{line}");
    assert!(line["_aws"]["Timestamp"].is_i64(), "{line}");
    assert_eq!(line["Stage"], "local", "{line}");
    for dimensions in directive["Dimensions"].as_array().unwrap() {
        for dimension in dimensions.as_array().unwrap() {
            assert!(line[dimension.as_str().unwrap()].is_string(), "{line}");
        }
    }
    let names: Vec<&str> = directive["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["Unit"], "Count", "{line}");
            m["Name"].as_str().unwrap()
        })
        .collect();
    for name in &names {
        assert_eq!(line[*name], 1, "{line}");
    }
    names
}

async fn signin(app: &App, email: &str, password: &str, from: &str) -> StatusCode {
    let body = json!({"email": email, "password": password});
    let req = call(Method::POST, "/api/auth/signin")
        .source_ip(from)
        .json(body);
    send(app, "signin", req).await.status()
}

#[tokio::test]
async fn every_line_says_whether_it_is_a_cold_start_which_version_wrote_it_and_from_where() {
    let (captured, _guard) = capture("info");
    let app = app();
    let account = signup(&app).await;
    let req = call(Method::GET, "/api/auth/me")
        .token(&account.token)
        .source_ip("203.0.113.7");
    assert_eq!(send(&app, "me", req).await.status(), StatusCode::OK);

    let lines = captured.lines();
    assert!(!lines.is_empty());
    for line in &lines {
        assert!(line["cold_start"].is_boolean(), "{line}");
        assert_eq!(line["function_version"], "$LATEST", "{line}");
    }
    let me = lines
        .iter()
        .find(|l| l["message"] == "request" && l["route"] == "GET /api/auth/me")
        .unwrap();
    assert_eq!(me["source"], "203.0.113.7");
    assert_eq!(me["user"], account.id.to_string());
}

#[tokio::test]
async fn signins_are_events_and_metrics_naming_the_user_or_a_keyed_hash_of_the_email() {
    let app = app();
    let account = signup(&app).await;
    let unknown = unique_email();
    let (captured, guard) = capture("info");
    signin(&app, &account.email, PASSWORD, "198.51.100.1").await;
    signin(&app, &account.email, "not the password", "198.51.100.2").await;
    signin(&app, &unknown, PASSWORD, "198.51.100.3").await;
    signin(&app, &unknown, PASSWORD, "198.51.100.4").await;
    drop(guard);

    let lines = captured.lines();
    let succeeded = event(&lines, "signin_succeeded");
    assert_eq!(succeeded["user"], account.id.to_string());
    assert_eq!(succeeded["source"], "198.51.100.1");
    assert_eq!(succeeded["outcome"], "session started");
    assert_eq!(metrics(succeeded), ["SigninSucceeded"]);

    let failed: Vec<&Value> = lines
        .iter()
        .filter(|l| l["event"] == "signin_failed")
        .collect();
    assert_eq!(failed.len(), 3, "{lines:#?}");
    assert_eq!(failed[0]["user"], account.id.to_string());
    assert_eq!(failed[0]["outcome"], "wrong password");
    assert_eq!(failed[0]["source"], "198.51.100.2");
    for line in &failed {
        assert_eq!(metrics(line), ["SigninFailed"]);
    }
    // An address no account has: the same keyed hash each time, never the address itself.
    assert_eq!(failed[1]["outcome"], "unknown email");
    assert!(failed[1]["user"].is_null(), "{}", failed[1]);
    let hash = failed[1]["email_hash"].as_str().unwrap();
    assert!(hash.starts_with("email:") && hash.len() > 40, "{hash}");
    assert_eq!(failed[2]["email_hash"], hash);
    assert_eq!(failed[2]["source"], "198.51.100.4");
    let text = captured.text();
    assert!(!text.contains(&unknown), "the email was logged");
    assert!(!text.contains(&account.email), "the email was logged");
}

#[tokio::test]
async fn a_throttled_signin_names_the_key_that_refused_it() {
    let app = app();
    let account = signup(&app).await;
    let from = "198.51.100.20";
    // One address's allowance on one account is five: the fifth failure blocks the pair.
    for _ in 0..5 {
        let status = signin(&app, &account.email, "not the password", from).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (captured, guard) = capture("info");
    let status = signin(&app, &account.email, "not the password", from).await;
    drop(guard);
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    let lines = captured.lines();
    let failed = event(&lines, "signin_failed");
    assert_eq!(failed["outcome"], "throttled");
    assert_eq!(failed["throttled_by"], "signin-account-address");
    assert_eq!(failed["user"], account.id.to_string());
    let throttled = event(&lines, "throttled");
    assert_eq!(throttled["keys"], "signin-account-address");
    assert_eq!(throttled["source"], from);
    assert_eq!(throttled["user"], account.id.to_string());
    assert!(throttled["retry_after"].as_u64().is_some_and(|s| s >= 1));
    assert_eq!(metrics(throttled), ["Throttled"]);
}

#[tokio::test]
async fn signup_password_sessions_and_deletion_are_events_about_the_user() {
    let app = app();
    let (captured, guard) = capture("info");
    let account = signup(&app).await;
    let again = call(Method::POST, "/api/auth/signup")
        .json(json!({"email": account.email, "password": "another long passphrase"}));
    assert_eq!(
        send(&app, "signup", again).await.status(),
        StatusCode::CONFLICT
    );
    let new_password = "a wholly different passphrase";
    let change = call(Method::POST, "/api/auth/password")
        .token(&account.token)
        .json(json!({"current_password": PASSWORD, "new_password": new_password}));
    assert_eq!(
        send(&app, "password", change).await.status(),
        StatusCode::NO_CONTENT
    );
    let others = call(Method::DELETE, "/api/auth/sessions").token(&account.token);
    assert_eq!(
        send(&app, "revoke", others).await.status(),
        StatusCode::NO_CONTENT
    );
    let wrong = call(Method::DELETE, "/api/auth/me")
        .token(&account.token)
        .json(json!({"password": PASSWORD}));
    assert_eq!(
        send(&app, "account", wrong).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let delete = call(Method::DELETE, "/api/auth/me")
        .token(&account.token)
        .json(json!({"password": new_password}));
    assert_eq!(
        send(&app, "account", delete).await.status(),
        StatusCode::NO_CONTENT
    );
    drop(guard);

    let lines = captured.lines();
    let user = account.id.to_string();
    let signups: Vec<&Value> = lines.iter().filter(|l| l["event"] == "signup").collect();
    assert_eq!(signups.len(), 2, "{lines:#?}");
    assert_eq!(signups[0]["outcome"], "created");
    assert_eq!(signups[0]["user"], user);
    assert_eq!(signups[1]["outcome"], "email taken");
    assert!(signups[1]["email_hash"].is_string(), "{}", signups[1]);
    assert_eq!(event(&lines, "password_changed")["outcome"], "changed");
    let revoked: Vec<&Value> = lines
        .iter()
        .filter(|l| l["event"] == "sessions_revoked")
        .collect();
    assert_eq!(revoked.len(), 2, "{lines:#?}");
    assert_eq!(revoked[0]["outcome"], "others");
    assert_eq!(revoked[1]["outcome"], "others");
    assert_eq!(
        revoked[1]["count"], 0,
        "the password change ended them already"
    );
    let refused = event(&lines, "password_confirmation_failed");
    assert_eq!(refused["outcome"], "wrong password");
    let deleted = event(&lines, "account_deleted");
    for line in [revoked[0], revoked[1], refused, deleted] {
        assert_eq!(line["user"], user, "{line}");
        assert!(line["source"].is_string(), "{line}");
    }
}

#[tokio::test]
async fn signout_ends_this_session_and_says_so() {
    let app = app();
    let account = signup(&app).await;
    let (captured, guard) = capture("info");
    let signout = call(Method::POST, "/api/auth/signout").token(&account.token);
    assert_eq!(
        send(&app, "signout", signout).await.status(),
        StatusCode::NO_CONTENT
    );
    drop(guard);
    let lines = captured.lines();
    let revoked = event(&lines, "sessions_revoked");
    assert_eq!(revoked["outcome"], "this");
    assert_eq!(revoked["count"], 1);
    assert_eq!(revoked["user"], account.id.to_string());
}

#[tokio::test]
async fn reuse_of_a_spent_refresh_token_is_an_event_and_a_metric() {
    let mut settings = config();
    settings.sessions.reuse_interval_seconds = 0;
    let app = App::new(&settings).unwrap();
    let account = signup(&app).await;
    let refresh = || {
        call(Method::POST, "/api/auth/refresh")
            .json(json!({"refresh_token": account.refresh_token}))
    };
    assert_eq!(
        send(&app, "refresh", refresh()).await.status(),
        StatusCode::OK
    );
    let (captured, guard) = capture("info");
    let replay = send(&app, "refresh", refresh().source_ip("192.0.2.66")).await;
    drop(guard);
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);

    let lines = captured.lines();
    let reuse = event(&lines, "refresh_token_reuse_detected");
    assert_eq!(reuse["level"], "WARN");
    assert_eq!(reuse["outcome"], "session ended");
    assert_eq!(reuse["user"], account.id.to_string());
    assert_eq!(reuse["source"], "192.0.2.66");
    assert!(reuse["session"].is_string(), "{reuse}");
    assert_eq!(metrics(reuse), ["RefreshTokenReuse"]);
}

#[tokio::test]
async fn a_better_auth_users_first_request_is_an_event_and_only_the_first() {
    const ISSUER: &str = "http://better-auth.events.test";
    let signer = Signer::ed25519("events");
    let keys = KeyServer::start(KeyServer::publishing(&[&signer]))
        .await
        .unwrap();
    let mut settings = config();
    settings.better_auth = Some(BetterAuthSettings {
        issuer: ISSUER.into(),
        audience: ISSUER.into(),
        jwks_url: keys.url.clone(),
        jwks_timings: JwksTimings::default(),
        max_lifetime: std::time::Duration::from_secs(3600),
    });
    let app = App::new(&settings).unwrap();
    let subject = uuid::Uuid::new_v4().simple().to_string();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let token = signer.sign(&json!({
        "sub": subject, "iss": ISSUER, "aud": ISSUER, "iat": now, "exp": now + 900,
        "email": unique_email(), "name": "Ada",
    }));

    let (captured, guard) = capture("info");
    for _ in 0..2 {
        let list = call(Method::GET, "/api/tasks").token(&token);
        assert_eq!(send(&app, "list", list).await.status(), StatusCode::OK);
    }
    drop(guard);
    let lines = captured.lines();
    let seen = event(&lines, "better_auth_user_first_seen");
    assert_eq!(seen["user"], subject);
    assert_eq!(seen["outcome"], "user created");
    assert!(seen["source"].is_string(), "{seen}");
}

#[tokio::test]
async fn an_unreachable_database_counts_as_a_server_error_by_code_and_as_database_unavailable() {
    let (app, token, _) = app_without_database();

    let (captured, guard) = capture("info");
    let unreachable_at_start = app.db.warm_up().await;
    let me = call(Method::GET, "/api/auth/me").token(&token);
    let status = send(&app, "me", me).await.status();
    drop(guard);
    assert!(!unreachable_at_start);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    let lines = captured.lines();
    let at_start = lines
        .iter()
        .find(|l| l["message"] == "database not reachable at start-up; will retry per request")
        .unwrap();
    assert_eq!(metrics(at_start), ["DatabaseUnavailable"]);
    let failed = lines
        .iter()
        .find(|l| l["message"] == "request failed")
        .unwrap();
    assert_eq!(metrics(failed), ["ServerError", "DatabaseUnavailable"]);
    assert_eq!(failed["Code"], "unavailable");
    assert_eq!(
        failed["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["Stage"], ["Stage", "Code"]])
    );
}

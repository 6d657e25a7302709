//! Brute-force defence: signin attempts per account and address, counted before they are
//! tried; signups per address; keys stored hashed.

use crate::support::*;
use lambda_http::{Body, Response};
use shared::App;

async fn signin(app: &App, email: &str, password: &str, ip: &str) -> Response<Body> {
    signin_with(app, json!({"email": email, "password": password}), ip).await
}

async fn signin_with(app: &App, body: serde_json::Value, ip: &str) -> Response<Body> {
    let req = call(Method::POST, "/api/auth/signin")
        .source_ip(ip)
        .json(body);
    send(app, "signin", req).await
}

fn retry_after(response: &Response<Body>) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Sets the count of the key named `name` as if it had seen `hits` recent attempts.
async fn preset(app: &App, name: &str, hits: i32) {
    admin()
        .await
        .execute(
            "INSERT INTO throttles (key, hits, last_hit_at) VALUES ($1, $2, now())
             ON CONFLICT (key) DO UPDATE SET hits = $2, last_hit_at = now(), blocked_until = NULL",
            &[&app.throttle.stored(name), &hits],
        )
        .await
        .unwrap();
}

/// The count of the key named `name`, if it has a row.
async fn hits(app: &App, name: &str) -> Option<i32> {
    admin()
        .await
        .query_opt(
            "SELECT hits FROM throttles WHERE key = $1",
            &[&app.throttle.stored(name)],
        )
        .await
        .unwrap()
        .map(|row| row.get(0))
}

#[tokio::test]
async fn repeated_failures_from_one_address_are_answered_429_with_retry_after() {
    let app = app();
    let account = signup(&app).await;
    let ip = address();
    for _ in 1..=5 {
        let response = signin(&app, &account.email, "wrong password", &ip).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    // The fifth attempt used up the allowance: blocked, even for the right password.
    let response = signin(&app, &account.email, PASSWORD, &ip).await;
    assert!(retry_after(&response) >= 1);
    let body = assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("try again")
    );
}

#[tokio::test]
async fn the_block_lifts_after_retry_after_and_success_clears_the_account() {
    let app = app();
    let account = signup(&app).await;
    let ip = address();
    for _ in 0..6 {
        signin(&app, &account.email, "wrong password", &ip).await;
    }
    let blocked = signin(&app, &account.email, PASSWORD, &ip).await;
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    tokio::time::sleep(std::time::Duration::from_secs(retry_after(&blocked))).await;
    let response = signin(&app, &account.email, PASSWORD, &ip).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        hits(&app, &format!("signin-account:{}", account.email)).await,
        None,
        "a successful signin forgets the account's failures"
    );
}

#[tokio::test]
async fn delays_double_with_each_failure_up_to_a_cap() {
    let app = app();
    let account = signup(&app).await;
    let ip = address();
    let key = format!("signin-account-address:{}|{ip}", account.email);
    // The allowance is 5: the 5th attempt blocks for 1 s, the 10th for 2^5.
    for (hits_before, expected) in [(4, 1), (9, 32), (10, 64), (13, 512), (40, 900)] {
        preset(&app, &key, hits_before).await;
        signin(&app, &account.email, "wrong password", &ip).await;
        let response = signin(&app, &account.email, PASSWORD, &ip).await;
        let waited = retry_after(&response);
        assert!(
            (expected - 1..=expected).contains(&waited),
            "after {} failures: {waited}s",
            hits_before + 1
        );
    }
}

#[tokio::test]
async fn an_attacker_with_many_addresses_cannot_lock_the_owner_out_for_long() {
    let app = app();
    let account = signup(&app).await;
    // Failures from everywhere: the account-wide count is far past its allowance.
    preset(&app, &format!("signin-account:{}", account.email), 10_000).await;
    let failed = signin(&app, &account.email, "wrong password", &address()).await;
    assert_error(failed, StatusCode::UNAUTHORIZED, "invalid_credentials");
    let response = signin(&app, &account.email, PASSWORD, &address()).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&response) <= 30, "the owner waits at most 30 s");
}

#[tokio::test]
async fn one_address_spraying_many_accounts_is_throttled() {
    let app = app();
    let ip = address();
    preset(&app, &format!("signin-address:{ip}"), 29).await;
    signin(&app, &unique_email(), "wrong password", &ip).await;
    let response = signin(&app, &unique_email(), "any password", &ip).await;
    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    // Another address is not affected.
    let response = signin(&app, &unique_email(), "any password", &address()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn after_a_quiet_hour_the_count_starts_again() {
    let app = app();
    let account = signup(&app).await;
    let ip = address();
    let key = format!("signin-account-address:{}|{ip}", account.email);
    preset(&app, &key, 500).await;
    admin()
        .await
        .execute(
            "UPDATE throttles SET last_hit_at = now() - interval '61 minutes' WHERE key = $1",
            &[&app.throttle.stored(&key)],
        )
        .await
        .unwrap();
    signin(&app, &account.email, "wrong password", &ip).await;
    let response = signin(&app, &account.email, PASSWORD, &ip).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn signups_from_one_address_are_throttled() {
    let app = app();
    let ip = address();
    let signup_from = |ip: String| {
        let app = &app;
        async move {
            send(
                app,
                "signup",
                call(Method::POST, "/api/auth/signup")
                    .source_ip(&ip)
                    .json(json!({"email": unique_email(), "password": PASSWORD})),
            )
            .await
        }
    };
    preset(&app, &format!("signup-address:{ip}"), 9).await;
    assert_eq!(signup_from(ip.clone()).await.status(), StatusCode::CREATED);
    let response = signup_from(ip.clone()).await;
    assert!(retry_after(&response) >= 1);
    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_eq!(signup_from(address()).await.status(), StatusCode::CREATED);
}

/// Owners come back after a quiet hour, many at once: each hit prunes a few stale keys of other
/// people's, possibly the very keys being hit at that moment. No hit may fail (a deadlock
/// between two prunes would be a 500), and no key hit just now may be pruned: every address
/// has its fresh count afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_hits_on_stale_keys_neither_fail_nor_lose_a_fresh_count() {
    let addresses: Vec<String> = (0..24).map(|_| address()).collect();
    let admin = admin().await;
    let names = |ip: &str| app().throttle.stored(&format!("signup-address:{ip}"));
    for ip in &addresses {
        admin
            .execute(
                "INSERT INTO throttles (key, hits, last_hit_at)
                 VALUES ($1, 3, now() - interval '2 hours')",
                &[&names(ip)],
            )
            .await
            .unwrap();
    }
    let mut hits = Vec::new();
    for ip in addresses.clone() {
        hits.push(tokio::spawn(async move {
            // An app of its own: a connection of its own, as another function instance has.
            let app = app();
            let keys = app.throttle.signup_keys(Some(ip.parse().unwrap()));
            for _ in 0..3 {
                shared::throttle::attempt(&app.db, &keys).await?;
            }
            Ok::<_, shared::Error>(())
        }));
    }
    for hit in hits {
        hit.await.unwrap().unwrap();
    }
    for ip in &addresses {
        let row = admin
            .query_opt("SELECT hits FROM throttles WHERE key = $1", &[&names(ip)])
            .await
            .unwrap();
        let hits: Option<i32> = row.map(|r| r.get(0));
        assert_eq!(
            hits,
            Some(3),
            "{ip}: the quiet hour restarted it at 1, then 2 more"
        );
    }
}

/// Attempts in flight together at the edge of the allowance: the check and the count are one
/// statement, so no more than the allowance gets a password check (401); the rest are 429.
#[tokio::test]
async fn concurrent_wrong_signins_at_the_edge_get_at_most_the_allowance_of_checks() {
    let apps: Vec<App> = (0..4).map(|_| app()).collect();
    let account = signup(&apps[0]).await;
    let ip = address();
    // One attempt left on this account from this address (allowance 5).
    preset(
        &apps[0],
        &format!("signin-account-address:{}|{ip}", account.email),
        4,
    )
    .await;
    let attempts =
        (0..20).map(|i| signin(&apps[i % apps.len()], &account.email, "wrong password", &ip));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(attempts)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, refused), (1, 19), "{statuses:?}");
}

#[tokio::test]
async fn people_who_sign_in_correctly_never_use_up_their_addresss_allowance() {
    let app = app();
    let ip = address();
    // An office behind one NAT: more successful signins than the address allows attempts (30).
    let accounts = futures_util::future::join_all((0..8).map(|_| signup(&app))).await;
    for _ in 0..5 {
        for account in &accounts {
            let response = signin(&app, &account.email, PASSWORD, &ip).await;
            assert_eq!(response.status(), StatusCode::OK);
        }
    }
    assert_eq!(hits(&app, &format!("signin-address:{ip}")).await, None);
    // A failure still counts, and a success after it takes back only itself.
    signin(&app, &accounts[0].email, "wrong password", &ip).await;
    signin(&app, &accounts[1].email, PASSWORD, &ip).await;
    assert_eq!(hits(&app, &format!("signin-address:{ip}")).await, Some(1));
}

#[tokio::test]
async fn throttle_keys_keep_no_email_or_address_in_clear() {
    let app = app();
    let account = signup(&app).await;
    let ip = address();
    signin(&app, &account.email, "wrong password", &ip).await;
    let (local, _) = account.email.split_once('@').unwrap();
    let leaked: i64 = admin()
        .await
        .query_one(
            "SELECT count(*) FROM throttles WHERE key LIKE '%' || $1 || '%' OR key LIKE '%' || $2 || '%'",
            &[&local, &ip],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(leaked, 0);
    let kinds: Vec<String> = admin()
        .await
        .query(
            "SELECT key FROM throttles WHERE key = ANY($1) ORDER BY key",
            &[&vec![
                app.throttle
                    .stored(&format!("signin-account:{}", account.email)),
                app.throttle.stored(&format!("signin-address:{ip}")),
            ]],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0).split(':').next().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["signin-account", "signin-address"]);
}

async fn signin_from_device(app: &App, email: &str, device: &str, ip: &str) -> Response<Body> {
    let body = json!({"email": email, "password": PASSWORD, "device_token": device});
    signin_with(app, body, ip).await
}

fn device_token_of(response: Response<Body>) -> String {
    let (status, body) = read(response);
    assert_eq!(status, StatusCode::OK, "{body}");
    body["device_token"].as_str().unwrap().to_owned()
}

/// The targeted lockout: an attacker who knows only the email fails from a fresh address each
/// time the account's block lifts, so the account-wide key stays blocked. The owner, whose
/// device signed in before, gets in every time; without the device token they would not.
#[tokio::test]
async fn an_attacker_who_knows_only_the_email_cannot_keep_the_owner_out() {
    let app = app();
    let account = signup(&app).await;
    let home = address();
    let device = device_token_of(signin(&app, &account.email, PASSWORD, &home).await);
    let account_key = format!("signin-account:{}", account.email);
    for round in 0..3 {
        // The account's block has just lifted; its count is far past the allowance.
        preset(&app, &account_key, 10_000 + round).await;
        let attack = signin(&app, &account.email, "guess 12345", &address()).await;
        assert_eq!(
            attack.status(),
            StatusCode::UNAUTHORIZED,
            "counted, and blocks the account"
        );
        // The owner elsewhere, without the device token, is held by that block...
        let elsewhere = signin(&app, &account.email, PASSWORD, &address()).await;
        assert_eq!(elsewhere.status(), StatusCode::TOO_MANY_REQUESTS);
        // ...the owner's device, even from a new address, is not.
        let owner = signin_from_device(&app, &account.email, &device, &address()).await;
        assert_eq!(device_token_of(owner), device, "the device keeps its token");
        // Its success cleared only the device's count: the attacker's block stays.
        assert!(hits(&app, &account_key).await.unwrap() > 10_000);
    }
}

#[tokio::test]
async fn a_device_token_helps_only_its_own_account_and_counts_its_own_failures() {
    let app = app();
    let (owner, other) = (signup(&app).await, signup(&app).await);
    let device = device_token_of(signin(&app, &owner.email, PASSWORD, &address()).await);
    // Wrong passwords from the device use up the device's own allowance (5).
    let ip = address();
    for _ in 0..5 {
        let body = json!({"email": owner.email, "password": "guess 12345", "device_token": device});
        let response = signin_with(&app, body, &ip).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let blocked = signin_from_device(&app, &owner.email, &device, &ip).await;
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another account's device token, or a made-up one, is no device: the account's block holds.
    let another_device = device_token_of(signin(&app, &owner.email, PASSWORD, &address()).await);
    preset(&app, &format!("signin-account:{}", other.email), 10_000).await;
    signin(&app, &other.email, "guess 12345", &address()).await;
    for token in [another_device, "A".repeat(43), "not a token".into()] {
        let response = signin_from_device(&app, &other.email, &token, &address()).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "{token}");
    }
    // A signup hands out the first device token.
    let (_, body) = read(
        send(
            &app,
            "signup",
            call(Method::POST, "/api/auth/signup")
                .json(json!({"email": unique_email(), "password": PASSWORD})),
        )
        .await,
    );
    assert_eq!(body["device_token"].as_str().map(str::len), Some(43));
}

/// The review's lockout: failures on the account from everywhere keep its account-wide key
/// blocked, which once also refused the signed-in owner's password change and account deletion.
#[tokio::test]
async fn a_signed_in_owner_confirms_their_password_however_blocked_the_account_is() {
    let app = app();
    let account = signup(&app).await;
    preset(&app, &format!("signin-account:{}", account.email), 10_000).await;
    let attack = signin(&app, &account.email, "guess 12345", &address()).await;
    assert_eq!(
        attack.status(),
        StatusCode::UNAUTHORIZED,
        "counted: the account is blocked"
    );
    let change = call(Method::POST, "/api/auth/password")
        .token(&account.token)
        .json(json!({"current_password": PASSWORD, "new_password": "a fresh passphrase here"}));
    assert_eq!(
        send(&app, "password", change).await.status(),
        StatusCode::NO_CONTENT
    );
    let delete = call(Method::DELETE, "/api/auth/me")
        .token(&account.token)
        .json(json!({"password": "a fresh passphrase here"}));
    assert_eq!(
        send(&app, "account", delete).await.status(),
        StatusCode::NO_CONTENT
    );
}

/// Someone behind the owner's NAT, office or VPN exit fails signins on random emails until the
/// address is blocked: the owner's device still gets in from it.
#[tokio::test]
async fn an_address_blocked_by_others_does_not_refuse_a_valid_device_token() {
    let app = app();
    let account = signup(&app).await;
    let device = device_token_of(signin(&app, &account.email, PASSWORD, &address()).await);
    let shared_exit = address();
    preset(&app, &format!("signin-address:{shared_exit}"), 10_000).await;
    let spray = signin(&app, &unique_email(), "guess 12345", &shared_exit).await;
    assert_eq!(
        spray.status(),
        StatusCode::UNAUTHORIZED,
        "counted: the address is blocked"
    );
    let without_device = signin(&app, &account.email, PASSWORD, &shared_exit).await;
    assert_eq!(without_device.status(), StatusCode::TOO_MANY_REQUESTS);
    let owner = signin_from_device(&app, &account.email, &device, &shared_exit).await;
    assert_eq!(device_token_of(owner), device);
}

/// Events without `sourceIp` (another payload version, an ALB, a proxy) once skipped the
/// address keys altogether: signups had no limit. They share the address `unknown` now.
#[tokio::test]
async fn requests_without_a_source_address_are_limited_together() {
    let app = app();
    let (signups, signins) = ("signup-address:unknown", "signin-address:unknown");
    preset(&app, signups, 10_000).await;
    preset(&app, signins, 10_000).await;
    let first = call(Method::POST, "/api/auth/signup")
        .without_source_ip()
        .json(json!({"email": unique_email(), "password": PASSWORD}));
    assert_eq!(
        send(&app, "signup", first).await.status(),
        StatusCode::CREATED,
        "blocks the key"
    );
    let second = call(Method::POST, "/api/auth/signup")
        .without_source_ip()
        .json(json!({"email": unique_email(), "password": PASSWORD}));
    assert_error(
        send(&app, "signup", second).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    );
    let spray = call(Method::POST, "/api/auth/signin")
        .without_source_ip()
        .json(json!({"email": unique_email(), "password": "guess 12345"}));
    assert_eq!(
        send(&app, "signin", spray).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let next = call(Method::POST, "/api/auth/signin")
        .without_source_ip()
        .json(json!({"email": unique_email(), "password": "guess 12345"}));
    assert_error(
        send(&app, "signin", next).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    );
    // The shared keys are this test's alone: leave them as a quiet hour would.
    admin()
        .await
        .execute(
            "DELETE FROM throttles WHERE key = ANY($1)",
            &[&vec![
                app.throttle.stored(signups),
                app.throttle.stored(signins),
            ]],
        )
        .await
        .unwrap();
}

/// Throttle keys are hashed with a key derived from the JWT secret: a rotation once started
/// every count afresh, a fresh allowance for an attacker mid-attack.
#[tokio::test]
async fn a_key_rotation_keeps_the_counts_made_before_it() {
    let before = app();
    let account = signup(&before).await;
    let ip = address();
    preset(
        &before,
        &format!("signin-account-address:{}|{ip}", account.email),
        10_000,
    )
    .await;
    let attack = signin(&before, &account.email, "guess 12345", &ip).await;
    assert_eq!(
        attack.status(),
        StatusCode::UNAUTHORIZED,
        "counted: blocked"
    );

    let during = rotated_app();
    let response = signin(&during, &account.email, PASSWORD, &ip).await;
    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    // And counts made now land under the new secret's keys too.
    let elsewhere = address();
    signin(&during, &account.email, "guess 12345", &elsewhere).await;
    assert_eq!(
        hits(&during, &format!("signin-address:{elsewhere}")).await,
        Some(1)
    );
    assert_eq!(
        hits(&before, &format!("signin-address:{elsewhere}")).await,
        Some(1)
    );
}

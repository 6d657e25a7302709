//! Brute-force defence: failed signins per account and address, signups per address.

use crate::support::*;
use lambda_http::{Body, Response};
use shared::App;
use uuid::Uuid;

/// An address of this test's own (documentation range), so tests never share a counter.
fn address() -> String {
    let id = Uuid::new_v4().as_u128();
    format!(
        "2001:db8:{:x}:{:x}::{:x}",
        (id >> 16) as u16,
        (id >> 32) as u16,
        id as u16
    )
}

async fn signin(app: &App, email: &str, password: &str, ip: &str) -> Response<Body> {
    send(
        app,
        "signin",
        call(Method::POST, "/api/auth/signin")
            .source_ip(ip)
            .json(json!({"email": email, "password": password})),
    )
    .await
}

fn retry_after(response: &Response<Body>) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Sets a throttle key's count as if it had seen `hits` recent attempts.
async fn preset(key: &str, hits: i32) {
    admin()
        .await
        .execute(
            "INSERT INTO throttles (key, hits, last_hit_at) VALUES ($1, $2, now())
             ON CONFLICT (key) DO UPDATE SET hits = $2, last_hit_at = now(), blocked_until = NULL",
            &[&key, &hits],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn repeated_failures_from_one_address_are_answered_429_with_retry_after() {
    let app = app();
    let account = signup(&app).await;
    let ip = address();
    for _ in 1..=6 {
        let response = signin(&app, &account.email, "wrong password", &ip).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    // The sixth failure went past the free five: blocked, even for the right password.
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
    let left: i64 = admin()
        .await
        .query_one(
            "SELECT count(*) FROM throttles WHERE key = $1",
            &[&format!("signin-account:{}", account.email)],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        left, 0,
        "a successful signin forgets the account's failures"
    );
}

#[tokio::test]
async fn delays_double_with_each_failure_up_to_a_cap() {
    let app = app();
    let account = signup(&app).await;
    let ip = address();
    let key = format!("signin-account-address:{}|{ip}", account.email);
    for (hits_before, expected) in [(9, 16), (10, 32), (13, 256), (40, 900)] {
        preset(&key, hits_before).await;
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
    preset(&format!("signin-account:{}", account.email), 10_000).await;
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
    preset(&format!("signin-address:{ip}"), 30).await;
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
    preset(&key, 500).await;
    admin()
        .await
        .execute(
            "UPDATE throttles SET last_hit_at = now() - interval '61 minutes' WHERE key = $1",
            &[&key],
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
    preset(&format!("signup-address:{ip}"), 10).await;
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
    for ip in &addresses {
        admin
            .execute(
                "INSERT INTO throttles (key, hits, last_hit_at)
                 VALUES ('signup-address:' || $1, 3, now() - interval '2 hours')",
                &[ip],
            )
            .await
            .unwrap();
    }
    let mut hits = Vec::new();
    for ip in addresses.clone() {
        hits.push(tokio::spawn(async move {
            // An app of its own: a connection of its own, as another function instance has.
            let app = app();
            let keys = shared::throttle::signup_keys(Some(ip.parse().unwrap()), 10);
            for _ in 0..3 {
                shared::throttle::hit(&app.db, &keys).await?;
            }
            Ok::<_, shared::Error>(())
        }));
    }
    for hit in hits {
        hit.await.unwrap().unwrap();
    }
    for ip in &addresses {
        let row = admin
            .query_opt(
                "SELECT hits FROM throttles WHERE key = 'signup-address:' || $1",
                &[ip],
            )
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

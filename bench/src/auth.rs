//! Passwords and tokens: signin against one bcrypt verify, signup against one bcrypt hash (its
//! verification mail goes out after the answer), JWT issue and verify.

use std::sync::atomic::{AtomicUsize, Ordering};

use lambda_http::http::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use shared::db::Statement;
use shared::handlers;
use shared::testing::{PASSWORD, call, signup, unique_email};
use tokio_postgres::types::Type;

use crate::report::Bench;
use crate::stats::{ratio, time, time_pair};

pub async fn run(bench: &mut Bench) -> Result<(), String> {
    let cost = if bench.smoke { 4 } else { 12 };
    let app = bench.app(cost)?;
    let account = signup(&app).await?;
    let hash: String = app
        .db
        .query(
            &Statement::new("SELECT password_hash FROM users WHERE id = ")
                .bind(account.id, Type::UUID),
        )
        .await
        .map_err(|e| e.to_string())?
        .first()
        .map(|r| r.get::<_, String>(0))
        .ok_or("no hash")?;
    // The bcrypt hash itself, after its scheme's prefix (shared::auth::password).
    let hash = hash
        .rsplit_once(':')
        .map_or(hash.clone(), |(_, bcrypt)| bcrypt.to_owned());
    let n = bench.n(30);
    let body = json!({"email": account.email, "password": PASSWORD});
    let (signin, verify) = time_pair(
        n,
        |_| {
            handlers::signin::handle(
                &app,
                call(Method::POST, "/api/auth/signin")
                    .json(body.clone())
                    .build(),
            )
        },
        |_| {
            let hash = hash.clone();
            async move {
                tokio::task::spawn_blocking(move || bcrypt::verify(PASSWORD, &hash)).await
            }
        },
    )
    .await;
    // Signup is the account creation, its verification link and the mail queued for after the
    // answer: the hash is nearly all of it, whatever the mail costs.
    let refused = AtomicUsize::new(0);
    let password = SecretString::from(PASSWORD);
    let (signup_handler, hash) = time_pair(
        n,
        |_| {
            let request = call(Method::POST, "/api/auth/signup")
                .json(json!({"email": unique_email(), "password": PASSWORD}))
                .build();
            let refused = &refused;
            let app = &app;
            async move {
                let answer = handlers::signup::handle(app, request).await;
                if !answer.is_ok_and(|response| response.status() == StatusCode::CREATED) {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        },
        |_| app.passwords.hash(&password),
    )
    .await;
    app.outbox.take();
    match refused.into_inner() {
        0 => {}
        refused => return Err(format!("{refused} signups were not answered 201")),
    }
    let n_jwt = bench.n(100_000);
    let caller = app
        .tokens
        .verify(&account.token)
        .map_err(|e| e.to_string())?;
    let issue = time(n_jwt, |_| async { app.tokens.issue(caller) }).await;
    let token = app.tokens.issue(caller).map_err(|e| e.to_string())?.token;
    let verify_jwt = time(n_jwt, |_| async { app.tokens.verify(&token) }).await;
    let secret_len = bench.config(cost)?.tokens.secret.expose_secret().len();

    bench.line("");
    bench.line("## Passwords and tokens");
    bench.line("");
    bench.line(format!("bcrypt cost {cost}; HS256 with a {secret_len}-byte key. Targets: signin ≤ 1.05 × one verify; signup ≤ 1.05 × one hash (its verification mail is sent after the answer); JWT verify ≤ 5 µs."));
    bench.line("");
    bench.line("| operation | runs | min | median | p99 | |");
    bench.line("|---|---|---|---|---|---|");
    bench.line(format!(
        "| signin handler | {n} | {} | {:.3} × verify |",
        signin.row(),
        ratio(&signin, &verify)
    ));
    bench.line(format!(
        "| one bcrypt verify (blocking pool) | {n} | {} | |",
        verify.row()
    ));
    bench.line(format!(
        "| signup handler (a new account each) | {n} | {} | {:.3} × hash |",
        signup_handler.row(),
        ratio(&signup_handler, &hash)
    ));
    bench.line(format!(
        "| one bcrypt hash (blocking pool) | {n} | {} | |",
        hash.row()
    ));
    bench.line(format!("| JWT issue | {n_jwt} | {} | |", issue.row()));
    bench.line(format!(
        "| JWT verify | {n_jwt} | {} | {} |",
        verify_jwt.row(),
        if verify_jwt.median.as_secs_f64() <= 5e-6 {
            "within target"
        } else {
            "over target"
        }
    ));
    Ok(())
}

//! Passwords and tokens: signin against one bcrypt verify, JWT issue and verify.

use lambda_http::http::Method;
use secrecy::ExposeSecret;
use serde_json::json;
use shared::db::Statement;
use shared::handlers;
use shared::testing::{PASSWORD, call, signup};
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
    bench.line(format!("bcrypt cost {cost}; HS256 with a {secret_len}-byte key. Targets: signin ≤ 1.05 × one verify; JWT verify ≤ 5 µs."));
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

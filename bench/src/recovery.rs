//! `forgot` for an account, an address over its limit and an unknown address: the same work and
//! the same time, so the answer's time says nothing of who has an account.

use lambda_http::http::Method;
use serde_json::json;
use shared::handlers;
use shared::testing::{call, signup, unique_email};

use crate::report::Bench;
use crate::stats::{ratio, time_pair};

pub async fn run(bench: &mut Bench) -> Result<(), String> {
    let app = bench.app(4)?;
    let n = bench.n(200);
    // A fresh account per request: each one's first reset link is issued and its mail queued.
    let mut accounts = Vec::with_capacity(n + n / 10);
    for _ in 0..n + n / 10 {
        accounts.push(signup(&app).await?.email);
    }
    let limited = signup(&app).await?.email;
    let forgot = |email: String| {
        let app = &app;
        async move {
            let req = call(Method::POST, "/api/auth/password/forgot")
                .json(json!({ "email": email }))
                .build();
            let answer = handlers::forgot::handle(app, req).await;
            app.outbox.take();
            answer
        }
    };
    let (account, unknown) = time_pair(
        n,
        |i| forgot(accounts[i].clone()),
        |_| forgot(unique_email()),
    )
    .await;
    let (over_limit, unknown_again) =
        time_pair(n, |_| forgot(limited.clone()), |_| forgot(unique_email())).await;

    bench.line("");
    bench.line("## Password reset requests");
    bench.line("");
    bench.line("`POST /api/auth/password/forgot` in-process against the database: one statement decides and");
    bench.line("issues for every address, the mail goes out after the answer, and every accepted request is");
    bench.line(format!("answered {} ms after it arrived. Target: an account's address and an address over its limit", handlers::forgot::ANSWER_AFTER.as_millis()));
    bench.line(
        "within 1% of an unknown one (median), and no p99 past the answer time by more than 5 ms.",
    );
    bench.line("");
    bench.line("| address | runs | min | median | p99 | vs unknown |");
    bench.line("|---|---|---|---|---|---|");
    for (name, summary, baseline) in [
        ("an account's (link issued)", &account, &unknown),
        ("an account's, over its limit", &over_limit, &unknown_again),
        ("unknown", &unknown, &unknown),
    ] {
        let times = ratio(summary, baseline);
        let late = summary.p99.saturating_sub(handlers::forgot::ANSWER_AFTER);
        let verdict = if (0.99..=1.01).contains(&times) && late.as_millis() <= 5 {
            "within target"
        } else {
            "over target"
        };
        bench.line(format!(
            "| {name} | {n} | {} | {times:.2} × ({verdict}) |",
            summary.row()
        ));
    }
    Ok(())
}

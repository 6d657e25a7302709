//! `forgot` for an account, an address over its limit, an unknown address and from a client past
//! its allowance of requests: the same time, so the answer's time says nothing of who has an
//! account, nor of which limit held.

use lambda_http::http::{Method, StatusCode};
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
    // Each request from an address of its own, but for the one client that asked too often.
    let forgot_from = |email: String, client: Option<&'static str>| {
        let app = &app;
        async move {
            let req = call(Method::POST, "/api/auth/password/forgot");
            let req = match client {
                Some(ip) => req.source_ip(ip),
                None => req,
            };
            let req = req.json(json!({ "email": email })).build();
            let answer = handlers::forgot::handle(app, req).await;
            app.outbox.take();
            answer
        }
    };
    let forgot = |email: String| forgot_from(email, None);
    let (account, unknown) = time_pair(
        n,
        |i| forgot(accounts[i].clone()),
        |_| forgot(unique_email()),
    )
    .await;
    let (over_limit, unknown_again) =
        time_pair(n, |_| forgot(limited.clone()), |_| forgot(unique_email())).await;
    const CLIENT: &str = "203.0.113.7";
    for _ in 0..=bench.config(4)?.reset_requests_per_address {
        let Ok(answer) = forgot_from(unique_email(), Some(CLIENT)).await;
        if answer.status() != StatusCode::ACCEPTED {
            return Err(format!("forgot answered {}", answer.status()));
        }
    }
    let (client_over, unknown_third) = time_pair(
        n,
        |i| forgot_from(accounts[i].clone(), Some(CLIENT)),
        |_| forgot(unique_email()),
    )
    .await;

    bench.line("");
    bench.line("## Password reset requests");
    bench.line("");
    bench.line(
        "`POST /api/auth/password/forgot` in-process against the database: the request is counted",
    );
    bench.line("against its client's address, one statement decides and issues for every address, the mail");
    bench.line(format!(
        "goes out after the answer, and every accepted request is answered {} ms after it arrived.",
        handlers::forgot::ANSWER_AFTER.as_millis()
    ));
    bench.line(
        "Target: an account's address, an address over its limit and a request from a client past",
    );
    bench.line("its allowance within 1% of an unknown address (median), and no p99 past the answer time by");
    bench.line("more than 5 ms.");
    bench.line("");
    bench.line("| address | runs | min | median | p99 | vs unknown |");
    bench.line("|---|---|---|---|---|---|");
    for (name, summary, baseline) in [
        ("an account's (link issued)", &account, &unknown),
        ("an account's, over its limit", &over_limit, &unknown_again),
        (
            "an account's, from a client past its allowance",
            &client_over,
            &unknown_third,
        ),
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

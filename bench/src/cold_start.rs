//! Cold start through the harness's Runtime API: process, config, connect, first request.

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use shared::testing::{Account, signup, unique_email};

use crate::pool::Pool;
use crate::report::{Bench, JWT_SECRET};
use crate::runtime_api::Spec;
use crate::stats::{Summary, fmt};

struct ColdStart {
    /// Exec, runtime and logging set-up: what is left of the init duration.
    process: Duration,
    config: Duration,
    connect: Duration,
    /// The first invocation's duration.
    first_request: Duration,
    total: Duration,
    status: u16,
}

/// Starts one instance of `binary`, sends it `event`, and takes its timings and its `ready` log.
async fn measure(binary: &Path, env: &[(&str, &str)], event: &str) -> Result<ColdStart, String> {
    let mut spec = Spec::new(binary, env);
    spec.capture_stdout = true;
    let pool = Pool::new(spec, 1);
    let started = Instant::now();
    let response = pool.invoke(Bytes::copy_from_slice(event.as_bytes())).await;
    let total = started.elapsed();
    let report = pool.stop().await;
    let instance = report
        .instances
        .into_iter()
        .next()
        .ok_or("no instance started")?;
    if let Some(error) = instance.init_error {
        return Err(format!("init failed: {error}"));
    }
    let status = response
        .ok()
        .and_then(|doc| serde_json::from_slice::<serde_json::Value>(&doc).ok())
        .and_then(|doc| doc["statusCode"].as_u64())
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(0);
    let (mut config, mut connect) = (Duration::ZERO, Duration::ZERO);
    for line in instance.stdout.lines() {
        let Ok(log) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if log["message"] == "ready" {
            config = Duration::from_micros(log["config_us"].as_u64().unwrap_or(0));
            connect = Duration::from_micros(log["connect_us"].as_u64().unwrap_or(0));
        }
    }
    let init = instance.init.unwrap_or_default();
    Ok(ColdStart {
        process: init.saturating_sub(config + connect),
        config,
        connect,
        first_request: report.durations.first().copied().unwrap_or_default(),
        total,
        status,
    })
}

/// `events/<name>.json` for `account`: its token, refresh token and email (signup's a new one).
fn event(bench: &Bench, name: &str, account: &Account) -> Result<String, String> {
    let email = if name == "signup" {
        unique_email()
    } else {
        account.email.clone()
    };
    let for_account = |text: &str| {
        text.replace("REPLACE_WITH_TOKEN", &account.token)
            .replace("REPLACE_WITH_REFRESH_TOKEN", &account.refresh_token)
            .replace("ada@example.com", &email)
    };
    let path = bench.root.join(format!("events/{name}.json"));
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut event: serde_json::Value =
        serde_json::from_str(&for_account(&text)).map_err(|e| e.to_string())?;
    // A body API Gateway sent base64-encoded (signin's) gets the same substitutions inside.
    if event["isBase64Encoded"] == true {
        let body = event["body"].as_str().unwrap_or_default();
        let decoded = B64
            .decode(body)
            .map_err(|e| format!("events/{name}.json: {e}"))?;
        event["body"] = B64
            .encode(for_account(&String::from_utf8_lossy(&decoded)))
            .into();
    }
    Ok(event.to_string())
}

pub async fn run(bench: &mut Bench) -> Result<(), String> {
    let profile = bench.profile();
    let runs = bench.n(10);
    let app = bench.app(4)?;
    let database_url = bench.function_database_url.clone();
    let env = [
        ("DATABASE_URL", database_url.as_str()),
        ("JWT_SECRET", JWT_SECRET),
        ("BCRYPT_COST", "4"),
        // Every signup start comes from the event's one address.
        ("SIGNUPS_PER_ADDRESS", "1000"),
        // The functions that send mail need a sender; nothing listens there, so the mail they
        // send after the first answer fails and is logged (the answer is what is measured).
        ("EMAIL_FROM", "Bench <bench@example.com>"),
        ("SMTP_URL", "smtp://127.0.0.1:9"),
    ];
    let functions = if bench.smoke {
        vec!["list".to_owned()]
    } else {
        bench.functions()?
    };
    bench.line("");
    bench.line("## Cold start");
    bench.line("");
    bench.line(format!("From exec of the `{profile}` binary to its first answered request, through the harness's Lambda"));
    bench.line(
        "Runtime API (bench/src/runtime_api.rs) on loopback, database local. *process* is exec,",
    );
    bench.line("runtime and logging set-up; *config* reading the settings; *connect* the PostgreSQL connection");
    bench.line(
        "(and the role check); *first request* the first invocation, on the function's event from",
    );
    bench.line(format!("`events/`, for a new account each start (a 404 is a task id the event names that this account lacks). Medians of {runs} starts."));
    bench.line("Target ≤ 30 ms.");
    bench.line("");
    bench.line("| function | process | config | connect | first request | total (min / median / p99) | status |");
    bench.line("|---|---|---|---|---|---|---|");
    for name in &functions {
        let binary = bench.root.join(format!("target/{profile}/{name}"));
        let (mut process, mut config, mut connect, mut first, mut total) =
            (vec![], vec![], vec![], vec![], vec![]);
        let mut status = 0;
        for _ in 0..runs {
            // A new account each time: account, password, signout and revoke change its state.
            let account = signup(&app).await?;
            let event = event(bench, name, &account)?;
            let start = measure(&binary, &env, &event)
                .await
                .map_err(|e| format!("{}: {e}", binary.display()))?;
            process.push(start.process);
            config.push(start.config);
            connect.push(start.connect);
            first.push(start.first_request);
            total.push(start.total);
            status = start.status;
        }
        let median = |v: Vec<_>| fmt(Summary::of(v).median);
        let total = Summary::of(total);
        bench.cold_starts.insert(name.clone(), total.median);
        bench.line(format!(
            "| {name} | {} | {} | {} | {} | {} | {status} |",
            median(process),
            median(config),
            median(connect),
            median(first),
            total.row().replace(" | ", " / ")
        ));
    }
    Ok(())
}

//! Cold start through a minimal Lambda runtime API: process, config, connect, first request.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use shared::testing::signup;

use crate::report::{Bench, JWT_SECRET};
use crate::runtime_api;
use crate::stats::{Summary, fmt};

pub async fn run(bench: &mut Bench) -> Result<(), String> {
    let profile = if bench.smoke { "debug" } else { "release" };
    let runs = bench.n(10);
    let app = bench.app(4)?;
    let account = signup(&app).await?;
    let env = vec![
        ("DATABASE_URL", bench.function_database_url.clone()),
        ("JWT_SECRET", JWT_SECRET.to_owned()),
        ("BCRYPT_COST", "4".to_owned()),
    ];
    let functions: &[&str] = if bench.smoke {
        &["list"]
    } else {
        &["me", "list", "get", "create", "signin"]
    };
    bench.line("");
    bench.line("## Cold start");
    bench.line("");
    bench.line(format!("From exec of the `{profile}` binary to its first answered request, through a minimal Lambda"));
    bench.line(
        "runtime API (bench/src/runtime_api.rs) on loopback, database local. *process* is exec,",
    );
    bench.line("runtime and logging set-up; *config* reading the settings; *connect* the PostgreSQL connection;");
    bench.line(format!("*first request* the handler on the event from `events/`. Medians of {runs} starts. Target ≤ 30 ms."));
    bench.line("");
    bench.line("| function | process | config | connect | first request | total (min / median / p99) | status |");
    bench.line("|---|---|---|---|---|---|---|");
    for name in functions {
        let for_account = |text: &str| {
            text.replace("REPLACE_WITH_TOKEN", &account.token)
                .replace("ada@example.com", &account.email)
        };
        let mut event: serde_json::Value = serde_json::from_str(&for_account(
            &std::fs::read_to_string(bench.root.join(format!("events/{name}.json")))
                .map_err(|e| e.to_string())?,
        ))
        .map_err(|e| e.to_string())?;
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
        let event = event.to_string();
        let binary = bench.root.join(format!("target/{profile}/{name}"));
        let (mut process, mut config, mut connect, mut first, mut total) =
            (vec![], vec![], vec![], vec![], vec![]);
        let mut status = 0;
        for _ in 0..runs {
            let start = runtime_api::measure(&binary, &env, &event)
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

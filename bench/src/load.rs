//! Load through `cargo lambda watch --release` with wrk: requests/s and latency at concurrency 1
//! and 16 on `GET /api/tasks`.

use std::process::Stdio;
use std::time::Duration;

use shared::db::Statement;
use shared::testing::signup;

use crate::report::{Bench, JWT_SECRET};

pub async fn run(bench: &mut Bench) -> Result<(), String> {
    bench.line("");
    bench.line("## Load");
    bench.line("");
    if bench.smoke {
        bench.line("Skipped in a smoke run.");
        return Ok(());
    }
    let app = bench.app(4)?;
    let account = signup(&app).await?;
    app.db
        .query(
            &Statement::new(
                "INSERT INTO tasks (user_id, title) SELECT $1, 'load ' || g FROM generate_series(1, 50) g",
            )
            .arg(account.id, tokio_postgres::types::Type::UUID),
        )
        .await
        .map_err(|e| e.to_string())?;

    let port = 9321;
    let mut watch = tokio::process::Command::new("cargo")
        .args([
            "lambda",
            "watch",
            "--release",
            "--ignore-changes",
            "--invoke-address",
            "127.0.0.1",
        ])
        .args(["--invoke-port", &port.to_string()])
        .env("DATABASE_URL", &bench.function_database_url)
        .env("JWT_SECRET", JWT_SECRET)
        .env("RUST_LOG", "warn")
        .current_dir(&bench.root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cargo lambda watch: {e}"))?;
    let url = format!("http://127.0.0.1:{port}/api/tasks");
    let auth = format!("Authorization: Bearer {}", account.token);
    let result = async {
        wait_for(&url, &auth).await?;
        let script = bench.root.join("bench/wrk-summary.lua");
        let mut rows = Vec::new();
        for (connections, threads) in [(1, 1), (16, 2)] {
            let output = tokio::process::Command::new("wrk")
                .args([
                    "-t",
                    &threads.to_string(),
                    "-c",
                    &connections.to_string(),
                    "-d",
                    "10s",
                    "--timeout",
                    "5s",
                ])
                .args(["-H", &auth, "-s"])
                .arg(&script)
                .arg(&url)
                .output()
                .await
                .map_err(|e| format!("wrk: {e}"))?;
            let text = String::from_utf8_lossy(&output.stdout);
            let summary: serde_json::Value = text
                .lines()
                .rev()
                .find_map(|l| serde_json::from_str(l).ok())
                .ok_or_else(|| format!("wrk gave no summary: {text}"))?;
            rows.push((connections, summary));
        }
        Ok::<_, String>(rows)
    }
    .await;
    if let Some(pid) = watch.id() {
        let _ = std::process::Command::new("kill")
            .args(["--", &format!("-{pid}")])
            .status();
    }
    let _ = watch.wait().await;
    let rows = result?;

    bench.line("wrk for 10 s per row on `GET /api/tasks` (50 tasks, valid token) through `cargo lambda watch");
    bench.line("--release`, which runs one instance of the function and queues requests for it: concurrency");
    bench
        .line("16 measures queueing in the emulator as much as the function. Target: zero errors.");
    bench.line("");
    bench.line("| concurrency | requests/s | min | median | p99 | errors | non-2xx |");
    bench.line("|---|---|---|---|---|---|---|");
    for (connections, s) in rows {
        let us = |key: &str| crate::stats::fmt(Duration::from_micros(s[key].as_u64().unwrap_or(0)));
        let requests = s["requests"].as_f64().unwrap_or(0.0);
        let seconds = s["duration_us"].as_f64().unwrap_or(1.0) / 1e6;
        bench.line(format!(
            "| {connections} | {:.0} | {} | {} | {} | {} | {} |",
            requests / seconds,
            us("min"),
            us("p50"),
            us("p99"),
            s["errors"],
            s["non2xx"]
        ));
    }
    Ok(())
}

/// Waits until the API answers 200 (the first request starts the function).
async fn wait_for(url: &str, auth: &str) -> Result<(), String> {
    for _ in 0..600 {
        let status = tokio::process::Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-H",
                auth,
                url,
            ])
            .output()
            .await
            .map_err(|e| format!("curl: {e}"))?;
        if status.stdout == b"200" {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(format!("{url} never answered 200"))
}

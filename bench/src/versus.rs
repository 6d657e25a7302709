//! The functions against the backend they replace: bench/fastapi (FastAPI + SQLModel) as a
//! Lambda function through Mangum and awslambdaric, both behind the same Lambda-shaped harness
//! at concurrency limits K = 1, 4, 16, 64; and the same app under uvicorn, as it ran before.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use crate::harness::{self, Measured, mb, median};
use crate::load;
use crate::report::Bench;
use crate::runtime_api::{cpu_time, peak_rss};
use crate::stats::{Summary, fmt};

struct Row {
    k: usize,
    backend: &'static str,
    measured: Measured,
}

const RUST: &str = "Rust (this project)";
const MANGUM: &str = "FastAPI on Mangum";
const UVICORN: &str = "FastAPI under uvicorn, 2 workers";

pub async fn run(bench: &mut Bench) -> Result<(), String> {
    let (ks, times): (&[usize], _) = if bench.smoke {
        (
            &[1],
            (Duration::from_millis(300), Duration::from_millis(500)),
        )
    } else {
        (
            &[1, 4, 16, 64],
            (Duration::from_secs(3), Duration::from_secs(10)),
        )
    };
    let app = bench.app(4)?;
    let callers = Arc::new(harness::callers(&app, 4, 50).await?);
    let mut rows = Vec::new();
    for &k in ks {
        let rust = harness::rust(bench, k, &bench.function_database_url)?;
        let measured = harness::measure(rust, &callers, k, times).await?;
        rows.push(Row {
            k,
            backend: RUST,
            measured,
        });
        let fastapi = harness::fastapi(bench, k);
        let measured = harness::measure(fastapi, &callers, k, times).await?;
        rows.push(Row {
            k,
            backend: MANGUM,
            measured,
        });
    }
    for (k, measured) in uvicorn(bench, &callers, ks, times).await? {
        rows.push(Row {
            k,
            backend: UVICORN,
            measured,
        });
    }
    for row in &rows {
        harness::smoke_clean(
            bench,
            &format!("{} at K = {}", row.backend, row.k),
            &row.measured,
        )?;
    }
    report(bench, ks, times.1, &rows)
}

/// The app as it ran before Lambda: uvicorn with 2 worker processes (bench/fastapi/serve.py),
/// one K after another.
async fn uvicorn(
    bench: &Bench,
    callers: &Arc<Vec<load::Caller>>,
    ks: &[usize],
    (warm, run): (Duration, Duration),
) -> Result<Vec<(usize, Measured)>, String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let mut server = tokio::process::Command::new(&bench.fastapi_python)
        // `uvicorn app:app --workers 2`, less a uvicorn bug that adds ~40 ms per request.
        .args(["serve.py", "127.0.0.1", &port.to_string(), "2"])
        .envs(harness::fastapi_env(&bench.database_url, "4"))
        .current_dir(harness::fastapi_dir(&bench.root))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("uvicorn: {e}"))?;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut up = false;
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut rows = Vec::new();
    for &k in ks.iter().filter(|_| up) {
        let warm = load::run(addr, callers.clone(), k, warm).await;
        // Its workers: the processes the master started (uvicorn spawns them).
        let workers = server.id().map(children).unwrap_or_default();
        let workers_cpu = || -> Duration { workers.iter().filter_map(|w| cpu_time(*w)).sum() };
        let cpu = workers_cpu();
        let (mut load, harness_cpu, database_cpu) =
            harness::with_cpu(load::run(addr, callers.clone(), k, run)).await;
        let cpu = workers_cpu().saturating_sub(cpu);
        load.add_errors_of(warm);
        let peak_rss = workers.iter().filter_map(|w| peak_rss(*w)).collect();
        rows.push((
            k,
            Measured {
                load,
                durations: Vec::new(),
                inits: Vec::new(),
                peak_rss,
                cpu,
                harness_cpu,
                database_cpu,
                round_trips: None,
            },
        ));
    }
    stop_group(&mut server).await;
    if up {
        Ok(rows)
    } else {
        Err("uvicorn never listened".into())
    }
}

/// Ends uvicorn and its workers. Killing the master alone leaves the workers running (and
/// holding database connections): they are asked to stop as a process group, then killed.
async fn stop_group(server: &mut tokio::process::Child) {
    let Some(pid) = server.id() else { return };
    let signal = |name: &str| {
        let _ = std::process::Command::new("kill")
            .args([name, "--", &format!("-{pid}")])
            .status();
    };
    signal("-TERM");
    if tokio::time::timeout(Duration::from_secs(10), server.wait())
        .await
        .is_err()
    {
        signal("-KILL");
        let _ = server.wait().await;
    }
}

fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn report(bench: &mut Bench, ks: &[usize], run: Duration, rows: &[Row]) -> Result<(), String> {
    bench.line("");
    bench.line("## Against FastAPI + SQLModel");
    bench.line("");
    bench.line(include_str!("../versus.md").trim_end());
    bench.line("");
    bench.line(format!(
        "{} s per row after a warm-up that starts the K instances.",
        run.as_secs_f64()
    ));
    bench.line("");
    bench.line("| K | backend | requests/s | p50 | p99 | invocation p50 | invocation p99 | init (median) | instances | peak RSS per instance (median) | CPU per request | harness CPU | PostgreSQL CPU | errors |");
    bench.line("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for row in rows {
        let m = &row.measured;
        if m.load.latencies.is_empty() {
            return Err(format!(
                "{} at K = {}: no request answered",
                row.backend, row.k
            ));
        }
        let latency = Summary::of(m.load.latencies.clone());
        let invocation = (!m.durations.is_empty()).then(|| Summary::of(m.durations.clone()));
        let dash = || "—".to_owned();
        bench.line(format!(
            "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} % | {:.0} % | {} |",
            row.k,
            row.backend,
            m.load.requests_per_second(),
            fmt(latency.median),
            fmt(latency.p99),
            invocation.map_or_else(dash, |s| fmt(s.median)),
            invocation.map_or_else(dash, |s| fmt(s.p99)),
            median(m.inits.clone()).map_or_else(dash, fmt),
            if m.inits.is_empty() {
                dash()
            } else {
                m.inits.len().to_string()
            },
            median(m.peak_rss.clone()).map_or_else(dash, mb),
            fmt(m.cpu_per_request()),
            100.0 * m.harness_cpu.as_secs_f64() / m.load.elapsed.as_secs_f64(),
            100.0 * m.database_cpu.as_secs_f64() / m.load.elapsed.as_secs_f64(),
            m.load.errors + m.load.wrong,
        ));
    }
    bench.line("");
    bench.line(
        "FastAPI on Mangum ÷ Rust at each K (requests/s: Rust ÷ FastAPI), against the goals:",
    );
    bench.line("");
    bench.line("| K | invocation p50 (≥ 10×) | init (≥ 20×) | peak RSS (≥ 5×) | requests/s (≥ 5×) | p99 (≥ 10×) |");
    bench.line("|---|---|---|---|---|---|");
    let mut missed: Vec<String> = Vec::new();
    for &k in ks {
        let find = |backend| {
            rows.iter()
                .find(|r| r.k == k && r.backend == backend)
                .map(|r| &r.measured)
        };
        let (Some(rust), Some(python)) = (find(RUST), find(MANGUM)) else {
            continue;
        };
        let secs = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64());
        let p = |v: &[Duration], q: fn(&Summary) -> Duration| {
            (!v.is_empty()).then(|| q(&Summary::of(v.to_vec())))
        };
        let rss = |m: &Measured| median(m.peak_rss.clone()).map_or(f64::NAN, |b| b as f64);
        let ratios = [
            (
                "invocation p50",
                10.0,
                secs(p(&python.durations, |s| s.median)) / secs(p(&rust.durations, |s| s.median)),
            ),
            (
                "init",
                20.0,
                secs(median(python.inits.clone())) / secs(median(rust.inits.clone())),
            ),
            ("peak RSS", 5.0, rss(python) / rss(rust)),
            (
                "requests/s",
                5.0,
                rust.load.requests_per_second() / python.load.requests_per_second(),
            ),
            (
                "p99",
                10.0,
                secs(p(&python.load.latencies, |s| s.p99))
                    / secs(p(&rust.load.latencies, |s| s.p99)),
            ),
        ];
        let mut cells = Vec::new();
        for (name, goal, ratio) in ratios {
            let met = ratio >= goal;
            if !met {
                missed.push(format!("{name} at K = {k} ({ratio:.1}×)"));
            }
            cells.push(format!("{ratio:.1}×{}", if met { "" } else { " (missed)" }));
        }
        bench.line(format!("| {k} | {} |", cells.join(" | ")));
    }
    for row in rows {
        if let Some(problem) = &row.measured.load.first_problem {
            bench.line("");
            bench.line(format!(
                "{} at K = {}, first error: `{problem}`",
                row.backend, row.k
            ));
        }
    }
    bench.line("");
    if missed.is_empty() {
        bench.line("Every goal is met at every K.");
    } else {
        bench.line(format!(
            "Missed: {}. See \"Where a target is missed\" below.",
            missed.join("; ")
        ));
    }
    Ok(())
}

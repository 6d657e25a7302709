//! The comparison with FastAPI as it would run on AWS: Neon a network round trip away (0, 1 and
//! 5 ms, simulated by [`network`]), the list and a mixed workload of writes at K = 1 and 16, sign-in
//! at K = 1 and 4, the round trips each request makes (counted), and what a million of them
//! cost (from the billed durations, the memory each backend needs and [`prices`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::json;
use shared::testing::{PASSWORD, signup, unique_email};

use crate::front::Front;
use crate::harness::{self, Measured, median};
use crate::load::{self, Caller, Workload};
use crate::network::{self, Network, Simulated};
use crate::prices;
use crate::proxy::RoundTrips;
use crate::report::Bench;
use crate::stats::{Summary, fmt};

const RUST: &str = "Rust";
const MANGUM: &str = "FastAPI on Mangum";

struct Row {
    round_trip: Duration,
    workload: Workload,
    k: usize,
    backend: &'static str,
    measured: Measured,
}

/// Where a row is measured: the simulated round trip, the workload, the clients.
#[derive(Clone, Copy)]
struct Point {
    round_trip: Duration,
    workload: Workload,
    k: usize,
}

/// One row: `front` under `point`'s load from `callers`, the round trips counted.
async fn measured(
    point: Point,
    backend: &'static str,
    front: Front,
    callers: &Arc<Vec<Caller>>,
    times: (Duration, Duration),
    round_trips: &RoundTrips,
) -> Result<Row, String> {
    let measured = harness::measure_workload(
        front,
        callers,
        point.k,
        times,
        point.workload,
        Some(round_trips),
    )
    .await?;
    Ok(Row {
        round_trip: point.round_trip,
        workload: point.workload,
        k: point.k,
        backend,
        measured,
    })
}

/// What the run covers: full, or a smoke run's one point of each kind.
struct Plan {
    round_trips: Vec<Duration>,
    ks: Vec<usize>,
    signin_ks: Vec<usize>,
    times: (Duration, Duration),
    bcrypt_cost: u32,
}

impl Plan {
    fn of(bench: &Bench) -> Self {
        let ms = Duration::from_millis;
        if bench.smoke {
            Self {
                round_trips: vec![ms(1)],
                ks: vec![1],
                signin_ks: vec![1],
                times: (ms(300), ms(500)),
                bcrypt_cost: 4,
            }
        } else {
            Self {
                round_trips: vec![ms(0), ms(1), ms(5)],
                ks: vec![1, 16],
                signin_ks: vec![1, 4],
                times: (Duration::from_secs(3), Duration::from_secs(10)),
                bcrypt_cost: 12,
            }
        }
    }
}

pub async fn run(bench: &mut Bench) -> Result<(), String> {
    let plan = Plan::of(bench);
    let most = plan.ks.iter().copied().max().unwrap_or(1);
    let signers = plan.signin_ks.iter().copied().max().unwrap_or(1);
    let app = bench.app(4)?;
    // One caller per client: the mixed workload's lists are exact only if no one else writes.
    let callers = Arc::new(harness::callers(&app, most, 50).await?);
    // Sign-in at the production cost, each backend its own accounts: the functions pepper
    // their hashes (docs/security.md), which bcrypt alone, as FastAPI uses it, cannot check.
    let rust_signers = Arc::new(rust_signers(bench, plan.bcrypt_cost, signers).await?);
    let fastapi_signers = Arc::new(fastapi_signers(bench, plan.bcrypt_cost, signers).await?);
    let upstream = network::upstream(&bench.database_url).await?;
    let mut rows = Vec::new();
    let mut calibration = Vec::new();
    for &round_trip in &plan.round_trips {
        let net = Simulated::start(
            upstream,
            Network {
                one_way: round_trip / 2,
                wake: None,
            },
        )
        .map_err(|e| e.to_string())?;
        calibration.push((
            round_trip,
            select_one(&net.url(&bench.database_url)?).await?,
        ));
        let rust_url = net.url(&bench.function_database_url)?;
        let python_url = net.url(&bench.database_url)?;
        let at = |workload, k| Point {
            round_trip,
            workload,
            k,
        };
        let measure = |point: Point, backend, front, callers| {
            measured(point, backend, front, callers, plan.times, &net.round_trips)
        };
        for workload in [Workload::List, Workload::Mixed] {
            for &k in &plan.ks {
                let front = harness::rust(bench, k, &rust_url)?;
                rows.push(measure(at(workload, k), RUST, front, &callers).await?);
                let front = harness::fastapi_on(bench, k, &python_url, 4);
                rows.push(measure(at(workload, k), MANGUM, front, &callers).await?);
            }
        }
        let cost = plan.bcrypt_cost.to_string();
        for &k in &plan.signin_ks {
            let front = harness::rust_with(bench, k, &rust_url, &[("BCRYPT_COST", &cost)])?;
            rows.push(measure(at(Workload::Signin, k), RUST, front, &rust_signers).await?);
            let front = harness::fastapi_on(bench, k, &python_url, plan.bcrypt_cost);
            rows.push(measure(at(Workload::Signin, k), MANGUM, front, &fastapi_signers).await?);
        }
    }
    for row in &rows {
        let what = format!(
            "{} {:?} at K = {}, {} round trip",
            row.backend,
            row.workload,
            row.k,
            fmt(row.round_trip)
        );
        harness::smoke_clean(bench, &what, &row.measured)?;
        if row.measured.load.latencies.is_empty() {
            return Err(format!("{what}: no request answered"));
        }
    }
    let memory = configured_memory(bench)?;
    report(bench, &plan, &calibration, &rows, memory)
}

/// Accounts that sign in to the functions, hashed at `cost` as signup hashes them.
async fn rust_signers(bench: &Bench, cost: u32, count: usize) -> Result<Vec<Caller>, String> {
    let app = bench.app(cost)?;
    let mut callers = Vec::new();
    for _ in 0..count {
        let account = signup(&app).await?;
        callers.push(Caller {
            path: format!("/api/{}/tasks", account.id),
            token: account.token,
            user_id: account.id.to_string(),
            tasks: 0,
            email: account.email,
        });
    }
    Ok(callers)
}

/// Accounts that sign in to the FastAPI backend, made by its own signup at `cost`.
async fn fastapi_signers(bench: &Bench, cost: u32, count: usize) -> Result<Vec<Caller>, String> {
    let front = Arc::new(harness::fastapi_on(bench, 1, &bench.database_url, cost));
    let (addr, server) = front.clone().serve().await.map_err(|e| e.to_string())?;
    let mut callers = Vec::new();
    for _ in 0..count {
        let email = unique_email();
        let body = json!({"email": email, "password": PASSWORD});
        let (status, session) =
            load::send_json(addr, Method::POST, "/api/auth/signup", &body).await?;
        let (Some(id), Some(token)) = (session["user"]["id"].as_str(), session["token"].as_str())
        else {
            return Err(format!("FastAPI signup answered {status}: {session}"));
        };
        callers.push(Caller {
            path: format!("/api/{id}/tasks"),
            token: token.to_owned(),
            user_id: id.to_owned(),
            tasks: 0,
            email,
        });
    }
    drop(server);
    for pool in front.pools() {
        pool.stop().await;
    }
    Ok(callers)
}

/// The median of 200 `SELECT 1` round trips on one connection to `url`.
async fn select_one(url: &str) -> Result<Duration, String> {
    let db =
        shared::db::Db::new(url.parse().map_err(|e| format!("{e}"))?).map_err(|e| e.to_string())?;
    let client = db.dedicated_client().await.map_err(|e| e.to_string())?;
    let mut samples = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        client
            .simple_query("SELECT 1")
            .await
            .map_err(|e| e.to_string())?;
        samples.push(started.elapsed());
    }
    Ok(Summary::of(samples).median)
}

/// The memory template.yaml gives the task functions (the Globals) and signin, in MB.
struct Configured {
    tasks: u64,
    signin: u64,
}

fn configured_memory(bench: &Bench) -> Result<Configured, String> {
    let template = std::fs::read_to_string(bench.root.join("template.yaml"))
        .map_err(|e| format!("template.yaml: {e}"))?;
    let memory_after = |anchor: &str| -> Option<u64> {
        template
            .split(anchor)
            .nth(1)?
            .lines()
            .find_map(|line| line.trim().strip_prefix("MemorySize:"))?
            .trim()
            .parse()
            .ok()
    };
    match (
        memory_after("\nGlobals:"),
        memory_after("\n  SigninFunction:"),
    ) {
        (Some(tasks), Some(signin)) => Ok(Configured { tasks, signin }),
        _ => Err("template.yaml: no MemorySize for the Globals or SigninFunction".into()),
    }
}

/// A run's cost figures at one memory size.
struct Cost {
    memory_mb: u64,
    billed_ms: f64,
    compute: f64,
}

impl Cost {
    /// From the measured invocations: each billed to the next millisecond, its CPU time
    /// stretched by the share of a vCPU `memory_mb` gets (1769 MB: one whole).
    fn of(measured: &Measured, memory_mb: u64) -> Option<Self> {
        let n = measured.durations.len();
        if n == 0 {
            return None;
        }
        let cpu = measured.cpu.as_secs_f64() / n as f64;
        let stretch = (prices::MB_PER_VCPU as f64 / memory_mb as f64 - 1.0).max(0.0);
        let billed_ms = measured
            .durations
            .iter()
            .map(|d| ((d.as_secs_f64() + cpu * stretch) * 1000.0).ceil())
            .sum::<f64>()
            / n as f64;
        Some(Self {
            memory_mb,
            billed_ms,
            compute: prices::compute_per_million(billed_ms, memory_mb),
        })
    }
}

fn needed_memory(measured: &Measured) -> u64 {
    prices::memory_for(median(measured.peak_rss.clone()).unwrap_or(0))
}

fn workload_name(workload: Workload) -> &'static str {
    match workload {
        Workload::List => "list",
        Workload::Mixed => "mixed",
        Workload::Signin => "signin",
    }
}

fn report(
    bench: &mut Bench,
    plan: &Plan,
    calibration: &[(Duration, Duration)],
    rows: &[Row],
    memory: Configured,
) -> Result<(), String> {
    let (warm, run) = plan.times;
    bench.line("");
    bench.line("## As it would run on AWS: Neon's distance, writes, sign-in and cost");
    bench.line("");
    bench.line(include_str!("../aws.md").trim_end());
    bench.line("");
    bench.line(format!(
        "{} s per row after a {} s warm-up. Sign-in at bcrypt cost {}.",
        run.as_secs_f64(),
        warm.as_secs_f64(),
        plan.bcrypt_cost
    ));
    bench.line("");
    bench.line("| simulated round trip | `SELECT 1` through it (median) |");
    bench.line("|---|---|");
    for (round_trip, measured) in calibration {
        bench.line(format!("| {} | {} |", fmt(*round_trip), fmt(*measured)));
    }
    bench.line("");
    bench.line("| round trip | workload | K | backend | requests/s | p50 | p99 | invocation p50 | invocation p99 | round trips per request | CPU per request | errors |");
    bench.line("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for row in rows.iter().filter(|r| r.workload != Workload::Signin) {
        let m = &row.measured;
        let latency = Summary::of(m.load.latencies.clone());
        let invocation = Summary::of(m.durations.clone());
        bench.line(format!(
            "| {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} |",
            fmt(row.round_trip),
            workload_name(row.workload),
            row.k,
            row.backend,
            m.load.requests_per_second(),
            fmt(latency.median),
            fmt(latency.p99),
            fmt(invocation.median),
            fmt(invocation.p99),
            round_trips_per_request(m),
            fmt(m.cpu_per_request()),
            m.load.errors + m.load.wrong,
        ));
    }
    bench.line("");
    bench.line("Sign-in is bcrypt-bound in both: requests/s per vCPU-second is the answered signins per second of CPU the backend's instances used.");
    bench.line("");
    bench.line("| round trip | K | backend | requests/s | per vCPU-second | p50 | invocation p50 | round trips per request | errors |");
    bench.line("|---|---|---|---|---|---|---|---|---|");
    for row in rows.iter().filter(|r| r.workload == Workload::Signin) {
        let m = &row.measured;
        let latency = Summary::of(m.load.latencies.clone());
        let invocation = Summary::of(m.durations.clone());
        bench.line(format!(
            "| {} | {} | {} | {:.1} | {:.2} | {} | {} | {} | {} |",
            fmt(row.round_trip),
            row.k,
            row.backend,
            m.load.requests_per_second(),
            m.load.latencies.len() as f64 / m.cpu.as_secs_f64().max(f64::EPSILON),
            fmt(latency.median),
            fmt(invocation.median),
            round_trips_per_request(m),
            m.load.errors + m.load.wrong,
        ));
    }
    let mut missed = ratios(bench, plan, rows);
    missed.extend(costs(bench, plan, rows, &memory));
    for row in rows {
        if let Some(problem) = &row.measured.load.first_problem {
            bench.line("");
            bench.line(format!(
                "{} {} at K = {}, {} round trip, first error: `{problem}`",
                row.backend,
                workload_name(row.workload),
                row.k,
                fmt(row.round_trip)
            ));
        }
    }
    bench.line("");
    if missed.is_empty() {
        bench.line("Every goal at a 1 ms round trip is met.");
    } else {
        bench.line(format!(
            "Missed at a 1 ms round trip: {}. See \"Where a target is missed\" below.",
            missed.join("; ")
        ));
    }
    Ok(())
}

fn round_trips_per_request(m: &Measured) -> String {
    m.round_trips.map_or_else(
        || "—".to_owned(),
        |count| format!("{:.2}", count as f64 / m.load.latencies.len().max(1) as f64),
    )
}

fn find<'a>(
    rows: &'a [Row],
    round_trip: Duration,
    workload: Workload,
    k: usize,
    backend: &str,
) -> Option<&'a Measured> {
    rows.iter()
        .find(|r| {
            r.round_trip == round_trip && r.workload == workload && r.k == k && r.backend == backend
        })
        .map(|r| &r.measured)
}

/// FastAPI ÷ Rust at each round trip, and the goals at 1 ms; returns what missed.
fn ratios(bench: &mut Bench, plan: &Plan, rows: &[Row]) -> Vec<String> {
    bench.line("");
    bench.line("FastAPI on Mangum ÷ Rust (requests/s: Rust ÷ FastAPI). Goals, at a 1 ms round trip: invocation p50 ≥ 4× at K = 1 and 16, requests/s ≥ 5× at K = 16.");
    bench.line("");
    bench.line("| round trip | workload | K | invocation p50 | requests/s | p99 | round trips per request (FastAPI, Rust) |");
    bench.line("|---|---|---|---|---|---|---|");
    let mut missed = Vec::new();
    let most = plan.ks.iter().copied().max().unwrap_or(1);
    for &round_trip in &plan.round_trips {
        for workload in [Workload::List, Workload::Mixed] {
            for &k in &plan.ks {
                let (Some(rust), Some(python)) = (
                    find(rows, round_trip, workload, k, RUST),
                    find(rows, round_trip, workload, k, MANGUM),
                ) else {
                    continue;
                };
                let p50 = |m: &Measured| Summary::of(m.durations.clone()).median.as_secs_f64();
                let p99 = |m: &Measured| Summary::of(m.load.latencies.clone()).p99.as_secs_f64();
                let invocation = p50(python) / p50(rust);
                let throughput =
                    rust.load.requests_per_second() / python.load.requests_per_second();
                let goal_applies = round_trip == Duration::from_millis(1);
                let mut cell = |name: &str, ratio: f64, goal: Option<f64>| {
                    let met = goal.is_none_or(|goal| ratio >= goal);
                    if !met {
                        missed.push(format!(
                            "{name} for {} at K = {k} ({ratio:.1}×)",
                            workload_name(workload)
                        ));
                    }
                    format!("{ratio:.1}×{}", if met { "" } else { " (missed)" })
                };
                let invocation = cell("invocation p50", invocation, goal_applies.then_some(4.0));
                let throughput = cell(
                    "requests/s",
                    throughput,
                    (goal_applies && k == most && most >= 16).then_some(5.0),
                );
                let tail = format!("{:.1}×", p99(python) / p99(rust));
                bench.line(format!(
                    "| {} | {} | {k} | {invocation} | {throughput} | {tail} | {}, {} |",
                    fmt(round_trip),
                    workload_name(workload),
                    round_trips_per_request(python),
                    round_trips_per_request(rust),
                ));
            }
        }
    }
    missed
}

/// Dollars per million task requests (the mixed workload) and per million signins; returns
/// the compute-cost goal if missed.
fn costs(bench: &mut Bench, plan: &Plan, rows: &[Row], memory: &Configured) -> Vec<String> {
    let mut missed = Vec::new();
    bench.line("");
    bench.line(format!(
        "Cost per million, {} list prices written down {}: arm64 Lambda ${}/GB-s, ${:.2} per million Lambda requests, ${:.2} per million HTTP API requests (bench/src/prices.rs). *Needed* is the median peak RSS rounded up to a size Lambda offers (whole MB, 128 at least); *configured* is template.yaml's ({} MB for the task functions, {} MB for signin), for both backends alike. Billed durations are the measured invocations, each rounded up to 1 ms, their CPU time stretched by the share of a vCPU the size gets (1769 MB: one). K = 1: one request at a time, as most users meet it.",
        prices::REGION,
        prices::WRITTEN_ON,
        prices::LAMBDA_ARM64_PER_GB_SECOND,
        prices::LAMBDA_PER_MILLION_REQUESTS,
        prices::HTTP_API_PER_MILLION_REQUESTS,
        memory.tasks,
        memory.signin,
    ));
    bench.line("");
    bench.line("| round trip | per million | backend | needed | billed at it | compute at it | configured | billed at it | compute at it | total (configured) |");
    bench.line("|---|---|---|---|---|---|---|---|---|---|");
    let mut compute = Vec::new();
    for &round_trip in &plan.round_trips {
        for (workload, what, configured) in [
            (Workload::Mixed, "task requests", memory.tasks),
            (Workload::Signin, "signins", memory.signin),
        ] {
            for backend in [RUST, MANGUM] {
                let Some(m) = find(rows, round_trip, workload, 1, backend) else {
                    continue;
                };
                let (Some(needed), Some(at_configured)) =
                    (Cost::of(m, needed_memory(m)), Cost::of(m, configured))
                else {
                    continue;
                };
                if workload == Workload::Mixed {
                    compute.push((round_trip, backend, needed.compute, at_configured.compute));
                }
                bench.line(format!(
                    "| {} | {what} | {backend} | {} MB | {:.1} ms | ${:.4} | {} MB | {:.1} ms | ${:.4} | ${:.2} |",
                    fmt(round_trip),
                    needed.memory_mb,
                    needed.billed_ms,
                    needed.compute,
                    at_configured.memory_mb,
                    at_configured.billed_ms,
                    at_configured.compute,
                    at_configured.compute + prices::per_million_requests(),
                ));
            }
        }
    }
    bench.line("");
    bench.line("Compute cost per million task requests, Rust ÷ FastAPI, each at the memory it needs (goal at a 1 ms round trip: at most 1/8), and at the configured size:");
    bench.line("");
    for &round_trip in &plan.round_trips {
        let of = |backend| {
            compute
                .iter()
                .find(|(r, b, _, _)| *r == round_trip && *b == backend)
                .map(|(_, _, needed, configured)| (*needed, *configured))
        };
        if let (Some(rust), Some(python)) = (of(RUST), of(MANGUM)) {
            let goal = round_trip == Duration::from_millis(1);
            let met = rust.0 * 8.0 <= python.0;
            if goal && !met {
                missed.push(format!(
                    "compute cost per task request (1/{:.1})",
                    python.0 / rust.0
                ));
            }
            bench.line(format!(
                "- {}: ${:.4} ÷ ${:.4} = 1/{:.1}{}; configured: ${:.4} ÷ ${:.4} = 1/{:.1}",
                fmt(round_trip),
                rust.0,
                python.0,
                python.0 / rust.0,
                if goal && !met { " (missed)" } else { "" },
                rust.1,
                python.1,
                python.1 / rust.1,
            ));
        }
    }
    missed
}

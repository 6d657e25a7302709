//! Runs both backends the way Lambda runs them and measures them under load: the front, its
//! pools of instances, the closed-loop load, and what the instances report when stopped.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use shared::db::Statement;
use shared::testing::signup;
use tokio_postgres::types::Type;

use crate::front::Front;
use crate::load::{self, Caller, Load, Workload};
use crate::pool::Pool;
use crate::proxy::RoundTrips;
use crate::report::{Bench, JWT_SECRET};
use crate::runtime_api::Spec;

/// One load run's figures.
pub struct Measured {
    pub load: Load,
    /// Per-invocation durations, all functions.
    pub durations: Vec<Duration>,
    pub inits: Vec<Duration>,
    pub peak_rss: Vec<u64>,
    /// CPU time the instances (uvicorn: its workers) used while measured.
    pub cpu: Duration,
    /// CPU time the harness itself (front, Runtime APIs, load) used while measured.
    pub harness_cpu: Duration,
    /// CPU time PostgreSQL's processes used while measured.
    pub database_cpu: Duration,
    /// Database round trips while measured, where a proxy counted them.
    pub round_trips: Option<usize>,
}

impl Measured {
    /// The backend's CPU time per answered request.
    pub fn cpu_per_request(&self) -> Duration {
        self.cpu / u32::try_from(self.load.latencies.len().max(1)).unwrap_or(u32::MAX)
    }
}

/// CPU time this process has used.
pub fn own_cpu() -> Duration {
    crate::runtime_api::cpu_time(std::process::id()).unwrap_or_default()
}

/// CPU time every `postgres` process on the machine has used (the bench's cluster is the only
/// one it starts; PgBouncer's process is not among them).
pub fn database_cpu() -> Duration {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .filter_map(crate::runtime_api::cpu_time)
        .sum()
}

/// CPU time used by this process and by PostgreSQL while `work` runs.
pub async fn with_cpu<T>(work: impl Future<Output = T>) -> (T, Duration, Duration) {
    let (harness, database) = (own_cpu(), database_cpu());
    let out = work.await;
    (
        out,
        own_cpu().saturating_sub(harness),
        database_cpu().saturating_sub(database),
    )
}

/// `count` new users with `tasks` tasks each, as callers of `GET /api/{user_id}/tasks` (the
/// form FastAPI-era frontends use, served by both backends).
pub async fn callers(app: &shared::App, count: usize, tasks: i64) -> Result<Vec<Caller>, String> {
    let mut callers = Vec::with_capacity(count);
    for _ in 0..count {
        let account = signup(app).await?;
        app.db
            .query(
                &Statement::new(
                    "INSERT INTO tasks (user_id, title) SELECT $1, 'task ' || g FROM generate_series(1, $2) g",
                )
                .arg(account.id, Type::UUID)
                .arg(tasks, Type::INT8),
            )
            .await
            .map_err(|e| e.to_string())?;
        callers.push(Caller {
            path: format!("/api/{}/tasks", account.id),
            token: account.token,
            user_id: account.id.to_string(),
            tasks: usize::try_from(tasks).map_err(|e| e.to_string())?,
            email: account.email,
        });
    }
    Ok(callers)
}

/// The project's functions (the build profile the run uses), logging in with `database_url`.
pub fn rust(bench: &Bench, limit: usize, database_url: &str) -> Result<Front, String> {
    rust_with(bench, limit, database_url, &[])
}

/// The same, with `extra` settings (a bcrypt cost, a connect timeout...).
pub fn rust_with(
    bench: &Bench,
    limit: usize,
    database_url: &str,
    extra: &[(&str, &str)],
) -> Result<Front, String> {
    let dir = bench.root.join("target").join(bench.profile());
    Front::functions(&bench.root, limit, |function| {
        let mut spec = Spec::new(
            dir.join(function),
            &[
                ("DATABASE_URL", database_url),
                ("JWT_SECRET", JWT_SECRET),
                ("BCRYPT_COST", "4"),
                ("RUST_LOG", "warn"),
                // What the functions that send mail need to start (see cold_start.rs).
                ("EMAIL_FROM", "Bench <bench@example.com>"),
                ("SMTP_URL", "smtp://127.0.0.1:9"),
            ],
        );
        // Set after the defaults: a later value for the same name wins.
        spec.env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        spec
    })
}

/// bench/fastapi as one Lambda function: Mangum under the AWS runtime interface client.
pub fn fastapi(bench: &Bench, limit: usize) -> Front {
    fastapi_on(bench, limit, &bench.database_url, 4)
}

/// The same, logging in with `database_url` and hashing at `bcrypt_cost`.
pub fn fastapi_on(bench: &Bench, limit: usize, database_url: &str, bcrypt_cost: u32) -> Front {
    let cost = bcrypt_cost.to_string();
    let mut spec = Spec::new(&bench.fastapi_python, &fastapi_env(database_url, &cost));
    spec.args = ["-m", "awslambdaric", "lambda_function.handler"]
        .map(str::to_owned)
        .into();
    spec.dir = Some(fastapi_dir(&bench.root));
    Front::single(Pool::new(spec, limit))
}

pub fn fastapi_dir(root: &Path) -> std::path::PathBuf {
    root.join("bench/fastapi")
}

/// Its environment: the database it logs in with (the owner's, in the comparisons: the backend
/// it reproduces filtered by user in its queries and had no row-level security), the token
/// secret, the bcrypt cost.
pub fn fastapi_env<'a>(database_url: &'a str, bcrypt_cost: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("DATABASE_URL", database_url),
        ("JWT_SECRET", JWT_SECRET),
        ("BCRYPT_COST", bcrypt_cost),
    ]
}

/// Warms `front` up with `connections` clients (which starts that many instances), then
/// measures the list load; stops every instance afterwards. Warm-up errors count too.
pub async fn measure(
    front: Front,
    callers: &Arc<Vec<Caller>>,
    connections: usize,
    times: (Duration, Duration),
) -> Result<Measured, String> {
    measure_workload(front, callers, connections, times, Workload::List, None).await
}

/// The same for `workload`, counting the database round trips of the measured part on
/// `round_trips` when given.
pub async fn measure_workload(
    front: Front,
    callers: &Arc<Vec<Caller>>,
    connections: usize,
    (warm, run): (Duration, Duration),
    workload: Workload,
    round_trips: Option<&RoundTrips>,
) -> Result<Measured, String> {
    let front = Arc::new(front);
    let (addr, server) = front.clone().serve().await.map_err(|e| e.to_string())?;
    let warm = load::run_workload(addr, callers.clone(), connections, warm, workload).await;
    for pool in front.pools() {
        pool.reset_durations();
    }
    round_trips.map(RoundTrips::take);
    let (mut load, harness_cpu, database_cpu) = with_cpu(load::run_workload(
        addr,
        callers.clone(),
        connections,
        run,
        workload,
    ))
    .await;
    let round_trips = round_trips.map(RoundTrips::take);
    drop(server);
    load.add_errors_of(warm);
    let mut measured = Measured {
        load,
        durations: Vec::new(),
        inits: Vec::new(),
        peak_rss: Vec::new(),
        cpu: Duration::ZERO,
        harness_cpu,
        database_cpu,
        round_trips,
    };
    for pool in front.pools() {
        let report = pool.stop().await;
        measured.durations.extend(report.durations);
        measured.cpu += report.cpu;
        for instance in report.instances {
            if let Some(error) = instance.init_error {
                return Err(format!("an instance failed to start: {error}"));
            }
            measured.inits.extend(instance.init);
            measured.peak_rss.extend(instance.peak_rss);
        }
    }
    Ok(measured)
}

/// In a smoke run every answer must be right (its figures mean nothing, but its failures do);
/// in a full run errors are figures to report.
pub fn smoke_clean(bench: &Bench, what: &str, measured: &Measured) -> Result<(), String> {
    let load = &measured.load;
    if bench.smoke && load.errors + load.wrong > 0 {
        return Err(format!(
            "{what}: {} errors, {} wrong answers; first: {}",
            load.errors,
            load.wrong,
            load.first_problem.as_deref().unwrap_or("-")
        ));
    }
    Ok(())
}

/// Megabytes, for the tables.
pub fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// The median of some numbers, or `None` when there are none.
pub fn median<T: Ord + Copy>(mut values: Vec<T>) -> Option<T> {
    values.sort_unstable();
    values.get(values.len().saturating_sub(1) / 2).copied()
}

//! `make bench`: the functions measured against the physical floor, written to BENCHMARKS.md.
//!
//! `bench [--smoke] [--only SECTION,...] [--out FILE]`. Needs `DATABASE_URL` (a database of its own: the scale section
//! fills it), `FUNCTION_DATABASE_URL` (the functions' role), `POOLED_FUNCTION_DATABASE_URL` (the
//! same through PgBouncer in transaction mode), `FASTAPI_PYTHON` (a Python with
//! bench/fastapi/requirements.txt) and, unless `--smoke`, release builds in `target/release` and
//! `target/lambda` from `make package` (scripts/bench.sh provides all of them).
//! `--smoke` runs every section but the size one with a handful of iterations and the load
//! sections for a second at small K, on debug builds, so `make test` keeps this code from
//! rotting; its figures mean nothing.
//!
//! The report's sections, in order, each a module: [`header`], [`floor`] (handlers against the
//! floor), [`auth`] (passwords and tokens), [`recovery`] (password reset requests alike for every
//! address), [`round_trips`], [`cold_start`], [`cold_compute`] (a Neon compute waking), [`scale`],
//! [`versus`] (against FastAPI), [`aws`] (against FastAPI with Neon's distance, writes, sign-in,
//! cost), [`pooler`] (through PgBouncer), [`sizes`], then `why.md`.
//! The last two load sections run on [`harness`]: a [`front`] like the HTTP API, a [`pool`] of
//! instances per function, each with its [`runtime_api`], and [`load`] over HTTP.

mod auth;
mod aws;
mod cold_compute;
mod cold_start;
mod floor;
mod front;
mod harness;
mod header;
mod load;
mod network;
mod pool;
mod pooler;
mod prices;
mod proxy;
mod recovery;
mod report;
mod round_trips;
mod runtime_api;
mod scale;
mod sizes;
mod stats;
mod versus;

use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use report::Bench;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let smoke = args.iter().any(|a| a == "--smoke");
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
    };
    let only: Option<Vec<String>> =
        value("--only").map(|list| list.split(',').map(str::to_owned).collect());
    if let Some(unknown) = only
        .iter()
        .flatten()
        .find(|name| !SECTIONS.contains(&name.as_str()))
    {
        eprintln!(
            "bench: no section {unknown:?}; sections: {}",
            SECTIONS.join(", ")
        );
        return ExitCode::FAILURE;
    }
    // Some sections only is not the whole report: not BENCHMARKS.md unless asked for.
    let out = value("--out").map_or_else(
        || {
            PathBuf::from(if only.is_some() {
                "target/bench-partial.md"
            } else {
                "BENCHMARKS.md"
            })
        },
        PathBuf::from,
    );
    let Ok(database_url) = std::env::var("DATABASE_URL") else {
        eprintln!("bench: DATABASE_URL is not set (scripts/bench.sh starts a database)");
        return ExitCode::FAILURE;
    };
    // The scale section empties the tasks table: never point this at a database that matters.
    let dbname = tokio_postgres::Config::from_str(&database_url)
        .ok()
        .and_then(|c| c.get_dbname().map(str::to_owned));
    if !dbname.as_deref().is_some_and(|name| name.contains("bench")) {
        eprintln!("bench: refusing to run on database {dbname:?}: its name must contain \"bench\"");
        return ExitCode::FAILURE;
    }
    // The functions it starts log in as a role that row-level security applies to, as they must.
    let function_database_url =
        std::env::var("FUNCTION_DATABASE_URL").unwrap_or_else(|_| database_url.clone());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let fastapi_python = std::env::var_os("FASTAPI_PYTHON")
        .map_or_else(|| root.join(".local/fastapi/bin/python"), PathBuf::from);
    let mut bench = Bench {
        smoke,
        root,
        database_url,
        function_database_url,
        pooled_function_database_url: std::env::var("POOLED_FUNCTION_DATABASE_URL").ok(),
        fastapi_python,
        cold_starts: Default::default(),
        report: String::new(),
    };
    match run(&mut bench, only.as_deref()).await {
        Ok(()) => {
            if let Err(e) = std::fs::write(&out, &bench.report) {
                eprintln!("bench: cannot write {}: {e}", out.display());
                return ExitCode::FAILURE;
            }
            eprintln!("bench: wrote {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The sections `--only` can name, in report order.
const SECTIONS: [&str; 11] = [
    "handlers",
    "auth",
    "recovery",
    "round-trips",
    "cold-start",
    "cold-compute",
    "scale",
    "versus",
    "aws",
    "pooler",
    "size",
];

async fn run(bench: &mut Bench, only: Option<&[String]>) -> Result<(), String> {
    let wanted = |name: &str| only.is_none_or(|only| only.iter().any(|o| o == name));
    let db = shared::db::Db::new(bench.config(4)?.database).map_err(|e| e.to_string())?;
    let mut client = db.dedicated_client().await.map_err(|e| e.to_string())?;
    shared::migrate::run(&mut client)
        .await
        .map_err(|e| e.to_string())?;
    let section = |name: &'static str| move |e: String| format!("{name}: {e}");
    header::run(bench).await.map_err(section("header"))?;
    if wanted("handlers") {
        floor::run(bench).await.map_err(section("handlers"))?;
    }
    if wanted("auth") {
        auth::run(bench).await.map_err(section("auth"))?;
    }
    if wanted("recovery") {
        recovery::run(bench).await.map_err(section("recovery"))?;
    }
    if wanted("round-trips") {
        round_trips::run(bench)
            .await
            .map_err(section("round-trips"))?;
    }
    if wanted("cold-start") {
        cold_start::run(bench)
            .await
            .map_err(section("cold-start"))?;
    }
    if wanted("cold-compute") {
        cold_compute::run(bench)
            .await
            .map_err(section("cold-compute"))?;
    }
    if wanted("scale") {
        scale::run(bench).await.map_err(section("scale"))?;
    }
    if wanted("versus") {
        versus::run(bench).await.map_err(section("versus"))?;
    }
    if wanted("aws") {
        aws::run(bench).await.map_err(section("aws"))?;
    }
    if wanted("pooler") {
        pooler::run(bench).await.map_err(section("pooler"))?;
    }
    if wanted("size") {
        sizes::run(bench).map_err(section("size"))?;
    }
    bench.line(include_str!("../why.md").trim_end());
    Ok(())
}

//! `make bench`: the functions measured against the physical floor, written to BENCHMARKS.md.
//!
//! `bench [--smoke] [--out FILE]`. Needs `DATABASE_URL` (a database of its own: the scale section
//! fills it) and, unless `--smoke`, release builds in `target/release`, `target/lambda` from
//! `make package`, `cargo lambda` and `wrk` on PATH (scripts/bench.sh provides all of them).
//! `--smoke` runs every section but the load and size ones with a handful of iterations, so
//! `make test` keeps this code from rotting; its figures mean nothing.
//!
//! The report's sections, in order, each a module: [`header`], [`floor`] (handlers against the
//! floor), [`auth`] (passwords and tokens), [`round_trips`], [`cold_start`], [`scale`], [`load`],
//! [`sizes`], then `why.md`.

mod auth;
mod cold_start;
mod floor;
mod header;
mod load;
mod proxy;
mod report;
mod round_trips;
mod runtime_api;
mod scale;
mod sizes;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use report::Bench;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let smoke = args.iter().any(|a| a == "--smoke");
    let out = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1))
        .map_or_else(|| PathBuf::from("BENCHMARKS.md"), PathBuf::from);
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
    let mut bench = Bench {
        smoke,
        root,
        database_url,
        function_database_url,
        report: String::new(),
    };
    match run(&mut bench).await {
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

async fn run(bench: &mut Bench) -> Result<(), String> {
    let db = shared::db::Db::new(bench.config(4)?.database).map_err(|e| e.to_string())?;
    let mut client = db.dedicated_client().await.map_err(|e| e.to_string())?;
    shared::migrate::run(&mut client)
        .await
        .map_err(|e| e.to_string())?;
    let section = |name: &'static str| move |e: String| format!("{name}: {e}");
    header::run(bench).await.map_err(section("header"))?;
    floor::run(bench).await.map_err(section("handlers"))?;
    auth::run(bench).await.map_err(section("auth"))?;
    round_trips::run(bench)
        .await
        .map_err(section("round trips"))?;
    cold_start::run(bench)
        .await
        .map_err(section("cold start"))?;
    scale::run(bench).await.map_err(section("scale"))?;
    load::run(bench).await.map_err(section("load"))?;
    sizes::run(bench).map_err(section("size"))?;
    bench.line(include_str!("../why.md").trim_end());
    Ok(())
}

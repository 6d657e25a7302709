//! The report's head: the machine, the toolchain and the database it ran on.

use shared::db::Statement;

use crate::report::Bench;

pub async fn run(bench: &mut Bench) -> Result<(), String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or_else(|| "?".into(), |kb| format!("{:.0}", kb / 1024.0 / 1024.0));
    let app = bench.app(4)?;
    let version = app
        .db
        .query(&Statement::new("SELECT version()"))
        .await
        .map_err(|e| e.to_string())?
        .first()
        .and_then(|r| r.try_get::<_, String>(0).ok())
        .unwrap_or_default();
    let postgres = version.split(" on ").next().unwrap_or(&version).to_owned();
    bench.line("# Benchmarks");
    bench.line("");
    if bench.smoke {
        bench.line("**Smoke run: a handful of iterations to keep the code working; the figures mean nothing.**");
        bench.line("");
    }
    bench.line(
        "Reproduce with `make bench` (scripts/bench.sh): a private PostgreSQL with a database of",
    );
    bench
        .line("its own, release builds, the FastAPI backend in bench/fastapi and PgBouncer, then this report.");
    bench.line("");
    bench.line(format!(
        "- Machine: {cpu}, {} cores, {memory_gib} GiB",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    ));
    bench.line(format!(
        "- {}; {postgres} on the same machine (unix loopback TCP, fsync off)",
        command_output("rustc", &["-V"])
    ));
    bench.line(format!(
        "- {}",
        command_output("cargo", &["lambda", "--version"])
    ));
    bench.line("- Times are min / median / p99 over the stated number of runs, after warm-up.");
    Ok(())
}

fn command_output(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

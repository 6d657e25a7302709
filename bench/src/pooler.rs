//! K instances of the list function, each holding its own connection, straight to PostgreSQL and
//! through PgBouncer in transaction mode with a small server pool (what Neon's pooled endpoint
//! is): throughput, latency, errors, and whether every answer held exactly its caller's tasks.

use std::sync::Arc;
use std::time::Duration;

use crate::harness::{self, median};
use crate::report::Bench;
use crate::stats::{Summary, fmt};

pub async fn run(bench: &mut Bench) -> Result<(), String> {
    let Some(pooled) = bench.pooled_function_database_url.clone() else {
        return Err(
            "POOLED_FUNCTION_DATABASE_URL is not set (scripts/bench.sh starts PgBouncer)".into(),
        );
    };
    let (k, times) = if bench.smoke {
        (4, (Duration::from_millis(300), Duration::from_millis(500)))
    } else {
        (100, (Duration::from_secs(3), Duration::from_secs(10)))
    };
    let app = bench.app(4)?;
    // Eight users, so an answer with rows bound to the wrong user would be seen.
    let callers = Arc::new(harness::callers(&app, 8, 20).await?);
    let direct = bench.function_database_url.clone();
    let mut rows = Vec::new();
    for (name, url) in [("direct", direct), ("PgBouncer, transaction mode", pooled)] {
        let front = harness::rust(bench, k, &url)?;
        let measured = harness::measure(front, &callers, k, times).await?;
        harness::smoke_clean(bench, name, &measured)?;
        rows.push((name, measured));
    }

    bench.line("");
    bench.line("## Through a transaction-mode pooler");
    bench.line("");
    bench.line(format!("K = {k} instances of `list` through the harness above, each holding its own connection; 8 users"));
    bench.line("with 20 tasks each, `GET /api/{user_id}/tasks`. PgBouncer (Debian's) runs in transaction mode with");
    bench.line("4 server connections (scripts/pgbouncer.sh), as Neon's pooled endpoint multiplexes many clients");
    bench.line("over few: a session-level setting or a named prepared statement would leak or fail there. An");
    bench.line("answer is *wrong* unless it is exactly its caller's 20 tasks. Target: zero errors and zero wrong");
    bench.line("answers through PgBouncer.");
    bench.line("");
    bench.line("| connection | K | instances | requests/s | p50 | p99 | invocation p50 | errors | wrong answers |");
    bench.line("|---|---|---|---|---|---|---|---|---|");
    for (name, m) in &rows {
        if m.load.latencies.is_empty() || m.durations.is_empty() {
            return Err(format!("{name}: no request answered"));
        }
        let latency = Summary::of(m.load.latencies.clone());
        bench.line(format!(
            "| {name} | {k} | {} | {:.0} | {} | {} | {} | {} | {} |",
            m.inits.len(),
            m.load.requests_per_second(),
            fmt(latency.median),
            fmt(latency.p99),
            fmt(median(m.durations.clone()).unwrap_or_default()),
            m.load.errors,
            m.load.wrong,
        ));
    }
    if let Some(problem) = rows.iter().find_map(|(_, m)| m.load.first_problem.as_ref()) {
        bench.line("");
        bench.line(format!("First problem seen: `{problem}`"));
    }
    Ok(())
}

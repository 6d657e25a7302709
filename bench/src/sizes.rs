//! The size of every arm64 zip `make package` built (what Lambda downloads at a cold start), and
//! its binary, with the cold start measured above beside it.

use std::fmt::Write as _;

use crate::report::Bench;

pub fn run(bench: &mut Bench) -> Result<(), String> {
    bench.line("");
    bench.line("## Size");
    bench.line("");
    if bench.smoke {
        bench.line("Skipped in a smoke run.");
        return Ok(());
    }
    bench.line("`make package`: arm64, release profile (opt-level z, fat LTO, one codegen unit, panic=abort,");
    bench.line(
        "stripped). Target: every zip ≤ 6 MB. Cold start: the median total from the section above.",
    );
    bench.line("");
    bench.line("| function | zip | bootstrap (stripped) | cold start |");
    bench.line("|---|---|---|---|");
    let names = bench.functions()?;
    let mb = |bytes: u64| format!("{:.2} MB", bytes as f64 / 1e6);
    for name in names {
        let dir = bench.root.join(format!("target/lambda/{name}"));
        let size = |file: &str| {
            std::fs::metadata(dir.join(file))
                .map(|m| m.len())
                .map_err(|e| format!("{}: {e} (run make package)", dir.join(file).display()))
        };
        let (binary, zip) = (size("bootstrap")?, size("bootstrap.zip")?);
        let mut row = String::new();
        let _ = write!(
            row,
            "| {name} | {}{} | {} | {} |",
            mb(zip),
            if zip <= 6_000_000 { "" } else { " (over)" },
            mb(binary),
            bench
                .cold_starts
                .get(&name)
                .map_or_else(|| "—".to_owned(), |d| crate::stats::fmt(*d))
        );
        bench.line(row);
    }
    Ok(())
}

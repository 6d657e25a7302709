//! The size of every arm64 binary and zip `make package` built.

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
    bench.line("stripped). Target: every function ≤ 8 MB stripped.");
    bench.line("");
    bench.line("| function | bootstrap (stripped) | zip |");
    bench.line("|---|---|---|");
    let mut names: Vec<String> = std::fs::read_dir(bench.root.join("functions"))
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
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
            "| {name} | {}{} | {} |",
            mb(binary),
            if binary <= 8_000_000 { "" } else { " (over)" },
            mb(zip)
        );
        bench.line(row);
    }
    Ok(())
}

//! The run: its settings (smoke or full, the database, the checkout) and the report it writes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use shared::App;
use shared::config::Config;

/// The benchmark's own token secret: nothing it signs leaves the run.
pub const JWT_SECRET: &str = "benchmark-secret-that-is-at-least-32-bytes";

pub struct Bench {
    pub smoke: bool,
    pub root: PathBuf,
    /// The owner's: the benchmark fills and inspects the database with it.
    pub database_url: String,
    /// What the function processes it starts log in with (`FUNCTION_DATABASE_URL`).
    pub function_database_url: String,
    /// The same through PgBouncer in transaction mode (`POOLED_FUNCTION_DATABASE_URL`).
    pub pooled_function_database_url: Option<String>,
    /// The Python with bench/fastapi's packages (`FASTAPI_PYTHON`).
    pub fastapi_python: PathBuf,
    /// Median cold start per function, for the size table.
    pub cold_starts: BTreeMap<String, Duration>,
    pub report: String,
}

impl Bench {
    /// Iterations: `full` normally, a handful in a smoke run.
    pub fn n(&self, full: usize) -> usize {
        if self.smoke { 5.min(full) } else { full }
    }

    /// The build the functions run from: debug in a smoke run (what `make test` built).
    pub fn profile(&self) -> &'static str {
        if self.smoke { "debug" } else { "release" }
    }

    /// Every function's name (functions/*), sorted.
    pub fn functions(&self) -> Result<Vec<String>, String> {
        let mut names: Vec<String> = std::fs::read_dir(self.root.join("functions"))
            .map_err(|e| e.to_string())?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        names.sort();
        Ok(names)
    }

    pub fn config(&self, bcrypt_cost: u32) -> Result<Config, String> {
        let url = self.database_url.clone();
        Config::from_lookup(|name| match name {
            "DATABASE_URL" => Some(url.clone()),
            "JWT_SECRET" => Some(JWT_SECRET.into()),
            "BCRYPT_COST" => Some(bcrypt_cost.to_string()),
            // The scale section loads a million rows in one statement; requests are unaffected.
            "DATABASE_STATEMENT_TIMEOUT_MS" => Some("60000".into()),
            _ => None,
        })
        .map_err(|e| e.to_string())
    }

    pub fn app(&self, bcrypt_cost: u32) -> Result<App, String> {
        App::new(&self.config(bcrypt_cost)?).map_err(|e| e.to_string())
    }

    pub fn line(&mut self, text: impl AsRef<str>) {
        self.report.push_str(text.as_ref());
        self.report.push('\n');
    }
}

//! `migrate`: applies `migrations/` to the database in `DATABASE_URL` (local or Neon).

use std::process::ExitCode;
use std::str::FromStr;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match migrate().await {
        Ok(applied) if applied.is_empty() => eprintln!("migrate: schema is up to date"),
        Ok(applied) => applied
            .iter()
            .for_each(|m| eprintln!("migrate: applied {m}")),
        Err(message) => {
            eprintln!("migrate: {message}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

async fn migrate() -> Result<Vec<String>, String> {
    let url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set".to_owned())?;
    let config = tokio_postgres::Config::from_str(&url)
        .map_err(|_| "DATABASE_URL is not a PostgreSQL connection URL".to_owned())?;
    let db = shared::db::Db::new(config).map_err(|e| format!("TLS set-up failed: {e}"))?;
    let mut client = db
        .dedicated_client()
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    shared::migrate::run(&mut client)
        .await
        .map_err(|e| e.to_string())
}

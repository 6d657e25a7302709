//! `migrate`: applies `migrations/` to the database in `MIGRATION_DATABASE_URL`, or else
//! `DATABASE_URL` (local or Neon). Migrations need the owner role; the functions do not have it.

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
    let (name, url) = ["MIGRATION_DATABASE_URL", "DATABASE_URL"]
        .into_iter()
        .find_map(|name| Some((name, std::env::var(name).ok().filter(|v| !v.is_empty())?)))
        .ok_or("neither MIGRATION_DATABASE_URL nor DATABASE_URL is set")?;
    let config = tokio_postgres::Config::from_str(&url)
        .map_err(|_| format!("{name} is not a PostgreSQL connection URL"))?;
    let db = shared::db::Db::new(config).map_err(|e| format!("TLS set-up failed: {e}"))?;
    let mut client = db
        .dedicated_client()
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    shared::migrate::run(&mut client)
        .await
        .map_err(|e| e.to_string())
}

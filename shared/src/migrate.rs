//! The schema in `migrations/`, embedded at build time and applied by refinery, which records
//! what ran in `refinery_schema_history`. The `migrate` binary and the tests use it.

use tokio_postgres::Client;

mod embedded {
    refinery::embed_migrations!("../migrations");
}

/// Any fixed number: sessions that take this advisory lock migrate one at a time.
const MIGRATION_LOCK: i64 = 0x746f_646f_6d69_6772;

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("could not take the migration lock: {0}")]
    Lock(#[from] tokio_postgres::Error),
    #[error(transparent)]
    Migration(#[from] refinery::Error),
}

/// Applies the migrations not applied yet and names them; safe to run from several processes at
/// once (CI jobs, parallel test binaries).
pub async fn run(client: &mut Client) -> Result<Vec<String>, MigrateError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let report = embedded::migrations::runner().run_async(client).await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await?;
    Ok(report?
        .applied_migrations()
        .iter()
        .map(ToString::to_string)
        .collect())
}

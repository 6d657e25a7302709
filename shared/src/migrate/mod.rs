//! The schema in `migrations/`, embedded at build time and applied by refinery, which records
//! what ran in `refinery_schema_history`; and the take-over of a FastAPI-era tasks table found
//! where ours is to be created (see [`takeover`]). The `migrate` binary and the tests use it.
//!
//! One run is one transaction: the take-over, every pending migration and their history rows
//! commit together or not at all. A run that fails (a lock not granted in time, a shape refused,
//! a row that does not fit) leaves the database exactly as it found it, and running it again
//! starts from there. DDL waits at most [`Settings::lock_timeout`] for a lock, so it never
//! queues for long behind traffic, nor makes traffic queue behind it.

mod history;
pub mod legacy;
mod report;
mod takeover;

use std::time::Duration;

use tokio_postgres::Client;

pub use report::{MigrateError, postgres_words};
pub use takeover::Refusal;

mod embedded {
    refinery::embed_migrations!("../migrations");
}

/// Any fixed number: sessions that take this advisory lock migrate one at a time.
const MIGRATION_LOCK: i64 = 0x746f_646f_6d69_6772;

/// How long a migration's statement waits for a lock unless configured
/// (`MIGRATION_LOCK_TIMEOUT_MS`): long enough for the short transactions of a live API to end,
/// short enough that requests queued behind the waiting DDL do not time out.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub lock_timeout: Duration,
    /// Stop after this migration (tests build databases as older versions left them).
    pub until: Option<u32>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            until: None,
        }
    }
}

/// What a run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// The migrations applied, by name (`V1__users_and_tasks`).
    pub migrations: Vec<String>,
    /// The old table taken over and how many of its rows were kept, if there was one.
    pub taken_over: Option<(String, u64)>,
}

/// Applies the migrations not applied yet, with the default settings, and names them; safe to
/// run from several processes at once (CI jobs, parallel test binaries).
pub async fn run(client: &mut Client) -> Result<Vec<String>, MigrateError> {
    Ok(run_with(client, Settings::default()).await?.migrations)
}

/// Takes over an old tasks table if there is one, then applies the pending migrations: all in
/// one transaction.
pub async fn run_with(client: &mut Client, settings: Settings) -> Result<Applied, MigrateError> {
    let transaction = client
        .transaction()
        .await
        .map_err(MigrateError::context("could not begin the migration"))?;
    // Other migrators wait here, for as long as they must: they hold nothing traffic needs. The
    // lock timeout starts to count after it, for the locks that traffic does need.
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(MigrateError::context("could not take the migration lock"))?;
    transaction
        .execute(
            "SELECT set_config('lock_timeout', $1, true)",
            &[&format!("{}ms", settings.lock_timeout.as_millis())],
        )
        .await
        .map_err(MigrateError::context("could not set lock_timeout"))?;

    let old_table = takeover::prepare(&transaction).await?;
    let mut runner = embedded::migrations::runner();
    if let Some(version) = settings.until {
        runner = runner.set_target(refinery::Target::Version(
            version as refinery::SchemaVersion,
        ));
    }
    let report = runner
        .run_async(&mut history::InTransaction(&transaction))
        .await
        .map_err(MigrateError::Migration)?;
    let taken_over = match old_table {
        Some(table) => Some(takeover::finish(&transaction, &table).await?),
        None => None,
    };
    transaction
        .commit()
        .await
        .map_err(MigrateError::context("could not commit the migration"))?;
    Ok(Applied {
        migrations: report
            .applied_migrations()
            .iter()
            .map(ToString::to_string)
            .collect(),
        taken_over,
    })
}

//! refinery's runner on a transaction that is already open: refinery's own tokio-postgres driver
//! commits each migration in a transaction of its own, which would commit the take-over's first
//! half with the first migration. Here its statements and its history rows join the caller's
//! transaction, which commits or rolls back everything at once.

use refinery::Migration;
use refinery_core::traits::r#async::{AsyncMigrate, AsyncQuery, AsyncTransaction};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio_postgres::Transaction;

pub(super) struct InTransaction<'a, 't>(pub &'a Transaction<'t>);

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    /// A history row refinery itself could not have written.
    #[error("refinery_schema_history holds a row that is not refinery's: {0}")]
    Corrupt(String),
}

impl AsyncTransaction for InTransaction<'_, '_> {
    type Error = HistoryError;

    async fn execute<'a, T: Iterator<Item = &'a str> + Send + 'a>(
        &'a mut self,
        queries: T,
    ) -> Result<usize, Self::Error> {
        let mut count = 0;
        for query in queries {
            self.0.batch_execute(query).await?;
            count += 1;
        }
        Ok(count)
    }
}

impl AsyncQuery<Vec<Migration>> for InTransaction<'_, '_> {
    async fn query<'a>(&'a mut self, query: &'a str) -> Result<Vec<Migration>, Self::Error> {
        let rows = self.0.query(query, &[]).await?;
        rows.iter()
            .map(|row| {
                let version = row.try_get("version")?;
                let name: String = row.try_get("name")?;
                let applied_on: String = row.try_get("applied_on")?;
                let checksum: String = row.try_get("checksum")?;
                let applied_on = OffsetDateTime::parse(&applied_on, &Rfc3339)
                    .map_err(|_| HistoryError::Corrupt(format!("applied_on {applied_on:?}")))?;
                let checksum = checksum
                    .parse()
                    .map_err(|_| HistoryError::Corrupt(format!("checksum {checksum:?}")))?;
                Ok(Migration::applied(version, name, applied_on, checksum))
            })
            .collect()
    }
}

impl AsyncMigrate for InTransaction<'_, '_> {}

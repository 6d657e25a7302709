//! What a failed run says: PostgreSQL's own message, detail and hint (refinery's and
//! tokio-postgres's `Display` say only "db error"), the step that failed, and what to do. This is
//! for the operator's terminal, so unlike the functions' logs it quotes DETAIL, which can hold
//! row values.

use std::fmt;

use refinery::error::Kind;
use tokio_postgres::error::SqlState;

use super::history::HistoryError;
use super::takeover::Refusal;

#[derive(Debug)]
pub enum MigrateError {
    /// A statement of ours failed: in which step, and what the operator can do about it.
    Postgres {
        step: String,
        error: tokio_postgres::Error,
        advice: Option<String>,
    },
    /// A migration in `migrations/` (or reading the history) failed.
    Migration(refinery::Error),
    /// The old table is not one the take-over knows how to keep.
    Refused(Refusal),
}

impl MigrateError {
    /// Wraps a failed statement with the step it belongs to, for `map_err`.
    pub(crate) fn context(step: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> Self {
        Self::advised(step, None)
    }

    /// The same, with what to do about it, said after PostgreSQL's words.
    pub(crate) fn advised(
        step: impl Into<String>,
        advice: Option<String>,
    ) -> impl FnOnce(tokio_postgres::Error) -> Self {
        let step = step.into();
        move |error| MigrateError::Postgres {
            step,
            error,
            advice,
        }
    }

    /// The PostgreSQL error underneath, if there is one.
    pub fn postgres(&self) -> Option<&tokio_postgres::Error> {
        match self {
            MigrateError::Postgres { error, .. } => Some(error),
            MigrateError::Migration(error) => {
                let source = std::error::Error::source(error)?;
                match source.downcast_ref::<HistoryError>()? {
                    HistoryError::Postgres(error) => Some(error),
                    HistoryError::Corrupt(_) => None,
                }
            }
            MigrateError::Refused(_) => None,
        }
    }

    /// Whether a lock was not granted within `lock_timeout`: running again later will do.
    pub fn is_lock_timeout(&self) -> bool {
        self.postgres()
            .is_some_and(|e| e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE))
    }
}

impl fmt::Display for MigrateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MigrateError::Postgres {
                step,
                error,
                advice,
            } => {
                write!(f, "{step}: {}", postgres_words(error))?;
                if let Some(advice) = advice {
                    write!(f, "\n{advice}")?;
                }
                Ok(())
            }
            // refinery's own words name the migration; its source is ours.
            MigrateError::Migration(error) => match (error.kind(), self.postgres()) {
                (Kind::Connection(what, _), Some(e)) => write!(f, "{what}: {}", postgres_words(e)),
                (Kind::Connection(what, source), None) => write!(f, "{what}: {source}"),
                (other, _) => write!(f, "{other}"),
            },
            MigrateError::Refused(refusal) => write!(f, "{refusal}"),
        }?;
        if self.is_lock_timeout() {
            write!(
                f,
                "\nAnother session held a lock this migration needs for longer than lock_timeout \
                 (MIGRATION_LOCK_TIMEOUT_MS): the migration gave up rather than make requests \
                 wait behind it. Run it again; if it keeps happening, run it when traffic is low."
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for MigrateError {}

/// A PostgreSQL error as psql shows it: severity, message and SQLSTATE, then DETAIL, HINT and
/// WHERE lines when the server sent them; for other failures tokio-postgres's words and cause.
pub fn postgres_words(error: &tokio_postgres::Error) -> String {
    let Some(db) = error.as_db_error() else {
        return match std::error::Error::source(error) {
            Some(cause) => format!("{error}: {cause}"),
            None => error.to_string(),
        };
    };
    let mut words = format!(
        "{}: {} (SQLSTATE {})",
        db.severity(),
        db.message(),
        db.code().code()
    );
    for (label, line) in [
        ("DETAIL", db.detail()),
        ("HINT", db.hint()),
        ("WHERE", db.where_()),
    ] {
        if let Some(line) = line {
            words.push_str(&format!("\n{label}:  {line}"));
        }
    }
    words
}

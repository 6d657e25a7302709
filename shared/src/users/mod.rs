//! Accounts: the `User` the API shows, and the SQL that stores and finds them.

mod fields;

pub use fields::{DisplayName, Email, NewPassword};

use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::auth::Caller;
use crate::db::Db;
use crate::error::{Error, Result};

/// An account as the API shows it; never with its password hash.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    #[serde(serialize_with = "crate::timestamp::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl User {
    /// Reads `id, email, name, created_at` from the row's columns from `first` on.
    pub(crate) fn from_row_at(row: &Row, first: usize) -> Result<Self> {
        Ok(Self {
            id: row.try_get(first)?,
            email: row.try_get(first + 1)?,
            name: row.try_get(first + 2)?,
            created_at: row.try_get(first + 3)?,
        })
    }
}

/// Creates an account; an address already taken, in any case, is [`Error::EmailTaken`].
pub async fn create(
    db: &Db,
    email: &Email,
    name: &DisplayName,
    password_hash: &str,
) -> Result<User> {
    let row = db
        .query_opt(
            "INSERT INTO users (email, name, password_hash) VALUES ($1, $2, $3)
             RETURNING id, email, name, created_at",
            &[
                (&email.as_str(), Type::TEXT),
                (&name.as_deref(), Type::TEXT),
                (&password_hash, Type::TEXT),
            ],
        )
        .await
        .map_err(|e| {
            if e.code() == Some(&SqlState::UNIQUE_VIOLATION)
                && e.constraint() == Some("users_email_key")
            {
                Error::EmailTaken
            } else {
                Error::Database(e)
            }
        })?;
    let row = row.ok_or_else(|| Error::Internal("INSERT … RETURNING gave no row".into()))?;
    User::from_row_at(&row, 0)
}

/// The account with this email and its password hash, for signin.
pub async fn find_with_hash(db: &Db, email: &Email) -> Result<Option<(User, String)>> {
    let row = db
        .query_opt(
            "SELECT id, email, name, created_at, password_hash FROM users WHERE lower(email) = lower($1)",
            &[(&email.as_str(), Type::TEXT)],
        )
        .await?;
    row.map(|row| Ok((User::from_row_at(&row, 0)?, row.try_get(4)?)))
        .transpose()
}

/// The caller's account, if their session is still live: one statement does both.
pub async fn find_for_session(db: &Db, caller: Caller) -> Result<Option<User>> {
    let row = db
        .query_opt(
            concat!(
                "SELECT u.id, u.email, u.name, u.created_at ",
                "FROM sessions s JOIN users u ON u.id = s.user_id ",
                "WHERE s.id = $1 AND s.user_id = $2 AND ",
                crate::sessions::live!()
            ),
            &[(&caller.session, Type::UUID), (&caller.user, Type::UUID)],
        )
        .await?;
    row.map(|row| User::from_row_at(&row, 0)).transpose()
}

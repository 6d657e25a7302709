//! Accounts: the `User` the API shows, and the SQL that stores and finds them.

mod fields;

pub use fields::{DisplayName, Email, NewPassword};

use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use uuid::Uuid;

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
    fn from_row(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            email: row.try_get("email")?,
            name: row.try_get("name")?,
            created_at: row.try_get("created_at")?,
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
        .map_err(|e| match e.as_db_error() {
            Some(db)
                if *db.code() == SqlState::UNIQUE_VIOLATION
                    && db.constraint() == Some("users_email_key") =>
            {
                Error::EmailTaken
            }
            _ => Error::Database(e),
        })?;
    let row = row.ok_or_else(|| Error::Internal("INSERT … RETURNING gave no row".into()))?;
    User::from_row(&row)
}

/// The account with this email and its password hash, for signin.
pub async fn find_with_hash(db: &Db, email: &Email) -> Result<Option<(User, String)>> {
    let row = db
        .query_opt(
            "SELECT id, email, name, created_at, password_hash FROM users WHERE lower(email) = lower($1)",
            &[(&email.as_str(), Type::TEXT)],
        )
        .await?;
    row.map(|row| Ok((User::from_row(&row)?, row.try_get("password_hash")?)))
        .transpose()
}

pub async fn find(db: &Db, id: Uuid) -> Result<Option<User>> {
    let row = db
        .query_opt(
            "SELECT id, email, name, created_at FROM users WHERE id = $1",
            &[(&id, Type::UUID)],
        )
        .await?;
    row.as_ref().map(User::from_row).transpose()
}

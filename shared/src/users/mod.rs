//! Accounts: the `User` the API shows, and the SQL that stores and finds them.

mod fields;

pub use fields::{DisplayName, Email, NewPassword};

use secrecy::SecretString;
use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::db::{Db, Statement};
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
    /// Reads the row's `id`, `email`, `name` and `created_at` columns.
    pub(crate) fn from_row(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            email: row.try_get("email")?,
            name: row.try_get("name")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

/// A validated signup.
pub struct NewAccount {
    pub email: Email,
    pub password: NewPassword,
    pub name: DisplayName,
}

/// What a signin presents. The password is only required to be present: today's signup rules
/// must not lock out an account made under older ones.
pub struct Credentials {
    pub email: Email,
    pub password: SecretString,
}

/// A validated password change: the current password as typed, the new one by signup's rules.
pub struct PasswordChange {
    pub current: SecretString,
    pub new: NewPassword,
}

/// Creates an account; an address already taken, in any case, is [`Error::EmailTaken`].
pub async fn create(
    db: &Db,
    email: &Email,
    name: &DisplayName,
    password_hash: &str,
) -> Result<User> {
    let statement = Statement::new("INSERT INTO users (email, name, password_hash) VALUES (")
        .bind(email.as_str(), Type::TEXT)
        .push(", ")
        .bind(name.as_deref(), Type::TEXT)
        .push(", ")
        .bind(password_hash, Type::TEXT)
        .push(") RETURNING id, email, name, created_at");
    let row = db.query_opt(&statement).await.map_err(|e| {
        if e.code() == Some(&SqlState::UNIQUE_VIOLATION)
            && e.constraint() == Some("users_email_key")
        {
            Error::EmailTaken
        } else {
            Error::Database(e)
        }
    })?;
    let row = row.ok_or_else(|| Error::Internal("INSERT … RETURNING gave no row".into()))?;
    User::from_row(&row)
}

/// The account with this email and its password hash, for signin.
pub async fn find_with_hash(db: &Db, email: &Email) -> Result<Option<(User, String)>> {
    let statement = Statement::new(
        "SELECT id, email, name, created_at, password_hash FROM users WHERE lower(email) = lower(",
    )
    .bind(email.as_str(), Type::TEXT)
    .push(")");
    let row = db.query_opt(&statement).await?;
    row.map(|row| Ok((User::from_row(&row)?, row.try_get("password_hash")?)))
        .transpose()
}

//! Accounts: the `User` the API shows, and the SQL that stores and finds them.

mod fields;
pub mod linked;

pub use fields::{DisplayName, Email, NewPassword};

use secrecy::SecretString;
use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::db::{Db, Statement};
use crate::error::Result;

/// An account as the API shows it; never with its password hash.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    /// The row's key, for the statements that follow; the API shows `id` instead.
    #[serde(skip)]
    pub key: Uuid,
    pub id: UserId,
    /// Always set for our own accounts; a Better Auth user's when their token carries one.
    pub email: Option<String>,
    pub name: Option<String>,
    /// Whether the person proved the address is theirs (a verification link, or a password reset,
    /// which also came by email); a Better Auth user's as its token says.
    pub email_verified: bool,
    #[serde(serialize_with = "crate::timestamp::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// The columns [`User::from_row`] reads, for statements over `users`.
pub const USER_COLUMNS: &str = "id, email, name, email_verified, created_at";

impl User {
    /// Reads the row's `id`, `email`, `name`, `email_verified` and `created_at` columns.
    pub(crate) fn from_row(row: &Row) -> Result<Self> {
        let key = row.try_get("id")?;
        Ok(Self {
            key,
            id: UserId::Local(key),
            email: row.try_get("email")?,
            name: row.try_get("name")?,
            email_verified: row.try_get("email_verified")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

/// What the API calls a user: our own account's key, or a Better Auth user's own id (which
/// is not a UUID). Either is a JSON string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum UserId {
    Local(Uuid),
    External(String),
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UserId::Local(id) => id.fmt(f),
            UserId::External(id) => f.write_str(id),
        }
    }
}

impl UserId {
    /// Whether a `{user_id}` path segment names this user. Our ids match in any form a UUID
    /// can be spelled; Better Auth's exactly.
    pub fn is_named_by(&self, segment: &str) -> bool {
        match self {
            UserId::Local(id) => Uuid::parse_str(segment).is_ok_and(|named| named == *id),
            UserId::External(id) => segment == id,
        }
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
    /// The device token an earlier signin on this device returned, if the client kept it.
    pub device_token: Option<String>,
}

/// A validated password change: the current password as typed, the new one by signup's rules.
pub struct PasswordChange {
    pub current: SecretString,
    pub new: NewPassword,
}

/// An account as signin finds it: with its password hash, and whether the device token the
/// signin presented (by its hash) is one of its devices'.
pub struct SigninAccount {
    pub user: User,
    pub password_hash: String,
    pub known_device: bool,
}

/// The account with this email, for signin. Better Auth's users have no password here, and are
/// not found.
pub async fn find_for_signin(
    db: &Db,
    email: &Email,
    device_hash: Option<&[u8]>,
) -> Result<Option<SigninAccount>> {
    let statement = Statement::new(
        "SELECT id, email, name, email_verified, created_at, password_hash, EXISTS (SELECT FROM devices d \
         WHERE d.user_id = users.id AND d.expires_at > now() AND d.token_hash = ",
    )
    .bind(device_hash, Type::BYTEA)
    .push(") AS known_device FROM users WHERE lower(email) = lower(")
    .bind(email.as_str(), Type::TEXT)
    .push(") AND password_hash IS NOT NULL");
    let row = db.query_opt(&statement).await?;
    row.map(|row| {
        Ok(SigninAccount {
            user: User::from_row(&row)?,
            password_hash: row.try_get("password_hash")?,
            known_device: row.try_get("known_device")?,
        })
    })
    .transpose()
}

/// Replaces an account's password hash with an equivalent fresh one (another cost, a normalised
/// input), only if it is still `old`: a password changed meanwhile stays changed.
pub async fn replace_hash(db: &Db, id: Uuid, old: &str, new: &str) -> Result<()> {
    let statement = Statement::new("UPDATE users SET password_hash = ")
        .bind(new, Type::TEXT)
        .push(" WHERE id = ")
        .bind(id, Type::UUID)
        .push(" AND password_hash = ")
        .bind(old, Type::TEXT);
    db.query(&statement).await?;
    Ok(())
}

//! Accounts of users another server signs in (Better Auth): a local row per (issuer, subject),
//! created the first time one of their tokens is seen, its email and name kept as the latest
//! token says. The row is what tasks reference and what row-level security binds to.

use const_format::concatcp;
use tokio_postgres::Row;
use tokio_postgres::types::Type;

use super::{DisplayName, Email, User, UserId};
use crate::db::{BOUND_USER, Db, Statement};
use crate::error::{Error, Result};
use crate::events;

/// A user another server signs in (Better Auth), as its verified token describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedUser {
    /// The server's URL, as its tokens name it.
    pub issuer: String,
    /// That server's id for the user: what the API shows as this user's id.
    pub subject: String,
    /// From the claims, when present and valid by our own rules.
    pub email: Option<Email>,
    pub name: DisplayName,
    /// Better Auth's `emailVerified` claim: that server verifies its users' addresses.
    pub email_verified: bool,
}

impl LinkedUser {
    /// What the API calls this user: the other server's own id.
    pub fn id(&self) -> UserId {
        UserId::External(self.subject.clone())
    }
}

/// Binds the transaction to the user's row, creating it if this is their first request and
/// bringing email and name up to date when the token says otherwise: one statement, no write at
/// all on most requests. Two first requests at once both insert; the unique key lets one in and
/// the other finds no row this time (its snapshot predates the winner's commit).
fn binding(user: &LinkedUser) -> Statement<'_> {
    Statement::new(
        "WITH found AS (SELECT u.id, u.email, u.name FROM users u WHERE u.issuer = $1 AND u.subject = $2), \
         created AS (INSERT INTO users (issuer, subject, email, name) \
         SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT FROM found) \
         ON CONFLICT (issuer, subject) DO NOTHING RETURNING id), \
         profile AS (UPDATE users u SET email = $3, name = $4, updated_at = now() FROM found \
         WHERE u.id = found.id AND (found.email, found.name) IS DISTINCT FROM ($3, $4)) \
         SELECT set_config('app.user_id', me.id::text, true), me.created \
         FROM (SELECT id, false AS created FROM found \
               UNION ALL SELECT id, true AS created FROM created) me",
    )
    .arg(user.issuer.as_str(), Type::TEXT)
    .arg(user.subject.as_str(), Type::TEXT)
    .arg(user.email.as_ref().map(|e| e.as_str()), Type::TEXT)
    .arg(user.name.as_deref(), Type::TEXT)
}

/// Runs `statement` bound to the user's row, in one round trip. Only when a concurrent first
/// request created the row meanwhile does it take a second: the first then did nothing (see
/// [`binding`]), and the second finds the row.
pub async fn run_as(db: &Db, user: &LinkedUser, statement: &Statement<'_>) -> Result<Vec<Row>> {
    let binding = binding(user);
    for _ in 0..2 {
        if let Some(done) = db.guarded(&binding, statement).await? {
            if done.guard.try_get("created")? {
                events::better_auth_user_first_seen();
            }
            return Ok(done.rows);
        }
    }
    Err(Error::Internal(
        "a Better Auth user's row was neither found nor created".into(),
    ))
}

/// The user's account as the API shows it: Better Auth's id, email and name from the token.
pub async fn user(db: &Db, user: &LinkedUser) -> Result<User> {
    let statement = Statement::new(concatcp!(
        "SELECT id, email, name, email_verified, created_at FROM users WHERE id = ",
        BOUND_USER
    ));
    let row = run_as(db, user, &statement)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Internal("the bound user has no row".into()))?;
    Ok(User {
        id: user.id(),
        email_verified: user.email_verified,
        ..User::from_row(&row)?
    })
}

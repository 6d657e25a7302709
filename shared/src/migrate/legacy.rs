//! Handing taken-over tasks to their owners (`migrate legacy`, `migrate adopt`): the operator's
//! decision, never a guess. An old row's key may be an email or a home-made id, and whoever signs
//! up here with that email has not shown they own it; so such rows wait, invisible to everyone,
//! until the operator names the account. (Rows keyed by a Better Auth user's id need no one:
//! that user's first request adopts them, see `migrations/V8__legacy_tasks.sql`.) These run as
//! the role that migrated, which alone sees rows awaiting an owner.

use std::fmt;

use tokio_postgres::Client;
use uuid::Uuid;

use super::report::postgres_words;
use crate::users::Email;

/// Rows awaiting an owner under one old key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub key: Key,
    pub tasks: i64,
    /// The key is the id of a user in Better Auth's own `user` table on this database: their
    /// first request here adopts the rows.
    pub better_auth_user: bool,
}

/// Whose rows: an old table's owner key, or none (a single-user table's rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Named(String),
    Unowned,
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Named(key) => write!(f, "\"{key}\""),
            Key::Unowned => write!(f, "the unowned rows"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no account has the email {0}: it must sign up first (nothing moved)")]
    NoAccount(String),
    #[error(
        "{0} accounts have the email {1} (a password account and Better Auth users?); nothing moved"
    )]
    ManyAccounts(usize, String),
    #[error("no task awaits an owner under {0} (nothing moved): `migrate legacy` lists what does")]
    NoTasks(Key),
    #[error("{}", postgres_words(.0))]
    Postgres(#[from] tokio_postgres::Error),
}

/// Every key with rows still awaiting an owner, with how many; the unowned rows last.
pub async fn waiting(client: &Client) -> Result<Vec<Waiting>, Error> {
    let rows = client
        .query(
            "SELECT legacy_owner, count(*) AS tasks FROM tasks WHERE user_id IS NULL \
             GROUP BY legacy_owner ORDER BY legacy_owner NULLS LAST",
            &[],
        )
        .await?;
    let keys: Vec<Option<String>> = rows.iter().map(|row| row.get("legacy_owner")).collect();
    let better_auth = better_auth_users(client, &keys).await?;
    Ok(rows
        .iter()
        .zip(keys)
        .map(|(row, key)| Waiting {
            better_auth_user: key.as_ref().is_some_and(|k| better_auth.contains(k)),
            key: key.map_or(Key::Unowned, Key::Named),
            tasks: row.get("tasks"),
        })
        .collect())
}

/// Which of `keys` are ids in Better Auth's `user` table, when it shares this database.
async fn better_auth_users(client: &Client, keys: &[Option<String>]) -> Result<Vec<String>, Error> {
    let shared = client
        .query_one("SELECT to_regclass('\"user\"') IS NOT NULL AS shared", &[])
        .await?;
    if !shared.get::<_, bool>("shared") {
        return Ok(Vec::new());
    }
    let keys: Vec<&str> = keys.iter().flatten().map(String::as_str).collect();
    let rows = client
        .query(
            "SELECT id::text AS id FROM \"user\" WHERE id::text = ANY($1)",
            &[&keys],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get("id")).collect())
}

/// Gives the rows awaiting an owner under `key` to the account with `email`, in one
/// transaction, and says how many moved. Running it again moves nothing (they have an owner).
pub async fn adopt(client: &mut Client, key: &Key, email: &Email) -> Result<u64, Error> {
    let tx = client.transaction().await?;
    let accounts = tx
        .query(
            "SELECT id FROM users WHERE lower(email) = lower($1)",
            &[&email.as_str()],
        )
        .await?;
    let account: Uuid = match accounts.as_slice() {
        [] => return Err(Error::NoAccount(email.as_str().to_owned())),
        [one] => one.get("id"),
        many => return Err(Error::ManyAccounts(many.len(), email.as_str().to_owned())),
    };
    // The policy on tasks lets the migrating role write a row only to the user it is bound to.
    tx.execute(
        "SELECT set_config('app.user_id', $1::uuid::text, true)",
        &[&account],
    )
    .await?;
    let moved = match key {
        Key::Named(key) => {
            tx.execute(
                "UPDATE tasks SET user_id = $1, legacy_owner = NULL \
                 WHERE user_id IS NULL AND legacy_owner = $2",
                &[&account, key],
            )
            .await?
        }
        Key::Unowned => {
            tx.execute(
                "UPDATE tasks SET user_id = $1 WHERE user_id IS NULL AND legacy_owner IS NULL",
                &[&account],
            )
            .await?
        }
    };
    if moved == 0 {
        return Err(Error::NoTasks(key.clone()));
    }
    tx.commit().await?;
    Ok(moved)
}

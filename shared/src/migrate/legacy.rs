//! Handing taken-over tasks to their owners (`migrate legacy`, `migrate adopt`): the operator's
//! decision, never a guess. An old row's key may be an email or a home-made id, and whoever signs
//! up here with that email has not shown they own it; so such rows wait, invisible to everyone,
//! until the operator names the account, and only an account whose address is verified (its
//! owner used the link mailed to it) gets them unless the operator vouches for it. (Rows keyed
//! by a Better Auth user's id need no one: that user's first request adopts them, see
//! `migrations/V8__legacy_tasks.sql`.) These run as the role that migrated, which alone sees
//! rows awaiting an owner.

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
    #[error(
        "the account with the email {0} has not verified it, and anyone can sign up with any \
         address: ask its owner to use the link mailed at signup (the app can send another), then \
         run this again; or, if you know the account is theirs, pass --unverified (nothing moved)"
    )]
    Unverified(String),
    #[error("no task awaits an owner under {0} (nothing moved): `migrate legacy` lists what does")]
    NoTasks(Key),
    #[error("{}", postgres_words(.0))]
    Postgres(#[from] tokio_postgres::Error),
}

/// A single-user app's tasks table (SQLModel's default name, `task`) beside ours on a database
/// that was already this backend's when it was found: a `migrate` from before the take-over
/// created ours next to it, so its rows are in no one's list. The take-over never runs twice, so
/// this is the operator's to move (docs/database.md, "A task table left beside ours").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stranded {
    pub table: String,
    /// Its rows, when this role may count them.
    pub rows: Option<i64>,
}

impl fmt::Display for Stranded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows = self
            .rows
            .map(|n| format!(" ({n} rows)"))
            .unwrap_or_default();
        write!(
            f,
            "table \"{}\"{rows} is beside ours and was not taken over (a migrate from before the \
             take-over ran first): its tasks are in no one's list. docs/database.md, \"A task \
             table left beside ours\", says how to move them in",
            self.table
        )
    }
}

/// The old table left beside ours, if there is one (see [`Stranded`]).
pub async fn stranded(client: &Client) -> Result<Option<Stranded>, Error> {
    let found = client
        .query_opt(
            "SELECT relname::text AS name FROM pg_class \
             WHERE relnamespace = to_regnamespace(current_schema()) AND relname = 'task' \
             AND relkind IN ('r', 'p')",
            &[],
        )
        .await?;
    let Some(found) = found else {
        return Ok(None);
    };
    // Counting needs the right to read it, which the old app's role may have kept to itself.
    let rows = client
        .query_one("SELECT count(*) AS rows FROM task", &[])
        .await
        .ok()
        .map(|row| row.get("rows"));
    Ok(Some(Stranded {
        table: found.get("name"),
        rows,
    }))
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

/// What shows that an account is the owner of the tasks it adopts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// The account's address is verified (its owner used a link mailed to it).
    Verified,
    /// The operator knows the account is the owner's, verified or not (`--unverified`).
    Vouched,
}

/// Gives the rows awaiting an owner under `key` to the account with `email`, in one
/// transaction, and says how many moved. Running it again moves nothing (they have an owner).
pub async fn adopt(
    client: &mut Client,
    key: &Key,
    email: &Email,
    proof: Proof,
) -> Result<u64, Error> {
    let tx = client.transaction().await?;
    let accounts = tx
        .query(
            "SELECT id, email_verified FROM users WHERE lower(email) = lower($1)",
            &[&email.as_str()],
        )
        .await?;
    let account: Uuid = match accounts.as_slice() {
        [] => return Err(Error::NoAccount(email.as_str().to_owned())),
        [one] if proof == Proof::Verified && !one.get::<_, bool>("email_verified") => {
            return Err(Error::Unverified(email.as_str().to_owned()));
        }
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

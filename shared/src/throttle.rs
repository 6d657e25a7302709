//! Brute-force defence, with its state in PostgreSQL: failed signins are counted per account,
//! per account and address, and per address; signups per address. Past a free allowance each
//! further hit blocks its key for a doubling delay up to a cap, and a quiet hour forgets them.
//!
//! An attacker cannot lock a victim out for long: the account-wide key, the only one the
//! victim shares with an attacker elsewhere, allows the most failures and blocks the shortest.
//!
//! The keys in `throttles.key` (the V2 migration's comment names older ones; an applied
//! migration is never edited, so they are documented here):
//! - `signin-account:<email>`: failed signins of one account, from anywhere;
//! - `signin-account-address:<email>|<address>`: of one account from one address;
//! - `signin-address:<address>`: of any account from one address;
//! - `signup-address:<address>`: signups from one address.

use std::net::IpAddr;

use tokio_postgres::types::Type;

use crate::db::{Db, Statement};
use crate::error::{Error, Result};
use crate::users::Email;

/// How one kind of key is throttled.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Hits allowed before any delay.
    pub free: i32,
    /// The longest a key is blocked for, in seconds.
    pub max_delay_seconds: f64,
    /// A key with no hit for this long starts counting afresh.
    pub forget_after_seconds: f64,
}

const QUIET_HOUR: f64 = 3600.0;
/// Guessing one account from one address: slowed hard.
const SIGNIN_ACCOUNT_FROM_ADDRESS: Policy = Policy {
    free: 5,
    max_delay_seconds: 900.0,
    forget_after_seconds: QUIET_HOUR,
};
/// Guessing one account from many addresses: slowed, but never for long.
const SIGNIN_ACCOUNT: Policy = Policy {
    free: 10,
    max_delay_seconds: 30.0,
    forget_after_seconds: QUIET_HOUR,
};
/// One address trying many accounts (password spraying).
const SIGNIN_ADDRESS: Policy = Policy {
    free: 30,
    max_delay_seconds: 900.0,
    forget_after_seconds: QUIET_HOUR,
};
/// Account creation from one address: `free` comes from the configuration.
const SIGNUP_ADDRESS: Policy = Policy {
    free: 10,
    max_delay_seconds: 3600.0,
    forget_after_seconds: QUIET_HOUR,
};

/// One counter: its key in `throttles` and its policy.
#[derive(Debug, Clone)]
pub struct Key {
    name: String,
    policy: Policy,
}

/// The account-wide key: the one a successful signin clears.
fn account_key(email: &Email) -> String {
    format!("signin-account:{}", email.as_str())
}

/// The keys a failed signin counts against.
pub fn signin_keys(email: &Email, address: Option<IpAddr>) -> Vec<Key> {
    let mut keys = vec![Key {
        name: account_key(email),
        policy: SIGNIN_ACCOUNT,
    }];
    if let Some(address) = address {
        keys.push(Key {
            name: format!("signin-account-address:{}|{address}", email.as_str()),
            policy: SIGNIN_ACCOUNT_FROM_ADDRESS,
        });
        keys.push(Key {
            name: format!("signin-address:{address}"),
            policy: SIGNIN_ADDRESS,
        });
    }
    keys
}

/// The keys a signup counts against: none when the address is unknown.
pub fn signup_keys(address: Option<IpAddr>, per_address: i32) -> Vec<Key> {
    address
        .map(|address| Key {
            name: format!("signup-address:{address}"),
            policy: Policy {
                free: per_address,
                ..SIGNUP_ADDRESS
            },
        })
        .into_iter()
        .collect()
}

const BLOCKED_FOR: &str =
    "SELECT ceil(extract(epoch FROM max(blocked_until) - now()))::int8 AS seconds
    FROM throttles WHERE key = ANY($1) AND blocked_until > now()";

/// `$1` key, `$2` free hits, `$3` longest delay, `$4` quiet period (seconds). The new count
/// is spelled twice because `SET` cannot read its own result. A few stale rows of other keys
/// are pruned on the way, so the table stays the size of recent abuse: only rows no one else
/// holds (`SKIP LOCKED`: two prunes never wait on each other, so never deadlock), and only if
/// still stale when deleted (the staleness test is repeated where the row is locked, so a
/// row another transaction just hit keeps its count).
const HIT: &str = "WITH pruned AS (
        DELETE FROM throttles t WHERE t.key IN (
            SELECT key FROM throttles
            WHERE key <> $1 AND last_hit_at < now() - make_interval(secs => $4)
            AND (blocked_until IS NULL OR blocked_until < now())
            LIMIT 20
            FOR UPDATE SKIP LOCKED)
        AND t.last_hit_at < now() - make_interval(secs => $4)
        AND (t.blocked_until IS NULL OR t.blocked_until < now())
    )
    INSERT INTO throttles AS t (key, hits, last_hit_at, blocked_until)
    VALUES ($1, 1, now(), CASE WHEN 1 > $2 THEN now() + make_interval(secs => least(1, $3)) END)
    ON CONFLICT (key) DO UPDATE SET
        hits = CASE WHEN t.last_hit_at < now() - make_interval(secs => $4) THEN 1
                    ELSE t.hits + 1 END,
        last_hit_at = now(),
        blocked_until = CASE
            WHEN (CASE WHEN t.last_hit_at < now() - make_interval(secs => $4) THEN 1
                       ELSE t.hits + 1 END) > $2
            -- The exponent is capped too: 2^1024 would overflow a double.
            THEN now() + make_interval(secs => least($3, power(2, least(30, (CASE
                WHEN t.last_hit_at < now() - make_interval(secs => $4) THEN 1
                ELSE t.hits + 1 END) - $2 - 1))))
        END";

/// Refuses with 429 while any of the keys is blocked, saying for how long. A refused attempt
/// is not counted, so waiting out the block always works.
pub async fn check(db: &Db, keys: &[Key]) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
    let row = db
        .query_opt(&Statement::new(BLOCKED_FOR).arg(names, Type::TEXT_ARRAY))
        .await?;
    match row
        .map(|row| row.try_get::<_, Option<i64>>("seconds"))
        .transpose()?
    {
        Some(Some(seconds)) => {
            tracing::info!(retry_after = seconds, "throttled");
            Err(Error::RateLimited {
                retry_after: seconds.max(1) as u64,
            })
        }
        _ => Ok(()),
    }
}

/// Counts one attempt against every key. The statements are pipelined: one round trip.
pub async fn hit(db: &Db, keys: &[Key]) -> Result<()> {
    let statements: Vec<Statement<'_>> = keys
        .iter()
        .map(|key| {
            Statement::new(HIT)
                .arg(key.name.as_str(), Type::TEXT)
                .arg(key.policy.free, Type::INT4)
                .arg(key.policy.max_delay_seconds, Type::FLOAT8)
                .arg(key.policy.forget_after_seconds, Type::FLOAT8)
        })
        .collect();
    for result in db.pipeline(&statements).await {
        result?;
    }
    Ok(())
}

/// Forgets the account's failures after a successful signin; address keys stay.
pub async fn clear_account(db: &Db, email: &Email) -> Result<()> {
    db.query(
        &Statement::new("DELETE FROM throttles WHERE key = ").bind(account_key(email), Type::TEXT),
    )
    .await?;
    Ok(())
}

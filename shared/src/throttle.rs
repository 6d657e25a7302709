//! Brute-force defence, with its state in PostgreSQL: signin attempts are counted per account,
//! per account and address, and per address; signups per address. Each attempt is counted
//! before it is tried, atomically with the check (one statement locks the keys, refuses while
//! any is blocked, else counts), so requests in flight together cannot all pass a check that
//! none has counted yet. The attempt that uses up a key's allowance blocks it for a delay that
//! doubles with each attempt after, up to a cap; a quiet hour forgets a key. A successful
//! signin clears the account's count and takes its own attempt back from the address keys, so
//! people who sign in correctly never use up their address's allowance (an office behind one
//! NAT).
//!
//! An attacker cannot lock a victim out for long: the account-wide key, the only one the
//! victim shares with an attacker elsewhere, allows the most failures and blocks the shortest.
//!
//! Keys are stored as `<kind>:<HMAC-SHA256 of the name>` (key derived from `JWT_SECRET`), so
//! the emails and addresses attackers type are not kept in clear, and cannot be confirmed from
//! the table with a list of candidates. During a rotation (`JWT_PREVIOUS_SECRET` set) each name
//! is stored under both secrets' hashes, each counted and each able to block: the counts made
//! before the switch still hold, and by the time the previous secret is removed (a day later at
//! the least) the current secret's rows carry every count that still matters. The names, before
//! hashing:
//! - `signin-account:<email>`: signin attempts on one account, from anywhere;
//! - `signin-account-address:<email>|<address>`: on one account from one address;
//! - `signin-address:<address>`: on any account from one address;
//! - `signin-device:<device token's hash>`: on one account from one of its devices, which the
//!   account-wide key and the address's then do not apply to (an attacker who knows only the
//!   email cannot keep the owner out by failing from ever new addresses, nor one who shares the
//!   owner's address by failing on other accounts from it);
//! - `confirm-session:<session id>`: a signed-in caller confirming their password (to change it,
//!   to delete the account), counted against their own session only: failures made by others,
//!   from anywhere, never refuse it;
//! - `signup-address:<address>`: signups from one address;
//! - `reset-address:<address>`: password-reset requests from one address, which past their
//!   allowance are answered as any other and mail nothing (see [`crate::handlers::forgot`]).
//!
//! A request whose source address is unknown (an event without `sourceIp`: another payload
//! version, a proxy in front) is counted under the one address `unknown`, shared by all such
//! requests: limited together, rather than not at all.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use const_format::concatcp;
use hmac::{Hmac, Mac};
use secrecy::SecretString;
use sha2::Sha256;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::auth::derived_hmac;
use crate::db::{Db, Statement};
use crate::error::{Error, Result};
use crate::links::Purpose;
use crate::users::Email;

/// How one kind of key is throttled.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Attempts allowed before any delay: the last of them blocks the key for a second.
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
/// Guessing one account from a device that signed in to it before: as from one address.
const SIGNIN_DEVICE: Policy = SIGNIN_ACCOUNT_FROM_ADDRESS;
/// Guessing the password of the account one is signed in to: as from one address.
const CONFIRM_SESSION: Policy = SIGNIN_ACCOUNT_FROM_ADDRESS;
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

/// Password-reset requests from one address: `free` comes from the configuration. Blocked, they
/// mail nothing, so one client cannot send reset mail to every account it can name.
const RESET_ADDRESS: Policy = Policy {
    free: 20,
    max_delay_seconds: 3600.0,
    forget_after_seconds: QUIET_HOUR,
};

/// One counter: its key in `throttles`, its policy, and whether a success clears it (the key
/// the success is about) rather than only taking its own attempt back.
#[derive(Debug, Clone)]
pub struct Key {
    /// What it counts (`signin-account`, ...): kept in clear in `stored`, named in the logs.
    kind: &'static str,
    stored: String,
    policy: Policy,
    cleared_by_success: bool,
}

/// Names keys and stores them hashed; one per function, built at cold start.
pub struct Throttle {
    /// One per secret in force, the current one first.
    hashers: Vec<Hmac<Sha256>>,
    signups_per_address: i32,
    reset_requests_per_address: i32,
}

impl Throttle {
    /// From the secrets in force, the current one first.
    pub fn new<'a>(
        secrets: impl IntoIterator<Item = &'a SecretString>,
        signups_per_address: i32,
        reset_requests_per_address: i32,
    ) -> Self {
        Self {
            hashers: secrets
                .into_iter()
                .map(|secret| derived_hmac(secret, b"todo-auth-lambda throttle key names v1"))
                .collect(),
            signups_per_address,
            reset_requests_per_address,
        }
    }

    /// How a key's name is stored under the current secret: its kind in clear (for
    /// operators), the rest hashed.
    pub fn stored(&self, name: &str) -> String {
        let (kind, rest) = name.split_once(':').unwrap_or(("", name));
        self.stored_all(kind, rest).swap_remove(0)
    }

    /// How a key of `kind` named `rest` is stored under each secret in force.
    fn stored_all(&self, kind: &str, rest: &str) -> Vec<String> {
        self.hashers
            .iter()
            .map(|hasher| {
                let mut mac = hasher.clone();
                mac.update(rest.as_bytes());
                format!("{kind}:{}", B64.encode(mac.finalize().into_bytes()))
            })
            .collect()
    }

    fn key(&self, kind: &'static str, name: &str, policy: Policy) -> Vec<Key> {
        self.stored_all(kind, name)
            .into_iter()
            .map(|stored| Key {
                kind,
                stored,
                policy,
                cleared_by_success: false,
            })
            .collect()
    }

    /// The key a success clears: its own count starts again.
    fn cleared_key(&self, kind: &'static str, name: &str, policy: Policy) -> Vec<Key> {
        let mut keys = self.key(kind, name, policy);
        keys.iter_mut().for_each(|k| k.cleared_by_success = true);
        keys
    }

    /// The keys a signin attempt counts against; a success clears the account-wide one.
    pub fn signin_keys(&self, email: &Email, address: Option<IpAddr>) -> Vec<Key> {
        let (email, address) = (email.as_str(), Address(address));
        [
            self.cleared_key("signin-account", email, SIGNIN_ACCOUNT),
            self.key(
                "signin-account-address",
                &format!("{email}|{address}"),
                SIGNIN_ACCOUNT_FROM_ADDRESS,
            ),
            self.key("signin-address", &address.to_string(), SIGNIN_ADDRESS),
        ]
        .concat()
    }

    /// The key a signin from one of the account's devices counts against (see
    /// [`crate::auth::DeviceToken`]): that device's own, in place of the account's and the
    /// address's. Whether the device is the account's is known only after the lookup: if it is
    /// not, the account's keys are counted too ([`Throttle::signin_keys`]).
    pub fn device_keys(&self, device_hash: &[u8]) -> Vec<Key> {
        let device = B64.encode(device_hash);
        self.cleared_key("signin-device", &device, SIGNIN_DEVICE)
    }

    /// The key a signed-in caller's password confirmation counts against: their session's.
    pub fn confirm_keys(&self, session: Uuid) -> Vec<Key> {
        self.cleared_key("confirm-session", &session.to_string(), CONFIRM_SESSION)
    }

    /// The stored names of an account's signin count, which a password reset deletes with the
    /// password it replaces (see [`crate::links::spend_reset`]): the owner proved they read the
    /// account's mail, so failures others made on it no longer hold them back.
    pub fn account_key_names(&self, email: &Email) -> Vec<String> {
        self.stored_all("signin-account", email.as_str())
    }

    /// What the logs call an email no account has: its keyed hash (see [`crate::events`]).
    pub fn pseudonym(&self, email: &Email) -> String {
        self.stored(&format!("email:{}", email.as_str()))
    }

    /// The mail-quota keys of an address for one purpose of link (see [`crate::links`]),
    /// stored as throttle keys are: the address hashed, under each secret in force, so that a
    /// rotation does not give an address a fresh allowance.
    pub fn mail_keys(&self, purpose: Purpose, address: &str) -> Vec<String> {
        self.stored_all(&format!("mail-{}-address", purpose.as_str()), address)
    }

    /// The key a signup counts against.
    pub fn signup_keys(&self, address: Option<IpAddr>) -> Vec<Key> {
        let policy = Policy {
            free: self.signups_per_address,
            ..SIGNUP_ADDRESS
        };
        self.key("signup-address", &Address(address).to_string(), policy)
    }

    /// The key a password-reset request counts against.
    pub fn reset_request_keys(&self, address: Option<IpAddr>) -> Vec<Key> {
        let policy = Policy {
            free: self.reset_requests_per_address,
            ..RESET_ADDRESS
        };
        self.key("reset-address", &Address(address).to_string(), policy)
    }
}

/// A source address as keys name it; every request without one shares `unknown`.
struct Address(Option<IpAddr>);

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(address) => write!(f, "{address}"),
            None => f.write_str("unknown"),
        }
    }
}

/// One attempt against every key in `$1` (with their allowances `$2`, longest delays `$3` and
/// quiet periods `$4`, in seconds): the keys' rows are locked (in key order, so concurrent
/// attempts never deadlock), and unless one of them is blocked each is counted, a count past
/// its quiet period starting again at 1. The attempt that reaches a key's allowance blocks it
/// for 1 s, each one after for twice as long, up to the cap. A blocked attempt counts nothing,
/// so waiting out the block always works. Two first attempts on a new key both insert; the
/// second waits for the first and counts on top of it (and is refused if the first blocked).
///
/// A few stale rows of other keys are pruned on the way, so the table stays the size of recent
/// abuse: only rows no one else holds (`SKIP LOCKED`: two prunes never wait on each other, so
/// never deadlock), and only if still stale when deleted (the test is repeated where the row is
/// locked, so a row another transaction just counted keeps its count).
const ATTEMPT: &str = concatcp!(
    "WITH policy AS (
        SELECT * FROM unnest($1::text[], $2::int4[], $3::float8[], $4::float8[])
            AS p(key, free, max_delay, quiet)
    ),
    locked AS (
        SELECT t.key, t.blocked_until FROM throttles t WHERE t.key = ANY($1)
        ORDER BY t.key FOR UPDATE
    ),
    blocked AS (
        SELECT max(blocked_until) AS until, array_agg(key) AS keys
        FROM locked WHERE blocked_until > now()
    ),
    pruned AS (
        DELETE FROM throttles t WHERE t.key IN (
            SELECT key FROM throttles
            WHERE key <> ALL($1) AND last_hit_at < now() - make_interval(secs => $5)
            AND (blocked_until IS NULL OR blocked_until < now())
            LIMIT 20
            FOR UPDATE SKIP LOCKED)
        AND t.last_hit_at < now() - make_interval(secs => $5)
        AND (t.blocked_until IS NULL OR t.blocked_until < now())
    ),
    counted AS (
        INSERT INTO throttles AS t (key, hits, last_hit_at, blocked_until)
        SELECT p.key, 1, now(),
               CASE WHEN 1 >= p.free THEN now() + make_interval(secs => least(1, p.max_delay)) END
        FROM policy p WHERE (SELECT until FROM blocked) IS NULL
        ON CONFLICT (key) DO UPDATE SET
            hits = ",
    NEW_HITS,
    ",
            last_hit_at = now(),
            blocked_until = CASE WHEN ",
    NEW_HITS,
    " >= ",
    FREE,
    // The exponent is capped too: 2^1024 would overflow a double.
    " THEN now() + make_interval(secs => least(",
    MAX_DELAY,
    ", power(2, least(30, ",
    NEW_HITS,
    " - ",
    FREE,
    ")))) END
        WHERE t.blocked_until IS NULL OR t.blocked_until <= now()
        RETURNING t.key
    )
    SELECT ARRAY(SELECT key FROM counted) AS counted,
           (SELECT keys FROM blocked) AS blocked,
           ceil(extract(epoch FROM (SELECT until FROM blocked) - now()))::int8 AS retry_after"
);

/// In `ATTEMPT`'s update of row `t`: its count with this attempt (after a quiet period, 1),
/// and its policy. (`ON CONFLICT DO UPDATE` takes no `FROM`: these are scalar subqueries.)
const NEW_HITS: &str = "(SELECT CASE WHEN t.last_hit_at < now() - make_interval(secs => p.quiet) \
     THEN 1 ELSE t.hits + 1 END FROM policy p WHERE p.key = t.key)";
const FREE: &str = "(SELECT p.free FROM policy p WHERE p.key = t.key)";
const MAX_DELAY: &str = "(SELECT p.max_delay FROM policy p WHERE p.key = t.key)";

/// Counts an attempt against every key, or refuses it with 429 (saying for how long) while any
/// of them is blocked. One statement: nothing can slip between the check and the count.
pub async fn attempt(db: &Db, keys: &[Key]) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let statement = Statement::new(ATTEMPT)
        .arg(
            keys.iter().map(|k| k.stored.as_str()).collect::<Vec<_>>(),
            Type::TEXT_ARRAY,
        )
        .arg(
            keys.iter().map(|k| k.policy.free).collect::<Vec<_>>(),
            Type::INT4_ARRAY,
        )
        .arg(
            keys.iter()
                .map(|k| k.policy.max_delay_seconds)
                .collect::<Vec<_>>(),
            Type::FLOAT8_ARRAY,
        )
        .arg(
            keys.iter()
                .map(|k| k.policy.forget_after_seconds)
                .collect::<Vec<_>>(),
            Type::FLOAT8_ARRAY,
        )
        // Every kind of key is forgotten after the same quiet hour: what the prune looks for.
        .arg(QUIET_HOUR, Type::FLOAT8);
    let row = db
        .query_opt(&statement)
        .await?
        .ok_or_else(|| Error::Internal("SELECT gave no row".into()))?;
    let counted: Vec<String> = row.try_get("counted")?;
    if counted.len() == keys.len() {
        return Ok(());
    }
    // Blocked when this statement began, or (a race on a new key) by the attempt it waited for:
    // then the keys it did not count are the blocked ones.
    let blocked: Vec<String> = row.try_get::<_, Option<_>>("blocked")?.unwrap_or_default();
    let mut by: Vec<&'static str> = keys
        .iter()
        .filter(|k| match blocked.is_empty() {
            true => !counted.contains(&k.stored),
            false => blocked.contains(&k.stored),
        })
        .map(|k| k.kind)
        .collect();
    by.dedup();
    let retry_after: Option<i64> = row.try_get("retry_after")?;
    Err(Error::RateLimited {
        retry_after: retry_after.unwrap_or(1).max(1) as u64,
        by,
    })
}

/// After a successful signin with `keys`: the count of the keys it clears (`$1`: the account's)
/// is forgotten, and the attempt is taken back from the others, lifting a block only it had set.
const SUCCEEDED: &str = "WITH account AS (
        DELETE FROM throttles WHERE key = ANY($1)
    ),
    policy AS (
        SELECT * FROM unnest($2::text[], $3::int4[]) AS p(key, free)
    ),
    spent AS (
        DELETE FROM throttles t USING policy p WHERE t.key = p.key AND t.hits <= 1
    )
    UPDATE throttles t SET
        hits = t.hits - 1,
        blocked_until = CASE WHEN t.hits - 1 >= p.free THEN t.blocked_until END
    FROM policy p WHERE t.key = p.key AND t.hits > 1";

/// Records a successful signin (or confirmation) counted against `keys`.
pub async fn succeeded(db: &Db, keys: &[Key]) -> Result<()> {
    let (cleared, others): (Vec<&Key>, Vec<&Key>) = keys.iter().partition(|k| k.cleared_by_success);
    let statement = Statement::new(SUCCEEDED)
        .arg(
            cleared
                .iter()
                .map(|k| k.stored.as_str())
                .collect::<Vec<_>>(),
            Type::TEXT_ARRAY,
        )
        .arg(
            others.iter().map(|k| k.stored.as_str()).collect::<Vec<_>>(),
            Type::TEXT_ARRAY,
        )
        .arg(
            others.iter().map(|k| k.policy.free).collect::<Vec<_>>(),
            Type::INT4_ARRAY,
        );
    db.query(&statement).await?;
    Ok(())
}

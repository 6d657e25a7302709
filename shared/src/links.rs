//! Links sent by email, and the statements that issue and spend them. A link carries a token
//! (256 random bits, base64url: a refresh token's shape); only its SHA-256 is stored, with the
//! address it went to, which using it proves. Each is single use and short-lived; a newer reset
//! or address-change link replaces older ones.
//!
//! Mail is limited per recipient in PostgreSQL (`mail_quotas`), so limits hold across cold
//! starts and functions: at most one mail a minute and [`MAIL_PER_HOUR`] an hour to one address,
//! and as many to one account. A request over the limit is answered as any other and sends
//! nothing: the statement that would issue the link issues none.

use const_format::concatcp;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::auth::{Caller, RefreshToken};
use crate::db::{Db, Statement};
use crate::error::{Error, Result};
use crate::sessions;
use crate::users::{DisplayName, Email, USER_COLUMNS, User};
use crate::validation::FieldErrors;

/// A link's token: a refresh token's shape and storage.
pub type LinkToken = RefreshToken;

/// Mails one recipient may get in an hour (one a minute at most).
pub const MAIL_PER_HOUR: i32 = 5;

/// What a link does once used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Sets a new password (to the account's address).
    Reset,
    /// Proves the account's address.
    Verify,
    /// Moves the account to the address it was sent to.
    Change,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Reset => "reset",
            Purpose::Verify => "verify",
            Purpose::Change => "change",
        }
    }
}

/// A link's token as a request presents it; anything not shaped like one of ours is refused
/// before it reaches the database, as an unknown one is.
pub fn presented(token: &str) -> Result<LinkToken> {
    RefreshToken::presented(token).map_err(|_| unusable())
}

/// A wrong, used, expired or replaced link: which one is for the logs, not for the page.
fn unusable() -> Error {
    Error::Validation(FieldErrors::single(
        "token",
        "is not valid (a wrong link, or one used, expired or replaced by a newer one): ask for a new link",
    ))
}

/// A well-formed link the database found no usable row for (`link`: which kind), logged.
fn refused(link: &'static str) -> Error {
    tracing::info!(
        reason = "unknown, used, expired or replaced",
        "{link} link refused"
    );
    unusable()
}

/// The reset link `t` (of account `u`) can still be used: unused, unexpired, sent to the
/// account's current address, and the account has a password. Checked where the new password's
/// rules are read and again, under the row's lock, where it is spent.
const USABLE_RESET: &str = "t.purpose = 'reset' AND t.used_at IS NULL AND t.expires_at > now() \
    AND u.email = t.email AND u.password_hash IS NOT NULL";

/// After `quota_keys AS (...`, the keys a mail is charged to (the address's, HMACs, and the
/// account's, `mail-<purpose>-account:<id>`: ids are no secret): `quota`, one more mail charged to each key that allows it. The link is issued only when every
/// key did ([`ALLOWED`]). A key that refused keeps its count and those that allowed are charged
/// all the same: over the limit, less mail goes out, never more. The same statement prunes a
/// few quotas idle for an hour and a few expired links.
const QUOTA: &str = concatcp!(
    "), quota AS (
        INSERT INTO mail_quotas AS q (key, hour_started, sent_in_hour, last_sent_at)
        SELECT k, now(), 1, now() FROM quota_keys
        ON CONFLICT (key) DO UPDATE SET
            hour_started = CASE WHEN q.hour_started <= now() - interval '1 hour'
                THEN now() ELSE q.hour_started END,
            sent_in_hour = CASE WHEN q.hour_started <= now() - interval '1 hour'
                THEN 1 ELSE q.sent_in_hour + 1 END,
            last_sent_at = now()
        WHERE q.last_sent_at <= now() - interval '1 minute'
            AND (q.hour_started <= now() - interval '1 hour' OR q.sent_in_hour < ",
    MAIL_PER_HOUR,
    ")
        RETURNING q.key
    ), quiet AS (
        DELETE FROM mail_quotas WHERE key IN (
            SELECT key FROM mail_quotas WHERE last_sent_at < now() - interval '1 hour'
            ORDER BY last_sent_at LIMIT 20 FOR UPDATE SKIP LOCKED)
        AND last_sent_at < now() - interval '1 hour'
    ), lapsed AS (
        DELETE FROM email_tokens WHERE token_hash IN (
            SELECT token_hash FROM email_tokens WHERE expires_at < now()
            ORDER BY expires_at LIMIT 20 FOR UPDATE SKIP LOCKED)
    )"
);

/// Every key of the quota allowed this mail.
const ALLOWED: &str = "(SELECT count(*) FROM quota) = (SELECT count(*) FROM quota_keys)";

/// After `account AS (...)` (the recipient: `id`, `email`): the quota, then `issued`, the link
/// when allowed, replacing the account's earlier unused links of the same purpose. The caller
/// adds the statement's `SELECT`.
fn issue<'a>(
    account: Statement<'a>,
    address_keys: Vec<String>,
    token: &'a LinkToken,
    purpose: Purpose,
    ttl_seconds: u64,
) -> Statement<'a> {
    account
        .push(", quota_keys AS (SELECT k FROM unnest(")
        .bind(address_keys, Type::TEXT_ARRAY)
        .push("::text[]) k WHERE EXISTS (SELECT FROM account) UNION ALL SELECT 'mail-' || ")
        .bind(purpose.as_str(), Type::TEXT)
        .push(" || '-account:' || id FROM account")
        .push(QUOTA)
        .push(
            ", issued AS (INSERT INTO email_tokens (token_hash, user_id, purpose, email, expires_at) \
             SELECT ",
        )
        .bind(token.hash(), Type::BYTEA)
        .push(", id, ")
        .bind(purpose.as_str(), Type::TEXT)
        .push(", email, now() + make_interval(secs => ")
        .bind(ttl_seconds as f64, Type::FLOAT8)
        .push(concatcp!(
            ") FROM account WHERE ",
            ALLOWED,
            " RETURNING user_id, email, purpose
            ), replaced AS (
                DELETE FROM email_tokens t USING issued i
                WHERE t.user_id = i.user_id AND t.purpose = i.purpose AND t.used_at IS NULL
            )"
        ))
}

/// The `SELECT` of a statement that issues a link: whom it went to, if it was issued.
const RECIPIENT: &str = " SELECT user_id, email FROM issued";

/// Who a link went to: the account and the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub user: Uuid,
    pub email: String,
}

async fn issued(db: &Db, statement: &Statement<'_>) -> Result<Option<Recipient>> {
    let row = db.query_opt(statement).await?;
    row.map(|row| {
        Ok(Recipient {
            user: row.try_get("user_id")?,
            email: row.try_get("email")?,
        })
    })
    .transpose()
}

/// A reset link for the password account with this address, if there is one and the limits
/// allow it: one statement whatever the answer, so the time taken says nothing of which.
pub async fn issue_reset(
    db: &Db,
    email: &Email,
    address_keys: Vec<String>,
    token: &LinkToken,
    ttl_seconds: u64,
) -> Result<Option<Recipient>> {
    let account =
        Statement::new("WITH account AS (SELECT id, email FROM users WHERE lower(email) = lower(")
            .bind(email.as_str(), Type::TEXT)
            .push(") AND password_hash IS NOT NULL)");
    let statement =
        issue(account, address_keys, token, Purpose::Reset, ttl_seconds).push(RECIPIENT);
    issued(db, &statement).await
}

/// A verification link for the caller's own address, unless it is verified already.
pub async fn issue_verification(
    db: &Db,
    caller: Caller,
    address_keys: Vec<String>,
    token: &LinkToken,
    ttl_seconds: u64,
) -> Result<Option<Recipient>> {
    let account = sessions::with_me(caller).push(
        ", account AS (SELECT u.id, u.email FROM me JOIN users u ON u.id = me.user_id \
         WHERE NOT u.email_verified AND u.email IS NOT NULL)",
    );
    let statement =
        issue(account, address_keys, token, Purpose::Verify, ttl_seconds).push(RECIPIENT);
    issued(db, &statement).await
}

/// The verification link a new account's address gets (see [`create_account`]).
pub struct SignupLink<'a> {
    pub token: &'a LinkToken,
    /// The address's mail-quota keys.
    pub address_keys: Vec<String>,
    pub ttl_seconds: u64,
}

/// Creates an account and its verification link, in one statement; an address already taken,
/// in any case, is [`Error::EmailTaken`]. Answers the account, and whether the link was issued
/// (the address's mail quota may be spent).
pub async fn create_account(
    db: &Db,
    email: &Email,
    name: &DisplayName,
    password_hash: &str,
    link: SignupLink<'_>,
) -> Result<(User, bool)> {
    let account =
        Statement::new("WITH created AS (INSERT INTO users (email, name, password_hash) VALUES (")
            .bind(email.as_str(), Type::TEXT)
            .push(", ")
            .bind(name.as_deref(), Type::TEXT)
            .push(", ")
            .bind(password_hash, Type::TEXT)
            .push(") RETURNING ")
            .push(USER_COLUMNS)
            .push("), account AS (SELECT id, email FROM created)");
    let statement = issue(
        account,
        link.address_keys,
        link.token,
        Purpose::Verify,
        link.ttl_seconds,
    )
    .push(" SELECT created.*, EXISTS (SELECT FROM issued) AS link_issued FROM created");
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
    Ok((User::from_row(&row)?, row.try_get("link_issued")?))
}

/// A link to `new_email` that moves the caller's account there, when used.
pub async fn issue_change(
    db: &Db,
    caller: Caller,
    new_email: &Email,
    address_keys: Vec<String>,
    token: &LinkToken,
    ttl_seconds: u64,
) -> Result<Option<Recipient>> {
    let account = sessions::with_me(caller)
        .push(", account AS (SELECT me.user_id AS id, ")
        .bind(new_email.as_str(), Type::TEXT)
        .push("::text AS email FROM me)");
    let statement =
        issue(account, address_keys, token, Purpose::Change, ttl_seconds).push(RECIPIENT);
    issued(db, &statement).await
}

/// The email and name of the account a reset link would set a password for, while the link is
/// usable: the new password's rules need them (it must not be built from them). Spending it
/// checks all of this again, in the statement that sets the password.
pub async fn reset_account(db: &Db, token: &LinkToken) -> Result<(String, Option<String>)> {
    let statement = Statement::new(concatcp!(
        "SELECT u.email, u.name FROM email_tokens t JOIN users u ON u.id = t.user_id WHERE ",
        USABLE_RESET,
        " AND t.token_hash = "
    ))
    .bind(token.hash(), Type::BYTEA);
    let row = db
        .query_opt(&statement)
        .await?
        .ok_or_else(|| refused("reset"))?;
    Ok((row.try_get("email")?, row.try_get("name")?))
}

/// Spends a reset link: the new password hash, the address verified (the link came to it),
/// every session ended, every device token forgotten, the other reset links void, and the
/// account's signin count forgotten (`throttle_keys`: its stored key names, from `email`, the
/// address [`reset_account`] read); all in one statement, or nothing if the link is wrong, used,
/// expired or replaced, or the account's address changed since it was read. Answers whose
/// password it was.
pub async fn spend_reset(
    db: &Db,
    token: &LinkToken,
    new_hash: &str,
    email: &str,
    throttle_keys: Vec<String>,
) -> Result<Recipient> {
    const RESET: &str = concatcp!(
        "WITH link AS (
            SELECT t.token_hash, t.user_id FROM email_tokens t JOIN users u ON u.id = t.user_id
            WHERE t.token_hash = $1 AND u.email = $3 AND ",
        USABLE_RESET,
        "
            FOR UPDATE OF t
        ), spent AS (
            UPDATE email_tokens t SET used_at = now() FROM link WHERE t.token_hash = link.token_hash
        ), others AS (
            DELETE FROM email_tokens t USING link
            WHERE t.user_id = link.user_id AND t.purpose = 'reset' AND t.token_hash <> link.token_hash
        ), changed AS (
            UPDATE users u SET password_hash = $2, email_verified = true, updated_at = now()
            FROM link WHERE u.id = link.user_id RETURNING u.id, u.email
        ), ended AS (
            UPDATE sessions s SET ended_at = now() FROM changed
            WHERE s.user_id = changed.id AND s.ended_at IS NULL
        ), forgotten AS (
            DELETE FROM devices d USING changed WHERE d.user_id = changed.id
        ), unthrottled AS (
            DELETE FROM throttles WHERE key = ANY($4) AND EXISTS (SELECT FROM changed)
        )
        SELECT id AS user_id, email FROM changed"
    );
    let statement = Statement::new(RESET)
        .arg(token.hash(), Type::BYTEA)
        .arg(new_hash, Type::TEXT)
        .arg(email, Type::TEXT)
        .arg(throttle_keys, Type::TEXT_ARRAY);
    let row = db
        .query_opt(&statement)
        .await?
        .ok_or_else(|| refused("reset"))?;
    Ok(Recipient {
        user: row.try_get("user_id")?,
        email: row.try_get("email")?,
    })
}

/// Spends a verification or address-change link: the address it went to becomes the account's
/// and counts as verified. A change whose address another account took meanwhile is refused
/// with 409 and the link stays usable (if that account goes, it works again); a change also
/// voids the account's other unused links, which went to the old address.
pub async fn spend_verification(db: &Db, token: &LinkToken) -> Result<()> {
    const VERIFY: &str = "WITH link AS (
            SELECT t.token_hash, t.user_id, t.purpose, t.email
            FROM email_tokens t JOIN users u ON u.id = t.user_id
            WHERE t.token_hash = $1 AND t.purpose IN ('verify', 'change') AND t.used_at IS NULL
              AND t.expires_at > now() AND (t.purpose = 'change' OR u.email = t.email)
            FOR UPDATE OF t
        ), taken AS (
            SELECT FROM users o JOIN link ON o.email = link.email AND o.id <> link.user_id
        ), spent AS (
            UPDATE email_tokens t SET used_at = now() FROM link
            WHERE t.token_hash = link.token_hash AND NOT EXISTS (SELECT FROM taken)
        ), moved AS (
            UPDATE users u SET email = link.email, email_verified = true, updated_at = now()
            FROM link WHERE u.id = link.user_id AND NOT EXISTS (SELECT FROM taken)
        ), voided AS (
            DELETE FROM email_tokens t USING link
            WHERE link.purpose = 'change' AND NOT EXISTS (SELECT FROM taken)
              AND t.user_id = link.user_id AND t.token_hash <> link.token_hash AND t.used_at IS NULL
        )
        SELECT EXISTS (SELECT FROM link) AS found, EXISTS (SELECT FROM taken) AS taken";
    let statement = Statement::new(VERIFY).arg(token.hash(), Type::BYTEA);
    let row = db.query_opt(&statement).await.map_err(|e| {
        // Two accounts confirming one new address at once: the second is refused by the index.
        if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            Error::EmailTaken
        } else {
            Error::Database(e)
        }
    })?;
    let row = row.ok_or_else(|| Error::Internal("SELECT gave no row".into()))?;
    if !row.try_get::<_, bool>("found")? {
        return Err(refused("verification"));
    }
    if row.try_get::<_, bool>("taken")? {
        return Err(Error::EmailTaken);
    }
    Ok(())
}

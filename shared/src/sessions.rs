//! Sessions: one per signin, kept alive by rotating refresh tokens, ended by signout or by the
//! reuse of a spent refresh token (which means two parties hold the family: one was a thief),
//! except the token spent moments ago, which gets its successor again (two tabs, a retry).
//! This module is the one place that says what a live session is, binds a caller's requests to
//! theirs, and turns "no live session" into a refused token.

use const_format::concatcp;
use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::auth::{Caller, DeviceToken, RefreshToken, SuccessorKey};
use crate::config::SessionSettings;
use crate::db::{Db, Statement};
use crate::error::{Error, Result};
use crate::events;
use crate::users::User;

/// What makes a session row `s` live: not ended (by signout or refresh-token reuse) and within
/// its absolute lifetime. Every statement that checks a session uses this one definition.
const LIVE: &str = "s.ended_at IS NULL AND s.expires_at > now()";

/// Why a caller's token is refused once its session is no longer live (for the logs).
const ENDED: &str = "session ended or expired";

/// How stale `last_used_at` may grow before a request writes it: at most one write per session
/// in this long, and none on most requests.
const LAST_USED_GRANULARITY: &str = "interval '5 minutes'";

/// Binds the transaction to a live session's user, for the row-level security policy on
/// tasks, and records the session's use when `last_used_at` is stale. No row means the session
/// has ended or expired; `app.user_id` then stays unset and the statement after it sees, and
/// can write, nothing.
pub fn binding(caller: Caller) -> Statement<'static> {
    with_me(caller).push(concatcp!(
        ", touched AS (UPDATE sessions t SET last_used_at = now() FROM me ",
        "WHERE t.id = me.id AND me.last_used_at < now() - ",
        LAST_USED_GRANULARITY,
        ") SELECT set_config('app.user_id', me.user_id::text, true) FROM me"
    ))
}

/// `WITH me AS (...)`: the caller's session row while it is live, for statements that act on
/// the caller's account or sessions and must find nothing once the session has ended.
pub(crate) fn with_me(caller: Caller) -> Statement<'static> {
    let me = Statement::new(
        "WITH me AS (SELECT s.id, s.user_id, s.last_used_at FROM sessions s WHERE s.id = ",
    )
    .bind(caller.session, Type::UUID)
    .push(" AND s.user_id = ")
    .bind(caller.user, Type::UUID)
    .push(concatcp!(" AND ", LIVE));
    if caller.verified_email_required {
        me.push(concatcp!(" AND ", VERIFIED, ")"))
    } else {
        me.push(")")
    }
}

/// Under `REQUIRE_VERIFIED_EMAIL`: the session's account has proved its address.
const VERIFIED: &str = "EXISTS (SELECT FROM users v WHERE v.id = s.user_id AND v.email_verified)";

/// Why a statement over `me` found no session: it ended or expired (401), or it is live but
/// its account has not verified its address where that is required (403). Asked only on that
/// path, so a request that passes costs no second round trip.
async fn refusal(db: &Db, caller: Caller) -> Error {
    if !caller.verified_email_required {
        return Error::invalid_token(ENDED);
    }
    let live = with_me(Caller {
        verified_email_required: false,
        ..caller
    })
    .push(" SELECT FROM me");
    match db.query_opt(&live).await {
        Ok(Some(_)) => Error::EmailUnverified,
        Ok(None) => Error::invalid_token(ENDED),
        Err(error) => error.into(),
    }
}

/// Runs `statement` for the caller, bound to their live session in one round trip; an ended
/// session is a 401 `invalid_token`.
pub async fn run_as(db: &Db, caller: Caller, statement: &Statement<'_>) -> Result<Vec<Row>> {
    match db.guarded(&binding(caller), statement).await? {
        Some(done) => Ok(done.rows),
        None => Err(refusal(db, caller).await),
    }
}

/// The caller's account, if their session is still live: one statement does both.
pub async fn user(db: &Db, caller: Caller) -> Result<User> {
    User::from_row(&account_row(db, caller).await?)
}

/// The caller's account and its password hash, for the operations that ask for the password
/// again, if their session is still live.
pub async fn user_with_hash(db: &Db, caller: Caller) -> Result<(User, String)> {
    let row = account_row(db, caller).await?;
    Ok((User::from_row(&row)?, row.try_get("password_hash")?))
}

async fn account_row(db: &Db, caller: Caller) -> Result<Row> {
    let statement = with_me(caller).push(
        " SELECT u.id, u.email, u.name, u.email_verified, u.created_at, u.password_hash \
         FROM me JOIN users u ON u.id = me.user_id",
    );
    match db.query_opt(&statement).await? {
        Some(row) => Ok(row),
        None => Err(refusal(db, caller).await),
    }
}

/// A live session as its user sees it.
#[derive(Debug, Serialize)]
pub struct SessionInfo {
    pub id: Uuid,
    #[serde(serialize_with = "crate::timestamp::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(serialize_with = "crate::timestamp::rfc3339")]
    pub last_used_at: OffsetDateTime,
    /// Whether it is the session of the request that asked.
    pub current: bool,
}

/// The caller's live sessions, the most recently used first.
pub async fn list(db: &Db, caller: Caller) -> Result<Vec<SessionInfo>> {
    let statement = with_me(caller).push(concatcp!(
        " SELECT s.id, s.created_at, s.last_used_at, s.id = me.id AS current ",
        "FROM me JOIN sessions s ON s.user_id = me.user_id WHERE ",
        LIVE,
        " ORDER BY s.last_used_at DESC, s.created_at DESC"
    ));
    let rows = db.query(&statement).await?;
    // The caller's own session is always among them while it is live.
    if rows.is_empty() {
        return Err(refusal(db, caller).await);
    }
    rows.iter()
        .map(|row| {
            Ok(SessionInfo {
                id: row.try_get("id")?,
                created_at: row.try_get("created_at")?,
                last_used_at: row.try_get("last_used_at")?,
                current: row.try_get("current")?,
            })
        })
        .collect()
}

/// Which of the caller's sessions to end.
#[derive(Debug, Clone, Copy)]
pub enum Ending {
    /// This one, if it is theirs and live (the caller's own included).
    One(Uuid),
    /// Every one but the caller's.
    Others,
}

/// Ends sessions of the caller's: their access and refresh tokens stop working at once; how
/// many ended. Another user's session, or an unknown or ended one, is not found.
pub async fn end_some(db: &Db, caller: Caller, which: Ending) -> Result<u64> {
    let statement = match which {
        Ending::One(id) => with_me(caller)
            .push(", ended AS (UPDATE sessions s SET ended_at = now() FROM me WHERE s.id = ")
            .bind(id, Type::UUID),
        Ending::Others => with_me(caller)
            .push(", ended AS (UPDATE sessions s SET ended_at = now() FROM me WHERE s.id <> me.id"),
    }
    .push(concatcp!(
        " AND s.user_id = me.user_id AND ",
        LIVE,
        " RETURNING s.id) SELECT EXISTS (SELECT FROM me) AS live, ",
        "(SELECT count(*) FROM ended) AS ended"
    ));
    let row = while_live(db, caller, &statement).await?;
    match (which, row.try_get::<_, i64>("ended")?) {
        (Ending::One(_), 0) => Err(Error::NotFound),
        (_, ended) => Ok(ended as u64),
    }
}

/// What a change to the caller's account did.
pub enum Outcome {
    Done,
    /// The password hash is no longer the one the caller's password was checked against: it
    /// changed meanwhile, so the check no longer holds.
    PasswordChanged,
}

/// Replaces the caller's password hash and ends every other session of theirs, in one
/// statement, only if the session is still live and the hash is still `verified_hash`.
pub async fn change_password(
    db: &Db,
    caller: Caller,
    verified_hash: &str,
    new_hash: &str,
) -> Result<Outcome> {
    let statement = with_me(caller)
        .push(", changed AS (UPDATE users u SET password_hash = ")
        .bind(new_hash, Type::TEXT)
        .push(", updated_at = now() FROM me WHERE u.id = me.user_id AND u.password_hash = ")
        .bind(verified_hash, Type::TEXT)
        .push(concatcp!(
            " RETURNING u.id), ended AS (UPDATE sessions s SET ended_at = now() FROM changed, me ",
            "WHERE s.user_id = changed.id AND s.id <> me.id AND s.ended_at IS NULL) ",
            // `ended` runs though nothing reads it: a data-modifying WITH always runs to the end.
            "SELECT EXISTS (SELECT FROM me) AS live, EXISTS (SELECT FROM changed) AS done"
        ));
    outcome(db, caller, &statement).await
}

/// Deletes the caller's account, and with it (ON DELETE CASCADE, same statement) its tasks,
/// sessions and refresh tokens, only if the session is still live and the password hash is
/// still `verified_hash`.
pub async fn delete_account(db: &Db, caller: Caller, verified_hash: &str) -> Result<Outcome> {
    let statement = with_me(caller)
        .push(", deleted AS (DELETE FROM users u USING me WHERE u.id = me.user_id AND u.password_hash = ")
        .bind(verified_hash, Type::TEXT)
        .push(concatcp!(
            " RETURNING u.id) SELECT EXISTS (SELECT FROM me) AS live, ",
            "EXISTS (SELECT FROM deleted) AS done"
        ));
    outcome(db, caller, &statement).await
}

/// The one row of a statement over `me` that answers `live`: the session was live when it ran,
/// or the caller's token is refused.
async fn while_live(db: &Db, caller: Caller, statement: &Statement<'_>) -> Result<Row> {
    let row = db
        .query_opt(statement)
        .await?
        .ok_or_else(|| Error::Internal("SELECT gave no row".into()))?;
    if !row.try_get::<_, bool>("live")? {
        return Err(refusal(db, caller).await);
    }
    Ok(row)
}

async fn outcome(db: &Db, caller: Caller, statement: &Statement<'_>) -> Result<Outcome> {
    let row = while_live(db, caller, statement).await?;
    Ok(if row.try_get("done")? {
        Outcome::Done
    } else {
        Outcome::PasswordChanged
    })
}

/// Opens a session and its first refresh token, records a new device token when there is one
/// (`$5`), in one statement, pruning on the way (see [`PRUNE`]).
const START: &str = concatcp!(
    "WITH ",
    PRUNE,
    ", device AS (
        INSERT INTO devices (token_hash, user_id, expires_at)
        SELECT $5, $1, now() + make_interval(secs => $6) WHERE $5 IS NOT NULL
    ), session AS (
        INSERT INTO sessions (user_id, expires_at)
        VALUES ($1, now() + make_interval(secs => $2))
        RETURNING id, expires_at
    )
    INSERT INTO refresh_tokens (token_hash, session_id, expires_at)
    SELECT $3, id, least(expires_at, now() + make_interval(secs => $4)) FROM session
    RETURNING session_id"
);

/// Deletes the oldest few ended sessions, expired sessions, expired refresh and device tokens (a
/// session's tokens go with it: ON DELETE CASCADE), so the tables hold what can still be used
/// rather than every signin ever made. None of them can do anything any more: an ended or
/// expired session refuses its tokens whether its row is there or not, and an expired refresh
/// token, spent or not, is refused. Bounded per statement, oldest first, and only rows no one
/// else holds (`SKIP LOCKED`), as the throttle's prune. Sessions open at least as often as
/// they end; tokens are pruned by refreshes too, which issue them.
const PRUNE: &str = "ended AS (
        DELETE FROM sessions WHERE id IN (
            SELECT id FROM sessions WHERE ended_at IS NOT NULL
            ORDER BY ended_at LIMIT 20 FOR UPDATE SKIP LOCKED)
    ), lapsed AS (
        DELETE FROM sessions WHERE id IN (
            SELECT id FROM sessions WHERE expires_at < now() AND ended_at IS NULL
            ORDER BY expires_at LIMIT 20 FOR UPDATE SKIP LOCKED)
    ), expired AS (
        DELETE FROM refresh_tokens WHERE token_hash IN (
            SELECT token_hash FROM refresh_tokens WHERE expires_at < now()
            ORDER BY expires_at LIMIT 20 FOR UPDATE SKIP LOCKED)
    ), forgotten AS (
        DELETE FROM devices WHERE token_hash IN (
            SELECT token_hash FROM devices WHERE expires_at < now()
            ORDER BY expires_at LIMIT 20 FOR UPDATE SKIP LOCKED)
    )";

/// Spends a refresh token and issues its successor, in one statement. The row lock makes two
/// concurrent uses of one token serialise: the second sees it spent. A token spent within the
/// reuse window whose successor (one of `$5`: the current key's, `$2`, or during a rotation the
/// previous key's) is still the session's unspent token is `replayed`, by its hash: the caller
/// gets that successor again. Any other spent token is reuse, which the caller answers
/// by ending the session; an expired token or an ended session just refuses.
const ROTATE: &str = concatcp!(
    "WITH expired AS (
        DELETE FROM refresh_tokens WHERE token_hash IN (
            SELECT token_hash FROM refresh_tokens WHERE expires_at < now() AND token_hash <> $1
            ORDER BY expires_at LIMIT 10 FOR UPDATE SKIP LOCKED)
    ),
    presented AS (
        SELECT r.token_hash, r.session_id, r.used_at IS NOT NULL AS spent, s.user_id,
               r.used_at > now() - make_interval(secs => $4) AS recent,
               r.expires_at > now() AND ",
    LIVE,
    " AS live
        FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id
        WHERE r.token_hash = $1
        FOR UPDATE OF r
    ),
    replayed AS (
        SELECT c.token_hash FROM presented p
        JOIN refresh_tokens c ON c.token_hash = ANY($5) AND c.session_id = p.session_id
        WHERE p.spent AND p.recent AND p.live AND c.used_at IS NULL AND c.expires_at > now()
    ),
    used AS (
        UPDATE refresh_tokens r SET used_at = now() FROM presented p
        WHERE r.token_hash = p.token_hash AND NOT p.spent AND p.live
        RETURNING r.session_id
    ),
    touched AS (
        UPDATE sessions s SET last_used_at = now() FROM used WHERE s.id = used.session_id
    ),
    issued AS (
        INSERT INTO refresh_tokens (token_hash, session_id, expires_at)
        SELECT $2, s.id, least(s.expires_at, now() + make_interval(secs => $3))
        FROM used JOIN sessions s ON s.id = used.session_id
        RETURNING session_id
    )
    SELECT p.session_id, p.spent, p.recent, EXISTS (SELECT FROM issued) AS rotated,
           (SELECT token_hash FROM replayed LIMIT 1) AS replayed, u.id, u.email, u.name,
           u.email_verified, u.created_at
    FROM presented p JOIN users u ON u.id = p.user_id"
);

/// Ends a session whose spent refresh token came back: two parties hold its tokens, one of them
/// a thief, and neither can be told apart.
const END_FAMILY: &str = "UPDATE sessions SET ended_at = now() WHERE id = $1 AND ended_at IS NULL";

/// A session just opened or refreshed: who it is for, and the refresh token to hand out.
pub struct Issued {
    pub caller: Caller,
    pub refresh: RefreshToken,
}

/// How long a device token exempts its device from the account-wide throttle.
const DEVICE_TTL_SECONDS: f64 = 180.0 * 86_400.0;

/// Opens a session for `user`, recording `new_device` as one of their devices.
pub async fn start(
    db: &Db,
    user: Uuid,
    settings: SessionSettings,
    new_device: Option<&DeviceToken>,
) -> Result<Issued> {
    let refresh = RefreshToken::generate()?;
    let statement = Statement::new(START)
        .arg(user, Type::UUID)
        .arg(settings.session_ttl_seconds as f64, Type::FLOAT8)
        .arg(refresh.hash(), Type::BYTEA)
        .arg(settings.refresh_ttl_seconds as f64, Type::FLOAT8)
        .arg(new_device.map(|d| d.hash()), Type::BYTEA)
        .arg(DEVICE_TTL_SECONDS, Type::FLOAT8);
    let row = db.query_opt(&statement).await?;
    drop(statement);
    let row = row.ok_or_else(|| Error::Internal("INSERT … RETURNING gave no row".into()))?;
    let session = row.try_get("session_id")?;
    Ok(Issued {
        caller: Caller::new(user, session),
        refresh,
    })
}

/// Trades a refresh token for its successor, and the session's user. Within the reuse window
/// the token just spent gets its successor again; any other reuse ends the session.
pub async fn refresh(
    db: &Db,
    presented: &RefreshToken,
    successors: &SuccessorKey,
    settings: SessionSettings,
) -> Result<(User, Issued)> {
    let mut candidates = presented.successors(successors);
    let statement = Statement::new(ROTATE)
        .arg(presented.hash(), Type::BYTEA)
        .arg(candidates[0].hash(), Type::BYTEA)
        .arg(settings.refresh_ttl_seconds as f64, Type::FLOAT8)
        .arg(settings.reuse_interval_seconds as f64, Type::FLOAT8)
        .arg(
            candidates.iter().map(|c| c.hash()).collect::<Vec<_>>(),
            Type::BYTEA_ARRAY,
        );
    let mut row = db
        .query_opt(&statement)
        .await?
        .ok_or(Error::invalid_token("unknown refresh token"))?;
    // Spent within the window, and no successor seen: the refresh that spent it may have
    // committed after this statement's snapshot was taken (it waited on the row lock). A new
    // snapshot tells that apart from the reuse of an older token.
    let replayed = |row: &Row| row.try_get::<_, Option<Vec<u8>>>("replayed");
    if row.try_get::<_, bool>("spent")?
        && row.try_get::<_, bool>("recent")?
        && replayed(&row)?.is_none()
    {
        row = db
            .query_opt(&statement)
            .await?
            .ok_or(Error::invalid_token("unknown refresh token"))?;
    }
    drop(statement);
    let session: Uuid = row.try_get("session_id")?;
    // The successor handed out: the one found again on a replay, else the current key's.
    let mut next = 0;
    if let Some(hash) = replayed(&row)? {
        next = candidates
            .iter()
            .position(|c| c.hash() == hash.as_slice())
            .unwrap_or_default();
        tracing::info!(%session, "just-spent refresh token presented again; same successor");
    } else if row.try_get::<_, bool>("spent")? {
        db.query(&Statement::new(END_FAMILY).arg(session, Type::UUID))
            .await?;
        events::about(row.try_get::<_, Uuid>("id")?);
        events::refresh_token_reuse_detected(session);
        return Err(Error::invalid_token("refresh token reused"));
    } else if !row.try_get::<_, bool>("rotated")? {
        return Err(Error::invalid_token(ENDED));
    }
    let user = User::from_row(&row)?;
    let caller = Caller::new(user.key, session);
    Ok((
        user,
        Issued {
            caller,
            refresh: candidates.swap_remove(next),
        },
    ))
}

/// Ends the caller's session: its refresh tokens and access tokens stop working at once.
pub async fn end(db: &Db, caller: Caller) -> Result<()> {
    end_some(db, caller, Ending::One(caller.session)).await?;
    Ok(())
}

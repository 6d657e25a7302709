//! Sessions: one per signin, kept alive by rotating refresh tokens, ended by signout or by the
//! reuse of a spent refresh token (which means two parties hold the family: one was a thief).
//! This module is the one place that says what a live session is, binds a caller's requests to
//! theirs, and turns "no live session" into a refused token.

use const_format::concatcp;
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::auth::{Caller, RefreshToken};
use crate::config::SessionSettings;
use crate::db::{Db, Statement};
use crate::error::{Error, Result};
use crate::users::User;

/// What makes a session row `s` live: not ended (by signout or refresh-token reuse) and within
/// its absolute lifetime. Every statement that checks a session uses this one definition.
const LIVE: &str = "s.ended_at IS NULL AND s.expires_at > now()";

/// Why a caller's token is refused once its session is no longer live (for the logs).
const ENDED: &str = "session ended or expired";

/// Binds the transaction to a live session's user, for the row-level security policy on
/// tasks. No row means the session has ended or expired; `app.user_id` then stays unset and
/// the statement after it sees, and can write, nothing.
pub fn binding(caller: Caller) -> Statement<'static> {
    of_caller(
        Statement::new("SELECT set_config('app.user_id', s.user_id::text, true) FROM sessions s"),
        caller,
    )
}

/// `statement`, over sessions `s`, narrowed to the caller's session while it is live.
fn of_caller(statement: Statement<'_>, caller: Caller) -> Statement<'_> {
    statement
        .push(" WHERE s.id = ")
        .bind(caller.session, Type::UUID)
        .push(" AND s.user_id = ")
        .bind(caller.user, Type::UUID)
        .push(concatcp!(" AND ", LIVE))
}

/// Runs `statement` for the caller, bound to their live session in one round trip; an ended
/// session is a 401 `invalid_token`.
pub async fn run_as(db: &Db, caller: Caller, statement: &Statement<'_>) -> Result<Vec<Row>> {
    db.guarded(&binding(caller), statement)
        .await?
        .ok_or(Error::invalid_token(ENDED))
}

/// The caller's account, if their session is still live: one statement does both.
pub async fn user(db: &Db, caller: Caller) -> Result<User> {
    let statement = of_caller(
        Statement::new(
            "SELECT u.id, u.email, u.name, u.created_at FROM sessions s JOIN users u ON u.id = s.user_id",
        ),
        caller,
    );
    let row = db.query_opt(&statement).await?;
    User::from_row(&row.ok_or(Error::invalid_token(ENDED))?)
}

/// Opens a session and its first refresh token, in one statement.
const START: &str = "WITH session AS (
        INSERT INTO sessions (user_id, expires_at)
        VALUES ($1, now() + make_interval(secs => $2))
        RETURNING id, expires_at
    )
    INSERT INTO refresh_tokens (token_hash, session_id, expires_at)
    SELECT $3, id, least(expires_at, now() + make_interval(secs => $4)) FROM session
    RETURNING session_id";

/// Spends a refresh token and issues the next, in one statement. The row lock makes two
/// concurrent uses of one token serialise: the second sees it spent, which counts as reuse.
/// Reuse ends the whole session; an expired token or an ended session just refuses.
const ROTATE: &str = concatcp!(
    "WITH presented AS (
        SELECT r.token_hash, r.session_id, r.used_at IS NOT NULL AS spent, s.user_id,
               r.expires_at > now() AND ",
    LIVE,
    " AS live
        FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id
        WHERE r.token_hash = $1
        FOR UPDATE OF r
    ),
    used AS (
        UPDATE refresh_tokens r SET used_at = now() FROM presented p
        WHERE r.token_hash = p.token_hash AND NOT p.spent AND p.live
        RETURNING r.session_id
    ),
    revoked AS (
        UPDATE sessions s SET ended_at = now() FROM presented p
        WHERE s.id = p.session_id AND p.spent AND s.ended_at IS NULL
        RETURNING s.id
    ),
    issued AS (
        INSERT INTO refresh_tokens (token_hash, session_id, expires_at)
        SELECT $2, s.id, least(s.expires_at, now() + make_interval(secs => $3))
        FROM used JOIN sessions s ON s.id = used.session_id
        RETURNING session_id
    )
    SELECT p.session_id, p.spent, EXISTS (SELECT FROM issued) AS rotated,
           u.id, u.email, u.name, u.created_at
    FROM presented p JOIN users u ON u.id = p.user_id"
);

/// A session just opened or refreshed: who it is for, and the refresh token to hand out.
pub struct Issued {
    pub caller: Caller,
    pub refresh: RefreshToken,
}

pub async fn start(db: &Db, user: Uuid, settings: SessionSettings) -> Result<Issued> {
    let refresh = RefreshToken::generate()?;
    let statement = Statement::new(START)
        .arg(user, Type::UUID)
        .arg(settings.session_ttl_seconds as f64, Type::FLOAT8)
        .arg(refresh.hash(), Type::BYTEA)
        .arg(settings.refresh_ttl_seconds as f64, Type::FLOAT8);
    let row = db.query_opt(&statement).await?;
    drop(statement);
    let row = row.ok_or_else(|| Error::Internal("INSERT … RETURNING gave no row".into()))?;
    let session = row.try_get("session_id")?;
    Ok(Issued {
        caller: Caller { user, session },
        refresh,
    })
}

/// Trades a refresh token for the next one of its session, and the session's user.
pub async fn refresh(
    db: &Db,
    presented: &RefreshToken,
    settings: SessionSettings,
) -> Result<(User, Issued)> {
    let next = RefreshToken::generate()?;
    let statement = Statement::new(ROTATE)
        .arg(presented.hash(), Type::BYTEA)
        .arg(next.hash(), Type::BYTEA)
        .arg(settings.refresh_ttl_seconds as f64, Type::FLOAT8);
    let row = db.query_opt(&statement).await?;
    drop(statement);
    let row = row.ok_or(Error::invalid_token("unknown refresh token"))?;
    let session: Uuid = row.try_get("session_id")?;
    if row.try_get::<_, bool>("spent")? {
        tracing::warn!(%session, "spent refresh token presented again; session ended");
        return Err(Error::invalid_token("refresh token reused"));
    }
    if !row.try_get::<_, bool>("rotated")? {
        return Err(Error::invalid_token(ENDED));
    }
    let user = User::from_row(&row)?;
    let caller = Caller {
        user: user.id,
        session,
    };
    Ok((
        user,
        Issued {
            caller,
            refresh: next,
        },
    ))
}

/// Ends the caller's session: its refresh tokens and access tokens stop working at once.
pub async fn end(db: &Db, caller: Caller) -> Result<()> {
    let statement = of_caller(
        Statement::new("UPDATE sessions s SET ended_at = now()"),
        caller,
    )
    .push(" RETURNING s.id");
    db.query_opt(&statement)
        .await?
        .map(|_| ())
        .ok_or(Error::invalid_token(ENDED))
}

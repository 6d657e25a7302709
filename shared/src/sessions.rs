//! Sessions: one per signin, kept alive by rotating refresh tokens, ended by signout or by the
//! reuse of a spent refresh token (which means two parties hold the family: one was a thief).

use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::auth::{Caller, RefreshToken};
use crate::config::SessionSettings;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::users::User;

/// What makes a session row `s` live: not ended (by signout or refresh-token reuse) and within
/// its absolute lifetime. Every statement that checks a session splices in this one definition.
macro_rules! live {
    () => {
        "s.ended_at IS NULL AND s.expires_at > now()"
    };
}
pub(crate) use live;

/// Why a caller's token is refused once its session is no longer live (for the logs).
pub const ENDED: &str = "session ended or expired";

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
const ROTATE: &str = concat!(
    "WITH presented AS (
        SELECT r.token_hash, r.session_id, r.used_at IS NOT NULL AS spent, s.user_id,
               r.expires_at > now() AND ",
    live!(),
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

const END: &str = concat!(
    "UPDATE sessions s SET ended_at = now() WHERE s.id = $1 AND s.user_id = $2 AND ",
    live!(),
    " RETURNING s.id"
);

/// A session just opened or refreshed: who it is for, and the refresh token to hand out.
pub struct Issued {
    pub caller: Caller,
    pub refresh: RefreshToken,
}

pub async fn start(db: &Db, user: Uuid, settings: SessionSettings) -> Result<Issued> {
    let refresh = RefreshToken::generate()?;
    let row = db
        .query_opt(
            START,
            &[
                (&user, Type::UUID),
                (&(settings.session_ttl_seconds as f64), Type::FLOAT8),
                (&refresh.hash(), Type::BYTEA),
                (&(settings.refresh_ttl_seconds as f64), Type::FLOAT8),
            ],
        )
        .await?
        .ok_or_else(|| Error::Internal("INSERT … RETURNING gave no row".into()))?;
    let session = row.try_get(0)?;
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
    let row = db
        .query_opt(
            ROTATE,
            &[
                (&presented.hash(), Type::BYTEA),
                (&next.hash(), Type::BYTEA),
                (&(settings.refresh_ttl_seconds as f64), Type::FLOAT8),
            ],
        )
        .await?
        .ok_or(Error::invalid_token("unknown refresh token"))?;
    let session: Uuid = row.try_get(0)?;
    if row.try_get::<_, bool>(1)? {
        tracing::warn!(%session, "spent refresh token presented again; session ended");
        return Err(Error::invalid_token("refresh token reused"));
    }
    if !row.try_get::<_, bool>(2)? {
        return Err(Error::invalid_token(ENDED));
    }
    let user = User::from_row_at(&row, 3)?;
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
    db.query_opt(
        END,
        &[(&caller.session, Type::UUID), (&caller.user, Type::UUID)],
    )
    .await?
    .map(|_| ())
    .ok_or(Error::invalid_token(ENDED))
}

//! One PostgreSQL connection per execution environment: opened at cold start, reused across
//! invocations, and re-opened when the server has closed it, as Neon does when it suspends an
//! idle compute. Work is sent again on a new connection only when it cannot have taken effect,
//! so a lost connection never applies a create or a toggle twice. Every statement has a
//! deadline, so a stuck database answers 503 instead of holding the function until its Lambda
//! timeout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use postgres_native_tls::MakeTlsConnector;
use tokio::sync::Mutex;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row, Socket};

/// A statement parameter with its PostgreSQL type. Typed parameters let tokio-postgres send
/// parse, bind and execute in one round trip, with no prepared statement left on the server
/// (which also keeps us safe behind Neon's transaction-mode pooler).
type Param<'a> = (&'a (dyn ToSql + Sync), Type);

/// A statement's text and its parameters, built together: each parameter is pushed with the
/// `$n` that names it (as sqlx's `QueryBuilder` does), so the numbering cannot drift from the
/// values. Only fixed fragments are pushed as text; every value is a parameter.
pub struct Statement<'a> {
    text: String,
    params: Vec<(Box<dyn ToSql + Sync + Send + 'a>, Type)>,
}

impl<'a> Statement<'a> {
    /// A statement starting with `text`, which holds no `$n` yet.
    pub fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            params: Vec::new(),
        }
    }

    /// Appends fixed text.
    pub fn push(mut self, text: &str) -> Self {
        self.text.push_str(text);
        self
    }

    /// Appends `$n` for a new parameter holding `value`.
    pub fn bind(self, value: impl ToSql + Sync + Send + 'a, ty: Type) -> Self {
        let mut statement = self.arg(value, ty);
        let n = statement.params.len();
        statement.text.push('$');
        statement.text.push_str(&n.to_string());
        statement
    }

    /// Adds the next parameter without text, for fixed text that numbers its own `$n` (one that
    /// uses a value twice): `$1` is the first `arg`, and so on.
    pub fn arg(mut self, value: impl ToSql + Sync + Send + 'a, ty: Type) -> Self {
        self.params.push((Box::new(value), ty));
        self
    }

    /// The text, with `$1`...`$n` where the parameters go.
    pub fn text(&self) -> &str {
        &self.text
    }

    fn params(&self) -> Vec<Param<'_>> {
        debug_assert_eq!(
            highest_placeholder(&self.text),
            self.params.len(),
            "{}",
            self.text
        );
        self.params
            .iter()
            .map(|(value, ty)| (value.as_ref() as &(dyn ToSql + Sync), ty.clone()))
            .collect()
    }
}

/// The user a transaction is bound to: `app.user_id`, set by the statement that binds a caller
/// (`sessions::binding`, `users::linked`), the same expression as the row-level security policy
/// on tasks. NULL, which matches nothing, while unbound.
pub const BOUND_USER: &str = "nullif(current_setting('app.user_id', true), '')::uuid";

/// The deadline unless configured (`DATABASE_STATEMENT_TIMEOUT_MS`).
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection used within this window is trusted as it is; one idle for longer is first
/// checked with an empty query (HikariCP's "alive bypass window"). After a pause (a frozen
/// execution environment, a suspended Neon compute) the peer may have dropped it without a word,
/// and work sent into a dead connection cannot be safely sent again: it may have committed.
const DEFAULT_ALIVE_WINDOW: Duration = Duration::from_secs(10);

/// After an attempt to connect that ran out of time, the next waits this long; each such
/// failure after doubles it, up to [`MAX_BACKOFF`]; a connection made resets it. Meanwhile
/// requests are answered 503 at once, with `Retry-After`: a database that does not answer (a
/// Neon compute still waking, a network that drops packets) costs no request its whole
/// deadline, and is not hammered by every one of them. An attempt refused at once (a server
/// restarting) starts no backoff: trying again costs the next request nothing.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(8);

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{}", describe(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error("the database did not answer within {0:?}")]
    TimedOut(Duration),
    /// A connection attempt failed moments ago; the next is not due for this long.
    #[error("the database could not be reached moments ago; next attempt in {0:?}")]
    Away(Duration),
}

impl DbError {
    /// The database cannot be reached or cannot serve now, as opposed to a statement that
    /// failed: answered 503 rather than 500.
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::TimedOut(_) | DbError::Away(_) => true,
            DbError::Postgres(error) => is_unavailable(error),
        }
    }

    /// When an unavailable database is worth trying again: the backoff's end, else a second.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            DbError::Away(wait) => Some(*wait),
            _ if self.is_unavailable() => Some(FIRST_BACKOFF),
            _ => None,
        }
    }

    pub fn code(&self) -> Option<&SqlState> {
        match self {
            DbError::Postgres(error) => error.code(),
            DbError::TimedOut(_) | DbError::Away(_) => None,
        }
    }

    pub fn constraint(&self) -> Option<&str> {
        match self {
            DbError::Postgres(error) => error.as_db_error()?.constraint(),
            DbError::TimedOut(_) | DbError::Away(_) => None,
        }
    }
}

/// What [`Db::guarded`] ran: the guard's first row, and the work's rows.
pub struct Guarded {
    pub guard: Row,
    pub rows: Vec<Row>,
}

pub struct Db {
    config: tokio_postgres::Config,
    tls: Option<MakeTlsConnector>,
    statement_timeout: Duration,
    alive_window: Duration,
    client: Mutex<Option<Shared>>,
    /// Held only between awaits, never across one: a cancelled attempt records its failure on
    /// drop (see [`Attempt`]).
    backoff: std::sync::Mutex<Backoff>,
}

/// When the next connection attempt is due, and how long the one after a failure will wait.
#[derive(Debug)]
struct Backoff {
    due: Option<Instant>,
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            due: None,
            next: FIRST_BACKOFF,
        }
    }
}

/// One connection attempt: one that ran out of time unless told otherwise, so an attempt cut
/// short by a deadline (its future dropped) counts as that too.
struct Attempt<'a> {
    backoff: &'a std::sync::Mutex<Backoff>,
    outcome: Ended,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ended {
    TimedOut,
    Connected,
    Refused,
}

impl<'a> Attempt<'a> {
    fn new(backoff: &'a std::sync::Mutex<Backoff>) -> Self {
        Self {
            backoff,
            outcome: Ended::TimedOut,
        }
    }

    fn ended(mut self, result: &Result<Client, tokio_postgres::Error>) {
        self.outcome = match result {
            Ok(_) => Ended::Connected,
            Err(error) if timed_out(error) => Ended::TimedOut,
            Err(_) => Ended::Refused,
        };
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        let Ok(mut backoff) = self.backoff.lock() else {
            return;
        };
        match self.outcome {
            Ended::Connected => *backoff = Backoff::default(),
            Ended::TimedOut => {
                backoff.due = Some(Instant::now() + backoff.next);
                backoff.next = (backoff.next * 2).min(MAX_BACKOFF);
            }
            Ended::Refused => {}
        }
    }
}

/// tokio-postgres's `connect_timeout` ran out (the TCP connect did not complete in time).
fn timed_out(error: &tokio_postgres::Error) -> bool {
    std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<std::io::Error>())
        .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
}

/// The shared connection and when it was last handed out.
struct Shared {
    client: Arc<Client>,
    used: Instant,
}

impl Db {
    /// Prepares the connector; connecting waits for [`Db::warm_up`] or the first statement.
    pub fn new(config: tokio_postgres::Config) -> Result<Self, native_tls::Error> {
        let tls = match config.get_ssl_mode() {
            SslMode::Disable => None,
            // Verifies the server certificate and host name, and sends SNI, which Neon routes by.
            _ => Some(MakeTlsConnector::new(native_tls::TlsConnector::new()?)),
        };
        Ok(Self {
            config,
            tls,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            alive_window: DEFAULT_ALIVE_WINDOW,
            client: Mutex::new(None),
            backoff: Default::default(),
        })
    }

    /// How long a statement (or a session-bound pipeline) may take, connecting included.
    pub fn with_statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// How long the connection may sit idle before it is checked ahead of the next work.
    pub fn with_alive_window(mut self, window: Duration) -> Self {
        self.alive_window = window;
        self
    }

    /// Connects during the cold start, when Lambda gives the most CPU. A failure is only logged:
    /// the first request tries again and answers 503 if the database is still away.
    pub async fn warm_up(&self) -> bool {
        // tokio-postgres bounds only the TCP connect by `connect_timeout`; a database waking up
        // (Neon's suspended compute) keeps the start-up waiting after it: bounded here.
        let deadline = self
            .config
            .get_connect_timeout()
            .copied()
            .unwrap_or(self.statement_timeout);
        match tokio::time::timeout(deadline, self.client()).await {
            Ok(Ok(_)) => true,
            Ok(Err(error)) => {
                tracing::warn!(
                    %error,
                    metric = "DatabaseUnavailable",
                    "database not reachable at start-up; will retry per request"
                );
                false
            }
            Err(_) => {
                tracing::warn!(
                    timeout_ms = deadline.as_millis() as u64,
                    metric = "DatabaseUnavailable",
                    "database not reachable at start-up; will retry per request"
                );
                false
            }
        }
    }

    /// Whether the role we log in as skips row-level security (a superuser, or `BYPASSRLS`):
    /// then the policy on tasks, the second line of isolation, would not hold.
    pub async fn bypasses_row_security(&self) -> Result<bool, DbError> {
        let row = self
            .query_opt(&Statement::new(
                "SELECT rolsuper OR rolbypassrls AS bypasses FROM pg_roles WHERE rolname = current_user",
            ))
            .await?;
        Ok(row.is_some_and(|row| row.get("bypasses")))
    }

    /// Runs one statement and returns its rows.
    pub async fn query(&self, statement: &Statement<'_>) -> Result<Vec<Row>, DbError> {
        let params = statement.params();
        let (text, params) = (statement.text(), &params);
        self.run(|client| async move { client.query_typed(text, params).await })
            .await
    }

    /// Runs a statement that returns at most one row.
    pub async fn query_opt(&self, statement: &Statement<'_>) -> Result<Option<Row>, DbError> {
        Ok(self.query(statement).await?.into_iter().next())
    }

    /// Runs several statements pipelined on the connection: sent together, answered together,
    /// one round trip. Each has its own result, in order.
    pub async fn pipeline(&self, statements: &[Statement<'_>]) -> Vec<Result<Vec<Row>, DbError>> {
        futures_util::future::join_all(statements.iter().map(|s| self.query(s))).await
    }

    /// Runs `work` in one transaction after `guard`, a precondition that sets what `work` needs
    /// (a transaction-local setting, say): `None` when `guard` finds no row, whatever `work`
    /// then did. BEGIN, `guard`, `work` and COMMIT are pipelined: one round trip. If any part
    /// fails, PostgreSQL refuses the rest and COMMIT rolls back.
    pub async fn guarded(
        &self,
        guard: &Statement<'_>,
        work: &Statement<'_>,
    ) -> Result<Option<Guarded>, DbError> {
        let (guard_params, work_params) = (guard.params(), work.params());
        let guard = (guard.text(), &guard_params);
        let work = (work.text(), &work_params);
        self.run(|client| async move {
            // `biased`: the requests must reach the connection in this order.
            let (begin, guarded, rows, commit) = tokio::join!(
                biased;
                client.batch_execute("BEGIN"),
                client.query_typed(guard.0, guard.1),
                client.query_typed(work.0, work.1),
                client.batch_execute("COMMIT"),
            );
            begin?;
            let Some(guard) = guarded?.into_iter().next() else {
                return Ok(None);
            };
            let rows = rows?;
            commit?;
            Ok(Some(Guarded { guard, rows }))
        })
        .await
    }

    /// Runs `work` on the shared connection within the statement deadline. When the server
    /// ended the connection in reply, the work is run once more on a new one; when the
    /// connection was lost otherwise, the next call gets a new one and this one fails.
    async fn run<'a, T, F, Fut>(&'a self, work: F) -> Result<T, DbError>
    where
        F: Fn(Arc<Client>) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>> + 'a,
    {
        let attempt = async {
            let client = self.client().await?;
            match work(Arc::clone(&client)).await {
                Err(error) if server_ended_connection(&error) => {
                    tracing::warn!(%error, "database ended the connection; reconnecting and retrying once");
                    self.discard(&client).await;
                    Ok(work(self.client().await?).await?)
                }
                Err(error) => {
                    if connection_lost(&error) {
                        // The work may have committed before the reply was lost: not resent.
                        tracing::warn!(%error, "database connection lost mid-request");
                        self.discard(&client).await;
                    }
                    Err(error.into())
                }
                Ok(done) => Ok(done),
            }
        };
        match tokio::time::timeout(self.statement_timeout, attempt).await {
            Ok(result) => result,
            Err(_) => {
                // The connection may be mid-statement; a new request gets a new one.
                tracing::warn!(
                    timeout_ms = self.statement_timeout.as_millis() as u64,
                    "database did not answer in time"
                );
                self.abandon().await;
                Err(DbError::TimedOut(self.statement_timeout))
            }
        }
    }

    /// The shared connection, checked first if it has been idle past the alive window, and
    /// replaced if it is closed or fails the check; while a failed attempt's backoff lasts, no
    /// new attempt is made.
    async fn client(&self) -> Result<Arc<Client>, DbError> {
        let mut slot = self.client.lock().await;
        let now = Instant::now();
        if let Some(shared) = slot.as_mut().filter(|s| !s.client.is_closed()) {
            let idle = now.duration_since(shared.used);
            let alive = idle < self.alive_window || shared.client.batch_execute("").await.is_ok();
            if alive {
                shared.used = now;
                return Ok(Arc::clone(&shared.client));
            }
            tracing::info!(
                idle_ms = idle.as_millis() as u64,
                "idle database connection was dropped; reconnecting"
            );
        }
        if let Some(due) = self.backoff.lock().ok().and_then(|b| b.due)
            && due > now
        {
            return Err(DbError::Away(due - now));
        }
        let attempt = Attempt::new(&self.backoff);
        let connected = self.dedicated_client().await;
        attempt.ended(&connected);
        let client = Arc::new(connected?);
        *slot = Some(Shared {
            client: Arc::clone(&client),
            used: now,
        });
        Ok(client)
    }

    /// A new connection of the caller's own, apart from the shared one: migrations need `&mut`.
    pub async fn dedicated_client(&self) -> Result<Client, tokio_postgres::Error> {
        match &self.tls {
            Some(tls) => connect(&self.config, tls.clone()).await,
            None => connect(&self.config, tokio_postgres::NoTls).await,
        }
    }

    /// Gives up the shared connection after a timeout (the next request opens a new one) and
    /// asks the server, in the background, to cancel whatever it was still running.
    async fn abandon(&self) {
        let Some(Shared { client, .. }) = self.client.lock().await.take() else {
            return;
        };
        let token = client.cancel_token();
        let tls = self.tls.clone();
        let deadline = self.statement_timeout;
        tokio::spawn(async move {
            let cancel = async {
                match tls {
                    Some(tls) => token.cancel_query(tls).await,
                    None => token.cancel_query(tokio_postgres::NoTls).await,
                }
            };
            if let Ok(Err(error)) = tokio::time::timeout(deadline, cancel).await {
                tracing::debug!(%error, "cancelling the timed-out statement failed");
            }
        });
    }

    /// Forgets a broken client, unless a concurrent request already replaced it.
    async fn discard(&self, broken: &Arc<Client>) {
        let mut slot = self.client.lock().await;
        if slot
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(&s.client, broken))
        {
            *slot = None;
        }
    }
}

/// What the log says of a failure: for a server error its SQLSTATE, severity, message and
/// constraint, never its DETAIL (which can quote row values, such as a hash or an email);
/// otherwise tokio-postgres's own words and their cause (a network error, say). Its own
/// `Display` says only "db error".
fn describe(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        let constraint = db
            .constraint()
            .map(|c| format!(" (constraint {c})"))
            .unwrap_or_default();
        return format!(
            "SQLSTATE {} {}: {}{constraint}",
            db.code().code(),
            db.severity(),
            db.message()
        );
    }
    match std::error::Error::source(error) {
        Some(cause) => format!("{error}: {cause}"),
        None => error.to_string(),
    }
}

/// The highest `$n` in `text`: how many parameters it needs.
fn highest_placeholder(text: &str) -> usize {
    text.split('$')
        .skip(1)
        .filter_map(|rest| {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            rest[..digits].parse().ok()
        })
        .max()
        .unwrap_or(0)
}

async fn connect<T>(
    config: &tokio_postgres::Config,
    tls: T,
) -> Result<Client, tokio_postgres::Error>
where
    T: MakeTlsConnect<Socket> + Send + 'static,
    T::Stream: Send + 'static,
{
    let (client, connection) = config.connect(tls).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "database connection ended");
        }
    });
    Ok(client)
}

/// The connection, not the statement, failed: a new connection may well succeed.
fn connection_lost(error: &tokio_postgres::Error) -> bool {
    error.is_closed()
        || server_ended_connection(error)
        || std::error::Error::source(error).is_some_and(|s| s.is::<std::io::Error>())
}

/// The server ended the connection and said so in reply to this work (shutting down, crashed,
/// or terminated by an administrator, as when Neon suspends). PostgreSQL answers in order, so
/// the statement that got this did not complete, nothing after it ran, and an open transaction
/// died with the backend: running the work again cannot apply it twice.
fn server_ended_connection(error: &tokio_postgres::Error) -> bool {
    matches!(error.code(), Some(c) if *c == SqlState::ADMIN_SHUTDOWN || *c == SqlState::CRASH_SHUTDOWN)
}

fn is_unavailable(error: &tokio_postgres::Error) -> bool {
    connection_lost(error)
        || error.code().is_some_and(|code| {
            let class = &code.code()[..2];
            class == "08" // connection exception
                || class == "53" // insufficient resources, e.g. too many connections
                || *code == SqlState::CANNOT_CONNECT_NOW
                || *code == SqlState::QUERY_CANCELED // statement timeout
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bound_value_gets_the_next_placeholder() {
        let statement = Statement::new("SELECT 1 WHERE a = ")
            .bind(1_i64, Type::INT8)
            .push(" AND b = ")
            .bind("x", Type::TEXT)
            .push(" LIMIT ")
            .bind(10_i64, Type::INT8);
        assert_eq!(
            statement.text(),
            "SELECT 1 WHERE a = $1 AND b = $2 LIMIT $3"
        );
        assert_eq!(statement.params().len(), 3);
    }

    #[test]
    fn fixed_text_numbers_its_own_placeholders() {
        let statement = Statement::new("SELECT $1::int8 + $2::int8 - $1::int8")
            .arg(1_i64, Type::INT8)
            .arg(2_i64, Type::INT8);
        assert_eq!(statement.params().len(), 2);
        assert_eq!(highest_placeholder("SELECT $12, $3, '$' || $x"), 12);
        assert_eq!(highest_placeholder("SELECT 1"), 0);
    }
}

//! One PostgreSQL connection per execution environment: opened at cold start, reused across
//! invocations, and re-opened (with the statement retried once) when the server has closed it,
//! as Neon does when it suspends an idle compute.

use std::sync::Arc;

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
pub type Param<'a> = (&'a (dyn ToSql + Sync), Type);

pub struct Db {
    config: tokio_postgres::Config,
    tls: Option<MakeTlsConnector>,
    client: Mutex<Option<Arc<Client>>>,
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
            client: Mutex::new(None),
        })
    }

    /// Connects during the cold start, when Lambda gives the most CPU. A failure is only logged:
    /// the first request tries again and answers 503 if the database is still away.
    pub async fn warm_up(&self) {
        if let Err(error) = self.client().await {
            tracing::warn!(%error, "database not reachable at start-up; will retry per request");
        }
    }

    /// Runs one statement and returns its rows.
    pub async fn query(
        &self,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        let client = self.client().await?;
        match client.query_typed(sql, params).await {
            Err(error) if connection_lost(&error) => {
                tracing::warn!(%error, "database connection lost; reconnecting and retrying once");
                self.discard(&client).await;
                self.client().await?.query_typed(sql, params).await
            }
            result => result,
        }
    }

    /// Runs a statement that returns at most one row.
    pub async fn query_opt(
        &self,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Option<Row>, tokio_postgres::Error> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    async fn client(&self) -> Result<Arc<Client>, tokio_postgres::Error> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(Arc::clone(client));
        }
        let client = Arc::new(self.dedicated_client().await?);
        *slot = Some(Arc::clone(&client));
        Ok(client)
    }

    /// A new connection of the caller's own, apart from the shared one: migrations need `&mut`.
    pub async fn dedicated_client(&self) -> Result<Client, tokio_postgres::Error> {
        match &self.tls {
            Some(tls) => connect(&self.config, tls.clone()).await,
            None => connect(&self.config, tokio_postgres::NoTls).await,
        }
    }

    /// Forgets a broken client, unless a concurrent request already replaced it.
    async fn discard(&self, broken: &Arc<Client>) {
        let mut slot = self.client.lock().await;
        if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, broken)) {
            *slot = None;
        }
    }
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
        || matches!(error.code(), Some(c) if *c == SqlState::ADMIN_SHUTDOWN || *c == SqlState::CRASH_SHUTDOWN)
        || std::error::Error::source(error).is_some_and(|s| s.is::<std::io::Error>())
}

/// The database cannot be reached or cannot serve now, as opposed to a statement that failed:
/// answered 503 rather than 500.
pub fn is_unavailable(error: &tokio_postgres::Error) -> bool {
    connection_lost(error)
        || error.code().is_some_and(|code| {
            let class = &code.code()[..2];
            class == "08" // connection exception
                || class == "53" // insufficient resources, e.g. too many connections
                || *code == SqlState::CANNOT_CONNECT_NOW
                || *code == SqlState::QUERY_CANCELED // statement timeout
        })
}

//! What a function builds once per cold start and shares across invocations.

use std::time::{Duration, Instant};

use crate::auth::{BetterAuth, Passwords, SuccessorKey, Tokens};
use crate::config::{Config, EmailSettings, SessionSettings};
use crate::db::Db;
use crate::links::LinkToken;
use crate::mail::{Mail, MailKind, Outbox};
use crate::throttle::Throttle;

/// How long the start-up check of the database role may take: one catalog lookup on the
/// connection just made.
pub const ROLE_CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// The most a cold start waits on others before serving (or failing) its first request: SSM,
/// the database connection, the role check. Under the functions' timeout (template.yaml), which
/// a test holds it to; a database still away after this is retried per request.
pub const COLD_START_DEADLINE: Duration = Duration::from_secs(
    crate::secrets::AWS_OPERATION_TIMEOUT.as_secs()
        + crate::config::MAX_CONNECT_TIMEOUT.as_secs()
        + ROLE_CHECK_TIMEOUT.as_secs(),
);

pub struct App {
    pub db: Db,
    pub tokens: Tokens,
    /// Set when Better Auth's tokens are accepted too.
    pub better_auth: Option<BetterAuth>,
    pub passwords: Passwords,
    pub sessions: SessionSettings,
    pub successors: SuccessorKey,
    pub throttle: Throttle,
    pub email: EmailSettings,
    /// Mail the invocation under way queued; sent after its answer (see [`crate::mail`]).
    pub outbox: Outbox,
}

impl App {
    /// Reads the configuration (environment, then SSM) and connects. A configuration error is
    /// logged in one line naming the setting or parameter, and the function does not start.
    pub async fn load() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let started = Instant::now();
        let config = Config::load()
            .await
            .inspect_err(|error| tracing::error!(%error, "configuration failed; not starting"))?;
        let configured = started.elapsed();
        let app = Self::start(&config).await?;
        // What a cold start spends before the first request: the benchmark reads this line.
        tracing::info!(
            config_us = configured.as_micros() as u64,
            connect_us = (started.elapsed() - configured).as_micros() as u64,
            "ready"
        );
        Ok(app)
    }

    /// Builds the app and connects, refusing a database role that skips row-level security.
    pub async fn start(config: &Config) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let app = Self::new(config)?;
        if app.db.warm_up().await {
            app.refuse_to_bypass_row_security().await?;
        }
        Ok(app)
    }

    /// Stops the cold start when the database role skips row-level security, naming the fix.
    /// (Checked whenever the database answers at cold start; a function that started while it
    /// was away runs unchecked until its next one.)
    async fn refuse_to_bypass_row_security(
        &self,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let checked = tokio::time::timeout(ROLE_CHECK_TIMEOUT, self.db.bypasses_row_security())
            .await
            .unwrap_or_else(|_| Err(crate::db::DbError::TimedOut(ROLE_CHECK_TIMEOUT)));
        match checked {
            Ok(false) => Ok(()),
            Ok(true) => {
                let problem = "DATABASE_URL logs in as a role that bypasses row-level security \
                    (a superuser or BYPASSRLS): log in as a member of todo_app instead \
                    (docs/database.md, \"Roles\"); not starting";
                tracing::error!("{problem}");
                Err(problem.into())
            }
            Err(error) => {
                tracing::warn!(%error, "could not check the database role at start-up");
                Ok(())
            }
        }
    }

    /// Builds keys and the connectors without connecting yet; Better Auth's keys are fetched
    /// when its first token arrives.
    pub fn new(config: &Config) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self {
            db: Db::new(config.database.clone())?.with_statement_timeout(config.statement_timeout),
            tokens: Tokens::new(&config.tokens),
            better_auth: config
                .better_auth
                .as_ref()
                .map(BetterAuth::new)
                .transpose()?,
            passwords: Passwords::new(config.bcrypt_cost),
            sessions: config.sessions,
            successors: SuccessorKey::new(config.tokens.secrets()),
            throttle: Throttle::new(
                config.tokens.secrets(),
                config.signups_per_address,
                config.reset_requests_per_address,
            ),
            email: config.email.clone(),
            outbox: Outbox::default(),
        })
    }

    /// The frontend page `page` (`reset-password`, `verify-email`) with the link's token.
    pub fn link(&self, page: &str, token: &LinkToken) -> String {
        let mut url = self.email.app_url.clone();
        url.path_segments_mut()
            .map(|mut segments| {
                segments.pop_if_empty().push(page);
            })
            .unwrap_or_default();
        url.query_pairs_mut()
            .clear()
            .append_pair("token", token.expose());
        url.into()
    }

    /// Queues `kind` to `to`, about `user`, for after the answer.
    pub fn mail(&self, to: &str, user: uuid::Uuid, kind: MailKind) {
        self.outbox.push(Mail {
            to: to.to_owned(),
            user,
            kind,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Globals' `Timeout` in template.yaml, in seconds (no function sets its own).
    fn function_timeout() -> Duration {
        let template = include_str!("../../template.yaml");
        let globals = template.split("\nGlobals:").nth(1).unwrap_or_default();
        let seconds = globals
            .lines()
            .find_map(|line| line.trim().strip_prefix("Timeout:"))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0);
        Duration::from_secs(seconds)
    }

    #[test]
    fn a_cold_starts_deadlines_add_up_to_less_than_the_function_timeout() {
        let timeout = function_timeout();
        assert!(timeout >= Duration::from_secs(1), "no Timeout in Globals");
        assert!(
            COLD_START_DEADLINE < timeout,
            "SSM, connect and role check may take {COLD_START_DEADLINE:?}, the timeout is {timeout:?}"
        );
        // Some room is left for the process itself and the first request's own work.
        assert!(COLD_START_DEADLINE + Duration::from_secs(1) <= timeout);
    }
}

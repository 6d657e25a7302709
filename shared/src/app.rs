//! What a function builds once per cold start and shares across invocations.

use crate::auth::{Passwords, Tokens};
use crate::config::Config;
use crate::db::Db;

pub struct App {
    pub db: Db,
    pub tokens: Tokens,
    pub passwords: Passwords,
}

impl App {
    /// Reads the environment and connects; errors say which setting is wrong.
    pub async fn from_env() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let app = Self::new(&Config::from_env()?)?;
        app.db.warm_up().await;
        Ok(app)
    }

    /// Builds keys and the connector without connecting yet.
    pub fn new(config: &Config) -> Result<Self, native_tls::Error> {
        Ok(Self {
            db: Db::new(config.database.clone())?,
            tokens: Tokens::new(&config.tokens),
            passwords: Passwords::new(config.bcrypt_cost),
        })
    }
}

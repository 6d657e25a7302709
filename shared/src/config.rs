//! Settings read once per cold start: from the environment, secrets possibly from SSM.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio_postgres::config::{Host, SslMode};

use reqwest::Url;

use crate::auth::{BetterAuthSettings, JwksTimings, TokenSettings};
use crate::secrets;

/// The secret settings, each with the variable that names an SSM parameter to read it from
/// when the environment lacks it.
const DATABASE_URL: &str = "DATABASE_URL";
const JWT_SECRET: &str = "JWT_SECRET";
/// During a rotation, the secret before `JWT_SECRET`: what it signed still verifies.
const JWT_PREVIOUS_SECRET: &str = "JWT_PREVIOUS_SECRET";
const FROM_SSM: [(&str, &str); 3] = [
    (DATABASE_URL, "DATABASE_URL_PARAMETER"),
    (JWT_SECRET, "JWT_SECRET_PARAMETER"),
    (JWT_PREVIOUS_SECRET, "JWT_PREVIOUS_SECRET_PARAMETER"),
];

/// HS256 keys shorter than the hash output are brute-forceable (RFC 7518 §3.2).
pub const MIN_JWT_SECRET_BYTES: usize = 32;
/// 24 hours: frontends written for the FastAPI backend keep a token until a 401 and never
/// refresh. Every request checks the token's session, so signout and refresh-token reuse end
/// it at once whatever its `exp`; clients that refresh can ask for shorter ones.
const DEFAULT_TTL_SECONDS: u64 = 86_400;
/// A session's absolute lifetime: after it, the user signs in again.
const DEFAULT_SESSION_TTL_SECONDS: u64 = 30 * 86_400;
/// How long a refresh token lasts unused: a session idle this long ends.
const DEFAULT_REFRESH_TTL_SECONDS: u64 = 7 * 86_400;
/// Two tabs refreshing at once, a retry after a lost answer: seconds, not minutes (GoTrue's 10).
const DEFAULT_REUSE_INTERVAL_SECONDS: u64 = 10;
const DEFAULT_BCRYPT_COST: u32 = 12;
const DEFAULT_ISSUER: &str = "todo-auth-lambda";
const DEFAULT_AUDIENCE: &str = "todo-app";
/// Many users can share an address (offices, carrier NAT): raise it for them.
const DEFAULT_SIGNUPS_PER_ADDRESS: i32 = 10;
/// Enough for everyone behind one address to forget a password now and then; a client mailing
/// reset links to a list of addresses is slowed after it.
const DEFAULT_RESET_REQUESTS_PER_ADDRESS: i32 = 20;
/// A stuck network, or a database waking up, must not hold a function until its Lambda
/// timeout: how long connecting may take (TCP, TLS, start-up and login), unless the URL's
/// `connect_timeout` says otherwise.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest `connect_timeout` a URL may ask for: a cold start must fit its other deadlines
/// in the function's timeout too (see [`crate::app::COLD_START_DEADLINE`]).
pub const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(6);

/// `Debug` shows no secret: tokio-postgres redacts the password, `SecretString` the JWT key.
#[derive(Clone, Debug)]
pub struct Config {
    pub database: tokio_postgres::Config,
    pub statement_timeout: Duration,
    pub tokens: TokenSettings,
    pub sessions: SessionSettings,
    /// Signups one address may make per quiet hour before they are delayed.
    pub signups_per_address: i32,
    /// Password-reset requests one address may make per quiet hour before they mail nothing.
    pub reset_requests_per_address: i32,
    pub bcrypt_cost: u32,
    /// Set when Better Auth's tokens are accepted too (`BETTER_AUTH_URL`).
    pub better_auth: Option<BetterAuthSettings>,
    pub email: EmailSettings,
}

/// Links sent by email, and what an unverified address may do.
#[derive(Clone, Debug)]
pub struct EmailSettings {
    /// The frontend's base URL (`APP_URL`): links point at its `/reset-password` and
    /// `/verify-email` pages, which POST the token (opening a link spends nothing).
    pub app_url: Url,
    /// How long a password reset link works (`RESET_TOKEN_TTL_SECONDS`, 30 minutes).
    pub reset_ttl_seconds: u64,
    /// How long a verification or address-change link works (`VERIFY_TOKEN_TTL_SECONDS`, 24 h).
    pub verify_ttl_seconds: u64,
    /// `REQUIRE_VERIFIED_EMAIL`: an unverified account may only verify, ask again, read `me`,
    /// change its address and sign out.
    pub require_verified: bool,
}

/// Lifetimes of sessions and their refresh tokens, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionSettings {
    pub session_ttl_seconds: u64,
    pub refresh_ttl_seconds: u64,
    /// How long after a refresh its spent token, presented again, gets the same successor
    /// instead of ending the session (GoTrue's `REFRESH_TOKEN_REUSE_INTERVAL`); 0 turns it off.
    pub reuse_interval_seconds: u64,
}

/// Why the function refuses to start; names the variable, never its value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{name} is invalid: {problem}")]
    Invalid { name: &'static str, problem: String },
    #[error(transparent)]
    Ssm(#[from] secrets::SsmError),
}

impl Config {
    /// The environment, with the secrets it lacks read from SSM (see [`crate::secrets`]).
    pub async fn load() -> Result<Self, ConfigError> {
        Self::load_with(|name| std::env::var(name).ok(), secrets::client_from_env).await
    }

    /// Like [`Config::load`], from any source of variables; the SSM client is only built when a
    /// secret has to come from SSM.
    pub async fn load_with<F, Fut>(
        get: impl Fn(&str) -> Option<String>,
        ssm: F,
    ) -> Result<Self, ConfigError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = aws_sdk_ssm::Client>,
    {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let wanted: Vec<(&'static str, String)> = FROM_SSM
            .iter()
            .filter(|(setting, _)| get(setting).is_none())
            .filter_map(|(setting, parameter)| get(parameter).map(|name| (*setting, name)))
            .collect();
        let fetched = if wanted.is_empty() {
            HashMap::new()
        } else {
            secrets::fetch(&ssm().await, &wanted).await?
        };
        Self::from_lookup(|name| get(name).or_else(|| fetched.get(name).cloned()))
    }

    /// Builds the config from any source of variables (the environment, or a test's map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));

        let database = database_config(&required(DATABASE_URL)?)?;
        let secret = signing_secret(JWT_SECRET, required(JWT_SECRET)?)?;
        let previous_secret = get(JWT_PREVIOUS_SECRET)
            .map(|previous| signing_secret(JWT_PREVIOUS_SECRET, previous))
            .transpose()?;
        if previous_secret
            .as_ref()
            .is_some_and(|p| p.expose_secret() == secret.expose_secret())
        {
            return Err(ConfigError::Invalid {
                name: JWT_PREVIOUS_SECRET,
                problem: "is the same as JWT_SECRET; a rotation needs a new secret".into(),
            });
        }
        let tokens = TokenSettings {
            secret,
            previous_secret,
            issuer: get("JWT_ISSUER").unwrap_or_else(|| DEFAULT_ISSUER.into()),
            audience: get("JWT_AUDIENCE").unwrap_or_else(|| DEFAULT_AUDIENCE.into()),
            ttl_seconds: number(&get, "JWT_TTL_SECONDS", DEFAULT_TTL_SECONDS, 60..=86_400)?,
        };
        let sessions = SessionSettings {
            session_ttl_seconds: number(
                &get,
                "SESSION_TTL_SECONDS",
                DEFAULT_SESSION_TTL_SECONDS,
                300..=31_536_000,
            )?,
            refresh_ttl_seconds: number(
                &get,
                "REFRESH_TTL_SECONDS",
                DEFAULT_REFRESH_TTL_SECONDS,
                300..=31_536_000,
            )?,
            reuse_interval_seconds: number(
                &get,
                "REFRESH_REUSE_INTERVAL_SECONDS",
                DEFAULT_REUSE_INTERVAL_SECONDS,
                0..=60,
            )?,
        };
        let signups_per_address = number(
            &get,
            "SIGNUPS_PER_ADDRESS",
            DEFAULT_SIGNUPS_PER_ADDRESS,
            1..=1_000_000,
        )?;
        let reset_requests_per_address = number(
            &get,
            "RESET_REQUESTS_PER_ADDRESS",
            DEFAULT_RESET_REQUESTS_PER_ADDRESS,
            1..=1_000_000,
        )?;
        let statement_timeout = Duration::from_millis(number(
            &get,
            "DATABASE_STATEMENT_TIMEOUT_MS",
            // Nor may a stuck statement: past this the request answers 503.
            crate::db::DEFAULT_STATEMENT_TIMEOUT.as_millis() as u64,
            100..=60_000,
        )?);
        let bcrypt_cost = number(&get, "BCRYPT_COST", DEFAULT_BCRYPT_COST, 4..=31)?;
        let better_auth = better_auth(&get)?;
        let email = email_settings(&get)?;
        Ok(Self {
            database,
            statement_timeout,
            tokens,
            sessions,
            signups_per_address,
            reset_requests_per_address,
            bcrypt_cost,
            better_auth,
            email,
        })
    }
}

/// The Next.js dev server's address: what `make dev` and a frontend started locally use.
const DEFAULT_APP_URL: &str = "http://localhost:3000";
const DEFAULT_RESET_TTL_SECONDS: u64 = 30 * 60;
const DEFAULT_VERIFY_TTL_SECONDS: u64 = 86_400;

fn email_settings(get: &impl Fn(&str) -> Option<String>) -> Result<EmailSettings, ConfigError> {
    const APP_URL: &str = "APP_URL";
    let app_url = get(APP_URL).unwrap_or_else(|| DEFAULT_APP_URL.into());
    // Tokens travel in these links: over a network, only https keeps them from the path.
    let app_url = fetchable_url(APP_URL, app_url.trim().trim_end_matches('/'))?;
    let require_verified = match get("REQUIRE_VERIFIED_EMAIL").as_deref().map(str::trim) {
        None | Some("false" | "0" | "off") => false,
        Some("true" | "1" | "on") => true,
        Some(_) => {
            return Err(ConfigError::Invalid {
                name: "REQUIRE_VERIFIED_EMAIL",
                problem: "must be true or false".into(),
            });
        }
    };
    Ok(EmailSettings {
        app_url,
        reset_ttl_seconds: number(
            get,
            "RESET_TOKEN_TTL_SECONDS",
            DEFAULT_RESET_TTL_SECONDS,
            300..=86_400,
        )?,
        verify_ttl_seconds: number(
            get,
            "VERIFY_TOKEN_TTL_SECONDS",
            DEFAULT_VERIFY_TTL_SECONDS,
            300..=7 * 86_400,
        )?,
        require_verified,
    })
}

const BETTER_AUTH_URL: &str = "BETTER_AUTH_URL";
const DEFAULT_BETTER_AUTH_MAX_LIFETIME_SECONDS: u64 = 3600;
const BETTER_AUTH_JWKS_URL: &str = "BETTER_AUTH_JWKS_URL";
/// Where Better Auth's `jwt()` plugin publishes its keys, under its base URL.
const JWKS_PATH: &str = "/api/auth/jwks";

/// A signing secret, long enough (never shown in the error).
fn signing_secret(name: &'static str, secret: String) -> Result<SecretString, ConfigError> {
    if secret.len() < MIN_JWT_SECRET_BYTES {
        return Err(ConfigError::Invalid {
            name,
            problem: format!(
                "must be at least {MIN_JWT_SECRET_BYTES} bytes (it has {}); \
                 generate one with `openssl rand -base64 48`",
                secret.len()
            ),
        });
    }
    Ok(SecretString::from(secret))
}

/// Better Auth's settings when `BETTER_AUTH_URL` is set: its tokens' issuer is that URL (without
/// a trailing `/`, as Better Auth writes it), the audience too unless `BETTER_AUTH_AUDIENCE`.
fn better_auth(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<BetterAuthSettings>, ConfigError> {
    let Some(base) = get(BETTER_AUTH_URL) else {
        return Ok(None);
    };
    let issuer = base.trim().trim_end_matches('/').to_owned();
    fetchable_url(BETTER_AUTH_URL, &issuer)?;
    let jwks_url = match get(BETTER_AUTH_JWKS_URL) {
        Some(url) => fetchable_url(BETTER_AUTH_JWKS_URL, url.trim())?,
        None => fetchable_url(BETTER_AUTH_URL, &format!("{issuer}{JWKS_PATH}"))?,
    };
    // Better Auth's JWT plugin issues 15-minute tokens; nothing here can end one early, so a
    // longer lifetime is refused rather than trusted for as long as its issuer says.
    let max_lifetime = number(
        get,
        "BETTER_AUTH_MAX_TOKEN_LIFETIME_SECONDS",
        DEFAULT_BETTER_AUTH_MAX_LIFETIME_SECONDS,
        60..=86_400,
    )?;
    Ok(Some(BetterAuthSettings {
        audience: get("BETTER_AUTH_AUDIENCE").unwrap_or_else(|| issuer.clone()),
        issuer,
        jwks_url,
        jwks_timings: JwksTimings::default(),
        max_lifetime: Duration::from_secs(max_lifetime),
    }))
}

/// An `https` URL, or plain `http` to this machine only (a Better Auth dev server): keys
/// fetched in clear over a network could be swapped by anyone on the path.
fn fetchable_url(name: &'static str, value: &str) -> Result<Url, ConfigError> {
    let invalid = |problem: &str| ConfigError::Invalid {
        name,
        problem: problem.to_owned(),
    };
    let url = Url::parse(value).map_err(|_| invalid("not an absolute URL"))?;
    let host = url.host_str().unwrap_or_default();
    match url.scheme() {
        "https" if !host.is_empty() => Ok(url),
        "http" if is_loopback(host) => Ok(url),
        "http" => Err(invalid(
            "must be https (plain http only for localhost, 127.0.0.1 or ::1)",
        )),
        _ => Err(invalid("must be an https URL")),
    }
}

/// Parses a `postgres://` URL or a key=value string. `sslmode=require` turns TLS on.
fn database_config(url: &str) -> Result<tokio_postgres::Config, ConfigError> {
    // libpq's `verify-full` is what `require` does here (postgres-native-tls checks the
    // certificate and the host name); tokio-postgres's parser only knows `require`.
    let url = url
        .replace("sslmode=verify-full", "sslmode=require")
        .replace("sslmode=verify-ca", "sslmode=require");
    // The parser's message can quote the URL, password included: say only what is wrong in general.
    let mut config = tokio_postgres::Config::from_str(&url).map_err(|_| ConfigError::Invalid {
        name: DATABASE_URL,
        problem:
            "not a PostgreSQL connection URL (postgres://user:password@host/db?sslmode=require)"
                .into(),
    })?;
    // `prefer` (the default) falls back to plain text when TLS fails, which anyone on the path
    // can force: over a network, only TLS with a verified certificate will do.
    if config.get_ssl_mode() != SslMode::Require && !config.get_hosts().iter().all(is_this_machine)
    {
        return Err(ConfigError::Invalid {
            name: DATABASE_URL,
            problem: "a database on another machine needs sslmode=require (or verify-full): \
                      without it the connection may go unencrypted"
                .into(),
        });
    }
    match config.get_connect_timeout() {
        None => {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        Some(timeout) if *timeout > MAX_CONNECT_TIMEOUT => {
            return Err(ConfigError::Invalid {
                name: DATABASE_URL,
                problem: format!(
                    "connect_timeout may be at most {} s: a cold start must connect well within \
                     the function's timeout (a database still waking up is answered 503 with \
                     Retry-After, and the next request finds it awake)",
                    MAX_CONNECT_TIMEOUT.as_secs()
                ),
            });
        }
        Some(_) => {}
    }
    if config.get_application_name().is_none() {
        config.application_name("todo-auth-lambda");
    }
    Ok(config)
}

/// A Unix socket, `localhost` or a loopback address.
fn is_this_machine(host: &Host) -> bool {
    match host {
        Host::Tcp(name) => is_loopback(name),
        #[cfg(unix)]
        Host::Unix(_) => true,
    }
}

/// `localhost` or a loopback address; an IPv6 one with or without the URL's brackets.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The number setting `name` within `range`, `default` when unset.
fn number<T: FromStr + PartialOrd + std::fmt::Display>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError> {
    let Some(value) = get(name) else {
        return Ok(default);
    };
    match value.trim().parse::<T>() {
        Ok(parsed) if range.contains(&parsed) => Ok(parsed),
        _ => Err(ConfigError::Invalid {
            name,
            problem: format!(
                "must be a whole number from {} to {}",
                range.start(),
                range.end()
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    fn error(vars: &[(&str, &str)]) -> String {
        match load(vars) {
            Ok(_) => panic!("config accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults_apply_when_only_the_required_variables_are_set() {
        let config = load(&[
            (
                "DATABASE_URL",
                "postgres://u:p@db.example.com/app?sslmode=require",
            ),
            ("JWT_SECRET", SECRET),
        ])
        .unwrap();
        assert_eq!(config.tokens.ttl_seconds, 86_400);
        assert_eq!(config.sessions.session_ttl_seconds, 2_592_000);
        assert_eq!(config.sessions.refresh_ttl_seconds, 604_800);
        assert_eq!(config.sessions.reuse_interval_seconds, 10);
        assert_eq!(config.statement_timeout, Duration::from_secs(5));
        assert_eq!(config.signups_per_address, 10);
        assert_eq!(config.reset_requests_per_address, 20);
        assert_eq!(config.tokens.issuer, "todo-auth-lambda");
        assert_eq!(config.tokens.audience, "todo-app");
        assert_eq!(config.bcrypt_cost, 12);
        assert_eq!(config.tokens.secret.expose_secret(), SECRET);
        assert_eq!(
            config.database.get_connect_timeout(),
            Some(&Duration::from_secs(5))
        );
        assert!(config.better_auth.is_none());
    }

    fn better_auth(vars: &[(&str, &str)]) -> BetterAuthSettings {
        let mut all = vec![
            ("DATABASE_URL", "postgres://localhost/app"),
            ("JWT_SECRET", SECRET),
        ];
        all.extend_from_slice(vars);
        load(&all).unwrap().better_auth.unwrap()
    }

    #[test]
    fn better_auth_is_trusted_at_its_url_with_its_jwks_beneath_it() {
        let settings = better_auth(&[("BETTER_AUTH_URL", "https://app.example.com/")]);
        assert_eq!(settings.issuer, "https://app.example.com");
        assert_eq!(settings.audience, "https://app.example.com");
        assert_eq!(
            settings.jwks_url.as_str(),
            "https://app.example.com/api/auth/jwks"
        );
        let settings = better_auth(&[
            ("BETTER_AUTH_URL", "http://localhost:3000"),
            ("BETTER_AUTH_JWKS_URL", "http://127.0.0.1:3001/keys"),
            ("BETTER_AUTH_AUDIENCE", "todo-api"),
        ]);
        assert_eq!(settings.issuer, "http://localhost:3000");
        assert_eq!(settings.audience, "todo-api");
        assert_eq!(settings.jwks_url.as_str(), "http://127.0.0.1:3001/keys");
    }

    #[test]
    fn better_auth_keys_are_fetched_over_https_or_from_this_machine_only() {
        for (name, value) in [
            ("BETTER_AUTH_URL", "http://app.example.com"),
            ("BETTER_AUTH_URL", "app.example.com"),
            ("BETTER_AUTH_URL", "ftp://app.example.com"),
            ("BETTER_AUTH_JWKS_URL", "http://10.0.0.8/api/auth/jwks"),
            ("BETTER_AUTH_JWKS_URL", "file:///etc/passwd"),
        ] {
            let message = error(&[
                ("DATABASE_URL", "postgres://localhost/app"),
                ("JWT_SECRET", SECRET),
                ("BETTER_AUTH_URL", "https://app.example.com"),
                (name, value),
            ]);
            assert!(
                message.starts_with(&format!("{name} is invalid")),
                "{message}"
            );
        }
        better_auth(&[("BETTER_AUTH_URL", "http://[::1]:3000")]);
    }

    #[test]
    fn a_connect_timeout_longer_than_a_cold_start_can_wait_is_refused() {
        let message = error(&[
            (
                "DATABASE_URL",
                "postgres://u:p@db.example.com/app?sslmode=require&connect_timeout=15",
            ),
            ("JWT_SECRET", SECRET),
        ]);
        assert!(message.starts_with("DATABASE_URL is invalid"), "{message}");
        assert!(message.contains("at most 6 s"), "{message}");
        assert!(!message.contains("u:p"), "{message}");
    }

    #[test]
    fn every_setting_can_be_overridden() {
        let config = load(&[
            (
                "DATABASE_URL",
                "postgres://u:p@db.example.com/app?sslmode=require&connect_timeout=2",
            ),
            ("JWT_SECRET", SECRET),
            ("JWT_ISSUER", "https://auth.example.com"),
            ("JWT_AUDIENCE", "web"),
            ("JWT_TTL_SECONDS", "900"),
            ("BCRYPT_COST", "10"),
            ("SESSION_TTL_SECONDS", "86400"),
            ("REFRESH_TTL_SECONDS", "3600"),
            ("REFRESH_REUSE_INTERVAL_SECONDS", "0"),
            ("DATABASE_STATEMENT_TIMEOUT_MS", "1500"),
            ("SIGNUPS_PER_ADDRESS", "500"),
            ("RESET_REQUESTS_PER_ADDRESS", "50"),
        ])
        .unwrap();
        assert_eq!(
            config.sessions,
            SessionSettings {
                session_ttl_seconds: 86_400,
                refresh_ttl_seconds: 3_600,
                reuse_interval_seconds: 0,
            }
        );
        assert_eq!(config.statement_timeout, Duration::from_millis(1500));
        assert_eq!(config.signups_per_address, 500);
        assert_eq!(config.reset_requests_per_address, 50);
        assert_eq!(config.tokens.issuer, "https://auth.example.com");
        assert_eq!(config.tokens.audience, "web");
        assert_eq!(config.tokens.ttl_seconds, 900);
        assert_eq!(config.bcrypt_cost, 10);
        assert_eq!(config.database.get_ssl_mode(), SslMode::Require);
        assert_eq!(
            config.database.get_connect_timeout(),
            Some(&Duration::from_secs(2))
        );
    }

    #[test]
    fn a_short_jwt_secret_refuses_to_start_with_a_clear_message() {
        let message = error(&[
            ("DATABASE_URL", "postgres://localhost/app"),
            ("JWT_SECRET", "short"),
        ]);
        assert!(
            message.contains("JWT_SECRET is invalid: must be at least 32 bytes (it has 5)"),
            "{message}"
        );
        let message = error(&[
            ("DATABASE_URL", "postgres://localhost/app"),
            ("JWT_SECRET", "s3cr3t-value"),
        ]);
        assert!(
            !message.contains("s3cr3t-value"),
            "the message leaks the secret: {message}"
        );
    }

    #[test]
    fn missing_variables_are_named() {
        assert_eq!(error(&[("JWT_SECRET", SECRET)]), "DATABASE_URL is not set");
        assert_eq!(
            error(&[("DATABASE_URL", "postgres://localhost/app")]),
            "JWT_SECRET is not set"
        );
        assert_eq!(
            error(&[("DATABASE_URL", "  "), ("JWT_SECRET", SECRET)]),
            "DATABASE_URL is not set"
        );
    }

    #[test]
    fn a_bad_database_url_does_not_echo_its_password() {
        let message = error(&[
            ("DATABASE_URL", "postgres://u:hunter2@host:notaport/db"),
            ("JWT_SECRET", SECRET),
        ]);
        assert!(message.starts_with("DATABASE_URL is invalid"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn a_database_on_another_machine_needs_tls() {
        for url in [
            "postgres://u:p@db.example.com/app",
            "postgres://u:p@db.example.com/app?sslmode=prefer",
            "postgres://u:p@10.0.0.5/app?sslmode=disable",
            "host=db.example.com user=u dbname=app",
            "postgres://u:p@localhost,db.example.com/app",
        ] {
            let message = error(&[("DATABASE_URL", url), ("JWT_SECRET", SECRET)]);
            assert!(
                message.contains("needs sslmode=require"),
                "{url}: {message}"
            );
        }
        for url in [
            "postgres://u:p@db.example.com/app?sslmode=require",
            "postgres://u:p@ep-x.eu-central-1.aws.neon.tech/app?sslmode=verify-full",
            "postgres://u:p@127.0.0.1:5432/app?sslmode=disable",
            "postgres://u:p@[::1]/app",
            "postgres://u:p@localhost/app",
            "host=/var/run/postgresql user=u dbname=app",
        ] {
            let config = load(&[("DATABASE_URL", url), ("JWT_SECRET", SECRET)])
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            if url.contains("verify-full") {
                assert_eq!(config.database.get_ssl_mode(), SslMode::Require);
            }
        }
    }

    #[test]
    fn a_previous_secret_must_be_long_enough_and_not_the_current_one() {
        let config = load(&[
            ("DATABASE_URL", "postgres://u:p@localhost/db"),
            ("JWT_SECRET", SECRET),
            (
                "JWT_PREVIOUS_SECRET",
                "the secret before, at least 32 bytes",
            ),
        ])
        .unwrap();
        assert_eq!(config.tokens.secrets().count(), 2);
        for (previous, problem) in [
            (
                "short",
                "JWT_PREVIOUS_SECRET is invalid: must be at least 32 bytes",
            ),
            (
                SECRET,
                "JWT_PREVIOUS_SECRET is invalid: is the same as JWT_SECRET",
            ),
        ] {
            let message = error(&[
                ("DATABASE_URL", "postgres://u:p@localhost/db"),
                ("JWT_SECRET", SECRET),
                ("JWT_PREVIOUS_SECRET", previous),
            ]);
            assert!(message.starts_with(problem), "{message}");
        }
    }

    #[test]
    fn numbers_out_of_range_are_refused() {
        for (name, value) in [
            ("BCRYPT_COST", "3"),
            ("BCRYPT_COST", "32"),
            ("BCRYPT_COST", "twelve"),
            ("JWT_TTL_SECONDS", "0"),
            ("JWT_TTL_SECONDS", "-5"),
            ("JWT_TTL_SECONDS", "86401"),
            ("SESSION_TTL_SECONDS", "10"),
            ("REFRESH_TTL_SECONDS", "soon"),
            ("REFRESH_REUSE_INTERVAL_SECONDS", "61"),
            ("DATABASE_STATEMENT_TIMEOUT_MS", "0"),
            ("SIGNUPS_PER_ADDRESS", "0"),
            ("RESET_REQUESTS_PER_ADDRESS", "-1"),
        ] {
            let message = error(&[
                ("DATABASE_URL", "postgres://localhost/app"),
                ("JWT_SECRET", SECRET),
                (name, value),
            ]);
            assert!(
                message.starts_with(&format!("{name} is invalid")),
                "{message}"
            );
        }
    }
}

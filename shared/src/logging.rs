//! Log set-up for every function: Lambda's advanced logging controls (`AWS_LAMBDA_LOG_LEVEL`,
//! `AWS_LAMBDA_LOG_FORMAT=JSON`) or `RUST_LOG`, like lambda_http's default subscriber, except
//! that some crates never log below INFO, whatever the level: tokio-postgres prints statement
//! parameters (password hashes) at DEBUG, and the Lambda runtime prints every raw event
//! (passwords, refresh tokens, the `Authorization` header) at TRACE.

use lambda_http::tracing::subscriber::EnvFilter;
use lambda_http::tracing::subscriber::filter::{Directive, LevelFilter};
use lambda_http::tracing::subscriber::fmt::MakeWriter;

pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        tracing::subscriber::set_global_default(json_subscriber(&level, std::io::stdout)).ok();
    } else {
        lambda_http::tracing::subscriber::fmt()
            .with_target(false)
            .without_time()
            .with_env_filter(filter(&level))
            .init();
    }
}

/// The JSON subscriber Lambda gets, writing to `writer`: tests capture it to scan the logs.
pub fn json_subscriber<W>(level: &str, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    lambda_http::tracing::subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_env_filter(filter(level))
        .with_writer(writer)
        .json()
        .finish()
}

/// The crates capped at INFO, because below it they log what must never be logged.
const QUIET: [&str; 5] = [
    "tokio_postgres=info",
    "postgres_protocol=info",
    "lambda_runtime=info",
    "lambda_runtime_api_client=info",
    "lambda_http=info",
];

fn filter(level: &str) -> EnvFilter {
    let mut filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .parse_lossy(level.to_lowercase());
    for quiet in QUIET {
        if let Ok(directive) = quiet.parse::<Directive>() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

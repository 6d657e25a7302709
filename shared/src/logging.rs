//! Log set-up for every function: Lambda's advanced logging controls (`AWS_LAMBDA_LOG_LEVEL`,
//! `AWS_LAMBDA_LOG_FORMAT=JSON`) or `RUST_LOG`, like lambda_http's default subscriber, except that
//! tokio-postgres never logs below INFO: at DEBUG it prints statement parameters, which include
//! password hashes.

use lambda_http::tracing::subscriber::EnvFilter;
use lambda_http::tracing::subscriber::filter::{Directive, LevelFilter};

pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    let mut filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .parse_lossy(level.to_lowercase());
    for quiet in ["tokio_postgres=info", "postgres_protocol=info"] {
        if let Ok(directive) = quiet.parse::<Directive>() {
            filter = filter.add_directive(directive);
        }
    }
    let logs = lambda_http::tracing::subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_env_filter(filter);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
}

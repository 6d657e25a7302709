//! Log set-up for every function: Lambda's advanced logging controls (`AWS_LAMBDA_LOG_LEVEL`,
//! `AWS_LAMBDA_LOG_FORMAT=JSON`) or `RUST_LOG`, like lambda_http's default subscriber, except
//! that some crates never log below INFO, whatever the level: tokio-postgres prints statement
//! parameters (password hashes) at DEBUG, and the Lambda runtime prints every raw event
//! (passwords, refresh tokens, the `Authorization` header) at TRACE.
//!
//! In JSON each line is one flat object: the event's fields, the fields of the request's span
//! (request id, route, source address, the user once known), whether the line comes from a cold
//! start and which function version wrote it (two run side by side during a canary). A line
//! with a `metric` field (names, comma-separated) is also a CloudWatch Embedded Metric Format
//! document counting 1 of each, per `Stage` (and per `Stage` and `Code` when the line has a
//! `code`): CloudWatch Logs turns it into metrics, with no call from the function.

use std::sync::atomic::{AtomicU64, Ordering};

use lambda_http::tracing::subscriber::EnvFilter;
use lambda_http::tracing::subscriber::filter::{Directive, LevelFilter};
use lambda_http::tracing::subscriber::fmt::format::{JsonFields, Writer};
use lambda_http::tracing::subscriber::fmt::{
    FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter,
};
use lambda_http::tracing::subscriber::registry::LookupSpan;
use serde_json::{Map, Value, json};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};

/// The CloudWatch namespace of the metrics, unless `METRICS_NAMESPACE` names another.
pub const DEFAULT_NAMESPACE: &str = "todo-auth-lambda";

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
        .with_env_filter(filter(level))
        .with_writer(writer)
        .fmt_fields(JsonFields::new())
        .event_format(Lines::from_env())
        .finish()
}

/// Invocations begun in this execution environment: its first one is the cold start's.
static INVOCATIONS: AtomicU64 = AtomicU64::new(0);

/// Counts an invocation as begun: lines logged after the first one's began are no longer the
/// cold start's (those of the start-up itself and of the first invocation are).
pub fn invocation_started() {
    INVOCATIONS.fetch_add(1, Ordering::Relaxed);
}

fn cold_start() -> bool {
    INVOCATIONS.load(Ordering::Relaxed) <= 1
}

/// The JSON line format (see the module's documentation).
struct Lines {
    namespace: String,
    stage: String,
    function: String,
    version: String,
}

impl Lines {
    fn from_env() -> Self {
        let var =
            |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
        Self {
            namespace: var("METRICS_NAMESPACE", DEFAULT_NAMESPACE),
            stage: var("STAGE", "local"),
            function: var("AWS_LAMBDA_FUNCTION_NAME", ""),
            version: var("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        }
    }

    /// Makes `line` an EMF document counting each of `metrics` once.
    fn embed_metrics(&self, line: &mut Map<String, Value>, metrics: &str) {
        let names: Vec<&str> = metrics
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .collect();
        if names.is_empty() {
            return;
        }
        let mut dimensions = vec![json!(["Stage"])];
        if line.get("code").is_some_and(Value::is_string) {
            dimensions.push(json!(["Stage", "Code"]));
            if let Some(code) = line.get("code").cloned() {
                line.insert("Code".into(), code);
            }
        }
        line.insert("Stage".into(), json!(self.stage));
        for name in &names {
            line.insert((*name).into(), json!(1));
        }
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        line.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp as i64,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": dimensions,
                    "Metrics": names.iter().map(|n| json!({"Name": n, "Unit": "Count"})).collect::<Vec<_>>(),
                }],
            }),
        );
    }
}

impl<S, N> FormatEvent<S, N> for Lines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut line = Map::new();
        line.insert("level".into(), json!(event.metadata().level().as_str()));
        // The spans' fields, outermost first; JsonFields wrote each as one JSON object.
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<FormattedFields<N>>()
                    && let Ok(Value::Object(fields)) = serde_json::from_str(fields)
                {
                    line.extend(fields);
                }
            }
        }
        event.record(&mut Fields(&mut line));
        line.insert("cold_start".into(), json!(cold_start()));
        line.insert("function_version".into(), json!(self.version));
        if !self.function.is_empty() {
            line.insert("function".into(), json!(self.function));
        }
        if let Some(metrics) = line
            .get("metric")
            .and_then(Value::as_str)
            .map(str::to_owned)
        {
            self.embed_metrics(&mut line, &metrics);
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// Collects an event's fields into the line.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), json!(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), json!(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), json!(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), json!(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), json!(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), json!(format!("{value:?}")));
    }
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

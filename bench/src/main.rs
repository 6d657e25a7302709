//! `make bench`: the functions measured against the physical floor, written to BENCHMARKS.md.
//!
//! `bench [--smoke] [--out FILE]`. Needs `DATABASE_URL` (a database of its own: the scale section
//! fills it) and, unless `--smoke`, release builds in `target/release`, `target/lambda` from
//! `make package`, `cargo lambda` and `wrk` on PATH (scripts/bench.sh provides all of them).
//! `--smoke` runs every section but the load and size ones with a handful of iterations, so
//! `make test` keeps this code from rotting; its figures mean nothing.

mod app;
mod load;
mod proxy;
mod runtime_api;
mod scale;
mod stats;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use lambda_http::http::Method;
use secrecy::ExposeSecret;
use serde_json::json;
use shared::App;
use shared::config::Config;
use shared::db::Param;
use shared::handlers;
use shared::tasks::{ListQuery, sql};
use stats::{Summary, fmt, time, time_pair};
use tokio_postgres::types::Type;

pub const JWT_SECRET: &str = "benchmark-secret-that-is-at-least-32-bytes";

pub struct Bench {
    pub smoke: bool,
    pub root: PathBuf,
    pub database_url: String,
    pub report: String,
}

impl Bench {
    /// Iterations: `full` normally, a handful in a smoke run.
    pub fn n(&self, full: usize) -> usize {
        if self.smoke { 5.min(full) } else { full }
    }

    pub fn config(&self, bcrypt_cost: u32) -> Result<Config, String> {
        let url = self.database_url.clone();
        Config::from_lookup(|name| match name {
            "DATABASE_URL" => Some(url.clone()),
            "JWT_SECRET" => Some(JWT_SECRET.into()),
            "BCRYPT_COST" => Some(bcrypt_cost.to_string()),
            // The scale section loads a million rows in one statement; requests are unaffected.
            "DATABASE_STATEMENT_TIMEOUT_MS" => Some("60000".into()),
            _ => None,
        })
        .map_err(|e| e.to_string())
    }

    pub fn app(&self, bcrypt_cost: u32) -> Result<App, String> {
        App::new(&self.config(bcrypt_cost)?).map_err(|e| e.to_string())
    }

    pub fn line(&mut self, text: impl AsRef<str>) {
        self.report.push_str(text.as_ref());
        self.report.push('\n');
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let smoke = args.iter().any(|a| a == "--smoke");
    let out = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1))
        .map_or_else(|| PathBuf::from("BENCHMARKS.md"), PathBuf::from);
    let Ok(database_url) = std::env::var("DATABASE_URL") else {
        eprintln!("bench: DATABASE_URL is not set (scripts/bench.sh starts a database)");
        return ExitCode::FAILURE;
    };
    // The scale section empties the tasks table: never point this at a database that matters.
    let dbname = tokio_postgres::Config::from_str(&database_url)
        .ok()
        .and_then(|c| c.get_dbname().map(str::to_owned));
    if !dbname.as_deref().is_some_and(|name| name.contains("bench")) {
        eprintln!("bench: refusing to run on database {dbname:?}: its name must contain \"bench\"");
        return ExitCode::FAILURE;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut bench = Bench {
        smoke,
        root,
        database_url,
        report: String::new(),
    };
    match run(&mut bench).await {
        Ok(()) => {
            if let Err(e) = std::fs::write(&out, &bench.report) {
                eprintln!("bench: cannot write {}: {e}", out.display());
                return ExitCode::FAILURE;
            }
            eprintln!("bench: wrote {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(bench: &mut Bench) -> Result<(), String> {
    let db = shared::db::Db::new(bench.config(4)?.database).map_err(|e| e.to_string())?;
    let mut client = db.dedicated_client().await.map_err(|e| e.to_string())?;
    shared::migrate::run(&mut client)
        .await
        .map_err(|e| e.to_string())?;
    let section = |name: &'static str| move |e: String| format!("{name}: {e}");
    header(bench).await.map_err(section("header"))?;
    handlers_vs_floor(bench)
        .await
        .map_err(section("handlers"))?;
    auth_costs(bench).await.map_err(section("auth"))?;
    round_trips(bench).await.map_err(section("round trips"))?;
    cold_start(bench).await.map_err(section("cold start"))?;
    scale::run(bench).await.map_err(section("scale"))?;
    load::run(bench).await.map_err(section("load"))?;
    sizes(bench).map_err(section("size"))?;
    bench.line(include_str!("../why.md").trim_end());
    Ok(())
}

fn command_output(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

async fn header(bench: &mut Bench) -> Result<(), String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or_else(|| "?".into(), |kb| format!("{:.0}", kb / 1024.0 / 1024.0));
    let app = bench.app(4)?;
    let version = app
        .db
        .query("SELECT version()", &[])
        .await
        .map_err(|e| e.to_string())?
        .first()
        .and_then(|r| r.try_get::<_, String>(0).ok())
        .unwrap_or_default();
    let postgres = version.split(" on ").next().unwrap_or(&version).to_owned();
    bench.line("# Benchmarks");
    bench.line("");
    if bench.smoke {
        bench.line("**Smoke run: a handful of iterations to keep the code working; the figures mean nothing.**");
        bench.line("");
    }
    bench.line(
        "Reproduce with `make bench` (scripts/bench.sh): a private PostgreSQL with a database of",
    );
    bench
        .line("its own, release builds, `cargo lambda watch --release` and wrk, then this report.");
    bench.line("");
    bench.line(format!(
        "- Machine: {cpu}, {} cores, {memory_gib} GiB",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    ));
    bench.line(format!(
        "- {}; {postgres} on the same machine (unix loopback TCP, fsync off)",
        command_output("rustc", &["-V"])
    ));
    bench.line(format!(
        "- {}",
        command_output("cargo", &["lambda", "--version"])
    ));
    bench.line("- Times are min / median / p99 over the stated number of runs, after warm-up.");
    Ok(())
}

fn ratio(handler: &Summary, floor: &Summary) -> f64 {
    handler.median.as_secs_f64() / floor.median.as_secs_f64()
}

async fn handlers_vs_floor(bench: &mut Bench) -> Result<(), String> {
    let app = bench.app(4)?;
    let n = bench.n(2000);
    let account = app::signup(&app).await?;
    let owner = account.id;
    let token = account.token.clone();
    // The floor is the database work a task request needs, sent as the handler sends it: the
    // session-bound pipeline (BEGIN, session binding, statement, COMMIT).
    let session = app
        .tokens
        .verify(&token)
        .map_err(|e| e.to_string())?
        .session;
    let ids: Vec<i64> = app
        .db
        .query(
            "INSERT INTO tasks (user_id, title) SELECT $1, 'task ' || g FROM generate_series(1, 50) g RETURNING id",
            &[(&owner, Type::UUID)],
        )
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let id = ids[0];
    let mut rows = Vec::new();

    let query = ListQuery::parse(|_| None).map_err(|e| e.to_string())?;
    let list_sql = sql::list(&query);
    let fetch = query.page_size() + 1;
    let (h, f) = time_pair(
        n,
        |_| {
            handlers::list::handle(
                &app,
                app::request(Method::GET, "/api/tasks", Some(&token), None),
            )
        },
        |_| async {
            app.db
                .query_as(
                    owner,
                    session,
                    &list_sql,
                    &[(&owner, Type::UUID), (&fetch, Type::INT8)],
                )
                .await
        },
    )
    .await;
    rows.push(("list (50 tasks)", h, f));

    let (h, f) = time_pair(
        n,
        |_| {
            handlers::get::handle(
                &app,
                app::with_id(
                    app::request(Method::GET, "/api/tasks/x", Some(&token), None),
                    id,
                ),
            )
        },
        |_| async {
            app.db
                .query_as(
                    owner,
                    session,
                    sql::GET,
                    &[(&id, Type::INT8), (&owner, Type::UUID)],
                )
                .await
        },
    )
    .await;
    rows.push(("get", h, f));

    let title = "benchmark task";
    let none: Option<&str> = None;
    let (h, f) = time_pair(
        n,
        |_| {
            handlers::create::handle(
                &app,
                app::request(
                    Method::POST,
                    "/api/tasks",
                    Some(&token),
                    Some(json!({"title": title})),
                ),
            )
        },
        |_| async {
            let params: [Param<'_>; 4] = [
                (&owner, Type::UUID),
                (&title, Type::TEXT),
                (&none, Type::TEXT),
                (&false, Type::BOOL),
            ];
            app.db.query_as(owner, session, sql::CREATE, &params).await
        },
    )
    .await;
    rows.push(("create", h, f));

    let renamed = Some("renamed task");
    let no_bool: Option<bool> = None;
    let (h, f) = time_pair(
        n,
        |_| {
            let req = app::request(
                Method::PUT,
                "/api/tasks/x",
                Some(&token),
                Some(json!({"title": "renamed task"})),
            );
            handlers::update::handle(&app, app::with_id(req, id))
        },
        |_| async {
            let params: [Param<'_>; 6] = [
                (&id, Type::INT8),
                (&owner, Type::UUID),
                (&renamed, Type::TEXT),
                (&false, Type::BOOL),
                (&none, Type::TEXT),
                (&no_bool, Type::BOOL),
            ];
            app.db.query_as(owner, session, sql::UPDATE, &params).await
        },
    )
    .await;
    rows.push(("update", h, f));

    let (h, f) = time_pair(
        n,
        |_| {
            handlers::toggle::handle(
                &app,
                app::with_id(
                    app::request(Method::PATCH, "/api/tasks/x/complete", Some(&token), None),
                    id,
                ),
            )
        },
        |_| async {
            app.db
                .query_as(
                    owner,
                    session,
                    sql::TOGGLE,
                    &[
                        (&id, Type::INT8),
                        (&owner, Type::UUID),
                        (&no_bool, Type::BOOL),
                    ],
                )
                .await
        },
    )
    .await;
    rows.push(("toggle", h, f));

    let victims = (n + n / 10) as i64 * 2;
    let doomed: Vec<i64> = app
        .db
        .query(
            "INSERT INTO tasks (user_id, title) SELECT $1, 'doomed' FROM generate_series(1, $2) RETURNING id",
            &[(&owner, Type::UUID), (&victims, Type::INT8)],
        )
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let (h, f) = time_pair(
        n,
        |i| {
            handlers::delete::handle(
                &app,
                app::with_id(
                    app::request(Method::DELETE, "/api/tasks/x", Some(&token), None),
                    doomed[2 * i],
                ),
            )
        },
        |i| {
            let victim = doomed[2 * i + 1];
            let app = &app;
            async move {
                app.db
                    .query_as(
                        owner,
                        session,
                        sql::DELETE,
                        &[(&victim, Type::INT8), (&owner, Type::UUID)],
                    )
                    .await
            }
        },
    )
    .await;
    rows.push(("delete", h, f));

    bench.line("");
    bench.line("## Task handlers against the floor");
    bench.line("");
    bench.line(
        "Each handler called in-process with a real `lambda_http` request (token check, parsing,",
    );
    bench.line(
        "SQL, JSON), against its floor: the same database work alone over the same connection (the",
    );
    bench.line(
        "session-bound pipeline: BEGIN, session binding, the statement, COMMIT), timed alternately",
    );
    bench.line(format!(
        "in the same run. {n} runs each. Target: handler median ≤ 1.3 × floor."
    ));
    bench.line("");
    bench.line("| endpoint | handler min | median | p99 | floor min | median | p99 | ratio |");
    bench.line("|---|---|---|---|---|---|---|---|");
    for (name, h, f) in rows {
        let r = ratio(&h, &f);
        bench.line(format!(
            "| {name} | {} | {} | {r:.2}{} |",
            h.row(),
            f.row(),
            if r <= 1.3 { "" } else { " (over)" }
        ));
    }
    Ok(())
}

async fn auth_costs(bench: &mut Bench) -> Result<(), String> {
    let cost = if bench.smoke { 4 } else { 12 };
    let app = bench.app(cost)?;
    let account = app::signup(&app).await?;
    let hash: String = app
        .db
        .query(
            "SELECT password_hash FROM users WHERE id = $1",
            &[(&account.id, Type::UUID)],
        )
        .await
        .map_err(|e| e.to_string())?
        .first()
        .map(|r| r.get(0))
        .ok_or("no hash")?;
    let n = bench.n(30);
    let body = json!({"email": account.email, "password": app::PASSWORD});
    let (signin, verify) = time_pair(
        n,
        |_| {
            handlers::signin::handle(
                &app,
                app::request(Method::POST, "/api/auth/signin", None, Some(body.clone())),
            )
        },
        |_| {
            let hash = hash.clone();
            async move {
                tokio::task::spawn_blocking(move || bcrypt::verify(app::PASSWORD, &hash)).await
            }
        },
    )
    .await;
    let n_jwt = bench.n(100_000);
    let caller = app
        .tokens
        .verify(&account.token)
        .map_err(|e| e.to_string())?;
    let issue = time(n_jwt, |_| async { app.tokens.issue(caller) }).await;
    let token = app.tokens.issue(caller).map_err(|e| e.to_string())?.token;
    let verify_jwt = time(n_jwt, |_| async { app.tokens.verify(&token) }).await;
    let secret_len = bench.config(cost)?.tokens.secret.expose_secret().len();

    bench.line("");
    bench.line("## Passwords and tokens");
    bench.line("");
    bench.line(format!("bcrypt cost {cost}; HS256 with a {secret_len}-byte key. Targets: signin ≤ 1.05 × one verify; JWT verify ≤ 5 µs."));
    bench.line("");
    bench.line("| operation | runs | min | median | p99 | |");
    bench.line("|---|---|---|---|---|---|");
    bench.line(format!(
        "| signin handler | {n} | {} | {:.3} × verify |",
        signin.row(),
        ratio(&signin, &verify)
    ));
    bench.line(format!(
        "| one bcrypt verify (blocking pool) | {n} | {} | |",
        verify.row()
    ));
    bench.line(format!("| JWT issue | {n_jwt} | {} | |", issue.row()));
    bench.line(format!(
        "| JWT verify | {n_jwt} | {} | {} |",
        verify_jwt.row(),
        if verify_jwt.median.as_secs_f64() <= 5e-6 {
            "within target"
        } else {
            "over target"
        }
    ));
    Ok(())
}

async fn round_trips(bench: &mut Bench) -> Result<(), String> {
    let config = bench.config(4)?;
    let upstream = match (
        config.database.get_hosts().first(),
        config.database.get_ports().first(),
    ) {
        (Some(tokio_postgres::config::Host::Tcp(host)), Some(port)) => {
            tokio::net::lookup_host((host.as_str(), *port))
                .await
                .map_err(|e| e.to_string())?
                .next()
                .ok_or("cannot resolve the database host")?
        }
        _ => return Err("the round-trip count needs a TCP DATABASE_URL".into()),
    };
    let (proxy, counter) = proxy::start(upstream).await.map_err(|e| e.to_string())?;
    let mut proxied = config.clone();
    proxied.database = tokio_postgres::Config::from_str(&format!(
        "host=127.0.0.1 port={} user={} dbname={} sslmode=disable",
        proxy.port(),
        config.database.get_user().unwrap_or("postgres"),
        config.database.get_dbname().unwrap_or("postgres"),
    ))
    .map_err(|e| e.to_string())?;
    if let Some(password) = config.database.get_password() {
        proxied.database.password(password);
    }
    let app = App::new(&proxied).map_err(|e| e.to_string())?;
    app.db.warm_up().await;
    counter.take();

    let account = app::signup(&app).await?;
    let signup = counter.take();
    let token = account.token.clone();
    let mut counts = vec![("signup", signup)];
    let body = json!({"email": account.email, "password": app::PASSWORD});
    let _ = handlers::signin::handle(
        &app,
        app::request(Method::POST, "/api/auth/signin", None, Some(body)),
    )
    .await;
    counts.push(("signin", counter.take()));
    let _ = handlers::me::handle(
        &app,
        app::request(Method::GET, "/api/auth/me", Some(&token), None),
    )
    .await;
    counts.push(("me", counter.take()));
    let Ok(created) = handlers::create::handle(
        &app,
        app::request(
            Method::POST,
            "/api/tasks",
            Some(&token),
            Some(json!({"title": "t"})),
        ),
    )
    .await;
    counts.push(("create", counter.take()));
    let id = app::json(created)["id"].as_i64().ok_or("create failed")?;
    let _ = handlers::list::handle(
        &app,
        app::request(Method::GET, "/api/tasks", Some(&token), None),
    )
    .await;
    counts.push(("list", counter.take()));
    let _ = handlers::get::handle(
        &app,
        app::with_id(app::request(Method::GET, "/", Some(&token), None), id),
    )
    .await;
    counts.push(("get", counter.take()));
    let _ = handlers::update::handle(
        &app,
        app::with_id(
            app::request(Method::PUT, "/", Some(&token), Some(json!({"title": "u"}))),
            id,
        ),
    )
    .await;
    counts.push(("update", counter.take()));
    let _ = handlers::toggle::handle(
        &app,
        app::with_id(app::request(Method::PATCH, "/", Some(&token), None), id),
    )
    .await;
    counts.push(("toggle", counter.take()));
    let _ = handlers::delete::handle(
        &app,
        app::with_id(app::request(Method::DELETE, "/", Some(&token), None), id),
    )
    .await;
    counts.push(("delete", counter.take()));
    let _ = handlers::get::handle(
        &app,
        app::with_id(app::request(Method::GET, "/", Some(&token), None), id),
    )
    .await;
    counts.push(("get (not found)", counter.take()));

    bench.line("");
    bench.line("## Database round trips per request");
    bench.line("");
    bench.line(
        "Observed, not assumed: a proxy between the function and PostgreSQL counts the flights of",
    );
    bench.line("`Sync` and `Query` messages the function sends while none is awaiting its `ReadyForQuery`, on a");
    bench.line("warm connection: pipelined requests (BEGIN, session binding, statement, COMMIT) share one.");
    bench.line("Target: exactly one per task request.");
    bench.line("");
    bench.line("| endpoint | round trips |");
    bench.line("|---|---|");
    for (name, count) in counts {
        bench.line(format!("| {name} | {count} |"));
    }
    Ok(())
}

async fn cold_start(bench: &mut Bench) -> Result<(), String> {
    let profile = if bench.smoke { "debug" } else { "release" };
    let runs = bench.n(10);
    let app = bench.app(4)?;
    let account = app::signup(&app).await?;
    let env = vec![
        ("DATABASE_URL", bench.database_url.clone()),
        ("JWT_SECRET", JWT_SECRET.to_owned()),
        ("BCRYPT_COST", "4".to_owned()),
    ];
    let functions: &[&str] = if bench.smoke {
        &["list"]
    } else {
        &["me", "list", "get", "create", "signin"]
    };
    bench.line("");
    bench.line("## Cold start");
    bench.line("");
    bench.line(format!("From exec of the `{profile}` binary to its first answered request, through a minimal Lambda"));
    bench.line(
        "runtime API (bench/src/runtime_api.rs) on loopback, database local. *process* is exec,",
    );
    bench.line("runtime and logging set-up; *config* reading the settings; *connect* the PostgreSQL connection;");
    bench.line(format!("*first request* the handler on the event from `events/`. Medians of {runs} starts. Target ≤ 30 ms."));
    bench.line("");
    bench.line("| function | process | config | connect | first request | total (min / median / p99) | status |");
    bench.line("|---|---|---|---|---|---|---|");
    for name in functions {
        let for_account = |text: &str| {
            text.replace("REPLACE_WITH_TOKEN", &account.token)
                .replace("ada@example.com", &account.email)
        };
        let mut event: serde_json::Value = serde_json::from_str(&for_account(
            &std::fs::read_to_string(bench.root.join(format!("events/{name}.json")))
                .map_err(|e| e.to_string())?,
        ))
        .map_err(|e| e.to_string())?;
        // A body API Gateway sent base64-encoded (signin's) gets the same substitutions inside.
        if event["isBase64Encoded"] == true {
            let body = event["body"].as_str().unwrap_or_default();
            let decoded = B64
                .decode(body)
                .map_err(|e| format!("events/{name}.json: {e}"))?;
            event["body"] = B64
                .encode(for_account(&String::from_utf8_lossy(&decoded)))
                .into();
        }
        let event = event.to_string();
        let binary = bench.root.join(format!("target/{profile}/{name}"));
        let (mut process, mut config, mut connect, mut first, mut total) =
            (vec![], vec![], vec![], vec![], vec![]);
        let mut status = 0;
        for _ in 0..runs {
            let start = runtime_api::measure(&binary, &env, &event)
                .await
                .map_err(|e| format!("{}: {e}", binary.display()))?;
            process.push(start.process);
            config.push(start.config);
            connect.push(start.connect);
            first.push(start.first_request);
            total.push(start.total);
            status = start.status;
        }
        let median = |v: Vec<_>| fmt(Summary::of(v).median);
        let total = Summary::of(total);
        bench.line(format!(
            "| {name} | {} | {} | {} | {} | {} | {status} |",
            median(process),
            median(config),
            median(connect),
            median(first),
            total.row().replace(" | ", " / ")
        ));
    }
    Ok(())
}

fn sizes(bench: &mut Bench) -> Result<(), String> {
    bench.line("");
    bench.line("## Size");
    bench.line("");
    if bench.smoke {
        bench.line("Skipped in a smoke run.");
        return Ok(());
    }
    bench.line("`make package`: arm64, release profile (opt-level z, fat LTO, one codegen unit, panic=abort,");
    bench.line("stripped). Target: every function ≤ 8 MB stripped.");
    bench.line("");
    bench.line("| function | bootstrap (stripped) | zip |");
    bench.line("|---|---|---|");
    let mut names: Vec<String> = std::fs::read_dir(bench.root.join("functions"))
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    let mb = |bytes: u64| format!("{:.2} MB", bytes as f64 / 1e6);
    for name in names {
        let dir = bench.root.join(format!("target/lambda/{name}"));
        let size = |file: &str| {
            std::fs::metadata(dir.join(file))
                .map(|m| m.len())
                .map_err(|e| format!("{}: {e} (run make package)", dir.join(file).display()))
        };
        let (binary, zip) = (size("bootstrap")?, size("bootstrap.zip")?);
        let mut row = String::new();
        let _ = write!(
            row,
            "| {name} | {}{} | {} |",
            mb(binary),
            if binary <= 8_000_000 { "" } else { " (over)" },
            mb(zip)
        );
        bench.line(row);
    }
    Ok(())
}

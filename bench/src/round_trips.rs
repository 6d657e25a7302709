//! Database round trips per request, counted by a protocol-aware proxy.

use std::str::FromStr;

use lambda_http::http::Method;
use serde_json::json;
use shared::App;
use shared::testing::{PASSWORD, call, dispatch, read, signup};

use crate::proxy;
use crate::report::Bench;

pub async fn run(bench: &mut Bench) -> Result<(), String> {
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

    let account = signup(&app).await?;
    let signup = counter.take();
    let token = account.token.clone();
    let mut counts = vec![("signup", signup)];
    let body = json!({"email": account.email, "password": PASSWORD});
    dispatch(&app, "signin", call(Method::POST, "/").json(body).build()).await;
    counts.push(("signin", counter.take()));
    dispatch(&app, "me", call(Method::GET, "/").token(&token).build()).await;
    counts.push(("me", counter.take()));
    let create = call(Method::POST, "/")
        .token(&token)
        .json(json!({"title": "t"}));
    let created = dispatch(&app, "create", create.build()).await;
    counts.push(("create", counter.take()));
    let id = read(created).1["id"].as_i64().ok_or("create failed")?;
    let task = |method| call(method, "/").token(&token).path_param("id", id);
    for (name, endpoint, req) in [
        ("list", "list", call(Method::GET, "/").token(&token)),
        ("get", "get", task(Method::GET)),
        (
            "update",
            "update",
            task(Method::PUT).json(json!({"title": "u"})),
        ),
        ("toggle", "toggle", task(Method::PATCH)),
        ("delete", "delete", task(Method::DELETE)),
        ("get (not found)", "get", task(Method::GET)),
    ] {
        dispatch(&app, endpoint, req.build()).await;
        counts.push((name, counter.take()));
    }

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

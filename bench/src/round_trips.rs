//! Database round trips per request, counted by a protocol-aware proxy.

use std::str::FromStr;

use lambda_http::http::Method;
use serde_json::json;
use shared::App;
use shared::auth::{BetterAuthSettings, JwksTimings};
use shared::testing::key_server::{KeyServer, Signer};
use shared::testing::{PASSWORD, call, dispatch, read, signup};

use crate::report::Bench;
use crate::{network, proxy};

/// The issuer of the Better Auth tokens the count uses.
const BETTER_AUTH: &str = "https://better-auth.bench.invalid";

pub async fn run(bench: &mut Bench) -> Result<(), String> {
    let config = bench.config(4)?;
    let upstream = network::upstream(&bench.database_url).await?;
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
    // Better Auth's tokens too, from a key server on a loopback port: what matters here is the
    // database work a Better Auth caller costs, not where its keys come from.
    let signer = Signer::ed25519("bench");
    let keys = KeyServer::start(KeyServer::publishing(&[&signer]))
        .await
        .map_err(|e| e.to_string())?;
    proxied.better_auth = Some(BetterAuthSettings {
        issuer: BETTER_AUTH.into(),
        audience: BETTER_AUTH.into(),
        jwks_url: keys.url.clone(),
        jwks_timings: JwksTimings::default(),
        max_lifetime: std::time::Duration::from_secs(3600),
    });
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

    // Account recovery. The mail the handlers queue goes out after the answer, off this count.
    app.outbox.take();
    let forgot = |email: &str| call(Method::POST, "/").json(json!({"email": email}));
    dispatch(&app, "forgot", forgot(&account.email).build()).await;
    counts.push(("forgot, an account's address", counter.take()));
    dispatch(&app, "forgot", forgot("nobody@bench.invalid").build()).await;
    counts.push(("forgot, no account's", counter.take()));
    let reset = link_token(&app, "reset-password")?;
    let body = json!({"token": reset, "new_password": "a new bench passphrase"});
    dispatch(&app, "reset", call(Method::POST, "/").json(body).build()).await;
    counts.push(("reset", counter.take()));
    let fresh = shared::testing::signup(&app).await?;
    let verification = link_token(&app, "verify-email")?;
    counter.take();
    let resend = call(Method::POST, "/").token(&fresh.token);
    dispatch(&app, "resend", resend.build()).await;
    counts.push(("resend", counter.take()));
    let body = json!({"token": verification});
    dispatch(&app, "verify", call(Method::POST, "/").json(body).build()).await;
    counts.push(("verify", counter.take()));
    let body = json!({"new_email": shared::testing::unique_email(), "password": PASSWORD});
    let change = call(Method::POST, "/").token(&fresh.token).json(body);
    dispatch(&app, "email", change.build()).await;
    counts.push(("email (change)", counter.take()));

    // A Better Auth user: their first request creates their row, in the binding statement.
    let subject = uuid::Uuid::new_v4().simple().to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let better_auth_token = signer.sign(&json!({
        "sub": subject, "iss": BETTER_AUTH, "aud": BETTER_AUTH, "iat": now, "exp": now + 900,
        "email": format!("{subject}@example.com"), "name": "Bench",
    }));
    let token = better_auth_token.as_str();
    let create = call(Method::POST, "/")
        .token(token)
        .json(json!({"title": "t"}));
    let created = dispatch(&app, "create", create.build()).await;
    counts.push(("create, a Better Auth user's first request", counter.take()));
    let id = read(created).1["id"]
        .as_i64()
        .ok_or("Better Auth create failed")?;
    let task = |method| call(method, "/").token(token).path_param("id", id);
    for (name, endpoint, req) in [
        ("me, Better Auth", "me", call(Method::GET, "/").token(token)),
        (
            "list, Better Auth",
            "list",
            call(Method::GET, "/").token(token),
        ),
        ("get, Better Auth", "get", task(Method::GET)),
        ("toggle, Better Auth", "toggle", task(Method::PATCH)),
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
    bench.line("Target: exactly one per task request, for a Better Auth user seen before too.");
    bench.line("");
    bench.line("| endpoint | round trips |");
    bench.line("|---|---|");
    for (name, count) in counts {
        bench.line(format!("| {name} | {count} |"));
    }
    Ok(())
}

/// The token of the last link to `page` the app queued.
fn link_token(app: &App, page: &str) -> Result<String, String> {
    app.outbox
        .take()
        .into_iter()
        .rev()
        .find_map(|mail| match mail.kind {
            shared::mail::MailKind::ResetPassword { link }
            | shared::mail::MailKind::VerifyAddress { link } => link
                .split_once(&format!("/{page}?token="))
                .map(|(_, token)| token.to_owned()),
            _ => None,
        })
        .ok_or_else(|| format!("no {page} link was queued"))
}

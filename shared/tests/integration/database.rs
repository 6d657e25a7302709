//! The connection under faults, TLS set-up, and migrations, against the real PostgreSQL.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::relay::Relay;
use crate::support::*;
use shared::App;
use shared::auth::Caller;
use shared::db::{Db, Statement};
use shared::handlers::{list, me};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

async fn list_status(app: &App, account: &Account) -> StatusCode {
    let req = call(Method::GET, "/api/tasks")
        .token(&account.token)
        .build();
    let Ok(response) = list::handle(app, req).await;
    response.status()
}

async fn backend_pids(application_name: &str) -> Vec<i32> {
    admin()
        .await
        .query(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
            &[&application_name],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test]
async fn a_connection_closed_by_the_server_is_replaced_and_the_request_still_succeeds() {
    let name = format!("reconnect-{}", Uuid::new_v4().simple());
    let mut settings = config();
    settings.database.application_name(&name);
    let app = App::new(&settings).unwrap();
    let account = signup(&app).await;
    assert_eq!(list_status(&app, &account).await, StatusCode::OK);
    let before = backend_pids(&name).await;
    assert_eq!(before.len(), 1, "one connection per execution environment");

    // What Neon does to an idle compute's connections when it suspends.
    let admin = admin().await;
    admin
        .execute("SELECT pg_terminate_backend($1)", &[&before[0]])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;

    assert_eq!(list_status(&app, &account).await, StatusCode::OK);
    let after = backend_pids(&name).await;
    assert_eq!(after.len(), 1);
    assert_ne!(after, before, "a new connection serves the request");
}

#[tokio::test]
async fn a_create_whose_commit_reply_is_lost_answers_503_and_is_not_sent_again() {
    let relay = Relay::start();
    let mut settings = config();
    settings.database = relay.config();
    let app = App::new(&settings).unwrap();
    let account = signup(&app).await;

    relay.lose_commit_reply();
    let create = call(Method::POST, "/api/tasks")
        .token(&account.token)
        .json(json!({"title": "exactly once"}));
    assert_error(
        send(&app, "create", create).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    );
    assert_eq!(
        tasks_owned_by(account.id).await,
        1,
        "the server committed once; a resend would have made two"
    );

    assert_eq!(list_status(&app, &account).await, StatusCode::OK);
    assert_eq!(
        relay.connections(),
        2,
        "the next request has a new connection"
    );
}

#[tokio::test]
async fn a_connection_dropped_while_idle_is_checked_and_replaced_before_the_work() {
    let relay = Relay::start();
    let db = Db::new(relay.config())
        .unwrap()
        .with_alive_window(Duration::ZERO);
    db.query(&Statement::new("SELECT 1")).await.unwrap();

    // No await between the cut and the next call: as in a frozen execution environment, the
    // connection has not yet noticed.
    relay.cut_all();
    let rows = db.query(&Statement::new("SELECT 2")).await.unwrap();
    assert_eq!(rows[0].get::<_, i32>(0), 2);
    assert_eq!(relay.connections(), 2);
}

#[tokio::test]
async fn a_connection_lost_within_the_alive_window_fails_that_call_only() {
    let relay = Relay::start();
    let db = Db::new(relay.config())
        .unwrap()
        .with_alive_window(Duration::from_secs(3600));
    db.query(&Statement::new("SELECT 1")).await.unwrap();

    relay.cut_all();
    let error = db.query(&Statement::new("SELECT 2")).await.unwrap_err();
    assert!(error.is_unavailable(), "{error}");
    let rows = db.query(&Statement::new("SELECT 3")).await.unwrap();
    assert_eq!(rows[0].get::<_, i32>(0), 3);
    assert_eq!(relay.connections(), 2);
}

#[tokio::test]
async fn an_unreachable_database_answers_503_quickly_without_details() {
    let (app, token, closed_port) = app_without_database();

    let started = Instant::now();
    let req = call(Method::GET, "/api/auth/me").token(&token).build();
    let Ok(response) = me::handle(&app, req).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let body = assert_error(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    let text = body.to_string();
    for leak in [
        "127.0.0.1",
        "secret",
        "nobody",
        "refused",
        &closed_port.to_string(),
    ] {
        assert!(!text.contains(leak), "{leak} leaked: {text}");
    }
}

/// A database at `listener` that holds every connection without a word (a compute still waking)
/// until `awake` is set, then forwards each new one to the test database. Counts connections.
fn waking_database(listener: tokio::net::TcpListener, awake: Arc<AtomicBool>) -> Arc<AtomicUsize> {
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let database = config().database;
    let host = match &database.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(host) => host.clone(),
        other => panic!("the test database is not on TCP: {other:?}"),
    };
    let upstream = format!("{host}:{}", database.get_ports()[0]);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut client, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            if !awake.load(Ordering::SeqCst) {
                held.push(client);
                continue;
            }
            let upstream = upstream.clone();
            tokio::spawn(async move {
                if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    accepted
}

/// The test database's settings with the database at 127.0.0.1:`port` instead.
fn database_at(port: u16) -> shared::config::Config {
    let mut settings = config();
    let database = &settings.database;
    settings.database = format!(
        "postgres://{}:{}@127.0.0.1:{port}/{}?sslmode=disable&connect_timeout=1",
        database.get_user().unwrap_or_default(),
        String::from_utf8_lossy(database.get_password().unwrap_or_default()),
        database.get_dbname().unwrap_or_default(),
    )
    .parse()
    .unwrap();
    settings
}

#[tokio::test]
async fn a_database_that_does_not_answer_is_tried_again_only_after_a_backoff_meanwhile_503_with_retry_after()
 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let awake = Arc::new(AtomicBool::new(false));
    let accepted = waking_database(listener, awake.clone());
    let account = signup(&app()).await;
    let mut settings = database_at(port);
    settings.statement_timeout = Duration::from_millis(800);
    let app = App::new(&settings).unwrap();
    let me = || {
        call(Method::GET, "/api/auth/me")
            .token(&account.token)
            .build()
    };

    // The first request waits out its deadline; the next is answered at once, without trying.
    let started = Instant::now();
    let Ok(response) = me::handle(&app, me()).await;
    assert!(started.elapsed() >= Duration::from_millis(800));
    assert_eq!(response.headers()["retry-after"], "1");
    assert_error(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    let started = Instant::now();
    let Ok(response) = me::handle(&app, me()).await;
    assert!(started.elapsed() < Duration::from_millis(100));
    assert_eq!(response.headers()["retry-after"], "1");
    assert_error(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    // Awake now, but within the backoff no one connects yet; after it, the next request does.
    awake.store(true, Ordering::SeqCst);
    let Ok(response) = me::handle(&app, me()).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let Ok(response) = me::handle(&app, me()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_database_that_refused_a_connection_is_tried_again_by_the_very_next_request() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let account = signup(&app()).await;
    let app = App::new(&database_at(port)).unwrap();
    let me = || {
        call(Method::GET, "/api/auth/me")
            .token(&account.token)
            .build()
    };

    let Ok(response) = me::handle(&app, me()).await;
    assert_eq!(response.headers()["retry-after"], "1");
    assert_error(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    // Back (a server restarted): a refusal cost nothing, so no backoff holds the next request.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let accepted = waking_database(listener, Arc::new(AtomicBool::new(true)));
    let Ok(response) = me::handle(&app, me()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn sslmode_require_negotiates_tls_and_sends_the_host_name_as_sni() {
    // A fake server: answers the SSLRequest with 'S' and keeps the TLS ClientHello.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut ssl_request = [0u8; 8];
        socket.read_exact(&mut ssl_request).await.unwrap();
        socket.write_all(b"S").await.unwrap();
        let mut hello = vec![0u8; 4096];
        let n = socket.read(&mut hello).await.unwrap();
        hello.truncate(n);
        (ssl_request, hello)
    });
    let mut settings = config();
    settings.database =
        format!("postgres://u:p@localhost:{port}/db?sslmode=require&connect_timeout=2")
            .parse()
            .unwrap();
    let db = shared::db::Db::new(settings.database).unwrap();
    assert!(
        db.dedicated_client().await.is_err(),
        "the fake server speaks no TLS"
    );

    let (ssl_request, hello) = server.await.unwrap();
    assert_eq!(
        ssl_request,
        [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f],
        "PostgreSQL SSLRequest"
    );
    assert_eq!(hello[0], 0x16, "a TLS handshake record");
    assert!(
        hello.windows(b"localhost".len()).any(|w| w == b"localhost"),
        "SNI names the host"
    );
}

#[tokio::test]
async fn migrations_are_recorded_and_running_them_again_applies_nothing() {
    let _ = app(); // migrates once for this test binary
    let mut client = admin().await;
    assert_eq!(
        shared::migrate::run(&mut client).await.unwrap(),
        Vec::<String>::new()
    );
    let recorded: i64 = client
        .query_one(
            "SELECT count(*) FROM refinery_schema_history WHERE name = 'users_and_tasks'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(recorded, 1);
}

#[tokio::test]
async fn a_stuck_statement_answers_503_at_the_deadline_and_changes_nothing() {
    let mut settings = config();
    settings.statement_timeout = Duration::from_millis(500);
    let app = App::new(&settings).unwrap();
    let account = signup(&app).await;
    let task = create_task(&app, &account, json!({"title": "locked"})).await;
    let id = task["id"].as_i64().unwrap();

    // Another transaction holds the row: the toggle waits on its lock.
    let mut holder = admin().await;
    let lock = holder.transaction().await.unwrap();
    lock.execute("SELECT 1 FROM tasks WHERE id = $1 FOR UPDATE", &[&id])
        .await
        .unwrap();
    let started = Instant::now();
    let response = send(
        &app,
        "toggle",
        call(Method::PATCH, &format!("/api/tasks/{id}/complete"))
            .token(&account.token)
            .path_param("id", id),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_error(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    // The timed-out statement is cancelled on the server before the lock is released.
    tokio::time::sleep(Duration::from_millis(500)).await;
    lock.rollback().await.unwrap();

    let (status, body) = read(
        send(
            &app,
            "get",
            call(Method::GET, &format!("/api/tasks/{id}"))
                .token(&account.token)
                .path_param("id", id),
        )
        .await,
    );
    assert_eq!(
        status,
        StatusCode::OK,
        "a new connection serves the next request"
    );
    assert_eq!(
        body["completed"], false,
        "the cancelled toggle left no trace"
    );
}

#[tokio::test]
async fn a_server_that_accepts_but_never_answers_gets_503_at_the_deadline() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let mut settings = config();
    settings.database = format!("postgres://u:p@127.0.0.1:{port}/db?sslmode=disable")
        .parse()
        .unwrap();
    settings.statement_timeout = Duration::from_secs(1);
    let app = App::new(&settings).unwrap();
    let caller = Caller::new(Uuid::new_v4(), Uuid::new_v4());
    let token = app.tokens.issue(caller).unwrap().token;
    for _ in 0..2 {
        let started = Instant::now();
        let response = send(&app, "list", call(Method::GET, "/api/tasks").token(&token)).await;
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert_error(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    }
}

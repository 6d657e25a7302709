//! What the integration tests share: an `App` on the real PostgreSQL in `DATABASE_URL` (the
//! functions' role), migrated once per run through `MIGRATION_DATABASE_URL` (the owner;
//! `DATABASE_URL` when unset), fresh users, and request/response helpers.

use std::sync::OnceLock;

use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::{Body, Response};
use serde_json::Value;
use shared::App;
use shared::config::Config;
use uuid::Uuid;

pub use lambda_http::http::{Method, StatusCode};
pub use serde_json::json;
pub use shared::testing::{Account, Call, PASSWORD, call, dispatch, read, unique_email};

pub const JWT_SECRET: &str = "integration-tests-secret-of-at-least-32-bytes";

/// The test settings: the real database, a known secret, and bcrypt's lowest cost for speed.
pub fn config() -> Config {
    let url = std::env::var("DATABASE_URL")
        .expect("DATABASE_URL must point at a PostgreSQL database (`make test` starts one)");
    Config::from_lookup(|name| match name {
        "DATABASE_URL" => Some(url.clone()),
        "JWT_SECRET" => Some(JWT_SECRET.into()),
        "BCRYPT_COST" => Some("4".into()),
        _ => None,
    })
    .unwrap()
}

/// The owner's connection, for what the functions' role may not do: set-up and inspection.
pub async fn admin() -> tokio_postgres::Client {
    let url = std::env::var("MIGRATION_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap();
    let db = shared::db::Db::new(url.parse().unwrap()).unwrap();
    db.dedicated_client().await.unwrap()
}

/// How many tasks `user` has, counted as the owner, whom row-level security does not filter.
pub async fn tasks_owned_by(user: Uuid) -> i64 {
    admin()
        .await
        .query_one("SELECT count(*) FROM tasks WHERE user_id = $1", &[&user])
        .await
        .unwrap()
        .get(0)
}

/// A fresh `App` for one test. Each test has its own runtime, so its own connection too.
pub fn app() -> App {
    static MIGRATED: OnceLock<()> = OnceLock::new();
    MIGRATED.get_or_init(|| {
        std::thread::spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let mut client = admin().await;
                    shared::migrate::run(&mut client).await.unwrap();
                })
        })
        .join()
        .unwrap()
    });
    App::new(&config()).unwrap()
}

/// An `App` whose database is on a port nothing listens on (user `nobody`, password `secret`,
/// which must never reach a client), a token it accepts, and the port.
pub fn app_without_database() -> (App, String, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut settings = config();
    settings.database = format!(
        "postgres://nobody:secret@127.0.0.1:{closed_port}/none?sslmode=disable&connect_timeout=2"
    )
    .parse()
    .unwrap();
    let app = App::new(&settings).unwrap();
    let caller = shared::auth::Caller::new(Uuid::new_v4(), Uuid::new_v4());
    let token = app.tokens.issue(caller).unwrap().token;
    (app, token, closed_port)
}

/// Sends a request to the named endpoint's handler, as its function would.
pub async fn send(app: &App, endpoint: &str, req: Call) -> Response<Body> {
    dispatch(app, endpoint, req.build()).await
}

/// Asserts a 401 for a token that was sent and refused: RFC 6750's `invalid_token` challenge.
pub fn assert_invalid_token(response: Response<Body>) -> Value {
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized")
}

/// Asserts the contract's error body with `code` and the given status.
pub fn assert_error(response: Response<Body>, status: StatusCode, code: &str) -> Value {
    let content_type = response.headers().get(CONTENT_TYPE).cloned();
    let (got, body) = read(response);
    assert_eq!(got, status, "body: {body}");
    assert_eq!(body["error"]["code"], code, "body: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "body: {body}"
    );
    // Where frontends written for the FastAPI backend read the message.
    assert_eq!(body["detail"], body["error"]["message"], "body: {body}");
    assert_eq!(content_type.unwrap(), "application/json");
    body
}

/// A new account, signed up through the handler.
pub async fn signup(app: &App) -> Account {
    shared::testing::signup(app).await.unwrap()
}

/// Creates a task for `account` and returns its JSON.
pub async fn create_task(app: &App, account: &Account, body: Value) -> Value {
    let req = call(Method::POST, "/api/tasks")
        .token(&account.token)
        .json(body)
        .build();
    let Ok(response) = shared::handlers::create::handle(app, req).await;
    let (status, body) = read(response);
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// Another session of an account's (a second device): its access and refresh token.
pub async fn sign_in(app: &App, email: &str, password: &str) -> (String, String) {
    let (status, body) = read(
        send(
            app,
            "signin",
            call(Method::POST, "/api/auth/signin")
                .json(json!({"email": email, "password": password})),
        )
        .await,
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

/// A new, empty database `name` on the test server (dropped first if a run left it), with the
/// owner's connection to it and the functions' settings for it: for tests of migrations, which
/// need a database at an older version than the one every other test shares.
pub async fn fresh_database(name: &str) -> (tokio_postgres::Client, Config) {
    let admin = admin().await;
    // One at a time: statements sent together form a transaction, which these cannot run in.
    for statement in [
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        "CREATE DATABASE {}",
    ] {
        admin
            .batch_execute(&statement.replace("{}", name))
            .await
            .unwrap();
    }
    let mut owner: tokio_postgres::Config = std::env::var("MIGRATION_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap()
        .parse()
        .unwrap();
    owner.dbname(name);
    let client = shared::db::Db::new(owner)
        .unwrap()
        .dedicated_client()
        .await
        .unwrap();
    let mut settings = config();
    settings.database.dbname(name);
    (client, settings)
}

/// An address of this test's own (documentation range), so tests never share a counter.
pub fn address() -> String {
    let id = Uuid::new_v4().as_u128();
    format!(
        "2001:db8:{:x}:{:x}::{:x}",
        (id >> 16) as u16,
        (id >> 32) as u16,
        id as u16
    )
}

/// An `App` in the middle of a key rotation: `JWT_SECRET` is a new one and the tests' own
/// secret is `JWT_PREVIOUS_SECRET`.
pub fn rotated_app() -> App {
    let _ = app(); // migrated
    let mut settings = config();
    settings.tokens.previous_secret = Some(settings.tokens.secret.clone());
    settings.tokens.secret = "the secret after a rotation, 32 bytes or more".into();
    App::new(&settings).unwrap()
}

/// What the functions log, as Lambda gets it (JSON lines), while a [`capture`] guard lives.
#[derive(Clone, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    pub fn lines(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

/// The functions' JSON logs at `level`, captured on this thread while the guard lives.
pub fn capture(level: &str) -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = shared::logging::json_subscriber(level, move || writer.clone());
    (captured, tracing::subscriber::set_default(subscriber))
}

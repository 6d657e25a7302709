//! What the integration tests share: an `App` on the real PostgreSQL in `DATABASE_URL` (the
//! functions' role), migrated once per run through `MIGRATION_DATABASE_URL` (the owner;
//! `DATABASE_URL` when unset), fresh users, and request/response helpers.

use std::collections::HashMap;
use std::sync::OnceLock;

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::http::header::{AUTHORIZATION, CONTENT_TYPE};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::Value;
use shared::App;
use shared::config::Config;
use uuid::Uuid;

pub use lambda_http::http::{Method, StatusCode};
pub use serde_json::json;

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

/// A request as API Gateway would hand it over.
pub struct Call {
    method: Method,
    path: String,
    path_params: HashMap<String, String>,
    query: HashMap<String, String>,
    headers: Vec<(String, String)>,
    source_ip: Option<String>,
    body: Body,
}

pub fn call(method: Method, path: &str) -> Call {
    Call {
        method,
        path: path.to_owned(),
        path_params: HashMap::new(),
        query: HashMap::new(),
        headers: Vec::new(),
        source_ip: None,
        body: Body::Empty,
    }
}

impl Call {
    pub fn token(self, token: &str) -> Self {
        self.header(AUTHORIZATION.as_str(), &format!("Bearer {token}"))
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The client address API Gateway reports.
    pub fn source_ip(mut self, ip: &str) -> Self {
        self.source_ip = Some(ip.to_owned());
        self
    }

    pub fn json(self, body: Value) -> Self {
        self.header(CONTENT_TYPE.as_str(), "application/json")
            .raw(body.to_string())
    }

    pub fn raw(mut self, body: impl Into<String>) -> Self {
        self.body = Body::Text(body.into());
        self
    }

    pub fn path_param(mut self, name: &str, value: impl ToString) -> Self {
        self.path_params.insert(name.to_owned(), value.to_string());
        self
    }

    pub fn query(mut self, name: &str, value: impl ToString) -> Self {
        self.query.insert(name.to_owned(), value.to_string());
        self
    }

    pub fn build(self) -> Request {
        let mut builder = lambda_http::http::Request::builder()
            .method(self.method.clone())
            .uri(format!("https://api.example.com{}", self.path));
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.http.source_ip = self.source_ip;
        context.request_id = Some(Uuid::new_v4().to_string());
        context.route_key = Some(format!("{} {}", self.method, self.path));
        builder
            .body(self.body)
            .unwrap()
            .with_path_parameters(self.path_params)
            .with_query_string_parameters(self.query)
            .with_request_context(RequestContext::ApiGatewayV2(context))
    }
}

/// Sends a request to the named endpoint's handler, as its function would.
pub async fn send(app: &App, endpoint: &str, req: Call) -> Response<Body> {
    dispatch(app, endpoint, req.build()).await
}

/// Hands a built request (a fixture, say) to the named endpoint's handler.
pub async fn dispatch(app: &App, endpoint: &str, req: Request) -> Response<Body> {
    use shared::handlers::*;
    let Ok(response) = match endpoint {
        "signup" => signup::handle(app, req).await,
        "signin" => signin::handle(app, req).await,
        "refresh" => refresh::handle(app, req).await,
        "signout" => signout::handle(app, req).await,
        "me" => me::handle(app, req).await,
        "list" => list::handle(app, req).await,
        "create" => create::handle(app, req).await,
        "get" => get::handle(app, req).await,
        "update" => update::handle(app, req).await,
        "delete" => delete::handle(app, req).await,
        "toggle" => toggle::handle(app, req).await,
        "fallback" => fallback::handle(req).await,
        other => panic!("no endpoint {other}"),
    };
    response
}

/// Status and JSON body (`Value::Null` for an empty one) of a response.
pub fn read(response: Response<Body>) -> (StatusCode, Value) {
    let status = response.status();
    let bytes: &[u8] = response.body().as_ref();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(bytes).unwrap()
    };
    (status, body)
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

pub fn unique_email() -> String {
    format!("user-{}@example.com", Uuid::new_v4().simple())
}

/// A new account: its id, email, access token and refresh token.
pub struct Account {
    pub id: Uuid,
    pub email: String,
    pub token: String,
    pub refresh_token: String,
}

pub const PASSWORD: &str = "correct horse battery";

pub async fn signup(app: &App) -> Account {
    let email = unique_email();
    let req = call(Method::POST, "/api/auth/signup")
        .json(json!({"email": email, "password": PASSWORD}))
        .build();
    let Ok(response) = shared::handlers::signup::handle(app, req).await;
    let (status, body) = read(response);
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Account {
        id: body["user"]["id"].as_str().unwrap().parse().unwrap(),
        email,
        token: body["token"].as_str().unwrap().to_owned(),
        refresh_token: body["refresh_token"].as_str().unwrap().to_owned(),
    }
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

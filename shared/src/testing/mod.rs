//! Requests as API Gateway hands them over, and accounts made through the real handlers: what
//! the integration tests and the benchmark drive the handlers in-process with. The functions
//! never call it (and LTO leaves it out of their binaries); it lives here, not behind a feature,
//! so every build of the workspace shares one feature set.

pub mod key_server;

use std::collections::HashMap;

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::http::header::{AUTHORIZATION, CONTENT_TYPE};
use lambda_http::http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::App;
use crate::handlers;

/// The password every test and benchmark account signs up with.
pub const PASSWORD: &str = "correct horse battery";

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

/// A request from an address of its own (API Gateway always names one): requests share a
/// throttle's address keys only when a test says so with [`Call::source_ip`].
pub fn call(method: Method, path: &str) -> Call {
    let id = Uuid::new_v4().as_u128();
    Call {
        method,
        path: path.to_owned(),
        path_params: HashMap::new(),
        query: HashMap::new(),
        headers: Vec::new(),
        // The IPv6 documentation range, 2001:db8::/32.
        source_ip: Some(format!(
            "2001:db8:{:x}:{:x}:{:x}::{:x}",
            (id >> 48) as u16,
            (id >> 32) as u16,
            (id >> 16) as u16,
            id as u16
        )),
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

    /// No `sourceIp` in the event, as other payload versions and proxies may send.
    pub fn without_source_ip(mut self) -> Self {
        self.source_ip = None;
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
            .unwrap_or_default()
            .with_path_parameters(self.path_params)
            .with_query_string_parameters(self.query)
            .with_request_context(RequestContext::ApiGatewayV2(context))
    }
}

/// Hands a request to the named endpoint's handler, as that endpoint's function would.
pub async fn dispatch(app: &App, endpoint: &str, req: Request) -> Response<Body> {
    use handlers::*;
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
        "password" => password::handle(app, req).await,
        "sessions" => sessions::handle(app, req).await,
        "revoke" => revoke::handle(app, req).await,
        "account" => account::handle(app, req).await,
        "forgot" => forgot::handle(app, req).await,
        "reset" => reset::handle(app, req).await,
        "verify" => verify::handle(app, req).await,
        "resend" => resend::handle(app, req).await,
        "email" => email::handle(app, req).await,
        "fallback" => fallback::handle(req).await,
        other => panic!("no endpoint {other}"),
    };
    response
}

/// Status and JSON body (`Value::Null` for an empty one) of a response. Every body the API
/// writes is JSON: anything else panics, failing the test.
pub fn read(response: Response<Body>) -> (StatusCode, Value) {
    let status = response.status();
    let bytes: &[u8] = response.body().as_ref();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(bytes)
            .unwrap_or_else(|e| panic!("{status}: the body is not JSON: {e}"))
    };
    (status, body)
}

/// An account made through the signup handler: its id, email, and session's tokens.
pub struct Account {
    pub id: Uuid,
    pub email: String,
    pub token: String,
    pub refresh_token: String,
}

pub fn unique_email() -> String {
    format!("user-{}@example.com", Uuid::new_v4().simple())
}

/// Signs up a new account with [`PASSWORD`], as a client would.
///
/// Not an `async fn` awaiting [`signup_as`]: that would nest one more future in every caller's,
/// and the bench's largest already come close to rustc's query depth limit on a clean build.
pub fn signup(app: &App) -> impl Future<Output = Result<Account, String>> + '_ {
    signup_as(app, unique_email())
}

/// A new account with this email, made through the signup handler.
pub async fn signup_as(app: &App, email: String) -> Result<Account, String> {
    let req = call(Method::POST, "/api/auth/signup")
        .json(json!({"email": email, "password": PASSWORD}))
        .build();
    let (status, body) = read(dispatch(app, "signup", req).await);
    let id = body["user"]["id"].as_str().and_then(|id| id.parse().ok());
    match (
        status,
        id,
        body["token"].as_str(),
        body["refresh_token"].as_str(),
    ) {
        (StatusCode::CREATED, Some(id), Some(token), Some(refresh_token)) => Ok(Account {
            id,
            email,
            token: token.to_owned(),
            refresh_token: refresh_token.to_owned(),
        }),
        _ => Err(format!("signup failed: {status} {body}")),
    }
}

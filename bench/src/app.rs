//! The benchmark's accounts and requests, made through the real handlers.

use lambda_http::http::Method;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::Value;
use shared::App;
use shared::handlers;
use uuid::Uuid;

pub const PASSWORD: &str = "correct horse battery";

pub struct Account {
    pub id: Uuid,
    pub email: String,
    pub token: String,
}

pub fn request(method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Request {
    let mut builder = lambda_http::http::Request::builder()
        .method(method)
        .uri(format!("https://api.example.com{path}"));
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    let body = match body {
        Some(body) => {
            builder = builder.header("content-type", "application/json");
            Body::Text(body.to_string())
        }
        None => Body::Empty,
    };
    builder.body(body).unwrap_or_default()
}

pub fn with_id(req: Request, id: i64) -> Request {
    req.with_path_parameters(
        [("id".to_owned(), id.to_string())]
            .into_iter()
            .collect::<std::collections::HashMap<_, _>>(),
    )
}

pub fn json(response: Response<Body>) -> Value {
    serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null)
}

pub async fn signup(app: &App) -> Result<Account, String> {
    let email = format!("bench-{}@example.com", Uuid::new_v4().simple());
    let req = request(
        Method::POST,
        "/api/auth/signup",
        None,
        Some(serde_json::json!({"email": email, "password": PASSWORD})),
    );
    let Ok(response) = handlers::signup::handle(app, req).await;
    let body = json(response);
    let id = body["user"]["id"].as_str().and_then(|id| id.parse().ok());
    match (id, body["token"].as_str()) {
        (Some(id), Some(token)) => Ok(Account {
            id,
            email,
            token: token.to_owned(),
        }),
        _ => Err(format!("signup failed: {body}")),
    }
}

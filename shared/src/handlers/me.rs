//! `GET /api/auth/me` → 200 `{"user"}`: how the frontend restores a session from its token.

use std::convert::Infallible;

use serde_json::json;

use crate::App;
use crate::error::Result;
use crate::http::{Body, Method, Request, Response, StatusCode, json, respond};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    respond(req, &[Method::GET], |req| me(app, req)).await
}

async fn me(app: &App, req: Request) -> Result<Response<Body>> {
    let identity = super::identity_behind(app, &req, super::Gate::AnyEmail).await?;
    let user = identity.user(&app.db).await?;
    json(StatusCode::OK, &json!({ "user": user }))
}

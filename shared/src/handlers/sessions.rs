//! `GET /api/auth/sessions` → 200, a bare array of the caller's live sessions:
//! `{"id", "created_at", "last_used_at", "current"}`, the most recently used first.

use std::convert::Infallible;

use crate::App;
use crate::error::Result;
use crate::http::{Body, Method, Request, Response, StatusCode, json, respond};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    respond(req, &[Method::GET], |req| list(app, req)).await
}

async fn list(app: &App, req: Request) -> Result<Response<Body>> {
    let caller = super::caller(app, &req).await?;
    let sessions = crate::sessions::list(&app.db, caller).await?;
    json(StatusCode::OK, &sessions)
}

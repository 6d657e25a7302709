//! `GET /api/auth/me` → 200 `{"user"}`: how the frontend restores a session from its token.

use std::convert::Infallible;

use serde_json::json;

use crate::App;
use crate::auth::authenticate;
use crate::error::{Error, Result};
use crate::http::{Body, Method, Request, Response, StatusCode, json, respond};
use crate::{sessions, users};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    respond(req, &[Method::GET], |req| me(app, req)).await
}

async fn me(app: &App, req: Request) -> Result<Response<Body>> {
    let caller = authenticate(&app.tokens, &req)?;
    let user = users::find_for_session(&app.db, caller)
        .await?
        .ok_or(Error::invalid_token(sessions::ENDED))?;
    json(StatusCode::OK, &json!({ "user": user }))
}

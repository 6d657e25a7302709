//! `POST /api/auth/refresh` `{"refresh_token"}` → 200 session: a new access token and the next
//! refresh token. Each refresh token works once; presenting a spent one ends its session.

use std::convert::Infallible;

use serde::Deserialize;

use crate::App;
use crate::auth::RefreshToken;
use crate::error::{Error, Result};
use crate::http::{Body, Method, Request, Response, StatusCode, json_body, respond};
use crate::sessions;
use crate::validation::{FieldErrors, required};

#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: Option<String>,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    respond(req, &[Method::POST], |req| refresh(app, req)).await
}

async fn refresh(app: &App, req: Request) -> Result<Response<Body>> {
    let body: RefreshBody = json_body(&req)?;
    let mut errors = FieldErrors::default();
    let Some(token) = errors.check("refresh_token", required(body.refresh_token)) else {
        return Err(Error::Validation(errors));
    };
    let presented = RefreshToken::presented(&token)?;
    let (user, issued) = sessions::refresh(&app.db, &presented, app.sessions).await?;
    super::session(app, user, &issued, StatusCode::OK)
}

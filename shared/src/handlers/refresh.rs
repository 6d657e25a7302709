//! `POST /api/auth/refresh` `{"refresh_token"}` → 200 session: a new access token and the next
//! refresh token. Each refresh token works once; presenting a spent one ends its session, unless
//! it was spent within the reuse window (10 s): then it gets the same successor again.

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

impl TryFrom<RefreshBody> for RefreshToken {
    type Error = Error;

    fn try_from(body: RefreshBody) -> Result<Self> {
        match required(body.refresh_token) {
            Ok(token) => RefreshToken::presented(&token),
            Err(problem) => Err(Error::Validation(FieldErrors::single(
                "refresh_token",
                problem,
            ))),
        }
    }
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    respond(req, &[Method::POST], |req| refresh(app, req)).await
}

async fn refresh(app: &App, req: Request) -> Result<Response<Body>> {
    let presented: RefreshToken = json_body::<RefreshBody>(&req)?.try_into()?;
    let (user, issued) =
        sessions::refresh(&app.db, &presented, &app.successors, app.sessions).await?;
    super::session(app, user, &issued, None, StatusCode::OK)
}

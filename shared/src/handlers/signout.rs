//! `POST /api/auth/signout` → 204: ends the caller's session. Its access token is refused from
//! the next request on, and its refresh token never works again.

use std::convert::Infallible;

use crate::error::Result;
use crate::http::{Body, Method, Request, Response, no_content, respond};
use crate::sessions;
use crate::{App, events};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    respond(req, &[Method::POST], |req| signout(app, req)).await
}

async fn signout(app: &App, req: Request) -> Result<Response<Body>> {
    let caller = super::caller_behind(app, &req, super::Gate::AnyEmail).await?;
    sessions::end(&app.db, caller).await?;
    events::sessions_revoked("this", Some(1));
    Ok(no_content())
}

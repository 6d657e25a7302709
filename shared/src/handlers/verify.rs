//! `POST /api/auth/email/verify` `{"token"}` → 204: a verification link's token proves the
//! account's address; an address-change link's moves the account to the new address (if no
//! other account took it meanwhile: 409 `email_taken`). No session needed: the link is the
//! proof. A wrong, used, expired or replaced link is 422 on `token`.

use std::convert::Infallible;

use serde::Deserialize;

use crate::App;
use crate::error::{Error, Result};
use crate::http::{Body, Method, Request, Response, json_body, no_content, respond};
use crate::links;
use crate::validation::{FieldErrors, required};

#[derive(Deserialize)]
struct VerifyBody {
    token: Option<String>,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    respond(req, &[Method::POST], |req| verify(app, req)).await
}

async fn verify(app: &App, req: Request) -> Result<Response<Body>> {
    let body: VerifyBody = json_body(&req)?;
    let token = required(body.token)
        .map_err(|problem| Error::Validation(FieldErrors::single("token", problem)))?;
    links::spend_verification(&app.db, &links::presented(&token)?).await?;
    Ok(no_content())
}

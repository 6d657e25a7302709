//! `POST /api/auth/password/forgot` `{"email"}` → 202 `{"detail"}`, the same answer, in the same
//! time, whoever the address belongs to: a password account gets a reset link at
//! `{APP_URL}/reset-password` (within the mail limits); no account, a Better Auth user (who has
//! no password here) and an address over its limit get nothing. One statement decides and
//! issues, and the mail goes out after the answer (see `crate::mail`), so neither the answer nor
//! its time tells them apart (OWASP's Forgot Password Cheat Sheet).

use std::convert::Infallible;

use serde::Deserialize;
use serde_json::json;

use crate::App;
use crate::error::{Error, Result};
use crate::http::{Body, Method, Request, Response, StatusCode, json, json_body, respond};
use crate::links::{self, LinkToken, Purpose};
use crate::mail::MailKind;
use crate::users::Email;
use crate::validation::{FieldErrors, required};

#[derive(Deserialize)]
struct ForgotBody {
    email: Option<String>,
}

/// What every accepted request is told.
pub const ACCEPTED: &str =
    "if an account uses this address, a link to reset its password is on its way";

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    respond(req, &[Method::POST], |req| forgot(app, req)).await
}

async fn forgot(app: &App, req: Request) -> Result<Response<Body>> {
    let body: ForgotBody = json_body(&req)?;
    let email = required(body.email)
        .and_then(|e| Email::parse(&e))
        .map_err(|problem| Error::Validation(FieldErrors::single("email", problem)))?;
    let token = LinkToken::generate()?;
    let keys = app.throttle.mail_keys(Purpose::Reset, email.as_str());
    let ttl = app.email.reset_ttl_seconds;
    if let Some(recipient) = links::issue_reset(&app.db, &email, keys, &token, ttl).await? {
        let link = app.link("reset-password", &token);
        app.mail(
            &recipient.email,
            recipient.user,
            MailKind::ResetPassword { link },
        );
    }
    json(StatusCode::ACCEPTED, &json!({ "detail": ACCEPTED }))
}

//! `POST /api/auth/password/forgot` `{"email"}` → 202 `{"detail"}`, the same answer, in the same
//! time, whoever the address belongs to: a password account gets a reset link at
//! `{APP_URL}/reset-password` (within the mail limits); no account, a Better Auth user (who has
//! no password here) and an address over its limit get nothing, nor does anyone while the
//! client's own address is over its allowance of requests (`RESET_REQUESTS_PER_ADDRESS` an
//! hour, counted in `throttles`: one client cannot mail every account it can name). One
//! statement decides and issues, and the mail goes out after the answer (see `crate::mail`).
//! Issuing a link still writes a little more than finding nothing (a fraction of a millisecond,
//! which many samples could tell apart), so every accepted request is answered [`ANSWER_AFTER`]
//! after it arrived, whatever the address and whichever limit held: neither the answer nor its
//! time says who has an account (OWASP's Forgot Password Cheat Sheet).

use std::convert::Infallible;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use crate::error::{Error, Result};
use crate::http::{
    Body, Method, Request, Response, StatusCode, json, json_body, respond, source_address,
};
use crate::links::{self, LinkToken, Purpose};
use crate::mail::MailKind;
use crate::users::Email;
use crate::validation::{FieldErrors, required};
use crate::{App, events, throttle};

#[derive(Deserialize)]
struct ForgotBody {
    email: Option<String>,
}

/// When every accepted request is answered, counted from its arrival: well past the statement's
/// time on a loaded database across a network, and nothing a person waiting on a form notices.
pub const ANSWER_AFTER: Duration = Duration::from_millis(150);

/// What every accepted request is told.
pub const ACCEPTED: &str =
    "if an account uses this address, a link to reset its password is on its way";

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    respond(req, &[Method::POST], |req| forgot(app, req)).await
}

async fn forgot(app: &App, req: Request) -> Result<Response<Body>> {
    let arrived = tokio::time::Instant::now();
    let body: ForgotBody = json_body(&req)?;
    let email = required(body.email)
        .and_then(|e| Email::parse(&e))
        .map_err(|problem| Error::Validation(FieldErrors::single("email", problem)))?;
    if within_allowance(app, &req).await? {
        issue(app, &email).await?;
    }
    tokio::time::sleep_until(arrived + ANSWER_AFTER).await;
    json(StatusCode::ACCEPTED, &json!({ "detail": ACCEPTED }))
}

/// Counts the request against its client's address; past the allowance it is answered as any
/// other (logged as throttled) and mails nothing.
async fn within_allowance(app: &App, req: &Request) -> Result<bool> {
    let keys = app.throttle.reset_request_keys(source_address(req));
    match throttle::attempt(&app.db, &keys).await {
        Ok(()) => Ok(true),
        Err(Error::RateLimited { retry_after, by }) => {
            events::throttled(&by, retry_after);
            Ok(false)
        }
        Err(other) => Err(other),
    }
}

/// A reset link to `email`'s account, if it has a password and its mail limits allow.
async fn issue(app: &App, email: &Email) -> Result<()> {
    let token = LinkToken::generate()?;
    let keys = app.throttle.mail_keys(Purpose::Reset, email.as_str());
    let ttl = app.email.reset_ttl_seconds;
    if let Some(recipient) = links::issue_reset(&app.db, email, keys, &token, ttl).await? {
        let link = app.link("reset-password", &token);
        app.mail(
            &recipient.email,
            recipient.user,
            MailKind::ResetPassword { link },
        );
    }
    Ok(())
}

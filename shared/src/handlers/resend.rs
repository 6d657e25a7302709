//! `POST /api/auth/email/verify/resend` (signed in) → 202 `{"detail"}`: a new verification link
//! to the account's address, unless it is verified already or over its mail limits (then
//! nothing is sent, and the answer is the same). Open to unverified accounts under
//! `REQUIRE_VERIFIED_EMAIL`: it is how they get through.

use std::convert::Infallible;

use serde_json::json;

use crate::App;
use crate::error::Result;
use crate::http::{Body, Method, Request, Response, StatusCode, json, respond};
use crate::links::{self, LinkToken, Purpose};
use crate::mail::MailKind;

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    respond(req, &[Method::POST], |req| resend(app, req)).await
}

async fn resend(app: &App, req: Request) -> Result<Response<Body>> {
    let caller = super::caller_behind(app, &req, super::Gate::AnyEmail).await?;
    let user = crate::sessions::user(&app.db, caller).await?;
    if !user.email_verified
        && let Some(email) = &user.email
    {
        let token = LinkToken::generate()?;
        let keys = app.throttle.mail_keys(Purpose::Verify, email);
        let ttl = app.email.verify_ttl_seconds;
        if let Some(to) = links::issue_verification(&app.db, caller, keys, &token, ttl).await? {
            let link = app.link("verify-email", &token);
            app.mail(&to.email, to.user, MailKind::VerifyAddress { link });
        }
    }
    let detail = "unless the address is verified already, a new link is on its way";
    json(StatusCode::ACCEPTED, &json!({ "detail": detail }))
}

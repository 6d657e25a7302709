//! `POST /api/auth/password/reset` `{"token", "new_password"}` → 204. The token is a reset
//! link's; the new password follows signup's rules. At once: the password is replaced, every
//! session of the account ends (access and refresh tokens refused from the next request), its
//! device tokens and its account-wide signin count are cleared, its address counts as verified
//! (the link came to it), and a notice goes to the address. A wrong, used, expired or replaced
//! link is 422 on `token`, and nothing changes.

use std::convert::Infallible;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::http::{Body, Method, Request, Response, json_body, no_content, respond};
use crate::links;
use crate::mail::MailKind;
use crate::users::{Email, NewPassword};
use crate::validation::{FieldErrors, required};
use crate::{App, events};

#[derive(Deserialize)]
struct ResetBody {
    token: Option<String>,
    new_password: Option<String>,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    respond(req, &[Method::POST], |req| reset(app, req)).await
}

async fn reset(app: &App, req: Request) -> Result<Response<Body>> {
    let body: ResetBody = json_body(&req)?;
    let mut errors = FieldErrors::default();
    let token = errors.check("token", required(body.token));
    let password = errors.check("new_password", required(body.new_password));
    let (Some(token), Some(password)) = (token, password) else {
        return Err(Error::Validation(errors));
    };
    let token = links::presented(&token)?;
    // Signup's rules, with the account's email and name as what it must not be built from.
    let (email, name) = links::reset_account(&app.db, &token).await?;
    let context: Vec<&str> = [Some(email.as_str()), name.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    let password = NewPassword::parse(password, &context)
        .map_err(|problem| Error::Validation(FieldErrors::single("new_password", problem)))?;
    let hash = app.passwords.hash(password.secret()).await?;
    // An address stored before today's rules has no signin count of its own to forget.
    let throttle_keys = Email::parse(&email)
        .map(|parsed| app.throttle.account_key_names(&parsed))
        .unwrap_or_default();
    let recipient = links::spend_reset(&app.db, &token, &hash, &email, throttle_keys).await?;
    events::about(recipient.user);
    events::password_changed("reset");
    events::sessions_revoked("all", None);
    app.mail(&recipient.email, recipient.user, MailKind::PasswordChanged);
    Ok(no_content())
}

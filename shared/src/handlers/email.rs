//! `POST /api/auth/email` `{"new_email", "password"}` (signed in) → 202 `{"detail"}`: a link to
//! the new address, which moves the account there when used (`POST /api/auth/email/verify`),
//! if no other account has it by then; a notice to the current address. Nothing changes until
//! the link is used. The password is confirmed as for a password change (throttled per
//! session). Whether another account uses the new address is not told here (that would name
//! who has an account): the link says so when it is used. Open to unverified accounts under
//! `REQUIRE_VERIFIED_EMAIL`: it is the way out of a mistyped address.

use std::convert::Infallible;

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use crate::App;
use crate::error::{Error, Result};
use crate::http::{Body, Method, Request, Response, StatusCode, json, json_body, respond};
use crate::links::{self, LinkToken, Purpose};
use crate::mail::MailKind;
use crate::sessions;
use crate::users::Email;
use crate::validation::{FieldErrors, required};

#[derive(Deserialize)]
struct ChangeBody {
    new_email: Option<String>,
    password: Option<String>,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    respond(req, &[Method::POST], |req| change(app, req)).await
}

async fn change(app: &App, req: Request) -> Result<Response<Body>> {
    let caller = super::caller_behind(app, &req, super::Gate::AnyEmail).await?;
    let body: ChangeBody = json_body(&req)?;
    let mut errors = FieldErrors::default();
    let new_email = errors.check(
        "new_email",
        required(body.new_email).and_then(|e| Email::parse(&e)),
    );
    let password = errors.check("password", required(body.password).map(SecretString::from));
    let (Some(new_email), Some(password)) = (new_email, password) else {
        return Err(Error::Validation(errors));
    };
    let (user, hash) = sessions::user_with_hash(&app.db, caller).await?;
    if user.email.as_deref() == Some(new_email.as_str()) {
        return Err(Error::Validation(FieldErrors::single(
            "new_email",
            "is already this account's address",
        )));
    }
    super::confirm_password(app, caller, &hash, &password).await?;
    let token = LinkToken::generate()?;
    let keys = app.throttle.mail_keys(Purpose::Change, new_email.as_str());
    let ttl = app.email.verify_ttl_seconds;
    let issued = links::issue_change(&app.db, caller, &new_email, keys, &token, ttl).await?;
    if let (Some(to), Some(old)) = (issued, user.email) {
        let link = app.link("verify-email", &token);
        app.mail(&to.email, to.user, MailKind::ConfirmNewAddress { link });
        let new_address = new_email.as_str().to_owned();
        app.mail(
            &old,
            to.user,
            MailKind::AddressChangeRequested { new_address },
        );
    }
    let detail = "a link to confirm the change is on its way to the new address";
    json(StatusCode::ACCEPTED, &json!({ "detail": detail }))
}

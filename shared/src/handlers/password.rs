//! `POST /api/auth/password` `{"current_password", "new_password"}` → 204. The new password
//! follows signup's rules and differs from the current one; every other session of the user
//! ends at once, the caller's stays. A wrong current password is 401 `invalid_credentials` and
//! counts toward the signin throttle.

use std::convert::Infallible;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::App;
use crate::error::{Error, Result};
use crate::http::{Body, Method, Request, Response, json_body, no_content, respond};
use crate::sessions::{self, Outcome};
use crate::users::{NewPassword, PasswordChange};
use crate::validation::{FieldErrors, required};

#[derive(Deserialize)]
struct PasswordBody {
    current_password: Option<String>,
    new_password: Option<String>,
}

impl TryFrom<PasswordBody> for PasswordChange {
    type Error = Error;

    fn try_from(body: PasswordBody) -> Result<Self> {
        let mut errors = FieldErrors::default();
        // Only presence: the current password was set under whatever rules applied then.
        let current = errors.check(
            "current_password",
            required(body.current_password).map(SecretString::from),
        );
        let new = errors.check(
            "new_password",
            required(body.new_password).and_then(NewPassword::parse),
        );
        let (Some(current), Some(new)) = (current, new) else {
            return Err(Error::Validation(errors));
        };
        if current.expose_secret() == new.secret().expose_secret() {
            return Err(Error::Validation(FieldErrors::single(
                "new_password",
                "must differ from the current password",
            )));
        }
        Ok(Self { current, new })
    }
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    respond(req, &[Method::POST], |req| change(app, req)).await
}

async fn change(app: &App, req: Request) -> Result<Response<Body>> {
    let caller = super::caller(app, &req).await?;
    let change: PasswordChange = json_body::<PasswordBody>(&req)?.try_into()?;
    let (user, hash) = sessions::user_with_hash(&app.db, caller).await?;
    super::confirm_password(app, &req, &user, &hash, &change.current).await?;
    let new_hash = app.passwords.hash(change.new.secret()).await?;
    match sessions::change_password(&app.db, caller, &hash, &new_hash).await? {
        Outcome::Done => Ok(no_content()),
        // Changed by another request since it was checked: that check no longer holds.
        Outcome::PasswordChanged => Err(Error::InvalidCredentials),
    }
}

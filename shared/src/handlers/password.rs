//! `POST /api/auth/password` `{"current_password", "new_password"}` → 204. The new password
//! follows signup's rules and differs from the current one (in NFKC, as
//! passwords are compared); every other session of the user
//! ends at once, the caller's stays. A wrong current password is 401 `invalid_credentials` and
//! counts toward the
//! caller's session's own throttle (never the account's: others' failures cannot block it).

use std::convert::Infallible;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};
use crate::http::{Body, Method, Request, Response, json_body, no_content, respond};
use crate::sessions::{self, Outcome};
use crate::users::{NewPassword, PasswordChange, User};
use crate::validation::{FieldErrors, required};
use crate::{App, events};

#[derive(Deserialize)]
struct PasswordBody {
    current_password: Option<String>,
    new_password: Option<String>,
}

/// Both passwords are there; the new one's rules need the account (see [`PasswordChange::new`]).
struct Requested {
    current: SecretString,
    new: String,
}

impl TryFrom<PasswordBody> for Requested {
    type Error = Error;

    fn try_from(body: PasswordBody) -> Result<Self> {
        let mut errors = FieldErrors::default();
        // Only presence: the current password was set under whatever rules applied then.
        let current = errors.check(
            "current_password",
            required(body.current_password).map(SecretString::from),
        );
        let new = errors.check("new_password", required(body.new_password));
        let (Some(current), Some(new)) = (current, new) else {
            return Err(Error::Validation(errors));
        };
        Ok(Self { current, new })
    }
}

impl PasswordChange {
    /// The new password by signup's rules, the account's email and name its context, and
    /// different from the current one.
    fn new(requested: Requested, user: &User) -> Result<Self> {
        let invalid = |problem| Error::Validation(FieldErrors::single("new_password", problem));
        let context: Vec<&str> = [user.email.as_deref(), user.name.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        let new = NewPassword::parse(requested.new, &context).map_err(invalid)?;
        // As passwords are compared everywhere: in their NFKC form ("ﬁ" is "fi").
        let (current, new_typed) = (
            requested.current.expose_secret(),
            new.secret().expose_secret(),
        );
        if current.nfkc().eq(new_typed.nfkc()) {
            return Err(invalid("must differ from the current password"));
        }
        Ok(Self {
            current: requested.current,
            new,
        })
    }
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    respond(req, &[Method::POST], |req| change(app, req)).await
}

async fn change(app: &App, req: Request) -> Result<Response<Body>> {
    let caller = super::caller(app, &req).await?;
    let requested: Requested = json_body::<PasswordBody>(&req)?.try_into()?;
    let (user, hash) = sessions::user_with_hash(&app.db, caller).await?;
    let change = PasswordChange::new(requested, &user)?;
    super::confirm_password(app, caller, &hash, &change.current).await?;
    let new_hash = app.passwords.hash(change.new.secret()).await?;
    match sessions::change_password(&app.db, caller, &hash, &new_hash).await? {
        Outcome::Done => {
            events::password_changed("changed");
            events::sessions_revoked("others", None);
            Ok(no_content())
        }
        // Changed by another request since it was checked: that check no longer holds.
        Outcome::PasswordChanged => Err(Error::InvalidCredentials),
    }
}

//! `DELETE /api/auth/me` `{"password"}` → 204: the account, its tasks, sessions and refresh
//! tokens are gone at once, in one statement; its tokens are refused from the next request on,
//! and its email can sign up again. A wrong password is 401 `invalid_credentials` and counts
//! toward the signin throttle.

use std::convert::Infallible;

use secrecy::SecretString;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::http::{Body, Method, Request, Response, json_body, no_content, respond};
use crate::sessions::{self, Outcome};
use crate::validation::{FieldErrors, required};
use crate::{App, events};

#[derive(Deserialize)]
struct DeleteBody {
    password: Option<String>,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    respond(req, &[Method::DELETE], |req| delete(app, req)).await
}

async fn delete(app: &App, req: Request) -> Result<Response<Body>> {
    let caller = super::caller(app, &req).await?;
    let body: DeleteBody = json_body(&req)?;
    let password = required(body.password)
        .map(SecretString::from)
        .map_err(|problem| Error::Validation(FieldErrors::single("password", problem)))?;
    let (_, hash) = sessions::user_with_hash(&app.db, caller).await?;
    super::confirm_password(app, caller, &hash, &password).await?;
    match sessions::delete_account(&app.db, caller, &hash).await? {
        Outcome::Done => {
            events::account_deleted();
            Ok(no_content())
        }
        Outcome::PasswordChanged => Err(Error::InvalidCredentials),
    }
}

//! `POST /api/auth/signin` `{"email", "password"}` → 200 session. An unknown email and a wrong
//! password get the same 401 after the same bcrypt work.

use std::convert::Infallible;

use secrecy::SecretString;
use serde::Deserialize;

use crate::App;
use crate::error::{Error, Result};
use crate::http::{Body, Method, Request, Response, StatusCode, json_body, respond};
use crate::users::{self, Email};
use crate::validation::{FieldErrors, required};

#[derive(Deserialize)]
struct SigninBody {
    email: Option<String>,
    password: Option<String>,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    respond(req, &[Method::POST], |req| signin(app, req)).await
}

async fn signin(app: &App, req: Request) -> Result<Response<Body>> {
    let body: SigninBody = json_body(&req)?;
    let mut errors = FieldErrors::default();
    let email = errors.check("email", required(body.email).and_then(|e| Email::parse(&e)));
    // Only presence: today's signup rules must not lock out an account made under older ones.
    let password = errors.check("password", required(body.password).map(SecretString::from));
    let (Some(email), Some(password)) = (email, password) else {
        return Err(Error::Validation(errors));
    };

    let account = users::find_with_hash(&app.db, &email).await?;
    let stored_hash = account.as_ref().map(|(_, hash)| hash.as_str());
    let verified = app.passwords.verify(&password, stored_hash).await?;
    match account {
        Some((user, _)) if verified => super::session(app, user, StatusCode::OK),
        account => {
            let reason = if account.is_some() {
                "wrong password"
            } else {
                "unknown email"
            };
            tracing::info!(reason, "signin refused");
            Err(Error::InvalidCredentials)
        }
    }
}

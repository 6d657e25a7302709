//! `POST /api/auth/signin` `{"email", "password"}` → 200 session. An unknown email and a wrong
//! password get the same 401 after the same bcrypt work. Attempts per account and per address
//! are counted before they are tried and throttled with 429 and `Retry-After`; a success clears
//! the account's count and takes itself back from the address's.

use std::convert::Infallible;

use secrecy::SecretString;
use serde::Deserialize;

use crate::App;
use crate::auth::Verified;
use crate::error::{Error, Result};
use crate::http::{
    Body, Method, Request, Response, StatusCode, json_body, respond, source_address,
};
use crate::users::{self, Credentials, Email};
use crate::validation::{FieldErrors, required};
use crate::{sessions, throttle};

#[derive(Deserialize)]
struct SigninBody {
    email: Option<String>,
    password: Option<String>,
}

impl TryFrom<SigninBody> for Credentials {
    type Error = Error;

    fn try_from(body: SigninBody) -> Result<Self> {
        let mut errors = FieldErrors::default();
        let email = errors.check("email", required(body.email).and_then(|e| Email::parse(&e)));
        let password = errors.check("password", required(body.password).map(SecretString::from));
        let (Some(email), Some(password)) = (email, password) else {
            return Err(Error::Validation(errors));
        };
        Ok(Self { email, password })
    }
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    respond(req, &[Method::POST], |req| signin(app, req)).await
}

async fn signin(app: &App, req: Request) -> Result<Response<Body>> {
    let Credentials { email, password } = json_body::<SigninBody>(&req)?.try_into()?;
    let keys = app.throttle.signin_keys(&email, source_address(&req));
    // Pipelined: counting the attempt and the lookup share one round trip.
    let (allowed, account) = tokio::join!(
        biased;
        throttle::attempt(&app.db, &keys),
        users::find_with_hash(&app.db, &email),
    );
    allowed?;
    let account = account?;
    let stored_hash = account.as_ref().map(|(_, hash)| hash.as_str());
    let verified = app.passwords.verify(&password, stored_hash).await?;
    match (account, verified) {
        (Some((user, hash)), Verified::Right { rehash }) => {
            if rehash {
                // Another cost, or a hash from before normalisation: replace it now, while the
                // password is at hand (only if no one changed it meanwhile).
                let fresh = app.passwords.hash(&password).await?;
                users::replace_hash(&app.db, user.key, &hash, &fresh).await?;
            }
            let (issued, counted) = tokio::join!(
                biased;
                sessions::start(&app.db, user.key, app.sessions),
                throttle::succeeded(&app.db, &keys),
            );
            counted?;
            super::session(app, user, &issued?, StatusCode::OK)
        }
        (account, _) => {
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

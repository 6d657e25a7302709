//! `POST /api/auth/signin` `{"email", "password", "device_token"?}` → 200 session with a
//! `device_token`. An unknown email and a wrong password get the same 401 after the same bcrypt
//! work. Attempts per account and per address are counted before they are tried and throttled
//! with 429 and `Retry-After`; a success clears the account's count and takes itself back from
//! the address's. A device token from an earlier signin of the same account puts the device's
//! own count in place of the account's and the address's, so no one else's failures (from
//! anywhere, or from the owner's own shared address) can keep its owner out.

use std::convert::Infallible;

use secrecy::SecretString;
use serde::Deserialize;

use crate::App;
use crate::auth::{DeviceToken, Verified};
use crate::error::{Error, Result};
use crate::http::{
    Body, Method, Request, Response, StatusCode, json_body, respond, source_address,
};
use crate::users::{self, Credentials, Email};
use crate::validation::{FieldErrors, required};
use crate::{events, sessions, throttle};

#[derive(Deserialize)]
struct SigninBody {
    email: Option<String>,
    password: Option<String>,
    device_token: Option<String>,
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
        Ok(Self {
            email,
            password,
            device_token: body.device_token,
        })
    }
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    respond(req, &[Method::POST], |req| signin(app, req)).await
}

async fn signin(app: &App, req: Request) -> Result<Response<Body>> {
    let credentials: Credentials = json_body::<SigninBody>(&req)?.try_into()?;
    let Credentials {
        email, password, ..
    } = &credentials;
    let address = source_address(&req);
    // A token that is not one of ours by shape is no device: as if none was sent.
    let device = credentials
        .device_token
        .as_deref()
        .and_then(|token| DeviceToken::presented(token).ok());
    let device_hash = device.as_ref().map(|d| d.hash());
    let mut keys = match device_hash {
        Some(hash) => app.throttle.device_keys(hash),
        None => app.throttle.signin_keys(email, address),
    };
    // Pipelined: counting the attempt and the lookup share one round trip.
    let (allowed, account) = tokio::join!(
        biased;
        throttle::attempt(&app.db, &keys),
        users::find_for_signin(&app.db, email, device_hash),
    );
    let account = account?;
    match &account {
        Some(account) => events::about(account.user.key),
        None => events::about_email(&app.throttle.pseudonym(email)),
    }
    allowed.inspect_err(throttled)?;
    let known_device = account.as_ref().is_some_and(|a| a.known_device);
    if device.is_some() && !known_device {
        // Not a device of this account's: the account's own count applies after all.
        keys = app.throttle.signin_keys(email, address);
        throttle::attempt(&app.db, &keys)
            .await
            .inspect_err(throttled)?;
    }
    let stored_hash = account.as_ref().map(|a| a.password_hash.as_str());
    let verified = app.passwords.verify(password, stored_hash).await?;
    match (account, verified) {
        (Some(account), Verified::Right { rehash }) => {
            let user = account.user;
            if rehash {
                // Another cost, or a hash from before normalisation: replace it now, while the
                // password is at hand (only if no one changed it meanwhile).
                let fresh = app.passwords.hash(password).await?;
                users::replace_hash(&app.db, user.key, &account.password_hash, &fresh).await?;
            }
            // The device keeps its token; a device new to the account gets one.
            let (device, new_device) = match device {
                Some(device) if known_device => (device, false),
                _ => (DeviceToken::generate()?, true),
            };
            let (issued, counted) = tokio::join!(
                biased;
                sessions::start(&app.db, user.key, app.sessions, new_device.then_some(&device)),
                throttle::succeeded(&app.db, &keys),
            );
            counted?;
            super::session(app, user, &issued?, Some(&device), StatusCode::OK)
                .inspect(|_| events::signin_succeeded(!new_device))
        }
        (account, _) => {
            let reason = if account.is_some() {
                "wrong password"
            } else {
                "unknown email"
            };
            events::signin_failed(reason, &[]);
            Err(Error::InvalidCredentials)
        }
    }
}

/// Logs a signin the throttle refused, with the keys that refused it.
fn throttled(error: &Error) {
    if let Error::RateLimited { by, .. } = error {
        events::signin_failed("throttled", by);
    }
}

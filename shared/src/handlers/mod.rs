//! One handler per endpoint, each a plain async function of the request so tests can call it
//! in-process. A function binary wires exactly one of them to the Lambda runtime.

pub mod account;
pub mod create;
pub mod delete;
pub mod email;
pub mod fallback;
pub mod forgot;
pub mod get;
pub mod list;
pub mod me;
pub mod password;
pub mod refresh;
pub mod resend;
pub mod reset;
pub mod revoke;
pub mod sessions;
pub mod signin;
pub mod signout;
pub mod signup;
pub mod toggle;
pub mod update;
pub mod verify;

use secrecy::SecretString;
use serde::Serialize;

use crate::App;
use crate::auth::{Caller, DeviceToken, Verified};
use crate::error::{Error, Result};
use crate::events;
use crate::http::{Body, Request, Response, StatusCode, bearer_token, json, path_param};
use crate::identity::Identity;
use crate::sessions::Issued;
use crate::tasks::TaskId;
use crate::throttle;
use crate::users::User;

/// Whether a route is closed to accounts that have not verified their address, when
/// `REQUIRE_VERIFIED_EMAIL` is on. Open: `me`, signout, asking for another verification link
/// and changing the address (the way out of a mistyped one). Better Auth verifies its own users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    VerifiedEmail,
    AnyEmail,
}

/// Who the request's bearer token speaks for: one of our sessions, or, when Better Auth is
/// configured and the token says it is from there, a Better Auth user. Closed to unverified
/// accounts where that is required.
async fn identity(app: &App, req: &Request) -> Result<Identity> {
    identity_behind(app, req, Gate::VerifiedEmail).await
}

async fn identity_behind(app: &App, req: &Request, gate: Gate) -> Result<Identity> {
    let token = bearer_token(req)?;
    let identity = match &app.better_auth {
        Some(better_auth) if better_auth.claims_to_issue(token) => {
            Identity::BetterAuth(better_auth.verify(token).await?)
        }
        _ => {
            let mut caller = app.tokens.verify(token)?;
            caller.verified_email_required =
                gate == Gate::VerifiedEmail && app.email.require_verified;
            Identity::Session(caller)
        }
    };
    events::about(identity.user_id());
    Ok(identity)
}

/// The session a request's token belongs to, for what only our own sessions have: their list,
/// signout, the password, the account. Better Auth keeps those for its users.
async fn caller(app: &App, req: &Request) -> Result<Caller> {
    caller_behind(app, req, Gate::VerifiedEmail).await
}

async fn caller_behind(app: &App, req: &Request, gate: Gate) -> Result<Caller> {
    match identity_behind(app, req, gate).await? {
        Identity::Session(caller) => Ok(caller),
        Identity::BetterAuth(_) => Err(Error::Forbidden(
            "this account is managed by Better Auth: use it for sessions, password and account",
        )),
    }
}

/// Whose tasks a request works on: the token's user. The frontend's `/api/{user_id}/tasks…`
/// form must name that same user, or it is refused with 403.
async fn task_owner(app: &App, req: &Request) -> Result<Identity> {
    let identity = identity(app, req).await?;
    match path_param(req, "user_id") {
        Some(named) if !identity.user_id().is_named_by(&named) => {
            Err(Error::Forbidden("the path names another user's tasks"))
        }
        _ => Ok(identity),
    }
}

/// What signup, signin and refresh answer: the account, a fresh access token, and the refresh
/// token that gets the next one.
#[derive(Serialize)]
struct SessionBody<'a> {
    user: User,
    token: String,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: &'a str,
    /// At signup and signin: what the device sends at its next signins (see `signin`).
    #[serde(skip_serializing_if = "Option::is_none")]
    device_token: Option<&'a str>,
}

fn session(
    app: &App,
    user: User,
    issued: &Issued,
    device: Option<&DeviceToken>,
    status: StatusCode,
) -> Result<Response<Body>> {
    let access = app.tokens.issue(issued.caller)?;
    json(
        status,
        &SessionBody {
            user,
            token: access.token,
            token_type: "Bearer",
            expires_in: access.expires_in,
            refresh_token: issued.refresh.expose(),
            device_token: device.map(DeviceToken::expose),
        },
    )
}

/// The `{id}` of the path; one that cannot name a task is simply not found.
fn task_id(req: &Request) -> Result<TaskId> {
    path_param(req, "id")
        .as_deref()
        .and_then(TaskId::parse)
        .ok_or(Error::NotFound)
}

/// Checks the password of the caller's account again, before a change only its owner may
/// make. Wrong passwords are throttled per session: a signed-in owner is never refused because
/// of failures others made on the account (see [`crate::throttle`]).
async fn confirm_password(
    app: &App,
    caller: Caller,
    hash: &str,
    password: &SecretString,
) -> Result<()> {
    let keys = app.throttle.confirm_keys(caller.session);
    throttle::attempt(&app.db, &keys).await?;
    if let Verified::Right { .. } = app.passwords.verify(password, Some(hash)).await? {
        return throttle::succeeded(&app.db, &keys).await;
    }
    events::password_confirmation_failed();
    Err(Error::InvalidCredentials)
}

//! One handler per endpoint, each a plain async function of the request so tests can call it
//! in-process. A function binary wires exactly one of them to the Lambda runtime.

pub mod create;
pub mod delete;
pub mod get;
pub mod list;
pub mod me;
pub mod signin;
pub mod signup;
pub mod toggle;
pub mod update;

use serde::Serialize;

use crate::App;
use crate::error::{Error, Result};
use crate::http::{Body, Request, Response, StatusCode, json, path_param};
use crate::tasks::TaskId;
use crate::users::User;

/// What signup and signin answer: the account and a fresh access token.
#[derive(Serialize)]
struct Session {
    user: User,
    token: String,
    token_type: &'static str,
    expires_in: u64,
}

fn session(app: &App, user: User, status: StatusCode) -> Result<Response<Body>> {
    let issued = app.tokens.issue(user.id)?;
    json(
        status,
        &Session {
            user,
            token: issued.token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
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

//! One handler per endpoint, each a plain async function of the request so tests can call it
//! in-process. A function binary wires exactly one of them to the Lambda runtime.

pub mod create;
pub mod delete;
pub mod fallback;
pub mod get;
pub mod list;
pub mod me;
pub mod refresh;
pub mod signin;
pub mod signout;
pub mod signup;
pub mod toggle;
pub mod update;

use serde::Serialize;

use crate::App;
use crate::error::{Error, Result};
use crate::http::{Body, Request, Response, StatusCode, json, path_param};
use crate::sessions::Issued;
use crate::tasks::TaskId;
use crate::users::User;

/// What signup, signin and refresh answer: the account, a fresh access token, and the refresh
/// token that gets the next one.
#[derive(Serialize)]
struct SessionBody<'a> {
    user: User,
    token: String,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: &'a str,
}

fn session(app: &App, user: User, issued: &Issued, status: StatusCode) -> Result<Response<Body>> {
    let access = app.tokens.issue(issued.caller)?;
    json(
        status,
        &SessionBody {
            user,
            token: access.token,
            token_type: "Bearer",
            expires_in: access.expires_in,
            refresh_token: issued.refresh.expose()?,
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

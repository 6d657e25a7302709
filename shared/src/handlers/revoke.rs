//! `DELETE /api/auth/sessions/{id}` → 204: ends one of the caller's sessions (another user's,
//! or an unknown or ended one, is 404). `DELETE /api/auth/sessions` → 204: ends every session
//! of the caller's but the one making the request ("sign out my other devices").

use std::convert::Infallible;

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::http::{Body, Method, Request, Response, no_content, path_param, respond};
use crate::sessions::{self, Ending};
use crate::{App, events};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    respond(req, &[Method::DELETE], |req| revoke(app, req)).await
}

async fn revoke(app: &App, req: Request) -> Result<Response<Body>> {
    let caller = super::caller(app, &req).await?;
    let (which, scope) = match path_param(&req, "id") {
        None => (Ending::Others, "others"),
        // An id that cannot name a session names none of the caller's.
        Some(id) => (
            Ending::One(Uuid::parse_str(&id).map_err(|_| Error::NotFound)?),
            "one",
        ),
    };
    let ended = sessions::end_some(&app.db, caller, which).await?;
    events::sessions_revoked(scope, Some(ended));
    Ok(no_content())
}

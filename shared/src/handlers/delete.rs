//! `DELETE /api/tasks/{id}` → 204, or 404 when the caller has no such task.

use std::convert::Infallible;

use crate::App;
use crate::error::{Error, Result};
use crate::http::{Body, Method, Request, Response, no_content, respond};
use crate::tasks;

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    respond(req, &[Method::DELETE], |req| delete(app, req)).await
}

async fn delete(app: &App, req: Request) -> Result<Response<Body>> {
    let caller = super::task_owner(app, &req).await?;
    let id = super::task_id(&req)?;
    if !tasks::delete(&app.db, &caller, id).await? {
        return Err(Error::NotFound);
    }
    Ok(no_content())
}

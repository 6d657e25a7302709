//! `GET /api/tasks/{id}` → 200 Task, or 404 when the caller has no such task.

use std::convert::Infallible;

use crate::App;
use crate::error::{Error, Result};
use crate::http::{Body, Method, Request, Response, StatusCode, json, respond};
use crate::tasks;

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    respond(req, &[Method::GET], |req| get(app, req)).await
}

async fn get(app: &App, req: Request) -> Result<Response<Body>> {
    let caller = super::task_owner(app, &req).await?;
    let id = super::task_id(&req)?;
    let task = tasks::get(&app.db, &caller, id)
        .await?
        .ok_or(Error::NotFound)?;
    json(StatusCode::OK, &task)
}

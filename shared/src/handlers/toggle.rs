//! `PATCH /api/tasks/{id}/complete`, optional `{"completed": bool}` → 200 Task. Without a body
//! it flips the task; with one it sets it. Atomic either way.

use std::convert::Infallible;

use serde::Deserialize;

use crate::App;
use crate::error::{Error, Result};
use crate::http::{Body, Method, Request, Response, StatusCode, json, optional_json_body, respond};
use crate::tasks;

#[derive(Deserialize, Default)]
struct ToggleBody {
    completed: Option<bool>,
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    respond(req, &[Method::PATCH], |req| toggle(app, req)).await
}

async fn toggle(app: &App, req: Request) -> Result<Response<Body>> {
    let caller = super::task_owner(app, &req).await?;
    let id = super::task_id(&req)?;
    let body: ToggleBody = optional_json_body(&req)?;
    let task = tasks::toggle(&app.db, &caller, id, body.completed)
        .await?
        .ok_or(Error::NotFound)?;
    json(StatusCode::OK, &task)
}

//! `POST /api/tasks` `{"title", "description"?, "completed"?}` → 201 Task.

use std::convert::Infallible;

use serde::Deserialize;

use crate::App;
use crate::error::{Error, Result};
use crate::http::{Body, Method, Request, Response, StatusCode, json, json_body, respond};
use crate::tasks::{self, NewTask, TaskDescription, TaskTitle};
use crate::validation::{FieldErrors, required};

#[derive(Deserialize)]
struct CreateBody {
    title: Option<String>,
    description: Option<String>,
    completed: Option<bool>,
}

impl TryFrom<CreateBody> for NewTask {
    type Error = Error;

    fn try_from(body: CreateBody) -> Result<Self> {
        let mut errors = FieldErrors::default();
        let title = errors.check(
            "title",
            required(body.title).and_then(|t| TaskTitle::parse(&t)),
        );
        let description = errors.check(
            "description",
            TaskDescription::parse(body.description.as_deref()),
        );
        let (Some(title), Some(description)) = (title, description) else {
            return Err(Error::Validation(errors));
        };
        Ok(Self {
            title,
            description,
            completed: body.completed.unwrap_or(false),
        })
    }
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    respond(req, &[Method::POST], |req| create(app, req)).await
}

async fn create(app: &App, req: Request) -> Result<Response<Body>> {
    let caller = super::task_owner(app, &req).await?;
    let new: NewTask = json_body::<CreateBody>(&req)?.try_into()?;
    let task = tasks::create(&app.db, &caller, &new).await?;
    json(StatusCode::CREATED, &task)
}

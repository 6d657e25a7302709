//! `PUT` or `PATCH /api/tasks/{id}` `{"title"?, "description"?, "completed"?}` → 200 Task.
//! Fields left out stay as they are; at least one must be given.

use std::convert::Infallible;

use serde::Deserialize;

use crate::App;
use crate::error::{Error, Result};
use crate::http::{Body, Method, Request, Response, StatusCode, json, json_body, present, respond};
use crate::tasks::{self, TaskChanges, TaskDescription, TaskTitle};
use crate::validation::FieldErrors;

/// `Some(None)` is an explicit `null`: it clears a description and is refused elsewhere.
#[derive(Deserialize)]
struct UpdateBody {
    #[serde(default, deserialize_with = "present")]
    title: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    completed: Option<Option<bool>>,
}

impl TryFrom<UpdateBody> for TaskChanges {
    type Error = Error;

    fn try_from(body: UpdateBody) -> Result<Self> {
        if body.title.is_none() && body.description.is_none() && body.completed.is_none() {
            return Err(Error::Unprocessable(
                "send at least one of title, description, completed",
            ));
        }
        let mut errors = FieldErrors::default();
        let title = body.title.map(|title| {
            errors.check(
                "title",
                title
                    .ok_or("must be a string")
                    .and_then(|t| TaskTitle::parse(&t)),
            )
        });
        let description = body
            .description
            .map(|d| errors.check("description", TaskDescription::parse(d.as_deref())));
        let completed = body
            .completed
            .map(|c| errors.check("completed", c.ok_or("must be true or false")));
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(Self {
            title: title.flatten(),
            description: description.flatten(),
            completed: completed.flatten(),
        })
    }
}

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    respond(req, &[Method::PUT, Method::PATCH], |req| update(app, req)).await
}

async fn update(app: &App, req: Request) -> Result<Response<Body>> {
    let caller = super::task_owner(app, &req).await?;
    let id = super::task_id(&req)?;
    let changes: TaskChanges = json_body::<UpdateBody>(&req)?.try_into()?;
    let task = tasks::update(&app.db, &caller, id, &changes)
        .await?
        .ok_or(Error::NotFound)?;
    json(StatusCode::OK, &task)
}

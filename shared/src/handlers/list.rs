//! `GET /api/tasks` (and `/api/{user_id}/tasks`) → 200 `{"tasks", "next_cursor"}`.

use std::convert::Infallible;

use lambda_http::RequestExt;

use crate::App;
use crate::auth::task_owner;
use crate::error::Result;
use crate::http::{Body, Method, Request, Response, StatusCode, json, respond};
use crate::tasks::{self, ListQuery};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    respond(req, &[Method::GET], |req| list(app, req)).await
}

async fn list(app: &App, req: Request) -> Result<Response<Body>> {
    let caller = task_owner(&app.tokens, &req)?;
    let params = req.query_string_parameters();
    let query = ListQuery::parse(|name| params.first(name))?;
    let page = tasks::list(&app.db, caller, &query).await?;
    json(StatusCode::OK, &page)
}

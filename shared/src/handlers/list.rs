//! `GET /api/tasks` (and `/api/{user_id}/tasks`) → 200 `[Task]`, a bare array as the FastAPI
//! backend answered; when more tasks remain, the next page's URL is in `Link: <…>; rel="next"`.

use std::convert::Infallible;

use lambda_http::RequestExt;

use crate::App;
use crate::error::Result;
use crate::http::{Body, Method, Request, Response, json_page, respond};
use crate::tasks::{self, ListQuery};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>, Infallible> {
    respond(req, &[Method::GET], |req| list(app, req)).await
}

async fn list(app: &App, req: Request) -> Result<Response<Body>> {
    let caller = super::task_owner(app, &req).await?;
    let params = req.query_string_parameters();
    let query = ListQuery::parse(|name| params.first(name))?;
    let page = tasks::list(&app.db, &caller, &query).await?;
    // The same path the client used (either form), so the link works wherever it is resolved.
    let next = page
        .next_cursor
        .map(|cursor| format!("{}?{}", req.uri().path(), query.next_page(&cursor)));
    json_page(&page.tasks, next.as_deref())
}

//! Every request no route matches (API Gateway's `$default` route, and the catch-all of the
//! `cargo lambda watch` router): 405 `method_not_allowed` with `Allow` when the path is served
//! under other methods, else 404 `not_found`. Never the gateway's or the emulator's own page.

use std::convert::Infallible;

use crate::error::{Error, Result};
use crate::http::{Body, Request, Response, answer, routes};

pub async fn handle(req: Request) -> Result<Response<Body>, Infallible> {
    answer(req, |req| async move {
        Err(match routes::methods_for(req.uri().path()) {
            Some(allow) if !allow.contains(req.method()) => Error::MethodNotAllowed { allow },
            _ => Error::NotFound,
        })
    })
    .await
}

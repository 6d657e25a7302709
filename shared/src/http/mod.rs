//! The HTTP side: reading requests, writing responses, and the one place errors become HTTP.

mod request;
mod response;

use std::convert::Infallible;
use std::time::Instant;

pub use lambda_http::http::{Method, StatusCode};
pub use lambda_http::{Body, Request, Response};
pub use request::{
    MAX_BODY_BYTES, bearer_token, json_body, optional_json_body, path_param, present,
    source_address,
};
pub use response::{error_response, json, no_content};

use crate::error::{Error, Result};

/// Runs a handler for one request and always answers: a wrong method gets 405, an `Err` gets the
/// contract's JSON error. Errors never become Lambda invocation failures. Logs one line per
/// request (the runtime's span adds the request id).
pub async fn respond<F, Fut>(
    req: Request,
    allow: &'static [Method],
    handler: F,
) -> Result<Response<Body>, Infallible>
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Result<Response<Body>>>,
{
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let result = if allow.contains(&method) {
        handler(req).await
    } else {
        Err(Error::MethodNotAllowed { allow })
    };
    let response = result.unwrap_or_else(|error| error_response(&error));
    tracing::info!(
        %method,
        path,
        status = response.status().as_u16(),
        latency_us = started.elapsed().as_micros() as u64,
        "request"
    );
    Ok(response)
}

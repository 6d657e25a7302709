//! The HTTP side: reading requests, writing responses, and the one place errors become HTTP.

mod request;
mod response;
pub mod routes;

use std::convert::Infallible;
use std::time::Instant;

use lambda_http::RequestExt;
use lambda_http::request::RequestContext;
use tracing::Instrument;

pub use lambda_http::http::{Method, StatusCode};
pub use lambda_http::{Body, Request, Response};
pub use request::{
    MAX_BODY_BYTES, bearer_token, json_body, optional_json_body, path_param, present,
    source_address,
};
pub use response::{error_response, json, json_page, no_content};

use crate::error::{Error, Result};

/// Runs a handler for one request and always answers: a method not in `allow` gets 405, an
/// `Err` gets the contract's JSON error (see [`answer`]).
pub async fn respond<F, Fut>(
    req: Request,
    allow: &'static [Method],
    handler: F,
) -> Result<Response<Body>, Infallible>
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Result<Response<Body>>>,
{
    answer(req, |req| async move {
        if allow.contains(req.method()) {
            handler(req).await
        } else {
            Err(Error::MethodNotAllowed { allow })
        }
    })
    .await
}

/// Runs a handler for one request, whatever its method, and always answers: an `Err` gets the
/// contract's JSON error. Errors never become Lambda invocation failures. Logs one line per
/// request; everything logged while handling it carries API Gateway's request id (the one in
/// the access log), the route, the source address and, once known, the user, through the span
/// (and the runtime's span adds Lambda's request id and X-Ray's trace id). Never a body, header
/// or query value.
pub async fn answer<F, Fut>(req: Request, handler: F) -> Result<Response<Body>, Infallible>
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Result<Response<Body>>>,
{
    let started = Instant::now();
    let method = req.method().clone();
    let (request_id, route) = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => (
            context.request_id.clone().unwrap_or_default(),
            context.route_key.clone().unwrap_or_default(),
        ),
        _ => (String::new(), String::new()),
    };
    // Routes are templates (`GET /api/tasks/{id}`); without one (or with the catch-all
    // `$default`, as `cargo lambda watch` sends), the path stands in.
    let route = if route.is_empty() || route == "$default" {
        format!("{method} {}", req.uri().path())
    } else {
        route
    };
    let source = source_address(&req).map(|a| a.to_string());
    crate::logging::invocation_started();
    // `user` and `email_hash` are recorded once known (see `crate::events`).
    let span = tracing::info_span!(
        "request",
        request_id,
        route,
        source = source.as_deref(),
        user = tracing::field::Empty,
        email_hash = tracing::field::Empty,
    );
    async move {
        let response = handler(req)
            .await
            .unwrap_or_else(|error| error_response(&error));
        tracing::info!(
            %method,
            status = response.status().as_u16(),
            latency_us = started.elapsed().as_micros() as u64,
            "request"
        );
        Ok(response)
    }
    .instrument(span)
    .await
}

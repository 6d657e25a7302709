//! Writing responses: JSON, a page with its `Link`, no content, and errors as `error` maps them.

use lambda_http::http::StatusCode;
use lambda_http::http::header::{
    ACCESS_CONTROL_EXPOSE_HEADERS, CACHE_CONTROL, CONTENT_TYPE, HeaderValue, LINK,
    X_CONTENT_TYPE_OPTIONS,
};
use lambda_http::{Body, Response};
use serde::Serialize;

use crate::error::{Error, Result};

/// A JSON response. Every answer is per-user, so none may be cached along the way.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Result<Response<Body>> {
    let text = serde_json::to_string(body)
        .map_err(|e| Error::Internal(format!("serialising a response failed: {e}")))?;
    Ok(response(status, Body::Text(text), true))
}

/// 200 with one page of a listing; `next`, the next page's path and query when more remain,
/// goes in an RFC 8288 `Link` header, as GitHub's API pages.
pub fn json_page<T: Serialize>(items: &[T], next: Option<&str>) -> Result<Response<Body>> {
    let mut response = json(StatusCode::OK, &items)?;
    if let Some(next) = next {
        let link = HeaderValue::try_from(format!("<{next}>; rel=\"next\""))
            .map_err(|e| Error::Internal(format!("next page link: {e}")))?;
        response.headers_mut().insert(LINK, link);
    }
    Ok(response)
}

/// 204 with an empty body.
pub fn no_content() -> Response<Body> {
    response(StatusCode::NO_CONTENT, Body::Empty, false)
}

/// The headers browser code on another origin may read beyond the safelisted ones: the
/// throttle's wait, why a token was refused, the next page, a 405's methods. In AWS, API
/// Gateway answers with template.yaml's `ExposeHeaders` instead (it replaces CORS headers from
/// functions; a test keeps the two lists equal); `cargo lambda watch` passes this one through,
/// so browser code under `make dev` reads what it reads in production.
const EXPOSED: &str = "retry-after, www-authenticate, link, allow";

fn response(status: StatusCode, body: Body, is_json: bool) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if is_json {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    // Every answer is the caller's own (tokens, account data, tasks): no cache keeps it.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // A browser takes the content type at its word, never sniffing a JSON error as HTML.
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(
        ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED),
    );
    response
}

/// The contract's error response: status, headers and body as [`Error::to_http`] maps them.
pub fn error_response(error: &Error) -> Response<Body> {
    let (status, headers, body) = error.to_http();
    let mut response = response(status, Body::Text(body.to_string()), true);
    response.headers_mut().extend(headers);
    response
}

//! Writing responses, and the one mapping from [`Error`] to status, code and JSON body.

use lambda_http::http::header::{
    ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue, LINK, RETRY_AFTER, WWW_AUTHENTICATE,
};
use lambda_http::http::{HeaderMap, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;
use serde_json::json;

use crate::error::{AuthFailure, Error, Result};

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

fn response(status: StatusCode, body: Body, is_json: bool) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if is_json {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

impl Error {
    /// The status and stable machine code of the contract.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Error::InvalidJson(_) => (StatusCode::BAD_REQUEST, "invalid_json"),
            Error::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Error::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            Error::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            Error::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Error::MethodNotAllowed { .. } => {
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
            }
            Error::EmailTaken => (StatusCode::CONFLICT, "email_taken"),
            Error::PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Error::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Error::Validation(_) | Error::Unprocessable(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
            }
            Error::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Error::Database(e) if e.is_unavailable() => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            Error::Database(_) | Error::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        }
    }
}

/// The contract's error body and headers. A 5xx says nothing of its cause to the client; the
/// cause goes to the log.
pub fn error_response(error: &Error) -> Response<Body> {
    let (status, code) = error.status_and_code();
    let message = match status {
        StatusCode::SERVICE_UNAVAILABLE => {
            "the service is temporarily unavailable; try again shortly".to_owned()
        }
        s if s.is_server_error() => "something went wrong on our side".to_owned(),
        _ => error.to_string(),
    };
    match error {
        _ if status.is_server_error() => tracing::error!(%error, code, "request failed"),
        Error::Unauthorized(AuthFailure::Invalid(reason)) => {
            tracing::info!(reason, "access token rejected")
        }
        _ => {}
    }
    // `detail` repeats the message where FastAPI's errors put it, which is where frontends
    // written for the backend this replaces read it.
    let mut body = json!({ "detail": message, "error": { "code": code, "message": message } });
    if let Error::Validation(fields) = error {
        body["error"]["details"] = fields.iter().collect();
    }
    let mut response = response(status, Body::Text(body.to_string()), true);
    add_headers(error, response.headers_mut());
    response
}

fn add_headers(error: &Error, headers: &mut HeaderMap) {
    match error {
        Error::Unauthorized(AuthFailure::Invalid(_)) => {
            headers.insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer error="invalid_token""#),
            );
        }
        Error::Unauthorized(AuthFailure::Missing) | Error::InvalidCredentials => {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        Error::MethodNotAllowed { allow } => {
            let allow = allow
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            if let Ok(value) = HeaderValue::from_str(&allow) {
                headers.insert(ALLOW, value);
            }
        }
        Error::RateLimited { retry_after } => {
            headers.insert(RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        _ => {}
    }
}

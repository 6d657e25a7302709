//! The one error type of the API and its HTTP form: each variant is one of the contract's error
//! codes, and [`Error::to_http`] is the one place that gives it a status, headers and body.

use lambda_http::http::header::{ALLOW, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use lambda_http::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::db::DbError;
use crate::events;
use crate::validation::FieldErrors;

/// Why a request was refused as unauthenticated: decides the `WWW-Authenticate` challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No bearer token was sent.
    Missing,
    /// A token was sent and rejected; the reason is for logs only, never for the client.
    Invalid(&'static str),
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidJson(String),
    #[error("{}", match .0 { AuthFailure::Missing => "authentication required: send Authorization: Bearer <token>", AuthFailure::Invalid(_) => "the access token is invalid or has expired" })]
    Unauthorized(AuthFailure),
    #[error("email or password is incorrect")]
    InvalidCredentials,
    /// An authenticated caller asking for what is not theirs to have; the text says which.
    #[error("{0}")]
    Forbidden(&'static str),
    /// `REQUIRE_VERIFIED_EMAIL` is on and the caller's account has not verified its address.
    #[error(
        "verify your email address first: follow the link we sent (or ask for another with POST /api/auth/email/verify/resend)"
    )]
    EmailUnverified,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed {
        allow: &'static [lambda_http::http::Method],
    },
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("request body must be application/json")]
    UnsupportedMediaType,
    #[error("{0}")]
    Validation(FieldErrors),
    /// A request that fails a rule no single field owns.
    #[error("{0}")]
    Unprocessable(&'static str),
    /// Too many failed signins (or signups) from this account or address; try again later.
    /// `by` names the kinds of key that refused it, for the log only.
    #[error("too many attempts; wait {retry_after} s (see Retry-After) and try again")]
    RateLimited {
        retry_after: u64,
        by: Vec<&'static str>,
    },
    /// Something a request needs, other than the database, cannot be reached now (Better
    /// Auth's signing keys); the cause is logged where it is found.
    #[error("a service this request needs is unavailable")]
    Unavailable,
    /// A database failure: 503 when the database is unreachable, 500 else.
    #[error("database error: {0}")]
    Database(#[from] DbError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<tokio_postgres::Error> for Error {
    fn from(error: tokio_postgres::Error) -> Self {
        Error::Database(DbError::Postgres(error))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid_token(reason: &'static str) -> Self {
        Error::Unauthorized(AuthFailure::Invalid(reason))
    }

    /// The status and stable machine code of the contract.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Error::InvalidJson(_) => (StatusCode::BAD_REQUEST, "invalid_json"),
            Error::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Error::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Error::EmailUnverified => (StatusCode::FORBIDDEN, "email_unverified"),
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
            Error::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Error::Database(e) if e.is_unavailable() => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            Error::Database(_) | Error::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        }
    }

    /// Status, headers and the contract's JSON body. A 5xx says nothing of its cause to the
    /// client; the cause goes to the log.
    pub fn to_http(&self) -> (StatusCode, HeaderMap, Value) {
        let (status, code) = self.status_and_code();
        let message = match status {
            StatusCode::SERVICE_UNAVAILABLE => {
                "the service is temporarily unavailable; try again shortly".to_owned()
            }
            s if s.is_server_error() => "something went wrong on our side".to_owned(),
            _ => self.to_string(),
        };
        match self {
            Error::Database(e) if e.is_unavailable() => tracing::error!(
                error = %self, code, metric = "ServerError,DatabaseUnavailable", "request failed"
            ),
            _ if status.is_server_error() => {
                tracing::error!(error = %self, code, metric = "ServerError", "request failed")
            }
            Error::Unauthorized(AuthFailure::Invalid(reason)) => {
                tracing::info!(reason, "access token rejected")
            }
            Error::RateLimited { retry_after, by } => events::throttled(by, *retry_after),
            _ => {}
        }
        // `detail` repeats the message where FastAPI's errors put it, which is where frontends
        // written for the backend this replaces read it.
        let mut body = json!({ "detail": message, "error": { "code": code, "message": message } });
        if let Error::Validation(fields) = self {
            body["error"]["details"] = fields.iter().collect();
        }
        (status, self.headers(), body)
    }

    /// The headers an error carries: RFC 6750's challenge, `Allow`, `Retry-After` (429, and a
    /// 503 for a database that is away).
    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        match self {
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
            Error::RateLimited { retry_after, .. } => {
                headers.insert(RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            // A database that is away is worth trying again after the backoff (whole seconds).
            Error::Database(e) => {
                if let Some(wait) = e.retry_after() {
                    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                    headers.insert(RETRY_AFTER, HeaderValue::from(seconds.max(1)));
                }
            }
            _ => {}
        }
        headers
    }
}

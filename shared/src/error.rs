//! The one error type of the API. Its variants are the contract's error codes; `http::error`
//! turns each into its status and JSON body.

use crate::db::DbError;
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
    #[error("the path names another user's tasks")]
    Forbidden,
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
    #[error("too many attempts; wait {retry_after} s (see Retry-After) and try again")]
    RateLimited { retry_after: u64 },
    /// A database failure: `http::error` answers 503 when the database is unreachable, 500 else.
    #[error("database error: {0}")]
    Database(#[from] DbError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn invalid_token(reason: &'static str) -> Self {
        Error::Unauthorized(AuthFailure::Invalid(reason))
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(error: tokio_postgres::Error) -> Self {
        Error::Database(DbError::Postgres(error))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

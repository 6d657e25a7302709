//! Authentication: bearer tokens, refresh tokens, password hashes, and who a request acts for.

pub mod password;
pub mod refresh;
pub mod token;

pub use password::Passwords;
pub use refresh::RefreshToken;
pub use token::{IssuedToken, TokenSettings, Tokens};

use lambda_http::Request;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::http::{bearer_token, path_param};

/// Who a verified access token speaks for: a user, within one of their sessions. The session
/// may since have ended; every statement run for the caller checks that it is still live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub user: Uuid,
    pub session: Uuid,
}

/// The caller a request's bearer token was issued to.
pub fn authenticate(tokens: &Tokens, req: &Request) -> Result<Caller> {
    tokens.verify(bearer_token(req)?)
}

/// Whose tasks a request works on: the token's user. The frontend's `/api/{user_id}/tasks…`
/// form must name that same user, or it is refused with 403.
pub fn task_owner(tokens: &Tokens, req: &Request) -> Result<Caller> {
    let caller = authenticate(tokens, req)?;
    match path_param(req, "user_id") {
        None => Ok(caller),
        Some(named) if Uuid::parse_str(&named).is_ok_and(|named| named == caller.user) => {
            Ok(caller)
        }
        Some(_) => Err(Error::Forbidden),
    }
}

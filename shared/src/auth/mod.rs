//! Authentication: bearer tokens, password hashes, and who a request acts for.

pub mod password;
pub mod token;

pub use password::Passwords;
pub use token::{IssuedToken, TokenSettings, Tokens};

use lambda_http::Request;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::http::{bearer_token, path_param};

/// The user a request's bearer token was issued to.
pub fn authenticate(tokens: &Tokens, req: &Request) -> Result<Uuid> {
    tokens.verify(bearer_token(req)?)
}

/// Whose tasks a request works on: the token's user. The frontend's `/api/{user_id}/tasks…`
/// form must name that same user, or it is refused with 403.
pub fn task_owner(tokens: &Tokens, req: &Request) -> Result<Uuid> {
    let user = authenticate(tokens, req)?;
    match path_param(req, "user_id") {
        None => Ok(user),
        Some(named) if Uuid::parse_str(&named).is_ok_and(|named| named == user) => Ok(user),
        Some(_) => Err(Error::Forbidden),
    }
}

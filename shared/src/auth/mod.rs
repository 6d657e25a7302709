//! Authentication: bearer tokens, refresh tokens, password hashes, and who a request acts for.

pub mod better_auth;
pub mod jwks;
pub mod password;
pub mod refresh;
pub mod token;

pub use better_auth::{BetterAuth, BetterAuthSettings};
pub use jwks::JwksTimings;
pub use password::Passwords;
pub use refresh::{RefreshToken, SuccessorKey};
pub use token::{IssuedToken, TokenSettings, Tokens};

use uuid::Uuid;

/// Who a verified access token speaks for: a user, within one of their sessions. The session
/// may since have ended; every statement run for the caller checks that it is still live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub user: Uuid,
    pub session: Uuid,
}

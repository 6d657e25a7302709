//! Authentication: bearer tokens, refresh tokens, password hashes, and who a request acts for.

pub mod better_auth;
pub mod jwks;
pub mod password;
pub mod refresh;
pub mod token;

pub use better_auth::{BetterAuth, BetterAuthSettings};
pub use jwks::JwksTimings;
pub use password::{Passwords, Verified};
pub use refresh::{RefreshToken, SuccessorKey};

/// A device token has a refresh token's shape: 256 random bits, base64url, stored as SHA-256.
/// Signin returns one; presented at later signins it exempts them from the account-wide
/// throttle (see `throttle`).
pub type DeviceToken = RefreshToken;
pub use token::{IssuedToken, TokenSettings, Tokens};

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use uuid::Uuid;

/// An HMAC-SHA256 keyed for one purpose (`label`) from the JWT secret: the keys that derive
/// refresh tokens and hash throttle keys, with nothing new for a deployment to manage, and
/// none of them usable as another.
pub(crate) fn derived_hmac(secret: &SecretString, label: &[u8]) -> Hmac<Sha256> {
    let mut derive = hmac(secret.expose_secret().as_bytes());
    derive.update(label);
    hmac(&derive.finalize().into_bytes())
}

fn hmac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length: this cannot fail.
    <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

/// Who a verified access token speaks for: a user, within one of their sessions. The session
/// may since have ended; every statement run for the caller checks that it is still live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub user: Uuid,
    pub session: Uuid,
    /// Whether the statements run for this request also require the account's address to be
    /// verified (`REQUIRE_VERIFIED_EMAIL`, on routes other than the few an unverified account
    /// may use): checked in the same statement that checks the session.
    pub verified_email_required: bool,
}

impl Caller {
    pub fn new(user: Uuid, session: Uuid) -> Self {
        Self {
            user,
            session,
            verified_email_required: false,
        }
    }
}

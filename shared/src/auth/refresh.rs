//! Refresh tokens: 256 random bits, base64url, handed to the client once. The database keeps
//! only their SHA-256: a leaked table cannot be replayed, and a random token needs no slow hash.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

const TOKEN_BYTES: usize = 32;
/// The base64url length of 32 bytes, unpadded.
const ENCODED_LEN: usize = 43;

/// A refresh token: the secret the client holds (when we issued it) and the hash we store.
pub struct RefreshToken {
    secret: Option<SecretString>,
    hash: [u8; 32],
}

impl RefreshToken {
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes)
            .map_err(|e| Error::Internal(format!("the OS random source failed: {e}")))?;
        let secret = B64.encode(bytes);
        Ok(Self {
            hash: hash(&secret),
            secret: Some(SecretString::from(secret)),
        })
    }

    /// A token a client presented. Anything that is not one of ours by shape is refused before
    /// it reaches the database.
    pub fn presented(token: &str) -> Result<Self> {
        let well_formed = token.len() == ENCODED_LEN
            && B64
                .decode(token)
                .is_ok_and(|bytes| bytes.len() == TOKEN_BYTES);
        if !well_formed {
            return Err(Error::invalid_token("malformed refresh token"));
        }
        Ok(Self {
            hash: hash(token),
            secret: None,
        })
    }

    pub fn hash(&self) -> &[u8] {
        &self.hash
    }

    /// The token to hand to the client; only a generated token has one.
    pub fn expose(&self) -> Result<&str> {
        self.secret
            .as_ref()
            .map(ExposeSecret::expose_secret)
            .ok_or_else(|| Error::Internal("a presented refresh token cannot be re-issued".into()))
    }
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_token_is_accepted_back_with_the_same_hash() {
        let issued = RefreshToken::generate().unwrap();
        let token = issued.expose().unwrap();
        assert_eq!(token.len(), ENCODED_LEN);
        assert_eq!(
            RefreshToken::presented(token).unwrap().hash(),
            issued.hash()
        );
    }

    #[test]
    fn two_generated_tokens_differ() {
        let a = RefreshToken::generate().unwrap();
        let b = RefreshToken::generate().unwrap();
        assert_ne!(a.expose().unwrap(), b.expose().unwrap());
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn the_stored_hash_is_not_the_token() {
        let issued = RefreshToken::generate().unwrap();
        assert_ne!(issued.hash(), issued.expose().unwrap().as_bytes());
    }

    #[test]
    fn tokens_of_the_wrong_shape_are_refused() {
        let good = RefreshToken::generate()
            .unwrap()
            .expose()
            .unwrap()
            .to_owned();
        for token in [
            "",
            "short",
            &good[..42],
            &format!("{good}A"),
            &format!("{}=", &good[..42]),
            &"!".repeat(43),
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.signatu",
        ] {
            assert!(RefreshToken::presented(token).is_err(), "{token:?}");
        }
    }
}

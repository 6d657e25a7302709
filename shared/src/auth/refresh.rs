//! Refresh tokens: 256 bits, base64url, handed to the client. A session's first is random; each
//! next one is derived from the one it replaces with HMAC-SHA256 under a server key, so that a
//! token spent moments ago (two tabs, a retried request) can be answered with the same successor
//! again although only hashes are stored. Without the key a successor is as unpredictable as a
//! random token. The database keeps only their SHA-256: a leaked table cannot be replayed, and a
//! 256-bit token needs no slow hash.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

const TOKEN_BYTES: usize = 32;
/// The base64url length of 32 bytes, unpadded.
const ENCODED_LEN: usize = 43;

/// A refresh token: the secret the client holds and the hash we store.
pub struct RefreshToken {
    secret: SecretString,
    hash: [u8; 32],
}

/// The keys successors are derived with: one from each JWT secret in force (a key of its own,
/// by a fixed label), so deployments have nothing new to manage. New successors come from the
/// current one; during a rotation, a successor derived before it under the previous secret is
/// still recognised, so a retry across the switch is not taken for reuse.
pub struct SuccessorKey(Vec<Hmac<Sha256>>);

impl SuccessorKey {
    /// From the secrets in force, the current one first.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a SecretString>) -> Self {
        Self(
            secrets
                .into_iter()
                .map(|secret| {
                    super::derived_hmac(secret, b"todo-auth-lambda refresh-token successor key v1")
                })
                .collect(),
        )
    }
}

impl RefreshToken {
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes)
            .map_err(|e| Error::Internal(format!("the OS random source failed: {e}")))?;
        Ok(Self::from_bytes(&bytes))
    }

    fn from_bytes(bytes: &[u8]) -> Self {
        let secret = B64.encode(bytes);
        Self {
            hash: hash(&secret),
            secret: SecretString::from(secret),
        }
    }

    /// Every token that may replace this one when it is spent, each the same every time it is
    /// asked for: the current key's (the one handed out) first, then the one a previous secret's
    /// key derived.
    pub fn successors(&self, key: &SuccessorKey) -> Vec<Self> {
        key.0
            .iter()
            .map(|derive| {
                let mut mac = derive.clone();
                mac.update(self.secret.expose_secret().as_bytes());
                Self::from_bytes(&mac.finalize().into_bytes())
            })
            .collect()
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
            secret: SecretString::from(token),
        })
    }

    pub fn hash(&self) -> &[u8] {
        &self.hash
    }

    /// The token to hand to the client.
    pub fn expose(&self) -> &str {
        self.secret.expose_secret()
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
        let token = issued.expose();
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
        assert_ne!(a.expose(), b.expose());
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn the_stored_hash_is_not_the_token() {
        let issued = RefreshToken::generate().unwrap();
        assert_ne!(issued.hash(), issued.expose().as_bytes());
    }

    /// The successor handed out: the current key's.
    fn successor(token: &RefreshToken, key: &SuccessorKey) -> RefreshToken {
        token.successors(key).swap_remove(0)
    }

    #[test]
    fn a_successor_is_a_well_formed_token_the_same_every_time_and_keyed() {
        let key = SuccessorKey::new([&SecretString::from("0123456789abcdef0123456789abcdef")]);
        let other = SuccessorKey::new([&SecretString::from("another secret of at least 32 bytes")]);
        let token = RefreshToken::generate().unwrap();
        let next = successor(&token, &key);
        assert!(RefreshToken::presented(next.expose()).is_ok());
        assert_eq!(next.expose(), successor(&token, &key).expose());
        assert_eq!(
            next.hash(),
            successor(&RefreshToken::presented(token.expose()).unwrap(), &key).hash()
        );
        assert_ne!(next.expose(), successor(&token, &other).expose());
        assert_ne!(next.expose(), successor(&next, &key).expose());
    }

    #[test]
    fn tokens_of_the_wrong_shape_are_refused() {
        let good = RefreshToken::generate().unwrap().expose().to_owned();
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

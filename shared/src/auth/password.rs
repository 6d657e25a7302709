//! bcrypt hashing and verification, off the async workers.
//!
//! What bcrypt is given for a password is its NFKC form (so "ﬁ" and "fi", full-width and plain
//! letters are one password) when that fits bcrypt's 72-byte input, and otherwise the base64 of
//! its SHA-256 (44 bytes): a pre-hash, so a long password is never truncated and every byte of
//! it counts. Knowing that stand-in takes knowing the password, so it opens nothing.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};

/// A syntactically valid bcrypt hash of no known password. Signins for unknown emails verify
/// against it (at the configured cost) so they take as long as a wrong password does.
const DUMMY_HASH_TAIL: &str = "IjZAgcfl7p92ldGxad68LOZdm0SnwJ/3Shpt3GnB3whiNx.FMYiSq";

/// bcrypt reads at most this many bytes.
const BCRYPT_MAX_INPUT: usize = 72;

/// Hashes and verifies passwords at one bcrypt cost.
pub struct Passwords {
    cost: u32,
    dummy_hash: String,
}

/// What a verification found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    Wrong,
    Right {
        /// The stored hash should be replaced by a fresh one: it has another cost than the one
        /// configured (so signins of known and unknown emails take the same time again), or it
        /// was made from the password as typed, before passwords were normalised.
        rehash: bool,
    },
}

/// The bytes bcrypt hashes for a password in its NFKC form (see the module's comment).
fn bcrypt_input(normalized: String) -> Vec<u8> {
    if normalized.len() <= BCRYPT_MAX_INPUT {
        normalized.into_bytes()
    } else {
        B64.encode(Sha256::digest(normalized.as_bytes()))
            .into_bytes()
    }
}

/// The cost a bcrypt hash was made with (`$2b$12$...`).
fn cost_of(hash: &str) -> Option<u32> {
    hash.get(4..6)?.parse().ok()
}

impl Passwords {
    pub fn new(cost: u32) -> Self {
        Self {
            cost,
            dummy_hash: format!("$2b${cost:02}${DUMMY_HASH_TAIL}"),
        }
    }

    pub async fn hash(&self, password: &SecretString) -> Result<String> {
        let password = password.clone();
        let cost = self.cost;
        blocking(move || {
            bcrypt::hash(
                bcrypt_input(password.expose_secret().nfkc().collect()),
                cost,
            )
        })
        .await
    }

    /// Checks `candidate` against `stored`, or against the dummy hash when there is no account,
    /// so both cases cost one full bcrypt computation. A hash made before normalisation from a
    /// password that normalisation changes is tried as typed too, once the normal form failed.
    pub async fn verify(&self, candidate: &SecretString, stored: Option<&str>) -> Result<Verified> {
        let hash = stored.unwrap_or(&self.dummy_hash).to_owned();
        let candidate = candidate.clone();
        let current_cost = self.cost;
        let verified = blocking(move || {
            let typed = candidate.expose_secret();
            let normalized: String = typed.nfkc().collect();
            let legacy = normalized != typed && typed.len() <= BCRYPT_MAX_INPUT;
            if bcrypt::verify(bcrypt_input(normalized), &hash)? {
                return Ok(Verified::Right {
                    rehash: cost_of(&hash) != Some(current_cost),
                });
            }
            if legacy && bcrypt::verify(typed.as_bytes(), &hash)? {
                return Ok(Verified::Right { rehash: true });
            }
            Ok(Verified::Wrong)
        })
        .await?;
        Ok(if stored.is_some() {
            verified
        } else {
            Verified::Wrong
        })
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, bcrypt::BcryptError> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Internal(format!("password worker failed: {e}")))?
        .map_err(|e| Error::Internal(format!("bcrypt: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    async fn verified(passwords: &Passwords, candidate: &str, hash: Option<&str>) -> Verified {
        passwords.verify(&secret(candidate), hash).await.unwrap()
    }

    const RIGHT: Verified = Verified::Right { rehash: false };

    #[tokio::test]
    async fn a_hashed_password_verifies_and_another_does_not() {
        let passwords = Passwords::new(4);
        let hash = passwords.hash(&secret("correct horse")).await.unwrap();
        assert!(hash.starts_with("$2b$04$"));
        assert_eq!(
            verified(&passwords, "correct horse", Some(&hash)).await,
            RIGHT
        );
        assert_eq!(
            verified(&passwords, "correct horsf", Some(&hash)).await,
            Verified::Wrong
        );
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies_even_with_the_dummy_password() {
        let passwords = Passwords::new(4);
        assert_eq!(
            verified(&passwords, "anything", None).await,
            Verified::Wrong
        );
        assert_eq!(verified(&passwords, "", None).await, Verified::Wrong);
    }

    #[tokio::test]
    async fn every_byte_of_a_long_password_counts() {
        let passwords = Passwords::new(4);
        // 72 bytes and more: bcrypt alone would ignore everything after the 72nd.
        let long = "é".repeat(64);
        let hash = passwords.hash(&secret(&long)).await.unwrap();
        assert_eq!(verified(&passwords, &long, Some(&hash)).await, RIGHT);
        let changed_at_the_end = format!("{}e", "é".repeat(63));
        assert_eq!(
            verified(&passwords, &changed_at_the_end, Some(&hash)).await,
            Verified::Wrong
        );
        let prefix = "p".repeat(72);
        let hash = passwords.hash(&secret(&prefix)).await.unwrap();
        assert_eq!(
            verified(&passwords, &format!("{prefix}extra"), Some(&hash)).await,
            Verified::Wrong
        );
    }

    #[tokio::test]
    async fn a_password_verifies_in_any_normalisation_form() {
        let passwords = Passwords::new(4);
        let hash = passwords.hash(&secret("ﬁne café")).await.unwrap();
        for typed in ["fine café", "fine cafe\u{301}", "ｆｉｎｅ café"] {
            assert_eq!(
                verified(&passwords, typed, Some(&hash)).await,
                RIGHT,
                "{typed:?}"
            );
        }
    }

    #[tokio::test]
    async fn old_hashes_verify_and_ask_to_be_replaced() {
        let passwords = Passwords::new(5);
        // Another cost than configured.
        let older = Passwords::new(4)
            .hash(&secret("correct horse"))
            .await
            .unwrap();
        assert_eq!(
            verified(&passwords, "correct horse", Some(&older)).await,
            Verified::Right { rehash: true }
        );
        // Made from the password as typed, before normalisation.
        let typed = "ﬁne café";
        let unnormalised = bcrypt::hash(typed, 5).unwrap();
        assert_eq!(
            verified(&passwords, typed, Some(&unnormalised)).await,
            Verified::Right { rehash: true }
        );
    }

    #[test]
    fn the_dummy_hash_carries_the_configured_cost() {
        assert!(Passwords::new(12).dummy_hash.starts_with("$2b$12$"));
        assert_eq!(Passwords::new(12).dummy_hash.len(), 60);
        assert_eq!(cost_of(&Passwords::new(12).dummy_hash), Some(12));
    }
}

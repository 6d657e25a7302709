//! bcrypt hashing and verification, off the async workers.
//!
//! What bcrypt is given for a password is the base64 of an HMAC-SHA256 of its NFKC form (so
//! "ﬁ" and "fi", full-width and plain letters are one password), keyed with a tag of this
//! application's own: 44 bytes for any password, so a long one is never truncated at bcrypt's 72
//! and every byte of it counts. The tag is what stops "password shucking": an unsalted SHA-256 (or
//! MD5...) of the password leaked from another site, sent here as the password, is not the input
//! bcrypt was given, and a plain SHA-256 pre-hash would have been. Hashes of this scheme are
//! stored as `bcrypt+hmac-sha256:$2b$...`.
//!
//! Older hashes (bare `$2b$...`) were given the NFKC form itself when it fit in 72 bytes, else
//! the base64 of its SHA-256, the shucking hole: they still verify, except for a candidate shaped
//! like such a SHA-256 stand-in, and are replaced with this scheme's at the next signin.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};

/// A syntactically valid bcrypt hash of no known password. Signins for unknown emails verify
/// against it (at the configured cost) so they take as long as a wrong password does.
const DUMMY_HASH_TAIL: &str = "IjZAgcfl7p92ldGxad68LOZdm0SnwJ/3Shpt3GnB3whiNx.FMYiSq";

/// bcrypt reads at most this many bytes.
const BCRYPT_MAX_INPUT: usize = 72;

/// The HMAC key of the pre-hash: public, and this application's alone. A new scheme gets a new
/// tag (and prefix).
const PREHASH_TAG: &[u8] = b"todo-auth-lambda password pre-hash v1";

/// How a stored hash of the current scheme begins; the bcrypt hash follows it.
const SCHEME: &str = "bcrypt+hmac-sha256:";

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
fn bcrypt_input(normalized: &str) -> Vec<u8> {
    // An HMAC takes a key of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(PREHASH_TAG).expect("any key length");
    mac.update(normalized.as_bytes());
    B64.encode(mac.finalize().into_bytes()).into_bytes()
}

/// What older hashes were given: the NFKC form if it fit, else the base64 of its SHA-256.
fn legacy_bcrypt_input(normalized: &str) -> Vec<u8> {
    if normalized.len() <= BCRYPT_MAX_INPUT {
        normalized.as_bytes().to_vec()
    } else {
        B64.encode(Sha256::digest(normalized.as_bytes()))
            .into_bytes()
    }
}

/// A candidate that is itself what an older hash was given for a long password (the base64 of
/// a SHA-256): a digest leaked from elsewhere, or taken from such a hash's input. Never a
/// password to try against an older hash.
fn shaped_like_legacy_prehash(candidate: &str) -> bool {
    candidate.len() == 44 && B64.decode(candidate).is_ok_and(|digest| digest.len() == 32)
}

/// The cost a bcrypt hash was made with (`$2b$12$...`).
fn cost_of(hash: &str) -> Option<u32> {
    hash.get(4..6)?.parse().ok()
}

impl Passwords {
    pub fn new(cost: u32) -> Self {
        Self {
            cost,
            dummy_hash: format!("{SCHEME}$2b${cost:02}${DUMMY_HASH_TAIL}"),
        }
    }

    pub async fn hash(&self, password: &SecretString) -> Result<String> {
        let password = password.clone();
        let cost = self.cost;
        let hash = blocking(move || {
            let normalized: String = password.expose_secret().nfkc().collect();
            bcrypt::hash(bcrypt_input(&normalized), cost)
        })
        .await?;
        Ok(format!("{SCHEME}{hash}"))
    }

    /// Checks `candidate` against `stored`, or against the dummy hash when there is no account,
    /// so both cases cost one full bcrypt computation. An older hash (see the module's comment)
    /// is checked its way and asks to be replaced; one made before normalisation from a password
    /// that normalisation changes is tried as typed too, once the normal form failed.
    pub async fn verify(&self, candidate: &SecretString, stored: Option<&str>) -> Result<Verified> {
        let stored_hash = stored.unwrap_or(&self.dummy_hash).to_owned();
        let candidate = candidate.clone();
        let current_cost = self.cost;
        let verified = blocking(move || {
            let typed = candidate.expose_secret();
            let normalized: String = typed.nfkc().collect();
            if let Some(hash) = stored_hash.strip_prefix(SCHEME) {
                return Ok(match bcrypt::verify(bcrypt_input(&normalized), hash)? {
                    true => Verified::Right {
                        rehash: cost_of(hash) != Some(current_cost),
                    },
                    false => Verified::Wrong,
                });
            }
            let hash = stored_hash.as_str();
            if shaped_like_legacy_prehash(typed) {
                return Ok(Verified::Wrong);
            }
            let as_typed = normalized != typed && typed.len() <= BCRYPT_MAX_INPUT;
            if bcrypt::verify(legacy_bcrypt_input(&normalized), hash)?
                || (as_typed && bcrypt::verify(typed.as_bytes(), hash)?)
            {
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
        assert!(hash.starts_with("bcrypt+hmac-sha256:$2b$04$"), "{hash}");
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
        // Made before the keyed pre-hash, at today's cost.
        let bare = bcrypt::hash("correct horse", 5).unwrap();
        assert_eq!(
            verified(&passwords, "correct horse", Some(&bare)).await,
            Verified::Right { rehash: true }
        );
    }

    /// Password shucking: the unsalted SHA-256 of a long password, leaked from another site,
    /// sent as the password. It once matched, since past 72 bytes bcrypt was given exactly that.
    #[tokio::test]
    async fn a_leaked_sha256_of_the_password_signs_in_to_no_hash_old_or_new() {
        let passwords = Passwords::new(4);
        let long = "correct horse battery staple ".repeat(4);
        let shucked = B64.encode(Sha256::digest(long.as_bytes()));
        let older = bcrypt::hash(legacy_bcrypt_input(&long), 4).unwrap();
        assert_eq!(
            verified(&passwords, &shucked, Some(&older)).await,
            Verified::Wrong
        );
        assert_eq!(
            verified(&passwords, &long, Some(&older)).await,
            Verified::Right { rehash: true }
        );
        let current = passwords.hash(&secret(&long)).await.unwrap();
        assert_eq!(
            verified(&passwords, &shucked, Some(&current)).await,
            Verified::Wrong
        );
        assert_eq!(verified(&passwords, &long, Some(&current)).await, RIGHT);
    }

    #[test]
    fn the_dummy_hash_is_of_the_current_scheme_and_carries_the_configured_cost() {
        let dummy = Passwords::new(12).dummy_hash;
        let bcrypt = dummy.strip_prefix(SCHEME).unwrap();
        assert!(bcrypt.starts_with("$2b$12$"));
        assert_eq!(bcrypt.len(), 60);
        assert_eq!(cost_of(bcrypt), Some(12));
    }
}

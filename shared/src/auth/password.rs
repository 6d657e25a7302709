//! bcrypt hashing and verification, off the async workers.

use secrecy::{ExposeSecret, SecretString};

use crate::error::{Error, Result};

/// A syntactically valid bcrypt hash of no known password. Signins for unknown emails verify
/// against it (at the configured cost) so they take as long as a wrong password does.
const DUMMY_HASH_TAIL: &str = "IjZAgcfl7p92ldGxad68LOZdm0SnwJ/3Shpt3GnB3whiNx.FMYiSq";

/// Hashes and verifies passwords at one bcrypt cost.
pub struct Passwords {
    cost: u32,
    dummy_hash: String,
}

impl Passwords {
    pub fn new(cost: u32) -> Self {
        Self {
            cost,
            dummy_hash: format!("$2b${cost:02}${DUMMY_HASH_TAIL}"),
        }
    }

    /// Hashes a password that passed the signup rules: at most 72 bytes, so bcrypt uses all of
    /// it. (The crate's `non_truncating_hash` refuses exactly 72 bytes, which the contract allows.)
    pub async fn hash(&self, password: &SecretString) -> Result<String> {
        let password = password.clone();
        let cost = self.cost;
        blocking(move || bcrypt::hash(password.expose_secret(), cost)).await
    }

    /// Checks `candidate` against `stored`, or against the dummy hash when there is no account,
    /// so both cases cost one full bcrypt computation. A password over bcrypt's 72-byte limit
    /// can match nothing, but still pays the same price.
    pub async fn verify(&self, candidate: &SecretString, stored: Option<&str>) -> Result<bool> {
        let known = stored.is_some();
        let hash = stored.unwrap_or(&self.dummy_hash).to_owned();
        let candidate = candidate.clone();
        let matched = blocking(move || {
            let bytes = candidate.expose_secret().as_bytes();
            // `verify` would silently truncate a long candidate; a fixed-size stand-in keeps the cost.
            let bytes = if bytes.len() > 72 {
                &[0u8; 1][..]
            } else {
                bytes
            };
            let matched = bcrypt::verify(bytes, &hash)?;
            Ok(matched && candidate.expose_secret().len() <= 72)
        })
        .await?;
        Ok(known && matched)
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

    #[tokio::test]
    async fn a_hashed_password_verifies_and_another_does_not() {
        let passwords = Passwords::new(4);
        let hash = passwords.hash(&secret("correct horse")).await.unwrap();
        assert!(hash.starts_with("$2b$04$"));
        assert!(
            passwords
                .verify(&secret("correct horse"), Some(&hash))
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify(&secret("correct horsf"), Some(&hash))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies_even_with_the_dummy_password() {
        let passwords = Passwords::new(4);
        assert!(!passwords.verify(&secret("anything"), None).await.unwrap());
        assert!(!passwords.verify(&secret(""), None).await.unwrap());
    }

    #[tokio::test]
    async fn a_candidate_longer_than_72_bytes_never_matches_its_prefix() {
        let passwords = Passwords::new(4);
        let prefix = "p".repeat(72);
        let hash = passwords.hash(&secret(&prefix)).await.unwrap();
        let longer = format!("{prefix}extra");
        assert!(
            !passwords
                .verify(&secret(&longer), Some(&hash))
                .await
                .unwrap()
        );
    }

    #[test]
    fn the_dummy_hash_carries_the_configured_cost() {
        assert!(Passwords::new(12).dummy_hash.starts_with("$2b$12$"));
        assert_eq!(Passwords::new(12).dummy_hash.len(), 60);
    }
}

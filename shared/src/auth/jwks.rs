//! A remote JSON Web Key Set (RFC 7517), as an identity provider publishes its signing keys:
//! fetched when first needed, kept per execution environment, fetched again when it has aged or
//! when a token names a key it lacks (a rotation), but never more than once per cooldown,
//! whatever happens: tokens with made-up `kid`s, or any token while the provider is failing,
//! cannot make every request wait for a fetch. A failed fetch is never remembered as an answer:
//! the first request after the cooldown tries again. Keys kept while the provider fails are
//! trusted for a bounded time only (`max_stale`); after it, tokens that need them get 503 until
//! a fetch succeeds, so keys the provider has since withdrawn do not verify for ever.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use reqwest::Url;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;

/// The signing algorithms accepted from a key set, each tied to the one key type that can
/// make it. Never an HMAC one: their key would be public, in the set.
const ACCEPTED: [Algorithm; 3] = [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256];

/// Timings of the cache; the defaults are those of `jose`'s `createRemoteJWKSet`.
#[derive(Clone, Copy, Debug)]
pub struct JwksTimings {
    /// How long one fetch may take, connecting included.
    pub timeout: Duration,
    /// After this, the next lookup fetches the set again (and keeps the old one if that fails).
    pub max_age: Duration,
    /// The set is fetched at most once in this long, whatever the reason.
    pub cooldown: Duration,
    /// Keys fetched longer ago than this (the provider failing since) verify nothing.
    pub max_stale: Duration,
}

impl Default for JwksTimings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(3),
            max_age: Duration::from_secs(600),
            cooldown: Duration::from_secs(30),
            max_stale: Duration::from_secs(3600),
        }
    }
}

/// A JWKS is a few keys; a larger answer is not one.
const MAX_BYTES: usize = 64 * 1024;

/// A verification key and the one algorithm it verifies.
pub struct Key {
    pub algorithm: Algorithm,
    pub decoding: DecodingKey,
}

/// Why no key could be looked up: the set could not be had. Its text is for the log.
#[derive(Debug, thiserror::Error)]
#[error("the key set at {url} could not be fetched: {reason}")]
pub struct Unreachable {
    url: Url,
    reason: String,
}

pub struct Jwks {
    url: Url,
    client: reqwest::Client,
    timings: JwksTimings,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, Arc<Key>>,
    /// When the keys were fetched; `None` until a fetch has succeeded.
    fetched: Option<Instant>,
    /// When a fetch last started, successful or not, for the cooldown.
    tried: Option<Instant>,
    /// Why the last fetch failed, while no later one has succeeded.
    failure: Option<String>,
}

impl Jwks {
    pub fn new(url: Url, timings: JwksTimings) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(timings.timeout)
            // The set's URL is configured; a redirect elsewhere is not followed.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            url,
            client,
            timings,
            cache: Mutex::new(Cache::default()),
        })
    }

    /// The key named `kid`, fetching the set when it has none yet, when it has aged, or when it
    /// lacks `kid`: at most once per cooldown. `Ok(None)`: the set, as fetched, has no such key.
    pub async fn key(&self, kid: &str) -> Result<Option<Arc<Key>>, Unreachable> {
        let mut cache = self.cache.lock().await;
        let now = Instant::now();
        let due = cache.fetched.is_none_or(|fetched| {
            now.duration_since(fetched) >= self.timings.max_age || !cache.keys.contains_key(kid)
        });
        let cooled = cache
            .tried
            .is_none_or(|tried| now.duration_since(tried) >= self.timings.cooldown);
        if due && cooled {
            cache.tried = Some(now);
            match self.fetch().await {
                Ok(keys) => {
                    tracing::info!(keys = keys.len(), url = %self.url, "key set fetched");
                    cache.keys = keys;
                    cache.fetched = Some(now);
                    cache.failure = None;
                }
                Err(error) => {
                    tracing::warn!(%error, "key set fetch failed; the next try waits for the cooldown");
                    cache.failure = Some(error.reason);
                }
            }
        }
        match cache.fetched {
            // Stale keys still verify what they verified, for a while: better than refusing
            // everyone while the provider is down.
            Some(fetched) if now.duration_since(fetched) < self.timings.max_stale => {
                Ok(cache.keys.get(kid).cloned())
            }
            Some(_) => Err(self.unreachable(format!(
                "the keys are older than {:?} and could not be fetched again: {}",
                self.timings.max_stale,
                cache.failure.as_deref().unwrap_or("not tried yet")
            ))),
            None => Err(self.unreachable(
                cache
                    .failure
                    .clone()
                    .unwrap_or_else(|| "not fetched yet".into()),
            )),
        }
    }

    fn unreachable(&self, reason: String) -> Unreachable {
        Unreachable {
            url: self.url.clone(),
            reason,
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<Key>>, Unreachable> {
        let unreachable = |reason: String| self.unreachable(reason);
        let mut response = self
            .client
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| unreachable(with_causes(e)))?;
        if !response.status().is_success() {
            return Err(unreachable(format!("status {}", response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| unreachable(with_causes(e)))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_BYTES {
                return Err(unreachable(format!("larger than {MAX_BYTES} bytes")));
            }
        }
        parse(&body).map_err(unreachable)
    }
}

/// The error and what caused it ("error sending request" alone says little): "connection
/// refused", "timed out", a certificate problem.
fn with_causes(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(&error);
    while let Some(source) = cause {
        text.push_str(": ");
        text.push_str(&source.to_string());
        cause = source.source();
    }
    text
}

/// The usable signing keys of a JWKS document, by `kid`. Keys without a `kid`, for another use,
/// of a type we do not accept, or whose `alg` contradicts their type are left out.
pub fn parse(body: &[u8]) -> Result<HashMap<String, Arc<Key>>, String> {
    #[derive(Deserialize)]
    struct Set {
        keys: Vec<Value>,
    }
    let set: Set = serde_json::from_slice(body).map_err(|e| format!("not a JWKS: {e}"))?;
    let mut keys = HashMap::new();
    for value in set.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
            continue;
        };
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        if let Some(key) = usable(&jwk) {
            keys.insert(kid, Arc::new(key));
        }
    }
    Ok(keys)
}

fn usable(jwk: &Jwk) -> Option<Key> {
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != PublicKeyUse::Signature)
    {
        return None;
    }
    let algorithm = match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        _ => return None,
    };
    debug_assert!(ACCEPTED.contains(&algorithm));
    if let Some(declared) = jwk.common.key_algorithm
        && declared.to_string() != format!("{algorithm:?}")
    {
        return None;
    }
    let decoding = DecodingKey::from_jwk(jwk).ok()?;
    Some(Key {
        algorithm,
        decoding,
    })
}

/// Whether `algorithm` may be used with a key from a set at all.
pub fn accepted(algorithm: Algorithm) -> bool {
    ACCEPTED.contains(&algorithm)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_signing_keys_of_an_accepted_type_with_a_kid_are_kept() {
        let x = "t9vKmC9TysoTLHQCqGiVKTuKaq0n1EXBtAUMEzC-rlE";
        let body = json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "ed", "alg": "EdDSA"},
            {"kty": "OKP", "crv": "Ed25519", "x": x},
            {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "enc", "use": "enc"},
            {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "liar", "alg": "ES256"},
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac", "alg": "HS256"},
            {"kty": "EC", "crv": "P-384", "x": x, "y": x, "kid": "p384"},
            {"kty": "nonsense", "kid": "junk"},
            "not even an object"
        ]});
        let keys = parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(keys.keys().collect::<Vec<_>>(), ["ed"]);
        assert_eq!(keys["ed"].algorithm, Algorithm::EdDSA);
    }

    #[test]
    fn a_document_that_is_not_a_key_set_is_an_error() {
        for body in [&b"<html>"[..], b"{}", b"{\"keys\": 1}"] {
            assert!(parse(body).is_err());
        }
    }
}

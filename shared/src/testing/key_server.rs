//! The signing side of an identity provider, for the Better Auth verifier's unit tests and the
//! benchmark: fixed test keys that sign tokens shaped like Better Auth's, and a JWKS endpoint on
//! a loopback port that publishes their public halves and counts its fetches. (`make test` also
//! runs a real Better Auth server against `make dev`: tests/better-auth/.)

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Url;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::RwLock;

/// A private key, its `kid`, and the `alg` its tokens' headers name (which a test may make wrong).
pub struct Signer {
    pub kid: &'static str,
    pub alg: Algorithm,
    key: EncodingKey,
}

impl Signer {
    /// Ed25519, as Better Auth's `jwt()` plugin signs by default.
    pub fn ed25519(kid: &'static str) -> Self {
        let key = EncodingKey::from_ed_der(include_bytes!("keys/ed25519.der"));
        Self::new(kid, Algorithm::EdDSA, key)
    }

    /// Another Ed25519 key: a forger's.
    pub fn other_ed25519(kid: &'static str) -> Self {
        let key = EncodingKey::from_ed_der(include_bytes!("keys/ed25519-other.der"));
        Self::new(kid, Algorithm::EdDSA, key)
    }

    pub fn p256(kid: &'static str) -> Self {
        let key = EncodingKey::from_ec_der(include_bytes!("keys/p256.der"));
        Self::new(kid, Algorithm::ES256, key)
    }

    pub fn rsa(kid: &'static str) -> Self {
        let key = EncodingKey::from_rsa_der(include_bytes!("keys/rsa.der"));
        Self::new(kid, Algorithm::RS256, key)
    }

    /// `key`'s key under another `kid` and header `alg`.
    pub fn posing_as(key: Signer, kid: &'static str, alg: Algorithm) -> Self {
        Self::new(kid, alg, key.key)
    }

    fn new(kid: &'static str, alg: Algorithm, key: EncodingKey) -> Self {
        Self { kid, alg, key }
    }

    /// The public half as a JWKS entry, as Better Auth publishes it.
    pub fn jwk(&self) -> Value {
        let mut jwk = Jwk::from_encoding_key(&self.key, self.alg).expect("a fixed test key");
        jwk.common.key_id = Some(self.kid.into());
        serde_json::to_value(jwk).expect("a JWK is JSON")
    }

    /// A token with these claims, `kid` and `alg` in its header.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with(self.header(), claims)
    }

    /// A token with this header, signed with this key.
    pub fn sign_with(&self, header: Header, claims: &Value) -> String {
        jsonwebtoken::encode(&header, claims, &self.key).expect("a fixed test key signs")
    }

    pub fn header(&self) -> Header {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.into());
        header
    }
}

/// A JWKS endpoint on a loopback port, counting its fetches; with no keys it answers 503.
pub struct KeyServer {
    pub url: Url,
    keys: Arc<RwLock<Option<Value>>>,
    fetches: Arc<AtomicUsize>,
}

impl KeyServer {
    pub async fn start(keys: Option<Value>) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/api/auth/jwks", listener.local_addr()?);
        let keys = Arc::new(RwLock::new(keys));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (keys.clone(), fetches.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                counted.fetch_add(1, Ordering::SeqCst);
                let response = match served.read().await.as_ref() {
                    Some(keys) => {
                        let body = keys.to_string();
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                             content-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    }
                    None => "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\
                             connection: close\r\n\r\n"
                        .to_owned(),
                };
                let _ = socket.write_all(response.as_bytes()).await;
            }
        });
        Ok(Self {
            url: url.parse().map_err(std::io::Error::other)?,
            keys,
            fetches,
        })
    }

    /// A JWKS document of these signers' public keys.
    pub fn publishing(signers: &[&Signer]) -> Option<Value> {
        Some(json!({"keys": signers.iter().map(|s| s.jwk()).collect::<Vec<_>>()}))
    }

    /// Serves `keys` from now on (`None`: 503, the provider is down).
    pub async fn publish(&self, keys: Option<Value>) {
        *self.keys.write().await = keys;
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

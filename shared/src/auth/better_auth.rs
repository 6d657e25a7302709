//! Tokens from a Better Auth server's JWT plugin (`GET /api/auth/token`), accepted beside our
//! own when `BETTER_AUTH_URL` is set. They are signed with the server's published keys (EdDSA
//! by default), name the Better Auth user in `sub`, and live until `exp`: Better Auth owns those
//! sessions, so nothing here can end one early.
//!
//! A token goes this way only when its (unverified) `iss` is the configured Better Auth issuer;
//! every other token takes our own path, unchanged. Here the algorithm is the key's: the token's
//! `kid` picks the key, and a header `alg` other than the one that key can make is refused.

use std::time::Duration;

use jsonwebtoken::{dangerous, decode_header};
use reqwest::Url;
use serde::Deserialize;

use super::jwks::{self, Jwks, JwksTimings};
use super::token::{check_issued_at, reason, validation};
use crate::error::{Error, Result};
use crate::users::linked::LinkedUser;
use crate::users::{DisplayName, Email};

/// Where Better Auth's tokens come from and who they must be for; validated by `config`.
#[derive(Clone, Debug)]
pub struct BetterAuthSettings {
    /// The exact `iss` of its tokens: Better Auth's `baseURL`.
    pub issuer: String,
    pub audience: String,
    pub jwks_url: Url,
    pub jwks_timings: JwksTimings,
    /// The longest lifetime (`exp - iat`) a token may claim: they cannot be ended here.
    pub max_lifetime: Duration,
}

/// The longest `sub` accepted. Better Auth's ids are 32 characters (36 when it is set to make
/// UUIDs); the bound keeps the largest list answer within Lambda's response limit.
pub const MAX_SUBJECT_CHARS: usize = 128;

/// A subject we can show as a user id and match against a path segment: 1 to 128 of URL's
/// unreserved characters (RFC 3986), which every id Better Auth generates is made of.
fn is_user_id(subject: &str) -> bool {
    (1..=MAX_SUBJECT_CHARS).contains(&subject.len())
        && subject
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

pub struct BetterAuth {
    issuer: String,
    audience: String,
    max_lifetime: Duration,
    jwks: Jwks,
}

#[derive(Deserialize)]
struct Unverified {
    iss: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    iat: Option<i64>,
    email: Option<String>,
    name: Option<String>,
    /// Any JSON: only `true` counts as verified.
    #[serde(rename = "emailVerified", default)]
    email_verified: Option<serde_json::Value>,
}

impl BetterAuth {
    pub fn new(settings: &BetterAuthSettings) -> Result<Self, reqwest::Error> {
        Ok(Self {
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            max_lifetime: settings.max_lifetime,
            jwks: Jwks::new(settings.jwks_url.clone(), settings.jwks_timings)?,
        })
    }

    /// Whether the token says it is from Better Auth: only which verifier to use, nothing
    /// more is read from a token before its signature is checked.
    pub fn claims_to_issue(&self, token: &str) -> bool {
        dangerous::insecure_decode_claims::<Unverified>(token)
            .is_ok_and(|claims| claims.iss.as_deref() == Some(self.issuer.as_str()))
    }

    /// The user a Better Auth token was issued to, if it is genuine, current and for us. A key
    /// set that cannot be fetched is 503 `unavailable`: the token may well be good.
    pub async fn verify(&self, token: &str) -> Result<LinkedUser> {
        let header = decode_header(token).map_err(|e| Error::invalid_token(reason(e.kind())))?;
        if !jwks::accepted(header.alg) {
            return Err(Error::invalid_token("algorithm not allowed"));
        }
        let kid = header
            .kid
            .ok_or(Error::invalid_token("no key id in the header"))?;
        let key = self
            .jwks
            .key(&kid)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "Better Auth's keys are unreachable");
                Error::Unavailable
            })?
            .ok_or(Error::invalid_token("unknown key id"))?;
        if key.algorithm != header.alg {
            return Err(Error::invalid_token("key does not fit the algorithm"));
        }
        let validation = validation(key.algorithm, &self.issuer, &self.audience);
        let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
            .map_err(|e| Error::invalid_token(reason(e.kind())))?
            .claims;
        check_issued_at(claims.iat)?;
        // Without `iat`, the time left stands for the lifetime.
        let issued = claims
            .iat
            .unwrap_or_else(|| time::OffsetDateTime::now_utc().unix_timestamp());
        if claims.exp.saturating_sub(issued) > self.max_lifetime.as_secs() as i64 {
            return Err(Error::invalid_token("lifetime longer than allowed"));
        }
        if !is_user_id(&claims.sub) {
            return Err(Error::invalid_token("subject is not a user id"));
        }
        Ok(LinkedUser {
            issuer: self.issuer.clone(),
            subject: claims.sub,
            // Profile fields that break our rules are left out rather than refusing the user.
            email: claims.email.as_deref().and_then(|e| Email::parse(e).ok()),
            name: DisplayName::parse(claims.name.as_deref()).unwrap_or_default(),
            email_verified: claims.email_verified == Some(serde_json::Value::Bool(true)),
        })
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use serde_json::{Value, json};
    use tokio::net::TcpListener;

    use time::OffsetDateTime;

    use super::*;
    use crate::error::AuthFailure;
    use crate::testing::key_server::{KeyServer, Signer};

    const ISSUER: &str = "http://127.0.0.1:3000";

    fn now() -> i64 {
        OffsetDateTime::now_utc().unix_timestamp()
    }

    /// What Better Auth 1.7's `jwt()` plugin puts in a token by default.
    fn claims() -> Value {
        json!({
            "iat": now(), "exp": now() + 900, "iss": ISSUER, "aud": ISSUER,
            "sub": "Qk3xq1NdRjYpTz0cW8vBmA2LhE7sUo9F", "id": "Qk3xq1NdRjYpTz0cW8vBmA2LhE7sUo9F",
            "email": "Ada@Example.com", "name": "Ada", "emailVerified": false,
            "createdAt": "2026-11-25T12:00:00.000Z", "updatedAt": "2026-11-25T12:00:00.000Z"
        })
    }

    fn with(key: &str, value: Value) -> Value {
        let mut claims = claims();
        claims[key] = value;
        claims
    }

    /// A verifier for tokens of `ISSUER`, its keys at `jwks_url`.
    fn verifier_at(jwks_url: Url, jwks_timings: JwksTimings) -> BetterAuth {
        BetterAuth::new(&BetterAuthSettings {
            issuer: ISSUER.into(),
            audience: ISSUER.into(),
            jwks_url,
            jwks_timings,
            max_lifetime: Duration::from_secs(3600),
        })
        .unwrap()
    }

    fn verifier(server: &KeyServer, cooldown: Duration) -> BetterAuth {
        let timings = JwksTimings {
            timeout: Duration::from_secs(2),
            cooldown,
            ..JwksTimings::default()
        };
        verifier_at(server.url.clone(), timings)
    }

    async fn verifier_of(signers: &[&Signer]) -> BetterAuth {
        let server = KeyServer::start(KeyServer::publishing(signers))
            .await
            .unwrap();
        verifier(&server, Duration::from_secs(30))
    }

    async fn rejected(verifier: &BetterAuth, token: &str) -> &'static str {
        match verifier.verify(token).await {
            Err(Error::Unauthorized(AuthFailure::Invalid(reason))) => reason,
            Err(other) => panic!("unexpected error {other:?}"),
            Ok(user) => panic!("token accepted for {user:?}"),
        }
    }

    fn unsigned(header: Value, claims: &Value, signature: &str) -> String {
        let header = B64.encode(header.to_string());
        let claims = B64.encode(claims.to_string());
        format!("{header}.{claims}.{signature}")
    }

    #[tokio::test]
    async fn a_better_auth_token_verifies_to_its_user_and_profile() {
        let signer = Signer::ed25519("k1");
        let verifier = verifier_of(&[&signer]).await;
        let token = signer.sign(&claims());
        assert!(verifier.claims_to_issue(&token));
        let user = verifier.verify(&token).await.unwrap();
        assert_eq!(user.subject, "Qk3xq1NdRjYpTz0cW8vBmA2LhE7sUo9F");
        assert_eq!(user.email.unwrap().as_str(), "ada@example.com");
        assert_eq!(user.name.as_deref(), Some("Ada"));
    }

    #[tokio::test]
    async fn es256_and_rs256_keys_verify_tokens_of_their_own_algorithm() {
        let (ec, rsa) = (Signer::p256("ec"), Signer::rsa("rsa"));
        let verifier = verifier_of(&[&ec, &rsa]).await;
        for signer in [&ec, &rsa] {
            verifier.verify(&signer.sign(&claims())).await.unwrap();
        }
    }

    #[tokio::test]
    async fn profile_fields_that_break_our_rules_are_left_out() {
        let signer = Signer::ed25519("k1");
        let verifier = verifier_of(&[&signer]).await;
        let mut odd = with("email", json!("not an email"));
        odd["name"] = json!("n".repeat(101));
        let user = verifier.verify(&signer.sign(&odd)).await.unwrap();
        assert_eq!((user.email, user.name.as_deref()), (None, None));
        let mut bare = claims();
        bare.as_object_mut()
            .unwrap()
            .retain(|k, _| ["iat", "exp", "iss", "aud", "sub"].contains(&k.as_str()));
        verifier.verify(&signer.sign(&bare)).await.unwrap();
    }

    #[tokio::test]
    async fn the_right_kid_signed_with_another_key_is_refused() {
        let verifier = verifier_of(&[&Signer::ed25519("k1")]).await;
        let forged = Signer::other_ed25519("k1").sign(&claims());
        assert_eq!(rejected(&verifier, &forged).await, "bad signature");
    }

    #[tokio::test]
    async fn an_unknown_kid_is_refused_and_fetches_the_keys_at_most_once_per_cooldown() {
        let signer = Signer::ed25519("k1");
        let server = KeyServer::start(KeyServer::publishing(&[&signer]))
            .await
            .unwrap();
        let verifier = verifier(&server, Duration::from_millis(300));
        verifier.verify(&signer.sign(&claims())).await.unwrap();
        assert_eq!(server.fetches(), 1);

        let stranger = Signer::other_ed25519("made-up");
        for _ in 0..20 {
            assert_eq!(
                rejected(&verifier, &stranger.sign(&claims())).await,
                "unknown key id"
            );
        }
        // The first unknown kid came within the cooldown of the first fetch: none of them fetched.
        assert_eq!(server.fetches(), 1);

        // A rotation: the provider publishes a new key; once the cooldown is over, one fetch finds it.
        let rotated = Signer::other_ed25519("k2");
        server
            .publish(KeyServer::publishing(&[&signer, &rotated]))
            .await;
        tokio::time::sleep(Duration::from_millis(350)).await;
        verifier.verify(&rotated.sign(&claims())).await.unwrap();
        assert_eq!(server.fetches(), 2);
        for _ in 0..20 {
            rejected(&verifier, &stranger.sign(&claims())).await;
        }
        assert_eq!(server.fetches(), 2);
    }

    #[tokio::test]
    async fn alg_none_and_hmac_are_refused_whatever_the_key() {
        let signer = Signer::ed25519("k1");
        let verifier = verifier_of(&[&signer]).await;
        for alg in ["none", "None", "NONE"] {
            rejected(
                &verifier,
                &unsigned(json!({"alg": alg, "kid": "k1"}), &claims(), ""),
            )
            .await;
        }
        // HS256 keyed with the public key's bytes, as published: the classic confusion.
        let public = B64.decode(signer.jwk()["x"].as_str().unwrap()).unwrap();
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let mut header = Header::new(alg);
            header.kid = Some("k1".into());
            let token =
                jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(&public))
                    .unwrap();
            assert_eq!(rejected(&verifier, &token).await, "algorithm not allowed");
        }
    }

    #[tokio::test]
    async fn a_token_without_a_kid_is_refused() {
        let signer = Signer::ed25519("k1");
        let verifier = verifier_of(&[&signer]).await;
        let token = signer.sign_with(Header::new(Algorithm::EdDSA), &claims());
        assert_eq!(rejected(&verifier, &token).await, "no key id in the header");
    }

    #[tokio::test]
    async fn a_key_of_another_type_than_the_headers_alg_is_refused() {
        let (ed, ec) = (Signer::ed25519("ed"), Signer::p256("ec"));
        let verifier = verifier_of(&[&ed, &ec]).await;
        // ES256 in the header, the Ed25519 key's kid (and the other way round).
        let mismatched = [
            Signer::posing_as(Signer::p256(""), "ed", Algorithm::ES256),
            Signer::posing_as(Signer::ed25519(""), "ec", Algorithm::EdDSA),
            Signer::posing_as(Signer::rsa(""), "ed", Algorithm::RS256),
        ];
        for signer in &mismatched {
            assert_eq!(
                rejected(&verifier, &signer.sign(&claims())).await,
                "key does not fit the algorithm"
            );
        }
    }

    #[tokio::test]
    async fn expired_future_and_misaddressed_tokens_are_refused() {
        let signer = Signer::ed25519("k1");
        let verifier = verifier_of(&[&signer]).await;
        let cases = [
            (with("exp", json!(now() - 120)), "expired"),
            (with("nbf", json!(now() + 600)), "not yet valid"),
            (with("iat", json!(now() + 600)), "issued in the future"),
            (
                with("aud", json!("http://elsewhere.example")),
                "wrong audience",
            ),
            (with("sub", json!("")), "subject is not a user id"),
            (
                with("sub", json!("x".repeat(129))),
                "subject is not a user id",
            ),
            (with("sub", json!("a/b")), "subject is not a user id"),
            (with("sub", json!("\"\\\u{1}")), "subject is not a user id"),
            (with("sub", json!(42)), "malformed"),
        ];
        for (claims, reason) in cases {
            assert_eq!(
                rejected(&verifier, &signer.sign(&claims)).await,
                reason,
                "{claims}"
            );
        }
        // A wrong `iss` is never routed here; sent here anyway, it is refused.
        let elsewhere = signer.sign(&with("iss", json!("http://elsewhere.example")));
        assert!(!verifier.claims_to_issue(&elsewhere));
        assert_eq!(rejected(&verifier, &elsewhere).await, "wrong issuer");
        // Leeway: just expired is still good, as for our own tokens.
        verifier
            .verify(&signer.sign(&with("exp", json!(now() - 5))))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn every_required_claim_must_be_present() {
        let signer = Signer::ed25519("k1");
        let verifier = verifier_of(&[&signer]).await;
        for claim in ["exp", "iss", "aud", "sub"] {
            let mut claims = claims();
            claims.as_object_mut().unwrap().remove(claim);
            rejected(&verifier, &signer.sign(&claims)).await;
        }
    }

    fn unavailable(result: Result<LinkedUser>) -> bool {
        matches!(result, Err(Error::Unavailable))
    }

    #[tokio::test]
    async fn unreachable_keys_are_503_fetched_at_most_once_per_cooldown_and_retried_after_it() {
        let signer = Signer::ed25519("k1");
        let server = KeyServer::start(None).await.unwrap();
        let verifier = verifier(&server, Duration::from_millis(300));
        let token = signer.sign(&claims());
        for _ in 0..10 {
            assert!(unavailable(verifier.verify(&token).await));
        }
        assert_eq!(
            server.fetches(),
            1,
            "one fetch per cooldown, even while failing"
        );
        server.publish(KeyServer::publishing(&[&signer])).await;
        tokio::time::sleep(Duration::from_millis(350)).await;
        verifier.verify(&token).await.unwrap();
        assert_eq!(
            server.fetches(),
            2,
            "a failure is not remembered as an answer"
        );
        // Once fetched, a provider outage keeps the keys: tokens still verify.
        server.publish(None).await;
        verifier.verify(&token).await.unwrap();
    }

    /// The review's finding: once the keys were older than `max_age` and the provider failing,
    /// every request carrying the issuer (forged ones too) fetched, up to 3 s each, and the stale
    /// keys were trusted for ever.
    #[tokio::test]
    async fn aged_keys_and_a_failing_provider_fetch_once_per_cooldown_and_expire_after_max_stale() {
        let signer = Signer::ed25519("k1");
        let server = KeyServer::start(KeyServer::publishing(&[&signer]))
            .await
            .unwrap();
        let verifier = verifier_at(
            server.url.clone(),
            JwksTimings {
                timeout: Duration::from_secs(2),
                max_age: Duration::from_millis(100),
                cooldown: Duration::from_millis(400),
                max_stale: Duration::from_millis(1200),
            },
        );
        let token = signer.sign(&claims());
        verifier.verify(&token).await.unwrap();
        server.publish(None).await;
        tokio::time::sleep(Duration::from_millis(150)).await; // past max_age
        for _ in 0..20 {
            verifier.verify(&token).await.unwrap();
            let forged = Signer::other_ed25519("k1").sign(&claims());
            rejected(&verifier, &forged).await;
        }
        assert_eq!(
            server.fetches(),
            2,
            "the first fetch, then one refresh in the cooldown"
        );
        tokio::time::sleep(Duration::from_millis(1200)).await; // past max_stale
        assert!(
            unavailable(verifier.verify(&token).await),
            "stale keys verify nothing"
        );
        assert_eq!(server.fetches(), 3);
        server.publish(KeyServer::publishing(&[&signer])).await;
        tokio::time::sleep(Duration::from_millis(450)).await;
        verifier.verify(&token).await.unwrap();
    }

    #[tokio::test]
    async fn a_token_claiming_a_longer_lifetime_than_allowed_is_refused() {
        let signer = Signer::ed25519("k1");
        let verifier = verifier_of(&[&signer]).await;
        let mut long = with("exp", json!(now() + 3700));
        long["iat"] = json!(now() - 5);
        assert_eq!(
            rejected(&verifier, &signer.sign(&long)).await,
            "lifetime longer than allowed"
        );
        let mut without_iat = with("exp", json!(now() + 7200));
        without_iat.as_object_mut().unwrap().remove("iat");
        assert_eq!(
            rejected(&verifier, &signer.sign(&without_iat)).await,
            "lifetime longer than allowed"
        );
        verifier
            .verify(&signer.sign(&with("exp", json!(now() + 3500))))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_key_set_on_a_closed_port_is_503() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api/auth/jwks", listener.local_addr().unwrap());
        drop(listener);
        let verifier = verifier_at(url.parse().unwrap(), JwksTimings::default());
        let token = Signer::ed25519("k1").sign(&claims());
        assert!(matches!(
            verifier.verify(&token).await,
            Err(Error::Unavailable)
        ));
    }

    #[tokio::test]
    async fn a_key_set_that_never_answers_is_503_within_the_timeout() {
        // Accepts connections and never says a word.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api/auth/jwks", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let verifier = verifier_at(
            url.parse().unwrap(),
            JwksTimings {
                timeout: Duration::from_millis(300),
                ..JwksTimings::default()
            },
        );
        let token = Signer::ed25519("k1").sign(&claims());
        let started = std::time::Instant::now();
        assert!(matches!(
            verifier.verify(&token).await,
            Err(Error::Unavailable)
        ));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn only_the_exact_issuer_is_routed_to_better_auth() {
        let verifier = verifier_at(
            "http://127.0.0.1:1/".parse().unwrap(),
            JwksTimings::default(),
        );
        let signer = Signer::ed25519("k1");
        for iss in [
            json!("http://127.0.0.1:3000/"),
            json!("todo-auth-lambda"),
            json!(null),
        ] {
            assert!(!verifier.claims_to_issue(&signer.sign(&with("iss", iss))));
        }
        assert!(!verifier.claims_to_issue("not a token"));
    }
}

//! Access tokens: short-lived HS256 JWTs naming the user (`sub`) and their session (`sid`),
//! issued at signin and refresh, verified on every request. Verification pins the algorithm and
//! reads no key material from the token: `jwk`, `jku` and `x5u` headers are ignored, and `kid`
//! only says which of our own keys to try first.
//!
//! Keys rotate without signing anyone out: tokens carry the `kid` of the secret that signed
//! them (an id derived from it, not the secret), new ones are signed with `JWT_SECRET`, and
//! during a rotation `JWT_PREVIOUS_SECRET` still verifies what it signed.

use hmac::Mac;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::Caller;
use crate::error::{Error, Result};

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
const LEEWAY_SECONDS: u64 = 30;

/// The checks every token we accept passes, whoever signed it: `alg` pinned, `exp`, `sub`,
/// `iss` and `aud` required, issuer and audience ours to name, `nbf` honoured, the same leeway.
pub(super) fn validation(algorithm: Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.validate_nbf = true;
    validation.leeway = LEEWAY_SECONDS;
    validation
}

/// `iat` is optional, but one in the future (beyond the leeway) means a broken or lying signer.
pub(super) fn check_issued_at(iat: Option<i64>) -> Result<()> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    if iat.is_some_and(|iat| iat > now.saturating_add_unsigned(LEEWAY_SECONDS)) {
        return Err(Error::invalid_token("issued in the future"));
    }
    Ok(())
}

/// What it takes to issue and verify tokens; the secret is checked by `config`.
#[derive(Clone, Debug)]
pub struct TokenSettings {
    pub secret: SecretString,
    /// During a rotation, the secret before `secret`: verifies, never signs.
    pub previous_secret: Option<SecretString>,
    pub issuer: String,
    pub audience: String,
    pub ttl_seconds: u64,
}

impl TokenSettings {
    /// The secrets in force, the current one first.
    pub fn secrets(&self) -> impl Iterator<Item = &SecretString> {
        std::iter::once(&self.secret).chain(&self.previous_secret)
    }
}

/// A secret's key id: public, derived from it, the same on every function.
pub fn key_id(secret: &SecretString) -> String {
    let id = super::derived_hmac(secret, b"todo-auth-lambda signing key id v1").finalize();
    id.into_bytes()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Keys and rules built once per cold start.
pub struct Tokens {
    header: Header,
    encoding: EncodingKey,
    /// Every key that verifies, by its id: the current one first.
    decoding: Vec<(String, DecodingKey)>,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_seconds: u64,
}

#[derive(Serialize)]
struct IssuedClaims<'a> {
    sub: Uuid,
    sid: Uuid,
    iat: i64,
    nbf: i64,
    exp: i64,
    iss: &'a str,
    aud: &'a str,
    jti: Uuid,
}

/// The claims we read back; `exp`, `iss`, `aud` and `nbf` are checked by the validation itself.
#[derive(Deserialize)]
struct VerifiedClaims {
    sub: Uuid,
    sid: Uuid,
    iat: Option<i64>,
}

/// A freshly signed token and how long it lives.
pub struct IssuedToken {
    pub token: String,
    pub expires_in: u64,
}

impl Tokens {
    pub fn new(settings: &TokenSettings) -> Self {
        let validation = validation(Algorithm::HS256, &settings.issuer, &settings.audience);
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key_id(&settings.secret));
        Self {
            header,
            encoding: EncodingKey::from_secret(settings.secret.expose_secret().as_bytes()),
            decoding: settings
                .secrets()
                .map(|s| {
                    (
                        key_id(s),
                        DecodingKey::from_secret(s.expose_secret().as_bytes()),
                    )
                })
                .collect(),
            validation,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            ttl_seconds: settings.ttl_seconds,
        }
    }

    pub fn issue(&self, caller: Caller) -> Result<IssuedToken> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let claims = IssuedClaims {
            sub: caller.user,
            sid: caller.session,
            iat: now,
            nbf: now,
            exp: now.saturating_add_unsigned(self.ttl_seconds),
            iss: &self.issuer,
            aud: &self.audience,
            jti: Uuid::new_v4(),
        };
        let token = jsonwebtoken::encode(&self.header, &claims, &self.encoding)
            .map_err(|e| Error::Internal(format!("signing a token failed: {e}")))?;
        Ok(IssuedToken {
            token,
            expires_in: self.ttl_seconds,
        })
    }

    /// The user and session a token was issued to, if the token is genuine, current and meant
    /// for us. Whether the session is still live is for the database to say.
    pub fn verify(&self, token: &str) -> Result<Caller> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| Error::invalid_token(reason(e.kind())))?;
        // The key the token names, if it is one of ours; otherwise (none, or a `kid` we never
        // issued) each of ours in turn. Only our own keys ever verify.
        let named = self
            .decoding
            .iter()
            .filter(|(id, _)| header.kid.as_deref() == Some(id.as_str()))
            .collect::<Vec<_>>();
        let candidates = if named.is_empty() {
            self.decoding.iter().collect()
        } else {
            named
        };
        let mut failure = jsonwebtoken::errors::ErrorKind::InvalidSignature;
        let mut verified = None;
        for (_, key) in candidates {
            match jsonwebtoken::decode::<VerifiedClaims>(token, key, &self.validation) {
                Ok(data) => {
                    verified = Some(data.claims);
                    break;
                }
                // Another key may have signed it.
                Err(e) if *e.kind() == jsonwebtoken::errors::ErrorKind::InvalidSignature => {}
                // The signature held; the claims did not.
                Err(e) => {
                    failure = e.into_kind();
                    break;
                }
            }
        }
        let claims = verified.ok_or_else(|| Error::invalid_token(reason(&failure)))?;
        check_issued_at(claims.iat)?;
        Ok(Caller::new(claims.sub, claims.sid))
    }
}

/// A short reason for the logs; the client only ever learns `invalid_token`.
pub(super) fn reason(kind: &jsonwebtoken::errors::ErrorKind) -> &'static str {
    use jsonwebtoken::errors::ErrorKind as K;
    match kind {
        K::ExpiredSignature => "expired",
        K::ImmatureSignature => "not yet valid",
        K::InvalidSignature => "bad signature",
        K::InvalidAlgorithm | K::InvalidAlgorithmName => "algorithm not allowed",
        K::InvalidIssuer => "wrong issuer",
        K::InvalidAudience => "wrong audience",
        K::MissingRequiredClaim(_) => "missing a required claim",
        _ => "malformed",
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use serde_json::{Value, json};

    use super::*;
    use crate::error::AuthFailure;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn tokens() -> Tokens {
        Tokens::new(&TokenSettings {
            secret: SecretString::from(SECRET),
            previous_secret: None,
            issuer: "todo-api".into(),
            audience: "todo-app".into(),
            ttl_seconds: 3600,
        })
    }

    fn now() -> i64 {
        OffsetDateTime::now_utc().unix_timestamp()
    }

    fn caller() -> Caller {
        Caller::new(Uuid::new_v4(), Uuid::new_v4())
    }

    fn good_claims(user: Uuid) -> Value {
        json!({"sub": user, "sid": Uuid::new_v4(), "iat": now(), "exp": now() + 600, "iss": "todo-api", "aud": "todo-app", "jti": Uuid::new_v4()})
    }

    fn sign(alg: Algorithm, claims: &Value, secret: &str) -> String {
        jsonwebtoken::encode(
            &Header::new(alg),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn with_claim(key: &str, value: Value) -> String {
        let mut claims = good_claims(Uuid::new_v4());
        claims[key] = value;
        sign(Algorithm::HS256, &claims, SECRET)
    }

    fn without_claim(key: &str) -> String {
        let mut claims = good_claims(Uuid::new_v4());
        claims.as_object_mut().unwrap().remove(key);
        sign(Algorithm::HS256, &claims, SECRET)
    }

    fn unsigned(header: Value, claims: &Value, signature: &str) -> String {
        let header = B64.encode(header.to_string());
        let claims = B64.encode(claims.to_string());
        format!("{header}.{claims}.{signature}")
    }

    fn rejected(token: &str) -> &'static str {
        match tokens().verify(token) {
            Err(Error::Unauthorized(AuthFailure::Invalid(reason))) => reason,
            Err(other) => panic!("unexpected error {other:?}"),
            Ok(caller) => panic!("token accepted for {caller:?}"),
        }
    }

    fn tokens_under(secret: &str, previous: Option<&str>) -> Tokens {
        Tokens::new(&TokenSettings {
            secret: SecretString::from(secret),
            previous_secret: previous.map(SecretString::from),
            issuer: "todo-api".into(),
            audience: "todo-app".into(),
            ttl_seconds: 3600,
        })
    }

    const NEXT: &str = "the next secret, at least 32 bytes long";

    #[test]
    fn a_rotation_verifies_the_previous_secrets_tokens_until_it_is_removed() {
        let caller = caller();
        let before = tokens_under(SECRET, None).issue(caller).unwrap().token;
        let during = tokens_under(NEXT, Some(SECRET));
        assert_eq!(during.verify(&before).unwrap(), caller);
        let fresh = during.issue(caller).unwrap().token;
        let kid = |token: &str| jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
        assert_eq!(kid(&before), key_id(&SecretString::from(SECRET)));
        assert_eq!(
            kid(&fresh),
            key_id(&SecretString::from(NEXT)),
            "signed with the new secret"
        );
        let after = tokens_under(NEXT, None);
        assert_eq!(after.verify(&fresh).unwrap(), caller);
        assert!(matches!(
            after.verify(&before),
            Err(Error::Unauthorized(AuthFailure::Invalid("bad signature")))
        ));
        // Tokens from before key ids existed (no `kid`) verify during a rotation too.
        let unnamed = sign(Algorithm::HS256, &good_claims(caller.user), SECRET);
        assert!(during.verify(&unnamed).is_ok());
    }

    #[test]
    fn a_kid_naming_the_previous_key_does_not_make_a_forgery_verify() {
        let during = tokens_under(NEXT, Some(SECRET));
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key_id(&SecretString::from(SECRET)));
        let claims = good_claims(Uuid::new_v4());
        let forged = jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_secret(b"attacker-chosen-key-of-32-bytes-or-more"),
        )
        .unwrap();
        assert!(matches!(
            during.verify(&forged),
            Err(Error::Unauthorized(AuthFailure::Invalid("bad signature")))
        ));
        // Key ids are public and say nothing of the secret but which one it is.
        assert_ne!(
            key_id(&SecretString::from(SECRET)),
            key_id(&SecretString::from(NEXT))
        );
        assert_eq!(key_id(&SecretString::from(SECRET)).len(), 16);
    }

    #[test]
    fn an_issued_token_verifies_to_its_user_with_every_required_claim() {
        let caller = caller();
        let issued = tokens().issue(caller).unwrap();
        assert_eq!(issued.expires_in, 3600);
        assert_eq!(tokens().verify(&issued.token).unwrap(), caller);

        let claims: Value =
            serde_json::from_slice(&B64.decode(issued.token.split('.').nth(1).unwrap()).unwrap())
                .unwrap();
        for claim in ["sub", "sid", "iat", "exp", "iss", "aud", "jti"] {
            assert!(claims.get(claim).is_some(), "{claim} missing");
        }
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            3600
        );
    }

    #[test]
    fn two_tokens_for_one_user_have_different_ids() {
        let caller = caller();
        assert_ne!(
            tokens().issue(caller).unwrap().token,
            tokens().issue(caller).unwrap().token
        );
    }

    #[test]
    fn alg_none_is_refused_in_any_spelling() {
        let claims = good_claims(Uuid::new_v4());
        for alg in ["none", "None", "NONE", "nOnE"] {
            let token = unsigned(json!({"alg": alg, "typ": "JWT"}), &claims, "");
            rejected(&token);
        }
    }

    #[test]
    fn other_algorithms_are_refused_even_with_the_right_secret() {
        let claims = good_claims(Uuid::new_v4());
        for alg in [Algorithm::HS384, Algorithm::HS512] {
            assert_eq!(
                rejected(&sign(alg, &claims, SECRET)),
                "algorithm not allowed"
            );
        }
    }

    #[test]
    fn a_token_signed_with_another_secret_is_refused() {
        let claims = good_claims(Uuid::new_v4());
        let token = sign(
            Algorithm::HS256,
            &claims,
            "another secret that is long enough!!",
        );
        assert_eq!(rejected(&token), "bad signature");
    }

    #[test]
    fn tampered_claims_break_the_signature() {
        let token = tokens().issue(caller()).unwrap().token;
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut claims: Value = serde_json::from_slice(&B64.decode(&parts[1]).unwrap()).unwrap();
        claims["sub"] = json!(Uuid::new_v4());
        parts[1] = B64.encode(claims.to_string());
        assert_eq!(rejected(&parts.join(".")), "bad signature");
    }

    #[test]
    fn a_missing_or_truncated_signature_is_refused() {
        let token = tokens().issue(caller()).unwrap().token;
        let (unsigned_part, signature) = token.rsplit_once('.').unwrap();
        rejected(&format!("{unsigned_part}."));
        rejected(&format!("{unsigned_part}.{}", &signature[..10]));
        rejected(unsigned_part);
    }

    #[test]
    fn expired_and_not_yet_valid_tokens_are_refused() {
        assert_eq!(rejected(&with_claim("exp", json!(now() - 120))), "expired");
        assert_eq!(
            rejected(&with_claim("nbf", json!(now() + 600))),
            "not yet valid"
        );
        assert_eq!(
            rejected(&with_claim("iat", json!(now() + 600))),
            "issued in the future"
        );
    }

    #[test]
    fn a_wrong_issuer_or_audience_is_refused() {
        assert_eq!(
            rejected(&with_claim("iss", json!("someone-else"))),
            "wrong issuer"
        );
        assert_eq!(
            rejected(&with_claim("aud", json!("another-app"))),
            "wrong audience"
        );
    }

    #[test]
    fn every_required_claim_must_be_present() {
        for claim in ["exp", "sub", "sid", "iss", "aud"] {
            rejected(&without_claim(claim));
        }
    }

    #[test]
    fn a_subject_that_is_not_a_user_id_is_refused() {
        rejected(&with_claim("sub", json!("admin")));
    }

    #[test]
    fn garbage_is_refused() {
        for token in ["", ".", "..", "a.b.c", "not a token", "\u{0}"] {
            assert_eq!(rejected(token), "malformed", "{token:?}");
        }
    }

    /// A token with any header, HMAC-signed with `key`: how jwt_tool forges its variants.
    fn forged(header: Value, claims: &Value, key: &[u8]) -> String {
        let message = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let signature = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &EncodingKey::from_secret(key),
            Algorithm::HS256,
        )
        .unwrap();
        format!("{message}.{signature}")
    }

    #[test]
    fn a_null_or_zeroed_signature_is_refused() {
        let claims = good_claims(Uuid::new_v4());
        for signature in [
            "",
            "AA",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "null",
        ] {
            rejected(&unsigned(
                json!({"alg": "HS256", "typ": "JWT"}),
                &claims,
                signature,
            ));
        }
    }

    #[test]
    fn a_token_signed_with_an_empty_key_is_refused() {
        let claims = good_claims(Uuid::new_v4());
        assert_eq!(
            rejected(&forged(json!({"alg": "HS256"}), &claims, b"")),
            "bad signature"
        );
    }

    #[test]
    fn switching_to_an_asymmetric_algorithm_is_refused() {
        // The classic confusion: RS256/ES256 in the header, HMAC over our secret as "public key".
        let claims = good_claims(Uuid::new_v4());
        let genuine = forged(json!({"alg": "HS256"}), &claims, SECRET.as_bytes());
        let signature = genuine.rsplit('.').next().unwrap();
        for alg in ["RS256", "ES256", "PS256", "EdDSA", "HS256 ", "hs256"] {
            rejected(&unsigned(json!({"alg": alg}), &claims, signature));
        }
    }

    #[test]
    fn key_material_in_the_header_is_never_trusted() {
        let claims = good_claims(Uuid::new_v4());
        let attacker = b"attacker-chosen-key-of-32-bytes-or-more";
        let headers = [
            json!({"alg": "HS256", "jwk": {"kty": "oct", "k": B64.encode(attacker)}}),
            json!({"alg": "HS256", "jku": "https://attacker.example/jwks.json"}),
            json!({"alg": "HS256", "x5u": "https://attacker.example/cert.pem"}),
            json!({"alg": "HS256", "kid": "../../../../../../dev/null"}),
            json!({"alg": "HS256", "kid": "' UNION SELECT 'attacker-chosen-key-of-32-bytes-or-more' --"}),
            json!({"alg": "HS256", "kid": "key|/usr/bin/id"}),
        ];
        for header in headers {
            assert_eq!(
                rejected(&forged(header.clone(), &claims, attacker)),
                "bad signature",
                "{header}"
            );
            // /dev/null as the key file means an empty key.
            assert_eq!(
                rejected(&forged(header.clone(), &claims, b"")),
                "bad signature",
                "{header}"
            );
        }
    }

    #[test]
    fn a_token_without_a_session_is_refused() {
        rejected(&without_claim("sid"));
        rejected(&with_claim("sid", json!("not-a-session")));
    }
}

//! Reading what a request carries: its JSON body, its bearer token, its path parameters.

use lambda_http::http::header::{AUTHORIZATION, CONTENT_TYPE};
use std::net::IpAddr;

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde::{Deserialize, Deserializer, de::DeserializeOwned};
use serde_json::{Map, Value};

use crate::error::{AuthFailure, Error, Result};
use crate::validation::FieldErrors;

/// The client's address as API Gateway saw it (the TCP peer, not a forgeable header).
pub fn source_address(req: &Request) -> Option<IpAddr> {
    match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => context.http.source_ip.as_deref()?.parse().ok(),
        _ => None,
    }
}

/// Request bodies larger than this are refused with 413 before they are parsed.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The body as `T`, a struct of optional fields; the body must be a JSON object.
/// Bodies API Gateway sent base64-encoded arrive here already decoded by lambda_http.
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T> {
    match body_bytes(req)? {
        [] => Err(Error::InvalidJson(
            "request body is empty; send a JSON object".into(),
        )),
        bytes => parse_object(bytes),
    }
}

/// Like [`json_body`], but an empty body means all fields are absent.
pub fn optional_json_body<T: DeserializeOwned + Default>(req: &Request) -> Result<T> {
    match body_bytes(req)? {
        [] => Ok(T::default()),
        bytes => parse_object(bytes),
    }
}

fn body_bytes(req: &Request) -> Result<&[u8]> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.is_empty() {
        return Ok(bytes);
    }
    if let Some(content_type) = req.headers().get(CONTENT_TYPE) {
        let essence = content_type
            .to_str()
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim();
        if !essence.eq_ignore_ascii_case("application/json") {
            return Err(Error::UnsupportedMediaType);
        }
    }
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Error::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    Ok(bytes)
}

/// Syntax errors and non-objects are 400; a field of the wrong type is a 422 naming the field.
fn parse_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let object: Map<String, Value> = serde_json::from_slice(bytes).map_err(|e| {
        Error::InvalidJson(match e.classify() {
            serde_json::error::Category::Data => "request body must be a JSON object".into(),
            _ => format!(
                "request body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        })
    })?;
    serde_path_to_error::deserialize(Value::Object(object)).map_err(|e| {
        let field = e.path().to_string();
        let problem = e.into_inner().to_string();
        Error::Validation(FieldErrors::single(field, problem))
    })
}

/// For optional fields where `null` means something (clear it) and absence means "unchanged":
/// use with `#[serde(default, deserialize_with = "present")]` on an `Option<Option<T>>`.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1).
pub fn bearer_token(req: &Request) -> Result<&str> {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .ok_or(Error::Unauthorized(AuthFailure::Missing))?;
    let value = header
        .to_str()
        .map_err(|_| Error::invalid_token("authorization header is not ASCII"))?;
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Error::Unauthorized(AuthFailure::Missing));
    }
    match token.trim() {
        "" => Err(Error::invalid_token("empty bearer token")),
        token => Ok(token),
    }
}

/// A path parameter, as API Gateway (or `cargo lambda watch`) extracted it from the route.
pub fn path_param(req: &Request, name: &str) -> Option<String> {
    req.path_parameters().first(name).map(str::to_owned)
}

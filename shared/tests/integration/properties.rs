//! Property tests of everything that parses untrusted input: access tokens, refresh tokens,
//! list cursors and query strings, and request bodies. Whatever arrives, the answer is the
//! contract's error, never a panic, and nothing forged is ever accepted.

use std::collections::HashMap;

use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::{Body, Request};
use proptest::prelude::*;
use secrecy::SecretString;
use serde_json::Value;
use shared::Error;
use shared::auth::{Caller, RefreshToken, TokenSettings, Tokens};
use shared::error::AuthFailure;
use shared::http::{MAX_BODY_BYTES, json_body};
use shared::tasks::{Cursor, CursorKey, ListQuery, Order, Sort};
use time::OffsetDateTime;
use uuid::Uuid;

fn tokens() -> Tokens {
    Tokens::new(&TokenSettings {
        secret: SecretString::from("property-tests-secret-of-at-least-32-bytes"),
        previous_secret: None,
        issuer: "todo-auth-lambda".into(),
        audience: "todo-app".into(),
        ttl_seconds: 900,
    })
}

fn is_invalid_token(result: &Result<Caller, Error>) -> bool {
    matches!(result, Err(Error::Unauthorized(AuthFailure::Invalid(_))))
}

fn sorts() -> impl Strategy<Value = (Sort, Order)> {
    (
        prop_oneof![Just(Sort::Created), Just(Sort::Updated), Just(Sort::Title)],
        prop_oneof![Just(Order::Asc), Just(Order::Desc)],
    )
}

fn request(body: Vec<u8>) -> Request {
    lambda_http::http::Request::builder()
        .method("POST")
        .uri("https://api.example.com/api/tasks")
        .header(CONTENT_TYPE, "application/json")
        .body(Body::Binary(body))
        .unwrap()
}

proptest! {
    #[test]
    fn any_string_is_refused_as_an_access_token(token in any::<String>()) {
        prop_assert!(is_invalid_token(&tokens().verify(&token)));
    }

    #[test]
    fn jwt_shaped_garbage_is_refused(
        parts in prop::collection::vec("[A-Za-z0-9_=-]{0,60}", 1..5)
    ) {
        prop_assert!(is_invalid_token(&tokens().verify(&parts.join("."))));
    }

    #[test]
    fn changing_any_character_of_a_genuine_token_breaks_it(
        at in any::<prop::sample::Index>(),
        replacement in "[A-Za-z0-9_.-]",
    ) {
        let tokens = tokens();
        let caller = Caller::new(Uuid::new_v4(), Uuid::new_v4());
        let genuine = tokens.issue(caller).unwrap().token;
        let i = at.index(genuine.len());
        prop_assume!(genuine[i..i + 1] != replacement);
        let forged = format!("{}{}{}", &genuine[..i], replacement, &genuine[i + 1..]);
        prop_assert!(is_invalid_token(&tokens.verify(&forged)), "accepted: {forged}");
    }

    #[test]
    fn a_refresh_token_is_accepted_only_in_its_exact_shape(token in any::<String>()) {
        let shaped = token.len() == 43
            && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !shaped {
            prop_assert!(RefreshToken::presented(&token).is_err());
        }
    }

    #[test]
    fn any_string_as_a_cursor_is_refused_or_decoded_without_panicking(
        raw in any::<String>(),
        (sort, order) in sorts(),
    ) {
        let _ = Cursor::decode(&raw, sort, order);
    }

    #[test]
    fn cursors_round_trip_and_belong_to_their_listing(
        title in any::<String>().prop_filter("no NUL in titles", |t| !t.contains('\0')),
        seconds in 0i64..253_402_300_799,
        id in 1i64..,
        (sort, order) in sorts(),
        (other_sort, other_order) in sorts(),
    ) {
        let key = match sort {
            Sort::Title => CursorKey::Text(title),
            _ => CursorKey::Time(OffsetDateTime::from_unix_timestamp(seconds).unwrap()),
        };
        let cursor = Cursor { key, id };
        let encoded = cursor.encode(sort, order);
        prop_assert_eq!(Cursor::decode(&encoded, sort, order), Ok(cursor));
        if (other_sort, other_order) != (sort, order) {
            prop_assert!(Cursor::decode(&encoded, other_sort, other_order).is_err());
        }
    }

    #[test]
    fn any_query_string_gives_a_query_or_a_422(
        params in prop::collection::hash_map(
            prop_oneof![
                Just("status".to_owned()), Just("sort".to_owned()), Just("order".to_owned()),
                Just("limit".to_owned()), Just("cursor".to_owned()), any::<String>(),
            ],
            any::<String>(),
            0..6,
        )
    ) {
        let params: HashMap<String, String> = params;
        match ListQuery::parse(|name| params.get(name).map(String::as_str)) {
            Ok(query) => prop_assert!(query.limit.is_none_or(|limit| (1..=100).contains(&limit))),
            Err(error) => prop_assert!(matches!(error, Error::Validation(_)), "{error:?}"),
        }
    }

    #[test]
    fn any_body_bytes_give_an_object_or_a_400_or_413(
        body in prop::collection::vec(any::<u8>(), 0..512)
    ) {
        match json_body::<HashMap<String, Value>>(&request(body.clone())) {
            Ok(_) => prop_assert!(serde_json::from_slice::<serde_json::Map<String, Value>>(&body).is_ok()),
            Err(error) => prop_assert!(matches!(error, Error::InvalidJson(_)), "{error:?}"),
        }
    }

    #[test]
    fn any_json_value_that_is_not_an_object_is_a_400(
        value in prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<String>().prop_map(Value::from),
            prop::collection::vec(any::<i32>(), 0..4).prop_map(Value::from),
        ]
    ) {
        let bytes = serde_json::to_vec(&value).unwrap();
        let result = json_body::<HashMap<String, Value>>(&request(bytes));
        prop_assert!(matches!(result, Err(Error::InvalidJson(_))), "{result:?}");
    }

    #[test]
    fn a_field_of_the_wrong_type_is_a_422_naming_it(value in any::<i64>()) {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Body { title: Option<String> }
        let bytes = serde_json::to_vec(&serde_json::json!({ "title": value })).unwrap();
        match json_body::<Body>(&request(bytes)) {
            Err(Error::Validation(fields)) => {
                prop_assert!(fields.iter().any(|(field, _)| field == "title"));
            }
            other => prop_assert!(false, "{other:?}"),
        }
    }
}

#[test]
fn a_body_over_the_limit_is_a_413_before_parsing() {
    let body = vec![b' '; MAX_BODY_BYTES + 1];
    assert!(matches!(
        json_body::<HashMap<String, Value>>(&request(body)),
        Err(Error::PayloadTooLarge { .. })
    ));
}

//! The contract's conventions on the wire: JSON bodies and their failures, error bodies, and the
//! API Gateway HTTP API (v2) fixtures in `events/` going through the handlers.

use crate::support::*;
use lambda_http::{Body, Response};
use shared::App;
use shared::handlers::{
    create, delete, get, list, me, refresh, signin, signout, signup, toggle, update,
};

async fn create_with(app: &App, req: Call) -> Response<Body> {
    let Ok(response) = create::handle(app, req.build()).await;
    response
}

#[tokio::test]
async fn a_body_that_is_not_json_is_400_invalid_json() {
    let app = app();
    let account = signup(&app).await;
    for raw in ["{", "title=x", "{\"title\": \"x\",}", "\u{feff}{}", "nul\0"] {
        let req = call(Method::POST, "/api/tasks")
            .token(&account.token)
            .header("content-type", "application/json")
            .raw(raw);
        assert_error(
            create_with(&app, req).await,
            StatusCode::BAD_REQUEST,
            "invalid_json",
        );
    }
}

#[tokio::test]
async fn a_json_body_that_is_not_an_object_is_400_invalid_json() {
    let app = app();
    let account = signup(&app).await;
    for raw in ["[]", "[\"title\"]", "\"title\"", "42", "null", "true"] {
        let req = call(Method::POST, "/api/tasks")
            .token(&account.token)
            .header("content-type", "application/json")
            .raw(raw);
        let body = assert_error(
            create_with(&app, req).await,
            StatusCode::BAD_REQUEST,
            "invalid_json",
        );
        assert_eq!(
            body["error"]["message"],
            "request body must be a JSON object"
        );
    }
}

#[tokio::test]
async fn an_empty_body_where_one_is_required_is_400() {
    let app = app();
    let account = signup(&app).await;
    let req = call(Method::POST, "/api/tasks")
        .token(&account.token)
        .header("content-type", "application/json");
    assert_error(
        create_with(&app, req).await,
        StatusCode::BAD_REQUEST,
        "invalid_json",
    );
}

#[tokio::test]
async fn a_declared_content_type_other_than_json_is_415() {
    let app = app();
    let account = signup(&app).await;
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
    ] {
        let req = call(Method::POST, "/api/tasks")
            .token(&account.token)
            .header("content-type", content_type)
            .raw(r#"{"title":"x"}"#);
        assert_error(
            create_with(&app, req).await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        );
    }
}

#[tokio::test]
async fn json_with_any_charset_or_case_or_no_content_type_is_accepted() {
    let app = app();
    let account = signup(&app).await;
    for content_type in [
        Some("application/json; charset=utf-8"),
        Some("Application/JSON"),
        None,
    ] {
        let mut req = call(Method::POST, "/api/tasks")
            .token(&account.token)
            .raw(r#"{"title":"x"}"#);
        if let Some(content_type) = content_type {
            req = req.header("content-type", content_type);
        }
        assert_eq!(
            create_with(&app, req).await.status(),
            StatusCode::CREATED,
            "{content_type:?}"
        );
    }
}

#[tokio::test]
async fn a_body_over_16_kib_is_413_and_writes_nothing() {
    let app = app();
    let account = signup(&app).await;
    let padding = "x".repeat(shared::http::MAX_BODY_BYTES);
    let req = call(Method::POST, "/api/tasks")
        .token(&account.token)
        .json(json!({"title": "big", "padding": padding}));
    assert_error(
        create_with(&app, req).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );

    // Just under the limit is fine: unknown fields are ignored.
    let padding = "x".repeat(shared::http::MAX_BODY_BYTES - 40);
    let req = call(Method::POST, "/api/tasks")
        .token(&account.token)
        .json(json!({"title": "fits", "padding": padding}));
    assert_eq!(create_with(&app, req).await.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn validation_errors_carry_a_message_and_details_per_field() {
    let app = app();
    let account = signup(&app).await;
    let req = call(Method::POST, "/api/tasks")
        .token(&account.token)
        .json(json!({"title": ""}));
    let body = assert_error(
        create_with(&app, req).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(
        body,
        json!({"detail": "title must be 1 to 200 characters",
               "error": {"code": "validation_failed", "message": "title must be 1 to 200 characters",
                         "details": {"title": "must be 1 to 200 characters"}}})
    );
}

#[tokio::test]
async fn errors_without_failed_fields_have_no_details() {
    let app = app();
    let Ok(response) = me::handle(&app, call(Method::GET, "/api/auth/me").build()).await;
    let body = assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(body["error"].get("details").is_none());
}

/// A fixture from `events/` with its placeholders filled in, from a client address of its own
/// (signup and signin count per address).
fn fixture(name: &str, replacements: &[(&str, &str)]) -> lambda_http::Request {
    let path = format!("{}/../events/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(&path).unwrap().replace(
        "\"sourceIp\": \"203.0.113.10\"",
        &format!("\"sourceIp\": \"2001:db8::{:x}\"", rand_u16()),
    );
    for (from, to) in replacements {
        text = text.replace(from, to);
    }
    lambda_http::request::from_str(&text).unwrap()
}

fn rand_u16() -> u16 {
    uuid::Uuid::new_v4().as_u128() as u16
}

const FIXTURE_USER: &str = "00000000-0000-4000-8000-000000000001";

#[tokio::test]
async fn the_event_fixtures_drive_every_function_end_to_end() {
    let app = app();
    let email = unique_email();
    let with_email = [("ada@example.com", email.as_str())];

    let Ok(response) = signup::handle(&app, fixture("signup", &with_email)).await;
    let (status, session) = read(response);
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let user_id = session["user"]["id"].as_str().unwrap().to_owned();

    // signin.json carries its body base64-encoded, as API Gateway sends binary bodies.
    let signin_event = std::fs::read_to_string(format!(
        "{}/../events/signin.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    assert!(signin_event.contains("\"isBase64Encoded\": true"));
    let body = serde_json::from_str::<serde_json::Value>(&signin_event).unwrap()["body"]
        .as_str()
        .unwrap()
        .to_owned();
    let email_b64 = {
        use base64::Engine;
        let engine = base64::engine::general_purpose::STANDARD;
        let decoded = String::from_utf8(engine.decode(&body).unwrap()).unwrap();
        engine.encode(decoded.replace("ada@example.com", &email))
    };
    let Ok(response) = signin::handle(
        &app,
        fixture("signin", &[(body.as_str(), email_b64.as_str())]),
    )
    .await;
    let (status, session) = read(response);
    assert_eq!(status, StatusCode::OK, "{session}");
    let token = session["token"].as_str().unwrap().to_owned();
    let auth = [
        ("REPLACE_WITH_TOKEN", token.as_str()),
        (FIXTURE_USER, user_id.as_str()),
    ];

    let Ok(response) = me::handle(&app, fixture("me", &auth)).await;
    assert_eq!(response.status(), StatusCode::OK);

    let Ok(response) = create::handle(&app, fixture("create", &auth)).await;
    let (status, task) = read(response);
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(task["description"], "2 litres");
    let Ok(response) = create::handle(&app, fixture("create-user-path", &auth)).await;
    assert_eq!(response.status(), StatusCode::CREATED);

    let id = task["id"].to_string();
    let on_task = |name: &str| {
        let path_id = [
            ("REPLACE_WITH_TOKEN", token.as_str()),
            ("\"id\": \"1\"", &*format!("\"id\": \"{id}\"")),
            ("/api/tasks/1", &*format!("/api/tasks/{id}")),
        ];
        fixture(name, &path_id)
    };
    let Ok(response) = get::handle(&app, on_task("get")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let Ok(response) = update::handle(&app, on_task("update")).await;
    let (status, updated) = read(response);
    assert_eq!(
        (status, updated["title"].as_str()),
        (StatusCode::OK, Some("Buy oat milk"))
    );
    let Ok(response) = toggle::handle(&app, on_task("toggle")).await;
    let (_, toggled) = read(response);
    assert_eq!(
        toggled["completed"], false,
        "update set it, toggle flipped it back"
    );

    let Ok(response) = list::handle(&app, fixture("list", &auth)).await;
    let (status, listed) = read(response);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        listed.as_array().unwrap().len(),
        2,
        "status=pending from the query string"
    );
    let Ok(response) = list::handle(&app, fixture("list-user-path", &auth)).await;
    assert_eq!(response.status(), StatusCode::OK);

    let Ok(response) = delete::handle(&app, on_task("delete")).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let refresh_token = session["refresh_token"].as_str().unwrap();
    let Ok(response) = refresh::handle(
        &app,
        fixture("refresh", &[("REPLACE_WITH_REFRESH_TOKEN", refresh_token)]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let Ok(response) = signout::handle(&app, fixture("signout", &auth)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn the_fixtures_as_committed_are_answered_by_the_contract() {
    let app = app();
    // With the placeholder token every protected fixture is a clean 401, never a failure.
    for name in [
        "me",
        "list",
        "get",
        "toggle",
        "signout",
        "refresh",
        "password",
        "sessions",
        "revoke",
        "revoke-others",
        "account",
    ] {
        let endpoint = name.split('-').next().unwrap();
        let response = dispatch(&app, endpoint, fixture(name, &[])).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    // DELETE /api/tasks through the $default route.
    let response = dispatch(&app, "fallback", fixture("fallback", &[])).await;
    assert_eq!(response.headers()["allow"], "GET, POST");
    assert_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
}

#[tokio::test]
async fn unrouted_requests_get_the_contracts_404_or_405() {
    let app = app();
    for (method, path, allow) in [
        (Method::DELETE, "/api/tasks", Some("GET, POST")),
        (
            Method::POST,
            "/api/tasks/12",
            Some("GET, PUT, PATCH, DELETE"),
        ),
        (Method::GET, "/api/tasks/12/complete", Some("PATCH")),
        (Method::PUT, "/api/auth/signin", Some("POST")),
        (Method::OPTIONS, "/api/auth/me", Some("GET, DELETE")),
        (Method::GET, "/api/auth/sessions/1", Some("DELETE")),
        (Method::TRACE, "/api/x/tasks", Some("GET, POST")),
        (Method::GET, "/", None),
        (Method::GET, "/api", None),
        (Method::GET, "/api/tasks/", None),
        (Method::POST, "/api/auth/nothing", None),
        (Method::from_bytes(b"QUERY").unwrap(), "/docs", None),
    ] {
        let response = send(&app, "fallback", call(method.clone(), path)).await;
        let got = response.headers().get("allow").cloned();
        let (status, code) = match allow {
            Some(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            None => (StatusCode::NOT_FOUND, "not_found"),
        };
        assert_error(response, status, code);
        assert_eq!(
            got.as_ref().map(|v| v.to_str().unwrap()),
            allow,
            "{method} {path}"
        );
    }
}

/// Tokens, accounts and tasks are the caller's own: no cache may keep any answer, and no
/// browser may sniff one (a JSON error read as HTML) whatever its status.
#[tokio::test]
async fn every_answer_says_no_store_and_nosniff_errors_and_204s_included() {
    let app = app();
    let account = signup(&app).await;
    let responses = [
        send(
            &app,
            "signup",
            call(Method::POST, "/api/auth/signup")
                .json(json!({"email": unique_email(), "password": PASSWORD})),
        )
        .await,
        send(
            &app,
            "me",
            call(Method::GET, "/api/auth/me").token(&account.token),
        )
        .await,
        send(
            &app,
            "list",
            call(Method::GET, "/api/tasks").token(&account.token),
        )
        .await,
        send(&app, "me", call(Method::GET, "/api/auth/me")).await,
        send(&app, "signin", call(Method::GET, "/api/auth/signin")).await,
        send(
            &app,
            "signout",
            call(Method::POST, "/api/auth/signout").token(&account.token),
        )
        .await,
    ];
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses, [201, 200, 200, 401, 405, 204]);
    for response in responses {
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
}

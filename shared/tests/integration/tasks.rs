//! The task endpoints against the real database: behaviour, validation and isolation.

use crate::support::*;
use serde_json::Value;
use shared::App;

fn on_task(method: Method, account: &Account, id: &Value) -> Call {
    call(method, &format!("/api/tasks/{id}"))
        .token(&account.token)
        .path_param("id", id)
}

/// One answer of the list: its tasks (a bare array) and the `Link: <…>; rel="next"` target.
async fn list_page(
    app: &App,
    account: &Account,
    query: &[(&str, &str)],
) -> (Value, Option<String>) {
    let mut req = call(Method::GET, "/api/tasks").token(&account.token);
    for (name, value) in query {
        req = req.query(name, value);
    }
    let response = send(app, "list", req).await;
    let next = response.headers().get("link").map(|link| {
        let link = link.to_str().unwrap();
        let target = link
            .strip_prefix('<')
            .and_then(|l| l.strip_suffix(">; rel=\"next\""));
        target
            .unwrap_or_else(|| panic!("not a next link: {link}"))
            .to_owned()
    });
    let (status, body) = read(response);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.is_array(), "{body}");
    (body, next)
}

async fn list_all(app: &App, account: &Account, query: &[(&str, &str)]) -> Value {
    list_page(app, account, query).await.0
}

/// `count` tasks of `account`'s in one statement, as the owner: many more than the API could
/// create quickly.
async fn insert_tasks(account: &Account, count: i32) {
    admin()
        .await
        .execute(
            "INSERT INTO tasks (user_id, title) SELECT $1, 'bulk ' || g FROM generate_series(1, $2) g",
            &[&account.id, &count],
        )
        .await
        .unwrap();
}

/// The `cursor` parameter of a next-page link.
fn cursor_of(next: &str) -> String {
    let (_, query) = next.split_once('?').unwrap();
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("cursor="))
        .unwrap()
        .to_owned()
}

fn titles(tasks: &Value) -> Vec<String> {
    tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn create_returns_the_task_with_defaults() {
    let app = app();
    let account = signup(&app).await;
    let task = create_task(&app, &account, json!({"title": "  Buy milk  "})).await;
    assert!(task["id"].as_i64().unwrap() > 0);
    assert_eq!(task["user_id"], account.id.to_string());
    assert_eq!(task["title"], "Buy milk");
    assert_eq!(task["description"], Value::Null);
    assert_eq!(task["completed"], false);
    assert_eq!(task["created_at"], task["updated_at"]);
    let fields: Vec<&String> = task.as_object().unwrap().keys().collect();
    assert_eq!(
        fields,
        [
            "completed",
            "created_at",
            "description",
            "id",
            "title",
            "updated_at",
            "user_id"
        ]
    );
}

#[tokio::test]
async fn create_accepts_description_and_completed() {
    let app = app();
    let account = signup(&app).await;
    let task = create_task(
        &app,
        &account,
        json!({"title": "Plan", "description": "notes", "completed": true, "extra": 1}),
    )
    .await;
    assert_eq!(task["description"], "notes");
    assert_eq!(task["completed"], true);
    let task = create_task(&app, &account, json!({"title": "Plan", "description": ""})).await;
    assert_eq!(task["description"], Value::Null);
}

#[tokio::test]
async fn create_validation_table() {
    let app = app();
    let account = signup(&app).await;
    let cases = [
        (json!({}), "title"),
        (json!({"title": null}), "title"),
        (json!({"title": ""}), "title"),
        (json!({"title": "   "}), "title"),
        (json!({"title": "t".repeat(201)}), "title"),
        (json!({"title": 5}), "title"),
        (json!({"title": "nul\u{0}inside"}), "title"),
        (
            json!({"title": "ok", "description": "d".repeat(1001)}),
            "description",
        ),
        (json!({"title": "ok", "description": 3}), "description"),
        (json!({"title": "ok", "completed": "yes"}), "completed"),
    ];
    for (body, field) in cases {
        let req = call(Method::POST, "/api/tasks")
            .token(&account.token)
            .json(body.clone());
        let error = assert_error(
            send(&app, "create", req).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert!(
            error["error"]["details"][field].is_string(),
            "{body} → {error}"
        );
    }
    assert_eq!(
        list_all(&app, &account, &[]).await,
        json!([]),
        "nothing was written"
    );
}

#[tokio::test]
async fn title_and_description_limits_count_characters_not_bytes() {
    let app = app();
    let account = signup(&app).await;
    let task = create_task(
        &app,
        &account,
        json!({"title": "é".repeat(200), "description": "ü".repeat(1000)}),
    )
    .await;
    assert_eq!(task["title"].as_str().unwrap().chars().count(), 200);
}

#[tokio::test]
async fn get_returns_the_callers_task() {
    let app = app();
    let account = signup(&app).await;
    let task = create_task(&app, &account, json!({"title": "Read"})).await;
    let (status, body) = read(send(&app, "get", on_task(Method::GET, &account, &task["id"])).await);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, task);
}

#[tokio::test]
async fn malformed_or_unknown_task_ids_are_404() {
    let app = app();
    let account = signup(&app).await;
    for id in [
        "abc",
        "0",
        "-3",
        "1.5",
        "99999999999999999999",
        "9223372036854775807",
    ] {
        let req = call(Method::GET, "/api/tasks/x")
            .token(&account.token)
            .path_param("id", id);
        assert_error(
            send(&app, "get", req).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
}

#[tokio::test]
async fn update_changes_only_the_given_fields_and_moves_updated_at() {
    let app = app();
    let account = signup(&app).await;
    let task = create_task(
        &app,
        &account,
        json!({"title": "Draft", "description": "first"}),
    )
    .await;

    let req = on_task(Method::PUT, &account, &task["id"]).json(json!({"title": " Final "}));
    let (status, updated) = read(send(&app, "update", req).await);
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["title"], "Final");
    assert_eq!(updated["description"], "first");
    assert_eq!(updated["completed"], false);
    assert_eq!(updated["created_at"], task["created_at"]);
    assert!(updated["updated_at"].as_str().unwrap() > task["updated_at"].as_str().unwrap());

    let req = on_task(Method::PATCH, &account, &task["id"])
        .json(json!({"description": null, "completed": true}));
    let (status, patched) = read(send(&app, "update", req).await);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(patched["title"], "Final");
    assert_eq!(patched["description"], Value::Null);
    assert_eq!(patched["completed"], true);

    let req = on_task(Method::PATCH, &account, &task["id"]).json(json!({"description": "again"}));
    let (_, again) = read(send(&app, "update", req).await);
    assert_eq!(again["description"], "again");
    let req = on_task(Method::PATCH, &account, &task["id"]).json(json!({"description": ""}));
    let (_, cleared) = read(send(&app, "update", req).await);
    assert_eq!(cleared["description"], Value::Null);
}

#[tokio::test]
async fn update_needs_at_least_one_valid_field_and_writes_nothing_otherwise() {
    let app = app();
    let account = signup(&app).await;
    let task = create_task(&app, &account, json!({"title": "Keep"})).await;
    for body in [
        json!({}),
        json!({"unknown": 1}),
        json!({"title": null}),
        json!({"title": ""}),
        json!({"completed": null}),
        json!({"title": "New", "description": "d".repeat(1001)}),
        json!({"title": "New", "completed": "no"}),
    ] {
        let req = on_task(Method::PUT, &account, &task["id"]).json(body.clone());
        assert_error(
            send(&app, "update", req).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
    }
    let (_, unchanged) = read(send(&app, "get", on_task(Method::GET, &account, &task["id"])).await);
    assert_eq!(unchanged, task);
}

#[tokio::test]
async fn delete_removes_the_task_once() {
    let app = app();
    let account = signup(&app).await;
    let task = create_task(&app, &account, json!({"title": "Temp"})).await;
    let response = send(
        &app,
        "delete",
        on_task(Method::DELETE, &account, &task["id"]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.body().is_empty());
    assert_error(
        send(
            &app,
            "delete",
            on_task(Method::DELETE, &account, &task["id"]),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        send(&app, "get", on_task(Method::GET, &account, &task["id"])).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn toggle_flips_without_a_body_and_sets_with_one() {
    let app = app();
    let account = signup(&app).await;
    let task = create_task(&app, &account, json!({"title": "Flip"})).await;
    let toggle_with = |body: Option<Value>| {
        let req = call(Method::PATCH, "/api/tasks/x/complete")
            .token(&account.token)
            .path_param("id", &task["id"]);
        match body {
            Some(body) => req.json(body),
            None => req,
        }
    };
    let (_, flipped) = read(send(&app, "toggle", toggle_with(None)).await);
    assert_eq!(flipped["completed"], true);
    assert!(flipped["updated_at"].as_str().unwrap() > task["updated_at"].as_str().unwrap());
    let (_, flipped) = read(send(&app, "toggle", toggle_with(None)).await);
    assert_eq!(flipped["completed"], false);
    for _ in 0..2 {
        let (_, set) = read(
            send(
                &app,
                "toggle",
                toggle_with(Some(json!({"completed": true}))),
            )
            .await,
        );
        assert_eq!(set["completed"], true);
    }
    let (_, same) = read(send(&app, "toggle", toggle_with(Some(json!({})))).await);
    assert_eq!(same["completed"], false, "an empty object flips");
    let error = assert_error(
        send(
            &app,
            "toggle",
            toggle_with(Some(json!({"completed": "yes"}))),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert!(error["error"]["details"]["completed"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_toggles_are_never_lost() {
    let owner_app = app();
    let account = signup(&owner_app).await;
    let task = create_task(&owner_app, &account, json!({"title": "Race"})).await;
    let id = task["id"].clone();
    // Four apps, four connections, ten toggles each: 40 flips leave the task as it was.
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (token, id) = (account.token.clone(), id.clone());
        workers.push(tokio::spawn(async move {
            let app = app();
            for _ in 0..10 {
                let req = call(Method::PATCH, "/api/tasks/x/complete")
                    .token(&token)
                    .path_param("id", &id);
                assert_eq!(send(&app, "toggle", req).await.status(), StatusCode::OK);
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
    let (_, after) = read(send(&owner_app, "get", on_task(Method::GET, &account, &id)).await);
    assert_eq!(after["completed"], false);
}

#[tokio::test]
async fn list_filters_by_status_and_sorts() {
    let app = app();
    let account = signup(&app).await;
    for (title, completed) in [("b", false), ("c", true), ("a", false)] {
        create_task(
            &app,
            &account,
            json!({"title": title, "completed": completed}),
        )
        .await;
    }
    assert_eq!(
        titles(&list_all(&app, &account, &[]).await),
        ["a", "c", "b"],
        "newest first"
    );
    assert_eq!(
        titles(&list_all(&app, &account, &[("order", "asc")]).await),
        ["b", "c", "a"]
    );
    assert_eq!(
        titles(&list_all(&app, &account, &[("sort", "title"), ("order", "asc")]).await),
        ["a", "b", "c"]
    );
    assert_eq!(
        titles(
            &list_all(
                &app,
                &account,
                &[("status", "pending"), ("sort", "title"), ("order", "asc")]
            )
            .await
        ),
        ["a", "b"]
    );
    assert_eq!(
        titles(&list_all(&app, &account, &[("status", "completed")]).await),
        ["c"]
    );
    assert_eq!(list_page(&app, &account, &[]).await.1, None);
}

#[tokio::test]
async fn list_sorted_by_updated_puts_the_last_changed_first() {
    let app = app();
    let account = signup(&app).await;
    let first = create_task(&app, &account, json!({"title": "first"})).await;
    create_task(&app, &account, json!({"title": "second"})).await;
    let req = on_task(Method::PATCH, &account, &first["id"]).json(json!({"completed": true}));
    assert_eq!(send(&app, "update", req).await.status(), StatusCode::OK);
    assert_eq!(
        titles(&list_all(&app, &account, &[("sort", "updated")]).await),
        ["first", "second"]
    );
}

#[tokio::test]
async fn keyset_pages_cover_every_task_once_even_with_inserts_between_pages() {
    let app = app();
    let account = signup(&app).await;
    for i in 0..7 {
        create_task(&app, &account, json!({"title": format!("task {i}")})).await;
    }
    for (sort, order) in [
        ("created", "desc"),
        ("created", "asc"),
        ("updated", "desc"),
        ("title", "asc"),
        ("title", "desc"),
    ] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut query = vec![("limit", "3"), ("sort", sort), ("order", order)];
            if let Some(c) = &cursor {
                query.push(("cursor", c));
            }
            let (page, next) = list_page(&app, &account, &query).await;
            seen.extend(titles(&page));
            pages += 1;
            if pages == 1 && sort == "created" && order == "desc" {
                // Newer than everything listed: never shows up on a later page of a desc listing.
                create_task(&app, &account, json!({"title": "late arrival"})).await;
            }
            match next {
                Some(next) => cursor = Some(cursor_of(&next)),
                None => break,
            }
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            unique.len(),
            seen.len(),
            "{sort} {order}: duplicates in {seen:?}"
        );
        let expected = if sort == "created" && order == "desc" {
            7
        } else {
            8
        };
        assert_eq!(seen.len(), expected, "{sort} {order}: {seen:?}");
    }
}

#[tokio::test]
async fn a_full_last_page_has_no_next_link() {
    let app = app();
    let account = signup(&app).await;
    for i in 0..4 {
        create_task(&app, &account, json!({"title": format!("t{i}")})).await;
    }
    let (_, next) = list_page(&app, &account, &[("limit", "2")]).await;
    let cursor = cursor_of(&next.unwrap());
    let (page, next) = list_page(&app, &account, &[("limit", "2"), ("cursor", &cursor)]).await;
    assert_eq!(page.as_array().unwrap().len(), 2);
    assert_eq!(next, None);
}

#[tokio::test]
async fn the_next_link_repeats_the_path_and_the_listings_parameters() {
    let app = app();
    let account = signup(&app).await;
    for i in 0..3 {
        create_task(
            &app,
            &account,
            json!({"title": format!("t{i}"), "completed": true}),
        )
        .await;
    }
    let path = format!("/api/{}/tasks", account.id);
    let req = call(Method::GET, &path)
        .token(&account.token)
        .path_param("user_id", account.id)
        .query("status", "completed")
        .query("sort", "title")
        .query("order", "asc")
        .query("limit", "2");
    let response = send(&app, "list", req).await;
    let link = response.headers()["link"].to_str().unwrap().to_owned();
    let (status, page) = read(response);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(titles(&page), ["t0", "t1"]);
    let cursor = cursor_of(link.split_once(">;").unwrap().0);
    assert_eq!(
        link,
        format!(
            "<{path}?status=completed&sort=title&order=asc&limit=2&cursor={cursor}>; rel=\"next\""
        )
    );
}

#[tokio::test]
async fn without_limit_the_list_holds_every_task_up_to_the_cap() {
    let app = app();
    let account = signup(&app).await;
    // More than any page size a FastAPI-era frontend could have met (it never follows pages).
    insert_tasks(&account, 120).await;
    let (tasks, next) = list_page(&app, &account, &[]).await;
    assert_eq!(tasks.as_array().unwrap().len(), 120);
    assert_eq!(next, None);
}

#[tokio::test]
async fn past_the_cap_an_unlimited_list_links_to_the_rest() {
    let app = app();
    let account = signup(&app).await;
    let cap = shared::tasks::MAX_UNPAGED;
    insert_tasks(&account, cap as i32 + 5).await;
    let (first, next) = list_page(&app, &account, &[]).await;
    assert_eq!(first.as_array().unwrap().len() as i64, cap);
    let next = next.expect("a next link past the cap");
    assert!(!next.contains("limit="), "{next}");
    let (rest, next) = list_page(&app, &account, &[("cursor", &cursor_of(&next))]).await;
    assert_eq!(rest.as_array().unwrap().len(), 5);
    assert_eq!(next, None);
}

#[tokio::test]
async fn list_rejects_bad_query_values_with_422() {
    let app = app();
    let account = signup(&app).await;
    let created_cursor = {
        for i in 0..2 {
            create_task(&app, &account, json!({"title": format!("t{i}")})).await;
        }
        cursor_of(
            &list_page(&app, &account, &[("limit", "1")])
                .await
                .1
                .unwrap(),
        )
    };
    for (name, value) in [
        ("status", "done"),
        ("sort", "priority"),
        ("order", "sideways"),
        ("limit", "0"),
        ("limit", "101"),
        ("limit", "many"),
        ("cursor", "garbage"),
    ] {
        let req = call(Method::GET, "/api/tasks")
            .token(&account.token)
            .query(name, value);
        let error = assert_error(
            send(&app, "list", req).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert!(
            error["error"]["details"][name].is_string(),
            "{name}={value}: {error}"
        );
    }
    let req = call(Method::GET, "/api/tasks")
        .token(&account.token)
        .query("cursor", &created_cursor)
        .query("sort", "title");
    assert_error(
        send(&app, "list", req).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
}

#[tokio::test]
async fn every_task_endpoint_requires_a_valid_token() {
    let app = app();
    for (endpoint, method) in [
        ("list", Method::GET),
        ("create", Method::POST),
        ("get", Method::GET),
        ("update", Method::PUT),
        ("delete", Method::DELETE),
        ("toggle", Method::PATCH),
    ] {
        let bare = call(method.clone(), "/api/tasks/1")
            .path_param("id", 1)
            .json(json!({"title": "x"}));
        let response = send(&app, endpoint, bare).await;
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized");

        let forged = call(method, "/api/tasks/1")
            .path_param("id", 1)
            .token("eyJhbGciOiJub25lIn0.e30.")
            .json(json!({"title": "x"}));
        let response = send(&app, endpoint, forged).await;
        assert_invalid_token(response);
    }
}

#[tokio::test]
async fn another_users_task_is_not_found_on_every_endpoint_and_never_changes() {
    let app = app();
    let owner = signup(&app).await;
    let intruder = signup(&app).await;
    let task = create_task(
        &app,
        &owner,
        json!({"title": "Mine", "description": "private"}),
    )
    .await;

    assert_error(
        send(&app, "get", on_task(Method::GET, &intruder, &task["id"])).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let req = on_task(Method::PUT, &intruder, &task["id"]).json(json!({"title": "Stolen"}));
    assert_error(
        send(&app, "update", req).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let req = call(Method::PATCH, "/api/tasks/x/complete")
        .token(&intruder.token)
        .path_param("id", &task["id"]);
    assert_error(
        send(&app, "toggle", req).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        send(
            &app,
            "delete",
            on_task(Method::DELETE, &intruder, &task["id"]),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_eq!(list_all(&app, &intruder, &[]).await, json!([]));

    let (status, after) = read(send(&app, "get", on_task(Method::GET, &owner, &task["id"])).await);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(after, task, "the owner's task is untouched");
}

#[tokio::test]
async fn the_user_id_path_form_works_for_the_owner() {
    let app = app();
    let account = signup(&app).await;
    let base = format!("/api/{}/tasks", account.id);
    let req = call(Method::POST, &base)
        .token(&account.token)
        .path_param("user_id", account.id)
        .json(json!({"title": "Legacy"}));
    let (status, task) = read(send(&app, "create", req).await);
    assert_eq!(status, StatusCode::CREATED);
    let with_user = |method: Method, suffix: &str| {
        call(method, &format!("{base}/{}{suffix}", task["id"]))
            .token(&account.token)
            .path_param("user_id", account.id)
            .path_param("id", &task["id"])
    };
    assert_eq!(
        send(&app, "get", with_user(Method::GET, "")).await.status(),
        StatusCode::OK
    );
    let req = with_user(Method::PUT, "").json(json!({"title": "Legacy 2"}));
    assert_eq!(send(&app, "update", req).await.status(), StatusCode::OK);
    assert_eq!(
        send(&app, "toggle", with_user(Method::PATCH, "/complete"))
            .await
            .status(),
        StatusCode::OK
    );
    let req = call(Method::GET, &base)
        .token(&account.token)
        .path_param("user_id", account.id.to_string().to_uppercase());
    let (status, page) = read(send(&app, "list", req).await);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(titles(&page), ["Legacy 2"]);
    assert_eq!(
        send(&app, "delete", with_user(Method::DELETE, ""))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn the_user_id_path_form_naming_someone_else_is_forbidden_on_every_endpoint() {
    let app = app();
    let owner = signup(&app).await;
    let intruder = signup(&app).await;
    let task = create_task(&app, &owner, json!({"title": "Mine"})).await;
    for named in [owner.id.to_string(), "not-a-uuid".to_owned()] {
        for (endpoint, method) in [
            ("list", Method::GET),
            ("create", Method::POST),
            ("get", Method::GET),
            ("update", Method::PUT),
            ("delete", Method::DELETE),
            ("toggle", Method::PATCH),
        ] {
            let req = call(method, "/api/x/tasks")
                .token(&intruder.token)
                .path_param("user_id", &named)
                .path_param("id", &task["id"])
                .json(json!({"title": "Stolen"}));
            assert_error(
                send(&app, endpoint, req).await,
                StatusCode::FORBIDDEN,
                "forbidden",
            );
        }
    }
    let (_, after) = read(send(&app, "get", on_task(Method::GET, &owner, &task["id"])).await);
    assert_eq!(after, task);
    assert_eq!(
        titles(&list_all(&app, &owner, &[]).await),
        ["Mine"],
        "nothing was created for the owner"
    );
}

#[tokio::test]
async fn task_endpoints_refuse_other_methods_with_405() {
    let app = app();
    let account = signup(&app).await;
    for (endpoint, method, allow) in [
        ("list", Method::POST, "GET"),
        ("create", Method::GET, "POST"),
        ("get", Method::DELETE, "GET"),
        ("update", Method::POST, "PUT, PATCH"),
        ("delete", Method::GET, "DELETE"),
        ("toggle", Method::PUT, "PATCH"),
    ] {
        let req = call(method, "/api/tasks/1")
            .token(&account.token)
            .path_param("id", 1);
        let response = send(&app, endpoint, req).await;
        assert_eq!(response.headers()["allow"], allow);
        assert_error(
            response,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        );
    }
}

//! Each task handler in-process against its floor: the same statements alone on the same
//! connection, bound to the same session.

use lambda_http::http::Method;
use serde_json::json;
use shared::db::Statement;
use shared::handlers;
use shared::identity::Owner;
use shared::sessions;
use shared::tasks::sql;
use shared::tasks::{ListQuery, NewTask, TaskChanges, TaskDescription, TaskId, TaskTitle};
use shared::testing::{call, signup};
use tokio_postgres::types::Type;

use crate::report::Bench;
use crate::stats::{ratio, time_pair};

pub async fn run(bench: &mut Bench) -> Result<(), String> {
    let app = bench.app(4)?;
    let n = bench.n(2000);
    let account = signup(&app).await?;
    let owner = account.id;
    let token = account.token.clone();
    // The floor is the database work a task request needs, sent as the handler sends it: the
    // session-bound pipeline (BEGIN, session binding, statement, COMMIT), with the same
    // statements, built once.
    let caller = app.tokens.verify(&token).map_err(|e| e.to_string())?;
    let binding = sessions::binding(caller);
    let ids = app
        .db
        .query(
            &Statement::new("INSERT INTO tasks (user_id, title) SELECT ")
                .bind(owner, Type::UUID)
                .push(", 'task ' || g FROM generate_series(1, 50) g RETURNING id"),
        )
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .map(|r| r.get(0))
        .collect::<Vec<i64>>();
    let id = TaskId::parse(&ids[0].to_string()).ok_or("no task id")?;
    let mut rows = Vec::new();

    let query = ListQuery::parse(|_| None).map_err(|e| e.to_string())?;
    let list = sql::list(Owner::Id(owner), &query);
    let (h, f) = time_pair(
        n,
        |_| handlers::list::handle(&app, call(Method::GET, "/api/tasks").token(&token).build()),
        |_| app.db.guarded(&binding, &list),
    )
    .await;
    rows.push(("list (50 tasks)", h, f));

    let get = sql::get(Owner::Id(owner), id);
    let (h, f) = time_pair(
        n,
        |_| {
            handlers::get::handle(
                &app,
                call(Method::GET, "/api/tasks/x")
                    .token(&token)
                    .path_param("id", id.get())
                    .build(),
            )
        },
        |_| app.db.guarded(&binding, &get),
    )
    .await;
    rows.push(("get", h, f));

    let title = "benchmark task";
    let new = NewTask {
        title: TaskTitle::parse(title)?,
        description: TaskDescription::default(),
        completed: false,
    };
    let create = sql::create(Owner::Id(owner), &new);
    let (h, f) = time_pair(
        n,
        |_| {
            handlers::create::handle(
                &app,
                call(Method::POST, "/api/tasks")
                    .token(&token)
                    .json(json!({"title": title}))
                    .build(),
            )
        },
        |_| app.db.guarded(&binding, &create),
    )
    .await;
    rows.push(("create", h, f));

    let changes = TaskChanges {
        title: Some(TaskTitle::parse("renamed task")?),
        ..TaskChanges::default()
    };
    let update = sql::update(Owner::Id(owner), id, &changes);
    let (h, f) = time_pair(
        n,
        |_| {
            let req = call(Method::PUT, "/api/tasks/x")
                .token(&token)
                .json(json!({"title": "renamed task"}))
                .path_param("id", id.get())
                .build();
            handlers::update::handle(&app, req)
        },
        |_| app.db.guarded(&binding, &update),
    )
    .await;
    rows.push(("update", h, f));

    let toggle = sql::toggle(Owner::Id(owner), id, None);
    let (h, f) = time_pair(
        n,
        |_| {
            handlers::toggle::handle(
                &app,
                call(Method::PATCH, "/api/tasks/x/complete")
                    .token(&token)
                    .path_param("id", id.get())
                    .build(),
            )
        },
        |_| app.db.guarded(&binding, &toggle),
    )
    .await;
    rows.push(("toggle", h, f));

    let victims = (n + n / 10) as i64 * 2;
    let doomed: Vec<TaskId> = app
        .db
        .query(
            &Statement::new("INSERT INTO tasks (user_id, title) SELECT ")
                .bind(owner, Type::UUID)
                .push(", 'doomed' FROM generate_series(1, ")
                .bind(victims, Type::INT8)
                .push(") RETURNING id"),
        )
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .filter_map(|r| TaskId::parse(&r.get::<_, i64>(0).to_string()))
        .collect();
    let (h, f) = time_pair(
        n,
        |i| {
            handlers::delete::handle(
                &app,
                call(Method::DELETE, "/api/tasks/x")
                    .token(&token)
                    .path_param("id", doomed[2 * i].get())
                    .build(),
            )
        },
        |i| {
            let (app, binding) = (&app, &binding);
            let delete = sql::delete(Owner::Id(owner), doomed[2 * i + 1]);
            async move { app.db.guarded(binding, &delete).await }
        },
    )
    .await;
    rows.push(("delete", h, f));

    bench.line("");
    bench.line("## Task handlers against the floor");
    bench.line("");
    bench.line(
        "Each handler called in-process with a real `lambda_http` request (token check, parsing,",
    );
    bench.line(
        "SQL, JSON), against its floor: the same database work alone over the same connection (the",
    );
    bench.line(
        "session-bound pipeline: BEGIN, session binding, the statement, COMMIT), timed alternately",
    );
    bench.line(format!(
        "in the same run. {n} runs each. Target: handler median ≤ 1.3 × floor."
    ));
    bench.line("");
    bench.line("| endpoint | handler min | median | p99 | floor min | median | p99 | ratio |");
    bench.line("|---|---|---|---|---|---|---|---|");
    for (name, h, f) in rows {
        let r = ratio(&h, &f);
        bench.line(format!(
            "| {name} | {} | {} | {r:.2}{} |",
            h.row(),
            f.row(),
            if r <= 1.3 { "" } else { " (over)" }
        ));
    }
    Ok(())
}

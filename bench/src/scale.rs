//! Listing latency as data grows: a user with many tasks (first and deep pages), and a user with
//! 50 tasks while other users' rows grow from a thousand to a million.

use lambda_http::RequestExt;
use lambda_http::http::Method;
use shared::handlers;
use shared::tasks::{self, Cursor, Order, Sort, TaskId};
use tokio_postgres::types::Type;

use crate::stats::{Summary, time};
use crate::{Bench, app};

async fn execute(
    app: &shared::App,
    sql: &str,
    params: &[shared::db::Param<'_>],
) -> Result<(), String> {
    app.db
        .query(sql, params)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Gives `count` tasks to 100 other users, with distinct creation times.
async fn add_other_rows(app: &shared::App, count: i64) -> Result<(), String> {
    execute(
        app,
        "INSERT INTO tasks (user_id, title, created_at, updated_at)
         SELECT u.id, 'other ' || g, now() - g * interval '1 ms', now() - g * interval '1 ms'
         FROM generate_series(1, $1) g
         JOIN (SELECT id, (row_number() OVER (ORDER BY id)) - 1 AS k FROM users WHERE email LIKE 'other-%') u
           ON u.k = g % 100",
        &[(&count, Type::INT8)],
    )
    .await?;
    execute(app, "ANALYZE tasks", &[]).await
}

async fn time_list(app: &shared::App, n: usize, token: &str, cursor: Option<&str>) -> Summary {
    time(n, |_| {
        let mut req = app::request(Method::GET, "/api/tasks", Some(token), None);
        if let Some(cursor) = cursor {
            req = req.with_query_string_parameters(
                [("cursor".to_owned(), cursor.to_owned())]
                    .into_iter()
                    .collect::<std::collections::HashMap<_, _>>(),
            );
        }
        handlers::list::handle(app, req)
    })
    .await
}

pub async fn run(bench: &mut Bench) -> Result<(), String> {
    let app = bench.app(4)?;
    let n = bench.n(1000);
    let (small, large, many): (i64, i64, i64) = if bench.smoke {
        (1_000, 10_000, 2_000)
    } else {
        (1_000, 1_000_000, 10_000)
    };

    // A clean table, so the row counts below are exact.
    execute(&app, "TRUNCATE tasks", &[]).await?;
    execute(
        &app,
        "INSERT INTO users (email, password_hash) SELECT 'other-' || g || '@bench.example', 'x'
         FROM generate_series(1, 100) g ON CONFLICT DO NOTHING",
        &[],
    )
    .await?;
    let light = app::signup(&app).await?;
    execute(
        &app,
        "INSERT INTO tasks (user_id, title) SELECT $1, 'mine ' || g FROM generate_series(1, 50) g",
        &[(&light.id, Type::UUID)],
    )
    .await?;
    add_other_rows(&app, small).await?;
    let with_small = time_list(&app, n, &light.token, None).await;
    add_other_rows(&app, large - small).await?;
    let with_large = time_list(&app, n, &light.token, None).await;

    let heavy = app::signup(&app).await?;
    execute(
        &app,
        "INSERT INTO tasks (user_id, title, created_at, updated_at)
         SELECT $1, 'heavy ' || g, now() - g * interval '1 ms', now() - g * interval '1 ms'
         FROM generate_series(1, $2) g",
        &[(&heavy.id, Type::UUID), (&many, Type::INT8)],
    )
    .await?;
    execute(&app, "ANALYZE tasks", &[]).await?;
    let first_page = time_list(&app, n, &heavy.token, None).await;
    let offset = many - 1000;
    let deep_id: i64 = app
        .db
        .query(
            "SELECT id FROM tasks WHERE user_id = $1 ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT 1",
            &[(&heavy.id, Type::UUID), (&offset, Type::INT8)],
        )
        .await
        .map_err(|e| e.to_string())?
        .first()
        .map(|r| r.get(0))
        .ok_or("no deep row")?;
    let id = TaskId::parse(&deep_id.to_string()).ok_or("bad id")?;
    let caller = app.tokens.verify(&heavy.token).map_err(|e| e.to_string())?;
    let task = tasks::get(&app.db, caller, id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("deep task missing")?;
    let cursor = Cursor::after(&task, Sort::Created).encode(Sort::Created, Order::Desc);
    let deep_page = time_list(&app, n, &heavy.token, Some(&cursor)).await;

    let drift = with_large.median.as_secs_f64() / with_small.median.as_secs_f64() - 1.0;
    bench.line("");
    bench.line("## Scale");
    bench.line("");
    bench.line(format!("`GET /api/tasks` (50 per page, newest first) through the handler, {n} runs each. Target: the"));
    bench.line("50-task user's list stays within ± 20 % from 1 k to 1 M rows of other users.");
    bench.line("");
    bench.line("| scenario | min | median | p99 |");
    bench.line("|---|---|---|---|");
    bench.line(format!(
        "| user with 50 tasks, {small} rows of 100 other users | {} |",
        with_small.row()
    ));
    bench.line(format!(
        "| user with 50 tasks, {large} rows of 100 other users | {} |",
        with_large.row()
    ));
    bench.line(format!(
        "| user with {many} tasks, first page | {} |",
        first_page.row()
    ));
    bench.line(format!(
        "| user with {many} tasks, page after row {offset} (cursor) | {} |",
        deep_page.row()
    ));
    bench.line("");
    bench.line(format!(
        "From {small} to {large} other rows the median moved {:+.1} %.",
        drift * 100.0
    ));
    Ok(())
}

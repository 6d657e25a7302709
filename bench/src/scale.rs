//! Listing latency as data grows: a user with many tasks (first and deep pages), and a user with
//! 50 tasks while other users' rows grow from a thousand to a million.

use lambda_http::http::Method;
use shared::db::Statement;
use shared::handlers;
use shared::identity::Identity;
use shared::tasks::{self, Cursor, Order, Sort, TaskId};
use shared::testing::{call, signup};
use tokio_postgres::types::Type;

use crate::report::Bench;
use crate::stats::{Summary, time};

async fn execute(app: &shared::App, statement: Statement<'_>) -> Result<(), String> {
    app.db
        .query(&statement)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Gives `count` tasks to 100 other users, with distinct creation times.
async fn add_other_rows(app: &shared::App, count: i64) -> Result<(), String> {
    execute(
        app,
        Statement::new(
            "INSERT INTO tasks (user_id, title, created_at, updated_at)
         SELECT u.id, 'other ' || g, now() - g * interval '1 ms', now() - g * interval '1 ms'
         FROM generate_series(1, $1) g
         JOIN (SELECT id, (row_number() OVER (ORDER BY id)) - 1 AS k FROM users WHERE email LIKE 'other-%') u
           ON u.k = g % 100",
        )
        .arg(count, Type::INT8),
    )
    .await?;
    execute(app, Statement::new("ANALYZE tasks")).await
}

async fn time_list(app: &shared::App, n: usize, token: &str, cursor: Option<&str>) -> Summary {
    time(n, |_| {
        // Pages of 50, as this section has always measured (the default before lists went
        // unpaged for FastAPI-era clients).
        let mut req = call(Method::GET, "/api/tasks")
            .token(token)
            .query("limit", 50);
        if let Some(cursor) = cursor {
            req = req.query("cursor", cursor);
        }
        handlers::list::handle(app, req.build())
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
    execute(&app, Statement::new("TRUNCATE tasks")).await?;
    execute(
        &app,
        Statement::new(
            "INSERT INTO users (email, password_hash) SELECT 'other-' || g || '@bench.example', 'x'
         FROM generate_series(1, 100) g ON CONFLICT DO NOTHING",
        ),
    )
    .await?;
    let light = signup(&app).await?;
    execute(
        &app,
        Statement::new("INSERT INTO tasks (user_id, title) SELECT $1, 'mine ' || g FROM generate_series(1, 50) g")
            .arg(light.id, Type::UUID),
    )
    .await?;
    add_other_rows(&app, small).await?;
    let with_small = time_list(&app, n, &light.token, None).await;
    add_other_rows(&app, large - small).await?;
    let with_large = time_list(&app, n, &light.token, None).await;

    let heavy = signup(&app).await?;
    execute(
        &app,
        Statement::new(
            "INSERT INTO tasks (user_id, title, created_at, updated_at)
         SELECT $1, 'heavy ' || g, now() - g * interval '1 ms', now() - g * interval '1 ms'
         FROM generate_series(1, $2) g",
        )
        .arg(heavy.id, Type::UUID)
        .arg(many, Type::INT8),
    )
    .await?;
    execute(&app, Statement::new("ANALYZE tasks")).await?;
    let first_page = time_list(&app, n, &heavy.token, None).await;
    let offset = many - 1000;
    let deep_id: i64 = app
        .db
        .query(
            &Statement::new(
                "SELECT id FROM tasks WHERE user_id = $1 ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT 1",
            )
            .arg(heavy.id, Type::UUID)
            .arg(offset, Type::INT8),
        )
        .await
        .map_err(|e| e.to_string())?
        .first()
        .map(|r| r.get(0))
        .ok_or("no deep row")?;
    let id = TaskId::parse(&deep_id.to_string()).ok_or("bad id")?;
    let caller = Identity::Session(app.tokens.verify(&heavy.token).map_err(|e| e.to_string())?);
    let task = tasks::get(&app.db, &caller, id)
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

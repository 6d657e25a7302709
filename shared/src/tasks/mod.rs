//! Tasks: the `Task` the API shows, and one SQL statement per operation. Every statement names
//! the owner in its `WHERE`, so another user's task is simply not found and never touched; and
//! runs bound to the caller's live session, so row-level security enforces the same, and an
//! ended session is refused without a round trip of its own (see [`Db::query_as`]).

mod fields;
mod list;
pub mod sql;

pub use fields::{TaskDescription, TaskId, TaskTitle};
pub use list::{Cursor, CursorKey, ListQuery, MAX_UNPAGED, Order, Sort, Status};

use crate::auth::Caller;
use crate::db::{Db, Param};
use crate::error::{Error, Result};
use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize)]
pub struct Task {
    pub id: i64,
    pub user_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub completed: bool,
    #[serde(serialize_with = "crate::timestamp::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(serialize_with = "crate::timestamp::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Task {
    /// Reads the columns of `sql`'s statements by position, in their `columns!()` order.
    fn from_row(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get(0)?,
            user_id: row.try_get(1)?,
            title: row.try_get(2)?,
            description: row.try_get(3)?,
            completed: row.try_get(4)?,
            created_at: row.try_get(5)?,
            updated_at: row.try_get(6)?,
        })
    }
}

/// A validated new task.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub title: TaskTitle,
    pub description: TaskDescription,
    pub completed: bool,
}

/// A validated change: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct TaskChanges {
    pub title: Option<TaskTitle>,
    pub description: Option<TaskDescription>,
    pub completed: Option<bool>,
}

/// One page of a listing, and where the next one starts if more tasks remain.
#[derive(Debug, Serialize)]
pub struct Page {
    pub tasks: Vec<Task>,
    pub next_cursor: Option<String>,
}

/// Runs a task statement for the caller; an ended session is a 401.
async fn rows(db: &Db, caller: Caller, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>> {
    db.query_as(caller.user, caller.session, sql, params)
        .await?
        .ok_or(Error::invalid_token(crate::sessions::ENDED))
}

async fn one(db: &Db, caller: Caller, sql: &str, params: &[Param<'_>]) -> Result<Option<Task>> {
    rows(db, caller, sql, params)
        .await?
        .first()
        .map(Task::from_row)
        .transpose()
}

pub async fn create(db: &Db, caller: Caller, task: &NewTask) -> Result<Task> {
    let created = one(
        db,
        caller,
        sql::CREATE,
        &[
            (&caller.user, Type::UUID),
            (&task.title.as_str(), Type::TEXT),
            (&task.description.as_deref(), Type::TEXT),
            (&task.completed, Type::BOOL),
        ],
    )
    .await?;
    created.ok_or_else(|| Error::Internal("INSERT … RETURNING gave no row".into()))
}

pub async fn get(db: &Db, caller: Caller, id: TaskId) -> Result<Option<Task>> {
    one(
        db,
        caller,
        sql::GET,
        &[(&id.get(), Type::INT8), (&caller.user, Type::UUID)],
    )
    .await
}

/// Applies the given changes in one statement; `updated_at` moves on every change.
pub async fn update(
    db: &Db,
    caller: Caller,
    id: TaskId,
    changes: &TaskChanges,
) -> Result<Option<Task>> {
    let title = changes.title.as_ref().map(TaskTitle::as_str);
    let set_description = changes.description.is_some();
    let description = changes
        .description
        .as_ref()
        .and_then(TaskDescription::as_deref);
    one(
        db,
        caller,
        sql::UPDATE,
        &[
            (&id.get(), Type::INT8),
            (&caller.user, Type::UUID),
            (&title, Type::TEXT),
            (&set_description, Type::BOOL),
            (&description, Type::TEXT),
            (&changes.completed, Type::BOOL),
        ],
    )
    .await
}

/// Flips `completed`, or sets it when `to` is given, atomically: the new value is computed by the
/// row update itself, so concurrent toggles serialise on the row lock and none is lost.
pub async fn toggle(db: &Db, caller: Caller, id: TaskId, to: Option<bool>) -> Result<Option<Task>> {
    let params: [Param<'_>; 3] = [
        (&id.get(), Type::INT8),
        (&caller.user, Type::UUID),
        (&to, Type::BOOL),
    ];
    one(db, caller, sql::TOGGLE, &params).await
}

/// Whether a task of this owner was deleted.
pub async fn delete(db: &Db, caller: Caller, id: TaskId) -> Result<bool> {
    let params: [Param<'_>; 2] = [(&id.get(), Type::INT8), (&caller.user, Type::UUID)];
    Ok(!rows(db, caller, sql::DELETE, &params).await?.is_empty())
}

/// One page of the owner's tasks, by keyset: the page after the cursor, in one index range scan.
pub async fn list(db: &Db, caller: Caller, query: &ListQuery) -> Result<Page> {
    let completed = query.status.completed();
    // One more row than asked tells whether there is a next page.
    let fetch = query.page_size() + 1;
    let mut params: Vec<Param<'_>> = vec![(&caller.user, Type::UUID)];
    if let Some(completed) = &completed {
        params.push((completed, Type::BOOL));
    }
    if let Some(cursor) = &query.after {
        params.push(match &cursor.key {
            CursorKey::Time(t) => (t, Type::TIMESTAMPTZ),
            CursorKey::Text(s) => (s, Type::TEXT),
        });
        params.push((&cursor.id, Type::INT8));
    }
    params.push((&fetch, Type::INT8));

    let mut tasks = rows(db, caller, &sql::list(query), &params)
        .await?
        .iter()
        .map(Task::from_row)
        .collect::<Result<Vec<_>>>()?;
    let next_cursor = if tasks.len() as i64 > query.page_size() {
        tasks.truncate(query.page_size() as usize);
        tasks
            .last()
            .map(|last| Cursor::after(last, query.sort).encode(query.sort, query.order))
    } else {
        None
    };
    Ok(Page { tasks, next_cursor })
}

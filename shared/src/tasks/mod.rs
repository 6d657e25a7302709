//! Tasks: the `Task` the API shows, and one operation per endpoint, each running its statement
//! (see [`sql`]) for the caller, bound to their live session (see [`sessions::run_as`]): so
//! row-level security enforces the owner filter every statement also carries, and an ended
//! session is refused without a round trip of its own.

mod fields;
mod list;
pub mod sql;

pub use fields::{TaskDescription, TaskId, TaskTitle};
pub use list::{Cursor, CursorKey, ListQuery, MAX_UNPAGED, Order, Sort, Status};

use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

use crate::db::{Db, Statement};
use crate::error::{Error, Result};
use crate::identity::Identity;
use crate::users::UserId;

#[derive(Debug, Clone, Serialize)]
pub struct Task {
    pub id: i64,
    pub user_id: UserId,
    pub title: String,
    pub description: Option<String>,
    pub completed: bool,
    #[serde(serialize_with = "crate::timestamp::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(serialize_with = "crate::timestamp::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Task {
    /// Reads the columns every task statement returns, by name, for the task's owner.
    fn from_row(row: &Row, owner: UserId) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            user_id: owner,
            title: row.try_get("title")?,
            description: row.try_get("description")?,
            completed: row.try_get("completed")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
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

/// The one task a statement returned, if any.
async fn one(db: &Db, caller: &Identity, statement: &Statement<'_>) -> Result<Option<Task>> {
    caller
        .run(db, statement)
        .await?
        .first()
        .map(|row| Task::from_row(row, caller.user_id()))
        .transpose()
}

pub async fn create(db: &Db, caller: &Identity, task: &NewTask) -> Result<Task> {
    match one(db, caller, &sql::create(caller.owner(), task)).await {
        Ok(task) => task.ok_or_else(|| Error::Internal("INSERT … RETURNING gave no row".into())),
        // The account was deleted between the session check and the insert (the delete holds
        // the user's row until it commits): its session ended with it.
        Err(Error::Database(e)) if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) => {
            Err(Error::invalid_token("account deleted"))
        }
        Err(e) => Err(e),
    }
}

pub async fn get(db: &Db, caller: &Identity, id: TaskId) -> Result<Option<Task>> {
    one(db, caller, &sql::get(caller.owner(), id)).await
}

pub async fn update(
    db: &Db,
    caller: &Identity,
    id: TaskId,
    changes: &TaskChanges,
) -> Result<Option<Task>> {
    one(db, caller, &sql::update(caller.owner(), id, changes)).await
}

/// Flips `completed`, or sets it when `to` is given, atomically: the row update computes the
/// new value itself, so concurrent toggles serialise on the row lock and none is lost.
pub async fn toggle(
    db: &Db,
    caller: &Identity,
    id: TaskId,
    to: Option<bool>,
) -> Result<Option<Task>> {
    one(db, caller, &sql::toggle(caller.owner(), id, to)).await
}

/// Whether a task of this owner was deleted.
pub async fn delete(db: &Db, caller: &Identity, id: TaskId) -> Result<bool> {
    let deleted = caller.run(db, &sql::delete(caller.owner(), id)).await?;
    Ok(!deleted.is_empty())
}

/// One page of the owner's tasks, and the cursor of the next when more remain.
pub async fn list(db: &Db, caller: &Identity, query: &ListQuery) -> Result<Page> {
    let mut tasks = caller
        .run(db, &sql::list(caller.owner(), query))
        .await?
        .iter()
        .map(|row| Task::from_row(row, caller.user_id()))
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

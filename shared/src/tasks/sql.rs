//! The task statements as text, built at compile time: the operations run them, and the
//! benchmark times them alone as the floor a handler is measured against.

use super::list::{ListQuery, Order};

macro_rules! columns {
    () => {
        "id, user_id, title, description, completed, created_at, updated_at"
    };
}

pub const CREATE: &str = concat!(
    "INSERT INTO tasks (user_id, title, description, completed) VALUES ($1, $2, $3, $4) RETURNING ",
    columns!()
);

pub const GET: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM tasks WHERE id = $1 AND user_id = $2"
);

/// `$4` says whether `$5` replaces the description, so `null` can clear it.
pub const UPDATE: &str = concat!(
    "UPDATE tasks SET title = COALESCE($3, title), ",
    "description = CASE WHEN $4 THEN $5 ELSE description END, ",
    "completed = COALESCE($6, completed), updated_at = now() ",
    "WHERE id = $1 AND user_id = $2 RETURNING ",
    columns!()
);

/// The new value is computed from the row under its lock, so concurrent toggles never lose one.
pub const TOGGLE: &str = concat!(
    "UPDATE tasks SET completed = COALESCE($3, NOT completed), updated_at = now() ",
    "WHERE id = $1 AND user_id = $2 RETURNING ",
    columns!()
);

pub const DELETE: &str = "DELETE FROM tasks WHERE id = $1 AND user_id = $2 RETURNING id";

/// The listing statement for `query`. Parameters, in order: owner, then `completed` when the
/// status filters, then the cursor's key and id when there is a cursor, then the row limit.
/// Only fixed fragments are spliced in; every value is a parameter.
pub fn list(query: &ListQuery) -> String {
    let column = query.sort.column();
    let (direction, after) = match query.order {
        Order::Asc => ("ASC", ">"),
        Order::Desc => ("DESC", "<"),
    };
    let mut sql = concat!("SELECT ", columns!(), " FROM tasks WHERE user_id = $1").to_owned();
    let mut next = 2;
    if query.status.completed().is_some() {
        sql += &format!(" AND completed = ${next}");
        next += 1;
    }
    if query.after.is_some() {
        sql += &format!(" AND ({column}, id) {after} (${next}, ${})", next + 1);
        next += 2;
    }
    sql += &format!(" ORDER BY {column} {direction}, id {direction} LIMIT ${next}");
    sql
}

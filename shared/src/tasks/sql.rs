//! The task statements, each one function that returns its text and its parameters together:
//! the operations run them, and the benchmark times them alone as the floor a handler is
//! measured against. Every statement names the owner in its `WHERE` (or `INSERT`).

use const_format::concatcp;
use tokio_postgres::types::Type;

use super::list::{CursorKey, ListQuery, Order};
use super::{NewTask, TaskChanges, TaskId};
use crate::db::{BOUND_USER, Statement};
use crate::identity::Owner;

/// What every statement returns, read back by name in [`super::Task::from_row`]. Not
/// `user_id`: every task a statement returns is the caller's, and the caller has their id.
const COLUMNS: &str = "id, title, description, completed, created_at, updated_at";

/// Appends the owner: a parameter, or the bound user.
fn owned_by(statement: Statement<'_>, owner: Owner) -> Statement<'_> {
    match owner {
        Owner::Id(id) => statement.bind(id, Type::UUID),
        Owner::Bound => statement.push(BOUND_USER),
    }
}

pub fn create(owner: Owner, task: &NewTask) -> Statement<'_> {
    owned_by(
        Statement::new("INSERT INTO tasks (user_id, title, description, completed) VALUES ("),
        owner,
    )
    .push(", ")
    .bind(task.title.as_str(), Type::TEXT)
    .push(", ")
    .bind(task.description.as_deref(), Type::TEXT)
    .push(", ")
    .bind(task.completed, Type::BOOL)
    .push(concatcp!(") RETURNING ", COLUMNS))
}

pub fn get(owner: Owner, id: TaskId) -> Statement<'static> {
    of_owner(
        Statement::new(concatcp!("SELECT ", COLUMNS, " FROM tasks")),
        owner,
        id,
    )
}

/// Applies the given changes in one statement; `updated_at` moves on every change. Whether the
/// description is replaced is a parameter of its own, so `null` can clear it.
pub fn update(owner: Owner, id: TaskId, changes: &TaskChanges) -> Statement<'_> {
    let statement = Statement::new("UPDATE tasks SET title = COALESCE(")
        .bind(changes.title.as_ref().map(|t| t.as_str()), Type::TEXT)
        .push(", title), description = CASE WHEN ")
        .bind(changes.description.is_some(), Type::BOOL)
        .push(" THEN ")
        .bind(
            changes.description.as_ref().and_then(|d| d.as_deref()),
            Type::TEXT,
        )
        .push(" ELSE description END, completed = COALESCE(")
        .bind(changes.completed, Type::BOOL)
        .push(", completed), updated_at = now()");
    of_owner(statement, owner, id).push(concatcp!(" RETURNING ", COLUMNS))
}

/// Flips `completed`, or sets it to `to`. The new value is computed from the row under its
/// lock, so concurrent toggles never lose one.
pub fn toggle(owner: Owner, id: TaskId, to: Option<bool>) -> Statement<'static> {
    let statement = Statement::new("UPDATE tasks SET completed = COALESCE(")
        .bind(to, Type::BOOL)
        .push(", NOT completed), updated_at = now()");
    of_owner(statement, owner, id).push(concatcp!(" RETURNING ", COLUMNS))
}

pub fn delete(owner: Owner, id: TaskId) -> Statement<'static> {
    of_owner(Statement::new("DELETE FROM tasks"), owner, id).push(" RETURNING id")
}

/// `statement` narrowed to task `id` of `owner`.
fn of_owner(statement: Statement<'_>, owner: Owner, id: TaskId) -> Statement<'_> {
    let statement = statement
        .push(" WHERE id = ")
        .bind(id.get(), Type::INT8)
        .push(" AND user_id = ");
    owned_by(statement, owner)
}

/// One page of `owner`'s tasks by keyset: the rows after the cursor, one index range scan.
/// Fetches one row more than the page holds, which tells whether there is a next page.
pub fn list(owner: Owner, query: &ListQuery) -> Statement<'_> {
    let column = query.sort.column();
    let (direction, after) = match query.order {
        Order::Asc => (" ASC", " > ("),
        Order::Desc => (" DESC", " < ("),
    };
    let mut statement = owned_by(
        Statement::new(concatcp!(
            "SELECT ",
            COLUMNS,
            " FROM tasks WHERE user_id = "
        )),
        owner,
    );
    if let Some(completed) = query.status.completed() {
        statement = statement
            .push(" AND completed = ")
            .bind(completed, Type::BOOL);
    }
    if let Some(cursor) = &query.after {
        statement = statement
            .push(" AND (")
            .push(column)
            .push(", id)")
            .push(after);
        statement = match &cursor.key {
            CursorKey::Time(t) => statement.bind(*t, Type::TIMESTAMPTZ),
            CursorKey::Text(s) => statement.bind(s.as_str(), Type::TEXT),
        };
        statement = statement.push(", ").bind(cursor.id, Type::INT8).push(")");
    }
    statement
        .push(" ORDER BY ")
        .push(column)
        .push(direction)
        .push(", id")
        .push(direction)
        .push(" LIMIT ")
        .bind(query.page_size() + 1, Type::INT8)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use uuid::Uuid;

    use super::*;
    use crate::tasks::{Cursor, Sort, TaskTitle};

    fn query(pairs: &[(&str, &str)]) -> ListQuery {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        ListQuery::parse(|name| map.get(name).copied()).unwrap()
    }

    #[test]
    fn the_list_numbers_only_the_parameters_it_uses() {
        let owner = Owner::Id(Uuid::nil());
        assert_eq!(
            list(owner, &query(&[])).text(),
            "SELECT id, title, description, completed, created_at, updated_at FROM tasks \
             WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
        );
        let cursor = Cursor {
            key: CursorKey::Text("m".into()),
            id: 9,
        }
        .encode(Sort::Title, Order::Asc);
        let paged = query(&[
            ("status", "pending"),
            ("sort", "title"),
            ("order", "asc"),
            ("limit", "5"),
            ("cursor", &cursor),
        ]);
        assert!(list(owner, &paged).text().ends_with(
            "WHERE user_id = $1 AND completed = $2 AND (title, id) > ($3, $4) \
             ORDER BY title ASC, id ASC LIMIT $5"
        ));
    }

    #[test]
    fn every_statement_names_the_owner_and_the_task() {
        let (owner, id) = (Owner::Id(Uuid::nil()), TaskId::parse("7").unwrap());
        let task = NewTask {
            title: TaskTitle::parse("t").unwrap(),
            description: Default::default(),
            completed: false,
        };
        let changes = TaskChanges::default();
        for statement in [
            get(owner, id),
            update(owner, id, &changes),
            toggle(owner, id, None),
            delete(owner, id),
        ] {
            assert!(
                statement.text().contains("WHERE id = $"),
                "{}",
                statement.text()
            );
            assert!(
                statement.text().contains("AND user_id = $"),
                "{}",
                statement.text()
            );
        }
        assert!(
            create(owner, &task)
                .text()
                .contains("VALUES ($1, $2, $3, $4)")
        );
    }

    #[test]
    fn a_bound_owner_is_the_transactions_user_not_a_parameter() {
        let id = TaskId::parse("7").unwrap();
        assert!(get(Owner::Bound, id).text().ends_with(
            "WHERE id = $1 AND user_id = nullif(current_setting('app.user_id', true), '')::uuid"
        ));
        assert!(
            list(Owner::Bound, &query(&[])).text().contains(
                "user_id = nullif(current_setting('app.user_id', true), '')::uuid ORDER BY"
            )
        );
    }
}

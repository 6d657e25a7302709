//! Taking over the tasks table of the FastAPI + SQLModel backend this one replaces, found where
//! the first migration would create ours (`tasks`, or SQLModel's default name `task`) on a
//! database this backend has never migrated. Its shape is checked first, from the catalog; one
//! this does not know is refused before anything changes. Otherwise its rows are set aside in
//! a temporary table, the table is dropped, the migrations create ours, and the rows come back
//! into it: same ids (new tasks continue after the highest), text, state and times, extra
//! columns added and kept, each row awaiting its owner (`user_id` NULL, the old key in
//! `legacy_owner`; see `migrations/V8__legacy_tasks.sql` and [`super::legacy`]). It all happens
//! in the migration's one transaction, so a row that does not fit the new rules (an empty title,
//! say) stops everything with PostgreSQL's own words, and nothing is changed.

use std::fmt;

use tokio_postgres::Transaction;

use super::MigrateError;

/// Where the first migration creates tables of these names, a table already there is not ours.
const OURS: [&str; 5] = [
    "users",
    "sessions",
    "refresh_tokens",
    "throttles",
    "devices",
];

/// The names an old tasks table goes by: the Phase II backends' `tasks`, and `task`, SQLModel's
/// default for a `Task` model (the single-user starting point).
const OLD_NAMES: [&str; 2] = ["tasks", "task"];

/// The temporary table that holds the old rows while ours is created (dropped at commit).
const SNAPSHOT: &str = "takeover_old_tasks";

/// The new table's own column for an old row's owner key.
const LEGACY_OWNER: &str = "legacy_owner";

/// A column of the old table, as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Column {
    pub name: String,
    /// `pg_type.typname`: `int8`, `varchar`, `timestamp`...
    pub type_name: String,
    /// The type as SQL spells it, modifiers included: `character varying(200)`.
    pub type_sql: String,
    pub not_null: bool,
    pub default: Option<String>,
    pub identity: bool,
    pub generated: bool,
}

/// How an old table is copied into ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Plan {
    pub table: String,
    /// Whether it has `user_id`: each row's owner key. A single-user table has none.
    pub owner_key: bool,
    pub description: bool,
    pub created_at: Option<Clock>,
    pub updated_at: Option<Clock>,
    /// Columns the API does not know, added to ours and kept.
    pub extras: Vec<Column>,
}

/// How a timestamp column of the old table reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Clock {
    /// `timestamp without time zone`, as SQLModel made it for `datetime.utcnow`: UTC.
    Utc,
    /// `timestamp with time zone`.
    Zoned,
}

/// Why the old table was not taken over, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub table: String,
    pub problem: String,
    pub fix: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot take over table \"{}\": {}.\n{} Then run it again (docs/database.md, \
             \"Moving your database over\").",
            self.table, self.problem, self.fix
        )
    }
}

fn refuse(table: &str, problem: String, fix: String) -> Refusal {
    Refusal {
        table: table.to_owned(),
        problem,
        fix,
    }
}

/// Finds an old tasks table on a database this backend has not migrated yet, checks it, and sets
/// its rows aside; the caller then runs the migrations and [`finish`].
pub(super) async fn prepare(tx: &Transaction<'_>) -> Result<Option<Plan>, MigrateError> {
    let context = "inspecting the database for an older backend's tables";
    let row = tx
        .query_one(
            "SELECT to_regclass('refinery_schema_history') IS NOT NULL AS has_history",
            &[],
        )
        .await
        .map_err(MigrateError::context(context))?;
    if row.get::<_, bool>("has_history") {
        let ours = tx
            .query_one(
                "SELECT EXISTS (SELECT FROM refinery_schema_history WHERE version = 1) AS ours",
                &[],
            )
            .await
            .map_err(MigrateError::context(context))?;
        if ours.get::<_, bool>("ours") {
            return Ok(None);
        }
    }
    let names: Vec<&str> = OURS.iter().chain(OLD_NAMES.iter()).copied().collect();
    let found = tx
        .query(
            "SELECT relname::text AS name, relkind::text AS kind FROM pg_class \
             WHERE relnamespace = to_regnamespace(current_schema()) AND relname::text = ANY($1) \
             ORDER BY relname DESC",
            &[&names],
        )
        .await
        .map_err(MigrateError::context(context))?;
    let found: Vec<(String, String)> = found
        .iter()
        .map(|row| (row.get("name"), row.get("kind")))
        .collect();
    let Some(table) = old_table(&found).map_err(MigrateError::Refused)? else {
        return Ok(None);
    };
    let columns = tx
        .query(
            "SELECT a.attname::text AS name, t.typname::text AS type_name, \
             format_type(a.atttypid, a.atttypmod) AS type_sql, a.attnotnull AS not_null, \
             pg_get_expr(d.adbin, d.adrelid) AS default, a.attidentity <> '' AS identity, \
             a.attgenerated <> '' AS generated \
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attrelid = format('%I.%I', current_schema(), $1::text)::regclass \
             AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            &[&table],
        )
        .await
        .map_err(MigrateError::context(context))?
        .iter()
        .map(|row| Column {
            name: row.get("name"),
            type_name: row.get("type_name"),
            type_sql: row.get("type_sql"),
            not_null: row.get("not_null"),
            default: row.get("default"),
            identity: row.get("identity"),
            generated: row.get("generated"),
        })
        .collect::<Vec<_>>();
    let plan = plan(&table, &columns).map_err(MigrateError::Refused)?;
    let old = ident(&plan.table);
    tx.batch_execute(&format!(
        "CREATE TEMPORARY TABLE {SNAPSHOT} ON COMMIT DROP AS TABLE {old}; DROP TABLE {old};"
    ))
    .await
    .map_err(MigrateError::advised(
        format!("setting the rows of the old table \"{}\" aside", plan.table),
        Some(
            "Its rows are copied into the new table, and the old table dropped: what depends \
             on it (DETAIL names it) must go first, or be moved to the new table after."
                .into(),
        ),
    ))?;
    Ok(Some(plan))
}

/// Copies the rows set aside into the new `tasks`, and moves its id sequence past the highest.
/// Returns the old table's name and how many rows it kept.
pub(super) async fn finish(
    tx: &Transaction<'_>,
    plan: &Plan,
) -> Result<(String, u64), MigrateError> {
    let step = format!(
        "copying the rows of the old table \"{}\" into the new one",
        plan.table
    );
    for column in &plan.extras {
        tx.batch_execute(&add_column(column))
            .await
            .map_err(MigrateError::context(step.clone()))?;
    }
    let kept = tx
        .execute(&copy(plan), &[])
        .await
        .map_err(MigrateError::advised(
            step.clone(),
            Some(format!(
                "The row DETAIL shows does not fit the new table's rules (the API's: a title of 1 \
             to 200 characters, a description of at most 1000): correct or delete it in \"{}\".",
                plan.table
            )),
        ))?;
    tx.batch_execute(
        "SELECT setval(pg_get_serial_sequence('tasks', 'id'), max(id)) FROM tasks \
         HAVING max(id) IS NOT NULL",
    )
    .await
    .map_err(MigrateError::context(step))?;
    Ok((plan.table.clone(), kept))
}

/// Which of the tables found (name, `pg_class.relkind`) is an old tasks table, if any; refuses
/// when ours would collide with something that is not, or the old one is ambiguous.
fn old_table(found: &[(String, String)]) -> Result<Option<String>, Refusal> {
    if let Some((name, _)) = found.iter().find(|(name, _)| OURS.contains(&name.as_str())) {
        return Err(refuse(
            name,
            "this backend creates a table of that name, and this one is not its own (its \
             migrations have never run on this database)"
                .into(),
            format!(
                "Rename it out of the way: ALTER TABLE {} RENAME TO {};. Accounts are not carried \
                 over from it: people sign up here, and `make adopt` hands them their old tasks.",
                ident(name),
                ident(&format!("legacy_{name}"))
            ),
        ));
    }
    let old: Vec<&(String, String)> = found
        .iter()
        .filter(|(name, _)| OLD_NAMES.contains(&name.as_str()))
        .collect();
    match old.as_slice() {
        [] => Ok(None),
        [(name, kind)] if kind == "r" || kind == "p" => Ok(Some(name.clone())),
        [(name, kind)] => Err(refuse(
            name,
            format!("it is a {}, not a table", relation_kind(kind)),
            format!(
                "Rename it out of the way (ALTER {} {} RENAME TO {};) if it is not where the tasks are.",
                relation_kind(kind).to_uppercase(),
                ident(name),
                ident(&format!("legacy_{name}"))
            ),
        )),
        _ => Err(refuse(
            "task",
            "both \"tasks\" and \"task\" exist, and only one can be the old backend's".into(),
            "Rename the one that is not in use out of the way: ALTER TABLE task RENAME TO legacy_task;.".into(),
        )),
    }
}

fn relation_kind(kind: &str) -> &'static str {
    match kind {
        "v" => "view",
        "m" => "materialized view",
        "f" => "foreign table",
        "S" => "sequence",
        "i" | "I" => "index",
        _ => "relation",
    }
}

/// Checks an old table's columns against the shapes SQLModel made for the old backend's `Task`,
/// and says how to copy it.
pub(super) fn plan(table: &str, columns: &[Column]) -> Result<Plan, Refusal> {
    let find = |name: &str| columns.iter().find(|c| c.name == name);
    let expect = |name: &str, types: &[&str], expected: &str| -> Result<Option<&Column>, Refusal> {
        match find(name) {
            Some(column) if types.contains(&column.type_name.as_str()) => Ok(Some(column)),
            Some(column) => Err(refuse(
                table,
                format!(
                    "column \"{name}\" is {}, where {expected} was expected",
                    column.type_sql
                ),
                format!(
                    "Change its type (ALTER TABLE {} ALTER COLUMN {} TYPE ...) if its values can \
                     be {expected}, or rename it if it means something else.",
                    ident(table),
                    ident(name)
                ),
            )),
            None => Ok(None),
        }
    };
    let text = "text or character varying";
    let required = |name: &str, column: Option<&Column>| -> Result<(), Refusal> {
        match column {
            Some(_) => Ok(()),
            None => Err(refuse(
                table,
                format!("it has no column \"{name}\", which every task has"),
                "If the tasks are under another name, rename the column to the one the old \
                 backend's model gives it."
                    .into(),
            )),
        }
    };
    required("id", expect("id", &["int4", "int8"], "integer or bigint")?)?;
    required("title", expect("title", &["text", "varchar"], text)?)?;
    required("completed", expect("completed", &["bool"], "boolean")?)?;
    let owner_key = expect(
        "user_id",
        &["text", "varchar", "uuid", "int4", "int8"],
        "an owner key (text, character varying, uuid or an integer)",
    )?
    .is_some();
    let description = expect("description", &["text", "varchar"], text)?.is_some();
    let clock = |name: &str| -> Result<Option<Clock>, Refusal> {
        Ok(expect(
            name,
            &["timestamp", "timestamptz"],
            "timestamp with or without time zone",
        )?
        .map(|c| match c.type_name.as_str() {
            "timestamptz" => Clock::Zoned,
            _ => Clock::Utc,
        }))
    };
    let (created_at, updated_at) = (clock("created_at")?, clock("updated_at")?);

    let known = [
        "id",
        "user_id",
        "title",
        "description",
        "completed",
        "created_at",
        "updated_at",
    ];
    let extras: Vec<Column> = columns
        .iter()
        .filter(|c| !known.contains(&c.name.as_str()))
        .cloned()
        .collect();
    for column in &extras {
        check_extra(table, column)?;
    }
    Ok(Plan {
        table: table.to_owned(),
        owner_key,
        description,
        created_at,
        updated_at,
        extras,
    })
}

/// A column the API does not know is kept as it is, if the API can go on creating tasks
/// without knowing it, and if it can be added to the new table as it stands.
fn check_extra(table: &str, column: &Column) -> Result<(), Refusal> {
    let alter = format!(
        "ALTER TABLE {} ALTER COLUMN {}",
        ident(table),
        ident(&column.name)
    );
    let problem = if column.name == LEGACY_OWNER {
        Some((
            "the new table has a column of that name for each row's old owner key".to_owned(),
            format!(
                "Rename it: ALTER TABLE {} RENAME COLUMN {} TO {};.",
                ident(table),
                LEGACY_OWNER,
                ident(&format!("old_{LEGACY_OWNER}"))
            ),
        ))
    } else if column.identity || column.generated {
        Some((
            "its values are generated by the old table itself".to_owned(),
            format!(
                "Make it a plain column ({alter} DROP IDENTITY, or DROP EXPRESSION), or drop it."
            ),
        ))
    } else if column
        .default
        .as_deref()
        .is_some_and(|d| d.contains("nextval("))
    {
        Some((
            "its default draws from a sequence, which goes with the old table".to_owned(),
            format!("Drop the default ({alter} DROP DEFAULT;) or the column."),
        ))
    } else if column.not_null && column.default.is_none() {
        Some((
            "it is NOT NULL without a default, and the API, which does not know it, could \
             not create tasks"
                .to_owned(),
            format!(
                "Give it a default ({alter} SET DEFAULT ...;) or allow NULL ({alter} DROP NOT NULL;)."
            ),
        ))
    } else {
        None
    };
    match problem {
        Some((problem, fix)) => Err(refuse(
            table,
            format!(
                "column \"{}\" ({}), which the API does not know, cannot be kept: {problem}",
                column.name, column.type_sql
            ),
            fix,
        )),
        None => Ok(()),
    }
}

/// Adds an extra column of the old table to ours, as it was (type, default, NOT NULL).
fn add_column(column: &Column) -> String {
    let mut sql = format!(
        "ALTER TABLE tasks ADD COLUMN {} {}",
        ident(&column.name),
        column.type_sql
    );
    if let Some(default) = &column.default {
        sql.push_str(&format!(" DEFAULT {default}"));
    }
    if column.not_null {
        sql.push_str(" NOT NULL");
    }
    sql
}

/// The statement that copies the rows set aside into `tasks`, each awaiting its owner.
fn copy(plan: &Plan) -> String {
    let time = |name: &str, clock: Option<Clock>| match clock {
        Some(Clock::Utc) => format!("{name} AT TIME ZONE 'UTC'"),
        Some(Clock::Zoned) => name.to_owned(),
        // Nothing to keep: the take-over is when the new table first saw the task.
        None => "now()".to_owned(),
    };
    let mut into = vec![
        "id",
        LEGACY_OWNER,
        "title",
        "description",
        "completed",
        "created_at",
        "updated_at",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect::<Vec<_>>();
    let mut from = vec![
        "id".to_owned(),
        // An empty key names nobody: the row is unowned, as in a single-user table.
        if plan.owner_key {
            "nullif(user_id::text, '')"
        } else {
            "NULL"
        }
        .to_owned(),
        "title".to_owned(),
        // The API stores "no description" as NULL; SQLModel's `str = ""` stored it as "".
        if plan.description {
            "nullif(description, '')"
        } else {
            "NULL"
        }
        .to_owned(),
        "completed".to_owned(),
        time("created_at", plan.created_at),
        time("updated_at", plan.updated_at),
    ];
    for column in &plan.extras {
        into.push(ident(&column.name));
        from.push(ident(&column.name));
    }
    format!(
        "INSERT INTO tasks ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {SNAPSHOT} ORDER BY id",
        into.join(", "),
        from.join(", ")
    )
}

/// An identifier quoted for SQL, as `quote_ident` does (always quoting, which is never wrong).
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, type_name: &str) -> Column {
        Column {
            name: name.into(),
            type_name: type_name.into(),
            type_sql: type_name.into(),
            not_null: false,
            default: None,
            identity: false,
            generated: false,
        }
    }

    fn sqlmodel_task() -> Vec<Column> {
        vec![
            column("id", "int4"),
            column("user_id", "varchar"),
            column("title", "varchar"),
            column("description", "varchar"),
            column("completed", "bool"),
            column("created_at", "timestamp"),
            column("updated_at", "timestamp"),
        ]
    }

    #[test]
    fn the_phase_two_sqlmodel_table_is_copied_with_its_owner_keys_and_utc_times() {
        let plan = plan("tasks", &sqlmodel_task()).unwrap();
        assert!(plan.owner_key && plan.description && plan.extras.is_empty());
        assert_eq!(plan.created_at, Some(Clock::Utc));
        let sql = copy(&plan);
        assert!(sql.contains("nullif(user_id::text, '')"), "{sql}");
        assert!(sql.contains("created_at AT TIME ZONE 'UTC'"), "{sql}");
        assert!(sql.contains("nullif(description, '')"), "{sql}");
    }

    #[test]
    fn a_single_user_table_without_user_id_or_timestamps_is_copied_unowned() {
        let columns = vec![
            column("id", "int8"),
            column("title", "text"),
            column("completed", "bool"),
        ];
        let plan = plan("task", &columns).unwrap();
        assert!(!plan.owner_key && !plan.description);
        let sql = copy(&plan);
        assert!(
            sql.contains("SELECT id, NULL, title, NULL, completed, now(), now()"),
            "{sql}"
        );
    }

    #[test]
    fn extra_columns_are_added_as_they_were_and_copied() {
        let mut columns = sqlmodel_task();
        columns.push(Column {
            not_null: true,
            default: Some("'normal'::text".into()),
            type_sql: "text".into(),
            ..column("priority", "text")
        });
        let plan = plan("tasks", &columns).unwrap();
        assert_eq!(
            add_column(&plan.extras[0]),
            "ALTER TABLE tasks ADD COLUMN \"priority\" text DEFAULT 'normal'::text NOT NULL"
        );
        assert!(copy(&plan).ends_with("\"priority\" FROM takeover_old_tasks ORDER BY id"));
    }

    #[test]
    fn a_column_of_an_unexpected_type_is_refused_by_table_and_column() {
        let mut columns = sqlmodel_task();
        columns[2] = Column {
            type_sql: "integer".into(),
            ..column("title", "int4")
        };
        let refusal = plan("tasks", &columns).unwrap_err();
        assert_eq!(refusal.table, "tasks");
        assert!(
            refusal.to_string().contains(
                "column \"title\" is integer, where text or character varying was expected"
            ),
            "{refusal}"
        );
        assert!(
            refusal
                .fix
                .contains("ALTER TABLE \"tasks\" ALTER COLUMN \"title\" TYPE")
        );
    }

    #[test]
    fn a_table_without_a_title_is_refused() {
        let columns: Vec<Column> = sqlmodel_task()
            .into_iter()
            .filter(|c| c.name != "title")
            .collect();
        let refusal = plan("tasks", &columns).unwrap_err();
        assert!(refusal.problem.contains("no column \"title\""), "{refusal}");
    }

    #[test]
    fn extra_columns_the_api_could_not_live_with_are_refused_with_the_fix() {
        let cases = [
            (
                Column {
                    not_null: true,
                    ..column("position", "int4")
                },
                "NOT NULL without a default",
                "SET DEFAULT",
            ),
            (
                Column {
                    default: Some("nextval('tasks_position_seq'::regclass)".into()),
                    ..column("position", "int4")
                },
                "draws from a sequence",
                "DROP DEFAULT",
            ),
            (
                Column {
                    generated: true,
                    ..column("slug", "text")
                },
                "generated by the old table",
                "DROP EXPRESSION",
            ),
            (
                column("legacy_owner", "text"),
                "for each row's old owner key",
                "RENAME COLUMN",
            ),
        ];
        for (extra, problem, fix) in cases {
            let mut columns = sqlmodel_task();
            columns.push(extra);
            let refusal = plan("tasks", &columns).unwrap_err();
            assert!(refusal.problem.contains(problem), "{refusal}");
            assert!(refusal.fix.contains(fix), "{refusal}");
        }
    }

    #[test]
    fn a_table_of_ours_already_there_is_refused_before_the_old_tasks_are_looked_at() {
        let found = [
            ("users".to_owned(), "r".to_owned()),
            ("tasks".to_owned(), "r".to_owned()),
        ];
        let refusal = old_table(&found).unwrap_err();
        assert_eq!(refusal.table, "users");
        assert!(
            refusal
                .fix
                .contains("ALTER TABLE \"users\" RENAME TO \"legacy_users\""),
            "{refusal}"
        );
    }

    #[test]
    fn both_names_at_once_or_a_view_are_refused_and_nothing_is_nothing() {
        let table = |name: &str, kind: &str| (name.to_owned(), kind.to_owned());
        assert_eq!(old_table(&[]), Ok(None));
        assert_eq!(
            old_table(&[table("task", "r")]),
            Ok(Some("task".to_owned()))
        );
        assert!(
            old_table(&[table("tasks", "r"), table("task", "r")])
                .unwrap_err()
                .problem
                .contains("both")
        );
        assert!(
            old_table(&[table("tasks", "v")])
                .unwrap_err()
                .problem
                .contains("a view, not a table")
        );
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
    }
}

//! Defence in depth: the functions' database role and the row-level security policy on tasks.

use crate::support::*;
use shared::App;
use shared::auth::Caller;
use shared::db::Statement;
use shared::sessions;
use uuid::Uuid;

#[tokio::test]
async fn the_functions_role_owns_no_table_and_cannot_bypass_row_security() {
    let app = app();
    let rows = app
        .db
        .query(&Statement::new(
            "SELECT r.rolsuper, r.rolbypassrls,
                    (SELECT count(*) FROM pg_tables t
                     WHERE t.schemaname = 'public' AND t.tableowner = current_user)
             FROM pg_roles r WHERE r.rolname = current_user",
        ))
        .await
        .unwrap();
    assert!(!rows[0].get::<_, bool>(0), "not a superuser");
    assert!(!rows[0].get::<_, bool>(1), "no BYPASSRLS");
    assert_eq!(rows[0].get::<_, i64>(2), 0, "owns no table");
}

#[tokio::test]
async fn a_function_refuses_to_start_as_a_role_that_bypasses_row_security() {
    app(); // migrated
    let owner = std::env::var("MIGRATION_DATABASE_URL").unwrap_or_default();
    let mut settings = config();
    settings.database = owner.parse().unwrap();
    let bypasses = admin()
        .await
        .query_one(
            "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .unwrap()
        .get::<_, bool>(0);
    assert!(
        bypasses,
        "MIGRATION_DATABASE_URL must be a superuser here (make test's private cluster's is)"
    );
    let error = App::start(&settings).await.err().expect("refused");
    assert!(
        error.to_string().contains("bypasses row-level security"),
        "{error}"
    );
    // The functions' own role starts.
    App::start(&config()).await.unwrap();
}

#[tokio::test]
async fn a_query_that_forgets_its_user_filter_sees_only_the_bound_users_tasks() {
    let app = app();
    let (alice, bob) = (signup(&app).await, signup(&app).await);
    create_task(&app, &alice, json!({"title": "alice's"})).await;
    create_task(&app, &bob, json!({"title": "bob's"})).await;
    let alice_caller = app.tokens.verify(&alice.token).unwrap();

    let rows = sessions::run_as(
        &app.db,
        alice_caller,
        &Statement::new("SELECT DISTINCT user_id FROM tasks"),
    )
    .await
    .unwrap();
    let owners: Vec<Uuid> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(owners, [alice.id]);
}

#[tokio::test]
async fn outside_a_bound_session_no_task_is_visible_or_writable() {
    let app = app();
    let account = signup(&app).await;
    create_task(&app, &account, json!({"title": "hidden"})).await;

    let visible: i64 = app
        .db
        .query(&Statement::new("SELECT count(*) FROM tasks"))
        .await
        .unwrap()[0]
        .get(0);
    assert_eq!(visible, 0);
    let error = app
        .db
        .query(
            &Statement::new("INSERT INTO tasks (user_id, title) VALUES (")
                .bind(account.id, tokio_postgres::types::Type::UUID)
                .push(", 'sneaky')"),
        )
        .await
        .unwrap_err();
    assert_eq!(
        error.code(),
        Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
    );
}

#[tokio::test]
async fn a_bound_session_cannot_write_a_task_for_another_user() {
    let app = app();
    let (alice, bob) = (signup(&app).await, signup(&app).await);
    let caller = app.tokens.verify(&alice.token).unwrap();
    let plant = Statement::new("INSERT INTO tasks (user_id, title) VALUES (")
        .bind(bob.id, tokio_postgres::types::Type::UUID)
        .push(", 'planted')");
    let result = sessions::run_as(&app.db, caller, &plant).await;
    assert!(result.is_err(), "the policy's WITH CHECK refuses it");
    assert_eq!(tasks_owned_by(bob.id).await, 0, "nothing was planted");
}

#[tokio::test]
async fn a_session_of_another_user_does_not_bind() {
    let app = app();
    let (alice, bob) = (signup(&app).await, signup(&app).await);
    let bobs = app.tokens.verify(&bob.token).unwrap();
    // Alice's id with Bob's session: the pair must match a live session row.
    let forged = Caller::new(alice.id, bobs.session);
    let bound = app
        .db
        .guarded(&sessions::binding(forged), &Statement::new("SELECT 1"))
        .await
        .unwrap();
    assert!(bound.is_none());
}

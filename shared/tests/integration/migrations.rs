//! Migrations on databases an older version left behind, each test on a database of its own.
//! (The take-over of a FastAPI-era database is tested with SQLModel's own tables and Better
//! Auth's, through make dev: tests/takeover.)

use shared::App;
use shared::migrate::{self, Settings};

use crate::support::*;

/// Migrated as the version before emails were normalised left databases.
async fn before_nfc(name: &str) -> (tokio_postgres::Client, shared::config::Config) {
    let (mut owner, settings) = fresh_database(name).await;
    let until = Settings {
        until: Some(8),
        ..Settings::default()
    };
    migrate::run_with(&mut owner, until).await.unwrap();
    (owner, settings)
}

async fn signin_status(app: &App, email: &str) -> StatusCode {
    let req =
        call(Method::POST, "/api/auth/signin").json(json!({"email": email, "password": PASSWORD}));
    send(app, "signin", req).await.status()
}

#[tokio::test]
async fn an_email_stored_before_nfc_signs_in_as_typed_and_its_nfc_twin_cannot_sign_up() {
    let (mut owner, settings) = before_nfc("migrations_nfc_signin").await;
    let app = App::new(&settings).unwrap();
    let (decomposed, composed) = ("e\u{301}mile@example.com", "\u{e9}mile@example.com");
    // As an account made before signup normalised what people type was stored.
    let hash = app
        .passwords
        .hash(&PASSWORD.to_owned().into())
        .await
        .unwrap();
    owner
        .execute(
            "INSERT INTO users (email, password_hash) VALUES ($1, $2)",
            &[&decomposed, &hash],
        )
        .await
        .unwrap();

    migrate::run(&mut owner).await.unwrap();

    assert_eq!(signin_status(&app, decomposed).await, StatusCode::OK);
    assert_eq!(signin_status(&app, composed).await, StatusCode::OK);
    let twin = call(Method::POST, "/api/auth/signup")
        .json(json!({"email": composed, "password": "another good passphrase"}));
    assert_error(
        send(&app, "signup", twin).await,
        StatusCode::CONFLICT,
        "email_taken",
    );
}

#[tokio::test]
async fn two_accounts_that_would_share_an_address_in_nfc_are_reported_and_nothing_changes() {
    let (mut owner, _) = before_nfc("migrations_nfc_clash").await;
    let (decomposed, composed) = ("e\u{301}mile@example.com", "\u{e9}mile@example.com");
    for email in [composed, decomposed] {
        owner
            .execute(
                "INSERT INTO users (email, password_hash) VALUES ($1, '-')",
                &[&email],
            )
            .await
            .unwrap();
    }

    let error = migrate::run(&mut owner).await.unwrap_err().to_string();

    assert!(error.contains("V9__emails_nfc"), "{error}");
    assert!(
        error.contains("would share one address")
            && error.contains("DETAIL:  \u{e9}mile@example.com is the address of accounts"),
        "{error}"
    );
    assert!(
        error.contains("HINT:  Decide which account keeps the address"),
        "{error}"
    );
    let emails: Vec<String> = owner
        .query("SELECT email FROM users ORDER BY created_at", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(emails, [composed, decomposed], "nothing changed");
    let version: i32 = owner
        .query_one("SELECT max(version) FROM refinery_schema_history", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(version, 8);
}

#[tokio::test]
async fn any_failing_migration_says_what_postgresql_said_and_rolls_back_those_before_it() {
    let (mut owner, _) = fresh_database("migrations_words").await;
    owner
        .batch_execute(
            "CREATE FUNCTION adopt_legacy_tasks_of_new_user() RETURNS trigger LANGUAGE plpgsql \
             AS 'BEGIN RETURN NULL; END'",
        )
        .await
        .unwrap();

    let error = migrate::run(&mut owner).await.unwrap_err().to_string();

    assert!(
        error.contains("error applying migration V8__legacy_tasks: ERROR: function \
             \"adopt_legacy_tasks_of_new_user\" already exists with same argument types (SQLSTATE 42723)"),
        "{error}"
    );
    let created: bool = owner
        .query_one("SELECT to_regclass('users') IS NOT NULL", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        !created,
        "V1 to V7 rolled back with V8: a run is one transaction"
    );
}

#[tokio::test]
async fn a_stray_table_where_ours_go_is_refused_before_anything_runs() {
    let (mut owner, _) = fresh_database("migrations_stray").await;
    owner
        .batch_execute("CREATE TABLE sessions (id int)")
        .await
        .unwrap();
    let error = migrate::run(&mut owner).await.unwrap_err().to_string();
    assert!(
        error.contains("cannot take over table \"sessions\""),
        "{error}"
    );
    assert!(
        error.contains("ALTER TABLE \"sessions\" RENAME TO \"legacy_sessions\""),
        "{error}"
    );
}

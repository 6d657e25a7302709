//! Better Auth users in the database: a local row created on first sight, once however many
//! first requests race, their tasks isolated and bound as our own users' are. Tokens are the
//! verifier's business (its unit tests, and `make test` against a real Better Auth server); here
//! the identity a verified token yields is used directly.

use crate::support::*;
use shared::db::Statement;
use shared::identity::Identity;
use shared::tasks::{self, ListQuery, NewTask, TaskTitle};
use shared::users::linked::LinkedUser;
use shared::users::{DisplayName, Email, UserId};
use uuid::Uuid;

const ISSUER: &str = "http://127.0.0.1:9125";

/// A Better Auth user not seen before, with an id shaped like Better Auth's.
fn newcomer(email: &str) -> Identity {
    Identity::BetterAuth(LinkedUser {
        issuer: ISSUER.into(),
        subject: Uuid::new_v4().simple().to_string(),
        email: Some(Email::parse(email).unwrap()),
        name: DisplayName::parse(Some("Ada")).unwrap(),
        email_verified: true,
    })
}

fn new_task(title: &str) -> NewTask {
    NewTask {
        title: TaskTitle::parse(title).unwrap(),
        description: Default::default(),
        completed: false,
    }
}

fn subject(identity: &Identity) -> &str {
    match identity {
        Identity::BetterAuth(user) => &user.subject,
        Identity::Session(_) => unreachable!(),
    }
}

/// The local rows for a Better Auth user, as the owner sees them.
async fn rows_for(identity: &Identity) -> Vec<tokio_postgres::Row> {
    admin()
        .await
        .query(
            "SELECT id, email, name, password_hash FROM users WHERE issuer = $1 AND subject = $2",
            &[&ISSUER, &subject(identity)],
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn a_better_auth_user_gets_one_row_without_a_password_on_first_sight() {
    let app = app();
    let email = unique_email();
    let identity = newcomer(&email);
    let task = tasks::create(&app.db, &identity, &new_task("first"))
        .await
        .unwrap();
    assert_eq!(task.user_id, identity.user_id());
    assert_eq!(
        serde_json::to_value(&task).unwrap()["user_id"],
        subject(&identity)
    );

    let me = identity.user(&app.db).await.unwrap();
    assert_eq!(me.id, UserId::External(subject(&identity).into()));
    assert_eq!(me.email.as_deref(), Some(email.as_str()));
    assert_eq!(me.name.as_deref(), Some("Ada"));

    let rows = rows_for(&identity).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, Option<String>>("password_hash"), None);
    assert_eq!(tasks_owned_by(rows[0].get("id")).await, 1);
}

#[tokio::test]
async fn concurrent_first_requests_of_one_user_create_one_row_and_all_succeed() {
    let identity = newcomer(&unique_email());
    // Separate connections, so the first requests really race in the database.
    let apps: Vec<_> = (0..8).map(|_| app()).collect();
    let creates = apps.iter().enumerate().map(|(i, app)| {
        let identity = identity.clone();
        async move {
            tasks::create(&app.db, &identity, &new_task(&format!("racer {i}")))
                .await
                .unwrap()
        }
    });
    let created = futures_util::future::join_all(creates).await;
    assert_eq!(created.len(), 8);

    let rows = rows_for(&identity).await;
    assert_eq!(rows.len(), 1, "one row however many first requests raced");
    assert_eq!(tasks_owned_by(rows[0].get("id")).await, 8);
}

#[tokio::test]
async fn better_auth_users_see_only_their_own_tasks_even_without_a_filter() {
    let app = app();
    let (ada, bob) = (newcomer(&unique_email()), newcomer(&unique_email()));
    let ours = signup(&app).await;
    create_task(&app, &ours, json!({"title": "a password user's"})).await;
    let adas = tasks::create(&app.db, &ada, &new_task("ada's"))
        .await
        .unwrap();
    tasks::create(&app.db, &bob, &new_task("bob's"))
        .await
        .unwrap();

    let listed = tasks::list(&app.db, &bob, &ListQuery::parse(|_| None).unwrap())
        .await
        .unwrap();
    assert_eq!(listed.tasks.len(), 1);
    assert_eq!(listed.tasks[0].title, "bob's");
    let id = shared::tasks::TaskId::parse(&adas.id.to_string()).unwrap();
    assert!(tasks::get(&app.db, &bob, id).await.unwrap().is_none());
    assert!(!tasks::delete(&app.db, &bob, id).await.unwrap());
    assert!(
        tasks::toggle(&app.db, &bob, id, None)
            .await
            .unwrap()
            .is_none()
    );

    // Row-level security binds to the Better Auth user's row: a statement that forgets its
    // owner filter still sees only theirs.
    let owners = bob
        .run(
            &app.db,
            &Statement::new("SELECT DISTINCT user_id FROM tasks"),
        )
        .await
        .unwrap();
    let bobs_row: Uuid = rows_for(&bob).await[0].get("id");
    assert_eq!(
        owners.iter().map(|r| r.get(0)).collect::<Vec<Uuid>>(),
        [bobs_row]
    );
}

#[tokio::test]
async fn the_profile_follows_the_latest_token() {
    let app = app();
    let identity = newcomer(&unique_email());
    identity.user(&app.db).await.unwrap();
    let Identity::BetterAuth(mut user) = identity else {
        unreachable!()
    };
    let renamed = unique_email();
    user.email = Some(Email::parse(&renamed).unwrap());
    user.name = DisplayName::default();
    let me = Identity::BetterAuth(user).user(&app.db).await.unwrap();
    assert_eq!(me.email.as_deref(), Some(renamed.as_str()));
    assert_eq!(me.name, None);
}

#[tokio::test]
async fn a_better_auth_users_email_takes_no_address_and_cannot_sign_in() {
    let app = app();
    let email = unique_email();
    newcomer(&email).user(&app.db).await.unwrap();

    // Signin finds no account with a password for it...
    let signin =
        call(Method::POST, "/api/auth/signin").json(json!({"email": email, "password": PASSWORD}));
    assert_error(
        send(&app, "signin", signin).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    // ...and the address is still free for a password account, which is a different user.
    let signup =
        call(Method::POST, "/api/auth/signup").json(json!({"email": email, "password": PASSWORD}));
    let (status, body) = read(send(&app, "signup", signup).await);
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let signin =
        call(Method::POST, "/api/auth/signin").json(json!({"email": email, "password": PASSWORD}));
    assert_eq!(read(send(&app, "signin", signin).await).0, StatusCode::OK);
}

//! Who a request acts for: one of our own sessions, or a user a Better Auth server signed in.
//! Task statements run bound to either the same way, so isolation and row-level security hold
//! alike; only how the binding statement finds the user differs.

use tokio_postgres::Row;
use uuid::Uuid;

use crate::auth::Caller;
use crate::db::{Db, Statement};
use crate::error::Result;
use crate::sessions;
use crate::users::linked::LinkedUser;
use crate::users::{self, User, UserId};

/// Whose rows a statement works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// This user, named by a parameter.
    Id(Uuid),
    /// The user the transaction is bound to: for callers whose row only the binding finds.
    Bound,
}

#[derive(Debug, Clone)]
pub enum Identity {
    Session(Caller),
    BetterAuth(LinkedUser),
}

impl Identity {
    /// What the API calls this user, in `Task.user_id`, `me` and the `{user_id}` path segment.
    pub fn user_id(&self) -> UserId {
        match self {
            Identity::Session(caller) => UserId::Local(caller.user),
            Identity::BetterAuth(user) => user.id(),
        }
    }

    /// How task statements name the owner: our users' id is in their token; a Better Auth
    /// user's row is only known to the statement that binds them.
    pub fn owner(&self) -> Owner {
        match self {
            Identity::Session(caller) => Owner::Id(caller.user),
            Identity::BetterAuth(_) => Owner::Bound,
        }
    }

    /// Runs `statement` bound to this user (see [`sessions::run_as`], [`users::linked::run_as`]).
    pub async fn run(&self, db: &Db, statement: &Statement<'_>) -> Result<Vec<Row>> {
        match self {
            Identity::Session(caller) => sessions::run_as(db, *caller, statement).await,
            Identity::BetterAuth(user) => users::linked::run_as(db, user, statement).await,
        }
    }

    /// The account as the API shows it.
    pub async fn user(&self, db: &Db) -> Result<User> {
        match self {
            Identity::Session(caller) => sessions::user(db, *caller).await,
            Identity::BetterAuth(user) => users::linked::user(db, user).await,
        }
    }
}

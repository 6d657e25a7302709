//! Everything the todo functions share. Each Lambda binary in `functions/` only wires one
//! handler from [`handlers`] to the runtime; the rules, the SQL and the HTTP mapping live here,
//! where tests call them in-process.

pub mod app;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod handlers;
pub mod http;
pub mod identity;
pub mod links;
pub mod logging;
pub mod mail;
pub mod migrate;
pub mod secrets;
pub mod sessions;
pub mod tasks;
pub mod testing;
pub mod throttle;
pub mod timestamp;
pub mod users;
pub mod validation;

pub use app::App;
pub use error::Error;

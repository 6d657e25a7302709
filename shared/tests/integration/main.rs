//! The integration tests: every handler called in-process against the real PostgreSQL, plus the
//! parsers' properties and SSM through moto. One test binary rather than one per file, because
//! each links the whole AWS SDK: ten of them cost CI minutes of linking and gigabytes of disk.
#![allow(clippy::unwrap_used)]

mod relay;
mod support;

mod accounts;
mod auth;
mod better_auth;
mod database;
mod events;
mod http_contract;
mod logs;
mod migrations;
mod properties;
mod recovery;
mod row_security;
mod ses;
mod sessions;
mod ssm;
mod tasks;
mod throttling;

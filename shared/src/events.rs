//! Security events (OWASP ASVS 5.0 V16): each is one structured log line with a stable `event`
//! name and an `outcome`. Who it is about and from where come from the request's span, on the
//! same line: `user` (recorded with [`about`] once known) or, for an email no account has,
//! `email_hash` ([`about_email`]: a keyed hash, never the email itself), and `source`. Those
//! that are CloudWatch metrics name theirs in `metric` (see [`crate::logging`]).
//!
//! The names are an interface: alarms, dashboards and log queries use them. Never rename one.

use std::fmt::Display;

/// Records on the request's span whose request this is: every line after says so.
pub fn about(user: impl Display) {
    tracing::Span::current().record("user", tracing::field::display(user));
}

/// Records on the request's span the email a request is about, when no account has it, as its
/// keyed hash ([`crate::throttle::Throttle::pseudonym`]): the logs can tell attempts on one
/// address apart without holding it.
pub fn about_email(pseudonym: &str) {
    tracing::Span::current().record("email_hash", pseudonym);
}

/// An account was created, or not because the address has one (`outcome`).
pub fn signup(outcome: &'static str) {
    tracing::info!(event = "signup", outcome, "signup");
}

/// A signin started a session; `device` when it came from a device the account knew.
pub fn signin_succeeded(device: bool) {
    tracing::info!(
        event = "signin_succeeded",
        outcome = "session started",
        device,
        metric = "SigninSucceeded",
        "signin succeeded"
    );
}

/// A signin was refused: `wrong password`, `unknown email`, or `throttled` (by the keys `by`).
pub fn signin_failed(outcome: &'static str, by: &[&'static str]) {
    tracing::info!(
        event = "signin_failed",
        outcome,
        throttled_by = by.join(","),
        metric = "SigninFailed",
        "signin failed"
    );
}

/// A request was refused with 429 by the throttle keys `by` (kinds, e.g. `signin-account`).
pub fn throttled(by: &[&'static str], retry_after: u64) {
    tracing::info!(
        event = "throttled",
        outcome = "refused",
        keys = by.join(","),
        retry_after,
        metric = "Throttled",
        "throttled"
    );
}

/// A refresh token spent earlier came back: someone holds a copy (theft); the session ended.
pub fn refresh_token_reuse_detected(session: impl Display) {
    tracing::warn!(
        event = "refresh_token_reuse_detected",
        outcome = "session ended",
        %session,
        metric = "RefreshTokenReuse",
        "spent refresh token presented again; session ended"
    );
}

/// A signed-in owner's password confirmation was wrong (changing the password, deleting).
pub fn password_confirmation_failed() {
    tracing::info!(
        event = "password_confirmation_failed",
        outcome = "wrong password",
        "password confirmation refused"
    );
}

/// The account's password changed: `changed` by its signed-in owner, or `reset` by email link.
pub fn password_changed(outcome: &'static str) {
    tracing::info!(event = "password_changed", outcome, "password changed");
}

/// Sessions of the account ended: `this` (signout), `one`, `others` or `all` of them; `count`
/// where the statement counted them.
pub fn sessions_revoked(outcome: &'static str, count: Option<u64>) {
    tracing::info!(
        event = "sessions_revoked",
        outcome,
        count,
        "sessions revoked"
    );
}

/// The account and everything it owned were deleted.
pub fn account_deleted() {
    tracing::info!(
        event = "account_deleted",
        outcome = "deleted",
        "account deleted"
    );
}

/// A Better Auth user's first request: their row was created (and their old tasks, if any,
/// are theirs from now).
pub fn better_auth_user_first_seen() {
    tracing::info!(
        event = "better_auth_user_first_seen",
        outcome = "user created",
        "Better Auth user first seen"
    );
}

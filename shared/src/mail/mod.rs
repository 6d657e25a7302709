//! Mail the API sends: links that prove an address (verification, address change, password
//! reset) and notices of changes to an account.
//!
//! A handler only queues a [`Mail`] in the [`Outbox`]; nothing is sent while the request waits.
//! Functions that send mail run through [`deliver::run`], which hands each invocation's queue to
//! an internal Lambda extension that sends it after the answer has gone out, so an answer never
//! waits on a mail server, nor takes longer for an address that has an account than for one that
//! has none. The functions that send no mail never link this sending code.

pub mod deliver;
mod message;
mod transport;

use std::sync::Mutex;

use uuid::Uuid;

pub use transport::{MailConfigError, Sender, Transport};

/// One message to one address. Its token-bearing link is never logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    /// The account it is about, for the logs (never the address).
    pub user: Uuid,
    pub kind: MailKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailKind {
    /// After signup, or asked again: proves the account's address.
    VerifyAddress { link: String },
    /// To the new address of a requested change: using it makes the change.
    ConfirmNewAddress { link: String },
    /// To the old address when a change is requested: nothing to do if it was the owner.
    AddressChangeRequested { new_address: String },
    /// After a forgotten password: sets a new one.
    ResetPassword { link: String },
    /// After a reset: every session ended; if it was not the owner, reset again.
    PasswordChanged,
}

impl MailKind {
    /// A stable name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            MailKind::VerifyAddress { .. } => "verify_address",
            MailKind::ConfirmNewAddress { .. } => "confirm_new_address",
            MailKind::AddressChangeRequested { .. } => "address_change_requested",
            MailKind::ResetPassword { .. } => "reset_password",
            MailKind::PasswordChanged => "password_changed",
        }
    }
}

/// The mail one invocation queued, taken when it ends. Invocations of one execution environment
/// come one at a time, so one queue per function is one per invocation.
#[derive(Debug, Default)]
pub struct Outbox(Mutex<Vec<Mail>>);

impl Outbox {
    pub fn push(&self, mail: Mail) {
        self.lock().push(mail);
    }

    /// Everything queued so far, leaving the queue empty.
    pub fn take(&self) -> Vec<Mail> {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Mail>> {
        // A panic while holding the lock cannot leave a Vec half-pushed: the queue is still good.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

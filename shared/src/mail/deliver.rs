//! Sending an invocation's mail after its answer has gone out.
//!
//! Lambda freezes an execution environment once the runtime and every extension have asked for
//! the next event. An internal extension (registered by this process, subscribed to `INVOKE`)
//! gets each invocation too; it waits for the mail the handler queued, sends it, and only then
//! asks for its next event. The answer is posted by the runtime as soon as the handler returns,
//! so no answer waits on a mail server, and every answer takes as long whether it queued mail
//! or not: the time of `forgot` says nothing about who has an account.
//!
//! Nothing is lost silently: a send that fails is retried twice (within the invocation's
//! deadline), then logged at ERROR as `mail_failed` with the reason; the person can ask again
//! (the link was issued; a new one replaces it).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_extension::{Extension, LambdaEvent, NextEvent};
use lambda_http::{Body, Request, Response, service_fn};
use tokio::sync::{Mutex, mpsc};

use super::message::render;
use super::{Mail, Sender};
use crate::App;

/// Between attempts at one message: a mail server's brief refusal, a dropped connection.
const BACKOFF: [Duration; 2] = [Duration::from_millis(250), Duration::from_secs(1)];
/// Kept free before the invocation's deadline: an attempt that cannot finish is not begun.
const DEADLINE_MARGIN: Duration = Duration::from_secs(6);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Runs `handler` as the function, with the mail it queues in `app.outbox` sent after each
/// answer (see the module's documentation). The mail settings are read first (see
/// [`Sender::from_env`]): without them the function does not start.
pub async fn run<'a, F, Fut>(app: &'a App, handler: F) -> Result<(), BoxError>
where
    F: Fn(Request) -> Fut,
    Fut: Future<Output = Result<Response<Body>, Infallible>> + Send + 'a,
{
    let sender = Sender::from_env()
        .await
        .inspect_err(|error| tracing::error!(%error, "mail configuration failed; not starting"))?;
    let (queue, queued) = mpsc::unbounded_channel::<Vec<Mail>>();
    let courier = Arc::new(Courier {
        sender,
        queued: Mutex::new(queued),
    });
    let extension = Extension::new()
        .with_extension_name("mail")
        .with_events(&["INVOKE"])
        .with_events_processor(lambda_extension::service_fn(move |event: LambdaEvent| {
            let courier = Arc::clone(&courier);
            async move {
                if let NextEvent::Invoke(invoke) = event.next {
                    courier.deliver_next(invoke.deadline_ms).await;
                }
                Ok::<(), Infallible>(())
            }
        }))
        // Registered before the runtime's first `next`, as internal extensions must be.
        .register()
        .await?;
    let queue = &queue;
    let function = service_fn(move |req| {
        let answer = handler(req);
        async move {
            let response = answer.await;
            // Exactly one batch per invocation, even an empty one: the extension waits for it.
            // The receiver lives as long as the process, so this cannot fail.
            let _ = queue.send(app.outbox.take());
            response
        }
    });
    tokio::try_join!(lambda_http::run(function), extension.run())?;
    Ok(())
}

struct Courier {
    sender: Sender,
    queued: Mutex<mpsc::UnboundedReceiver<Vec<Mail>>>,
}

impl Courier {
    /// Waits for the mail of the invocation under way, and sends it.
    async fn deliver_next(&self, deadline_ms: u64) {
        let Some(batch) = self.queued.lock().await.recv().await else {
            return;
        };
        let deadline = UNIX_EPOCH + Duration::from_millis(deadline_ms);
        for mail in batch {
            send(&self.sender, &mail, deadline).await;
        }
    }
}

/// Sends one mail, retrying while the deadline allows; logs the outcome either way (the kind
/// and the account, never the address or the link).
pub async fn send(sender: &Sender, mail: &Mail, deadline: SystemTime) {
    let (kind, user) = (mail.kind.name(), mail.user);
    let message = match render(mail, &sender.from) {
        Ok(message) => message,
        Err(error) => {
            tracing::error!(event = "mail_failed", kind, %user, reason = %error, "mail not sent: the message could not be built");
            return;
        }
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let reason = match sender.send(&message).await {
            Ok(()) => {
                tracing::info!(event = "mail_sent", kind, %user, attempt, "mail sent");
                return;
            }
            Err(reason) => reason,
        };
        let backoff = BACKOFF.get(attempt - 1).copied();
        let time_left = deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        match backoff {
            Some(pause) if time_left > pause + DEADLINE_MARGIN => {
                tracing::warn!(event = "mail_retry", kind, %user, attempt, %reason, "mail not sent yet; trying again");
                tokio::time::sleep(pause).await;
            }
            _ => {
                tracing::error!(event = "mail_failed", kind, %user, attempt, %reason, "mail not sent; the person can ask again");
                return;
            }
        }
    }
}

//! Sending an invocation's mail after its answer has gone out.
//!
//! The handler only queues mail; when it returns, the runtime posts the answer and the queue
//! goes to a courier task that sends it. Lambda would freeze the execution environment as soon
//! as the runtime asks for the next event, so the function also registers an internal extension
//! (subscribed to `INVOKE`): Lambda waits for every extension to ask for its next event too, and
//! this one asks only once the courier has sent the invocation's mail (AWS's documented way to
//! work after the response). So no answer waits on a mail server, and every answer takes as long
//! whether it queued mail or not: the time of `forgot` says nothing about who has an account.
//! (`cargo lambda watch` may not tell the extension of an invocation that started its function;
//! locally nothing freezes, and the courier sends the mail all the same.)
//!
//! Nothing is lost silently: a send that fails is retried twice (within the invocation's
//! deadline), then logged at ERROR as `mail_failed` with the reason; the person can ask again
//! (a new link replaces the one that did not arrive).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_extension::{Extension, LambdaEvent, NextEvent};
use lambda_http::{Body, Request, RequestExt, Response, service_fn};
use tokio::sync::{Notify, mpsc};

use super::message::render;
use super::{Mail, Outbox, Sender};

/// Between attempts at one message: a mail server's brief refusal, a dropped connection.
const BACKOFF: [Duration; 2] = [Duration::from_millis(250), Duration::from_secs(1)];
/// Kept free before the invocation's deadline: an attempt that cannot finish is not begun.
const DEADLINE_MARGIN: Duration = Duration::from_secs(6);
/// Invocations whose mail is out but whose `INVOKE` the extension has not seen (yet, or ever,
/// under an emulator): only the latest are remembered.
const REMEMBERED: usize = 64;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One invocation's mail, by its request id.
struct Batch {
    request_id: String,
    deadline: SystemTime,
    mails: Vec<Mail>,
}

/// Runs `handler` as the function, with the mail it queues in `outbox` (the app's) sent after
/// each answer (see the module's documentation). The mail settings are read first (see
/// [`Sender::from_env`]): without them the function does not start.
pub async fn run<'a, F, Fut>(outbox: &'a Outbox, handler: F) -> Result<(), BoxError>
where
    F: Fn(Request) -> Fut,
    Fut: Future<Output = Result<Response<Body>, Infallible>> + Send + 'a,
{
    let sender = Sender::from_env()
        .await
        .inspect_err(|error| tracing::error!(%error, "mail configuration failed; not starting"))?;
    let sent = Arc::new(Sent::default());
    let (queue, queued) = mpsc::unbounded_channel::<Batch>();
    tokio::spawn(courier(sender, queued, Arc::clone(&sent)));
    let waiting = Arc::clone(&sent);
    let extension = Extension::new()
        .with_extension_name("mail")
        .with_events(&["INVOKE"])
        .with_events_processor(lambda_extension::service_fn(move |event: LambdaEvent| {
            let sent = Arc::clone(&waiting);
            async move {
                if let NextEvent::Invoke(invoke) = event.next {
                    let deadline = UNIX_EPOCH + Duration::from_millis(invoke.deadline_ms);
                    sent.wait_for(&invoke.request_id, deadline).await;
                }
                Ok::<(), Infallible>(())
            }
        }))
        // Registered before the runtime's first `next`, as internal extensions must be.
        .register()
        .await?;
    let queue = &queue;
    let function = service_fn(move |req: Request| {
        let context = req
            .lambda_context_ref()
            .map(|c| (c.request_id.clone(), c.deadline));
        let answer = handler(req);
        async move {
            let response = answer.await;
            let (request_id, deadline_ms) = context.unwrap_or_default();
            // One batch per invocation, even an empty one: the extension waits for it. The
            // courier lives as long as the process, so this cannot fail.
            let _ = queue.send(Batch {
                request_id,
                deadline: UNIX_EPOCH + Duration::from_millis(deadline_ms),
                mails: outbox.take(),
            });
            response
        }
    });
    tokio::try_join!(lambda_http::run(function), extension.run())?;
    Ok(())
}

/// Sends each batch as it comes, then says so.
async fn courier(sender: Sender, mut queued: mpsc::UnboundedReceiver<Batch>, sent: Arc<Sent>) {
    while let Some(batch) = queued.recv().await {
        for mail in &batch.mails {
            send(&sender, mail, batch.deadline).await;
        }
        sent.done(batch.request_id);
    }
}

/// The invocations whose mail has gone out, for the extension to wait on.
#[derive(Default)]
struct Sent {
    done: Mutex<VecDeque<String>>,
    changed: Notify,
}

impl Sent {
    fn done(&self, request_id: String) {
        let mut done = self.lock();
        if done.len() == REMEMBERED {
            done.pop_front();
        }
        done.push_back(request_id);
        drop(done);
        self.changed.notify_waiters();
    }

    /// Until the mail of `request_id` is out, or the invocation's deadline is near.
    async fn wait_for(&self, request_id: &str, deadline: SystemTime) {
        let patience = deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            .saturating_sub(Duration::from_millis(500));
        let out = async {
            loop {
                // Enabled before the check: a notice between the check and the wait is not lost.
                let changed = self.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                {
                    let mut done = self.lock();
                    if let Some(at) = done.iter().position(|id| id == request_id) {
                        done.remove(at);
                        return;
                    }
                }
                changed.await;
            }
        };
        if tokio::time::timeout(patience, out).await.is_err() {
            tracing::warn!(
                request_id,
                "the invocation's mail was not out before its deadline"
            );
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<String>> {
        self.done
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Sends one mail, retrying while the deadline allows; logs the outcome either way (the kind
/// and the account, never the address or the link), and says whether it went out.
pub async fn send(sender: &Sender, mail: &Mail, deadline: SystemTime) -> bool {
    let (kind, user) = (mail.kind.name(), mail.user);
    let message = match render(mail, &sender.from) {
        Ok(message) => message,
        Err(error) => {
            tracing::error!(event = "mail_failed", kind, %user, reason = %error, "mail not sent: the message could not be built");
            return false;
        }
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let reason = match sender.send(&message).await {
            Ok(()) => {
                tracing::info!(event = "mail_sent", kind, %user, attempt, "mail sent");
                return true;
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
                return false;
            }
        }
    }
}

//! The instances of one function, scaled as Lambda scales them: an invocation goes to a free
//! instance; when none is free a new one starts, up to the concurrency limit K; beyond it,
//! invocations wait. Instances stay warm until the pool stops.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::runtime_api::{Instance, Invocation, Queue, Spec, Stopped};

pub struct Pool {
    spec: Spec,
    limit: usize,
    queue_in: mpsc::UnboundedSender<Invocation>,
    queue: Queue,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    instances: Vec<Instance>,
    /// Invocations accepted and not yet answered, queued or running.
    in_flight: usize,
    durations: Vec<Duration>,
    /// The instances' CPU time when the durations were last reset.
    cpu_at_reset: Duration,
}

/// A stopped pool's figures.
pub struct Report {
    /// Per-invocation durations since the last [`Pool::reset_durations`].
    pub durations: Vec<Duration>,
    /// CPU time the instances used since then.
    pub cpu: Duration,
    pub instances: Vec<Stopped>,
}

impl Pool {
    pub fn new(spec: Spec, limit: usize) -> Arc<Self> {
        let (queue_in, queue) = mpsc::unbounded_channel();
        Arc::new(Self {
            spec,
            limit,
            queue_in,
            queue: Arc::new(tokio::sync::Mutex::new(queue)),
            state: Mutex::new(State::default()),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs one invocation and returns the function's response document.
    pub async fn invoke(&self, event: Bytes) -> Result<Bytes, String> {
        {
            let mut state = self.state();
            state.in_flight += 1;
            // More invocations than instances: one of them would wait, so Lambda starts another.
            if state.in_flight > state.instances.len() && state.instances.len() < self.limit {
                match Instance::start(&self.spec, self.queue.clone()) {
                    Ok(instance) => state.instances.push(instance),
                    Err(e) => {
                        state.in_flight -= 1;
                        return Err(format!("{}: {e}", self.spec.program.display()));
                    }
                }
            }
        }
        let (reply, outcome) = oneshot::channel();
        let sent = self.queue_in.send(Invocation { event, reply });
        let outcome = match sent {
            Ok(()) => outcome.await.ok(),
            Err(_) => None,
        };
        let mut state = self.state();
        state.in_flight -= 1;
        let outcome = outcome.ok_or("the instance ended without answering")?;
        state.durations.push(outcome.duration);
        outcome.response
    }

    /// Forgets the durations and CPU time so far (a warm-up's).
    pub fn reset_durations(&self) {
        let mut state = self.state();
        state.durations.clear();
        state.cpu_at_reset = state.instances.iter().filter_map(Instance::cpu).sum();
    }

    /// Stops every instance and returns the figures.
    pub async fn stop(&self) -> Report {
        let (instances, durations, cpu_at_reset) = {
            let mut state = self.state();
            (
                std::mem::take(&mut state.instances),
                std::mem::take(&mut state.durations),
                state.cpu_at_reset,
            )
        };
        let mut stopped = Vec::with_capacity(instances.len());
        for instance in instances {
            stopped.push(instance.stop().await);
        }
        let cpu: Duration = stopped.iter().filter_map(|s| s.cpu).sum();
        Report {
            durations,
            cpu: cpu.saturating_sub(cpu_at_reset),
            instances: stopped,
        }
    }
}

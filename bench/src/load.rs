//! Closed-loop load over HTTP: `connections` clients, each on its own keep-alive connection,
//! each sending its next request when the last is answered, for a fixed time. Every answer is
//! checked, not only counted: a 200 must list exactly the caller's own tasks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;

/// A user the load acts as: `GET path` with its token answers its `tasks` tasks.
pub struct Caller {
    pub path: String,
    pub token: String,
    pub user_id: String,
    pub tasks: usize,
}

#[derive(Default)]
pub struct Load {
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
    /// Failed connections and answers other than 200.
    pub errors: usize,
    /// 200s whose body was not exactly the caller's tasks: another user's row, or a row missing.
    pub wrong: usize,
    pub first_problem: Option<String>,
}

impl Load {
    pub fn requests_per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    fn problem(&mut self, mut text: String) {
        if let Some((cut, _)) = text.char_indices().nth(300) {
            text.truncate(cut);
            text.push('…');
        }
        self.first_problem.get_or_insert(text);
    }

    /// Counts an earlier run's (a warm-up's) errors in this one's.
    pub fn add_errors_of(&mut self, earlier: Load) {
        self.errors += earlier.errors;
        self.wrong += earlier.wrong;
        if let Some(problem) = earlier.first_problem {
            self.problem(problem);
        }
    }
}

/// Runs the load against `addr` for `duration`; client `i` acts as `callers[i % len]`.
pub async fn run(
    addr: SocketAddr,
    callers: Arc<Vec<Caller>>,
    connections: usize,
    duration: Duration,
) -> Load {
    let started = Instant::now();
    let deadline = started + duration;
    let mut clients = tokio::task::JoinSet::new();
    for i in 0..connections {
        let callers = callers.clone();
        clients.spawn(async move { client(addr, &callers[i % callers.len()], deadline).await });
    }
    let mut total = Load::default();
    while let Some(Ok(load)) = clients.join_next().await {
        total.latencies.extend(load.latencies);
        total.errors += load.errors;
        total.wrong += load.wrong;
        if let Some(problem) = load.first_problem {
            total.problem(problem);
        }
    }
    total.elapsed = started.elapsed();
    total
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn connect(addr: SocketAddr) -> Result<Sender, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    Ok(sender)
}

async fn client(addr: SocketAddr, caller: &Caller, deadline: Instant) -> Load {
    let mut load = Load::default();
    let mut sender: Option<Sender> = None;
    let authorization = format!("Bearer {}", caller.token);
    while Instant::now() < deadline {
        let mut current = match sender.take() {
            Some(s) => s,
            None => match connect(addr).await {
                Ok(s) => s,
                Err(e) => {
                    load.errors += 1;
                    load.problem(format!("connect: {e}"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let Ok(request) = Request::get(caller.path.as_str())
            .header("host", addr.to_string())
            .header("authorization", &authorization)
            .body(Empty::new())
        else {
            load.problem(format!("cannot build a request for {}", caller.path));
            load.errors += 1;
            break;
        };
        let started = Instant::now();
        let answer = match current.send_request(request).await {
            Ok(response) => {
                let status = response.status();
                response
                    .into_body()
                    .collect()
                    .await
                    .map(|b| (status, b.to_bytes()))
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        let elapsed = started.elapsed();
        match answer {
            Err(e) => {
                load.errors += 1;
                load.problem(format!("request: {e}"));
                continue; // a new connection next time
            }
            Ok((status, body)) if status != 200 => {
                load.errors += 1;
                load.problem(format!("{status}: {}", String::from_utf8_lossy(&body)));
            }
            Ok((_, body)) => {
                if let Err(problem) = check(caller, &body) {
                    load.wrong += 1;
                    load.problem(problem);
                }
            }
        }
        load.latencies.push(elapsed);
        sender = Some(current);
    }
    load
}

/// The body lists exactly `caller.tasks` tasks, every one the caller's.
fn check(caller: &Caller, body: &[u8]) -> Result<(), String> {
    let tasks: Vec<serde_json::Value> =
        serde_json::from_slice(body).map_err(|e| format!("not a list of tasks: {e}"))?;
    let others = tasks
        .iter()
        .filter(|t| t["user_id"].as_str() != Some(caller.user_id.as_str()))
        .count();
    if others > 0 || tasks.len() != caller.tasks {
        return Err(format!(
            "{} tasks for {}, {others} of another user (expected {})",
            tasks.len(),
            caller.user_id,
            caller.tasks
        ));
    }
    Ok(())
}

//! Closed-loop load over HTTP: `connections` clients, each on its own keep-alive connection,
//! each sending its next request when the last is answered, for a fixed time. Every answer is
//! checked, not only counted: a list must be exactly the caller's own tasks, a created task
//! the caller's with its title, and so on (see [`Workload`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

/// A user the load acts as: `GET path` with its token answers its `tasks` tasks; it signs in
/// with `email` and the benchmark's password.
pub struct Caller {
    pub path: String,
    pub token: String,
    pub user_id: String,
    pub tasks: usize,
    pub email: String,
}

/// What each client does, request after request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// `GET /api/{user_id}/tasks`: the caller's tasks, exactly.
    List,
    /// A task's life, over and over: create it, mark it complete, rename it, delete it, then
    /// list (the tasks the caller had before). Each client needs a caller of its own.
    Mixed,
    /// `POST /api/auth/signin` with the caller's email and password: a session for the caller.
    Signin,
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

/// Runs the list load against `addr` for `duration`; client `i` acts as `callers[i % len]`.
pub async fn run(
    addr: SocketAddr,
    callers: Arc<Vec<Caller>>,
    connections: usize,
    duration: Duration,
) -> Load {
    run_workload(addr, callers, connections, duration, Workload::List).await
}

/// Runs `workload` against `addr` for `duration`; client `i` acts as `callers[i % len]`.
pub async fn run_workload(
    addr: SocketAddr,
    callers: Arc<Vec<Caller>>,
    connections: usize,
    duration: Duration,
    workload: Workload,
) -> Load {
    let started = Instant::now();
    let deadline = started + duration;
    let mut clients = tokio::task::JoinSet::new();
    for i in 0..connections {
        let callers = callers.clone();
        clients.spawn(async move {
            client(addr, &callers[i % callers.len()], deadline, workload).await
        });
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

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// A request to `addr`: with `token` as its bearer, `body` as its JSON, if given.
fn request(
    addr: SocketAddr,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<Request<Full<Bytes>>, String> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
    request.body(Full::new(body)).map_err(|e| e.to_string())
}

/// One request outside any load, on a connection of its own: status, headers and body.
pub async fn send(
    addr: SocketAddr,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<(StatusCode, hyper::HeaderMap, Bytes), String> {
    let mut sender = connect(addr).await?;
    let request = request(addr, method, path, token, body)?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((parts.status, parts.headers, bytes))
}

/// One JSON request outside any load (to set a run up): its status and JSON body.
pub async fn send_json(
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: &Value,
) -> Result<(StatusCode, Value), String> {
    let (status, _, bytes) = send(addr, method, path, None, Some(body)).await?;
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

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

/// One request of a workload: what to send, and what the answer must be.
struct Step {
    method: Method,
    path: String,
    body: Option<Value>,
    expect: StatusCode,
}

/// Where a client is in its workload: the mixed one's step and the task it works on.
#[derive(Default)]
struct Progress {
    step: usize,
    task: Option<i64>,
    made: u64,
}

impl Progress {
    fn next(&self, caller: &Caller, workload: Workload) -> Step {
        let step = |method, path: String, body, expect| Step {
            method,
            path,
            body,
            expect,
        };
        let task = |suffix: &str| format!("{}/{}{suffix}", caller.path, self.task.unwrap_or(0));
        match (workload, self.step) {
            (Workload::List, _) | (Workload::Mixed, 4) => {
                step(Method::GET, caller.path.clone(), None, StatusCode::OK)
            }
            (Workload::Signin, _) => step(
                Method::POST,
                "/api/auth/signin".into(),
                Some(json!({"email": caller.email, "password": shared::testing::PASSWORD})),
                StatusCode::OK,
            ),
            (Workload::Mixed, 0) => step(
                Method::POST,
                caller.path.clone(),
                Some(json!({"title": format!("load {}", self.made)})),
                StatusCode::CREATED,
            ),
            (Workload::Mixed, 1) => step(Method::PATCH, task("/complete"), None, StatusCode::OK),
            (Workload::Mixed, 2) => step(
                Method::PUT,
                task(""),
                Some(json!({"title": format!("renamed {}", self.made)})),
                StatusCode::OK,
            ),
            (Workload::Mixed, _) => step(Method::DELETE, task(""), None, StatusCode::NO_CONTENT),
        }
    }

    /// Checks the answer to the current step and moves on. A failed step of a task's life
    /// goes on to deleting it, so the caller's list stays what it was.
    fn check(&mut self, caller: &Caller, workload: Workload, body: &[u8]) -> Result<(), String> {
        let result = match (workload, self.step) {
            (Workload::List, _) | (Workload::Mixed, 4) => check(caller, body),
            (Workload::Signin, _) => {
                let session: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
                match (session["user"]["id"].as_str(), session["token"].as_str()) {
                    (Some(id), Some(token)) if id == caller.user_id && !token.is_empty() => Ok(()),
                    _ => Err(format!("signin answered {session}")),
                }
            }
            (Workload::Mixed, step) => self.check_task(caller, step, body),
        };
        if workload == Workload::Mixed {
            self.step = (self.step + 1) % 5;
        }
        result
    }

    fn check_task(&mut self, caller: &Caller, step: usize, body: &[u8]) -> Result<(), String> {
        if step == 3 {
            self.task = None;
            self.made += 1;
            return Ok(());
        }
        let task: Value = serde_json::from_slice(body).map_err(|e| format!("not a task: {e}"))?;
        let title = match step {
            2 => format!("renamed {}", self.made),
            _ => format!("load {}", self.made),
        };
        if step == 0 {
            self.task = task["id"].as_i64();
        }
        let right = task["user_id"].as_str() == Some(caller.user_id.as_str())
            && task["title"].as_str() == Some(title.as_str())
            && task["completed"].as_bool() == Some(step != 0)
            && task["id"].as_i64().is_some()
            && task["id"].as_i64() == self.task;
        if right {
            Ok(())
        } else {
            Err(format!("step {step} answered {task}"))
        }
    }

    /// After a failed request: a task's life goes on to its deletion, if it has a task.
    fn failed(&mut self, workload: Workload) {
        if workload == Workload::Mixed {
            self.step = match (self.step, self.task) {
                (0, _) | (3, _) | (_, None) => 0,
                _ => 3,
            };
        }
    }
}

async fn client(addr: SocketAddr, caller: &Caller, deadline: Instant, workload: Workload) -> Load {
    let mut load = Load::default();
    let mut sender: Option<Sender> = None;
    let mut progress = Progress::default();
    // Past the deadline a task's life is still finished (unmeasured), so the caller's list is
    // what it was for whatever runs next.
    while Instant::now() < deadline || progress.step != 0 {
        let overtime = Instant::now() >= deadline;
        let mut current = match sender.take() {
            Some(s) => s,
            None => match connect(addr).await {
                Ok(s) => s,
                Err(e) => {
                    load.errors += 1;
                    load.problem(format!("connect: {e}"));
                    if overtime {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let step = progress.next(caller, workload);
        let token = (workload != Workload::Signin).then_some(caller.token.as_str());
        let Ok(request) = request(
            addr,
            step.method.clone(),
            &step.path,
            token,
            step.body.as_ref(),
        ) else {
            load.problem(format!("cannot build a request for {}", step.path));
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
                progress.failed(workload);
                continue; // a new connection next time
            }
            Ok((status, body)) if status != step.expect => {
                load.errors += 1;
                load.problem(format!(
                    "{} {}: {status}: {}",
                    step.method,
                    step.path,
                    String::from_utf8_lossy(&body)
                ));
                progress.failed(workload);
            }
            Ok((_, body)) => {
                if let Err(problem) = progress.check(caller, workload, &body) {
                    load.wrong += 1;
                    load.problem(problem);
                }
            }
        }
        if !overtime {
            load.latencies.push(elapsed);
        }
        sender = Some(current);
    }
    load
}

/// The body lists exactly `caller.tasks` tasks, every one the caller's.
pub fn check(caller: &Caller, body: &[u8]) -> Result<(), String> {
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

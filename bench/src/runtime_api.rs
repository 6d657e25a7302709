//! One Lambda execution environment, as far as a function can tell: its process, started with
//! Lambda's environment variables, and the Runtime API it polls for one invocation at a time
//! (`next`, `response`, `error`, `init/error`), with the Extensions API's `register` and `next`
//! for an internal extension (the functions that send mail register one). Invocations come from
//! a queue the environment shares with its siblings in a [`crate::pool::Pool`].

use std::convert::Infallible;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

const PREFIX: &str = "/2018-06-01/runtime";
const EXTENSION_PREFIX: &str = "/2020-01-01/extension";

/// How to start an instance of a function.
#[derive(Clone)]
pub struct Spec {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub dir: Option<PathBuf>,
    /// Keep the process's stdout (its logs) for [`Stopped::stdout`]; otherwise it is discarded.
    pub capture_stdout: bool,
}

impl Spec {
    pub fn new(program: impl Into<PathBuf>, env: &[(&str, &str)]) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            dir: None,
            capture_stdout: false,
        }
    }
}

/// An event for the function, and where its outcome goes.
pub struct Invocation {
    pub event: Bytes,
    pub reply: oneshot::Sender<Outcome>,
}

pub struct Outcome {
    /// The function's response document, or the error it reported.
    pub response: Result<Bytes, String>,
    /// From handing the event over to receiving the outcome: what Lambda bills.
    pub duration: Duration,
}

/// The invocations waiting for a free instance of one function.
pub type Queue = Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>>;

/// What an instance's Runtime API knows about it.
struct State {
    queue: Queue,
    started: Instant,
    /// Start of the process to its first `next`: Lambda's init duration.
    init: OnceLock<Duration>,
    init_error: OnceLock<String>,
    current: Mutex<Option<(String, Instant, oneshot::Sender<Outcome>)>>,
    requests: AtomicU64,
    /// Where `INVOKE` events go once an extension has registered, and where it reads them.
    extension: Mutex<Option<mpsc::UnboundedSender<String>>>,
    extension_events: tokio::sync::Mutex<Option<mpsc::UnboundedReceiver<String>>>,
}

pub struct Instance {
    child: Child,
    state: Arc<State>,
    server: JoinHandle<()>,
}

/// An instance's figures once it is stopped.
pub struct Stopped {
    pub init: Option<Duration>,
    pub init_error: Option<String>,
    /// Peak resident set (VmHWM) in bytes.
    pub peak_rss: Option<u64>,
    /// CPU time (user and system) the process used, init included.
    pub cpu: Option<Duration>,
    pub stdout: String,
}

impl Instance {
    /// Starts the process with its own Runtime API on a loopback port.
    pub fn start(spec: &Spec, queue: Queue) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let api = listener.local_addr()?.to_string();
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let state = Arc::new(State {
            queue,
            started: Instant::now(),
            init: OnceLock::new(),
            init_error: OnceLock::new(),
            current: Mutex::new(None),
            requests: AtomicU64::new(0),
            extension: Mutex::new(None),
            extension_events: tokio::sync::Mutex::new(None),
        });
        let server = tokio::spawn(serve(listener, state.clone()));
        let mut command = Command::new(&spec.program);
        command
            .args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", &api)
            .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_REGION", "eu-central-1")
            .stdout(if spec.capture_stdout {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if let Some(dir) = &spec.dir {
            command.current_dir(dir);
        }
        match command.spawn() {
            Ok(child) => Ok(Self {
                child,
                state,
                server,
            }),
            Err(e) => {
                server.abort();
                Err(e)
            }
        }
    }

    /// CPU time (user and system) the process has used so far.
    pub fn cpu(&self) -> Option<Duration> {
        self.child.id().and_then(cpu_time)
    }

    /// Reads its peak memory, then ends the process and its Runtime API.
    pub async fn stop(mut self) -> Stopped {
        let peak_rss = self.child.id().and_then(peak_rss);
        let cpu = self.cpu();
        let _ = self.child.kill().await;
        self.server.abort();
        let mut stdout = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            let _ = out.read_to_string(&mut stdout).await;
        }
        Stopped {
            init: self.state.init.get().copied(),
            init_error: self.state.init_error.get().cloned(),
            peak_rss,
            cpu,
            stdout,
        }
    }
}

/// User and system CPU time of a process (Linux; `/proc` counts in USER_HZ, 100 per second).
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command, which is in parentheses and may hold spaces: utime is 14th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}

/// `VmHWM` of a process, in bytes (Linux).
pub fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kb * 1024)
}

async fn serve(listener: tokio::net::TcpListener, state: Arc<State>) {
    // Connections live in this set so that stopping the server ends them too: a `next` left
    // waiting by a stopped process would otherwise take an invocation nobody answers.
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((stream, _)) = listener.accept().await {
        while connections.try_join_next().is_some() {}
        let state = state.clone();
        connections.spawn(async move {
            let service = service_fn(move |req| handle(state.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn answer(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    if let Some(call) = path.strip_prefix(EXTENSION_PREFIX) {
        return Ok(extension(&state, req.method(), call).await);
    }
    let Some(call) = path.strip_prefix(PREFIX) else {
        return Ok(answer(StatusCode::NOT_FOUND, ""));
    };
    let method = req.method().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if method == Method::GET && call == "/invocation/next" {
        return Ok(next(&state).await);
    }
    if method != Method::POST {
        return Ok(answer(StatusCode::METHOD_NOT_ALLOWED, ""));
    }
    if call == "/init/error" {
        let _ = state
            .init_error
            .set(String::from_utf8_lossy(&body).into_owned());
        return Ok(answer(StatusCode::ACCEPTED, ""));
    }
    let reported = match call
        .strip_prefix("/invocation/")
        .and_then(|rest| rest.rsplit_once('/'))
    {
        Some((id, "response")) => Some((id.to_owned(), Ok(body))),
        Some((id, "error")) => Some((
            id.to_owned(),
            Err(String::from_utf8_lossy(&body).into_owned()),
        )),
        _ => None,
    };
    let Some((id, response)) = reported else {
        return Ok(answer(StatusCode::NOT_FOUND, ""));
    };
    let current = state
        .current
        .lock()
        .ok()
        .and_then(|mut c| c.take_if(|(current, _, _)| *current == id));
    let Some((_, handed_over, reply)) = current else {
        return Ok(answer(StatusCode::BAD_REQUEST, "no such invocation"));
    };
    let _ = reply.send(Outcome {
        response,
        duration: handed_over.elapsed(),
    });
    Ok(answer(StatusCode::ACCEPTED, ""))
}

/// Blocks until an invocation is queued, as Lambda's `next` does, and hands it over.
async fn next(state: &State) -> Response<Full<Bytes>> {
    let _ = state.init.set(state.started.elapsed());
    let invocation = state.queue.lock().await.recv().await;
    let Some(Invocation { event, reply }) = invocation else {
        return answer(StatusCode::GONE, "the pool is closed");
    };
    let id = format!(
        "bench-{}",
        state.requests.fetch_add(1, Ordering::Relaxed) + 1
    );
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        + 30_000;
    if let Ok(mut current) = state.current.lock() {
        *current = Some((id.clone(), Instant::now(), reply));
    }
    if let Some(extension) = state.extension.lock().ok().and_then(|e| e.clone()) {
        let event = serde_json::json!({
            "eventType": "INVOKE",
            "deadlineMs": deadline as u64,
            "requestId": id,
            "invokedFunctionArn": "arn:aws:lambda:eu-central-1:000000000000:function:bench",
        });
        let _ = extension.send(event.to_string());
    }
    let mut response = answer(StatusCode::OK, event);
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = value.parse() {
            headers.insert(name, value);
        }
    };
    set("content-type", "application/json".into());
    set("lambda-runtime-aws-request-id", id);
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:eu-central-1:000000000000:function:bench".into(),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000;Sampled=0".into(),
    );
    response
}

/// The Extensions API, for one internal extension: `register`, then `event/next`, which blocks
/// until the runtime is handed an invocation and answers its `INVOKE` event.
async fn extension(state: &State, method: &Method, call: &str) -> Response<Full<Bytes>> {
    match (method, call) {
        (&Method::POST, "/register") => {
            let (events, received) = mpsc::unbounded_channel();
            if let Ok(mut extension) = state.extension.lock() {
                *extension = Some(events);
            }
            *state.extension_events.lock().await = Some(received);
            let body =
                r#"{"functionName":"bench","functionVersion":"$LATEST","handler":"bootstrap"}"#;
            let mut response = answer(StatusCode::OK, body);
            response.headers_mut().insert(
                "lambda-extension-identifier",
                "bench-extension".parse().unwrap_or_else(|_| unreachable!()),
            );
            response
        }
        (&Method::GET, "/event/next") => {
            let mut events = state.extension_events.lock().await;
            let next = match events.as_mut() {
                Some(events) => events.recv().await,
                None => None,
            };
            match next {
                Some(event) => answer(StatusCode::OK, event),
                None => answer(StatusCode::FORBIDDEN, "no extension registered"),
            }
        }
        _ => answer(StatusCode::NOT_FOUND, ""),
    }
}

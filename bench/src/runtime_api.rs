//! Cold start through a real Lambda runtime API: a minimal emulator of its three calls
//! (`next`, `response`, `error`), enough to start a function binary, hand it one API Gateway
//! event and time everything up to its answer.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;

pub struct ColdStart {
    /// Exec, runtime and logging set-up: what is left of "until the first `next`".
    pub process: Duration,
    pub config: Duration,
    pub connect: Duration,
    /// From handing over the event to receiving the response.
    pub first_request: Duration,
    pub total: Duration,
    pub status: u16,
}

/// Starts `binary` with `env`, sends `event`, and returns the timings.
pub async fn measure(
    binary: &Path,
    env: &[(&str, String)],
    event: &str,
) -> std::io::Result<ColdStart> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let api = listener.local_addr()?.to_string();
    let started = Instant::now();
    let mut child = Command::new(binary)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;

    let (mut next_at, mut done) = (None, None);
    while done.is_none() {
        let (mut socket, _) = listener.accept().await?;
        while let Some((path, body)) = read_request(&mut socket).await? {
            if path.ends_with("/invocation/next") {
                if next_at.is_some() {
                    break; // the function asks for a second event: we have what we need
                }
                next_at = Some(started.elapsed());
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: bench-1\r\n\
                     Lambda-Runtime-Deadline-Ms: {}\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:eu-central-1:000000000000:function:bench\r\n\
                     Content-Length: {}\r\n\r\n",
                    now_ms() + 30_000,
                    event.len()
                );
                socket.write_all(head.as_bytes()).await?;
                socket.write_all(event.as_bytes()).await?;
            } else {
                let status = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["statusCode"].as_u64())
                    .unwrap_or(0) as u16;
                done = Some((started.elapsed(), status));
                socket
                    .write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
                    .await?;
                break;
            }
        }
    }
    let _ = child.kill().await;
    let (mut config, mut connect) = (Duration::ZERO, Duration::ZERO);
    if let Some(stdout) = child.stdout.take() {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let Ok(log) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if log["fields"]["message"] == "ready" {
                config = Duration::from_micros(log["fields"]["config_us"].as_u64().unwrap_or(0));
                connect = Duration::from_micros(log["fields"]["connect_us"].as_u64().unwrap_or(0));
            }
        }
    }
    let next_at = next_at.unwrap_or_default();
    let (total, status) = done.unwrap_or_default();
    Ok(ColdStart {
        process: next_at.saturating_sub(config + connect),
        config,
        connect,
        first_request: total.saturating_sub(next_at),
        total,
        status,
    })
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

/// One HTTP/1.1 request: its path and body, or `None` when the client closed the connection.
async fn read_request(socket: &mut TcpStream) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if socket.read(&mut byte).await? == 0 {
            return Ok(None);
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let path = head
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            })
            .map(|(_, v)| v.trim().to_owned())
    };
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut line = Vec::new();
            while !line.ends_with(b"\r\n") {
                socket.read_exact(&mut byte).await?;
                line.push(byte[0]);
            }
            let size =
                usize::from_str_radix(String::from_utf8_lossy(&line).trim(), 16).unwrap_or(0);
            let mut chunk = vec![0u8; size + 2];
            socket.read_exact(&mut chunk).await?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        let length = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        body.resize(length, 0);
        socket.read_exact(&mut body).await?;
    }
    Ok(Some((path, body)))
}

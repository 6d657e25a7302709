//! Neon's cold compute: a suspended compute wakes when a connection arrives, and the connection
//! waits meanwhile. A function cold-starts at that moment, with the database [`network`]
//! simulates waking in 0.5, 2 or 8 s, and a frontend asks for the list: the first request, then,
//! if it was refused, again after its `Retry-After`, until the list comes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};

use crate::harness;
use crate::load::{self, Caller};
use crate::network::{self, Network, Simulated};
use crate::report::Bench;
use crate::stats::fmt;

/// The longest a request may go unanswered before it counts as hung (Lambda's timeout is 10 s;
/// API Gateway's, 30 s).
const HUNG: Duration = Duration::from_secs(15);

/// One wake: how long, the connect timeout the functions have, and what must happen.
struct Case {
    wake: Duration,
    connect_timeout: Option<&'static str>,
    fits: bool,
}

/// One request of a case.
struct Answer {
    at: Duration,
    status: Option<StatusCode>,
    retry_after: Option<u64>,
    problem: Option<String>,
}

pub async fn run(bench: &mut Bench) -> Result<(), String> {
    let ms = Duration::from_millis;
    let cases = if bench.smoke {
        // The same two outcomes, quicker: a wake within the connect timeout, and one past it.
        vec![
            Case {
                wake: ms(200),
                connect_timeout: None,
                fits: true,
            },
            Case {
                wake: ms(1500),
                connect_timeout: Some("1"),
                fits: false,
            },
        ]
    } else {
        vec![
            Case {
                wake: ms(500),
                connect_timeout: None,
                fits: true,
            },
            Case {
                wake: ms(2000),
                connect_timeout: None,
                fits: true,
            },
            Case {
                wake: ms(8000),
                connect_timeout: None,
                fits: false,
            },
        ]
    };
    let app = bench.app(4)?;
    let callers = harness::callers(&app, 1, 50).await?;
    let caller = callers.first().ok_or("no caller")?;
    let upstream = network::upstream(&bench.database_url).await?;
    let mut results = Vec::new();
    for case in &cases {
        let net = Simulated::start(
            upstream,
            Network {
                one_way: Duration::ZERO,
                wake: Some(case.wake),
            },
        )
        .map_err(|e| e.to_string())?;
        let mut url = net.url(&bench.function_database_url)?;
        if let Some(seconds) = case.connect_timeout {
            let separator = if url.contains('?') { '&' } else { '?' };
            url.push_str(&format!("{separator}connect_timeout={seconds}"));
        }
        let front = Arc::new(harness::rust(bench, 1, &url)?);
        let (addr, server) = front.clone().serve().await.map_err(|e| e.to_string())?;
        let answers = frontend(addr, caller).await;
        drop(server);
        for pool in front.pools() {
            pool.stop().await;
        }
        results.push(answers);
    }
    report(bench, &cases, &results)
}

/// Asks for the list as a frontend that honours `Retry-After` would, until it comes (at most
/// six times), from the moment the compute is asked to wake.
async fn frontend(addr: std::net::SocketAddr, caller: &Caller) -> Vec<Answer> {
    let started = Instant::now();
    let mut answers = Vec::new();
    for _ in 0..6 {
        let sent = load::send(addr, Method::GET, &caller.path, Some(&caller.token), None);
        let answer = match tokio::time::timeout(HUNG, sent).await {
            Err(_) => Answer {
                at: started.elapsed(),
                status: None,
                retry_after: None,
                problem: Some(format!("no answer in {} s", HUNG.as_secs())),
            },
            Ok(Err(error)) => Answer {
                at: started.elapsed(),
                status: None,
                retry_after: None,
                problem: Some(error),
            },
            Ok(Ok((status, headers, body))) => Answer {
                at: started.elapsed(),
                status: Some(status),
                retry_after: headers
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok()),
                problem: match status {
                    StatusCode::OK => load::check(caller, &body).err(),
                    StatusCode::SERVICE_UNAVAILABLE => None,
                    _ => Some(format!("{status}: {}", String::from_utf8_lossy(&body))),
                },
            },
        };
        let (done, wait) = (
            answer.status == Some(StatusCode::OK) || answer.problem.is_some(),
            answer.retry_after.unwrap_or(1),
        );
        answers.push(answer);
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_secs(wait)).await;
    }
    answers
}

/// What a case's answers must be: the list at once when the wake fits, else a 503 with
/// `Retry-After` and then the list; never another status, a wrong list or a hung request.
fn verdict(case: &Case, answers: &[Answer]) -> Result<(), String> {
    if let Some(problem) = answers.iter().find_map(|a| a.problem.clone()) {
        return Err(problem);
    }
    let first = answers.first().ok_or("no request made")?;
    let last = answers.last().ok_or("no request made")?;
    if last.status != Some(StatusCode::OK) {
        return Err("the list never came".into());
    }
    match (case.fits, first.status) {
        (true, Some(StatusCode::OK)) => Ok(()),
        (false, Some(StatusCode::SERVICE_UNAVAILABLE)) if first.retry_after.is_some() => Ok(()),
        (false, Some(StatusCode::SERVICE_UNAVAILABLE)) => Err("503 without Retry-After".into()),
        (_, status) => Err(format!("first answer {status:?}")),
    }
}

fn report(bench: &mut Bench, cases: &[Case], results: &[Vec<Answer>]) -> Result<(), String> {
    bench.line("");
    bench.line("## Neon's cold compute");
    bench.line("");
    bench.line(include_str!("../cold_compute.md").trim_end());
    bench.line("");
    bench.line("| wake | connect timeout | answers (status at time since the first request, Retry-After) | list after | as it must be |");
    bench.line("|---|---|---|---|---|");
    let mut failed = Vec::new();
    for (case, answers) in cases.iter().zip(results) {
        let listed = answers
            .iter()
            .map(|a| match (a.status, a.retry_after) {
                (Some(status), Some(wait)) => {
                    format!("{} at {} (Retry-After {wait})", status.as_u16(), fmt(a.at))
                }
                (Some(status), None) => format!("{} at {}", status.as_u16(), fmt(a.at)),
                (None, _) => format!("none at {}", fmt(a.at)),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let verdict = verdict(case, answers);
        if let Err(problem) = &verdict {
            failed.push(format!("{} wake: {problem}", fmt(case.wake)));
        }
        bench.line(format!(
            "| {} | {} s | {listed} | {} | {} |",
            fmt(case.wake),
            case.connect_timeout.unwrap_or("5"),
            answers
                .last()
                .filter(|a| a.status == Some(StatusCode::OK))
                .map_or_else(|| "never".to_owned(), |a| fmt(a.at)),
            match &verdict {
                Ok(()) if case.fits => "yes: the list on the first request".to_owned(),
                Ok(()) => "yes: 503 with Retry-After, then the list".to_owned(),
                Err(problem) => format!("**no**: {problem}"),
            }
        ));
    }
    if bench.smoke && !failed.is_empty() {
        return Err(failed.join("; "));
    }
    Ok(())
}

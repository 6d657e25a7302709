//! Neon as seen from Lambda, simulated in front of the local PostgreSQL: its distance (a one-way
//! delay on every byte, both ways, so a round trip costs twice that) and its cold compute (a
//! suspended compute wakes when the first connection arrives; every connection waits until it is
//! up before the database answers anything). Round trips are counted as [`crate::proxy`] counts
//! them.
//!
//! Plain threads and blocking sockets: a delay of half a millisecond needs a timer finer than
//! tokio's (whole milliseconds), and `thread::sleep` keeps to tens of microseconds.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::proxy::{self, RoundTrips};

/// How far away the database is, and how asleep.
#[derive(Debug, Clone, Copy, Default)]
pub struct Network {
    /// Added to every byte's trip, each way.
    pub one_way: Duration,
    /// How long the compute takes to wake, counted from the first connection; `None`: awake.
    pub wake: Option<Duration>,
}

pub struct Simulated {
    pub addr: SocketAddr,
    pub round_trips: RoundTrips,
}

impl Simulated {
    /// Listens on a free local port and forwards every connection to `upstream` through
    /// `network`. Runs until the process ends (a few idle threads per simulated database).
    pub fn start(upstream: SocketAddr, network: Network) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let round_trips = RoundTrips::default();
        let up_at = Mutex::new(network.wake.is_none().then(Instant::now));
        let (count, up) = (round_trips.clone(), up_at);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                // The first connection starts the wake; the compute is up `wake` later.
                let ready = {
                    let mut up = up.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                    *up.get_or_insert_with(|| Instant::now() + network.wake.unwrap_or_default())
                };
                let count = count.clone();
                std::thread::spawn(move || {
                    wait_until(ready);
                    if let Ok(server) = TcpStream::connect(upstream) {
                        relay(client, server, network.one_way, count);
                    }
                });
            }
        });
        Ok(Self { addr, round_trips })
    }

    /// `url` (a `postgres://` URL) with this proxy as its host and port.
    pub fn url(&self, url: &str) -> Result<String, String> {
        let (scheme, rest) = url.split_once("://").ok_or("not a URL")?;
        let (credentials, rest) = match rest.split_once('@') {
            Some((credentials, rest)) => (format!("{credentials}@"), rest),
            None => (String::new(), rest),
        };
        let path = rest.find('/').map_or("", |i| &rest[i..]);
        Ok(format!("{scheme}://{credentials}{}{path}", self.addr))
    }
}

/// The TCP address of a `postgres://` URL's database.
pub async fn upstream(url: &str) -> Result<SocketAddr, String> {
    let config: tokio_postgres::Config = url.parse().map_err(|e| format!("{e}"))?;
    match (config.get_hosts().first(), config.get_ports().first()) {
        (Some(tokio_postgres::config::Host::Tcp(host)), Some(port)) => {
            tokio::net::lookup_host((host.as_str(), *port))
                .await
                .map_err(|e| e.to_string())?
                .next()
                .ok_or_else(|| "cannot resolve the database host".to_owned())
        }
        _ => Err("the simulated network needs a TCP DATABASE_URL".into()),
    }
}

fn wait_until(at: Instant) {
    let now = Instant::now();
    if at > now {
        std::thread::sleep(at - now);
    }
}

/// Both directions, each delayed by `one_way`; round trips counted on the client's requests
/// and the server's `ReadyForQuery`s.
fn relay(client: TcpStream, server: TcpStream, one_way: Duration, count: RoundTrips) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(client_out), Ok(server_out)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let (mut client_side, mut server_side) = proxy::sides(count);
    let upward =
        std::thread::spawn(move || pipe(client, server_out, one_way, |b| client_side.saw(b)));
    pipe(server, client_out, one_way, |b| server_side.saw(b));
    let _ = upward.join();
}

/// Copies `from` to `to`, each chunk written `delay` after it was read; `seen` looks at each
/// chunk as it is read. A writer thread does the waiting, so chunks in flight overlap as on a
/// real link (latency, not a bandwidth limit).
fn pipe(mut from: TcpStream, mut to: TcpStream, delay: Duration, mut seen: impl FnMut(&[u8])) {
    let (send, receive) = mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = std::thread::spawn(move || {
        for (due, bytes) in receive {
            wait_until(due);
            if to.write_all(&bytes).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                seen(&buf[..n]);
                if send
                    .send((Instant::now() + delay, buf[..n].to_vec()))
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    drop(send);
    let _ = writer.join();
}

//! A TCP relay between the functions and the test database that can fail the way networks do:
//! drop every connection without a word, or let the server commit and lose its reply.
//! Plain threads and blocking sockets, so that it acts while the test's runtime is not running:
//! like a Lambda execution environment, frozen while the peer goes away.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use tokio_postgres::config::{Host, SslMode};

#[derive(Default)]
struct State {
    /// The next server reply is swallowed, up to and including COMMIT's, and the client cut off.
    lose_commit_reply: AtomicBool,
    accepted: AtomicUsize,
    /// Both ends of every connection, to cut them from the test.
    sockets: Mutex<Vec<TcpStream>>,
}

pub struct Relay {
    addr: SocketAddr,
    state: Arc<State>,
}

impl Relay {
    /// Relays to the database in `DATABASE_URL`.
    pub fn start() -> Self {
        let upstream = upstream();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        let shared = Arc::clone(&state);
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let server = TcpStream::connect(upstream).unwrap();
                shared.accepted.fetch_add(1, Ordering::SeqCst);
                let mut sockets = shared.sockets.lock().unwrap();
                sockets.push(client.try_clone().unwrap());
                sockets.push(server.try_clone().unwrap());
                drop(sockets);
                let (c, s) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                thread::spawn(move || pump(c, s));
                let state = Arc::clone(&shared);
                thread::spawn(move || replies(server, client, &state));
            }
        });
        Relay { addr, state }
    }

    /// The functions' database settings, pointed at this relay.
    pub fn config(&self) -> tokio_postgres::Config {
        let direct = crate::support::config().database;
        let mut config = tokio_postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(self.addr.port())
            .user(direct.get_user().unwrap())
            .dbname(direct.get_dbname().unwrap())
            .ssl_mode(SslMode::Disable);
        if let Some(password) = direct.get_password() {
            config.password(password);
        }
        config
    }

    /// Closes every connection at once, on both sides, as a restarted proxy or a dropped NAT
    /// mapping would. Returns only when done, without running the caller's runtime.
    pub fn cut_all(&self) {
        for socket in self.state.sockets.lock().unwrap().drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }

    /// The next transaction commits on the server, but its replies never reach the client,
    /// whose connection is then closed.
    pub fn lose_commit_reply(&self) {
        self.state.lose_commit_reply.store(true, Ordering::SeqCst);
    }

    pub fn connections(&self) -> usize {
        self.state.accepted.load(Ordering::SeqCst)
    }
}

fn upstream() -> SocketAddr {
    let direct = crate::support::config().database;
    let Host::Tcp(host) = &direct.get_hosts()[0] else {
        panic!("the relay needs DATABASE_URL to name a TCP host")
    };
    let port = direct.get_ports().first().copied().unwrap_or(5432);
    let host = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    SocketAddr::new(host.parse().unwrap(), port)
}

/// Client to server, as is.
fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buffer = [0; 16 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buffer) {
        if to.write_all(&buffer[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Server to client, unless told to lose the replies to the next transaction.
fn replies(mut server: TcpStream, mut client: TcpStream, state: &State) {
    let mut buffer = [0; 16 * 1024];
    let mut swallowed = Vec::new();
    while let Ok(n @ 1..) = server.read(&mut buffer) {
        if state.lose_commit_reply.load(Ordering::SeqCst) {
            swallowed.extend_from_slice(&buffer[..n]);
            // CommandComplete's tag: the server has committed.
            if swallowed.windows(7).any(|w| w == b"COMMIT\0") {
                state.lose_commit_reply.store(false, Ordering::SeqCst);
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
                return;
            }
        } else if client.write_all(&buffer[..n]).is_err() {
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Write);
}

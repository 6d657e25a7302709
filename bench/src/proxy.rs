//! A TCP proxy in front of PostgreSQL that counts round trips. Every `Sync` (extended protocol)
//! or `Query` (simple protocol) message the client sends is answered by one `ReadyForQuery`; a
//! round trip is a flight of such requests sent while none was outstanding, so requests the
//! client pipelines (sends before the answers to the earlier ones arrive) share one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Default)]
pub struct RoundTrips(Arc<AtomicUsize>);

impl RoundTrips {
    pub fn take(&self) -> usize {
        self.0.swap(0, Ordering::SeqCst)
    }

    /// Counts one more round trip.
    pub fn add(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Listens on a free local port and forwards every connection to `upstream`.
pub async fn start(upstream: SocketAddr) -> std::io::Result<(SocketAddr, RoundTrips)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let counter = RoundTrips::default();
    let count = counter.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                if let Ok(server) = TcpStream::connect(upstream).await {
                    let _ = relay(client, server, count).await;
                }
            });
        }
    });
    Ok((addr, counter))
}

/// What one connection's client sends: each request that finds none outstanding starts a round
/// trip.
pub struct ClientSide {
    messages: Messages,
    outstanding: Arc<AtomicI64>,
    count: RoundTrips,
}

/// What its server sends: each `ReadyForQuery` answers one request.
pub struct ServerSide {
    messages: Messages,
    outstanding: Arc<AtomicI64>,
}

/// The two directions of one connection, each watched where its bytes pass.
pub fn sides(count: RoundTrips) -> (ClientSide, ServerSide) {
    // Requests sent and not yet answered by a ReadyForQuery; the start-up message is one (the
    // connection's set-up, not counted as a request's round trip).
    let outstanding = Arc::new(AtomicI64::new(1));
    (
        ClientSide {
            messages: Messages::new(false),
            outstanding: Arc::clone(&outstanding),
            count,
        },
        ServerSide {
            messages: Messages::new(true),
            outstanding,
        },
    )
}

impl ClientSide {
    pub fn saw(&mut self, bytes: &[u8]) {
        for kind in self.messages.push(bytes) {
            if matches!(kind, b'S' | b'Q') && self.outstanding.fetch_add(1, Ordering::SeqCst) == 0 {
                self.count.add();
            }
        }
    }
}

impl ServerSide {
    /// Called before the bytes are forwarded: the client cannot send its next flight before.
    pub fn saw(&mut self, bytes: &[u8]) {
        for kind in self.messages.push(bytes) {
            if kind == b'Z' {
                self.outstanding.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
}

async fn relay(client: TcpStream, server: TcpStream, count: RoundTrips) -> std::io::Result<()> {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let (mut client_side, mut server_side) = sides(count);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            server_side.saw(&buf[..n]);
            if client_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = client_read.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        client_side.saw(&buf[..n]);
        server_write.write_all(&buf[..n]).await?;
    }
}

/// Splits one direction of the protocol into messages and yields their type bytes. The
/// client's start-up message has no type byte.
struct Messages {
    pending: Vec<u8>,
    started: bool,
}

impl Messages {
    /// `started`: false for the client's direction, whose first message is the start-up.
    fn new(started: bool) -> Self {
        Self {
            pending: Vec::new(),
            started,
        }
    }

    fn push(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(bytes);
        let mut kinds = Vec::new();
        loop {
            let len_at = usize::from(self.started);
            if self.pending.len() < len_at + 4 {
                break;
            }
            let len = u32::from_be_bytes([
                self.pending[len_at],
                self.pending[len_at + 1],
                self.pending[len_at + 2],
                self.pending[len_at + 3],
            ]) as usize;
            let total = len + len_at;
            if self.pending.len() < total {
                break;
            }
            if self.started {
                kinds.push(self.pending[0]);
            }
            self.started = true;
            self.pending.drain(..total);
        }
        kinds
    }
}

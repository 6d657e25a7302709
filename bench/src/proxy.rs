//! A TCP proxy in front of PostgreSQL that counts round trips: every `Sync` (extended protocol)
//! or `Query` (simple protocol) message the client sends ends with the client waiting for the
//! server's `ReadyForQuery`, so their number is the number of round trips.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Default)]
pub struct RoundTrips(Arc<AtomicUsize>);

impl RoundTrips {
    pub fn take(&self) -> usize {
        self.0.swap(0, Ordering::SeqCst)
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

async fn relay(client: TcpStream, server: TcpStream, count: RoundTrips) -> std::io::Result<()> {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    tokio::spawn(async move { tokio::io::copy(&mut server_read, &mut client_write).await });
    let mut pending = Vec::new();
    let mut started = false;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = client_read.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        // Count before forwarding, so a request's round trips are counted when it completes.
        pending.extend_from_slice(&buf[..n]);
        // Walk the complete messages; the start-up message has no type byte.
        loop {
            let header = if started { 5 } else { 4 };
            if pending.len() < header {
                break;
            }
            let len_at = if started { 1 } else { 0 };
            let len = u32::from_be_bytes([
                pending[len_at],
                pending[len_at + 1],
                pending[len_at + 2],
                pending[len_at + 3],
            ]) as usize;
            let total = len + len_at;
            if pending.len() < total {
                break;
            }
            if started && matches!(pending[0], b'S' | b'Q') {
                count.0.fetch_add(1, Ordering::SeqCst);
            }
            started = true;
            pending.drain(..total);
        }
        server_write.write_all(&buf[..n]).await?;
    }
}

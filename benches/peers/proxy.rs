//! A latency proxy in front of each sshd host of the fleet part: what a host 25 ms away looks
//! like, on a kernel without the netem qdisc. One listener per host address; each accepted
//! connection is relayed to the host's sshd, every chunk read on one side written to the other
//! `delay` after it was read. The delays overlap (a chunk read at t is written at t + delay,
//! whatever is queued before it), order is kept, and nothing is merged or split: a pipelined
//! protocol stays pipelined and pays one delay per direction, as on a real link. It counts the
//! connections each host accepted: the fleet part's SSH connections per host.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

pub struct LatencyProxy {
    /// The port every host's proxy listens on, at the host's own address.
    pub port: u16,
    counts: Vec<Arc<AtomicUsize>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl LatencyProxy {
    /// A proxy on `address:port` for each of `addresses`, relaying to `address:target`, and
    /// `delay` each way. Stopped (its listeners and relays dropped) when dropped.
    pub fn start(addresses: &[String], target: u16, delay: Duration) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("latency-proxy")
            .enable_all()
            .build()
            .unwrap();
        let port = super::fixtures::free_port();
        let counts: Vec<Arc<AtomicUsize>> = addresses
            .iter()
            .map(|_| Arc::new(AtomicUsize::new(0)))
            .collect();
        for (address, count) in addresses.iter().zip(&counts) {
            let listen: SocketAddr = format!("{address}:{port}").parse().unwrap();
            let upstream: SocketAddr = format!("{address}:{target}").parse().unwrap();
            let listener = runtime
                .block_on(TcpListener::bind(listen))
                .unwrap_or_else(|e| panic!("latency proxy: cannot listen on {listen}: {e}"));
            let count = count.clone();
            runtime.spawn(async move {
                loop {
                    let Ok((inbound, _)) = listener.accept().await else {
                        continue;
                    };
                    count.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(relay(inbound, upstream, delay));
                }
            });
        }
        LatencyProxy {
            port,
            counts,
            runtime: Some(runtime),
        }
    }

    /// Connections accepted so far, per host, in the order of the addresses given.
    pub fn connections(&self) -> Vec<usize> {
        self.counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }
}

impl Drop for LatencyProxy {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn relay(inbound: TcpStream, upstream: SocketAddr, delay: Duration) {
    let Ok(outbound) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (from_client, to_client) = inbound.into_split();
    let (from_server, to_server) = outbound.into_split();
    tokio::spawn(delayed(from_client, to_server, delay));
    tokio::spawn(delayed(from_server, to_client, delay));
}

/// Copies `from` to `to`, each chunk written `delay` after it was read; the end of the stream
/// (or a read error) is passed on as a shutdown of `to`, as late.
async fn delayed(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    let (queue, mut due) = tokio::sync::mpsc::unbounded_channel::<(Instant, Option<Vec<u8>>)>();
    let writer = tokio::spawn(async move {
        while let Some((at, chunk)) = due.recv().await {
            tokio::time::sleep_until(at).await;
            match chunk {
                Some(chunk) if to.write_all(&chunk).await.is_ok() => {}
                _ => {
                    let _ = to.shutdown().await;
                    return;
                }
            }
        }
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let chunk = match from.read(&mut buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => Some(buf[..n].to_vec()),
        };
        let end = chunk.is_none();
        if queue.send((Instant::now() + delay, chunk)).is_err() || end {
            break;
        }
    }
    drop(queue);
    let _ = writer.await;
}

//! Connection threads: each runs a single-threaded async runtime and owns the connections
//! handed to it for their whole life.
//!
//! Why not one work-stealing runtime: a proxied round trip wakes the proxy twice (client
//! bytes, then server bytes); with work stealing those wakeups often land on another
//! thread, and on a busy machine each cross-thread wakeup costs tens of microseconds of
//! scheduler latency. With one connection on one thread (pgbouncer's model, times the
//! number of threads) a round trip costs two wakeups of the same thread and nothing else.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::{conn, Shared};

/// An accepted client on its way to its thread.
struct Accepted {
    stream: std::net::TcpStream,
    peer: SocketAddr,
    id: u64,
}

/// The connection threads and the round-robin hand-off to them.
pub(crate) struct Shards {
    senders: Vec<mpsc::UnboundedSender<Accepted>>,
    threads: Vec<JoinHandle<u64>>,
    next: usize,
}

impl Shards {
    pub fn start(
        count: usize,
        shared: &Arc<Shared>,
        stop: &watch::Receiver<bool>,
        grace: Duration,
    ) -> io::Result<Shards> {
        let mut shards = Shards {
            senders: Vec::new(),
            threads: Vec::new(),
            next: 0,
        };
        for index in 0..count.max(1) {
            // I/O only: deadlines are kept by the serving runtime (`timer.rs`).
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()?;
            let (tx, rx) = mpsc::unbounded_channel();
            let (shared, stop) = (shared.clone(), stop.clone());
            let thread = std::thread::Builder::new()
                .name(format!("querycomb-conn-{index}"))
                .spawn(move || runtime.block_on(serve_shard(rx, shared, stop, grace)))?;
            shards.senders.push(tx);
            shards.threads.push(thread);
        }
        Ok(shards)
    }

    /// Moves an accepted connection to the next thread.
    pub fn dispatch(&mut self, stream: TcpStream, peer: SocketAddr, id: u64) -> io::Result<()> {
        let stream = stream.into_std()?;
        let index = self.next % self.senders.len().max(1);
        self.next = self.next.wrapping_add(1);
        match self.senders.get(index) {
            Some(sender) => sender
                .send(Accepted { stream, peer, id })
                .map_err(|_| io::Error::other("a connection thread has stopped")),
            None => Err(io::Error::other("no connection thread")),
        }
    }

    /// Stops handing out connections and waits for every thread to drain; returns how many
    /// connections were still open when the grace period ran out.
    pub fn finish(self) -> u64 {
        drop(self.senders);
        self.threads
            .into_iter()
            .map(|thread| thread.join().unwrap_or(0))
            .sum()
    }
}

async fn serve_shard(
    mut incoming: mpsc::UnboundedReceiver<Accepted>,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    grace: Duration,
) -> u64 {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            next = incoming.recv() => match next {
                Some(accepted) => match TcpStream::from_std(accepted.stream) {
                    Ok(stream) => {
                        let task = conn::serve(stream, accepted.peer, accepted.id, shared.clone(), stop.clone());
                        connections.spawn(task);
                    }
                    Err(_) => shared.metrics.error("accept"),
                },
                None => break,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drain(&mut connections, grace, &shared).await
}

/// Waits for connections to finish their in-flight statements, then aborts the rest.
async fn drain(connections: &mut JoinSet<()>, grace: Duration, shared: &Shared) -> u64 {
    let all_done = async { while connections.join_next().await.is_some() {} };
    if shared.timers.timeout(grace, all_done).await.is_ok() {
        return 0;
    }
    let left = connections.len() as u64;
    connections.shutdown().await;
    left
}

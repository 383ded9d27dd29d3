//! One client connection: startup negotiation, then two independent byte pumps.
//!
//! The pumps forward every byte as soon as it is read, in the chunks it was read in; the
//! frame scanners and the observer only look. Each connection runs in its own task, so a
//! malformed client, a client that stops reading, or a dead server affects that connection
//! alone; backpressure is per connection (a pump waits on its own socket only).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::frame::{
    parse_startup, startup_body_len, Direction, FrameError, FrameScanner, StartupError,
    StartupPacket,
};
use crate::observe::{Observer, SessionInfo};
use crate::Shared;

/// Client → server reads are small (queries); server → client carries result sets.
const CLIENT_BUF: usize = 8 << 10;
const SERVER_BUF: usize = 16 << 10;

/// A client may ask for SSL and then GSS encryption before its StartupMessage.
const MAX_NEGOTIATIONS: usize = 3;

/// Why a connection was closed early. Each is logged as one line.
#[derive(Debug)]
pub(crate) enum ConnError {
    Startup(StartupError),
    Frame(Direction, FrameError),
    Upstream(String, io::Error),
    StartupTimeout,
    Io(io::Error),
}

impl ConnError {
    /// Label for the `querycomb_proxy_errors_total` metric.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            ConnError::Startup(StartupError::DirectTls) => "tls_refused",
            ConnError::Startup(_) | ConnError::StartupTimeout => "startup",
            ConnError::Frame(..) => "protocol",
            ConnError::Upstream(..) => "upstream",
            ConnError::Io(_) => "io",
        }
    }

    /// Disconnects are normal life for a proxy, not worth a log line.
    pub(crate) fn is_quiet(&self) -> bool {
        match self {
            ConnError::Io(e) => matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::ConnectionAborted
            ),
            _ => false,
        }
    }
}

impl fmt::Display for ConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnError::Startup(e) => write!(f, "{e}"),
            ConnError::Frame(Direction::ClientToServer, e) => write!(f, "client sent a {e}"),
            ConnError::Frame(Direction::ServerToClient, e) => write!(f, "server sent a {e}"),
            ConnError::Upstream(addr, e) => write!(f, "cannot connect to upstream {addr}: {e}"),
            ConnError::StartupTimeout => f.write_str("no startup packet within the timeout"),
            ConnError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<io::Error> for ConnError {
    fn from(e: io::Error) -> Self {
        ConnError::Io(e)
    }
}

/// Serves one accepted client until either side closes, then logs why if it was an error.
pub(crate) async fn serve(
    client: TcpStream,
    peer: SocketAddr,
    conn_id: u64,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) {
    let _open = OpenConnection::new(shared.clone());
    let result = proxy_connection(client, conn_id, &shared, shutdown).await;
    if let Err(error) = result {
        shared.metrics.error(error.kind());
        if !error.is_quiet() && !shared.quiet {
            eprintln!("querycomb proxy: connection {conn_id} from {peer} closed: {error}");
        }
    }
}

/// Keeps the connection gauge right even when the task is aborted at shutdown.
struct OpenConnection(Arc<Shared>);

impl OpenConnection {
    fn new(shared: Arc<Shared>) -> Self {
        shared.metrics.connection_opened();
        OpenConnection(shared)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.metrics.connection_closed();
    }
}

async fn proxy_connection(
    mut client: TcpStream,
    conn_id: u64,
    shared: &Shared,
    shutdown: watch::Receiver<bool>,
) -> Result<(), ConnError> {
    client.set_nodelay(true)?;
    let startup = tokio::time::timeout(shared.startup_timeout, negotiate(&mut client))
        .await
        .map_err(|_| ConnError::StartupTimeout)??;
    let Some((raw, params)) = startup else {
        return Ok(());
    };
    if raw.is_cancel {
        return forward_cancel(&raw.bytes, shared).await;
    }
    let mut upstream = match connect_upstream(shared).await {
        Ok(stream) => stream,
        Err(error) => {
            let notice = fatal_message("08006", &error.to_string());
            let _ = client.write_all(&notice).await;
            return Err(error);
        }
    };
    upstream.write_all(&raw.bytes).await?;
    let observer = Mutex::new(Observer::new(
        SessionInfo::from_params(conn_id, &params),
        shared.capture_params,
    ));
    let (client_read, client_write) = client.into_split();
    let (upstream_read, upstream_write) = upstream.into_split();
    let result = tokio::select! {
        r = pump_client(client_read, upstream_write, &observer, shared) => r,
        r = pump_server(upstream_read, client_write, &observer, shared) => r,
        () = idle_after_shutdown(&observer, shutdown) => Ok(()),
    };
    shared
        .metrics
        .unmatched_replies
        .inc_by(lock(&observer).mismatches);
    result
}

/// The raw startup packet, forwarded as is.
struct RawStartup {
    bytes: Vec<u8>,
    is_cancel: bool,
}

/// Reads packets until the StartupMessage (or a CancelRequest); answers SSL/GSS requests
/// with `N`. `None` when the client hung up before saying anything (a health check).
async fn negotiate(
    client: &mut TcpStream,
) -> Result<Option<(RawStartup, Vec<(String, String)>)>, ConnError> {
    for _ in 0..MAX_NEGOTIATIONS {
        let mut prefix = [0u8; 4];
        match client.read_exact(&mut prefix).await {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        let body_len = startup_body_len(prefix).map_err(ConnError::Startup)?;
        let mut bytes = vec![0u8; 4 + body_len];
        bytes[..4].copy_from_slice(&prefix);
        client.read_exact(&mut bytes[4..]).await?;
        match parse_startup(&bytes[4..]).map_err(ConnError::Startup)? {
            StartupPacket::SslRequest | StartupPacket::GssEncRequest => {
                client.write_all(b"N").await?;
            }
            StartupPacket::Cancel => {
                let raw = RawStartup {
                    bytes,
                    is_cancel: true,
                };
                return Ok(Some((raw, Vec::new())));
            }
            StartupPacket::Startup { params, .. } => {
                let raw = RawStartup {
                    bytes,
                    is_cancel: false,
                };
                return Ok(Some((raw, params)));
            }
        }
    }
    Err(ConnError::Startup(StartupError::TooManyNegotiations))
}

async fn connect_upstream(shared: &Shared) -> Result<TcpStream, ConnError> {
    let addr = &shared.upstream;
    let stream = tokio::time::timeout(shared.connect_timeout, TcpStream::connect(addr.as_str()))
        .await
        .map_err(|_| ConnError::Upstream(addr.clone(), io::Error::from(io::ErrorKind::TimedOut)))?
        .map_err(|e| ConnError::Upstream(addr.clone(), e))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// The cancel key the server issued passed through unchanged, so the packet is valid as is
/// on a new upstream connection. The server closes it without a reply.
async fn forward_cancel(packet: &[u8], shared: &Shared) -> Result<(), ConnError> {
    let mut upstream = connect_upstream(shared).await?;
    upstream.write_all(packet).await?;
    let mut sink = [0u8; 64];
    let _ = tokio::time::timeout(Duration::from_secs(5), upstream.read(&mut sink)).await;
    Ok(())
}

/// An ErrorResponse the client's driver can show, for failures before the server speaks.
fn fatal_message(sqlstate: &str, text: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (field, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', sqlstate),
        (b'M', &format!("querycomb proxy: {text}")),
    ] {
        body.push(field);
        body.extend_from_slice(value.replace('\0', "").as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut msg = vec![b'E'];
    msg.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    msg.extend_from_slice(&body);
    msg
}

fn lock(observer: &Mutex<Observer>) -> MutexGuard<'_, Observer> {
    observer
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Client → server. Observes each chunk *before* forwarding it, so every operation is in
/// the pending FIFO before the server can answer it.
async fn pump_client(
    from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    observer: &Mutex<Observer>,
    shared: &Shared,
) -> Result<(), ConnError> {
    let mut scanner = FrameScanner::new(Direction::ClientToServer, shared.limits);
    let mut buf = Vec::new();
    loop {
        let n = read_chunk(&from, &mut buf, CLIENT_BUF).await?;
        if n == 0 {
            let _ = to.shutdown().await;
            return Ok(());
        }
        let chunk = buf.as_slice();
        let now = Instant::now();
        {
            let mut obs = lock(observer);
            scanner
                .feed(chunk, |msg| obs.client_message(msg, now))
                .map_err(|e| ConnError::Frame(Direction::ClientToServer, e))?;
        }
        to.write_all(chunk).await?;
        shared.metrics.bytes_from_clients.inc_by(n as u64);
    }
}

/// Server → client. Forwards first (the client waits for these bytes), then observes with
/// the time the bytes arrived.
async fn pump_server(
    from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    observer: &Mutex<Observer>,
    shared: &Shared,
) -> Result<(), ConnError> {
    let mut scanner = FrameScanner::new(Direction::ServerToClient, shared.limits);
    let mut buf = Vec::new();
    loop {
        let n = read_chunk(&from, &mut buf, SERVER_BUF).await?;
        if n == 0 {
            let _ = to.shutdown().await;
            return Ok(());
        }
        let now = Instant::now();
        let chunk = buf.as_slice();
        to.write_all(chunk).await?;
        shared.metrics.bytes_from_server.inc_by(n as u64);
        let mut obs = lock(observer);
        scanner.keep_data_rows(obs.wants_rows());
        scanner
            .feed(chunk, |msg| obs.server_message(msg, now))
            .map_err(|e| ConnError::Frame(Direction::ServerToClient, e))?;
        if obs.has_events() {
            for event in obs.take_events() {
                shared.emit(event);
            }
        }
    }
}

/// Reads the next chunk into `buf`, which holds memory only while data flows: when the
/// socket runs dry the buffer is freed before waiting, so an idle connection holds no read
/// buffers (1,000 idle clients cost a few MB, not 24 MB). `try_read_buf` fills spare
/// capacity, so a fresh buffer is never zeroed. Returns 0 at end of stream.
async fn read_chunk(from: &OwnedReadHalf, buf: &mut Vec<u8>, size: usize) -> io::Result<usize> {
    buf.clear();
    loop {
        if buf.capacity() > 0 {
            match from.try_read_buf(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => *buf = Vec::new(),
                Err(e) => return Err(e),
            }
        }
        from.readable().await?;
        if buf.capacity() == 0 {
            *buf = Vec::with_capacity(size);
        }
        match from.try_read_buf(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

/// After shutdown is requested, resolves once the connection has no statement in flight,
/// so in-flight statements finish before their connection is closed.
async fn idle_after_shutdown(observer: &Mutex<Observer>, mut shutdown: watch::Receiver<bool>) {
    if shutdown.wait_for(|stop| *stop).await.is_err() {
        // The proxy went away without a shutdown request: keep serving.
        std::future::pending::<()>().await;
    }
    while lock(observer).pending() > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fatal_message_is_a_valid_error_response() {
        let msg = fatal_message("08006", "no route");
        assert_eq!(msg[0], b'E');
        let len = u32::from_be_bytes([msg[1], msg[2], msg[3], msg[4]]) as usize;
        assert_eq!(len + 1, msg.len());
        assert_eq!(
            crate::observe::error_code(&msg[5..]).as_deref(),
            Some("08006")
        );
    }
}

//! One client connection: startup negotiation, then two byte pumps, one per direction.
//!
//! The pumps forward every byte as soon as it is read, in the chunks it was read in; the
//! frame scanners and the observer only look. Both pumps run in the connection's one task
//! on its connection thread, so a round trip wakes that one thread and nothing else; a
//! malformed client, a client that stops reading, or a dead server affects that connection
//! alone; backpressure is per connection (a pump waits on its own socket only). Bytes are
//! sent before they are observed wherever that is safe (see [`pump_client`]).

// This module reads untrusted wire bytes: no input may panic it (tests may).
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::enforce::Budgeter;
use crate::frame::{
    parse_startup, show_tag, startup_body_len, Direction, FrameError, FrameScanner, StartupError,
    StartupPacket, SSL_REQUEST,
};
use crate::observe::{Observer, SessionInfo};
use crate::splice::Splicer;
use crate::stream::{Chunk, ReadSide, Stream, WriteSide};
use crate::timer::Timers;
use crate::tls::{ClientTlsMode, UpstreamTlsMode};
use crate::wakeups::{first_of, First};
use crate::Shared;

/// A client may ask for SSL and then GSS encryption before its StartupMessage.
const MAX_NEGOTIATIONS: usize = 3;

/// Why a connection was closed early. Each is logged as one line.
#[derive(Debug)]
pub(crate) enum ConnError {
    Startup(StartupError),
    Frame(Direction, FrameError),
    Upstream(String, io::Error),
    /// The client's TLS handshake failed.
    Tls(io::Error),
    /// A plaintext client under `--tls-mode require`.
    PlaintextRefused,
    /// More clients than `--max-client-connections`.
    TooManyClients,
    /// Idle longer than `--idle-timeout`.
    IdleTimeout,
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
            ConnError::Tls(_) => "tls_handshake",
            ConnError::PlaintextRefused => "tls_required",
            ConnError::TooManyClients => "too_many_clients",
            ConnError::IdleTimeout => "idle_timeout",
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
            ConnError::Tls(e) => write!(f, "TLS handshake failed: {e}"),
            ConnError::PlaintextRefused => {
                f.write_str("plaintext client refused: TLS is required (--tls-mode require)")
            }
            ConnError::TooManyClients => {
                f.write_str("refused: too many client connections (--max-client-connections)")
            }
            ConnError::IdleTimeout => f.write_str("closed after the idle timeout (--idle-timeout)"),
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
    // Boxed, and gone once the session is set up: TLS handshakes and the start-up exchange
    // take over a kilobyte of future, and a connection's future is as large as its largest
    // phase for as long as it lives, idle or not.
    let opened = Box::pin(open_session(client, conn_id, &shared)).await;
    let result = match opened {
        Ok(Some(session)) => relay(session, &shared, shutdown).await,
        Ok(None) => Ok(()),
        Err(error) => Err(error),
    };
    if let Err(error) = result {
        shared.metrics.error(error.kind());
        if !error.is_quiet() {
            shared.log(
                "warn",
                "connection_closed",
                &format!("connection {conn_id} from {peer} closed: {error}"),
                &[
                    ("conn", conn_id.to_string()),
                    ("client", peer.to_string()),
                    ("kind", error.kind().to_owned()),
                    ("error", error.to_string()),
                ],
            );
        }
    }
}

/// Counts an open server connection for its lifetime (also when the task is aborted).
struct ServerConnection<'a>(&'a Shared);

impl<'a> ServerConnection<'a> {
    fn open(shared: &'a Shared) -> Self {
        shared.metrics.server_connections.inc();
        ServerConnection(shared)
    }
}

impl Drop for ServerConnection<'_> {
    fn drop(&mut self) {
        self.0.metrics.server_connections.dec();
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

/// A client and its server connection, authenticated, and what observes them.
struct OpenSession<'a> {
    client: Stream,
    upstream: Stream,
    observer: Observer,
    /// Budgets are enforced on this connection; statements may be rejected.
    enforced: bool,
    may_reject: bool,
    _server_connection: ServerConnection<'a>,
}

/// Start-up: TLS, the startup packet, the server connection and authentication. `None`
/// when the connection ends there without error (a cancel request, a failed login the
/// server answered).
async fn open_session(
    client: TcpStream,
    conn_id: u64,
    shared: &Shared,
) -> Result<Option<Box<OpenSession<'_>>>, ConnError> {
    client.set_nodelay(true)?;
    let startup = shared
        .timers
        .timeout(shared.startup_timeout, negotiate(client, shared))
        .await
        .map_err(|_| ConnError::StartupTimeout)??;
    let Some((mut client, raw, params)) = startup else {
        return Ok(None);
    };
    if raw.is_cancel {
        return forward_cancel(&raw.bytes, shared).await.map(|()| None);
    }
    if !client.is_tls() && shared.tls.client_mode() == ClientTlsMode::Require {
        // What the server says when pg_hba.conf allows only `hostssl`.
        let refusal = fatal_message("28000", "TLS is required (--tls-mode require)");
        let _ = client.write_all(&refusal).await;
        return Err(ConnError::PlaintextRefused);
    }
    let limit = shared.max_client_connections.map(i64::from);
    if limit.is_some_and(|max| shared.metrics.connections.get() > max) {
        // The server's own words past max_connections.
        let refusal = fatal_message("53300", "sorry, too many clients already");
        let _ = client.write_all(&refusal).await;
        let _ = client.flush().await;
        return Err(ConnError::TooManyClients);
    }
    let waiting = Instant::now();
    let mut upstream = match connect_upstream(shared).await {
        Ok(stream) => stream,
        Err(error) => {
            let notice = fatal_message("08006", &error.to_string());
            let _ = client.write_all(&notice).await;
            let _ = client.flush().await;
            return Err(error);
        }
    };
    upstream.write_all(&raw.bytes).await?;
    upstream.flush().await?;
    let authenticated = shared
        .timers
        .timeout(
            shared.startup_timeout,
            relay_authentication(&mut client, &mut upstream),
        )
        .await
        .map_err(|_| ConnError::StartupTimeout)??;
    if !authenticated {
        return Ok(None);
    }
    shared
        .metrics
        .upstream_wait
        .observe(waiting.elapsed().as_secs_f64());
    let server_connection = ServerConnection::open(shared);
    let mut observer = Observer::new(
        SessionInfo::from_params(conn_id, &params),
        shared.capture_params,
    );
    let enforcement = shared.enforcement();
    let (enforced, may_reject) = (!enforcement.is_inactive(), enforcement.may_reject());
    if enforced {
        observer = observer.with_budget(Budgeter::new(enforcement, shared.shared_budgets.clone()));
    }
    Ok(Some(Box::new(OpenSession {
        client,
        upstream,
        observer,
        enforced,
        may_reject,
        _server_connection: server_connection,
    })))
}

#[expect(
    clippy::boxed_local,
    reason = "taking the box is the point: it is freed on return"
)]
fn unbox<T>(boxed: Box<T>) -> T {
    *boxed
}

/// Relays both directions until either side closes (or shutdown finds the connection
/// idle), observing every message. The session comes boxed: an async fn keeps its
/// arguments for its whole life, beside what is moved out of them.
async fn relay(
    session: Box<OpenSession<'_>>,
    shared: &Shared,
    shutdown: watch::Receiver<bool>,
) -> Result<(), ConnError> {
    // Moved out in a plain function, so that the box is freed now, not when the relay ends.
    let OpenSession {
        client,
        upstream,
        observer,
        enforced,
        may_reject,
        _server_connection,
    } = unbox(session);
    let observer = Mutex::new(observer);
    let (client_read, client_write) = client.split();
    let (upstream_read, upstream_write) = upstream.split();
    // The branch that did not finish is dropped at the end of this block (its halves of the
    // sockets with it), as `select!` would.
    let result = {
        let client_pump = std::pin::pin!(pump_client(
            client_read,
            upstream_write,
            &observer,
            shared,
            enforced && may_reject
        ));
        let server_pump = std::pin::pin!(pump_server(
            upstream_read,
            client_write,
            &observer,
            shared,
            enforced
        ));
        let drained = std::pin::pin!(idle_after_shutdown(&observer, shutdown, shared));
        match first_of(client_pump, server_pump, drained).await {
            First::Client(result) | First::Server(result) => result,
            First::Shutdown(()) => Ok(()),
        }
    };
    let obs = lock(&observer);
    shared.metrics.unmatched_replies.inc_by(obs.mismatches);
    shared.metrics.evicted("named_statements", obs.evicted);
    drop(obs);
    result
}

/// The raw startup packet, forwarded as is.
struct RawStartup {
    bytes: Vec<u8>,
    is_cancel: bool,
}

type Negotiated = (Stream, RawStartup, Vec<(String, String)>);

/// Reads packets until the StartupMessage (or a CancelRequest); answers `SSLRequest` with
/// `S` and a TLS handshake when TLS is on, else `N`, and `GSSENCRequest` with `N`. `None`
/// when the client hung up before saying anything (a health check) or sent `Terminate`
/// before starting up (node-postgres closing an unused client).
async fn negotiate(client: TcpStream, shared: &Shared) -> Result<Option<Negotiated>, ConnError> {
    let mut client = Stream::Plain(client);
    for _ in 0..MAX_NEGOTIATIONS {
        let mut prefix = [0u8; 4];
        match client.read_exact(&mut prefix).await {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        if prefix == TERMINATE_PREFIX {
            return Ok(None);
        }
        let body_len = startup_body_len(prefix).map_err(ConnError::Startup)?;
        let mut bytes = Vec::with_capacity(4 + body_len);
        bytes.extend_from_slice(&prefix);
        bytes.resize(4 + body_len, 0);
        client
            .read_exact(bytes.get_mut(4..).unwrap_or_default())
            .await?;
        match parse_startup(bytes.get(4..).unwrap_or_default()).map_err(ConnError::Startup)? {
            StartupPacket::SslRequest => {
                client = accept_tls(client, shared).await?;
            }
            StartupPacket::GssEncRequest => {
                client.write_all(b"N").await?;
                client.flush().await?;
            }
            StartupPacket::Cancel => {
                let raw = RawStartup {
                    bytes,
                    is_cancel: true,
                };
                return Ok(Some((client, raw, Vec::new())));
            }
            StartupPacket::Startup { params, .. } => {
                let raw = RawStartup {
                    bytes,
                    is_cancel: false,
                };
                return Ok(Some((client, raw, params)));
            }
        }
    }
    Err(ConnError::Startup(StartupError::TooManyNegotiations))
}

/// A Terminate message (`X`, length 4) where a startup packet was expected.
const TERMINATE_PREFIX: [u8; 4] = [b'X', 0, 0, 0];

/// Answers an `SSLRequest`: `S` and the handshake when TLS is on (and not already on),
/// else `N`, the answer of a server without TLS.
async fn accept_tls(client: Stream, shared: &Shared) -> Result<Stream, ConnError> {
    let acceptor = shared.tls.current().acceptor.clone();
    match (client, acceptor) {
        (Stream::Plain(mut tcp), Some(acceptor)) => {
            tcp.write_all(b"S").await?;
            let tls = acceptor.accept(tcp).await.map_err(ConnError::Tls)?;
            Ok(Stream::Tls(Box::new(tls)))
        }
        (mut client, _) => {
            client.write_all(b"N").await?;
            client.flush().await?;
            Ok(client)
        }
    }
}

async fn connect_upstream(shared: &Shared) -> Result<Stream, ConnError> {
    let addr = &shared.upstream;
    let upstream_error = |e: io::Error| ConnError::Upstream(addr.clone(), e);
    let stream = shared
        .timers
        .timeout(shared.connect_timeout, TcpStream::connect(addr.as_str()))
        .await
        .map_err(|_| upstream_error(io::Error::from(io::ErrorKind::TimedOut)))?
        .map_err(upstream_error)?;
    stream.set_nodelay(true)?;
    let Some(connector) = shared.tls.current().connector.clone() else {
        return Ok(Stream::Plain(stream));
    };
    let negotiated = shared
        .timers
        .timeout(
            shared.connect_timeout,
            upstream_tls(stream, connector, shared),
        )
        .await
        .map_err(|_| upstream_error(io::Error::from(io::ErrorKind::TimedOut)))?;
    negotiated.map_err(upstream_error)
}

/// `SSLRequest` to the server, then the handshake if it answers `S`.
async fn upstream_tls(
    mut stream: TcpStream,
    connector: tokio_rustls::TlsConnector,
    shared: &Shared,
) -> io::Result<Stream> {
    let mut request = [0u8; 8];
    request[..4].copy_from_slice(&8u32.to_be_bytes());
    request[4..].copy_from_slice(&SSL_REQUEST.to_be_bytes());
    stream.write_all(&request).await?;
    let mut answer = [0u8; 1];
    stream.read_exact(&mut answer).await?;
    match answer[0] {
        b'S' => {
            let tls = connector.connect(shared.tls.server_name(), stream).await?;
            Ok(Stream::Tls(Box::new(tls)))
        }
        b'N' if shared.tls.upstream_mode() == UpstreamTlsMode::Prefer => Ok(Stream::Plain(stream)),
        b'N' => Err(io::Error::other(
            "the server does not accept TLS (it answered N to SSLRequest), and \
             --upstream-tls requires it",
        )),
        other => Err(io::Error::other(format!(
            "unexpected answer {} to SSLRequest",
            show_tag(other)
        ))),
    }
}

/// Largest message of the authentication exchange (SASL messages are a few hundred bytes).
const MAX_AUTH_MESSAGE: usize = 64 << 10;

/// Relays the authentication exchange message by message until the server says
/// `AuthenticationOk` (true) or ends it with an error (false). Every message passes
/// unchanged but one: when the server (over TLS) offers `SCRAM-SHA-256-PLUS` to a client
/// on a plaintext leg, that mechanism is taken off the list, because libpq refuses a
/// `-PLUS` offer on a connection without TLS; the client then answers with plain
/// `SCRAM-SHA-256` and the flag "no channel binding", which the server accepts.
async fn relay_authentication(
    client: &mut Stream,
    upstream: &mut Stream,
) -> Result<bool, ConnError> {
    let strip_plus = !client.is_tls() && upstream.is_tls();
    loop {
        let Some(mut message) = read_message(upstream, MAX_AUTH_MESSAGE).await? else {
            return Ok(false);
        };
        let code = message
            .get(5..9)
            .and_then(|b| b.first_chunk::<4>())
            .map(|b| u32::from_be_bytes(*b));
        let tag = message.first().copied();
        if tag == Some(b'R') && code == Some(AUTH_SASL) && strip_plus {
            message = without_plus_mechanisms(&message);
        }
        client.write_all(&message).await?;
        client.flush().await?;
        match (tag, code) {
            (Some(b'R'), Some(0)) => return Ok(true),
            // Ok is still to come after the server's final SASL message.
            (Some(b'R'), Some(AUTH_SASL_FINAL)) => {}
            (Some(b'R'), Some(_)) => {
                let Some(answer) = read_message(client, MAX_AUTH_MESSAGE).await? else {
                    return Ok(false);
                };
                upstream.write_all(&answer).await?;
                upstream.flush().await?;
            }
            (Some(b'E'), _) => return Ok(false),
            // NegotiateProtocolVersion and the like: the exchange goes on.
            _ => {}
        }
    }
}

const AUTH_SASL: u32 = 10;
const AUTH_SASL_FINAL: u32 = 12;

/// One whole typed message; `None` at end of stream.
async fn read_message(from: &mut Stream, limit: usize) -> Result<Option<Vec<u8>>, ConnError> {
    let mut header = [0u8; 5];
    match from.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    if len < 4 || len as usize > limit {
        return Err(ConnError::Frame(
            Direction::ServerToClient,
            FrameError::BadLength {
                tag: header[0],
                len,
                offset: 0,
            },
        ));
    }
    let mut message = Vec::with_capacity(1 + len as usize);
    message.extend_from_slice(&header);
    message.resize(1 + len as usize, 0);
    from.read_exact(message.get_mut(5..).unwrap_or_default())
        .await?;
    Ok(Some(message))
}

/// An AuthenticationSASL message with the `-PLUS` mechanisms removed.
fn without_plus_mechanisms(message: &[u8]) -> Vec<u8> {
    let names = message.get(9..).unwrap_or_default();
    let mut body = AUTH_SASL.to_be_bytes().to_vec();
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        if !name.ends_with(b"-PLUS") {
            body.extend_from_slice(name);
            body.push(0);
        }
    }
    body.push(0);
    let mut out = vec![b'R'];
    out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// The cancel key the server issued passed through unchanged, so the packet is valid as is
/// on a new upstream connection (with the same TLS settings). The server closes it without
/// a reply.
async fn forward_cancel(packet: &[u8], shared: &Shared) -> Result<(), ConnError> {
    let mut upstream = connect_upstream(shared).await?;
    upstream.write_all(packet).await?;
    upstream.flush().await?;
    let mut sink = [0u8; 64];
    let _ = shared
        .timers
        .timeout(Duration::from_secs(5), upstream.read(&mut sink))
        .await;
    Ok(())
}

/// An ErrorResponse the client's driver can show, for failures before the server speaks.
fn fatal_message(sqlstate: &str, text: &str) -> Vec<u8> {
    crate::enforce::response(
        b'E',
        "FATAL",
        sqlstate,
        &format!("querycomb proxy: {text}"),
        &[],
    )
}

fn lock(observer: &Mutex<Observer>) -> MutexGuard<'_, Observer> {
    observer
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Longest statement message held back so that it can be rejected whole; a longer one is
/// forwarded as it arrives and cannot be rejected.
const MAX_HELD_STATEMENT: u64 = 1 << 20;

/// Client → server. Every operation must be in the pending FIFO before the server pump
/// (the same task) can read its reply, so a chunk is observed before this pump can yield:
/// what the socket takes at once is sent first (the server starts working while the
/// proxy observes), the rest after observing. With `may_reject`, statements pass through a
/// [`Splicer`] that can replace a rejected one, so the chunk is observed before any of it
/// is sent.
async fn pump_client(
    mut from: ReadSide,
    mut to: WriteSide,
    observer: &Mutex<Observer>,
    shared: &Shared,
    may_reject: bool,
) -> Result<(), ConnError> {
    let mut scanner = FrameScanner::new(Direction::ClientToServer, shared.limits);
    let mut splicer = Splicer::default();
    let mut idle = shared
        .idle_timeout
        .map(|after| IdleDeadline::new(after, &shared.timers));
    loop {
        let chunk = match idle.as_mut() {
            None => from.read_chunk().await?,
            Some(idle) => idle.read(&mut from, observer).await?,
        };
        if chunk.is_empty() {
            let _ = to.shutdown().await;
            return Ok(());
        }
        let now = Instant::now();
        if let Some(idle) = idle.as_mut() {
            idle.last_read = now;
        }
        if may_reject {
            let bytes =
                observe_and_splice(&mut scanner, &mut splicer, &chunk, observer, shared, now)?;
            to.write_all(&bytes).await?;
        } else {
            let sent = to.try_write_now(&chunk)?;
            observe_client(&mut scanner, &chunk, observer, shared, now)?;
            if let Some(rest) = chunk.get(sent..).filter(|rest| !rest.is_empty()) {
                to.write_all(rest).await?;
            }
        }
        shared.metrics.bytes_from_clients.inc_by(chunk.len() as u64);
    }
}

/// The client's idle timeout: one deadline per connection, moved only when it expires (to
/// the last read plus the timeout), so reads do not register a timer each.
struct IdleDeadline {
    after: Duration,
    last_read: Instant,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl IdleDeadline {
    fn new(after: Duration, timers: &Timers) -> IdleDeadline {
        let last_read = Instant::now();
        IdleDeadline {
            after,
            last_read,
            deadline: Box::pin(timers.sleep_until((last_read + after).into())),
        }
    }

    /// The next chunk, or [`ConnError::IdleTimeout`] once nothing was read for the timeout
    /// while no statement was in flight (waiting on a long statement is not idleness).
    async fn read(
        &mut self,
        from: &mut ReadSide,
        observer: &Mutex<Observer>,
    ) -> Result<Chunk, ConnError> {
        loop {
            tokio::select! {
                biased;
                read = from.read_chunk() => return Ok(read?),
                () = self.deadline.as_mut() => {
                    let quiet_until = self.last_read + self.after;
                    let now = Instant::now();
                    let next = if now < quiet_until {
                        quiet_until
                    } else if lock(observer).pending() > 0 {
                        now + self.after.min(IDLE_RECHECK)
                    } else {
                        return Err(ConnError::IdleTimeout);
                    };
                    self.deadline.as_mut().reset(next.into());
                }
            }
        }
    }
}

/// How soon a connection idle past its timeout but with a statement in flight is looked at
/// again.
const IDLE_RECHECK: Duration = Duration::from_secs(1);

fn observe_client(
    scanner: &mut FrameScanner,
    chunk: &[u8],
    observer: &Mutex<Observer>,
    shared: &Shared,
    now: Instant,
) -> Result<(), ConnError> {
    let mut obs = lock(observer);
    scanner
        .feed(chunk, |msg| obs.client_message(msg, now))
        .map_err(|e| ConnError::Frame(Direction::ClientToServer, e))?;
    count_verdicts(&mut obs, shared);
    Ok(())
}

/// The client pump while statements may be rejected: observes the chunk, then returns the
/// bytes to send with rejected statements replaced, holding back a statement that is not
/// complete yet (up to [`MAX_HELD_STATEMENT`]) so that it can still be replaced whole.
fn observe_and_splice(
    scanner: &mut FrameScanner,
    splicer: &mut Splicer,
    chunk: &[u8],
    observer: &Mutex<Observer>,
    shared: &Shared,
    now: Instant,
) -> Result<Vec<u8>, ConnError> {
    let chunk_start = scanner.offset();
    let mut obs = lock(observer);
    obs.set_client_window(splicer.window_start(chunk_start));
    scanner
        .feed(chunk, |msg| obs.client_message(msg, now))
        .map_err(|e| ConnError::Frame(Direction::ClientToServer, e))?;
    count_verdicts(&mut obs, shared);
    let hold = scanner.partial().filter(|&(tag, start)| {
        matches!(tag, b'Q' | b'E') && scanner.offset() - start <= MAX_HELD_STATEMENT
    });
    Ok(splicer.assemble(
        chunk,
        chunk_start,
        obs.take_client_edits(),
        hold.map(|h| h.1),
    ))
}

fn record_transactions(obs: &mut Observer, shared: &Shared) {
    for duration in obs.take_transactions() {
        shared
            .metrics
            .transaction_seconds
            .observe(duration.as_secs_f64());
    }
}

fn count_verdicts(obs: &mut Observer, shared: &Shared) {
    for (route, rejected) in obs.take_verdicts() {
        shared.metrics.budget_verdict(route.as_deref(), rejected);
    }
}

/// Server → client. Forwards first (the client waits for these bytes), then observes with
/// the time the bytes arrived.
async fn pump_server(
    mut from: ReadSide,
    mut to: WriteSide,
    observer: &Mutex<Observer>,
    shared: &Shared,
    enforced: bool,
) -> Result<(), ConnError> {
    let mut scanner = FrameScanner::new(Direction::ServerToClient, shared.limits);
    let mut splicer = Splicer::default();
    loop {
        let chunk = from.read_chunk().await?;
        if chunk.is_empty() {
            let _ = to.shutdown().await;
            return Ok(());
        }
        let now = Instant::now();
        if enforced && (!splicer.is_idle() || lock(observer).expects_server_edits()) {
            let bytes =
                observe_and_edit(&mut scanner, &mut splicer, &chunk, observer, shared, now)?;
            to.write_all(&bytes).await?;
            shared.metrics.bytes_from_server.inc_by(chunk.len() as u64);
            continue;
        }
        to.write_all(&chunk).await?;
        shared.metrics.bytes_from_server.inc_by(chunk.len() as u64);
        let mut obs = lock(observer);
        scanner.keep_data_rows(obs.wants_rows());
        scanner
            .feed(&chunk, |msg| obs.server_message(msg, now))
            .map_err(|e| ConnError::Frame(Direction::ServerToClient, e))?;
        if obs.has_events() {
            for event in obs.take_events() {
                shared.emit(event);
            }
            record_transactions(&mut obs, shared);
        }
    }
}

/// The slow path of the server pump while budgets are enforced: observes first, then
/// forwards the chunk with the proxy's errors and notices spliced in, holding back an
/// ErrorResponse or ReadyForQuery that is not complete yet.
fn observe_and_edit(
    scanner: &mut FrameScanner,
    splicer: &mut Splicer,
    chunk: &[u8],
    observer: &Mutex<Observer>,
    shared: &Shared,
    now: Instant,
) -> Result<Vec<u8>, ConnError> {
    let chunk_start = scanner.offset();
    let mut obs = lock(observer);
    obs.set_server_editing(true);
    scanner.keep_data_rows(obs.wants_rows());
    let fed = scanner.feed(chunk, |msg| obs.server_message(msg, now));
    obs.set_server_editing(false);
    fed.map_err(|e| ConnError::Frame(Direction::ServerToClient, e))?;
    let hold = scanner
        .partial()
        .filter(|&(tag, _)| matches!(tag, b'E' | b'Z'))
        .map(|(_, start)| start);
    let bytes = splicer.assemble(chunk, chunk_start, obs.take_server_edits(), hold);
    for event in obs.take_events() {
        shared.emit(event);
    }
    record_transactions(&mut obs, shared);
    Ok(bytes)
}

/// After shutdown is requested, resolves once the connection has no statement in flight,
/// so in-flight statements finish before their connection is closed.
async fn idle_after_shutdown(
    observer: &Mutex<Observer>,
    mut shutdown: watch::Receiver<bool>,
    shared: &Shared,
) {
    // Polled only when the channel wakes it (`wakeups::first_of`), not at every wakeup of
    // the connection.
    let shutdown_requested = shutdown.wait_for(|stop| *stop).await.is_ok();
    if !shutdown_requested {
        // The proxy went away without a shutdown request: keep serving.
        std::future::pending::<()>().await;
    }
    while lock(observer).pending() > 0 {
        let recheck = Instant::now() + Duration::from_millis(5);
        shared.timers.sleep_until(recheck.into()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_mechanisms_are_taken_off_the_offer() {
        let mut body = AUTH_SASL.to_be_bytes().to_vec();
        body.extend_from_slice(b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0");
        let mut message = vec![b'R'];
        message.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        message.extend_from_slice(&body);
        let stripped = without_plus_mechanisms(&message);
        assert_eq!(&stripped[9..], b"SCRAM-SHA-256\0\0");
        let len = u32::from_be_bytes([stripped[1], stripped[2], stripped[3], stripped[4]]);
        assert_eq!(len as usize + 1, stripped.len());
    }

    /// The size of the future a function returns, without calling it.
    fn future_size<A, F: std::future::Future>(_: impl FnOnce(A) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// Every connection's task holds its future for as long as it lives, idle or not: at
    /// 10,000 idle connections each kilobyte is 10 MB. The start-up phase (TLS handshakes,
    /// over a kilobyte) is boxed and freed; what stays is the relay's.
    #[test]
    fn a_connections_future_stays_under_two_kilobytes() {
        let serve = future_size(|(client, peer, id, shared, shutdown)| {
            serve(client, peer, id, shared, shutdown)
        });
        assert!(serve <= 2048, "conn::serve's future is {serve} bytes");
    }

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

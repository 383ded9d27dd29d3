//! A transparent PostgreSQL wire-protocol proxy that turns traffic into query events.
//!
//! Point an application's `DATABASE_URL` at the proxy instead of at PostgreSQL; nothing
//! else changes. Every byte is forwarded as it arrives, in both directions, by two pumps
//! in one task per connection; the proxy only reads message headers (and the bodies
//! of the few messages it needs) to see each statement, its duration, rows and error, and
//! hands them to the detection stage, which reports N+1 patterns live.
//!
//! # What the client must know
//! - **TLS** on both legs ([`tls`]): the client leg answers `SSLRequest` with `S` when a
//!   certificate is configured (`allow`/`require`), else `N`; the server leg follows libpq's
//!   `sslmode` values. `GSSENCRequest` is answered `N`. PostgreSQL 17 direct TLS is refused
//!   with a log line. Authentication passes through; with SCRAM and TLS on both legs clients
//!   need `channel_binding=disable` (docs/production.md).
//! - **Cancel requests** work: the server's `BackendKeyData` passes through unchanged, so
//!   the proxy forwards a `CancelRequest` as is on a new upstream connection.
//! - **Bind parameters** reach the detection stage as digests (`$1 = #1f3a…`, arrays as
//!   `{#…,#…}`), enough to tell a loop from a repeated identical statement and to see
//!   `= ANY($1)` batch sizes; real values only with [`ProxyConfig::capture_params`]
//!   (`--show-params`). The proxy never logs them.
//! - **Live budgets** ([`enforce`]): `warn` and `reject` change the bytes the client sees
//!   (a notice; an error in place of a statement), and only then.
//!
//! # Events
//! See [`observe`] for what one event means for each protocol flow (multi-statement simple
//! queries give one event per statement; a portal fetched in pieces is one statement).
//! Event `location.line` is the proxy's connection id, `location.byte` the client bytes
//! seen before the statement; `session` is the server's backend pid.
//!
//! # Evidence beyond logs
//! - **Proof** ([`evidence`]): a finding is `Proven { matched }` when the children's bind
//!   parameters were among the values the parent query returned on that connection.
//! - **Cost**: the finding's `impact` (structured, rendered by the sinks) holds how long the
//!   request held its connection and what a pool of [`ProxyConfig::pool_size`] connections
//!   sustains at that hold time, before and after batching; the message is not changed.
//! - **Concurrent N+1**: children spread over several pooled connections within one
//!   `traceparent` are one unit of work for the detection stage (tested with four
//!   connections).
//!
//! # Robustness
//! Each connection is served by its own task on one of [`ProxyConfig::threads`]
//! single-threaded runtimes; a malformed frame, a client that stops reading or a server
//! that dies affects that connection only. Pumps never wait on detection: events go over
//! a bounded channel and are dropped (and counted) if detection falls behind; the
//! detection thread takes them in batches, waking at most every few milliseconds.
//!
//! # Cost
//! A proxied transaction costs the kernel what pgbouncer's does: one read and one write
//! per leg and one event-loop wait per direction (a partial read tells the runtime the
//! socket is drained, so no read ends in "would block"). Read buffers are lent per read
//! from a small per-thread pool, so idle connections hold none. BENCHMARKS.md has the
//! counts per transaction, side by side with pgbouncer.
//!
//! # Use
//! `querycomb proxy` calls [`run`] (feature `detect`, on by default); tests and tools
//! build a [`Proxy`] to choose the detector, tap events or read the metrics.

mod binary;
mod conn;
pub mod detection;
pub mod enforce;
pub mod evidence;
pub mod frame;
pub mod log;
pub mod metrics;
pub mod observe;
pub mod pool;
mod shard;
mod splice;
mod stream;
mod timer;
pub mod tls;
mod wakeups;

#[cfg(feature = "detect")]
mod pipeline;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use observe::Observed;
use querycomb_core::{CollectedFindings, OwnedEvent};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use detection::{
    DetectorFactory, EventMeter, Evidence, FindingCallback, LiveDetector, NoDetection,
};
pub use enforce::{EnforceMode, Enforcement, LiveLimits, RouteBudget, SharedUnits};
pub use frame::FrameLimits;
pub use metrics::Metrics;
#[cfg(feature = "detect")]
pub use pipeline::{pipeline_detector, run, ProxyEvidence, ShapeMeter};
pub use tls::{ClientTlsMode, TlsConfig, TlsState, UpstreamTlsMode};

/// See [`ProxyConfig::pool_size`].
pub const DEFAULT_POOL_SIZE: u32 = 10;

/// Everything `querycomb proxy` can be told.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Where clients connect (`127.0.0.1:6432`; port 0 picks a free one).
    pub listen: SocketAddr,
    /// The PostgreSQL server, `host:port`.
    pub upstream: String,
    /// Serve Prometheus metrics at `http://<addr>/metrics`.
    pub metrics: Option<SocketAddr>,
    /// Append each new or grown finding as a JSON line (a signature may appear again with
    /// higher counts: the last line per signature is current).
    pub findings_out: Option<PathBuf>,
    /// Put real bind parameter values on events (`--show-params`); otherwise digests.
    pub capture_params: bool,
    pub limits: FrameLimits,
    pub connect_timeout: Duration,
    /// A client must send its startup packet within this time.
    pub startup_timeout: Duration,
    /// On shutdown, how long in-flight statements get to finish.
    pub shutdown_grace: Duration,
    /// How often detection closes idle requests and publishes findings.
    pub tick_interval: Duration,
    /// Statements buffered between the pumps and detection before new ones are dropped.
    pub event_queue: usize,
    /// Connection pool size assumed in a finding's cost sentence (requests/s a pool of this
    /// size sustains at the request's connection hold time). Default 10, the default of
    /// HikariCP and of many drivers' pools.
    pub pool_size: u32,
    /// Threads serving connections, each with its own single-threaded runtime (see
    /// `shard.rs`); default: one per available core but one (the detection thread's).
    pub threads: Option<usize>,
    /// No per-connection log lines on stderr (errors are still counted in metrics).
    pub quiet: bool,
    /// TLS towards clients and towards the server (see [`tls`]).
    pub tls: TlsConfig,
    /// Live query budgets (see [`enforce`]); observe only by default.
    pub enforcement: Enforcement,
    /// Client connections served at once; more are refused with SQLSTATE 53300, as the
    /// server does past `max_connections`.
    pub max_client_connections: Option<u32>,
    /// A client idle this long with nothing in flight is disconnected (SQLSTATE 57P05).
    pub idle_timeout: Option<Duration>,
    /// Text or JSON log lines on stderr.
    pub log_format: log::ProxyLogFormat,
}

impl ProxyConfig {
    pub fn new(listen: SocketAddr, upstream: impl Into<String>) -> Self {
        ProxyConfig {
            listen,
            upstream: upstream.into(),
            metrics: None,
            findings_out: None,
            capture_params: false,
            limits: FrameLimits::default(),
            connect_timeout: Duration::from_secs(10),
            startup_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            tick_interval: Duration::from_millis(200),
            event_queue: 65_536,
            pool_size: DEFAULT_POOL_SIZE,
            threads: None,
            quiet: false,
            tls: TlsConfig::default(),
            enforcement: Enforcement::default(),
            max_client_connections: None,
            idle_timeout: None,
            log_format: log::ProxyLogFormat::Text,
        }
    }
}

/// Totals over the proxy's lifetime.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyStats {
    pub connections: u64,
    pub bytes_from_clients: u64,
    pub bytes_from_server: u64,
    pub statements: u64,
    pub events_dropped: u64,
    /// Server replies not matched to a request; 0 unless the observer lost track.
    pub unmatched_replies: u64,
    /// Connections still open when the shutdown grace period ran out (then closed).
    pub connections_aborted: u64,
}

/// What a finished proxy run hands back: detection's result and the traffic totals.
#[derive(Debug, Clone, Default)]
pub struct ProxyReport {
    /// Every finding and the run's totals, as detection pushed them at the end.
    pub analysis: CollectedFindings,
    pub stats: ProxyStats,
}

/// State shared by all connection tasks.
pub(crate) struct Shared {
    pub upstream: String,
    pub limits: FrameLimits,
    pub capture_params: bool,
    pub connect_timeout: Duration,
    pub startup_timeout: Duration,
    pub quiet: bool,
    pub max_client_connections: Option<u32>,
    pub idle_timeout: Option<Duration>,
    pub log_format: log::ProxyLogFormat,
    pub metrics: Arc<Metrics>,
    pub tls: Arc<TlsState>,
    enforcement: Arc<EnforcementHandle>,
    /// Budgets of requests that span connections (trace ids), shared by every connection.
    pub shared_budgets: Arc<enforce::SharedUnits>,
    /// Boxed: a bounded std channel allocates and touches all its slots up front, so a
    /// 65,536-slot queue of whole events was ~30 MB resident before the first statement.
    events: SyncSender<Box<Observed>>,
    /// Connection deadlines: the connection threads' runtimes have no time driver.
    pub timers: timer::Timers,
}

/// The budgets in force; replaced whole on reload (connections keep the budgets they
/// started with).
#[derive(Default)]
pub struct EnforcementHandle(std::sync::RwLock<Arc<Enforcement>>);

impl EnforcementHandle {
    pub fn current(&self) -> Arc<Enforcement> {
        self.0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub fn replace(&self, enforcement: Enforcement) {
        *self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(enforcement);
    }
}

impl Shared {
    /// A log line unless `quiet`.
    pub fn log(&self, level: &str, event: &str, text: &str, fields: &[(&str, String)]) {
        if !self.quiet {
            log::line(self.log_format, level, event, text, fields);
        }
    }

    pub fn enforcement(&self) -> Arc<Enforcement> {
        self.enforcement.current()
    }

    /// Never blocks a pump: when detection is behind, the event is dropped and counted.
    pub fn emit(&self, event: Observed) {
        match self.events.try_send(Box::new(event)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.metrics.events_dropped.inc();
            }
        }
    }
}

/// A bound proxy, ready to [`serve`](Proxy::serve).
pub struct Proxy {
    config: ProxyConfig,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    metrics: Arc<Metrics>,
    tls: Arc<TlsState>,
    enforcement: Arc<EnforcementHandle>,
    detector: DetectorFactory,
    callback: Option<FindingCallback>,
    tap: Option<mpsc::Sender<OwnedEvent>>,
    meter: Option<Box<dyn EventMeter>>,
    evidence: Option<Box<dyn Evidence>>,
    reload: Option<Option<Reloader>>,
    on_connect: Option<ConnectCallback>,
}

/// Re-reads the budgets on SIGHUP (see [`Proxy::reload_on_sighup`]).
pub type Reloader = Box<dyn Fn() -> Result<Enforcement, String> + Send + Sync>;

/// Called with each accepted client's connection id (the `location.line` of its events) and
/// its address, before the connection is served: `querycomb run` finds the local process
/// behind the address to know which test ran its statements.
pub type ConnectCallback = Arc<dyn Fn(u64, SocketAddr) + Send + Sync>;

impl Proxy {
    /// Binds the listen (and metrics) addresses. Detection is off until
    /// [`Proxy::detector`] is set.
    pub async fn bind(config: ProxyConfig) -> io::Result<Proxy> {
        let tls = Arc::new(TlsState::new(config.tls.clone(), &config.upstream)?);
        let enforcement = Arc::new(EnforcementHandle(std::sync::RwLock::new(Arc::new(
            config.enforcement.clone(),
        ))));
        let listener = TcpListener::bind(config.listen).await.map_err(|e| {
            io::Error::new(e.kind(), format!("cannot listen on {}: {e}", config.listen))
        })?;
        let metrics_listener = match config.metrics {
            Some(addr) => Some(TcpListener::bind(addr).await.map_err(|e| {
                io::Error::new(e.kind(), format!("cannot serve metrics on {addr}: {e}"))
            })?),
            None => None,
        };
        Ok(Proxy {
            config,
            listener,
            metrics_listener,
            metrics: Arc::new(Metrics::new()),
            tls,
            enforcement,
            detector: Box::new(|| Box::new(NoDetection)),
            callback: None,
            tap: None,
            meter: None,
            evidence: None,
            reload: None,
            on_connect: None,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// Live metrics (the connection gauge, byte counters ...), also while serving.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// The TLS material, to [`TlsState::reload`] it (SIGHUP) while serving.
    pub fn tls(&self) -> Arc<TlsState> {
        self.tls.clone()
    }

    /// The budgets in force, to replace them (SIGHUP) while serving.
    pub fn enforcement(&self) -> Arc<EnforcementHandle> {
        self.enforcement.clone()
    }

    /// On SIGHUP, re-read the TLS files and (with `budgets`) the budgets, while serving:
    /// connections opened afterwards use them, open ones keep theirs.
    pub fn reload_on_sighup(&mut self, budgets: Option<Reloader>) -> &mut Self {
        self.reload = Some(budgets);
        self
    }

    /// The detection stage, built in the detection thread.
    pub fn detector(&mut self, factory: DetectorFactory) -> &mut Self {
        self.detector = factory;
        self
    }

    /// Called for each new or grown finding as soon as it is known.
    pub fn on_finding(&mut self, callback: impl FnMut(&Finding) + Send + 'static) -> &mut Self {
        self.callback = Some(Box::new(callback));
        self
    }

    /// Extra per-event work in the detection thread (shape and request metrics).
    pub fn meter(&mut self, meter: Box<dyn EventMeter>) -> &mut Self {
        self.meter = Some(meter);
        self
    }

    /// Turns parent ↔ child matches into proof on findings.
    pub fn evidence(&mut self, evidence: Box<dyn Evidence>) -> &mut Self {
        self.evidence = Some(evidence);
        self
    }

    /// Told of each accepted connection (see [`ConnectCallback`]); must return quickly.
    pub fn on_connect(&mut self, callback: ConnectCallback) -> &mut Self {
        self.on_connect = Some(callback);
        self
    }

    /// A copy of every event after detection saw it (for tests and tools).
    pub fn tap_events(&mut self) -> mpsc::Receiver<OwnedEvent> {
        let (tx, rx) = mpsc::channel();
        self.tap = Some(tx);
        rx
    }

    /// Serves until `shutdown` resolves; then stops accepting, lets in-flight statements
    /// finish (up to [`ProxyConfig::shutdown_grace`]), closes connections and finishes
    /// detection, publishing the last findings. Needs a runtime with its time driver on
    /// (`enable_time`, as `#[tokio::main]` and `Runtime::new` give): it keeps every
    /// connection's deadlines.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> io::Result<ProxyReport> {
        let Proxy {
            config,
            listener,
            metrics_listener,
            metrics,
            tls,
            enforcement,
            detector,
            callback,
            tap,
            meter,
            evidence,
            reload,
            on_connect,
        } = self;
        let (event_tx, event_rx) = mpsc::sync_channel(config.event_queue.max(1));
        let mut sources = querycomb_core::SourceTable::default();
        sources.add(format!("proxy {}", config.listen));
        let mut outputs =
            detection::Outputs::new(metrics.clone(), config.findings_out.as_deref(), &sources)?;
        outputs.callback = callback;
        outputs.tap = tap;
        outputs.meter = meter;
        outputs.evidence = evidence;
        let tick = config.tick_interval;
        let detection = std::thread::Builder::new()
            .name("querycomb-detect".into())
            .spawn(move || detection::run(event_rx, detector, outputs, tick))?;

        let (stop_tx, stop_rx) = watch::channel(false);
        // Set when shutdown starts (readiness fails at once), while metrics still serve.
        let (draining_tx, draining_rx) = watch::channel(false);
        // The HTTP endpoint outlives the drain, so /readyz can say "draining".
        let (http_stop_tx, http_stop_rx) = watch::channel(false);
        if let Some(listener) = metrics_listener {
            let readiness = Arc::new(metrics::Readiness {
                upstream: config.upstream.clone(),
                draining: draining_rx.clone(),
            });
            tokio::spawn(metrics::serve(
                listener,
                metrics.clone(),
                readiness,
                http_stop_rx,
            ));
        }
        if let Some(budgets) = reload {
            let log_format = (!config.quiet).then_some(config.log_format);
            tokio::spawn(reload_on_hangup(
                tls.clone(),
                enforcement.clone(),
                budgets,
                log_format,
            ));
        }
        let shared = Arc::new(Shared {
            upstream: config.upstream.clone(),
            limits: config.limits,
            capture_params: config.capture_params,
            connect_timeout: config.connect_timeout,
            startup_timeout: config.startup_timeout,
            quiet: config.quiet,
            max_client_connections: config.max_client_connections,
            idle_timeout: config.idle_timeout,
            log_format: config.log_format,
            metrics: metrics.clone(),
            tls,
            enforcement,
            shared_budgets: Arc::new(enforce::SharedUnits::new(Some(metrics.clone()))),
            events: event_tx,
            timers: timer::Timers::current(),
        });
        let threads = config.threads.unwrap_or_else(default_threads);
        let mut shards = shard::Shards::start(threads, &shared, &stop_rx, config.shutdown_grace)?;
        accept_until(&listener, &shared, &mut shards, on_connect, shutdown).await;
        drop(listener);
        let _ = draining_tx.send(true);
        let _ = stop_tx.send(true);
        let aborted = tokio::task::spawn_blocking(move || shards.finish())
            .await
            .map_err(io::Error::other)?;
        let _ = http_stop_tx.send(true);
        drop(shared);

        let analysis = tokio::task::spawn_blocking(move || detection.join())
            .await
            .map_err(io::Error::other)?
            .map_err(|_| io::Error::other("the detection thread panicked"))??;
        Ok(ProxyReport {
            analysis,
            stats: ProxyStats {
                connections: metrics.connections_opened.get(),
                bytes_from_clients: metrics.bytes_from_clients.get(),
                bytes_from_server: metrics.bytes_from_server.get(),
                statements: metrics.statements.get(),
                events_dropped: metrics.events_dropped.get(),
                unmatched_replies: metrics.unmatched_replies.get(),
                connections_aborted: aborted,
            },
        })
    }
}

use querycomb_core::Finding;

static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

/// One connection thread per core but one, which is left to the detection thread: on two
/// cores a single event loop (pgbouncer's layout) serves 32 clients with 0.6 context
/// switches and 4.6 system calls per transaction, two loops with 1.4 and 5.5 (each sees
/// fewer ready sockets per wakeup); see BENCHMARKS.md.
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

async fn accept_until(
    listener: &TcpListener,
    shared: &Arc<Shared>,
    shards: &mut shard::Shards,
    on_connect: Option<ConnectCallback>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let id = NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed);
                    if let Some(callback) = &on_connect {
                        callback(id, peer);
                    }
                    if let Err(e) = shards.dispatch(stream, peer, id) {
                        shared.metrics.error("accept");
                        shared.log(
                            "warn",
                            "connection_dropped",
                            &format!("connection {id} from {peer} dropped: {e}"),
                            &[("conn", id.to_string()), ("client", peer.to_string()), ("error", e.to_string())],
                        );
                    }
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    shared.metrics.error("accept");
                    shared.log(
                        "error",
                        "accept_failed",
                        &format!("accept failed: {e}"),
                        &[("error", e.to_string())],
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

/// Reloads TLS material and budgets on every SIGHUP; a failed reload keeps the old ones
/// and says why.
async fn reload_on_hangup(
    tls: Arc<TlsState>,
    enforcement: Arc<EnforcementHandle>,
    budgets: Option<Reloader>,
    log_format: Option<log::ProxyLogFormat>,
) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            return;
        };
        while hangups.recv().await.is_some() {
            let mut problems = Vec::new();
            if let Err(e) = tls.reload() {
                problems.push(e.to_string());
            }
            if let Some(load) = &budgets {
                match load() {
                    Ok(new) => enforcement.replace(new),
                    Err(e) => problems.push(e),
                }
            }
            let Some(format) = log_format else { continue };
            if problems.is_empty() {
                log::line(
                    format,
                    "info",
                    "reload",
                    "reloaded TLS material and budgets (SIGHUP)",
                    &[],
                );
            } else {
                let problems = problems.join("; ");
                log::line(
                    format,
                    "error",
                    "reload_failed",
                    &format!("reload failed, keeping the previous settings: {problems}"),
                    &[("error", problems.clone())],
                );
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (tls, enforcement, budgets, log_format);
    }
}

/// Resolves on SIGINT or SIGTERM: the shutdown future `querycomb proxy` passes to
/// [`Proxy::serve`].
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

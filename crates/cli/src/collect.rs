//! `querycomb collect`: an OpenTelemetry trace receiver. Applications (or a Collector) export
//! spans to it over OTLP/gRPC (`--grpc`, port 4317) or OTLP/HTTP with protobuf or JSON
//! bodies (`--http`, port 4318, `POST /v1/traces`); complete traces go through the same
//! detection as `analyze`, new findings are printed on stderr as they appear (and appended
//! to `--findings-out`), and the report is written on SIGINT/SIGTERM after every open trace
//! was flushed. `GET /metrics` on the HTTP address serves Prometheus metrics.
//!
//! Memory stays bounded under any load: request bodies are capped (`--max-request-bytes`),
//! decoded requests wait in a bounded queue (`--queue`) for the one detection thread, and
//! when it is full new requests are refused with HTTP 429 + `Retry-After` or gRPC
//! `RESOURCE_EXHAUSTED` (both retryable for OTLP exporters) and their spans are counted as
//! dropped. The trace assembler bounds open traces and spans per trace (see
//! `querycomb_traces::assemble`).
//!
//! gRPC here is unary HTTP/2 without TLS (what OTLP exporters speak to `http://` endpoints):
//! a 5-byte frame header (compressed flag, big-endian length) around the protobuf message,
//! and `grpc-status` in the trailers.

use std::convert::Infallible;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderMap, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use querycomb_core::{EventSink, Finding, InputError, Location, QueryEvent, SourceId, SourceTable};
use querycomb_detect::Pipeline;
use querycomb_sql::Dialect;
use querycomb_traces::otlp::{self, Request as OtlpRequest};
use querycomb_traces::{Assembler, AssemblyLimits};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::args::CollectArgs;
use crate::config::FileConfig;
use crate::outcome::{CliError, Outcome};
use crate::report::{self, ReportSettings};

const DEFAULT_GRPC: &str = "127.0.0.1:4317";
const DEFAULT_HTTP: &str = "127.0.0.1:4318";
const DEFAULT_MAX_REQUEST_BYTES: usize = 16 << 20;
const DEFAULT_QUEUE: usize = 256;
const GRPC_EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
/// How often the detection thread looks at the clock when no request arrives.
const TICK: Duration = Duration::from_millis(200);
/// Malformed spans printed in full; the rest are only counted.
const SHOWN_MALFORMED: u64 = 20;
/// gRPC status codes used here.
const GRPC_OK: u32 = 0;
const GRPC_INVALID_ARGUMENT: u32 = 3;
const GRPC_RESOURCE_EXHAUSTED: u32 = 8;
const GRPC_UNIMPLEMENTED: u32 = 12;
const GRPC_UNAVAILABLE: u32 = 14;

type Body = BoxBody<Bytes, Infallible>;

pub fn run(args: CollectArgs, file: FileConfig, color: bool) -> Result<Outcome, CliError> {
    let started = Instant::now();
    let settings = ReportSettings::resolve(&args.report, &file, color);
    let detect = settings.detect_config(&file, &args.report);
    let conf = &file.collect;
    let grpc = socket_addr(
        "--grpc",
        args.grpc
            .as_deref()
            .or(conf.grpc.as_deref())
            .unwrap_or(DEFAULT_GRPC),
    )?;
    let http = socket_addr(
        "--http",
        args.http
            .as_deref()
            .or(conf.http.as_deref())
            .unwrap_or(DEFAULT_HTTP),
    )?;
    let max_request_bytes = args
        .max_request_bytes
        .or(conf.max_request_bytes)
        .unwrap_or(DEFAULT_MAX_REQUEST_BYTES);
    let queue = args.queue.or(conf.queue).unwrap_or(DEFAULT_QUEUE).max(1);
    let mut limits = AssemblyLimits::LIVE;
    if let Some(window) = args.trace_window_ms.or(conf.trace_window_ms) {
        limits.window = window;
    }
    let findings_out = args.findings_out.clone().or(conf.findings_out.clone());
    let findings_file = findings_out
        .as_ref()
        .map(|path| {
            File::create(path)
                .map(BufWriter::new)
                .map_err(|e| CliError::Usage(format!("cannot create {}: {e}", path.display())))
        })
        .transpose()?;

    let mut sources = SourceTable::default();
    let source = sources.add(format!("otlp grpc://{grpc} http://{http}"));
    let sources = Arc::new(sources);
    let metrics = Arc::new(CollectMetrics::new());
    let (queue_tx, queue_rx) = mpsc::sync_channel::<Work>(queue);
    let detection = {
        let live = Live {
            pipeline: Pipeline::new(detect, Dialect::Postgres),
            metrics: metrics.clone(),
            sources: sources.clone(),
            findings_file,
            shown: 0,
        };
        std::thread::Builder::new()
            .name("querycomb-detect".into())
            .spawn(move || live.run(queue_rx, source, limits))
            .map_err(|e| CliError::Usage(format!("cannot start the detection thread: {e}")))?
    };
    let shared = Arc::new(Shared {
        queue: queue_tx.clone(),
        max_request_bytes,
        metrics: metrics.clone(),
        closing: AtomicBool::new(false),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Usage(format!("cannot start the async runtime: {e}")))?;
    let served = runtime.block_on(serve_until_signal(grpc, http, shared.clone()));
    // Requests still in flight get 503 from here on; then every queued request is analysed
    // and every open trace flushed.
    shared.closing.store(true, Ordering::SeqCst);
    runtime.shutdown_timeout(Duration::from_secs(2));
    let _ = queue_tx.send(Work::Shutdown);
    drop(queue_tx);
    drop(shared);
    let analysis = detection
        .join()
        .map_err(|_| CliError::Usage("the detection thread failed".into()))?;
    served?;
    let (pipeline, records) =
        analysis.map_err(|e| CliError::Output(format!("cannot write findings: {e}")))?;
    eprintln!(
        "querycomb: collect: {} requests, {} spans received, {} dropped (queue full or over the span limit)",
        metrics.accepted_requests(),
        metrics.spans_received.get(),
        metrics.spans_dropped.get()
    );
    let complete = |summary: &mut querycomb_core::RunSummary| {
        summary.inputs = sources.names().to_vec();
        summary.records = records;
        summary.elapsed_ms = started.elapsed().as_millis() as u64;
        summary.malformed = metrics.malformed.get();
    };
    report::deliver(&settings, |sink| {
        pipeline.finish_into(&sources, sink, complete)
    })
}

fn socket_addr(flag: &str, value: &str) -> Result<SocketAddr, CliError> {
    use std::net::ToSocketAddrs;
    value
        .to_socket_addrs()
        .map_err(|e| CliError::Usage(format!("{flag} {value}: {e}")))?
        .next()
        .ok_or_else(|| CliError::Usage(format!("{flag} {value}: no address")))
}

// ---- receiving --------------------------------------------------------------------------

/// What the detection thread is handed.
enum Work {
    Request(OtlpRequest),
    Shutdown,
}

struct Shared {
    queue: SyncSender<Work>,
    max_request_bytes: usize,
    metrics: Arc<CollectMetrics>,
    closing: AtomicBool,
}

async fn serve_until_signal(
    grpc: SocketAddr,
    http: SocketAddr,
    shared: Arc<Shared>,
) -> Result<(), CliError> {
    let bind = |addr: SocketAddr, flag: &'static str| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|e| CliError::Usage(format!("{flag} {addr}: cannot listen: {e}")))
    };
    let grpc_listener = bind(grpc, "--grpc").await?;
    let http_listener = bind(http, "--http").await?;
    eprintln!(
        "querycomb: collecting traces: OTLP/gRPC on {}, OTLP/HTTP on http://{}/v1/traces (metrics: /metrics)",
        grpc_listener.local_addr().unwrap_or(grpc),
        http_listener.local_addr().unwrap_or(http)
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let servers = [
        tokio::spawn(accept_loop(grpc_listener, shared.clone(), stop_rx.clone())),
        tokio::spawn(accept_loop(http_listener, shared, stop_rx)),
    ];
    querycomb_proxy::shutdown_signal().await;
    eprintln!("querycomb: collect: shutting down, flushing open traces");
    let _ = stop_tx.send(true);
    for server in servers {
        let _ = server.await;
    }
    Ok(())
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        handle(request, shared.clone(), peer)
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            _ = stop.changed() => return,
        }
    }
}

async fn handle(
    request: Request<Incoming>,
    shared: Arc<Shared>,
    peer: SocketAddr,
) -> Result<Response<Body>, Infallible> {
    let response = match (request.method(), request.uri().path()) {
        (&Method::GET, "/metrics") => plain(StatusCode::OK, shared.metrics.render()),
        (&Method::POST, "/v1/traces") => otlp_http(request, &shared, peer).await,
        (&Method::POST, GRPC_EXPORT_PATH) => otlp_grpc(request, &shared, peer).await,
        (&Method::POST, path) if is_grpc(&request) => {
            grpc_status(GRPC_UNIMPLEMENTED, &format!("{path} is not served here"))
        }
        _ => plain(
            StatusCode::NOT_FOUND,
            "querycomb collect serves POST /v1/traces, OTLP/gRPC TraceService/Export and GET /metrics\n".into(),
        ),
    };
    Ok(response)
}

fn is_grpc(request: &Request<Incoming>) -> bool {
    header_str(request.headers(), CONTENT_TYPE.as_str()).starts_with("application/grpc")
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Why a request was not accepted.
enum Refusal {
    TooLarge,
    Malformed(String),
    Busy(usize),
    Closing,
}

impl Refusal {
    /// OTLP/HTTP: 429 and 503 are retryable (with `Retry-After`), the others are not.
    fn http_status(&self) -> StatusCode {
        match self {
            Refusal::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::Malformed(_) => StatusCode::BAD_REQUEST,
            Refusal::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
            Refusal::Closing => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn grpc_code(&self) -> u32 {
        match self {
            Refusal::TooLarge | Refusal::Busy(_) => GRPC_RESOURCE_EXHAUSTED,
            Refusal::Malformed(_) => GRPC_INVALID_ARGUMENT,
            Refusal::Closing => GRPC_UNAVAILABLE,
        }
    }

    fn message(&self, limit: usize) -> String {
        match self {
            Refusal::TooLarge => format!("request body over the limit of {limit} bytes"),
            Refusal::Malformed(why) => why.clone(),
            Refusal::Busy(spans) => format!("queue full: {spans} spans refused, retry later"),
            Refusal::Closing => "shutting down".to_owned(),
        }
    }
}

/// Reads at most `limit` bytes of body.
async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, Refusal> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(Refusal::TooLarge)
        }
        Err(e) => Err(Refusal::Malformed(format!(
            "cannot read the request body: {e}"
        ))),
    }
}

/// Gunzips `data` when asked, never past `limit` bytes.
fn decompress(data: Bytes, gzip: bool, limit: usize) -> Result<Bytes, Refusal> {
    if !gzip {
        return Ok(data);
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(&data[..])
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| Refusal::Malformed(format!("gzip body cannot be decompressed: {e}")))?;
    if out.len() > limit {
        return Err(Refusal::TooLarge);
    }
    Ok(Bytes::from(out))
}

/// Hands a decoded request to the detection thread, or says why not.
fn enqueue(shared: &Shared, request: OtlpRequest) -> Result<(), Refusal> {
    if shared.closing.load(Ordering::SeqCst) {
        return Err(Refusal::Closing);
    }
    let spans = request.span_count();
    match shared.queue.try_send(Work::Request(request)) {
        Ok(()) => {
            shared.metrics.spans_received.inc_by(spans as u64);
            Ok(())
        }
        Err(TrySendError::Full(_)) => {
            shared.metrics.spans_dropped.inc_by(spans as u64);
            Err(Refusal::Busy(spans))
        }
        Err(TrySendError::Disconnected(_)) => Err(Refusal::Closing),
    }
}

/// The request's outcome in the log and the metrics; refusals other than backpressure are
/// printed with the peer, as a malformed input line would be with its place.
fn note(shared: &Shared, transport: &str, peer: SocketAddr, result: &Result<(), Refusal>) {
    let outcome = match result {
        Ok(()) => "accepted",
        Err(Refusal::TooLarge) => "too_large",
        Err(Refusal::Malformed(_)) => "malformed",
        Err(Refusal::Busy(_)) => "busy",
        Err(Refusal::Closing) => "closing",
    };
    shared.metrics.request(transport, outcome);
    if let Err(refusal @ (Refusal::TooLarge | Refusal::Malformed(_))) = result {
        eprintln!(
            "querycomb: {transport} request from {peer}: refused: {}",
            refusal.message(shared.max_request_bytes)
        );
    }
}

async fn otlp_http(
    request: Request<Incoming>,
    shared: &Shared,
    peer: SocketAddr,
) -> Response<Body> {
    let headers = request.headers();
    let content_type = header_str(headers, CONTENT_TYPE.as_str()).to_ascii_lowercase();
    let json = content_type.starts_with("application/json");
    if !json && !content_type.starts_with("application/x-protobuf") {
        return plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "OTLP/HTTP bodies are application/x-protobuf or application/json\n".into(),
        );
    }
    let gzip = header_str(headers, CONTENT_ENCODING.as_str()).eq_ignore_ascii_case("gzip");
    let limit = shared.max_request_bytes;
    let result = async {
        let body = read_body(request.into_body(), limit).await?;
        let body = decompress(body, gzip, limit)?;
        let decoded = if json {
            otlp::parse_json(&body).map(OtlpRequest::Json)
        } else {
            otlp::parse_proto(&body).map(OtlpRequest::Proto)
        };
        enqueue(shared, decoded.map_err(Refusal::Malformed)?)
    }
    .await;
    note(shared, "http", peer, &result);
    match result {
        // An empty ExportTraceServiceResponse: full success.
        Ok(()) if json => with_type(
            StatusCode::OK,
            "application/json",
            Bytes::from_static(b"{}"),
        ),
        Ok(()) => with_type(StatusCode::OK, "application/x-protobuf", Bytes::new()),
        Err(refusal) => {
            let message = format!("{}\n", refusal.message(limit));
            let status = refusal.http_status();
            let mut response = plain(status, message);
            if matches!(
                status,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
            ) {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            response
        }
    }
}

async fn otlp_grpc(
    request: Request<Incoming>,
    shared: &Shared,
    peer: SocketAddr,
) -> Response<Body> {
    let gzip = header_str(request.headers(), "grpc-encoding").eq_ignore_ascii_case("gzip");
    let limit = shared.max_request_bytes;
    let result = async {
        let body = read_body(request.into_body(), limit.saturating_add(5)).await?;
        let (compressed, message) = grpc_unframe(&body)?;
        if compressed && !gzip {
            return Err(Refusal::Malformed(
                "compressed gRPC message without grpc-encoding: gzip".into(),
            ));
        }
        let message = decompress(Bytes::copy_from_slice(message), compressed, limit)?;
        let decoded = otlp::parse_proto(&message).map_err(Refusal::Malformed)?;
        enqueue(shared, OtlpRequest::Proto(decoded))
    }
    .await;
    note(shared, "grpc", peer, &result);
    match result {
        Ok(()) => grpc_ok(),
        Err(refusal) => grpc_status(refusal.grpc_code(), &refusal.message(limit)),
    }
}

/// The one message of a unary gRPC request: (compressed, bytes).
fn grpc_unframe(body: &[u8]) -> Result<(bool, &[u8]), Refusal> {
    let (Some(&flag), Some(len)) = (body.first(), body.get(1..5)) else {
        return Err(Refusal::Malformed(
            "gRPC body shorter than its 5-byte frame header".into(),
        ));
    };
    let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    let message = body.get(5..5 + len).ok_or_else(|| {
        Refusal::Malformed(format!(
            "gRPC frame announces {len} bytes, {} arrived",
            body.len().saturating_sub(5)
        ))
    })?;
    Ok((flag == 1, message))
}

/// An empty `ExportTraceServiceResponse` and `grpc-status: 0`.
fn grpc_ok() -> Response<Body> {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from(GRPC_OK));
    let frames = [
        Ok(Frame::data(Bytes::from_static(&[0, 0, 0, 0, 0]))),
        Ok(Frame::trailers(trailers)),
    ];
    let body = StreamBody::new(futures_util::stream::iter(frames)).boxed();
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    response
}

/// A trailers-only gRPC error response.
fn grpc_status(code: u32, message: &str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::new()).boxed());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert("grpc-status", HeaderValue::from(code));
    // grpc-message is percent-encoded; plain ASCII without '%' passes through.
    let clean: String = message
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '%' || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if let Ok(value) = HeaderValue::from_str(&clean) {
        headers.insert("grpc-message", value);
    }
    response
}

fn plain(status: StatusCode, text: String) -> Response<Body> {
    with_type(status, "text/plain; charset=utf-8", Bytes::from(text))
}

fn with_type(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut response = Response::new(Full::new(body).boxed());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

// ---- detecting --------------------------------------------------------------------------

/// The detection thread's state: traces in, findings out as they appear.
struct Live {
    pipeline: Pipeline,
    metrics: Arc<CollectMetrics>,
    sources: Arc<SourceTable>,
    findings_file: Option<BufWriter<File>>,
    shown: u64,
}

impl Live {
    fn run(
        mut self,
        queue: Receiver<Work>,
        source: SourceId,
        limits: AssemblyLimits,
    ) -> io::Result<(Pipeline, u64)> {
        let mut assembler = Assembler::new(limits);
        let started = Instant::now();
        let mut requests = 0u64;
        loop {
            match queue.recv_timeout(TICK) {
                Ok(Work::Request(request)) => {
                    requests += 1;
                    let location = Location {
                        source,
                        line: requests,
                        byte: 0,
                    };
                    request.push(location, &mut assembler, &mut self);
                }
                Ok(Work::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
            assembler.advance(started.elapsed().as_millis() as u64, &mut self);
            self.pipeline.tick(now_us());
            self.publish(&assembler)?;
        }
        // Whatever is still queued, then every open trace.
        while let Ok(Work::Request(request)) = queue.try_recv() {
            requests += 1;
            let location = Location {
                source,
                line: requests,
                byte: 0,
            };
            request.push(location, &mut assembler, &mut self);
        }
        assembler.finish(&mut self);
        // Every request is over: a clock past all of them closes every open unit, so the
        // last findings are published live like the others before the report.
        self.pipeline.tick(i64::MAX);
        self.publish(&assembler)?;
        let stats = assembler.stats();
        self.metrics.spans_dropped.inc_by(stats.dropped_spans);
        // The report is written by the caller's thread, which owns the output.
        Ok((self.pipeline, requests))
    }

    /// New and grown findings on stderr and in `--findings-out`; gauges.
    fn publish(&mut self, assembler: &Assembler) -> io::Result<()> {
        self.metrics.open_traces.set(assembler.open_traces() as i64);
        self.metrics.held_spans.set(assembler.held_spans() as i64);
        let updates: Vec<Finding> = self.pipeline.take_updates();
        if updates.is_empty() {
            return Ok(());
        }
        self.metrics
            .findings
            .set(self.pipeline.summary().findings as i64);
        for finding in &updates {
            eprintln!(
                "{}",
                querycomb_report::terminal::render_line(finding, &self.sources)
            );
            if let Some(file) = self.findings_file.as_mut() {
                serde_json::to_writer(&mut *file, finding)?;
                file.write_all(b"\n")?;
            }
        }
        if let Some(file) = self.findings_file.as_mut() {
            file.flush()?;
        }
        Ok(())
    }
}

impl EventSink for Live {
    fn event(&mut self, event: &QueryEvent<'_>) {
        self.metrics.statements.inc();
        self.pipeline.event(event);
    }

    fn malformed(&mut self, error: InputError) {
        self.metrics.malformed.inc();
        if self.shown < SHOWN_MALFORMED {
            self.shown += 1;
            eprintln!(
                "querycomb: request {}: skipped: {}",
                error.location.line, error.message
            );
        }
        self.pipeline.malformed(error);
    }

    fn trace_complete(&mut self, trace_id: &str) {
        self.pipeline.trace_complete(trace_id);
    }
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

// ---- metrics ----------------------------------------------------------------------------

type Labels = Vec<(String, String)>;

/// Prometheus metrics of the receiver (`querycomb_collect_*`).
struct CollectMetrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    spans_received: Counter,
    spans_dropped: Counter,
    statements: Counter,
    malformed: Counter,
    findings: Gauge,
    open_traces: Gauge,
    held_spans: Gauge,
}

impl CollectMetrics {
    fn new() -> CollectMetrics {
        let mut registry = Registry::with_prefix("querycomb_collect");
        let metrics = CollectMetrics {
            requests: Family::default(),
            spans_received: Counter::default(),
            spans_dropped: Counter::default(),
            statements: Counter::default(),
            malformed: Counter::default(),
            findings: Gauge::default(),
            open_traces: Gauge::default(),
            held_spans: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "requests",
            "Export requests by transport and outcome (accepted, busy, too_large, malformed, closing)",
            metrics.requests.clone(),
        );
        registry.register(
            "spans_received",
            "Spans accepted",
            metrics.spans_received.clone(),
        );
        registry.register(
            "spans_dropped",
            "Spans refused (queue full) or dropped (over the per-trace limit)",
            metrics.spans_dropped.clone(),
        );
        registry.register(
            "statements",
            "Database statements analysed",
            metrics.statements.clone(),
        );
        registry.register(
            "malformed",
            "Spans and records reported as malformed",
            metrics.malformed.clone(),
        );
        registry.register(
            "findings",
            "Distinct findings so far",
            metrics.findings.clone(),
        );
        registry.register(
            "open_traces",
            "Traces waiting to be complete",
            metrics.open_traces.clone(),
        );
        registry.register(
            "held_spans",
            "Spans held in open traces",
            metrics.held_spans.clone(),
        );
        CollectMetrics {
            registry,
            ..metrics
        }
    }

    fn request(&self, transport: &str, outcome: &str) {
        self.requests
            .get_or_create(&vec![
                ("transport".to_owned(), transport.to_owned()),
                ("outcome".to_owned(), outcome.to_owned()),
            ])
            .inc();
    }

    fn accepted_requests(&self) -> u64 {
        ["http", "grpc"]
            .iter()
            .map(|t| {
                self.requests
                    .get_or_create(&vec![
                        ("transport".to_owned(), (*t).to_owned()),
                        ("outcome".to_owned(), "accepted".to_owned()),
                    ])
                    .get()
            })
            .sum()
    }

    fn render(&self) -> String {
        let mut text = String::new();
        let _ = encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> OtlpRequest {
        let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"00000000000000b1"},{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"00000000000000b2"}]}]}]}"#;
        OtlpRequest::Json(otlp::parse_json(body).unwrap())
    }

    /// A full queue refuses with the retryable statuses and counts the spans as dropped;
    /// memory does not grow.
    #[test]
    fn a_full_queue_pushes_back_and_counts_the_drop() {
        let (queue, waiting) = mpsc::sync_channel(1);
        let shared = Shared {
            queue,
            max_request_bytes: 1 << 20,
            metrics: Arc::new(CollectMetrics::new()),
            closing: AtomicBool::new(false),
        };
        assert!(enqueue(&shared, request()).is_ok());
        let refused = enqueue(&shared, request()).unwrap_err();
        assert!(matches!(refused, Refusal::Busy(2)));
        assert_eq!(refused.http_status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.grpc_code(), GRPC_RESOURCE_EXHAUSTED);
        assert_eq!(shared.metrics.spans_received.get(), 2);
        assert_eq!(shared.metrics.spans_dropped.get(), 2);
        // Drained, it accepts again.
        assert!(matches!(waiting.try_recv(), Ok(Work::Request(_))));
        assert!(enqueue(&shared, request()).is_ok());
        shared.closing.store(true, Ordering::SeqCst);
        let closing = enqueue(&shared, request()).unwrap_err();
        assert_eq!(closing.http_status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(closing.grpc_code(), GRPC_UNAVAILABLE);
    }

    #[test]
    fn grpc_frames_are_checked() {
        assert!(matches!(
            grpc_unframe(&[0, 0, 0, 0, 2, 1, 2]),
            Ok((false, [1, 2]))
        ));
        assert!(matches!(grpc_unframe(&[1, 0, 0, 0, 0]), Ok((true, []))));
        let Err(Refusal::Malformed(why)) = grpc_unframe(&[0, 0, 0, 0, 9, 1]) else {
            panic!("a short frame must be refused");
        };
        assert_eq!(why, "gRPC frame announces 9 bytes, 1 arrived");
        assert!(grpc_unframe(&[0, 0]).is_err());
    }
}

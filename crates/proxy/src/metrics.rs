//! Prometheus metrics of the proxy (prometheus-client), and the HTTP endpoint (hyper) that
//! serves them with the health and readiness checks.
//!
//! Hot-path metrics (bytes, connections) are plain atomic counters updated by the pumps.
//! Per-shape and per-finding metrics are updated by the detection thread, with label
//! cardinality bounded: past [`MAX_LABEL_VALUES`] distinct values, new ones are counted
//! under `other`, so a workload with unbounded distinct SQL cannot grow the scrape.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Distinct values per label before the rest are folded into `other`.
pub const MAX_LABEL_VALUES: usize = 200;

type Labels = Vec<(String, String)>;

/// Every metric the proxy exports.
pub struct Metrics {
    registry: Registry,
    pub connections: Gauge,
    pub connections_opened: Counter,
    pub bytes_from_clients: Counter,
    pub bytes_from_server: Counter,
    pub statements: Counter,
    pub statement_errors: Counter,
    pub events_dropped: Counter,
    /// Replies the observer could not match to a request (a tracking bug if not 0).
    pub unmatched_replies: Counter,
    errors: Family<Labels, Counter>,
    findings: Family<Labels, Counter>,
    budget_verdicts: Family<Labels, Counter>,
    evictions: Family<Labels, Counter>,
    table_entries: Family<Labels, Gauge>,
    fingerprint_calls: Family<Labels, Counter>,
    fingerprint_seconds: Family<Labels, Counter<f64>>,
    fingerprint_rows: Family<Labels, Counter>,
    statements_per_request: Family<Labels, Histogram, fn() -> Histogram>,
    request_seconds: Family<Labels, Histogram, fn() -> Histogram>,
    request_rows: Family<Labels, Counter>,
    /// Time from a client's startup packet to its server connection being ready.
    pub upstream_wait: Histogram,
    /// Explicit transactions, BEGIN to COMMIT/ROLLBACK (as ReadyForQuery reports them).
    pub transaction_seconds: Histogram,
    /// Server connections open now (one per client session).
    pub server_connections: Gauge,
    /// Server connections kept busy on average by requests in the last window (pool.rs).
    pub pool_demand: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Label values given out so far, per label (at most `MAX_LABEL_VALUES` each).
    seen_labels: Mutex<HashMap<&'static str, HashSet<String>>>,
}

fn seconds_histogram() -> Histogram {
    // 100 µs … about 13 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

fn statements_histogram() -> Histogram {
    // 1, 2, 4 … 4096 statements per request.
    Histogram::new(exponential_buckets(1.0, 2.0, 13))
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("querycomb_proxy");
        let metrics = Metrics {
            connections: Gauge::default(),
            connections_opened: Counter::default(),
            bytes_from_clients: Counter::default(),
            bytes_from_server: Counter::default(),
            statements: Counter::default(),
            statement_errors: Counter::default(),
            events_dropped: Counter::default(),
            unmatched_replies: Counter::default(),
            errors: Family::default(),
            findings: Family::default(),
            budget_verdicts: Family::default(),
            evictions: Family::default(),
            table_entries: Family::default(),
            fingerprint_calls: Family::default(),
            fingerprint_seconds: Family::default(),
            fingerprint_rows: Family::default(),
            statements_per_request: Family::new_with_constructor(statements_histogram),
            request_seconds: Family::new_with_constructor(seconds_histogram),
            request_rows: Family::default(),
            upstream_wait: seconds_histogram(),
            transaction_seconds: seconds_histogram(),
            server_connections: Gauge::default(),
            pool_demand: Gauge::default(),
            seen_labels: Mutex::new(HashMap::new()),
            registry: Registry::default(),
        };
        metrics.register(&mut registry);
        Metrics {
            registry,
            ..metrics
        }
    }

    fn register(&self, r: &mut Registry) {
        r.register(
            "connections",
            "Client connections open now",
            self.connections.clone(),
        );
        r.register(
            "connections_opened",
            "Client connections accepted",
            self.connections_opened.clone(),
        );
        r.register(
            "client_bytes",
            "Bytes received from clients and forwarded",
            self.bytes_from_clients.clone(),
        );
        r.register(
            "server_bytes",
            "Bytes received from the server and forwarded",
            self.bytes_from_server.clone(),
        );
        r.register("statements", "Statements observed", self.statements.clone());
        r.register(
            "statement_errors",
            "Statements that ended in an ErrorResponse",
            self.statement_errors.clone(),
        );
        r.register(
            "events_dropped",
            "Statements not analysed because detection fell behind",
            self.events_dropped.clone(),
        );
        r.register(
            "unmatched_replies",
            "Server replies not matched to a request (should stay 0)",
            self.unmatched_replies.clone(),
        );
        r.register(
            "errors",
            "Connections closed by an error, by kind",
            self.errors.clone(),
        );
        r.register(
            "findings",
            "Findings (new patterns) by kind and route",
            self.findings.clone(),
        );
        r.register(
            "budget_verdicts",
            "Requests warned (action=warn) and statements rejected (action=reject) for their query budget, by route",
            self.budget_verdicts.clone(),
        );
        r.register(
            "evictions",
            "Entries forgotten to keep memory bounded, by table (named_statements, proof_loops, proof_pairs, proof_parents, value_link_clients, published_findings)",
            self.evictions.clone(),
        );
        r.register(
            "fingerprint_calls",
            "Statements per query shape (top shapes, rest under other)",
            self.fingerprint_calls.clone(),
        );
        r.register(
            "fingerprint_seconds",
            "Execution time per query shape",
            self.fingerprint_seconds.clone(),
        );
        r.register(
            "fingerprint_rows",
            "Rows returned or affected per query shape",
            self.fingerprint_rows.clone(),
        );
        r.register(
            "statements_per_request",
            "Statements per request (unit of work), by route",
            self.statements_per_request.clone(),
        );
        r.register(
            "request_seconds",
            "Connection hold time per request, first statement start to last statement end, by route",
            self.request_seconds.clone(),
        );
        r.register(
            "request_rows",
            "Rows returned or affected by requests, by route",
            self.request_rows.clone(),
        );
        r.register(
            "upstream_wait_seconds",
            "Time a client waited for its server connection (connect, TLS, authentication)",
            self.upstream_wait.clone(),
        );
        r.register(
            "transaction_seconds",
            "Explicit transactions' duration (connection hold time inside BEGIN)",
            self.transaction_seconds.clone(),
        );
        r.register(
            "table_entries",
            "Entries in the proxy's and detection's in-memory tables now, by table (each bounded or \
             forgotten when idle; see docs/production.md)",
            self.table_entries.clone(),
        );
        r.register(
            "server_connections",
            "Server connections open now",
            self.server_connections.clone(),
        );
        r.register(
            "pool_demand_connections",
            "Server connections kept busy by requests on average over the last 10 s",
            self.pool_demand.clone(),
        );
    }

    pub fn connection_opened(&self) {
        self.connections.inc();
        self.connections_opened.inc();
    }

    pub fn connection_closed(&self) {
        self.connections.dec();
    }

    pub fn error(&self, kind: &'static str) {
        self.errors
            .get_or_create(&vec![("kind".to_owned(), kind.to_owned())])
            .inc();
    }

    /// `value` if it is one of the first [`MAX_LABEL_VALUES`] seen for `label`, else `other`.
    fn bounded(&self, label: &'static str, value: &str) -> String {
        let mut seen = self
            .seen_labels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let values = seen.entry(label).or_default();
        if values.contains(value) {
            return value.to_owned();
        }
        if values.len() >= MAX_LABEL_VALUES {
            return "other".to_owned();
        }
        values.insert(value.to_owned());
        value.to_owned()
    }

    pub fn finding(&self, kind: &str, route: Option<&str>) {
        let route = self.bounded("route", route.unwrap_or(""));
        self.findings
            .get_or_create(&vec![
                ("kind".to_owned(), kind.to_owned()),
                ("route".to_owned(), route),
            ])
            .inc();
    }

    /// `count` entries of `table` forgotten to stay within its bound.
    pub fn evicted(&self, table: &'static str, count: u64) {
        if count > 0 {
            self.evictions
                .get_or_create(&vec![("table".to_owned(), table.to_owned())])
                .inc_by(count);
        }
    }

    /// `table` holds `entries` now (set on every detection tick).
    pub fn table_size(&self, table: &'static str, entries: usize) {
        self.table_entries
            .get_or_create(&vec![("table".to_owned(), table.to_owned())])
            .set(i64::try_from(entries).unwrap_or(i64::MAX));
    }

    /// Entries in `table` at the last tick.
    pub fn table_entries(&self, table: &'static str) -> i64 {
        self.table_entries
            .get_or_create(&vec![("table".to_owned(), table.to_owned())])
            .get()
    }

    /// Entries of `table` forgotten so far (tests and the soak check bounds with it).
    pub fn evicted_total(&self, table: &'static str) -> u64 {
        self.evictions
            .get_or_create(&vec![("table".to_owned(), table.to_owned())])
            .get()
    }

    /// A budget warning or rejection on `route`.
    pub fn budget_verdict(&self, route: Option<&str>, rejected: bool) {
        let route = self.bounded("route", route.unwrap_or(""));
        let action = if rejected { "reject" } else { "warn" };
        self.budget_verdicts
            .get_or_create(&vec![
                ("action".to_owned(), action.to_owned()),
                ("route".to_owned(), route),
            ])
            .inc();
    }

    /// `calls` statements of one shape, taking `seconds` and returning `rows` in all.
    pub fn fingerprint(&self, fingerprint: &str, calls: u64, seconds: f64, rows: u64) {
        let labels = vec![(
            "fingerprint".to_owned(),
            self.bounded("fingerprint", fingerprint),
        )];
        self.fingerprint_calls.get_or_create(&labels).inc_by(calls);
        self.fingerprint_seconds
            .get_or_create(&labels)
            .inc_by(seconds);
        self.fingerprint_rows.get_or_create(&labels).inc_by(rows);
    }

    pub fn request_finished(
        &self,
        route: Option<&str>,
        statements: u32,
        rows: u64,
        hold: Duration,
    ) {
        let labels = vec![(
            "route".to_owned(),
            self.bounded("route", route.unwrap_or("")),
        )];
        self.statements_per_request
            .get_or_create(&labels)
            .observe(f64::from(statements));
        self.request_seconds
            .get_or_create(&labels)
            .observe(hold.as_secs_f64());
        self.request_rows.get_or_create(&labels).inc_by(rows);
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// What `/readyz` checks: the proxy is not draining and the server accepts connections.
pub struct Readiness {
    pub upstream: String,
    pub draining: watch::Receiver<bool>,
}

/// Serves `GET /metrics` (Prometheus text), `/healthz` (the process serves) and `/readyz`
/// (not draining, and the upstream server accepts a TCP connection within a second) until
/// shutdown, with hyper.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let (metrics, readiness) = (metrics.clone(), readiness.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let (metrics, readiness) = (metrics.clone(), readiness.clone());
                        async move { Ok::<_, Infallible>(answer(&request, &metrics, &readiness).await) }
                    });
                    let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                    let _ = tokio::time::timeout(Duration::from_secs(30), connection).await;
                });
            }
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

async fn answer(
    request: &Request<Incoming>,
    metrics: &Metrics,
    readiness: &Readiness,
) -> Response<Full<Bytes>> {
    let text = |status: StatusCode, content_type: &str, body: String| {
        Response::builder()
            .status(status)
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_default()
    };
    const PLAIN: &str = "text/plain; charset=utf-8";
    if request.method() != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, PLAIN, "GET only\n".into());
    }
    match request.uri().path() {
        "/metrics" => text(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics.render(),
        ),
        "/healthz" => text(StatusCode::OK, PLAIN, "ok\n".into()),
        "/readyz" => match ready(readiness).await {
            Ok(()) => text(StatusCode::OK, PLAIN, "ready\n".into()),
            Err(why) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                PLAIN,
                format!("not ready: {why}\n"),
            ),
        },
        "/" => text(
            StatusCode::OK,
            PLAIN,
            "querycomb proxy: /metrics, /healthz, /readyz\n".into(),
        ),
        _ => text(StatusCode::NOT_FOUND, PLAIN, "not found\n".into()),
    }
}

async fn ready(readiness: &Readiness) -> Result<(), String> {
    if *readiness.draining.borrow() {
        return Err("draining (shutting down)".into());
    }
    let connect = TcpStream::connect(readiness.upstream.as_str());
    match tokio::time::timeout(Duration::from_secs(1), connect).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("upstream {}: {e}", readiness.upstream)),
        Err(_) => Err(format!(
            "upstream {}: no answer within 1 s",
            readiness.upstream
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_and_bounded_labels() {
        let metrics = Metrics::new();
        metrics.connection_opened();
        metrics.bytes_from_clients.inc_by(10);
        metrics.error("protocol");
        for i in 0..(MAX_LABEL_VALUES + 5) {
            metrics.fingerprint(&format!("{i:016x}"), 1, 0.002, 1);
        }
        metrics.request_finished(Some("/orders"), 12, 12, Duration::from_millis(3));
        let text = metrics.render();
        assert!(text.contains("querycomb_proxy_connections 1"), "{text}");
        assert!(text.contains("querycomb_proxy_client_bytes_total 10"));
        assert!(text.contains("querycomb_proxy_errors_total{kind=\"protocol\"} 1"));
        assert!(text.contains("querycomb_proxy_fingerprint_calls_total{fingerprint=\"other\"} 5"));
        assert!(text.contains(
            "querycomb_proxy_statements_per_request_bucket{le=\"16.0\",route=\"/orders\"} 1"
        ));
    }
}

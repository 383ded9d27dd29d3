//! Glue to the detection crate: `querycomb_detect::Pipeline` as the proxy's live detector,
//! the per-shape and per-request metrics, and [`run`], the one call `querycomb proxy` makes.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use querycomb_core::{
    EventSink, Finding, FindingSink, Proof, QueryEvent, Scanned, SourceTable, Timestamp,
};
use querycomb_detect::hash::FastMap;
use querycomb_detect::{Config, Pipeline};
use querycomb_sql::Dialect;

use crate::detection::{DetectorFactory, EventMeter, Evidence, LiveDetector};
use crate::log::ProxyLogFormat;
use crate::metrics::Metrics;
use crate::observe::Observed;
use crate::pool::PoolWatch;
use crate::{Proxy, ProxyConfig, ProxyReport};

impl LiveDetector for Pipeline {
    fn event<'a>(&mut self, event: &QueryEvent<'a>) -> Scanned<'a> {
        self.event_scanned(event)
    }
    fn tick(&mut self, now: Timestamp) {
        EventSink::tick(self, now);
    }
    fn take_updates(&mut self) -> Vec<Finding> {
        Pipeline::take_updates(self)
    }
    fn table_sizes(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("detection_shapes", self.shapes()),
            ("detection_sessions", self.tracked_sessions()),
            ("detection_open_units", self.open_units()),
            ("detection_open_statements", self.open_statements()),
            ("detection_findings", self.findings_len()),
        ]
    }
    fn idle_gap_us(&self) -> Option<Timestamp> {
        Some(self.config().idle_gap_us())
    }

    fn finish_into(
        self: Box<Self>,
        sources: &SourceTable,
        sink: &mut dyn FindingSink,
    ) -> io::Result<()> {
        Pipeline::finish_into(*self, sources, sink, |_| {})
    }
}

/// The detection pipeline with `config`, for [`Proxy::detector`].
pub fn pipeline_detector(config: Config) -> DetectorFactory {
    Box::new(move || Box::new(Pipeline::new(config, Dialect::Postgres)))
}

/// Runs the proxy with detection until `shutdown` resolves (pass
/// [`crate::shutdown_signal`] for SIGINT/SIGTERM). `on_finding` is called in the detection
/// thread for each new or grown finding.
/// `budgets` re-reads the budgets on SIGHUP (TLS files are re-read in any case).
pub async fn run(
    config: ProxyConfig,
    detect: Config,
    on_finding: impl FnMut(&Finding) + Send + 'static,
    budgets: Option<crate::Reloader>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<ProxyReport> {
    let idle_gap = Duration::from_millis(detect.idle_gap_ms);
    let pool_size = config.pool_size;
    let log_format = (!config.quiet).then_some(config.log_format);
    let mut proxy = Proxy::bind(config).await?;
    let mut meter = ShapeMeter::new(proxy.metrics(), idle_gap);
    meter.watch_pool(pool_size, log_format);
    let evidence = ProxyEvidence::new(pool_size).with_metrics(proxy.metrics());
    proxy
        .detector(pipeline_detector(detect))
        .on_finding(on_finding)
        .meter(Box::new(meter))
        .evidence(Box::new(evidence))
        .reload_on_sighup(budgets);
    proxy.serve(shutdown).await
}

/// Per-fingerprint calls/time/rows and statements per request, for the metrics endpoint.
///
/// Requests are delimited here the way the detection stage does at its simplest: one
/// trace id or route tag per unit, untagged statements joining the open unit, and an idle
/// gap closing it. (The histogram is an operational gauge; findings use the detection
/// stage's own grouping.)
pub struct ShapeMeter {
    metrics: Arc<Metrics>,
    idle_gap_us: Timestamp,
    /// Keyed by the proxy's own session ids, and by fingerprints (already hashes): the
    /// fast hasher, on every statement.
    open: FastMap<String, OpenRequest>,
    /// Per-shape totals since the last tick.
    shapes: FastMap<u64, ShapeTotals>,
    pool: Option<(PoolWatch, Option<ProxyLogFormat>)>,
}

#[derive(Default)]
struct ShapeTotals {
    calls: u64,
    micros: u64,
    rows: u64,
}

struct OpenRequest {
    key: Option<String>,
    route: Option<String>,
    statements: u32,
    rows: u64,
    /// First statement's start and last statement's end: the connection hold time.
    first: Timestamp,
    last: Timestamp,
}

impl ShapeMeter {
    pub fn new(metrics: Arc<Metrics>, idle_gap: Duration) -> Self {
        ShapeMeter {
            metrics,
            idle_gap_us: idle_gap.as_micros() as Timestamp,
            open: FastMap::default(),
            shapes: FastMap::default(),
            pool: None,
        }
    }

    /// Estimate pool demand from request hold times and warn (with `log`) when it nears a
    /// pool of `pool_size` (see `pool.rs`).
    pub fn watch_pool(&mut self, pool_size: u32, log: Option<ProxyLogFormat>) {
        self.pool = Some((PoolWatch::new(pool_size), log));
    }

    fn close(&mut self, request: OpenRequest) {
        let hold_us = request.last.saturating_sub(request.first).max(0) as u64;
        self.metrics.request_finished(
            request.route.as_deref(),
            request.statements,
            request.rows,
            Duration::from_micros(hold_us),
        );
        if let Some((watch, _)) = self.pool.as_mut() {
            watch.request(
                request.route.as_deref(),
                hold_us,
                request.statements,
                request.last,
            );
        }
    }
}

impl EventMeter for ShapeMeter {
    fn event(&mut self, event: &QueryEvent<'_>, scanned: &Scanned<'_>) {
        // Transaction control and session bookkeeping have no shape (never scanned).
        // Summed here and published once per tick: the metrics' labels and locks are
        // paid per shape and tick, not per statement.
        if let Some(fingerprint) = scanned.fingerprint {
            let totals = self.shapes.entry(fingerprint).or_default();
            totals.calls += 1;
            totals.micros += event.duration_us.unwrap_or(0);
            totals.rows += event.rows.unwrap_or(0);
        }
        let route = scanned.route.as_deref().map(str::to_owned);
        let key = scanned
            .trace_id
            .as_deref()
            .map(str::to_owned)
            .or_else(|| route.clone());
        let now = event.time.unwrap_or_default();
        let end = now + event.duration_us.unwrap_or(0) as Timestamp;
        let rows = event.rows.unwrap_or(0);
        if let Some(open) = self.open.get_mut(event.session) {
            let other_key = key.is_some() && open.key.is_some() && key != open.key;
            let idle = now.saturating_sub(open.last) > self.idle_gap_us;
            if !other_key && !idle {
                open.statements += 1;
                open.rows += rows;
                open.last = open.last.max(end);
                if open.key.is_none() {
                    open.key = key;
                    open.route = route;
                }
                return;
            }
            if let Some(done) = self.open.remove(event.session) {
                self.close(done);
            }
        }
        self.open.insert(
            event.session.to_owned(),
            OpenRequest {
                key,
                route,
                statements: 1,
                rows,
                first: now,
                last: end,
            },
        );
    }

    fn tick(&mut self, now: Timestamp) {
        for (fingerprint, totals) in self.shapes.drain() {
            self.metrics.fingerprint(
                &format!("{fingerprint:016x}"),
                totals.calls,
                totals.micros as f64 / 1e6,
                totals.rows,
            );
        }
        let gap = self.idle_gap_us;
        let idle: Vec<String> = self
            .open
            .iter()
            .filter(|(_, r)| now.saturating_sub(r.last) > gap)
            .map(|(session, _)| session.clone())
            .collect();
        for session in idle {
            if let Some(done) = self.open.remove(&session) {
                self.close(done);
            }
        }
        if let Some((watch, log)) = self.pool.as_mut() {
            if let Some(pressure) = watch.tick(now) {
                if let Some(format) = log {
                    let text = pressure.to_string();
                    crate::log::line(*format, "warn", "pool_pressure", &text, &pressure.fields());
                }
            }
            self.metrics.pool_demand.set(watch.demand);
        }
    }

    fn table_sizes(&self) -> Vec<(&'static str, usize)> {
        vec![("meter_open_requests", self.open.len())]
    }
}

/// Loops tracked for proof before the table is reset (bounds memory on endless workloads).
const MAX_LOOPS: usize = 4096;

/// What only the proxy can add to a finding:
/// - proof: it counts, per (parent shape, child shape), the child executions whose
///   parameters were found in one result of the parent (the value links of
///   `QueryEvent::links`, across the client's connections), and marks matching findings
///   [`Proof::Proven`] with the most children one parent result drove;
/// - cost: how long the request held its connection, and what that means for a pool of
///   `pool_size` connections, before and after batching the loop.
pub struct ProxyEvidence {
    pool_size: u32,
    /// Children matched per (parent shape, child shape, parent result).
    matched: HashMap<(u64, u64, u64), u32>,
    /// The most children one parent result drove, per (parent shape, child shape).
    best: HashMap<(u64, u64), u32>,
    /// Fingerprints of the results kept as possible parents, by result id: a child names
    /// its parent by result, whose statement detection scanned when it ran.
    parents: HashMap<u64, u64>,
    /// Where resets of the tables are counted (`evictions_total{table="proof_loops"}`).
    metrics: Option<Arc<Metrics>>,
}

impl ProxyEvidence {
    pub fn new(pool_size: u32) -> Self {
        ProxyEvidence {
            pool_size: pool_size.max(1),
            matched: HashMap::new(),
            best: HashMap::new(),
            parents: HashMap::new(),
            metrics: None,
        }
    }

    /// Counts the loop table's resets in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }
}

impl Default for ProxyEvidence {
    fn default() -> Self {
        ProxyEvidence::new(crate::DEFAULT_POOL_SIZE)
    }
}

impl Evidence for ProxyEvidence {
    fn event(&mut self, observed: &Observed, fingerprint: Option<u64>) {
        let Some(child_fp) = fingerprint else { return };
        let links = observed.links;
        if let Some(result) = links.result {
            if self.parents.len() >= MAX_LOOPS {
                self.evicted("proof_parents", self.parents.len());
                self.parents.clear();
            }
            self.parents.insert(result, child_fp);
        }
        let Some(parent_result) = links.parent_result else {
            return;
        };
        let Some(&parent_fp) = self.parents.get(&parent_result) else {
            // Its parent's event was dropped or forgotten: no proof from this one.
            return;
        };
        if self.matched.len() >= MAX_LOOPS {
            self.evicted("proof_loops", self.matched.len());
            self.matched.clear();
        }
        let matched = self
            .matched
            .entry((parent_fp, child_fp, parent_result))
            .or_default();
        *matched += 1;
        let matched = *matched;
        if self.best.len() >= MAX_LOOPS && !self.best.contains_key(&(parent_fp, child_fp)) {
            self.evicted("proof_pairs", self.best.len());
            self.best.clear();
        }
        let best = self.best.entry((parent_fp, child_fp)).or_default();
        *best = (*best).max(matched);
    }

    fn table_sizes(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("proof_loops", self.matched.len()),
            ("proof_pairs", self.best.len()),
            ("proof_parents", self.parents.len()),
        ]
    }

    fn annotate(&self, finding: &mut Finding) {
        self.prove(finding);
        if finding.fix.impact.is_none() {
            // The pool arithmetic as data (`impact.hold_us`, `pool_rps_now`, ...): the sinks
            // render it; the message stays the detection stage's sentence.
            finding.fix.impact = querycomb_explain::impact(finding, self.pool_size);
        }
    }
}

impl ProxyEvidence {
    fn evicted(&self, table: &'static str, entries: usize) {
        if let Some(metrics) = &self.metrics {
            metrics.evicted(table, entries as u64);
        }
    }

    fn prove(&self, finding: &mut Finding) {
        let parent = finding
            .parent
            .as_ref()
            .and_then(|p| u64::from_str_radix(&p.fingerprint, 16).ok());
        let child = finding
            .children
            .first()
            .and_then(|c| u64::from_str_radix(&c.fingerprint, 16).ok());
        let (Some(parent), Some(child)) = (parent, child) else {
            return;
        };
        let matched = self.best.get(&(parent, child)).copied();
        if let Some(matched) = matched.filter(|&m| m > 0) {
            finding.proof = Proof::Proven { matched };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use querycomb_core::{Location, RequestKind, RequestRef, Severity};
    use querycomb_detect::detectors::n_plus_one;

    #[test]
    fn pool_arithmetic_is_data_on_the_finding() {
        let finding = Finding {
            kind: n_plus_one::KIND,
            severity: Severity::Warning,
            signature: "0".repeat(16),
            request: RequestRef {
                kind: RequestKind::Route,
                id: "r".into(),
                route: None,
                trace_id: None,
                session: "1".into(),
                start: Some(1_000_000),
                end: Some(1_050_000),
                statements: 26,
                location: Location::default(),
            },
            parent: None,
            children: Vec::new(),
            count: 25,
            distinct_params: 25,
            total_duration_us: Some(40_000),
            occurrences: 1,
            total_count: 25,
            seen_in: Default::default(),
            suggestion: None,
            message: "N+1".into(),
            proof: Proof::Suspected,
            waterfall: Vec::new(),
            concurrency: None,
            fix: Default::default(),
        };
        // 50 ms held → 10 / 0.05 s = 200/s; batched: 50 - (40 - 40/25) = 11.6 ms → 862/s.
        let mut annotated = finding.clone();
        ProxyEvidence::new(10).annotate(&mut annotated);
        assert_eq!(annotated.message, finding.message, "no text appended");
        let impact = annotated.fix.impact.expect("the pool arithmetic as data");
        assert_eq!(impact.pool_size, 10);
        assert_eq!(impact.hold_us, Some(50_000));
        assert_eq!(impact.hold_after_us, Some(11_600));
        assert_eq!(impact.pool_rps_now.map(f64::round), Some(200.0));
        assert_eq!(impact.pool_rps_after.map(f64::round), Some(862.0));
        assert_eq!(impact.statements_saved, 24);
    }
}

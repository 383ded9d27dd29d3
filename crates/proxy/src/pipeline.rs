//! Glue to the detection crate: `querycomb_detect::Pipeline` as the proxy's live detector,
//! the per-shape and per-request metrics, and [`run`], the one call `querycomb proxy` makes.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use querycomb_core::{EventSink, Finding, OwnedEvent, QueryEvent, Timestamp};
use querycomb_detect::{Config, Pipeline};
use querycomb_sql::{comment, Dialect, Fingerprinter};

use crate::detection::{Analysis, DetectorFactory, EventMeter, LiveDetector};
use crate::metrics::Metrics;
use crate::{Proxy, ProxyConfig, ProxyReport};

impl LiveDetector for Pipeline {
    fn event(&mut self, event: &QueryEvent<'_>) {
        EventSink::event(self, event);
    }
    fn tick(&mut self, now: Timestamp) {
        EventSink::tick(self, now);
    }
    fn take_updates(&mut self) -> Vec<Finding> {
        Pipeline::take_updates(self)
    }
    fn finish(self: Box<Self>) -> Analysis {
        let analysis = Pipeline::finish(*self);
        Analysis {
            findings: analysis.findings,
            summary: analysis.summary,
        }
    }
}

/// The detection pipeline with `config`, for [`Proxy::detector`].
pub fn pipeline_detector(config: Config) -> DetectorFactory {
    Box::new(move || Box::new(Pipeline::new(config, Dialect::Postgres)))
}

/// Runs the proxy with detection until `shutdown` resolves (pass
/// [`crate::shutdown_signal`] for SIGINT/SIGTERM). `on_finding` is called in the detection
/// thread for each new or grown finding.
pub async fn run(
    config: ProxyConfig,
    detect: Config,
    on_finding: impl FnMut(&Finding) + Send + 'static,
    shutdown: impl Future<Output = ()>,
) -> io::Result<ProxyReport> {
    let idle_gap = Duration::from_millis(detect.idle_gap_ms);
    let mut proxy = Proxy::bind(config).await?;
    let meter = ShapeMeter::new(proxy.metrics(), idle_gap);
    proxy
        .detector(pipeline_detector(detect))
        .on_finding(on_finding)
        .meter(Box::new(meter));
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
    fingerprinter: Fingerprinter,
    idle_gap_us: Timestamp,
    open: HashMap<String, OpenRequest>,
}

struct OpenRequest {
    key: Option<String>,
    route: Option<String>,
    statements: u32,
    last: Timestamp,
}

impl ShapeMeter {
    pub fn new(metrics: Arc<Metrics>, idle_gap: Duration) -> Self {
        ShapeMeter {
            metrics,
            fingerprinter: Fingerprinter::new(Dialect::Postgres),
            idle_gap_us: idle_gap.as_micros() as Timestamp,
            open: HashMap::new(),
        }
    }

    fn close(&self, request: OpenRequest) {
        self.metrics
            .request_finished(request.route.as_deref(), request.statements);
    }
}

impl EventMeter for ShapeMeter {
    fn event(&mut self, event: &OwnedEvent) {
        let scan = self.fingerprinter.scan(&event.sql);
        self.metrics.fingerprint(
            &format!("{:016x}", scan.fingerprint),
            event.duration_us.map(Duration::from_micros),
            event.rows,
        );
        let tags = comment::tags(&event.sql);
        let route = tags.route().map(|r| r.into_owned());
        let key = tags.trace_id().map(str::to_owned).or_else(|| route.clone());
        let now = event.time.unwrap_or_default();
        if let Some(open) = self.open.get_mut(&event.session) {
            let other_key = key.is_some() && open.key.is_some() && key != open.key;
            let idle = now.saturating_sub(open.last) > self.idle_gap_us;
            if !other_key && !idle {
                open.statements += 1;
                open.last = now;
                if open.key.is_none() {
                    open.key = key;
                    open.route = route;
                }
                return;
            }
            if let Some(done) = self.open.remove(&event.session) {
                self.close(done);
            }
        }
        self.open.insert(
            event.session.clone(),
            OpenRequest {
                key,
                route,
                statements: 1,
                last: now,
            },
        );
    }

    fn tick(&mut self, now: Timestamp) {
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
    }
}

//! The detection thread: the one place where events become findings.
//!
//! Pumps hand finished statements over a bounded channel and never wait on it (a full
//! channel drops the event and counts it): detection can fall behind, the traffic cannot.
//! The thread owns the detector, calls its `tick` so that idle requests close, and publishes
//! each new or grown finding to the live callback, the `--findings-out` JSON-lines file
//! and the metrics.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use querycomb_core::{
    CollectedFindings, Finding, FindingSink, OwnedEvent, QueryEvent, RunSummary, Scanned,
    SourceTable, Timestamp,
};
use querycomb_report::json::JsonLinesSink;

use crate::evidence::{client_digest, ClientResults, MAX_CLIENTS};
use crate::metrics::Metrics;
use crate::observe::{wall_clock, Observed};

/// What the proxy needs from a detection stage (implemented for
/// `querycomb_detect::Pipeline` with the `detect` feature; tests plug in their own).
pub trait LiveDetector {
    /// Detection's one scan of the statement; what it read is handed to the meter and the
    /// evidence, which never read the text again.
    fn event<'a>(&mut self, event: &QueryEvent<'a>) -> Scanned<'a>;
    /// Lets requests that went idle close; called about every `tick_interval`.
    fn tick(&mut self, now: Timestamp);
    /// Findings new or grown since the last call.
    fn take_updates(&mut self) -> Vec<Finding>;
    /// Closes everything still open and pushes the run through `sink`: `begin` with
    /// `sources`, every finding, `finish` with the run's totals.
    fn finish_into(
        self: Box<Self>,
        sources: &SourceTable,
        sink: &mut dyn FindingSink,
    ) -> io::Result<()>;
    /// Sizes of the detector's in-memory tables, for the `table_entries` metric.
    fn table_sizes(&self) -> Vec<(&'static str, usize)> {
        Vec::new()
    }
    /// The pause (µs) that ends any unit of work in its grouping, if it groups: how long a
    /// kept result may go unused before it is no live request's parent (see
    /// `evidence::ClientResults::expire_after`).
    fn idle_gap_us(&self) -> Option<Timestamp> {
        None
    }
}

/// Builds the detector inside the detection thread, so it need not be `Send`.
pub type DetectorFactory = Box<dyn FnOnce() -> Box<dyn LiveDetector> + Send>;

/// Called in the detection thread for each new or grown finding, e.g. to print it.
pub type FindingCallback = Box<dyn FnMut(&Finding) + Send>;

/// A detector that finds nothing: the proxy then only forwards, observes and measures.
pub struct NoDetection;

impl LiveDetector for NoDetection {
    fn event<'a>(&mut self, _event: &QueryEvent<'a>) -> Scanned<'a> {
        Scanned::default()
    }
    fn tick(&mut self, _now: Timestamp) {}
    fn take_updates(&mut self) -> Vec<Finding> {
        Vec::new()
    }
    fn finish_into(
        self: Box<Self>,
        sources: &SourceTable,
        sink: &mut dyn FindingSink,
    ) -> io::Result<()> {
        sink.begin(sources)?;
        sink.finish(&RunSummary::default())
    }
}

/// Per-event work besides detection (metrics per shape, request sizes), on what
/// detection's scan read.
pub trait EventMeter: Send {
    fn event(&mut self, event: &QueryEvent<'_>, scanned: &Scanned<'_>);
    fn tick(&mut self, now: Timestamp);
    /// Sizes of its in-memory tables, for the `table_entries` metric.
    fn table_sizes(&self) -> Vec<(&'static str, usize)> {
        Vec::new()
    }
}

/// Parent ↔ child proof: sees each event with its value links (`event.links`: the parent
/// result its parameters came from, the id its own result was kept under) and the
/// fingerprint detection's scan gave it, and marks findings whose loop it saw driven by the
/// parent's rows.
pub trait Evidence: Send {
    fn event(&mut self, observed: &Observed, fingerprint: Option<u64>);
    fn annotate(&self, finding: &mut Finding);
    /// Sizes of its in-memory tables, for the `table_entries` metric.
    fn table_sizes(&self) -> Vec<(&'static str, usize)> {
        Vec::new()
    }
}

/// Where findings go as they are found.
pub(crate) struct Outputs {
    pub callback: Option<FindingCallback>,
    /// `--findings-out`: the documented JSON lines (sources, findings, summary).
    pub file: Option<JsonLinesSink<BufWriter<File>>>,
    pub metrics: Arc<Metrics>,
    pub tap: Option<Sender<OwnedEvent>>,
    pub meter: Option<Box<dyn EventMeter>>,
    pub evidence: Option<Box<dyn Evidence>>,
    /// Each client's recent multi-row results, which later executions link to by value.
    pub links: ClientResults,
    /// The run's inputs (the listener), as `--findings-out` names them.
    pub sources: SourceTable,
    /// Last published `(occurrences, total_count)` per signature.
    published: HashMap<String, (u32, u64)>,
}

impl Outputs {
    pub fn new(
        metrics: Arc<Metrics>,
        findings_out: Option<&Path>,
        sources: &SourceTable,
    ) -> io::Result<Self> {
        let file = match findings_out {
            Some(path) => {
                let file = File::create(path).map_err(|e| {
                    io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display()))
                })?;
                let mut sink = JsonLinesSink::new(BufWriter::new(file));
                sink.begin(sources)?;
                Some(sink)
            }
            None => None,
        };
        Ok(Outputs {
            callback: None,
            file,
            metrics,
            tap: None,
            meter: None,
            evidence: None,
            links: ClientResults::default(),
            sources: sources.clone(),
            published: HashMap::new(),
        })
    }

    fn publish(&mut self, findings: &mut [Finding]) -> io::Result<()> {
        for finding in findings.iter_mut() {
            if let Some(evidence) = &self.evidence {
                evidence.annotate(finding);
            }
            let state = (finding.occurrences, finding.total_count);
            if self.published.len() >= MAX_PUBLISHED
                && !self.published.contains_key(&finding.signature)
            {
                // Forget what was published; a finding seen again is published again (a
                // repeated signature is an update for readers of the JSON lines anyway).
                self.metrics
                    .evicted("published_findings", self.published.len() as u64);
                self.published.clear();
            }
            match self.published.insert(finding.signature.clone(), state) {
                Some(previous) if previous == state => continue,
                Some(_) => {}
                None => self
                    .metrics
                    .finding(finding.kind.id(), finding.request.route.as_deref()),
            }
            if let Some(callback) = self.callback.as_mut() {
                callback(finding);
            }
            if let Some(file) = self.file.as_mut() {
                file.finding(finding)?;
            }
        }
        Ok(())
    }
}

impl Outputs {
    /// `backlog`: the most events detection found waiting at once since the last tick.
    fn record_table_sizes(&self, detector: &dyn LiveDetector, backlog: usize) {
        let metrics = &self.metrics;
        metrics.table_size("event_backlog", backlog);
        metrics.table_size("published_findings", self.published.len());
        metrics.table_size("value_link_clients", self.links.len());
        let meter = self.meter.as_ref().map(|m| m.table_sizes());
        let evidence = self.evidence.as_ref().map(|e| e.table_sizes());
        for (table, entries) in detector
            .table_sizes()
            .into_iter()
            .chain(meter.into_iter().flatten())
            .chain(evidence.into_iter().flatten())
        {
            metrics.table_size(table, entries);
        }
    }
}

/// Signatures remembered to publish only new or grown findings.
const MAX_PUBLISHED: usize = 100_000;

/// Events handled in one go before ticking.
const MAX_BATCH: usize = 16_384;
/// Pause after a batch (see [`run`]).
const BATCH_PAUSE: Duration = Duration::from_millis(5);

/// Runs until every sender is gone, then finishes the detector and publishes what only
/// the end revealed.
pub(crate) fn run(
    events: Receiver<Box<Observed>>,
    factory: DetectorFactory,
    mut outputs: Outputs,
    tick_interval: Duration,
) -> io::Result<CollectedFindings> {
    let mut detector = factory();
    if let Some(idle_gap_us) = detector.idle_gap_us() {
        outputs.links.expire_after(idle_gap_us);
    }
    let started = Instant::now();
    let mut last_tick = Instant::now();
    // The queue's backlog, seen from here (a counter shared with the pumps would cost them
    // an atomic write per statement): the largest batch since the last tick.
    let mut backlog = 0;
    loop {
        match events.recv_timeout(tick_interval) {
            Ok(event) => {
                observe(&mut *detector, &mut outputs, event);
                let mut batch = 1;
                for event in events.try_iter().take(MAX_BATCH) {
                    observe(&mut *detector, &mut outputs, event);
                    batch += 1;
                }
                backlog = backlog.max(batch);
                // Let the next events queue up: a pump's send wakes this thread only when
                // it waits on an empty channel, so under load pumps never make syscalls
                // for it, and detection works in batches.
                std::thread::sleep(BATCH_PAUSE);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if last_tick.elapsed() >= tick_interval {
            last_tick = Instant::now();
            let now = wall_clock(last_tick);
            detector.tick(now);
            if let Some(meter) = outputs.meter.as_mut() {
                meter.tick(now);
            }
            let mut updates = detector.take_updates();
            outputs.publish(&mut updates)?;
            outputs.record_table_sizes(&*detector, std::mem::take(&mut backlog));
        }
    }
    let mut updates = detector.take_updates();
    outputs.publish(&mut updates)?;
    let sources = outputs.sources.clone();
    let mut last = Publish {
        outputs: &mut outputs,
        started,
        kept: CollectedFindings::default(),
    };
    detector.finish_into(&sources, &mut last)?;
    let kept = last.kept;
    if let Some(meter) = outputs.meter.as_mut() {
        meter.tick(Timestamp::MAX);
    }
    Ok(kept)
}

/// The end of the run: what only the end revealed is published like live updates (proof
/// annotated, `--findings-out`, metrics, the callback), the summary gets the proxy's byte
/// counts and closes `--findings-out`, and everything is kept for the caller's report.
struct Publish<'a> {
    outputs: &'a mut Outputs,
    started: Instant,
    kept: CollectedFindings,
}

impl FindingSink for Publish<'_> {
    fn begin(&mut self, sources: &SourceTable) -> io::Result<()> {
        self.kept.begin(sources)
    }
    fn finding(&mut self, finding: &Finding) -> io::Result<()> {
        let mut finding = [finding.clone()];
        self.outputs.publish(&mut finding)?;
        let [finding] = finding;
        self.kept.finding(&finding)
    }
    fn finish(&mut self, summary: &RunSummary) -> io::Result<()> {
        let metrics = &self.outputs.metrics;
        let mut summary = summary.clone();
        summary.bytes = metrics.bytes_from_clients.get() + metrics.bytes_from_server.get();
        summary.elapsed_ms = self.started.elapsed().as_millis() as u64;
        if let Some(file) = self.outputs.file.as_mut() {
            file.finish(&summary)?;
        }
        self.kept.finish(&summary)
    }
}

/// Sets the event's value links (see `evidence::ClientResults`). Linked here, where every
/// connection's executions pass in order: a fan-out's children and their parent run on
/// different connections of one client.
fn link_values(links: &mut ClientResults, metrics: &Metrics, observed: &mut Observed) {
    if observed.values.is_empty() {
        return;
    }
    let session = &observed.session;
    let client = client_digest(
        session.user.as_deref(),
        session.database.as_deref(),
        session.application.as_deref(),
    );
    let resets = links.resets;
    observed.links = links.link(
        client,
        session,
        observed.time,
        observed.shared_sql(),
        &observed.values,
    );
    if links.resets != resets {
        metrics.evicted("value_link_clients", MAX_CLIENTS as u64);
    }
}

fn observe(detector: &mut dyn LiveDetector, outputs: &mut Outputs, mut observed: Box<Observed>) {
    link_values(&mut outputs.links, &outputs.metrics, &mut observed);
    outputs.metrics.statements.inc();
    if observed.error.is_some() {
        outputs.metrics.statement_errors.inc();
    }
    let view = observed.as_event();
    let scanned = detector.event(&view);
    if let Some(meter) = outputs.meter.as_mut() {
        meter.event(&view, &scanned);
    }
    if let Some(evidence) = outputs.evidence.as_mut() {
        evidence.event(&observed, scanned.fingerprint);
    }
    drop(scanned);
    if let Some(tap) = &outputs.tap {
        let _ = tap.send(observed.to_owned_event());
    }
}

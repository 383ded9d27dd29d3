//! The guard: one detection pipeline shared by every request of the program, the requests
//! open right now, and where findings go (tracing events, callbacks, a JSON lines file).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use querycomb_core::{
    Finding, FindingSink, Location, QueryEvent, RequestKind, RunSummary, SourceTable, Timestamp,
};
use querycomb_detect::detectors::over_budget::Budgets;
use querycomb_detect::hash::FastMap;
use querycomb_detect::unit::{RequestHeader, Stmt, Unit};
use querycomb_detect::{Config, Pipeline};
use querycomb_report::json::JsonLinesSink;
use querycomb_sql::Dialect;

use crate::binds;
use crate::budgets::{load_budgets, BudgetError};
use crate::layer::GuardLayer;
use crate::sqlx_event::SqlxStatement;

/// Span name of the request spans the guard creates itself ([`Guard::request_span`]).
pub(crate) const OWN_SPAN: &str = "querycomb.request";
/// Serials of the guard's units start here, far from the grouping stage's own.
const FIRST_SERIAL: u64 = 1 << 62;
/// Statements kept for a request before they are pre-sized (most requests run fewer).
const STMTS_CAPACITY: usize = 32;

type FindingCallback = Arc<dyn Fn(&Finding) + Send + Sync>;

/// Settings of a [`Guard`]; start from [`Guard::builder`].
pub struct GuardBuilder {
    config: Config,
    dialect: Dialect,
    request_spans: Vec<String>,
    route_fields: Vec<String>,
    warn: bool,
    findings_file: Option<PathBuf>,
    callbacks: Vec<FindingCallback>,
}

impl GuardBuilder {
    /// Detection settings (thresholds, allow lists, severities), as `[detect]` in
    /// `querycomb.toml` sets them for the CLI. Budgets set before are kept.
    pub fn config(mut self, config: Config) -> Self {
        let budgets = std::mem::take(&mut self.config.budgets);
        self.config = config;
        if self.config.budgets.routes.is_empty() && self.config.budgets.default.is_unlimited() {
            self.config.budgets = budgets;
        }
        self
    }

    /// SQL dialect of the statements (default PostgreSQL; `Dialect::MySql` for MySQL and
    /// MariaDB drivers, `Dialect::Ansi` for SQLite's).
    pub fn dialect(mut self, dialect: Dialect) -> Self {
        self.dialect = dialect;
        self
    }

    /// Per-route statement budgets: a request over its budget is an `over_budget` finding.
    pub fn budgets(mut self, budgets: Budgets) -> Self {
        self.config.budgets = budgets;
        self
    }

    /// Budgets from querycomb's budgets file (the `--budgets` file of `querycomb run`).
    pub fn budgets_file(self, path: impl Into<PathBuf>) -> Result<Self, BudgetError> {
        let budgets = load_budgets(path.into())?;
        Ok(self.budgets(budgets))
    }

    /// Also treat spans with this name as requests (besides `request`, the name of
    /// tower-http's and async-graphql's request spans, and `querycomb.request`). The
    /// outermost request span around a statement is its request.
    pub fn request_span(mut self, name: impl Into<String>) -> Self {
        self.request_spans.push(name.into());
        self
    }

    /// Also read the route from this span field (first found wins; defaults: `route`,
    /// `http.route` (prefixed with the `method`/`http.request.method` field), `otel.name`,
    /// then `method` + the path of `uri` as tower-http's default span has them).
    pub fn route_field(mut self, name: impl Into<String>) -> Self {
        self.route_fields.insert(0, name.into());
        self
    }

    /// Emit each new or grown finding as a `WARN` event on target `querycomb_guard`
    /// (default on).
    pub fn warn_events(mut self, on: bool) -> Self {
        self.warn = on;
        self
    }

    /// Write findings as JSON lines (schema `querycomb.findings/v1`) to `path`: what
    /// `querycomb diff` and `--baseline` read. The summary line is written by
    /// [`Guard::finish`].
    pub fn findings_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.findings_file = Some(path.into());
        self
    }

    /// Call `callback` with every new or grown finding, when its request ends.
    pub fn on_finding(mut self, callback: impl Fn(&Finding) + Send + Sync + 'static) -> Self {
        self.callbacks.push(Arc::new(callback));
        self
    }

    /// Fails only when the findings file cannot be created.
    pub fn build(self) -> io::Result<Guard> {
        let json = match &self.findings_file {
            Some(path) => {
                let file = File::create(path).map_err(|e| {
                    io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display()))
                })?;
                let mut sink = JsonLinesSink::new(BufWriter::new(file));
                let mut sources = SourceTable::default();
                sources.add("querycomb-guard");
                sink.begin(&sources)?;
                Some(Mutex::new(sink))
            }
            None => None,
        };
        let pipeline = Pipeline::new(self.config, self.dialect);
        let dialect = self.dialect;
        Ok(Guard {
            inner: Arc::new(Inner {
                dialect,
                request_spans: self.request_spans,
                route_fields: self.route_fields,
                warn: self.warn,
                callbacks: self.callbacks,
                json,
                state: Mutex::new(State {
                    pipeline,
                    open: FastMap::default(),
                    pending: HashMap::new(),
                    next_serial: FIRST_SERIAL,
                }),
            }),
        })
    }
}

/// The in-process detector. Cheap to clone (a handle); [`Guard::layer`] gives the tracing
/// layer that feeds it.
#[derive(Clone)]
pub struct Guard {
    pub(crate) inner: Arc<Inner>,
}

impl Default for Guard {
    fn default() -> Self {
        Guard::new()
    }
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard").finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    dialect: Dialect,
    pub request_spans: Vec<String>,
    pub route_fields: Vec<String>,
    warn: bool,
    callbacks: Vec<FindingCallback>,
    json: Option<Mutex<JsonLinesSink<BufWriter<File>>>>,
    state: Mutex<State>,
}

struct State {
    pipeline: Pipeline,
    /// Requests whose span is open, by the key their span's mark carries.
    open: FastMap<u64, OpenRequest>,
    /// Handles of [`Guard::request_span`] spans the layer has not seen created yet.
    pending: HashMap<u64, Arc<Tally>>,
    next_serial: u64,
}

struct OpenRequest {
    route: Option<String>,
    stmts: Vec<Stmt>,
    statements: u32,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
    tally: Option<Arc<Tally>>,
}

/// What a request span's handle sees: its statements as they run, its report at the end.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub statements: AtomicU32,
    /// The layer saw the span created (else nothing is being counted).
    pub attached: AtomicBool,
    report: Mutex<Option<RequestReport>>,
}

/// One request as the guard saw it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestReport {
    pub route: Option<String>,
    /// Statements counted (transaction control and session bookkeeping are not).
    pub statements: u32,
    /// Findings of this request: new ones, and known ones it showed again (their evidence
    /// is from the first request that showed them; `occurrences` counts this one).
    pub findings: Vec<Finding>,
}

impl Guard {
    pub fn builder() -> GuardBuilder {
        GuardBuilder {
            config: Config::default(),
            dialect: Dialect::Postgres,
            request_spans: vec![OWN_SPAN.to_owned(), "request".to_owned()],
            route_fields: Vec::new(),
            warn: true,
            findings_file: None,
            callbacks: Vec::new(),
        }
    }

    /// Default detection settings, warn events on, no file.
    pub fn new() -> Guard {
        match Guard::builder().build() {
            Ok(guard) => guard,
            // Only a findings file can fail, and there is none.
            Err(e) => unreachable!("a guard without a findings file failed to build: {e}"),
        }
    }

    /// The tracing layer feeding this guard.
    pub fn layer(&self) -> GuardLayer {
        GuardLayer::new(self.clone())
    }

    /// Every finding so far, de-duplicated, with current counts.
    pub fn findings(&self) -> Vec<Finding> {
        self.inner.lock().pipeline.findings()
    }

    /// Totals so far: statements, requests, findings, per-shape and per-route statistics.
    pub fn summary(&self) -> RunSummary {
        let mut summary = self.inner.lock().pipeline.summary();
        summary.inputs = vec!["querycomb-guard".to_owned()];
        summary
    }

    /// Requests open right now.
    pub fn open_requests(&self) -> usize {
        self.inner.lock().open.len()
    }

    /// A span that makes a request of everything run inside it (`.instrument(span)`), and a
    /// handle that counts its statements as they run and gets its report when it ends.
    /// Works while this guard's layer is part of the current subscriber.
    pub fn request_span(&self, route: &str) -> (tracing::Span, RequestHandle) {
        let tally = Arc::new(Tally::default());
        let token = next_key();
        self.inner.lock().pending.insert(token, Arc::clone(&tally));
        let span = tracing::info_span!(
            target: "querycomb_guard",
            "querycomb.request",
            route = route,
            querycomb.token = token
        );
        let handle = RequestHandle {
            guard: self.clone(),
            tally,
            token,
        };
        (span, handle)
    }

    /// Writes the summary line to the findings file, if there is one. Call once, at the end.
    pub fn finish(&self) -> io::Result<()> {
        let summary = self.summary();
        match &self.inner.json {
            Some(json) => lock(json).finish(&summary),
            None => Ok(()),
        }
    }
}

/// The handle of a [`Guard::request_span`].
#[derive(Debug)]
pub struct RequestHandle {
    guard: Guard,
    tally: Arc<Tally>,
    /// Also the key of its request while open.
    token: u64,
}

impl RequestHandle {
    /// Statements run inside the span so far.
    pub fn statements(&self) -> u32 {
        self.tally.statements.load(Ordering::Relaxed)
    }

    /// Whether the guard's layer saw the span (false: the layer is not installed in the
    /// subscriber that was current when the span was made, and nothing is counted).
    pub fn observed(&self) -> bool {
        self.tally.attached.load(Ordering::Acquire)
    }

    /// Ends the request now (even if clones of its span live on) and returns its report;
    /// `None` when the layer never saw the span. Statements still arriving in the span
    /// afterwards are not counted. A span nested in another request span is part of that
    /// request: its report has its statement count and no findings (the outer one has them).
    pub fn finish(self) -> Option<RequestReport> {
        if !self.observed() {
            return None;
        }
        self.guard.inner.finish_request(self.token);
        let report = lock(&self.tally.report).take();
        Some(report.unwrap_or_else(|| RequestReport {
            route: None,
            statements: self.statements(),
            findings: Vec::new(),
        }))
    }
}

impl Drop for RequestHandle {
    fn drop(&mut self) {
        self.guard.inner.lock().pending.remove(&self.token);
    }
}

/// What the layer records about one request span.
pub(crate) struct RequestMark {
    /// `Some` for the outermost request span: the unit of work its statements go to.
    pub unit: Option<u64>,
    /// The handle's counter, for spans made by [`Guard::request_span`].
    pub tally: Option<Arc<Tally>>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub fn is_request_span(&self, name: &str) -> bool {
        self.request_spans.iter().any(|n| n == name)
    }

    /// A request span was created: open its unit (when it is the outermost) and attach the
    /// handle waiting for it (`token`: the span was made by [`Guard::request_span`]).
    /// Keys are never reused, unlike span ids, so a late [`RequestHandle::finish`] cannot
    /// end another request.
    pub fn open_request(
        &self,
        outermost: bool,
        route: Option<String>,
        token: Option<u64>,
    ) -> RequestMark {
        let mut state = self.lock();
        let tally = token.and_then(|t| state.pending.remove(&t));
        if let Some(tally) = &tally {
            tally.attached.store(true, Ordering::Release);
        }
        let key = match (&tally, token) {
            (Some(_), Some(token)) => token,
            _ => next_key(),
        };
        if outermost {
            state.open.insert(
                key,
                OpenRequest {
                    route,
                    stmts: Vec::with_capacity(STMTS_CAPACITY),
                    statements: 0,
                    start: None,
                    end: None,
                    tally: tally.clone(),
                },
            );
        }
        RequestMark {
            unit: outermost.then_some(key),
            tally,
        }
    }

    /// The route field of an open request was recorded after its span was made.
    pub fn set_route(&self, key: u64, route: String) {
        if let Some(open) = self.lock().open.get_mut(&key) {
            open.route = Some(route);
        }
    }

    /// One statement ran inside the request `key`. Returns whether it counts (transaction
    /// control and bookkeeping do not).
    pub fn statement(&self, key: u64, statement: &SqlxStatement<'_>) -> bool {
        let sql = statement.sql();
        let time = now_us();
        let binds = binds::scan(sql, self.dialect);
        let mut guard = self.lock();
        let state = &mut *guard;
        let Some(open) = state.open.get_mut(&key) else {
            return false;
        };
        let event = QueryEvent {
            location: Location {
                line: key,
                byte: u64::from(open.statements),
                ..Location::default()
            },
            time: Some(time),
            duration_us: statement.elapsed_us,
            sql,
            rows: statement.rows(),
            ..QueryEvent::default()
        };
        let Some(mut stmt) = state.pipeline.statement(&event) else {
            return false;
        };
        if binds.placeholders {
            // Diesel's events carry a hash of the bind values; sqlx's carry none, so each of
            // its executions is a new parameter set.
            let values = statement
                .values
                .unwrap_or_else(|| u64::from(open.statements) + 1);
            stmt.values = stmt
                .values
                .wrapping_add(values.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        }
        if binds.array {
            // An array of keys of unknown length: a batch, not a loop iteration.
            stmt.list = u32::MAX;
        }
        open.start.get_or_insert(time);
        open.end = Some(time);
        open.statements = open.statements.saturating_add(1);
        open.stmts.push(stmt);
        let limit = state.pipeline.config().max_statements_per_unit.max(1) as usize;
        if open.stmts.len() < limit {
            return true;
        }
        // A very long request is analysed in batches, like the CLI's units.
        let serial = next_serial(&mut state.next_serial);
        let stmts = std::mem::replace(&mut open.stmts, Vec::with_capacity(STMTS_CAPACITY));
        let unit = unit_of(key, serial, open, stmts, false);
        state.pipeline.analyse_unit(&unit);
        let updates = state.pipeline.take_updates();
        drop(guard);
        self.publish(&updates);
        true
    }

    /// The request `key` ended: run the detectors on it and publish what they found.
    pub fn finish_request(&self, key: u64) {
        let mut state = self.lock();
        let Some(mut open) = state.open.remove(&key) else {
            return;
        };
        let serial = next_serial(&mut state.next_serial);
        let stmts = std::mem::take(&mut open.stmts);
        let unit = unit_of(key, serial, &open, stmts, true);
        state.pipeline.analyse_unit(&unit);
        let findings = state.pipeline.take_updates();
        drop(state);
        self.publish(&findings);
        if let Some(tally) = open.tally {
            *lock(&tally.report) = Some(RequestReport {
                route: open.route,
                statements: open.statements,
                findings,
            });
        }
    }

    /// Sends findings to the tracing events, the callbacks and the file. Called without the
    /// state lock: a callback or a subscriber may come back into the guard.
    fn publish(&self, findings: &[Finding]) {
        for finding in findings {
            if self.warn {
                warn_event(finding);
            }
            for callback in &self.callbacks {
                callback(finding);
            }
            if let Some(json) = &self.json {
                if let Err(e) = lock(json).finding(finding) {
                    tracing::error!(target: "querycomb_guard", "cannot write a finding to the findings file: {e}");
                }
            }
        }
    }
}

fn warn_event(finding: &Finding) {
    let child = finding.children.first();
    tracing::warn!(
        target: "querycomb_guard",
        kind = finding.kind.id(),
        signature = %finding.signature,
        route = finding.request.route.as_deref().unwrap_or(""),
        count = finding.count,
        occurrences = finding.occurrences,
        parent = finding.parent.as_ref().map_or("", |p| p.normalized.as_str()),
        child = child.map_or("", |c| c.normalized.as_str()),
        suggestion = finding.suggestion.as_deref().unwrap_or(""),
        "{}",
        finding.message
    );
}

fn unit_of(key: u64, serial: u64, open: &OpenRequest, stmts: Vec<Stmt>, complete: bool) -> Unit {
    Unit {
        header: RequestHeader {
            serial,
            kind: if open.route.is_some() {
                RequestKind::Route
            } else {
                RequestKind::Burst
            },
            trace_id: None,
            route: open.route.clone(),
            session: format!("request-{key}"),
            start: open.start,
            end: open.end,
            statements: open.statements,
            location: Location {
                line: key,
                ..Location::default()
            },
        },
        stmts,
        complete,
        examples: FastMap::default(),
        keys: FastMap::default(),
    }
}

/// Keys of requests and tokens of handles: unique in the process, so that a span made by
/// one guard is never taken for another guard's (tests run several at once).
fn next_key() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn next_serial(counter: &mut u64) -> u64 {
    let serial = *counter;
    *counter += 1;
    serial
}

fn now_us() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// A poisoned lock still holds consistent data here (every critical section leaves it whole),
/// and a panicking test must not take the guard down with it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

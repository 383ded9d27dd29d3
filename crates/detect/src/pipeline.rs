//! The detection stage as one [`EventSink`]: fingerprint each event, place it in a unit of
//! work, and when units close run the detectors, de-duplicate into findings and update the
//! statistics.
//!
//! Per event (the hot path, millions per second): one `scan()` of the SQL (skipped for
//! transaction control and bookkeeping, recognised by their first words, and for a text seen
//! recently, whose scan is remembered), one lookup of the
//! shape, one of the session, a look at the sqlcommenter comment at either end, a push of a
//! fixed-size record. Describing a shape, allocating strings and running detectors happen
//! once per new shape or per finished unit.

use std::borrow::Cow;
use std::io;

use querycomb_core::{
    CollectedFindings, EventSink, Finding, FindingKind, FindingSink, InputError, Location,
    QueryEvent, RequestKind, RunSummary, Scanned, SourceTable, Timestamp,
};
use querycomb_sql::class::{Marker, Purpose};
use querycomb_sql::{comment, Dialect, Fingerprinter};

use crate::catalog::{Catalog, Role};
use crate::config::{Config, KindLimits, Thresholds};
use crate::control::{is_rollback, quick_marker, quick_role};
use crate::detectors::{detect_all, Candidate, UnitAnalysis, DETECTORS};
use crate::findings::Findings;
use crate::hash::{params_array_len, values_hash};
use crate::scan_cache::ScanCache;
use crate::stats::RouteStats;
use crate::unit::{Grouper, GroupingLimits, Incoming, Key, Stmt, Unit};

/// Example parameter sets kept per shape and request with `show_params`.
const EXAMPLES_PER_SHAPE: usize = 3;
/// Executions whose values are kept per shape and request with `capture_keys`: enough to
/// explain a batch of that many keys (longer key lists should be chunked anyway).
const KEYS_PER_SHAPE: usize = 1000;
/// Longest example kept (raw SQL when a statement had no bind parameters).
const EXAMPLE_CHARS: usize = 200;

/// One finding in one request, before de-duplication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    pub kind: FindingKind,
    /// Repetitions, as in [`Finding::count`].
    pub count: u32,
    pub request_kind: RequestKind,
    pub session: String,
    /// Where each repeated statement was.
    pub children: Vec<Location>,
}

/// Events in, findings out.
pub struct Pipeline {
    config: Config,
    /// The run's dialect, for events whose source does not name their database system.
    dialect: Dialect,
    /// One per dialect seen: the run's first, others made when an event's database system
    /// (`Context::db_system`) reads in another.
    fingerprinters: Vec<Fingerprinter>,
    scans: ScanCache,
    /// The scan cache's slot holding the current event's text.
    scan_slot: Option<usize>,
    /// The current event's fingerprint, once scanned (see [`Pipeline::event_scanned`]).
    scanned_fingerprint: Option<u64>,
    catalog: Catalog,
    grouper: Grouper,
    findings: Findings,
    routes: RouteStats,
    statements: u64,
    /// Statements left out as housekeeping / tooling (see `Config::include_tooling`).
    housekeeping: u64,
    tooling: u64,
    requests: u64,
    malformed: u64,
    candidates: Vec<Candidate>,
    occurrences: Vec<Occurrence>,
}

impl Pipeline {
    /// `dialect` is used unless `config.dialect` names one.
    pub fn new(config: Config, dialect: Dialect) -> Pipeline {
        let dialect = config.dialect.map_or(dialect, |d| d.dialect());
        let limits = GroupingLimits {
            idle_gap_us: config.idle_gap_us(),
            max_statements: (config.max_statements_per_unit as usize).max(1),
            examples_per_shape: EXAMPLES_PER_SHAPE,
            keys_per_shape: KEYS_PER_SHAPE,
        };
        Pipeline {
            dialect,
            fingerprinters: vec![Fingerprinter::new(dialect)],
            scans: ScanCache::default(),
            scan_slot: None,
            scanned_fingerprint: None,
            catalog: Catalog::default(),
            grouper: Grouper::new(limits),
            findings: Findings::default(),
            routes: RouteStats::new(config.max_routes),
            statements: 0,
            housekeeping: 0,
            tooling: 0,
            requests: 0,
            malformed: 0,
            candidates: Vec::new(),
            occurrences: Vec::new(),
            config,
        }
    }

    /// Findings that are new or have grown (more occurrences, higher severity) since the last
    /// call. For live sources: call it after `tick` to print what finished requests showed.
    pub fn take_updates(&mut self) -> Vec<Finding> {
        self.findings.take_updates()
    }

    /// Closes every open unit, runs the detectors over them, then pushes the run through
    /// `sink`: `begin` with `sources`, each de-duplicated finding in order of first
    /// appearance, and `finish` with the summary after `complete` filled in what only the
    /// caller knows (inputs, bytes, malformed records, elapsed time). This is how findings
    /// leave detection in every command.
    pub fn finish_into(
        mut self,
        sources: &SourceTable,
        sink: &mut dyn FindingSink,
        complete: impl FnOnce(&mut RunSummary),
    ) -> io::Result<()> {
        self.close_all();
        let mut summary = self.summary();
        complete(&mut summary);
        sink.begin(sources)?;
        for finding in self.findings.into_findings() {
            sink.finding(&finding)?;
        }
        sink.finish(&summary)
    }

    /// [`Pipeline::finish_into`] a [`CollectedFindings`]: the findings as values, for tests
    /// and in-process callers.
    pub fn finish(self) -> CollectedFindings {
        self.finish_with_occurrences().0
    }

    /// [`Pipeline::finish`], and each finding in each request it was found in (empty
    /// unless `Config::keep_occurrences`).
    pub fn finish_with_occurrences(mut self) -> (CollectedFindings, Vec<Occurrence>) {
        self.close_all();
        let occurrences = std::mem::take(&mut self.occurrences);
        let mut collected = CollectedFindings::default();
        // Collecting into memory cannot fail.
        let _ = self.finish_into(&SourceTable::default(), &mut collected, |_| {});
        (collected, occurrences)
    }

    /// Closes every open unit and runs the detectors over what they held.
    fn close_all(&mut self) {
        self.grouper.finish();
        self.analyse_ready();
    }

    /// Totals so far (live mode: metrics). `inputs`, `bytes`, `records` and `elapsed_ms` are
    /// the caller's to fill.
    pub fn summary(&self) -> RunSummary {
        RunSummary {
            statements: self.statements,
            requests: self.requests,
            malformed: self.malformed,
            findings: self.findings.len() as u64,
            findings_by_kind: self.findings.by_kind(),
            wasted_us: self.findings.wasted_us(),
            fingerprints: self.catalog.top_stats(self.config.max_fingerprint_stats),
            routes: self.routes.to_stats(),
            housekeeping: self.housekeeping,
            tooling: self.tooling,
            ..RunSummary::default()
        }
    }

    /// Every finding so far, with current counts.
    pub fn findings(&self) -> Vec<Finding> {
        self.findings.snapshot()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Distinct statement shapes seen so far.
    pub fn shapes(&self) -> usize {
        self.catalog.len()
    }

    /// Findings kept so far (distinct signatures).
    pub fn findings_len(&self) -> usize {
        self.findings.len()
    }

    /// Units of work open right now.
    pub fn open_units(&self) -> usize {
        self.grouper.open_units()
    }

    /// Statements the open units hold right now.
    pub fn open_statements(&self) -> usize {
        self.grouper.open_statements()
    }

    /// Sessions remembered right now (idle ones are forgotten).
    pub fn tracked_sessions(&self) -> usize {
        self.grouper.tracked_sessions()
    }

    /// For sources that group statements into units of work themselves (the in-process
    /// guard knows each request's span): fingerprints and counts one statement and returns
    /// the record to keep in the caller's unit, or `None` for transaction control and
    /// bookkeeping, which are not counted. Pair with [`Pipeline::analyse_unit`].
    pub fn statement(&mut self, event: &QueryEvent<'_>) -> Option<Stmt> {
        self.scan_slot = None;
        if quick_role(event.sql).is_some() {
            return None;
        }
        self.fingerprint(event).1
    }

    /// Runs the detectors over a unit the caller grouped itself, as if the grouping stage had
    /// closed it. `unit.header.serial` must be unique within the run and must not collide
    /// with the grouping stage's own serials (they count up from 0: start elsewhere).
    pub fn analyse_unit(&mut self, unit: &Unit) {
        self.analyse(unit);
    }

    /// Scans the statement, interns its shape and counts it; the record the detectors keep
    /// when it is a query, and the unit boundary its class marks.
    fn fingerprint(&mut self, event: &QueryEvent<'_>) -> (Role, Option<Stmt>, Marker) {
        let dialect = self.dialect_of(event);
        let index = match self
            .fingerprinters
            .iter()
            .position(|f| f.dialect() == dialect)
        {
            Some(index) => index,
            None => {
                self.fingerprinters.push(Fingerprinter::new(dialect));
                self.fingerprinters.len() - 1
            }
        };
        let Some(fingerprinter) = self.fingerprinters.get_mut(index) else {
            return (Role::Query, None, Marker::None);
        };
        let (scan, slot) = self.scans.scan(fingerprinter, event.sql);
        self.scan_slot = slot;
        self.scanned_fingerprint = Some(scan.fingerprint);
        let fp = self
            .catalog
            .intern(fingerprinter, &scan, event.sql, &self.config);
        let Some(entry) = self.catalog.get_mut(fp) else {
            return (Role::Query, None, Marker::None);
        };
        let marker = entry.class.marker;
        if entry.role != Role::Query {
            return (entry.role, None, marker);
        }
        if entry.is_tooling() && !self.config.include_tooling {
            match entry.class.purpose {
                Purpose::Tooling => self.tooling += 1,
                _ => self.housekeeping += 1,
            }
            return (Role::Bookkeeping, None, marker);
        }
        self.statements += 1;
        entry.calls += 1;
        entry.rows = entry.rows.saturating_add(event.rows.unwrap_or(0));
        if let Some(us) = event.duration_us {
            entry.total_us = entry.total_us.saturating_add(us);
            entry.timed_calls += 1;
        }
        let context = &event.context;
        if entry.source_location.is_none() {
            entry.source_location = context.code.display();
        }
        entry.truncated |= context.truncated;
        if entry.service.is_none() {
            entry.service = context.service.map(str::to_owned);
        }
        if let Some(resolver) = context.resolver {
            entry.note_resolver(resolver, context.language);
        }
        if context.operation == querycomb_core::Operation::HttpCall && !entry.http {
            // The source's text is already the call's shape (`GET http://api/users/{id}`):
            // shown as it is, not as SQL.
            entry.http = true;
            entry.shape.normalized = event.sql.to_owned();
        }
        let values = if context.params_unknown && event.params.is_none() {
            // Unknown values cannot be shown equal: count each execution as its own set.
            values_hash(scan.values, Some(&self.statements.to_string()))
        } else {
            values_hash(scan.values, event.params)
        };
        let stmt = Stmt {
            fp,
            list: scan.max_list.max(params_array_len(event.params)),
            values,
            time: event.time,
            duration_us: event.duration_us,
            rows: event.rows,
            result_bytes: event.result_bytes,
            location: event.location,
            allow: scan.allow,
            span: span_id(context.span_id),
            parent_span: span_id(context.parent_span_id),
            uses_previous_result: event.uses_previous_result,
            paging: entry.paging,
            result: event.links.result.unwrap_or(0),
            parent_result: event.links.parent_result.unwrap_or(0),
        };
        (Role::Query, Some(stmt), marker)
    }

    /// The nearest dialect of the event's database system when its source names one, else
    /// the run's.
    fn dialect_of(&self, event: &QueryEvent<'_>) -> Dialect {
        event
            .context
            .db_system
            .and_then(Dialect::for_db_system)
            .unwrap_or(self.dialect)
    }

    fn analyse_ready(&mut self) {
        let ready: Vec<Unit> = self.grouper.drain().collect();
        for unit in &ready {
            self.analyse(unit);
        }
    }

    fn analyse(&mut self, unit: &Unit) {
        let header = &unit.header;
        if unit.complete {
            self.requests += 1;
            self.routes.record_timed(
                header.route.as_deref(),
                header.statements,
                header.start.zip(header.end),
            );
        }
        for stmt in &unit.stmts {
            if let Some(entry) = self.catalog.get_mut(stmt.fp) {
                if entry.last_unit != header.serial {
                    entry.last_unit = header.serial;
                    entry.requests += 1;
                }
            }
        }
        if self.config.route_allowed(header.route.as_deref()) {
            return;
        }
        let thresholds = self.config.thresholds_for(header.route.as_deref());
        if too_small_to_matter(unit, &thresholds, &self.config.limits) {
            return;
        }
        let analysis = UnitAnalysis::new(unit, &self.catalog, thresholds, &self.config.limits);
        self.candidates.clear();
        detect_all(&analysis, &mut self.candidates);
        for candidate in &self.candidates {
            self.findings.record(candidate, &analysis, &self.config);
            if self.config.keep_occurrences {
                self.occurrences.push(Occurrence {
                    kind: candidate.kind,
                    count: candidate.count,
                    request_kind: header.kind,
                    session: header.session.clone(),
                    children: unit
                        .stmts
                        .iter()
                        .filter(|s| candidate.repeats(s))
                        .map(|s| s.location)
                        .collect(),
                });
            }
        }
        if !unit.complete {
            self.carry_parents_over(unit);
        }
    }

    /// Loops that go on into the next batch of a long unit keep their parent.
    fn carry_parents_over(&mut self, unit: &Unit) {
        let mut parents: Vec<Stmt> = Vec::new();
        for index in self.candidates.iter().filter_map(|c| c.parent) {
            if let Some(stmt) = unit.stmts.get(index) {
                if !parents.iter().any(|p| p.fp == stmt.fp) {
                    parents.push(*stmt);
                }
            }
        }
        self.grouper.carry_over(unit.header.serial, &parents);
    }
}

/// Most requests run a handful of statements: fewer than any repetition threshold and
/// without a budget to check, no detector can find anything, so the summary is not built.
fn too_small_to_matter(unit: &Unit, thresholds: &Thresholds, limits: &KindLimits) -> bool {
    let slow_count = match thresholds.slow_loop_total_ms {
        Some(_) => thresholds.slow_loop_count,
        None => thresholds.n_plus_one,
    };
    let fewest_repeats = thresholds
        .n_plus_one
        .min(slow_count)
        .min(thresholds.repeated_identical)
        .max(1) as usize;
    let rows_threshold = [thresholds.unbounded_rows, thresholds.cartesian_rows]
        .into_iter()
        .filter(|&t| t > 0)
        .min();
    let big_result =
        rows_threshold.is_some_and(|t| unit.stmts.iter().any(|s| s.rows.is_some_and(|r| r > t)));
    unit.stmts.len() < fewest_repeats
        && thresholds.budget.is_unlimited()
        && !big_result
        && !DETECTORS
            .iter()
            .any(|d| d.wants_short_unit(unit, thresholds, limits))
}

impl Pipeline {
    /// [`EventSink::event`], returning what its one scan of the statement read (fingerprint
    /// and unit-of-work key): live sources meter with it instead of reading the text again.
    pub fn event_scanned<'a>(&mut self, event: &QueryEvent<'a>) -> Scanned<'a> {
        self.scan_slot = None;
        self.scanned_fingerprint = None;
        let (role, stmt, marker) = match quick_role(event.sql) {
            Some(role) => {
                let marker = quick_marker(event.sql, role);
                if marker != Marker::None {
                    self.housekeeping += 1;
                }
                (role, None, marker)
            }
            None => self.fingerprint(event),
        };
        let whole_trace = event.context.trace_id.is_some();
        let key = match context_key(&event.context) {
            Some(key) => key,
            None => {
                let tagged = self
                    .scans
                    .key(self.scan_slot, event.sql, |sql| key_of(&comment::tags(sql)));
                // A route known from outside the SQL (`querycomb run`: the test and phase)
                // stands in for tags the statement does not carry.
                match (tagged, event.route) {
                    (Key::None | Key::Inherit, Some(route)) => Key::Route(route.into()),
                    (key, _) => key,
                }
            }
        };
        let key = match key {
            Key::None if is_named_prepared(event.prepared_name) => Key::Inherit,
            key => key,
        };
        let scanned = Scanned {
            fingerprint: self.scanned_fingerprint,
            trace_id: match &key {
                Key::Trace { text, .. } => Some(Cow::Borrowed(*text)),
                _ => None,
            },
            route: match &key {
                Key::Trace { route, .. } => route.clone(),
                Key::Route(route) => Some(route.clone()),
                Key::None | Key::Inherit => None,
            },
        };
        let example = if self.config.show_params && role == Role::Query {
            Some(example_of(event))
        } else {
            None
        };
        let keys = if self.config.capture_keys && role == Role::Query {
            querycomb_sql::param_values(event.sql, event.params, self.dialect_of(event))
        } else {
            None
        };
        self.grouper.push(Incoming {
            session: event.session,
            time: event.time,
            location: event.location,
            role,
            marker,
            rollback: role == Role::End && is_rollback(event.sql),
            client: [event.user, event.database, event.application],
            key,
            stmt,
            example,
            keys,
            whole_trace,
        });
        if self.grouper.has_ready() {
            self.analyse_ready();
        }
        scanned
    }
}

impl EventSink for Pipeline {
    fn event(&mut self, event: &QueryEvent<'_>) {
        self.event_scanned(event);
    }

    fn malformed(&mut self, _error: InputError) {
        self.malformed += 1;
    }

    fn trace_complete(&mut self, trace_id: &str) {
        if let Ok(id) = u128::from_str_radix(trace_id, 16) {
            self.grouper.close_trace(id);
            if self.grouper.has_ready() {
                self.analyse_ready();
            }
        }
    }

    fn tick(&mut self, now: Timestamp) {
        self.grouper.tick(now);
        if self.grouper.has_ready() {
            self.analyse_ready();
        }
    }
}

/// Trace id first (across sessions), then route.
pub(crate) fn key_of<'a>(tags: &comment::Tags<'a>) -> Key<'a> {
    let (route, trace) = tags.route_and_trace_id();
    let trace = trace.and_then(|text| u128::from_str_radix(text, 16).ok().map(|id| (id, text)));
    match (trace, route) {
        (Some((id, text)), route) => Key::Trace { id, text, route },
        (None, Some(route)) => Key::Route(route),
        (None, None) => Key::None,
    }
}

/// The key a source gave as data (a trace's id and route): it wins over tags in the text.
fn context_key<'a>(context: &querycomb_core::Context<'a>) -> Option<Key<'a>> {
    let route = context.route.map(std::borrow::Cow::Borrowed);
    match context.trace_id {
        Some(text) => {
            let id = u128::from_str_radix(text, 16).ok()?;
            Some(Key::Trace { id, text, route })
        }
        None => route.map(Key::Route),
    }
}

/// A span id as a number (0 when absent or not hex).
fn span_id(text: Option<&str>) -> u64 {
    text.and_then(|t| u64::from_str_radix(t, 16).ok())
        .unwrap_or(0)
}

/// `P_0`, `_pg3_0`, `a1`: a statement prepared once and executed by name. Drivers that tag
/// at execution time cannot tag these (the text was fixed at Parse), so an untagged one is
/// not evidence of untagged work: it follows its session.
fn is_named_prepared(name: Option<&str>) -> bool {
    name.is_some_and(|n| !n.is_empty() && n != "<unnamed>")
}

/// Bind parameters as the source rendered them, else the statement itself (its literals are
/// its parameters), cut to a readable length.
fn example_of<'a>(event: &QueryEvent<'a>) -> &'a str {
    let text = event.params.unwrap_or(event.sql);
    match text.char_indices().nth(EXAMPLE_CHARS) {
        Some((cut, _)) => text.get(..cut).unwrap_or(text),
        None => text,
    }
}

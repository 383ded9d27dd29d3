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

use querycomb_core::{EventSink, Finding, InputError, QueryEvent, RunSummary, Timestamp};
use querycomb_sql::{comment, Dialect, Fingerprinter};

use crate::catalog::{Catalog, Role};
use crate::config::{Config, Thresholds};
use crate::control::quick_role;
use crate::detectors::{detect_all, Candidate, UnitAnalysis};
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

/// What a finished run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// De-duplicated findings, in order of first appearance.
    pub findings: Vec<Finding>,
    pub summary: RunSummary,
}

/// Events in, findings out.
pub struct Pipeline {
    config: Config,
    dialect: Dialect,
    fingerprinter: Fingerprinter,
    scans: ScanCache,
    /// The scan cache's slot holding the current event's text.
    scan_slot: Option<usize>,
    catalog: Catalog,
    grouper: Grouper,
    findings: Findings,
    routes: RouteStats,
    statements: u64,
    requests: u64,
    malformed: u64,
    candidates: Vec<Candidate>,
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
            fingerprinter: Fingerprinter::new(dialect),
            scans: ScanCache::default(),
            scan_slot: None,
            catalog: Catalog::default(),
            grouper: Grouper::new(limits),
            findings: Findings::default(),
            routes: RouteStats::new(config.max_routes),
            statements: 0,
            requests: 0,
            malformed: 0,
            candidates: Vec::new(),
            config,
        }
    }

    /// Findings that are new or have grown (more occurrences, higher severity) since the last
    /// call. For live sources: call it after `tick` to print what finished requests showed.
    pub fn take_updates(&mut self) -> Vec<Finding> {
        self.findings.take_updates()
    }

    /// Closes every open unit, runs the detectors over them and returns everything.
    pub fn finish(mut self) -> Analysis {
        self.grouper.finish();
        self.analyse_ready();
        let summary = self.summary();
        Analysis {
            findings: self.findings.into_findings(),
            summary,
        }
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

    /// Units of work open right now.
    pub fn open_units(&self) -> usize {
        self.grouper.open_units()
    }

    /// Sessions remembered right now (idle ones are forgotten).
    pub fn tracked_sessions(&self) -> usize {
        self.grouper.tracked_sessions()
    }

    /// Scans the statement, interns its shape and counts it; the record the detectors keep
    /// when it is a query.
    fn fingerprint(&mut self, event: &QueryEvent<'_>) -> (Role, Option<Stmt>) {
        let (scan, slot) = self.scans.scan(&mut self.fingerprinter, event.sql);
        self.scan_slot = slot;
        let fp = self
            .catalog
            .intern(&mut self.fingerprinter, &scan, event.sql, &self.config);
        let Some(entry) = self.catalog.get_mut(fp) else {
            return (Role::Query, None);
        };
        if entry.role != Role::Query {
            return (entry.role, None);
        }
        self.statements += 1;
        entry.calls += 1;
        entry.rows = entry.rows.saturating_add(event.rows.unwrap_or(0));
        if let Some(us) = event.duration_us {
            entry.total_us = entry.total_us.saturating_add(us);
            entry.timed_calls += 1;
        }
        let stmt = Stmt {
            fp,
            list: scan.max_list.max(params_array_len(event.params)),
            values: values_hash(scan.values, event.params),
            time: event.time,
            duration_us: event.duration_us,
            rows: event.rows,
            location: event.location,
            allow: scan.allow,
        };
        (Role::Query, Some(stmt))
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
            self.routes
                .record(header.route.as_deref(), header.statements);
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
        if too_small_to_matter(unit, &thresholds) {
            return;
        }
        let analysis = UnitAnalysis::new(unit, &self.catalog, thresholds);
        self.candidates.clear();
        detect_all(&analysis, &mut self.candidates);
        for candidate in &self.candidates {
            self.findings.record(candidate, &analysis, &self.config);
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
fn too_small_to_matter(unit: &Unit, thresholds: &Thresholds) -> bool {
    let fewest_repeats = thresholds
        .n_plus_one
        .min(thresholds.slow_loop_count)
        .min(thresholds.repeated_identical)
        .max(1) as usize;
    let rows_threshold = [thresholds.unbounded_rows, thresholds.cartesian_rows]
        .into_iter()
        .filter(|&t| t > 0)
        .min();
    let big_result =
        rows_threshold.is_some_and(|t| unit.stmts.iter().any(|s| s.rows.is_some_and(|r| r > t)));
    unit.stmts.len() < fewest_repeats && thresholds.budget.is_unlimited() && !big_result
}

impl Pipeline {}

impl EventSink for Pipeline {
    fn event(&mut self, event: &QueryEvent<'_>) {
        self.scan_slot = None;
        let (role, stmt) = match quick_role(event.sql) {
            Some(role) => (role, None),
            None => self.fingerprint(event),
        };
        let key = self
            .scans
            .key(self.scan_slot, event.sql, |sql| key_of(&comment::tags(sql)));
        let key = match key {
            Key::None if is_named_prepared(event.prepared_name) => Key::Inherit,
            key => key,
        };
        let example = if self.config.show_params && role == Role::Query {
            Some(example_of(event))
        } else {
            None
        };
        let keys = if self.config.capture_keys && role == Role::Query {
            querycomb_sql::param_values(event.sql, event.params, self.dialect)
        } else {
            None
        };
        self.grouper.push(Incoming {
            session: event.session,
            time: event.time,
            location: event.location,
            role,
            key,
            stmt,
            example,
            keys,
        });
        if self.grouper.has_ready() {
            self.analyse_ready();
        }
    }

    fn malformed(&mut self, _error: InputError) {
        self.malformed += 1;
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

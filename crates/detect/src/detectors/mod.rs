//! The detectors and what they share.
//!
//! A unit of work is summarised once ([`UnitAnalysis`]: per shape, how often it ran, with how
//! many distinct parameter sets, how long, how big its lists were) and every detector in
//! [`DETECTORS`] reads that summary and appends [`Candidate`]s.
//!
//! **One kind, one file.** A detector's file declares its kind (`KIND`, the id) and
//! everything said about it (`INFO`: title, base severity, SARIF rule, help, the HTML
//! after-fix text, a [`Limit`] it reads from `[detect.limits]`) and builds its findings'
//! messages. A new kind is one new file here plus one line in `registry!` (which declares
//! the module and lists it in [`DETECTORS`]); reports and SARIF rules read [`DETECTORS`]
//! (see [`crate::kinds`]), and the JSON schema's enum, the JSON docs' kind row and
//! docs/finding-kinds.md are generated from it by `tests/kind_registry.rs`
//! (`QUERYCOMB_BLESS=1`), which fails when they drift.
//!
//! Shared decisions, so that detectors agree:
//! - [`UnitAnalysis::loop_class`]: which kind of loop a repeated shape is, if any.
//! - [`UnitAnalysis::parent_for`]: which earlier statement drove a loop.

use querycomb_core::{FindingKind, KindInfo, QueryRef};
use querycomb_sql::Verb;

use crate::catalog::{Catalog, FpId, Role, ShapeEntry};
use crate::config::{KindLimits, Thresholds};
use crate::hash::{FastMap, FastSet};
use crate::unit::{Stmt, Unit};

/// One pattern found in one unit, before de-duplication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub kind: FindingKind,
    /// Index in the unit's statements of the query that drove the loop.
    pub parent: Option<usize>,
    /// The repeated shapes, in the order they first ran.
    pub children: Vec<FpId>,
    /// Executions of the child (iterations of the sequence for `mn_plus_one`).
    pub count: u32,
    /// All repeated statements (equals `count` unless there are several children).
    pub statements: u32,
    pub distinct_params: u32,
    /// The parameter set (values hash, [`Stmt::values`]) the children ran with, when only
    /// those executions of the shape are the finding's (`repeated_identical`'s most repeated
    /// set beside a stray one); `None`: every execution of the children.
    pub params: Option<u64>,
    /// Children's total duration, when any duration is known.
    pub total_us: Option<u64>,
    /// Most rows one execution returned, for kinds about result size (`unbounded_result`).
    pub rows: Option<u64>,
    /// Bytes of result rows that execution sent, for kinds about row width (`over_fetch`).
    pub result_bytes: Option<u64>,
}

impl Candidate {
    /// Every execution of one group's shape, driven by `parent`: the candidate of the
    /// single-shape kinds (a detector then sets what it measures, such as `rows`).
    pub fn of_group(kind: FindingKind, group: &Group, parent: Option<usize>) -> Candidate {
        Candidate {
            kind,
            parent,
            children: vec![group.fp],
            count: group.count,
            statements: group.count,
            distinct_params: group.distinct,
            params: None,
            total_us: group.total_us,
            rows: None,
            result_bytes: None,
        }
    }

    /// Whether `stmt` is one of the candidate's repeated statements.
    pub fn repeats(&self, stmt: &Stmt) -> bool {
        self.children.contains(&stmt.fp) && self.params.is_none_or(|v| v == stmt.values)
    }
}

/// A number a detector decides with, declared in the detector's own file (with its default
/// and the reason for it) and set by users under `[detect.limits]` in `querycomb.toml`. The
/// docs table of limits is generated from these declarations, like the kinds table.
#[derive(Debug)]
pub struct Limit {
    /// The key under `[detect.limits]`.
    pub key: &'static str,
    pub default: u64,
    /// What it limits, its default's reason, and what 0 does.
    pub doc: &'static str,
}

/// A detector: reads a unit's summary, appends what it finds, and says what its findings
/// mean.
pub trait Detector: Sync {
    /// Its kind's declaration: id, title, base severity, SARIF rule, help.
    fn info(&self) -> &'static KindInfo;

    /// The kind it reports.
    fn kind(&self) -> FindingKind {
        self.info().kind
    }

    fn detect(&self, unit: &UnitAnalysis<'_>, out: &mut Vec<Candidate>);

    /// The one-line message of a finding built from `candidate`.
    fn message(&self, parts: &MessageParts<'_>) -> String;

    /// Advice that replaces the batched rewrite (a memo rather than a batch, say); `None`
    /// keeps the rewrite of the children.
    fn advice(&self) -> Option<&'static str> {
        None
    }

    /// The limit this detector reads from `[detect.limits]`, if any.
    fn limit(&self) -> Option<&'static Limit> {
        None
    }

    /// Whether it may report in `unit` even though the unit is too short for any loop: a
    /// kind about single statements says yes when one of them could qualify. Units no
    /// detector asks for are skipped before they are summarised.
    fn wants_short_unit(
        &self,
        _unit: &Unit,
        _thresholds: &Thresholds,
        _limits: &KindLimits,
    ) -> bool {
        false
    }
}

/// Every limit a detector declares, in registry order.
pub fn limits() -> impl Iterator<Item = &'static Limit> {
    DETECTORS.iter().filter_map(|d| d.limit())
}

/// What a message is made of: the candidate and its resolved parent and children.
pub struct MessageParts<'a> {
    pub candidate: &'a Candidate,
    pub parent: Option<&'a QueryRef>,
    pub children: &'a [QueryRef],
    /// The request it was found in, for kinds whose message is about the request.
    pub unit: &'a UnitAnalysis<'a>,
    pub config: &'a crate::config::Config,
}

impl MessageParts<'_> {
    /// `orders loop: 25 × SELECT … FROM customers WHERE id = $1 after SELECT … (per_row)`.
    pub fn loop_message(&self, per_row: &str) -> String {
        let n = self.candidate.count;
        format!(
            "{}: {n} × {}{} ({per_row})",
            self.loop_name(),
            self.child(),
            self.after()
        )
    }

    /// `orders loop`, or `loop` without a parent table.
    pub fn loop_name(&self) -> String {
        match self.parent.and_then(|p| p.table.as_deref()) {
            Some(table) => format!("{table} loop"),
            None => "loop".to_owned(),
        }
    }

    /// The first child, shortened.
    pub fn child(&self) -> String {
        self.children
            .first()
            .map_or(String::new(), |c| crate::text::excerpt(&c.normalized))
    }

    /// ` after <parent>`, or nothing.
    pub fn after(&self) -> String {
        self.parent.map_or(String::new(), |p| {
            format!(" after {}", crate::text::excerpt(&p.normalized))
        })
    }
}

/// The detector that reports `kind`, if this build has one.
pub fn for_kind(kind: FindingKind) -> Option<&'static dyn Detector> {
    DETECTORS.iter().copied().find(|d| d.kind() == kind)
}

/// Declares each detector's module and lists it in [`DETECTORS`], so that a kind is
/// registered by one line: `module::DetectorType`.
macro_rules! registry {
    ($($module:ident :: $detector:ident),* $(,)?) => {
        $(pub mod $module;)*

        /// Every detector, in the order they run; also the order reports list kinds in.
        pub static DETECTORS: &[&dyn Detector] = &[$(&$module::$detector),*];
    };
}

registry! {
    n_plus_one::NPlusOne,
    n_plus_one_write::NPlusOneWrite,
    count_in_loop::CountInLoop,
    repeated_identical::RepeatedIdentical,
    mn_plus_one::MnPlusOne,
    over_budget::OverBudget,
    n_plus_one_http::NPlusOneHttp,
    unbounded_result::UnboundedResult,
    cartesian_explosion::CartesianExplosion,
    over_fetch::OverFetch,
}

/// Runs every detector over `unit`. A shape reported inside an `mn_plus_one` sequence is
/// not reported again as its own loop: one finding per loop, with all its children.
pub fn detect_all(unit: &UnitAnalysis<'_>, out: &mut Vec<Candidate>) {
    let start = out.len();
    for detector in DETECTORS {
        detector.detect(unit, out);
    }
    let in_sequences: FastSet<FpId> = out[start..]
        .iter()
        .filter(|c| c.kind == mn_plus_one::KIND)
        .flat_map(|c| c.children.iter().copied())
        .collect();
    if !in_sequences.is_empty() {
        let mut position = 0;
        out.retain(|c| {
            position += 1;
            let single_loop = [
                n_plus_one::KIND,
                count_in_loop::KIND,
                n_plus_one_write::KIND,
            ]
            .contains(&c.kind);
            position <= start
                || !single_loop
                || !c.children.iter().any(|fp| in_sequences.contains(fp))
        });
    }
}

/// Per-shape summary of one unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub fp: FpId,
    /// Index of its first execution.
    pub first: usize,
    pub count: u32,
    /// Distinct parameter sets.
    pub distinct: u32,
    /// Executions of its most frequent parameter set (the first in values order on a tie),
    /// its values hash ([`Stmt::values`]) and their total duration, when any is known.
    pub max_same: u32,
    pub same_values: u64,
    pub same_us: Option<u64>,
    pub total_us: Option<u64>,
    /// Longest list of any execution.
    pub max_list: u32,
    /// Most rows any execution returned or touched, when the source reported row counts.
    pub max_rows: Option<u64>,
    /// Some execution carried the inline `querycomb:allow` marker.
    pub marked: bool,
}

/// A write loop is one row per statement. A statement that carried several rows (a
/// multi-row `VALUES`, `UNNEST` of array parameters, `= ANY($1)`) or that the server says
/// touched several (`INSERT 0 4` in the proxy's `CommandComplete`) is already batched: a
/// loop of batches is not an N+1 write.
fn writes_rows_one_by_one(group: &Group) -> bool {
    group.max_list < 2 && group.max_rows.is_none_or(|rows| rows <= 1)
}

/// What kind of loop a repeated shape forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopClass {
    Read,
    Count,
    Write,
}

/// A unit of work with its per-shape summary, as detectors read it.
pub struct UnitAnalysis<'a> {
    pub unit: &'a Unit,
    pub catalog: &'a Catalog,
    pub thresholds: Thresholds,
    /// `[detect.limits]`: read through [`UnitAnalysis::limit`].
    pub limits: &'a KindLimits,
    /// One per shape, in order of first execution.
    pub groups: Vec<Group>,
    /// Executions per shape.
    counts: FastMap<FpId, u32>,
}

/// How far back a parent is looked for: a loop's driver is close before it.
const PARENT_LOOKBACK: usize = 2000;

impl<'a> UnitAnalysis<'a> {
    pub fn new(
        unit: &'a Unit,
        catalog: &'a Catalog,
        thresholds: Thresholds,
        limits: &'a KindLimits,
    ) -> Self {
        let groups = summarise(unit);
        let counts = groups.iter().map(|g| (g.fp, g.count)).collect();
        UnitAnalysis {
            unit,
            catalog,
            thresholds,
            limits,
            groups,
            counts,
        }
    }

    /// Executions of shape `fp` in the unit.
    pub fn count_of(&self, fp: FpId) -> u32 {
        self.counts.get(&fp).copied().unwrap_or(0)
    }

    /// The configured value of a detector's `limit`, or its default.
    pub fn limit(&self, limit: &Limit) -> u64 {
        self.limits.get(limit)
    }

    pub fn shape(&self, fp: FpId) -> Option<&'a ShapeEntry> {
        self.catalog.get(fp)
    }

    fn verb(&self, fp: FpId) -> Option<Verb> {
        self.shape(fp).map(|e| e.shape.verb)
    }

    /// Neither the inline marker nor an allow-list exempts it, and it is not a job-queue
    /// claim (polling a queue until it is empty repeats the claim by design).
    pub fn reportable(&self, group: &Group) -> bool {
        !group.marked
            && self
                .shape(group.fp)
                .is_some_and(|e| !e.allowed && !e.is_claim())
    }

    /// Ran often enough (and long enough, when a time floor is set) to count as repetition.
    pub fn repeats_enough(&self, count: u32, total_us: Option<u64>, threshold: u32) -> bool {
        let t = &self.thresholds;
        let floor_us = t.min_loop_total_ms.saturating_mul(1000);
        if floor_us > 0 && total_us.is_some_and(|us| us < floor_us) {
            return false;
        }
        let slow = t
            .slow_loop_total_ms
            .zip(total_us)
            .is_some_and(|(ms, us)| us >= ms.saturating_mul(1000));
        count >= threshold || (slow && count >= t.slow_loop_count)
    }

    /// The loop a shape forms: repeated enough, with differing parameters, one item per
    /// statement (a long IN list is the fix, not the problem), not paging, not exempt.
    pub fn loop_class(&self, group: &Group) -> Option<LoopClass> {
        if group.distinct < 2
            || group.max_list >= self.thresholds.batch_min_list
            || !self.reportable(group)
            || !self.repeats_enough(group.count, group.total_us, self.thresholds.n_plus_one)
        {
            return None;
        }
        let entry = self.shape(group.fp)?;
        match entry.shape.verb {
            Verb::Select if entry.paging => None,
            Verb::Select if is_aggregate(&entry.shape) => Some(LoopClass::Count),
            Verb::Select => Some(LoopClass::Read),
            Verb::Insert | Verb::Update | Verb::Delete | Verb::Merge
                if writes_rows_one_by_one(group) =>
            {
                Some(LoopClass::Write)
            }
            _ => None,
        }
    }

    /// A loop the loop detectors report: its class and its parent. `None` when the shape
    /// forms no loop ([`UnitAnalysis::loop_class`]), or when it is a read or count loop
    /// without a parent where one is required ([`UnitAnalysis::parent_required`]).
    pub fn reported_loop(&self, group: &Group) -> Option<(LoopClass, Option<usize>)> {
        let class = self.loop_class(group)?;
        let parent = self.parent_for(group.first, &[group.fp], group.count, group.distinct);
        if parent.is_none() && class != LoopClass::Write && self.parent_required() {
            return None;
        }
        Some((class, parent))
    }

    /// The statement that drove a loop of `iterations` whose first child ran at
    /// `first_child`: the nearest earlier SELECT of another shape that ran fewer times than
    /// the loop (a shape running as often as the child is a sibling inside the loop, not its
    /// driver), preferring the nearest one that returned at least `rows_wanted` rows when row
    /// counts are known (a parent yields one row per iteration).
    ///
    /// On a trace, the loop's own handler comes first: a candidate issued under the same
    /// parent span as the first child (so nested loops are attributed to their own resolver
    /// or handler), then any earlier statement of the trace.
    pub fn parent_for(
        &self,
        first_child: usize,
        exclude: &[FpId],
        iterations: u32,
        rows_wanted: u32,
    ) -> Option<usize> {
        let handler = self
            .unit
            .stmts
            .get(first_child)
            .map_or(0, |s| s.parent_span);
        if handler != 0 {
            let same_handler = |s: &Stmt| s.parent_span == handler;
            let found =
                self.parent_among(first_child, exclude, iterations, rows_wanted, same_handler);
            if found.is_some() {
                return found;
            }
        }
        self.parent_among(first_child, exclude, iterations, rows_wanted, |_| true)
    }

    fn parent_among(
        &self,
        first_child: usize,
        exclude: &[FpId],
        iterations: u32,
        rows_wanted: u32,
        eligible: impl Fn(&Stmt) -> bool,
    ) -> Option<usize> {
        let stmts = self.unit.stmts.get(..first_child)?;
        for (index, stmt) in stmts.iter().enumerate().rev().take(PARENT_LOOKBACK) {
            if !eligible(stmt) {
                continue;
            }
            let sibling = self.counts.get(&stmt.fp).is_some_and(|&n| n >= iterations);
            if sibling || exclude.contains(&stmt.fp) || self.verb(stmt.fp) != Some(Verb::Select) {
                continue;
            }
            // A value computed without FROM (Hibernate's `select nextval ('seq')` before its
            // inserts) is not what the loop iterates.
            if self
                .shape(stmt.fp)
                .is_none_or(|e| e.role != Role::Query || e.shape.reads_no_rows())
            {
                continue;
            }
            // A query known to have returned fewer rows than the loop went through is not
            // what it iterates (a `set_config`, a count, a lookup of one row): never shown
            // as the parent. One whose rows are unknown (logs) is the best guess there is.
            match stmt.rows {
                Some(rows) if rows >= u64::from(rows_wanted) => return Some(index),
                Some(_) => continue,
                None => return Some(index),
            }
        }
        None
    }

    /// Read loops need a parent here: a burst, with `burst_loops_need_parent` on.
    pub fn parent_required(&self) -> bool {
        self.thresholds.burst_loops_need_parent
            && self.unit.header.kind == querycomb_core::RequestKind::Burst
    }

    /// Most executions of `fp` that ran at the same time (from span start and duration):
    /// above 1, the loop is a concurrent fan-out, not a sequence. `None` without timings.
    ///
    /// Some SDKs (OpenTelemetry JS) record span starts to the millisecond but ends to the
    /// nanosecond, so a sequential span seems to start before the previous one ended. When
    /// every start is a whole millisecond, ends are cut to the millisecond too before
    /// comparing: a loop has to overlap by a whole clock tick to count as concurrent.
    pub fn concurrency(&self, fp: FpId) -> Option<u32> {
        let children = || self.unit.stmts.iter().filter(|s| s.fp == fp && s.span != 0);
        let tick = if children().all(|s| s.time.is_some_and(|t| t.rem_euclid(1000) == 0)) {
            1000
        } else {
            1
        };
        let mut edges: Vec<(i64, i32)> = Vec::new();
        for stmt in children() {
            let (Some(start), Some(duration)) = (stmt.time, stmt.duration_us) else {
                return None;
            };
            let end = start.saturating_add(i64::try_from(duration).unwrap_or(i64::MAX));
            edges.push((start, 1));
            edges.push((end - end.rem_euclid(tick), -1));
        }
        if edges.is_empty() {
            return None;
        }
        // Ends sort before starts at the same instant: back-to-back is not overlap.
        edges.sort_unstable();
        let (mut running, mut most) = (0i32, 0i32);
        for (_, delta) in edges {
            running += delta;
            most = most.max(running);
        }
        u32::try_from(most).ok()
    }

    /// Indexes of every execution of `fp`.
    pub fn positions(&self, fp: FpId) -> Vec<u32> {
        (0u32..)
            .zip(&self.unit.stmts)
            .filter(|(_, s)| s.fp == fp)
            .map(|(i, _)| i)
            .collect()
    }
}

/// `COUNT(*)`/`SUM(…)`… as the select list, or `SELECT EXISTS(…)`.
fn is_aggregate(shape: &querycomb_sql::Shape) -> bool {
    let exists = shape
        .normalized
        .get(..13)
        .is_some_and(|head| head.eq_ignore_ascii_case("SELECT EXISTS"));
    shape.aggregate || exists
}

/// Sorts executions by (shape, parameters) once, then reads each shape's run.
fn summarise(unit: &Unit) -> Vec<Group> {
    let mut order: Vec<(FpId, u64, u32)> = (0u32..)
        .zip(&unit.stmts)
        .map(|(i, s)| (s.fp, s.values, i))
        .collect();
    order.sort_unstable();
    let mut groups: Vec<Group> = Vec::new();
    let mut previous_values = None;
    let mut same_run = 0u32;
    let mut run_us: Option<u64> = None;
    for &(fp, values, index) in &order {
        let Some(stmt) = unit.stmts.get(index as usize) else {
            continue;
        };
        let fresh = groups.last().is_none_or(|g| g.fp != fp);
        if fresh {
            groups.push(Group {
                fp,
                first: index as usize,
                count: 0,
                distinct: 0,
                max_same: 0,
                same_values: values,
                same_us: None,
                total_us: None,
                max_list: 0,
                max_rows: None,
                marked: false,
            });
            previous_values = None;
        }
        let Some(group) = groups.last_mut() else {
            continue;
        };
        if previous_values == Some(values) {
            same_run += 1;
        } else {
            group.distinct += 1;
            same_run = 1;
            run_us = None;
            previous_values = Some(values);
        }
        if let Some(us) = stmt.duration_us {
            run_us = Some(run_us.unwrap_or(0).saturating_add(us));
        }
        if same_run > group.max_same {
            group.max_same = same_run;
            group.same_values = values;
            group.same_us = run_us;
        }
        group.count += 1;
        group.first = group.first.min(index as usize);
        group.max_list = group.max_list.max(stmt.list);
        if let Some(rows) = stmt.rows {
            group.max_rows = Some(group.max_rows.map_or(rows, |m| m.max(rows)));
        }
        group.marked |= stmt.allow;
        if let Some(us) = stmt.duration_us {
            group.total_us = Some(group.total_us.unwrap_or(0).saturating_add(us));
        }
    }
    groups.sort_by_key(|g| g.first);
    groups
}

/// Every single-child loop of `class` in `unit` that the loop detectors report
/// ([`UnitAnalysis::reported_loop`]), as `kind`: shared by the loop detectors.
fn loop_candidates(
    unit: &UnitAnalysis<'_>,
    kind: FindingKind,
    class: LoopClass,
    out: &mut Vec<Candidate>,
) {
    for group in &unit.groups {
        // The class first: the parent is looked for only in this detector's loops.
        if unit.loop_class(group) != Some(class) {
            continue;
        }
        if let Some((_, parent)) = unit.reported_loop(group) {
            out.push(Candidate::of_group(kind, group, parent));
        }
    }
}

/// One candidate per reportable shape of `unit` for which `fits` holds and some execution
/// returned more than `threshold` rows (0: off), carrying the most rows one execution
/// returned: shared by the result-size kinds (`unbounded_result`, `cartesian_explosion`).
fn result_size_candidates(
    unit: &UnitAnalysis<'_>,
    kind: FindingKind,
    threshold: u64,
    fits: impl Fn(FpId) -> bool,
    out: &mut Vec<Candidate>,
) {
    if threshold == 0 {
        return;
    }
    let mut most: FastMap<FpId, u64> = FastMap::default();
    for stmt in &unit.unit.stmts {
        if let Some(rows) = stmt.rows.filter(|&r| r > threshold) {
            let kept = most.entry(stmt.fp).or_default();
            *kept = (*kept).max(rows);
        }
    }
    for group in &unit.groups {
        let Some(&rows) = most.get(&group.fp) else {
            continue;
        };
        if unit.reportable(group) && fits(group.fp) {
            out.push(Candidate {
                rows: Some(rows),
                ..Candidate::of_group(kind, group, None)
            });
        }
    }
}

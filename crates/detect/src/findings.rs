//! De-duplication of candidates into findings, and the evidence each finding carries.
//!
//! The signature is a hash of (kind, parent fingerprint, child fingerprints), so the same
//! loop in a thousand requests is one finding with `occurrences = 1000`. The first request's
//! evidence is kept (its request, parent and children with normalised SQL and locations,
//! count, time, waterfall); later requests only add to `occurrences`, `total_count`, the
//! routes it was seen in (`seen_in`, bounded: see `core::SeenIn`) and the severity. No raw
//! SQL and no parameter values are ever copied into a finding, only normalised text, unless
//! `show_params` asks for example parameters.

use querycomb_core::test_route::test_of_route;
use querycomb_core::{
    BarRole, Finding, FindingKind, FixEvidence, Proof, QueryRef, RequestKind, RequestRef, SeenIn,
    WaterfallBar,
};
use querycomb_sql::rewrite;

use crate::catalog::FpId;
use crate::config::Config;
use crate::detectors::{self, over_budget, Candidate, Detector, MessageParts, UnitAnalysis};
use crate::hash::{hex16, signature, FastMap};
use crate::unit::{Keys, RequestHeader};

pub use crate::text::excerpt;

#[derive(Debug)]
struct Tracked {
    finding: Finding,
    /// Serial of the last unit that counted as an occurrence.
    last_unit: u64,
    /// Listed in `Findings::changed` since the last `take_updates`.
    changed: bool,
}

/// The run's findings, keyed by signature, in order of first appearance.
#[derive(Debug, Default)]
pub struct Findings {
    by_signature: FastMap<u64, usize>,
    tracked: Vec<Tracked>,
    /// Indexes into `tracked` of findings new or grown since the last `take_updates`, so
    /// that live mode's frequent calls cost what changed, not every finding.
    changed: Vec<usize>,
    wasted_us: u64,
}

impl Findings {
    /// Adds one candidate from `unit`: a new finding, or one more occurrence of a known one.
    pub fn record(&mut self, candidate: &Candidate, unit: &UnitAnalysis<'_>, config: &Config) {
        let Some(sig) = signature_of(candidate, unit) else {
            return;
        };
        self.wasted_us = self
            .wasted_us
            .saturating_add(candidate.total_us.unwrap_or(0));
        let severity =
            config
                .severity
                .severity(candidate.kind, candidate.statements, candidate.total_us);
        let serial = unit.unit.header.serial;
        let known = self.by_signature.get(&sig).copied();
        if let Some((index, tracked)) = known.and_then(|i| Some((i, self.tracked.get_mut(i)?))) {
            let f = &mut tracked.finding;
            if tracked.last_unit != serial {
                f.occurrences = f.occurrences.saturating_add(1);
                if let Some(route) = unit.unit.header.route.as_deref() {
                    f.seen_in.add(route, 1);
                }
                tracked.last_unit = serial;
            }
            f.total_count = f.total_count.saturating_add(u64::from(candidate.count));
            f.severity = f.severity.max(severity);
            if !tracked.changed {
                tracked.changed = true;
                self.changed.push(index);
            }
            return;
        }
        let mut finding = build(candidate, unit, config, sig);
        finding.severity = severity;
        self.by_signature.insert(sig, self.tracked.len());
        self.changed.push(self.tracked.len());
        self.tracked.push(Tracked {
            finding,
            last_unit: serial,
            changed: true,
        });
    }

    /// Findings new or grown since the last call (live mode).
    pub fn take_updates(&mut self) -> Vec<Finding> {
        let mut changed = std::mem::take(&mut self.changed);
        changed.sort_unstable();
        let mut updates = Vec::with_capacity(changed.len());
        for index in changed {
            if let Some(t) = self.tracked.get_mut(index) {
                t.changed = false;
                updates.push(t.finding.clone());
            }
        }
        updates
    }

    pub fn len(&self) -> usize {
        self.tracked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tracked.is_empty()
    }

    pub fn wasted_us(&self) -> u64 {
        self.wasted_us
    }

    /// `(kind, findings)` for every kind that has findings, in registry order.
    pub fn by_kind(&self) -> Vec<(FindingKind, u64)> {
        crate::kinds::all()
            .map(|info| {
                let n = self
                    .tracked
                    .iter()
                    .filter(|t| t.finding.kind == info.kind)
                    .count();
                (info.kind, n as u64)
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    pub fn snapshot(&self) -> Vec<Finding> {
        self.tracked.iter().map(|t| t.finding.clone()).collect()
    }

    pub fn into_findings(self) -> Vec<Finding> {
        self.tracked.into_iter().map(|t| t.finding).collect()
    }
}

fn signature_of(candidate: &Candidate, unit: &UnitAnalysis<'_>) -> Option<u64> {
    let parent = match candidate.parent {
        Some(index) => Some(fingerprint_at(unit, index)?),
        None => None,
    };
    let children = candidate
        .children
        .iter()
        .map(|fp| unit.shape(*fp).map(|e| e.shape.fingerprint))
        .collect::<Option<Vec<u64>>>()?;
    // A budget belongs to a route: two routes over budget on the same queries are two
    // findings, so each route's (or test's) JUnit case fails on its own.
    if candidate.kind == over_budget::KIND {
        let route = unit.unit.header.route.as_deref().unwrap_or_default();
        let key = format!("{}\0{route}", candidate.kind.id());
        return Some(signature(&key, parent, &children));
    }
    // A loop seen both in tests' fixtures and in their own work is two findings: which of
    // the two a run meets first depends on the order tests run in (pytest-xdist), and the
    // fixture's is reported at info, so one finding for both would change severity with it.
    if unit_is_fixture(unit) {
        let key = format!("{}\0fixture", candidate.kind.id());
        return Some(signature(&key, parent, &children));
    }
    Some(signature(candidate.kind.id(), parent, &children))
}

/// The unit is a test's setup or teardown (`querycomb run`'s routes, `core::test_route`).
fn unit_is_fixture(unit: &UnitAnalysis<'_>) -> bool {
    unit.unit
        .header
        .route
        .as_deref()
        .is_some_and(|route| test_of_route(route).1.is_fixture())
}

fn fingerprint_at(unit: &UnitAnalysis<'_>, index: usize) -> Option<u64> {
    let stmt = unit.unit.stmts.get(index)?;
    unit.shape(stmt.fp).map(|e| e.shape.fingerprint)
}

fn build(candidate: &Candidate, unit: &UnitAnalysis<'_>, config: &Config, sig: u64) -> Finding {
    let parent = candidate
        .parent
        .and_then(|index| unit.unit.stmts.get(index))
        .and_then(|stmt| query_ref(unit, stmt.fp, None, config));
    let children: Vec<QueryRef> = candidate
        .children
        .iter()
        .filter_map(|fp| query_ref(unit, *fp, candidate.params, config))
        .collect();
    let concurrency = candidate
        .children
        .first()
        .and_then(|fp| unit.concurrency(*fp))
        .filter(|&n| n > 1 && candidate.kind != crate::detectors::over_budget::KIND);
    let truncated = candidate
        .children
        .iter()
        .any(|fp| unit.shape(*fp).is_some_and(|e| e.truncated));
    let mut message = detector_of(candidate).message(&MessageParts {
        candidate,
        parent: parent.as_ref(),
        children: &children,
        unit,
        config,
    });
    if let Some(n) = concurrency {
        message.push_str(&format!(
            "; up to {n} ran at once (a concurrent fan-out: still {} round trips)",
            candidate.count
        ));
    }
    // A loop run by a downstream service: the request is the trace's, the loop is theirs.
    let runner = candidate
        .children
        .first()
        .and_then(|fp| unit.shape(*fp))
        .and_then(|e| e.service.as_deref())
        .filter(|service| *service != unit.unit.header.session);
    if let Some(service) = runner {
        message.push_str(&format!("; run by service {service}"));
    }
    if truncated {
        message.push_str("; the statement text was truncated by the instrumentation");
    }
    let dependent = dependent_chain(candidate, unit);
    if dependent {
        message.push_str(DEPENDENT_MESSAGE);
    }
    Finding {
        kind: candidate.kind,
        severity: config.severity.loops,
        signature: hex16(sig),
        request: request_ref(&unit.unit.header),
        message,
        concurrency,
        suggestion: if dependent {
            Some(DEPENDENT_ADVICE.to_owned())
        } else {
            suggestion(candidate, unit)
        },
        parent,
        children,
        count: candidate.count,
        distinct_params: candidate.distinct_params,
        total_duration_us: candidate.total_us,
        occurrences: 1,
        total_count: u64::from(candidate.count),
        seen_in: SeenIn::of(unit.unit.header.route.as_deref()),
        proof: Proof::Suspected,
        waterfall: waterfall(candidate, unit, config.max_waterfall_bars),
        fix: FixEvidence {
            captured_keys: captured_keys(candidate, unit, config),
            ..FixEvidence::default()
        },
    }
}

/// The unit as reports name it. Ids are unique within a run: trace ids are, and the others
/// carry the session and the start (time, else input line).
pub fn request_ref(header: &RequestHeader) -> RequestRef {
    let at = match header.start {
        Some(t) => t.to_string(),
        None => format!("line{}", header.location.line),
    };
    let id = match (&header.kind, &header.trace_id, &header.route) {
        (RequestKind::Trace, Some(trace), _) => trace.clone(),
        (_, _, Some(route)) => format!("{route} {}@{at}", header.session),
        _ => format!("{}@{at}", header.session),
    };
    RequestRef {
        kind: header.kind,
        id,
        route: header.route.clone(),
        trace_id: header.trace_id.clone(),
        session: header.session.clone(),
        start: header.start,
        end: header.end,
        statements: header.statements,
        location: header.location,
    }
}

/// Shape `fp` as a finding shows it: its first execution and example parameters, of those
/// with the values hash `params` when given (see [`Candidate::params`]).
fn query_ref(
    unit: &UnitAnalysis<'_>,
    fp: FpId,
    params: Option<u64>,
    config: &Config,
) -> Option<QueryRef> {
    let entry = unit.shape(fp)?;
    let ran_with = |values: u64| params.is_none_or(|p| p == values);
    let first = unit
        .unit
        .stmts
        .iter()
        .find(|s| s.fp == fp && ran_with(s.values))?;
    let example_params = match unit.unit.examples.get(&fp) {
        Some(examples) if config.show_params => examples
            .iter()
            .filter(|(values, _)| ran_with(*values))
            .map(|(_, text)| text.clone())
            .collect(),
        _ => Vec::new(),
    };
    Some(QueryRef {
        fingerprint: entry.hex.clone(),
        normalized: entry.shape.normalized.clone(),
        table: entry.table().map(str::to_owned),
        location: first.location,
        example_params,
        source_location: entry.source_location.clone(),
        stack_tags: entry.stack_tags.clone(),
    })
}

/// The detector behind a candidate; every candidate comes from a registered one.
fn detector_of(candidate: &Candidate) -> &'static dyn Detector {
    detectors::for_kind(candidate.kind).unwrap_or(&detectors::n_plus_one::NPlusOne)
}

const DEPENDENT_MESSAGE: &str =
    "; a dependent chain: each statement used a value the one before it returned";

/// Advice for a loop whose every step needs the previous step's result: a batched rewrite
/// over arrays would need all the values up front, which the loop only learns one by one.
const DEPENDENT_ADVICE: &str = "-- A dependent chain: each statement used a value the \
one before it returned (such as the id of an `INSERT … RETURNING`), so one batched \
statement over arrays (`INSERT … SELECT FROM unnest(…)`, `= ANY($1)`) cannot replace it.
-- What applies: build the chain in one statement on the server (a recursive CTE, or \
data-modifying CTEs passing each RETURNING on, or a server-side function); or assign \
the keys up front (take the ids from the sequence first, then write all rows in one \
statement); or accept the loop and run it in one transaction.";

/// Every execution of the loop's child after the first used a value the statement before
/// it returned (the proxy tells; other sources never set the flag).
fn dependent_chain(candidate: &Candidate, unit: &UnitAnalysis<'_>) -> bool {
    let [child] = candidate.children.as_slice() else {
        return false;
    };
    let (runs, chained) = unit
        .unit
        .stmts
        .iter()
        .filter(|s| s.fp == *child && candidate.repeats(s))
        .fold((0u32, 0u32), |(runs, chained), s| {
            (runs + 1, chained + u32::from(s.uses_previous_result))
        });
    runs >= 2 && chained + 1 >= runs
}

fn suggestion(candidate: &Candidate, unit: &UnitAnalysis<'_>) -> Option<String> {
    if let Some(advice) = detector_of(candidate).advice() {
        return Some(advice.to_owned());
    }
    let rewrites: Vec<String> = candidate
        .children
        .iter()
        .filter_map(|fp| unit.shape(*fp))
        .filter_map(|entry| rewrite::batched(&entry.shape))
        .map(|r| format!("{}\n-- {}", r.sql, r.explanation))
        .collect();
    (!rewrites.is_empty()).then(|| rewrites.join("\n"))
}

fn waterfall(candidate: &Candidate, unit: &UnitAnalysis<'_>, max_bars: usize) -> Vec<WaterfallBar> {
    let stmts = &unit.unit.stmts;
    let Some(origin) = unit
        .unit
        .header
        .start
        .or_else(|| stmts.iter().find_map(|s| s.time))
    else {
        return Vec::new();
    };
    let first_child = stmts.iter().position(|s| candidate.repeats(s)).unwrap_or(0);
    let from = candidate.parent.unwrap_or(first_child).min(first_child);
    stmts
        .iter()
        .enumerate()
        .skip(from)
        .filter_map(|(index, s)| {
            let time = s.time?;
            let role = if Some(index) == candidate.parent {
                BarRole::Parent
            } else if candidate.repeats(s) {
                BarRole::Child
            } else {
                BarRole::Other
            };
            Some(WaterfallBar {
                offset_us: time.saturating_sub(origin),
                duration_us: s.duration_us,
                fingerprint: unit.shape(s.fp).map_or_else(String::new, |e| e.hex.clone()),
                role,
            })
        })
        .take(max_bars)
        .collect()
}

/// The values the first child ran with, one array per execution, when asked to keep them.
/// Executions whose values do not line up with the shape's parameters (a collapsed list) are
/// left out rather than guessed.
fn captured_keys(candidate: &Candidate, unit: &UnitAnalysis<'_>, config: &Config) -> Vec<Keys> {
    if !config.capture_keys {
        return Vec::new();
    }
    let Some(fp) = candidate.children.first().copied() else {
        return Vec::new();
    };
    let Some(entry) = unit.shape(fp) else {
        return Vec::new();
    };
    let params = querycomb_sql::param_count(&entry.shape.normalized);
    unit.unit
        .keys
        .get(&fp)
        .map(|all| {
            all.iter()
                .filter(|(values, k)| {
                    k.len() == params && candidate.params.is_none_or(|p| p == *values)
                })
                .map(|(_, k)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}

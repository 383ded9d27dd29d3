//! `repeated_identical`: one shape run with the *same* parameters at least
//! `repeated_identical` times in one request (middleware loading the current user per item,
//! a settings lookup per row). The fix is a per-request memo, not a batched query. A shape
//! with several parameter sets is a loop and is left to the loop detectors.

use querycomb_core::{BaseSeverity, FindingKind, KindInfo};
use querycomb_sql::Verb;

use super::{Candidate, Detector, MessageParts, UnitAnalysis};

pub const KIND: FindingKind = FindingKind::new("repeated_identical");

pub static INFO: KindInfo = KindInfo {
    kind: KIND,
    title: "repeated identical query",
    rule_name: "RepeatedIdenticalQuery",
    summary: "The same query with the same parameters runs again and again.",
    help: "One request ran the same statement with the same parameters many times. Read it once and reuse the result for the request (memoize), or cache it.",
    severity: BaseSeverity::Repeated,
    after_fix: "repetitions replaced by one query whose result is reused",
};

pub struct RepeatedIdentical;

impl Detector for RepeatedIdentical {
    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    fn message(&self, parts: &MessageParts<'_>) -> String {
        format!(
            "{} × the identical {} with the same parameters in one request (run once, reuse the result)",
            parts.candidate.count,
            parts.child()
        )
    }

    fn advice(&self) -> Option<&'static str> {
        Some("Run the query once per request and reuse the result (memoize it or pass it down).")
    }

    fn detect(&self, unit: &UnitAnalysis<'_>, out: &mut Vec<Candidate>) {
        let threshold = unit.thresholds.repeated_identical;
        for group in &unit.groups {
            let eligible = group.distinct == 1
                && unit.reportable(group)
                && is_repeatable_work(unit, group.fp)
                && unit.repeats_enough(group.count, group.total_us, threshold);
            if eligible {
                out.push(Candidate {
                    kind: self.kind(),
                    parent: None,
                    children: vec![group.fp],
                    count: group.count,
                    statements: group.count,
                    distinct_params: 1,
                    total_us: group.total_us,
                    rows: None,
                    result_bytes: None,
                });
            }
        }
    }
}

/// Reads, writes and procedure calls; not utility statements (`VACUUM`, `LISTEN`, `COPY`).
fn is_repeatable_work(unit: &UnitAnalysis<'_>, fp: crate::catalog::FpId) -> bool {
    unit.shape(fp).is_some_and(|e| {
        matches!(
            e.shape.verb,
            Verb::Select
                | Verb::Insert
                | Verb::Update
                | Verb::Delete
                | Verb::Merge
                | Verb::Call
                | Verb::Execute
        )
    })
}

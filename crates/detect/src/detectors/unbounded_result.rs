//! `unbounded_result`: a SELECT without LIMIT that returned more rows than the
//! `unbounded_rows` threshold to the application. What a page shows is tens of rows; a
//! statement that sends thousands, with nothing bounding it, reads whatever the table holds
//! and grows with it (an export or a report belongs in a cursor or batches). Needs the rows
//! per statement, which the proxy and the MySQL slow log report (PostgreSQL logs do not).

use querycomb_core::{BaseSeverity, FindingKind, KindInfo, Severity};
use querycomb_sql::Verb;

use super::{result_size_candidates, Candidate, Detector, MessageParts, UnitAnalysis};

pub const KIND: FindingKind = FindingKind::new("unbounded_result");

pub static INFO: KindInfo = KindInfo {
    kind: KIND,
    title: "unbounded result",
    rule_name: "UnboundedResult",
    summary: "A query without LIMIT sent more rows to the application than any page shows.",
    help: "A SELECT without LIMIT returned thousands of rows to the application, and it will return more as the table grows. Paginate it (LIMIT with keyset paging), aggregate in SQL instead of in the application, or, for an export, stream it with a cursor in batches.",
    severity: BaseSeverity::Fixed(Severity::Warning),
    after_fix: "rows bounded by a LIMIT",
};

pub struct UnboundedResult;

impl Detector for UnboundedResult {
    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    fn message(&self, parts: &MessageParts<'_>) -> String {
        format!(
            "{} returned {} rows to the application without a LIMIT",
            parts.child(),
            parts.candidate.rows.unwrap_or_default()
        )
    }

    fn advice(&self) -> Option<&'static str> {
        Some(
            "Bound it: LIMIT with keyset paging (WHERE id > $last ORDER BY id LIMIT n), an aggregate in SQL, or a cursor read in batches for an export.",
        )
    }

    fn detect(&self, unit: &UnitAnalysis<'_>, out: &mut Vec<Candidate>) {
        let threshold = unit.thresholds.unbounded_rows;
        result_size_candidates(
            unit,
            self.kind(),
            threshold,
            |fp| is_unbounded_read(unit, fp),
            out,
        );
    }
}

/// A plain SELECT whose text bounds nothing: no LIMIT, FETCH FIRST or TOP, no aggregate.
fn is_unbounded_read(unit: &UnitAnalysis<'_>, fp: crate::catalog::FpId) -> bool {
    unit.shape(fp).is_some_and(|entry| {
        let shape = &entry.shape;
        let bounded = shape
            .normalized
            .split(|c: char| !c.is_ascii_alphabetic())
            .any(|word| ["LIMIT", "FETCH", "TOP"].contains(&word));
        shape.verb == Verb::Select && !shape.aggregate && !bounded
    })
}

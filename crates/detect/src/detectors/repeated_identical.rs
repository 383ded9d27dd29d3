//! `repeated_identical`: one shape run with the *same* parameters at least
//! `repeated_identical` times in one request (middleware loading the current user per item,
//! a settings lookup per row). The fix is a per-request memo, not a batched query. A shape
//! with several parameter sets is a loop and is left to the loop detectors.

use querycomb_core::FindingKind;
use querycomb_sql::Verb;

use super::{Candidate, Detector, UnitAnalysis};

pub struct RepeatedIdentical;

impl Detector for RepeatedIdentical {
    fn kind(&self) -> FindingKind {
        FindingKind::RepeatedIdentical
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

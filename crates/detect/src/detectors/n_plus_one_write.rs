//! `n_plus_one_write`: INSERT/UPDATE/DELETE one row at a time (`INSERT … VALUES (one row)`,
//! `UPDATE … WHERE id = $1`) repeated with differing values. Multi-row statements (a
//! `VALUES` list at least `batch_min_list` rows long) are the fix and are not reported.

use querycomb_core::FindingKind;

use super::{loop_candidate, Candidate, Detector, LoopClass, UnitAnalysis};

pub struct NPlusOneWrite;

impl Detector for NPlusOneWrite {
    fn kind(&self) -> FindingKind {
        FindingKind::NPlusOneWrite
    }

    fn detect(&self, unit: &UnitAnalysis<'_>, out: &mut Vec<Candidate>) {
        for group in &unit.groups {
            if unit.loop_class(group) == Some(LoopClass::Write) {
                out.extend(loop_candidate(unit, self.kind(), group));
            }
        }
    }
}

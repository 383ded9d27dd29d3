//! `n_plus_one`: a parent SELECT, then one SELECT per parent row with differing parameters
//! (`SELECT … FROM customers WHERE id = $1` × 400). The fix is one query with `= ANY($1)` /
//! `IN (…)` or a join; see [`querycomb_sql::rewrite::batched`].

use querycomb_core::FindingKind;

use super::{loop_candidate, Candidate, Detector, LoopClass, UnitAnalysis};

pub struct NPlusOne;

impl Detector for NPlusOne {
    fn kind(&self) -> FindingKind {
        FindingKind::NPlusOne
    }

    fn detect(&self, unit: &UnitAnalysis<'_>, out: &mut Vec<Candidate>) {
        for group in &unit.groups {
            if unit.loop_class(group) == Some(LoopClass::Read) {
                out.extend(loop_candidate(unit, self.kind(), group));
            }
        }
    }
}

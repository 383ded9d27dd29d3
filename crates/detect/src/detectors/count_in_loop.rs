//! `count_in_loop`: the N+1 whose child is an aggregate per parent row
//! (`SELECT COUNT(*) FROM comments WHERE post_id = $1` × N, or `SELECT EXISTS(…)`). The fix
//! is one `GROUP BY` query (or a counter cache), which plain N+1 advice does not suggest.

use querycomb_core::FindingKind;

use super::{loop_candidate, Candidate, Detector, LoopClass, UnitAnalysis};

pub struct CountInLoop;

impl Detector for CountInLoop {
    fn kind(&self) -> FindingKind {
        FindingKind::CountInLoop
    }

    fn detect(&self, unit: &UnitAnalysis<'_>, out: &mut Vec<Candidate>) {
        for group in &unit.groups {
            if unit.loop_class(group) == Some(LoopClass::Count) {
                out.extend(loop_candidate(unit, self.kind(), group));
            }
        }
    }
}

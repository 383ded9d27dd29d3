//! `count_in_loop`: the N+1 whose child is an aggregate per parent row
//! (`SELECT COUNT(*) FROM comments WHERE post_id = $1` × N, or `SELECT EXISTS(…)`). The fix
//! is one `GROUP BY` query (or a counter cache), which plain N+1 advice does not suggest.

use querycomb_core::{BaseSeverity, FindingKind, KindInfo};

use super::{loop_candidates, Candidate, Detector, LoopClass, MessageParts, UnitAnalysis};

pub const KIND: FindingKind = FindingKind::new("count_in_loop");

pub static INFO: KindInfo = KindInfo {
    kind: KIND,
    title: "count in a loop",
    rule_name: "CountInLoop",
    summary: "An aggregate (COUNT, EXISTS) runs once per parent row.",
    help: "A COUNT/EXISTS/aggregate ran once per parent row. Compute all of them in one query with `GROUP BY` the parent key, annotate the parent query, or keep a counter cache.",
    severity: BaseSeverity::Loop,
    after_fix: "counts replaced by one GROUP BY query",
};

pub struct CountInLoop;

impl Detector for CountInLoop {
    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    fn detect(&self, unit: &UnitAnalysis<'_>, out: &mut Vec<Candidate>) {
        loop_candidates(unit, self.kind(), LoopClass::Count, out);
    }

    fn message(&self, parts: &MessageParts<'_>) -> String {
        parts.loop_message("one count per row")
    }
}

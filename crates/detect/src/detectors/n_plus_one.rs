//! `n_plus_one`: a parent SELECT, then one SELECT per parent row with differing parameters
//! (`SELECT … FROM customers WHERE id = $1` × 400). The fix is one query with `= ANY($1)` /
//! `IN (…)` or a join; see [`querycomb_sql::rewrite::batched`].

use querycomb_core::{BaseSeverity, FindingKind, KindInfo};

use super::{loop_candidates, Candidate, Detector, LoopClass, MessageParts, UnitAnalysis};

pub const KIND: FindingKind = FindingKind::new("n_plus_one");

pub static INFO: KindInfo = KindInfo {
    kind: KIND,
    title: "N+1 query",
    rule_name: "NPlusOneQuery",
    summary: "A query runs once per row of an earlier query (N+1).",
    help: "The same SELECT ran once per row returned by a parent query, each time with different parameters. Load all the rows in one statement instead: `WHERE key = ANY($1)` / `IN (...)` with the parent ids, or the ORM's eager loading (Django select_related/prefetch_related, Rails includes, Hibernate JOIN FETCH or @BatchSize, Sequelize include, SQLAlchemy selectinload).",
    severity: BaseSeverity::Loop,
    after_fix: "children replaced by one batched query",
};

pub struct NPlusOne;

impl Detector for NPlusOne {
    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    fn detect(&self, unit: &UnitAnalysis<'_>, out: &mut Vec<Candidate>) {
        loop_candidates(unit, self.kind(), LoopClass::Read, out);
    }

    fn message(&self, parts: &MessageParts<'_>) -> String {
        parts.loop_message("one query per row")
    }
}

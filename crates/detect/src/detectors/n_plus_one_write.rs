//! `n_plus_one_write`: INSERT/UPDATE/DELETE one row at a time (`INSERT … VALUES (one row)`,
//! `UPDATE … WHERE id = $1`) repeated with differing values. Multi-row statements (a
//! `VALUES` list at least `batch_min_list` rows long) are the fix and are not reported.

use querycomb_core::{BaseSeverity, FindingKind, KindInfo};

use super::{loop_candidate, Candidate, Detector, LoopClass, MessageParts, UnitAnalysis};

pub const KIND: FindingKind = FindingKind::new("n_plus_one_write");

pub static INFO: KindInfo = KindInfo {
    kind: KIND,
    title: "N+1 write",
    rule_name: "NPlusOneWrite",
    summary: "Rows are inserted, updated or deleted one statement at a time.",
    help: "An INSERT, UPDATE or DELETE ran once per row. Use one multi-row statement: `INSERT ... VALUES (...), (...)`, `UPDATE ... FROM (VALUES ...)`, `DELETE ... WHERE id = ANY($1)`, or the ORM's bulk API (bulk_create, insert_all, bulkCreate, saveAll with JDBC batching).",
    severity: BaseSeverity::Loop,
    after_fix: "writes replaced by one multi-row statement",
};

pub struct NPlusOneWrite;

impl Detector for NPlusOneWrite {
    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    fn detect(&self, unit: &UnitAnalysis<'_>, out: &mut Vec<Candidate>) {
        for group in &unit.groups {
            if unit.loop_class(group) == Some(LoopClass::Write) {
                out.extend(loop_candidate(unit, self.kind(), group));
            }
        }
    }

    fn message(&self, parts: &MessageParts<'_>) -> String {
        parts.loop_message("one row per statement")
    }
}

//! `n_plus_one_write`: INSERT/UPDATE/DELETE one row at a time (`INSERT … VALUES (one row)`,
//! `UPDATE … WHERE id = $1`) repeated with differing values. Statements that carry or touch
//! several rows (a multi-row `VALUES`, `UNNEST` or `= ANY` of an array parameter, or a
//! server row count above one) are batches, not per-row writes, and are not reported.

use querycomb_core::{BaseSeverity, FindingKind, KindInfo};

use super::{loop_candidates, Candidate, Detector, LoopClass, MessageParts, UnitAnalysis};

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
        loop_candidates(unit, self.kind(), LoopClass::Write, out);
    }

    fn message(&self, parts: &MessageParts<'_>) -> String {
        parts.loop_message("one row per statement")
    }
}

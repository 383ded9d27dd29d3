//! `n_plus_one_http`: the N+1 against another service. An outgoing HTTP call (an HTTP
//! client span of a trace: `GET http://users/api/users/17`) made once per row of a parent
//! query, each time for a different id: the same loop as an N+1 query, paid in network
//! round trips to an API. The fix is one call to a batch endpoint with every id.
//!
//! Only trace sources report HTTP calls (the event's `context.operation`); the SQL
//! detectors never see these shapes as loops (their verb is not SQL).

use querycomb_core::{BaseSeverity, FindingKind, KindInfo};

use super::{Candidate, Detector, MessageParts, UnitAnalysis};

pub const KIND: FindingKind = FindingKind::new("n_plus_one_http");

pub static INFO: KindInfo = KindInfo {
    kind: KIND,
    title: "N+1 HTTP calls",
    rule_name: "NPlusOneHttpCall",
    summary: "Another service is called once per row of an earlier query (N+1 over HTTP).",
    help: "The same HTTP endpoint was called once per row, each time for a different id. Call a batch endpoint once with every id (`GET /users?ids=1,2,3`, a POST of the id list, a GraphQL query with a DataLoader), or add one to the service.",
    severity: BaseSeverity::Loop,
    after_fix: "calls replaced by one call to a batch endpoint",
};

pub struct NPlusOneHttp;

impl Detector for NPlusOneHttp {
    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    fn detect(&self, unit: &UnitAnalysis<'_>, out: &mut Vec<Candidate>) {
        for group in &unit.groups {
            let is_call = unit.shape(group.fp).is_some_and(|e| e.http && !e.allowed);
            let repeated = group.distinct >= 2
                && !group.marked
                && unit.repeats_enough(group.count, group.total_us, unit.thresholds.n_plus_one);
            if is_call && repeated {
                let parent = unit.parent_for(group.first, &[group.fp], group.count, group.distinct);
                out.push(Candidate::of_group(self.kind(), group, parent));
            }
        }
    }

    fn message(&self, parts: &MessageParts<'_>) -> String {
        parts.loop_message("one HTTP call per row")
    }

    fn advice(&self) -> Option<&'static str> {
        Some("Call a batch endpoint once with every id (for example `GET /users?ids=1,2,3`) instead of once per row; add one to the service if it has none.")
    }
}

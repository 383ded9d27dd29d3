//! The plan check, the fix for the stack and the impact of a finding (`Finding::fix`), as
//! sentences for the human-readable reports. Captured keys are never shown.

use querycomb_core::{Advice, Impact, PlanCheck, Verdict};

use crate::describe::{bytes, duration, thousands};

/// `needs_index: no index on books starts with title …` plus the numbers behind it.
pub(crate) fn plan(check: &PlanCheck) -> Vec<String> {
    let mut lines = vec![format!("{}: {}", check.verdict.id(), check.reason)];
    if let Some(index) = &check.create_index {
        lines.push(index.clone());
    }
    if check.verdict == Verdict::Skipped {
        return lines;
    }
    let mut numbers = Vec::new();
    if let (Some(child), Some(loop_cost)) = (&check.child, check.loop_cost) {
        numbers.push(format!(
            "cost: loop {loop_cost:.1} (child {:.1} each), batch {:.1}",
            child.cost,
            check.batched.as_ref().map_or(0.0, |b| b.cost)
        ));
    }
    if let Some(batched) = &check.batched {
        if let Some(us) = batched.actual_us {
            let child = check
                .child
                .as_ref()
                .and_then(|c| c.actual_us)
                .map_or(String::new(), |c| format!(", one child {}", duration(c)));
            numbers.push(format!("measured: batch {}{child}", duration(us)));
        }
    }
    if let (Some(rows), Some(size)) = (check.table_rows, check.table_bytes) {
        numbers.push(format!(
            "{}: {} rows, {}",
            check.table.as_deref().unwrap_or("table"),
            thousands(rows),
            bytes(size)
        ));
    }
    if !numbers.is_empty() {
        lines.push(numbers.join("; "));
    }
    lines
}

/// `to_many (books looked up by its foreign key author_id); Django (evidence): prefetch…`.
pub(crate) fn advice(advice: &Advice) -> Vec<String> {
    let relation = serde_json_id(advice.relation);
    let mut lines = vec![format!("{relation}: {}", advice.relation_evidence)];
    match (&advice.framework, &advice.framework_evidence) {
        (Some(name), Some(evidence)) => {
            lines.push(format!("{name} (from {evidence}): {}", advice.fix))
        }
        (None, Some(evidence)) => lines.push(format!("no ORM named ({evidence}): {}", advice.fix)),
        _ => lines.push(format!("no framework evidence in the SQL: {}", advice.fix)),
    }
    lines.extend(advice.warnings.iter().map(|w| format!("note: {w}")));
    lines
}

fn serde_json_id(relation: querycomb_core::Relation) -> &'static str {
    use querycomb_core::Relation::*;
    match relation {
        ToOne => "to-one",
        ToMany => "to-many",
        ManyToMany => "many-to-many",
        Aggregate => "aggregate per row",
        Write => "write per row",
        Unknown => "relation unknown",
    }
}

/// `saves 29 statements and round trips per request (2,871 over the run), 4.1 ms …`, then
/// the pool arithmetic, saying which of its numbers could not be measured rather than
/// printing one.
pub(crate) fn impact(impact: &Impact) -> String {
    let mut text = format!(
        "saves {} statements and round trips per request ({} over the run)",
        thousands(impact.statements_saved),
        thousands(impact.statements_saved_total)
    );
    match impact.db_time_saved_us {
        Some(us) => text.push_str(&format!(", {} of database time", duration(us))),
        None => text.push_str(", database time not measured (no statement durations)"),
    }
    let Some((hold, now)) = impact.hold_us.zip(impact.pool_rps_now) else {
        text.push_str("; pool capacity not measured (the request was not timed)");
        return text;
    };
    text.push_str(&format!(
        "; taking {} of connection time per request, a pool of {} serves at most {:.0} requests/s",
        duration(hold),
        impact.pool_size,
        now
    ));
    match impact.hold_after_us.zip(impact.pool_rps_after) {
        Some((after, rps)) => text.push_str(&format!(
            ", about {rps:.0} after the fix ({} per request)",
            duration(after)
        )),
        None => text.push_str(", after the fix not measured (no statement durations)"),
    }
    match impact.observed_rps.zip(impact.saturating_hold_us) {
        Some((rps, hold)) => text.push_str(&format!(
            "; at the {rps:.1} requests/s this route ran, the pool is saturated once a request takes {} of connection time",
            duration(hold)
        )),
        None => text.push_str("; no request rate observed for this route (fewer than two timed requests)"),
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use querycomb_core::Relation;

    /// The stack line names the framework with its evidence, says the evidence when it names
    /// no ORM (tags of a stack querycomb has no fix for), and says when there was none.
    #[test]
    fn the_stack_line_says_what_named_the_framework() {
        let mut given = Advice {
            relation: Relation::ToOne,
            relation_evidence: "authors looked up by its id".into(),
            framework: Some("Django".into()),
            framework_evidence: Some("sqlcommenter tag framework='django:5.2.19'".into()),
            fix: "select_related(\"author\") on the parent queryset".into(),
            warnings: Vec::new(),
        };
        assert_eq!(
            advice(&given)[1],
            "Django (from sqlcommenter tag framework='django:5.2.19'): select_related(\"author\") on the parent queryset"
        );
        given.framework = None;
        given.framework_evidence =
            Some("sqlcommenter tags framework='flask:3.1.0' (no ORM querycomb knows)".into());
        given.fix = "one query for all parents' rows".into();
        assert_eq!(
            advice(&given)[1],
            "no ORM named (sqlcommenter tags framework='flask:3.1.0' (no ORM querycomb knows)): one query for all parents' rows"
        );
        given.framework_evidence = None;
        assert_eq!(
            advice(&given)[1],
            "no framework evidence in the SQL: one query for all parents' rows"
        );
    }

    /// Every number of the pool arithmetic is printed when measured, and said to be
    /// unmeasured when not: never a rate from a hold time of nothing.
    #[test]
    fn the_impact_says_which_numbers_were_not_measured() {
        let mut given = Impact {
            statements_saved: 7,
            statements_saved_total: 7,
            round_trips_saved: 7,
            db_time_saved_us: Some(14_000),
            pool_size: 10,
            hold_us: Some(17_000),
            hold_after_us: Some(4_000),
            pool_rps_now: Some(588.2),
            pool_rps_after: Some(2_500.0),
            observed_rps: Some(2.0),
            saturating_hold_us: Some(5_000_000),
        };
        assert_eq!(
            impact(&given),
            "saves 7 statements and round trips per request (7 over the run), 14.0 ms of database time; \
             taking 17.0 ms of connection time per request, a pool of 10 serves at most 588 requests/s, \
             about 2500 after the fix (4.0 ms per request); at the 2.0 requests/s this route ran, the \
             pool is saturated once a request takes 5.00 s of connection time"
        );
        given.observed_rps = None;
        given.saturating_hold_us = None;
        assert!(impact(&given).ends_with(
            "; no request rate observed for this route (fewer than two timed requests)"
        ));
        given.db_time_saved_us = None;
        given.hold_after_us = None;
        given.pool_rps_after = None;
        let text = impact(&given);
        assert!(
            text.contains(", database time not measured (no statement durations)"),
            "{text}"
        );
        assert!(
            text.contains(", after the fix not measured (no statement durations)"),
            "{text}"
        );
        given.hold_us = None;
        given.pool_rps_now = None;
        assert!(
            impact(&given).ends_with("; pool capacity not measured (the request was not timed)")
        );
    }
}

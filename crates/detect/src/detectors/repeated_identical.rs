//! `repeated_identical`: one shape run with the *same* parameters at least
//! `repeated_identical` times in one request (middleware loading the current user per item,
//! a settings lookup per row). The fix is a per-request memo, not a batched query.
//!
//! A shape with several parameter sets that the loop detectors report as a loop
//! ([`UnitAnalysis::reported_loop`]) is theirs. One they do not (too few executions, a
//! read loop in a burst with no parent, batches, pages) is reported here when its most
//! repeated parameter set alone ran often enough: one stray execution with other parameters
//! (another request's, where requests cannot be told apart) does not hide the repetition.
//! The finding is that set's executions only: its count, its time, its statements.

use querycomb_core::{BaseSeverity, FindingKind, KindInfo};
use querycomb_sql::Verb;

use super::{Candidate, Detector, MessageParts, UnitAnalysis};

pub const KIND: FindingKind = FindingKind::new("repeated_identical");

pub static INFO: KindInfo = KindInfo {
    kind: KIND,
    title: "repeated identical query",
    rule_name: "RepeatedIdenticalQuery",
    summary: "The same query with the same parameters runs again and again.",
    help: "One request ran the same statement with the same parameters many times. Read it once and reuse the result for the request (memoize), or cache it.",
    severity: BaseSeverity::Repeated,
    after_fix: "repetitions replaced by one query whose result is reused",
};

pub struct RepeatedIdentical;

impl Detector for RepeatedIdentical {
    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    fn message(&self, parts: &MessageParts<'_>) -> String {
        format!(
            "{} × the identical {} with the same parameters in one request (run once, reuse the result)",
            parts.candidate.count,
            parts.child()
        )
    }

    fn advice(&self) -> Option<&'static str> {
        Some("Run the query once per request and reuse the result (memoize it or pass it down).")
    }

    fn detect(&self, unit: &UnitAnalysis<'_>, out: &mut Vec<Candidate>) {
        let threshold = unit.thresholds.repeated_identical;
        for group in &unit.groups {
            // With one parameter set, the set is the whole group and no loop is reported.
            let eligible = unit.reportable(group)
                && is_repeatable_work(unit, group.fp)
                && unit.repeats_enough(group.max_same, group.same_us, threshold)
                && (group.distinct == 1 || unit.reported_loop(group).is_none());
            if eligible {
                // Only the most repeated parameter set's executions.
                out.push(Candidate {
                    count: group.max_same,
                    statements: group.max_same,
                    distinct_params: 1,
                    params: (group.distinct > 1).then_some(group.same_values),
                    total_us: group.same_us,
                    ..Candidate::of_group(self.kind(), group, None)
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

#[cfg(test)]
mod tests {
    use querycomb_core::{EventSink, Finding, Location, QueryEvent, SourceId};

    use super::KIND;
    use crate::detectors::n_plus_one;
    use crate::{Config, Occurrence, Pipeline};

    /// A statement and its bind parameters.
    type Sql = (&'static str, Option<&'static str>);

    const SETTING: &str = "SELECT value FROM settings WHERE name = $1";
    const MAINTENANCE: Sql = (SETTING, Some("$1 = 'maintenance'"));
    const CURRENCY: Sql = (SETTING, Some("$1 = 'currency'"));

    /// Runs `sqls` on one connection, 100 µs apart and 40 µs each, with sqlcommenter's
    /// `route` tag when given (one request) or untagged (one burst). Statement `i` is on
    /// line `i + 1`.
    fn run(route: Option<&str>, sqls: &[Sql]) -> (Vec<Finding>, Vec<Occurrence>) {
        let config = Config {
            keep_occurrences: true,
            show_params: true,
            ..Config::default()
        };
        let mut pipeline = Pipeline::new(config, querycomb_sql::Dialect::Postgres);
        for (i, (sql, params)) in (0u64..).zip(sqls) {
            let text = match route {
                Some(route) => format!("{sql} /*route='{route}'*/"),
                None => (*sql).to_owned(),
            };
            pipeline.event(&QueryEvent {
                location: Location {
                    source: SourceId(0),
                    line: i + 1,
                    byte: i * 100,
                },
                time: Some(1_700_000_000_000_000 + i as i64 * 100),
                duration_us: Some(40),
                session: "s1",
                sql: &text,
                params: *params,
                ..QueryEvent::default()
            });
        }
        let (collected, occurrences) = pipeline.finish_with_occurrences();
        (collected.findings, occurrences)
    }

    fn kinds(findings: &[Finding]) -> Vec<(querycomb_core::FindingKind, u32)> {
        findings.iter().map(|f| (f.kind, f.count)).collect()
    }

    /// A health check's read, then the same read of another setting six times: one burst,
    /// no parent before the shape's first execution, so no loop is reported.
    fn stray_then_six() -> Vec<Sql> {
        let mut sqls = vec![MAINTENANCE];
        sqls.extend([CURRENCY; 6]);
        sqls
    }

    #[test]
    fn the_most_repeated_set_beside_a_stray_one_is_a_repeated_identical_query() {
        let (findings, occurrences) = run(None, &stray_then_six());
        assert_eq!(kinds(&findings), [(KIND, 6)]);
        let f = &findings[0];
        assert_eq!(f.distinct_params, 1);
        assert_eq!(f.total_duration_us, Some(6 * 40));
        // The evidence is the six reads: the first of them, not the stray read.
        assert_eq!(f.children[0].location.line, 2);
        let examples = &f.children[0].example_params;
        assert!(!examples.is_empty());
        assert!(examples.iter().all(|e| e.contains("currency")), "{examples:?}");
        let lines: Vec<u64> = occurrences[0].children.iter().map(|l| l.line).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6, 7]);
        let waterfall_children = f
            .waterfall
            .iter()
            .filter(|b| b.role == querycomb_core::BarRole::Child)
            .count();
        assert_eq!(waterfall_children, 6);
    }

    #[test]
    fn the_stray_execution_may_come_anywhere() {
        let mut sqls = vec![CURRENCY; 3];
        sqls.push(MAINTENANCE);
        sqls.extend([CURRENCY; 3]);
        let (findings, occurrences) = run(None, &sqls);
        assert_eq!(kinds(&findings), [(KIND, 6)]);
        let lines: Vec<u64> = occurrences[0].children.iter().map(|l| l.line).collect();
        assert_eq!(lines, [1, 2, 3, 5, 6, 7]);
    }

    #[test]
    fn no_set_repeated_often_enough_is_no_finding() {
        let mut sqls = vec![MAINTENANCE; 3];
        sqls.extend([CURRENCY; 3]);
        let (findings, _) = run(None, &sqls);
        assert_eq!(kinds(&findings), []);
    }

    #[test]
    fn a_loop_stays_the_loop_detectors() {
        // Tagged, the books query is the parent: seven lookups over two authors are a loop,
        // reported once, as a loop of seven.
        let mut sqls = vec![("SELECT id, author_id FROM books", None)];
        sqls.push(("SELECT * FROM authors WHERE id = 1", None));
        sqls.extend([("SELECT * FROM authors WHERE id = 2", None); 6]);
        let (findings, _) = run(Some("/books"), &sqls);
        assert_eq!(kinds(&findings), [(n_plus_one::KIND, 7)]);
    }

    #[test]
    fn one_parameter_set_is_the_whole_group() {
        let (findings, occurrences) = run(Some("/prices"), &[CURRENCY; 5]);
        assert_eq!(kinds(&findings), [(KIND, 5)]);
        assert_eq!(findings[0].total_duration_us, Some(5 * 40));
        assert_eq!(occurrences[0].children.len(), 5);
    }
}

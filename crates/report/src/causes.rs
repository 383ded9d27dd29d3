//! One cause, one entry: findings that share a cause, grouped for the reader.
//!
//! Findings are de-duplicated by signature (kind, parent shape, child shapes), so one loop
//! in a fixture shared by many tests still shows as one finding per table it touches and
//! per statement before it. A *cause* groups findings of the same kind whose repeated
//! statements are the same shape family (the same SQL once the table names are set aside:
//! model variants and proxy models issue it against several tables) from the same code
//! location when the SQL names one. The members stay one level down.

use std::collections::BTreeSet;

use querycomb_core::test_route::test_of_route;
use querycomb_core::{Finding, FindingKind, RunSummary, Severity};

use crate::describe::{clean, headline, plural, thousands};

/// Findings that share a cause.
#[derive(Debug)]
pub struct Cause<'a> {
    pub kind: FindingKind,
    pub severity: Severity,
    pub members: Vec<&'a Finding>,
    /// The tests (routes without their phase) the members were first seen in.
    pub tests: BTreeSet<&'a str>,
    pub tables: BTreeSet<&'a str>,
    /// Every member's request is a test's setup or teardown.
    pub fixture: bool,
    /// Repeated statements over all members and occurrences.
    pub total_count: u64,
}

impl Cause<'_> {
    /// The member a reader looks at first: the most severe, then the largest.
    pub fn lead(&self) -> &Finding {
        self.members
            .iter()
            .copied()
            .max_by_key(|f| (f.severity, f.total_count))
            .expect("a cause has members")
    }
}

/// The grouping key: kind, child shape family, code location.
fn cause_key(finding: &Finding) -> (FindingKind, Vec<String>, Option<String>) {
    let family = finding
        .children
        .iter()
        .map(|child| match child.table.as_deref() {
            Some(table) if !table.is_empty() => child.normalized.replace(table, "?table"),
            _ => child.normalized.clone(),
        })
        .collect();
    let code = finding
        .children
        .first()
        .and_then(|c| c.source_location.clone());
    (finding.kind, family, code)
}

/// The finding's request is a test's setup or teardown phase (`querycomb run`).
pub fn is_fixture(finding: &Finding) -> bool {
    finding
        .request
        .route
        .as_deref()
        .is_some_and(|route| test_of_route(route).1.is_fixture())
}

/// Causes, most severe first, then by repeated statements.
pub fn causes<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Vec<Cause<'a>> {
    let mut keys: Vec<(FindingKind, Vec<String>, Option<String>)> = Vec::new();
    let mut out: Vec<Cause<'a>> = Vec::new();
    for finding in findings {
        let key = cause_key(finding);
        let index = match keys.iter().position(|k| *k == key) {
            Some(index) => index,
            None => {
                keys.push(key);
                out.push(Cause {
                    kind: finding.kind,
                    severity: finding.severity,
                    members: Vec::new(),
                    tests: BTreeSet::new(),
                    tables: BTreeSet::new(),
                    fixture: true,
                    total_count: 0,
                });
                out.len() - 1
            }
        };
        let Some(cause) = out.get_mut(index) else {
            continue;
        };
        cause.severity = cause.severity.max(finding.severity);
        cause.members.push(finding);
        cause.total_count += finding.total_count;
        let route = finding.request.route.as_deref();
        if let Some(route) = route {
            cause.tests.insert(test_of_route(route).0);
        }
        cause.fixture &= is_fixture(finding);
        cause
            .tables
            .extend(finding.children.iter().filter_map(|c| c.table.as_deref()));
    }
    out.sort_by_key(|c| std::cmp::Reverse((c.severity, c.total_count)));
    out
}

/// Causes shown in the short summary.
const TOP_CAUSES: usize = 10;
/// Tests named per cause in the short summary.
const TESTS_PER_CAUSE: usize = 2;

/// The short summary for stderr when the full report went elsewhere: at most about 30
/// lines — counts by kind and severity, the top causes with their tests, and where the
/// full report is.
pub fn short_summary(findings: &[Finding], summary: &RunSummary, full_report: &str) -> String {
    let causes = causes(findings);
    let mut out = String::new();
    let by_severity = |level: Severity| findings.iter().filter(|f| f.severity == level).count();
    out.push_str(&format!(
        "querycomb: {} in {} ({} error, {} warning, {} info); {} in {}\n",
        plural(findings.len() as u64, "finding", "findings"),
        plural(causes.len() as u64, "cause", "causes"),
        by_severity(Severity::Error),
        by_severity(Severity::Warning),
        by_severity(Severity::Info),
        plural(summary.statements, "statement", "statements"),
        plural(summary.requests, "request", "requests"),
    ));
    if !summary.findings_by_kind.is_empty() {
        let kinds: Vec<String> = summary
            .findings_by_kind
            .iter()
            .map(|(kind, n)| format!("{} {}", kind.id(), thousands(*n)))
            .collect();
        out.push_str(&format!("  kinds: {}\n", kinds.join(", ")));
    }
    if causes.iter().any(|c| !is_fixture_cause(c)) {
        out.push_str("  top causes:\n");
    }
    out.push_str(&top_causes(&causes, "in the full report"));
    out.push_str(&format!("  full report: {}\n", clean(full_report)));
    out
}

/// A cause made only of info findings in tests' setup and teardown.
fn is_fixture_cause(cause: &Cause<'_>) -> bool {
    cause.fixture && cause.severity == Severity::Info
}

/// The first [`TOP_CAUSES`] causes of the code under test, one line each, then how many
/// more there are (`rest_where`: where a reader finds them) and one line for the fixture
/// causes: the part of a report that fits on one screen, whatever the size of the run.
pub fn top_causes(causes: &[Cause<'_>], rest_where: &str) -> String {
    let (fixtures, own): (Vec<&Cause<'_>>, Vec<&Cause<'_>>) =
        causes.iter().partition(|c| is_fixture_cause(c));
    let mut out = String::new();
    for cause in own.iter().take(TOP_CAUSES) {
        out.push_str(&cause_line(cause));
    }
    if own.len() > TOP_CAUSES {
        let rest = &own[TOP_CAUSES..];
        let findings: usize = rest.iter().map(|c| c.members.len()).sum();
        out.push_str(&format!(
            "    … and {} more ({}) {rest_where}\n",
            rest.len(),
            plural(findings as u64, "finding", "findings"),
        ));
    }
    if !fixtures.is_empty() {
        let members: usize = fixtures.iter().map(|c| c.members.len()).sum();
        out.push_str(&format!(
            "  fixtures: {} ({}) in tests' setup/teardown, at info (--include-fixtures raises them)\n",
            plural(fixtures.len() as u64, "cause", "causes"),
            plural(members as u64, "finding", "findings"),
        ));
    }
    out
}

/// `error  N+1 query on shop_author ×8, seen in 2 requests — 3 tests, 2 tables: a, b, …`
pub(crate) fn cause_line(cause: &Cause<'_>) -> String {
    let mut line = format!(
        "    {:<7}  {}",
        cause.severity.id(),
        clean(&headline(cause.lead()))
    );
    let mut scope = Vec::new();
    if cause.members.len() > 1 {
        scope.push(plural(cause.members.len() as u64, "finding", "findings"));
    }
    if cause.tables.len() > 1 {
        scope.push(plural(cause.tables.len() as u64, "table", "tables"));
    }
    if !cause.tests.is_empty() {
        let named: Vec<String> = cause
            .tests
            .iter()
            .take(TESTS_PER_CAUSE)
            .map(|t| clean(t))
            .collect();
        let more = cause.tests.len().saturating_sub(TESTS_PER_CAUSE);
        let tests = if more > 0 {
            format!("{} (+{more})", named.join(", "))
        } else {
            named.join(", ")
        };
        scope.push(format!(
            "{}: {tests}",
            if cause.tests.len() == 1 {
                "test"
            } else {
                "tests"
            }
        ));
    }
    if !scope.is_empty() {
        line.push_str(" — ");
        line.push_str(&scope.join("; "));
    }
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    /// The same loop over a model variant's table, in another test, with another parent.
    fn variant(table: &str, test: &str, severity: Severity) -> Finding {
        let mut finding = fixtures::n_plus_one();
        let original = finding.children[0].table.clone().expect("a table");
        for child in &mut finding.children {
            child.normalized = child.normalized.replace(&original, table);
            child.table = Some(table.to_owned());
        }
        finding.signature = format!("{table}{test}");
        finding.severity = severity;
        finding.request.route = Some(test.to_owned());
        finding
    }

    #[test]
    fn one_loop_over_variant_tables_in_several_tests_is_one_cause() {
        let findings = vec![
            variant("tree_node", "t.py::a", Severity::Warning),
            variant("tree_proxynode", "t.py::b (setup)", Severity::Error),
            variant("tree_node", "t.py::c", Severity::Warning),
            fixtures::repeated_identical(),
        ];
        let causes = causes(&findings);
        assert_eq!(causes.len(), 2, "{causes:#?}");
        let lead = &causes[0];
        assert_eq!(lead.members.len(), 3);
        assert_eq!(lead.severity, Severity::Error);
        assert_eq!(
            lead.tests.iter().copied().collect::<Vec<_>>(),
            ["t.py::a", "t.py::b", "t.py::c"]
        );
        assert_eq!(lead.tables.len(), 2);
        assert!(!lead.fixture, "two members are the tests' own work");
        let line = cause_line(lead);
        assert!(
            line.contains("3 findings; 2 tables; tests: t.py::a, t.py::b (+1)"),
            "{line}"
        );
    }

    #[test]
    fn the_short_summary_fits_a_screen_and_says_where_the_report_is() {
        let mut findings: Vec<Finding> = (0..40)
            .map(|i| {
                let mut f = variant(
                    &format!("table_{i}"),
                    &format!("t.py::t{i}"),
                    Severity::Warning,
                );
                // A different shape each: 40 causes.
                f.children[0]
                    .normalized
                    .push_str(&format!(" /* {i} */ AND x{i} = 1"));
                f
            })
            .collect();
        let mut fixture = variant("fx", "t.py::f (teardown)", Severity::Info);
        fixture.children[0].normalized = "DELETE FROM fx".to_owned();
        findings.push(fixture);
        let text = short_summary(&findings, &fixtures::summary(), "out.xml (junit)");
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() <= 30, "{text}");
        assert!(
            lines[0]
                .starts_with("querycomb: 41 findings in 41 causes (0 error, 40 warning, 1 info)"),
            "{text}"
        );
        assert!(
            text.contains("… and 30 more (30 findings) in the full report"),
            "{text}"
        );
        assert!(text.contains("fixtures: 1 cause (1 finding)"), "{text}");
        assert_eq!(lines.last(), Some(&"  full report: out.xml (junit)"));
    }
}

//! `over_budget`: a request that ran more statements, more repeats of one shape, or more
//! statement time than its query budget allows (`querycomb run --budgets`).
//!
//! Budgets are limits a team writes down for its golden endpoints or tests ("`/invoices`:
//! at most 6 queries"), so unlike the loop detectors nothing here is a heuristic: a request
//! over any limit is a finding. Statements exempt from findings (an `allow_sql` or
//! `allow_tables` match, the inline `/* querycomb:allow */` marker) are not counted, and
//! requests on `allow_routes` never reach the detectors.
//!
//! The finding's children are the shapes that dominate the request (most executions
//! first), so a reader sees at once which query made it grow. `count` and `statements`
//! are the counted statements of the request, `total_us` their total time.

use querycomb_core::{BaseSeverity, FindingKind, KindInfo, Severity};

use super::{Candidate, Detector, Group, MessageParts, UnitAnalysis};
pub use crate::budget::{Budget, BudgetLimit, BudgetRule, BudgetUsage, Budgets};

/// Shapes named as the cause of an over-budget request.
const DOMINANT_SHAPES: usize = 3;

pub const KIND: FindingKind = FindingKind::new("over_budget");

pub static INFO: KindInfo = KindInfo {
    kind: KIND,
    title: "over budget",
    rule_name: "QueryBudgetExceeded",
    summary: "A request ran more statements, repeats or time than its budget allows.",
    help: "The request exceeded its query budget from the budget file. Fix the pattern that grew (usually an N+1 listed with it) or raise the budget deliberately in the budget file.",
    severity: BaseSeverity::Fixed(Severity::Error),
    after_fix: "statements back within the budget",
};

pub struct OverBudget;

impl Detector for OverBudget {
    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    /// Which budget (its line in the budget file), by how much, and which shapes
    /// dominate: `"/invoices" over budget (budgets.toml:5): 31 statements (budget 6) in
    /// one request; most run: 25 × SELECT … FROM customers …`.
    fn message(&self, parts: &MessageParts<'_>) -> String {
        let header = &parts.unit.unit.header;
        let route = header.route.as_deref();
        let (budget, rule) = parts.config.budgets.rule_for(route);
        let origin = rule
            .and_then(|r| r.origin.as_deref())
            .unwrap_or("default budget");
        let name = route.map_or_else(
            || format!("request {}", crate::findings::request_ref(header).id),
            |r| format!("{r:?}"),
        );
        let candidate = parts.candidate;
        let mut limits = vec![match budget.max_statements {
            Some(max) => format!("{} statements (budget {max})", candidate.count),
            None => format!("{} statements", candidate.count),
        }];
        let repeats: Vec<u32> = candidate
            .children
            .iter()
            .map(|fp| parts.unit.count_of(*fp))
            .collect();
        if let (Some(max), Some(top)) = (budget.max_repeats, repeats.first()) {
            limits.push(format!("one shape {top}× (budget {max})"));
        }
        if let (Some(max), Some(us)) = (budget.max_total_ms, candidate.total_us) {
            limits.push(format!("{:.1} ms (budget {max} ms)", us as f64 / 1000.0));
        }
        let dominant: Vec<String> = parts
            .children
            .iter()
            .zip(repeats)
            .map(|(child, n)| format!("{n} × {}", crate::findings::excerpt(&child.normalized)))
            .collect();
        format!(
            "{name} over budget ({origin}): {} in one request; most run: {}",
            limits.join(", "),
            dominant.join("; ")
        )
    }

    fn detect(&self, unit: &UnitAnalysis<'_>, out: &mut Vec<Candidate>) {
        let budget = unit.thresholds.budget;
        if budget.is_unlimited() {
            return;
        }
        let counted: Vec<&Group> = unit.groups.iter().filter(|g| unit.reportable(g)).collect();
        let usage = usage(unit, &counted);
        if budget.exceeded_by(&usage).is_empty() {
            return;
        }
        let children = dominant(&counted);
        out.push(Candidate {
            kind: self.kind(),
            parent: None,
            distinct_params: children.first().map_or(0, |g| g.distinct),
            params: None,
            children: children.iter().map(|g| g.fp).collect(),
            count: usage.statements,
            statements: usage.statements,
            total_us: usage.total_us,
            rows: None,
            result_bytes: None,
        });
    }
}

/// The request's counted statements (exempt ones taken off the header's total, which
/// covers every batch of a very long request), its biggest repeat and its total time.
fn usage(unit: &UnitAnalysis<'_>, counted: &[&Group]) -> BudgetUsage {
    let exempt: u32 = unit
        .groups
        .iter()
        .filter(|g| !unit.reportable(g))
        .map(|g| g.count)
        .sum();
    let total_us = counted
        .iter()
        .filter_map(|g| g.total_us)
        .reduce(u64::saturating_add);
    BudgetUsage {
        statements: unit.unit.header.statements.saturating_sub(exempt),
        max_repeats: counted.iter().map(|g| g.count).max().unwrap_or(0),
        total_us,
    }
}

/// The most executed shapes, most first (ties: the one that ran first); shapes that ran
/// once are named only when nothing repeated.
fn dominant<'g>(counted: &[&'g Group]) -> Vec<&'g Group> {
    let mut by_count = counted.to_vec();
    by_count.sort_by_key(|g| (std::cmp::Reverse(g.count), g.first));
    let repeated = by_count.iter().filter(|g| g.count > 1).count();
    by_count.truncate(repeated.clamp(1, DOMINANT_SHAPES));
    by_count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::NamePattern;

    fn budget(statements: Option<u32>, repeats: Option<u32>, ms: Option<u64>) -> Budget {
        Budget {
            max_statements: statements,
            max_repeats: repeats,
            max_total_ms: ms,
        }
    }

    #[test]
    fn limits_are_exceeded_only_strictly_above() {
        let usage = BudgetUsage {
            statements: 6,
            max_repeats: 3,
            total_us: Some(10_000),
        };
        assert!(budget(Some(6), Some(3), Some(10))
            .exceeded_by(&usage)
            .is_empty());
        assert_eq!(
            budget(Some(5), Some(2), Some(9)).exceeded_by(&usage),
            vec![
                BudgetLimit::Statements,
                BudgetLimit::Repeats,
                BudgetLimit::TotalTime
            ]
        );
    }

    #[test]
    fn unknown_time_never_exceeds_a_time_limit() {
        let usage = BudgetUsage {
            statements: 1,
            max_repeats: 1,
            total_us: None,
        };
        assert!(budget(None, None, Some(0)).exceeded_by(&usage).is_empty());
    }

    #[test]
    fn first_matching_rule_wins_and_falls_back_to_the_default() {
        let rule = |route: &str, b: Budget| BudgetRule {
            route: NamePattern::new(route).unwrap(),
            budget: b,
            origin: None,
        };
        let budgets = Budgets {
            default: budget(Some(50), Some(10), None),
            routes: vec![
                rule("/invoices", budget(Some(6), None, None)),
                rule("/invoices*", budget(Some(99), None, None)),
            ],
        };
        assert_eq!(
            budgets.for_route(Some("/invoices")),
            budget(Some(6), Some(10), None)
        );
        assert_eq!(
            budgets.for_route(Some("/invoices/7")),
            budget(Some(99), Some(10), None)
        );
        assert_eq!(
            budgets.for_route(Some("/elsewhere")),
            budget(Some(50), Some(10), None)
        );
        assert!(budgets.for_route(None).is_unlimited());
        assert!(Budget::default().is_unlimited());
    }

    /// Runs `sqls` as one request tagged with `route` through the whole pipeline.
    fn findings_for(
        route: &str,
        sqls: &[String],
        budgets: Budgets,
    ) -> Vec<querycomb_core::Finding> {
        use querycomb_core::{EventSink, QueryEvent};
        let config = crate::Config {
            budgets,
            ..crate::Config::default()
        };
        let mut pipeline = crate::Pipeline::new(config, querycomb_sql::Dialect::Postgres);
        for (i, sql) in sqls.iter().enumerate() {
            let tagged = format!("{sql} /*route='{route}'*/");
            pipeline.event(&QueryEvent {
                time: Some(1_000_000 + i as i64 * 100),
                duration_us: Some(50),
                session: "s1",
                sql: &tagged,
                ..QueryEvent::default()
            });
        }
        pipeline.finish().findings
    }

    fn n_plus_one_request(children: usize) -> Vec<String> {
        let mut sqls = vec!["SELECT id, author_id FROM books".to_owned()];
        sqls.extend((0..children).map(|i| format!("SELECT * FROM authors WHERE id = {i}")));
        sqls
    }

    #[test]
    fn request_over_its_route_budget_is_a_finding_naming_the_dominant_shape() {
        let budgets = Budgets {
            default: Budget::default(),
            routes: vec![BudgetRule {
                route: NamePattern::new("/books").unwrap(),
                budget: budget(Some(3), Some(2), None),
                origin: Some("budgets.toml:7".into()),
            }],
        };
        let findings = findings_for("/books", &n_plus_one_request(4), budgets);
        let over: Vec<_> = findings.iter().filter(|f| f.kind == KIND).collect();
        assert_eq!(over.len(), 1, "{findings:#?}");
        assert_eq!(over[0].count, 5);
        assert_eq!(over[0].request.route.as_deref(), Some("/books"));
        assert_eq!(over[0].total_duration_us, Some(250));
        assert!(over[0].children[0].normalized.contains("authors"));
        // The message is decided here, with the rule's place in the budget file.
        let message = &over[0].message;
        assert!(
            message.starts_with("\"/books\" over budget (budgets.toml:7): 5 statements (budget 3)"),
            "{message}"
        );
        assert!(message.contains("one shape 4× (budget 2)"), "{message}");
        assert!(message.contains("4 × SELECT * FROM authors"), "{message}");
    }

    #[test]
    fn two_routes_over_budget_on_the_same_queries_are_two_findings() {
        use querycomb_core::{EventSink, QueryEvent};
        let config = crate::Config {
            budgets: Budgets {
                default: budget(Some(3), None, None),
                routes: Vec::new(),
            },
            ..crate::Config::default()
        };
        let mut pipeline = crate::Pipeline::new(config, querycomb_sql::Dialect::Postgres);
        let mut time = 1_000_000;
        for route in ["/books", "/library"] {
            for sql in n_plus_one_request(4) {
                time += 100;
                let tagged = format!("{sql} /*route='{route}'*/");
                pipeline.event(&QueryEvent {
                    time: Some(time),
                    session: "s1",
                    sql: &tagged,
                    ..QueryEvent::default()
                });
            }
        }
        let findings = pipeline.finish().findings;
        let mut routes: Vec<_> = findings
            .iter()
            .filter(|f| f.kind == KIND)
            .map(|f| f.request.route.clone().unwrap_or_default())
            .collect();
        routes.sort();
        assert_eq!(routes, ["/books", "/library"], "{findings:#?}");
    }

    #[test]
    fn request_within_budget_or_on_another_route_is_not_a_finding() {
        let budgets = || Budgets {
            default: Budget::default(),
            routes: vec![BudgetRule {
                route: NamePattern::new("/books").unwrap(),
                budget: budget(Some(5), Some(4), None),
                origin: None,
            }],
        };
        let within = findings_for("/books", &n_plus_one_request(4), budgets());
        assert!(within.iter().all(|f| f.kind != KIND));
        let elsewhere = findings_for("/other", &n_plus_one_request(9), budgets());
        assert!(elsewhere.iter().all(|f| f.kind != KIND));
    }

    #[test]
    fn untagged_requests_have_no_budget() {
        use querycomb_core::{EventSink, QueryEvent};
        let config = crate::Config {
            budgets: Budgets {
                default: budget(Some(1), Some(1), Some(0)),
                routes: Vec::new(),
            },
            ..crate::Config::default()
        };
        let mut pipeline = crate::Pipeline::new(config, querycomb_sql::Dialect::Postgres);
        for (i, sql) in n_plus_one_request(3).iter().enumerate() {
            pipeline.event(&QueryEvent {
                time: Some(1_000_000 + i as i64 * 100),
                session: "s1",
                sql,
                ..QueryEvent::default()
            });
        }
        let findings = pipeline.finish().findings;
        assert!(findings.iter().all(|f| f.kind != KIND));
    }

    #[test]
    fn repeats_limit_catches_a_loop_under_the_statement_limit() {
        let budgets = Budgets {
            default: budget(Some(100), Some(2), None),
            routes: Vec::new(),
        };
        let findings = findings_for("/books", &n_plus_one_request(3), budgets);
        assert!(findings.iter().any(|f| f.kind == KIND));
    }
}

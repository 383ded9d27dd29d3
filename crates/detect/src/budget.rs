//! Query budgets: the limits a team writes down for its endpoints or tests ("`/invoices`: at
//! most 6 queries"), as the configuration holds them. The `over_budget` detector
//! (`detectors/over_budget.rs`) holds requests to them; the proxy enforces them live.

use crate::pattern::NamePattern;

/// Limits for one request; `None` means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Budget {
    /// Counted statements in one request.
    pub max_statements: Option<u32>,
    /// Executions of any one statement shape (fingerprint) in one request.
    pub max_repeats: Option<u32>,
    /// Total server time of the request's statements, when durations are known.
    pub max_total_ms: Option<u64>,
}

impl Budget {
    pub fn is_unlimited(&self) -> bool {
        self.max_statements.is_none() && self.max_repeats.is_none() && self.max_total_ms.is_none()
    }

    /// Each limit of `self`, else the one of `fallback`.
    pub fn or(self, fallback: Budget) -> Budget {
        Budget {
            max_statements: self.max_statements.or(fallback.max_statements),
            max_repeats: self.max_repeats.or(fallback.max_repeats),
            max_total_ms: self.max_total_ms.or(fallback.max_total_ms),
        }
    }

    /// Which limits `usage` exceeds.
    pub fn exceeded_by(&self, usage: &BudgetUsage) -> Vec<BudgetLimit> {
        let mut over = Vec::new();
        if self
            .max_statements
            .is_some_and(|max| usage.statements > max)
        {
            over.push(BudgetLimit::Statements);
        }
        if self.max_repeats.is_some_and(|max| usage.max_repeats > max) {
            over.push(BudgetLimit::Repeats);
        }
        let max_us = self.max_total_ms.map(|ms| ms.saturating_mul(1000));
        if max_us.is_some_and(|max| usage.total_us.is_some_and(|us| us > max)) {
            over.push(BudgetLimit::TotalTime);
        }
        over
    }
}

/// One of the three limits of a [`Budget`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetLimit {
    Statements,
    Repeats,
    TotalTime,
}

/// What one request used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BudgetUsage {
    pub statements: u32,
    pub max_repeats: u32,
    pub total_us: Option<u64>,
}

/// A budget for the requests whose route (or test name, tagged as the route) matches.
#[derive(Debug, Clone)]
pub struct BudgetRule {
    /// Glob or `re:<regex>`, as for `allow_routes`.
    pub route: NamePattern,
    pub budget: Budget,
    /// Where the rule was written (`budgets.toml:12`), for the finding's message.
    pub origin: Option<String>,
}

/// The default budget and the per-route ones; the first matching rule wins, and limits it
/// leaves unset fall back to the default's.
///
/// Only requests with a route (or test) tag have a budget: untagged statements (fixtures,
/// migrations, driver set-up) are grouped by transaction or idle gap, a guess that a
/// limit cannot fairly be held to.
#[derive(Debug, Clone, Default)]
pub struct Budgets {
    pub default: Budget,
    pub routes: Vec<BudgetRule>,
}

impl Budgets {
    pub fn for_route(&self, route: Option<&str>) -> Budget {
        self.rule_for(route).0
    }

    /// The budget of a request on `route` and the rule it came from (`None`: the default,
    /// or no budget for an untagged request).
    pub fn rule_for(&self, route: Option<&str>) -> (Budget, Option<&BudgetRule>) {
        let Some(route) = route else {
            return (Budget::default(), None);
        };
        match self.routes.iter().find(|rule| rule.route.matches(route)) {
            Some(rule) => (rule.budget.or(self.default), Some(rule)),
            None => (self.default, None),
        }
    }
}

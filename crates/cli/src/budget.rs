//! Query budgets: the `[budgets]` tables of `querycomb.toml` (or of the file given with
//! `--budgets`), turned into the detection stage's [`Budgets`], and the wording of the
//! over-budget findings it produces.
//!
//! ```toml
//! [budgets]
//! strict = false            # true: a route pattern that matched no request fails the run
//!
//! [budgets.default]         # every request, unless a route entry below says otherwise
//! max_statements = 40       # statements in one request
//! max_repeats = 10          # executions of any one statement shape in one request
//! max_total_ms = 500        # total statement time of one request
//!
//! [[budgets.route]]         # first matching entry wins; unset limits use the default's
//! route = "GET /invoices"   # glob (`*`, `?`) or `re:<regex>`, matched against the
//! max_statements = 6        #   sqlcommenter `route` (or `controller#action`) tag
//!
//! [[budgets.route]]
//! test = "tests/test_books.py::*"   # same as `route`: tests tag their SQL with the test id
//! max_repeats = 1
//! ```
//!
//! Every mistake is reported with the file, the line and the key: TOML errors carry them,
//! and each route pattern keeps its span so that an entry that matched nothing in the run
//! can be named by its line.

use std::collections::BTreeMap;
use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};

use querycomb_core::RunSummary;
use querycomb_detect::detectors::over_budget::{Budget, BudgetRule, Budgets};
use querycomb_detect::NamePattern;
use querycomb_proxy::{EnforceMode, LiveLimits};
use serde::Deserialize;

/// `[budgets]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSection {
    /// A route pattern that matched no request is an error instead of a warning.
    pub strict: Option<bool>,
    #[serde(default)]
    pub default: DefaultBudget,
    #[serde(default)]
    pub route: Vec<RouteBudgetEntry>,
}

/// `[budgets.default]` as written: the detection stage's limits, the proxy's live ceilings
/// and the enforcement mode (`querycomb proxy --enforce`, docs/production.md).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultBudget {
    pub max_statements: Option<u32>,
    pub max_repeats: Option<u32>,
    pub max_total_ms: Option<u64>,
    pub max_transaction_statements: Option<u32>,
    pub max_rows: Option<u64>,
    pub enforce: Option<EnforceName>,
}

/// `enforce = "observe" | "warn" | "reject"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnforceName {
    Observe,
    Warn,
    Reject,
}

impl From<EnforceName> for EnforceMode {
    fn from(name: EnforceName) -> EnforceMode {
        match name {
            EnforceName::Observe => EnforceMode::Observe,
            EnforceName::Warn => EnforceMode::Warn,
            EnforceName::Reject => EnforceMode::Reject,
        }
    }
}

/// One `[[budgets.route]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteBudgetEntry {
    /// `test = "…"` reads the same: a test names itself in the `route` tag.
    #[serde(alias = "test")]
    pub route: toml::Spanned<String>,
    pub max_statements: Option<u32>,
    pub max_repeats: Option<u32>,
    pub max_total_ms: Option<u64>,
    /// Live ceilings and mode for `querycomb proxy`.
    pub max_transaction_statements: Option<u32>,
    pub max_rows: Option<u64>,
    pub enforce: Option<EnforceName>,
}

/// A file given with `--budgets`: only `[budgets]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetFile {
    #[serde(default)]
    budgets: BudgetSection,
}

/// One route budget, ready to match, with where it was written.
#[derive(Debug, Clone)]
pub struct LoadedRule {
    pub pattern_text: String,
    pub pattern: NamePattern,
    pub budget: Budget,
    /// What `querycomb proxy` enforces live for this entry.
    pub live: LiveLimits,
    pub enforce: Option<EnforceMode>,
    /// `file:line` of its `route =` key.
    pub origin: String,
}

/// The budgets of a run.
#[derive(Debug, Clone, Default)]
pub struct LoadedBudgets {
    pub default: Budget,
    pub live_default: LiveLimits,
    pub enforce: Option<EnforceMode>,
    pub rules: Vec<LoadedRule>,
    pub strict: bool,
}

impl LoadedBudgets {
    /// What the detection stage checks.
    pub fn to_detect(&self) -> Budgets {
        Budgets {
            default: self.default,
            routes: self
                .rules
                .iter()
                .map(|rule| BudgetRule {
                    route: rule.pattern.clone(),
                    budget: rule.budget,
                    origin: Some(rule.origin.clone()),
                })
                .collect(),
        }
    }

    /// The budget of a request on `route` and where it came from.
    /// Same rules as the detection stage's `Budgets::for_route`: untagged requests have no
    /// budget.
    pub fn for_route(&self, route: Option<&str>) -> (Budget, Option<&LoadedRule>) {
        let Some(route) = route else {
            return (Budget::default(), None);
        };
        match self.rules.iter().find(|rule| rule.pattern.matches(route)) {
            Some(rule) => (rule.budget.or(self.default), Some(rule)),
            None => (self.default, None),
        }
    }

    /// Route entries no request of the run matched (judged on the run's per-route
    /// statistics), for a warning or, when strict, an error.
    pub fn unmatched<'a>(&'a self, summary: &RunSummary) -> Vec<&'a LoadedRule> {
        self.rules
            .iter()
            .filter(|rule| {
                !summary
                    .routes
                    .iter()
                    .any(|r| rule.pattern.matches(&r.route))
            })
            .collect()
    }
}

/// Reads `--budgets FILE` when given, else the `[budgets]` of the configuration file
/// (`config_file` names it for messages; its text is read again for line numbers).
pub fn load(
    budgets_file: Option<&Path>,
    from_config: Option<BudgetSection>,
    config_file: &Path,
) -> Result<LoadedBudgets, String> {
    match budgets_file {
        Some(path) => {
            let text = fs::read_to_string(path)
                .map_err(|e| format!("cannot read budget file {}: {e}", path.display()))?;
            parse(&text, path)
        }
        None => match from_config {
            Some(section) => {
                let text = fs::read_to_string(config_file).unwrap_or_default();
                resolve(section, &text, config_file)
            }
            None => Ok(LoadedBudgets::default()),
        },
    }
}

/// Parses a budget file's text; errors name `path`, the line and the key.
pub fn parse(text: &str, path: &Path) -> Result<LoadedBudgets, String> {
    let file: BudgetFile = toml::from_str(text).map_err(|e| {
        format!(
            "budget file {}: {}",
            path.display(),
            e.to_string().trim_end()
        )
    })?;
    resolve(file.budgets, text, path)
}

fn resolve(section: BudgetSection, text: &str, path: &Path) -> Result<LoadedBudgets, String> {
    let rules = section
        .route
        .into_iter()
        .map(|entry| resolve_rule(entry, text, path))
        .collect::<Result<Vec<_>, String>>()?;
    let d = section.default;
    Ok(LoadedBudgets {
        default: Budget {
            max_statements: d.max_statements,
            max_repeats: d.max_repeats,
            max_total_ms: d.max_total_ms,
        },
        live_default: LiveLimits {
            max_statements: d.max_statements,
            max_transaction_statements: d.max_transaction_statements,
            max_rows: d.max_rows,
        },
        enforce: d.enforce.map(EnforceMode::from),
        rules,
        strict: section.strict.unwrap_or(false),
    })
}

fn resolve_rule(entry: RouteBudgetEntry, text: &str, path: &Path) -> Result<LoadedRule, String> {
    let origin = format!("{}:{}", path.display(), line_of(text, entry.route.span()));
    let pattern_text = entry.route.get_ref().clone();
    let pattern = NamePattern::new(&pattern_text)
        .map_err(|e| format!("{origin}: key `route`: bad pattern {pattern_text:?}: {e}"))?;
    let budget = Budget {
        max_statements: entry.max_statements,
        max_repeats: entry.max_repeats,
        max_total_ms: entry.max_total_ms,
    };
    let live = LiveLimits {
        max_statements: entry.max_statements,
        max_transaction_statements: entry.max_transaction_statements,
        max_rows: entry.max_rows,
    };
    if budget.is_unlimited() && live.is_unlimited() {
        return Err(format!(
            "{origin}: budget for {pattern_text:?} sets no limit: add max_statements, \
             max_repeats, max_total_ms, max_transaction_statements or max_rows"
        ));
    }
    Ok(LoadedRule {
        pattern_text,
        pattern,
        budget,
        live,
        enforce: entry.enforce.map(EnforceMode::from),
        origin,
    })
}

/// 1-based line of a byte span's start.
fn line_of(text: &str, span: Range<usize>) -> usize {
    let upto = text.get(..span.start).unwrap_or(text);
    upto.bytes().filter(|&b| b == b'\n').count() + 1
}

/// For the JUnit report: each budgeted route's budget and its statements per request, so
/// that a CI test tab shows them on passing and failing cases alike.
pub fn case_notes(budgets: &LoadedBudgets, summary: &RunSummary) -> BTreeMap<String, String> {
    summary
        .routes
        .iter()
        .filter(|stat| !stat.route.is_empty())
        .filter_map(|stat| {
            let (budget, rule) = budgets.for_route(Some(&stat.route));
            if budget.is_unlimited() {
                return None;
            }
            let origin = rule.map_or("default budget", |r| r.origin.as_str());
            let note = format!(
                "query budget ({origin}): {}\nstatements per request: max {}, median {}, in {} request(s)",
                limits(&budget),
                stat.max,
                stat.p50,
                stat.requests
            );
            Some((stat.route.clone(), note))
        })
        .collect()
}

fn limits(budget: &Budget) -> String {
    let mut parts = Vec::new();
    if let Some(n) = budget.max_statements {
        parts.push(format!("max_statements = {n}"));
    }
    if let Some(n) = budget.max_repeats {
        parts.push(format!("max_repeats = {n}"));
    }
    if let Some(ms) = budget.max_total_ms {
        parts.push(format!("max_total_ms = {ms}"));
    }
    parts.join(", ")
}

/// Where budgets come from when `--budgets` is not given: the config file named with
/// `--config`, else `./querycomb.toml`.
pub fn config_file_name(explicit: Option<&Path>) -> PathBuf {
    explicit.map_or_else(
        || PathBuf::from(crate::config::DEFAULT_FILE),
        Path::to_path_buf,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<LoadedBudgets, String> {
        parse(text, Path::new("budgets.toml"))
    }

    #[test]
    fn reads_default_and_route_budgets_with_their_lines() {
        let budgets = parse_text(
            "[budgets.default]\nmax_statements = 40\n\n[[budgets.route]]\nroute = \"/invoices\"\n\
             max_statements = 6\n\n[[budgets.route]]\ntest = \"tests/*\"\nmax_repeats = 1\n",
        )
        .unwrap();
        assert_eq!(budgets.default.max_statements, Some(40));
        assert_eq!(budgets.rules.len(), 2);
        assert_eq!(budgets.rules[0].origin, "budgets.toml:5");
        assert_eq!(budgets.rules[1].origin, "budgets.toml:9");
        let (budget, rule) = budgets.for_route(Some("tests/test_a.py::test_x"));
        assert_eq!(budget.max_repeats, Some(1));
        assert_eq!(budget.max_statements, Some(40));
        assert_eq!(rule.map(|r| r.pattern_text.as_str()), Some("tests/*"));
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let err = parse_text("[[budgets.route]]\nroute = \"/a\"\nmax_statments = 3\n").unwrap_err();
        assert!(err.contains("budgets.toml"), "{err}");
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("max_statments"), "{err}");
    }

    #[test]
    fn wrong_type_names_file_line_and_key() {
        let err = parse_text("[budgets.default]\nmax_repeats = \"ten\"\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("max_repeats"), "{err}");
    }

    #[test]
    fn entry_without_limits_or_with_a_bad_regex_is_an_error_with_its_line() {
        let err = parse_text("\n[[budgets.route]]\nroute = \"/a\"\n").unwrap_err();
        assert!(err.starts_with("budgets.toml:3:"), "{err}");
        let err =
            parse_text("[[budgets.route]]\nroute = \"re:(\"\nmax_statements = 1\n").unwrap_err();
        assert!(err.starts_with("budgets.toml:2: key `route`"), "{err}");
    }

    #[test]
    fn case_notes_show_each_budgeted_route_with_its_counts() {
        let budgets = parse_text(
            "[[budgets.route]]\nroute = \"/a*\"\nmax_statements = 6\nmax_total_ms = 50\n",
        )
        .unwrap();
        let stat = |route: &str| querycomb_core::RouteStat {
            route: route.into(),
            requests: 2,
            max: 7,
            p50: 5,
            ..Default::default()
        };
        let summary = RunSummary {
            routes: vec![stat("/abc"), stat("/other"), stat("")],
            ..Default::default()
        };
        let notes = case_notes(&budgets, &summary);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert_eq!(
            notes["/abc"],
            "query budget (budgets.toml:2): max_statements = 6, max_total_ms = 50\n\
             statements per request: max 7, median 5, in 2 request(s)"
        );
    }

    #[test]
    fn unmatched_rules_are_found_from_route_stats() {
        let budgets = parse_text(
            "[[budgets.route]]\nroute = \"/a*\"\nmax_statements = 1\n\
             [[budgets.route]]\nroute = \"/nothing\"\nmax_statements = 1\n",
        )
        .unwrap();
        let summary = RunSummary {
            routes: vec![querycomb_core::RouteStat {
                route: "/abc".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let unmatched = budgets.unmatched(&summary);
        assert_eq!(unmatched.len(), 1);
        assert_eq!(unmatched[0].origin, "budgets.toml:5");
    }
}

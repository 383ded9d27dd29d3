//! querycomb's budgets file (`querycomb run --budgets FILE`, or the `[budgets]` tables of
//! `querycomb.toml`), read for in-process use: the same `[budgets.default]` and
//! `[[budgets.route]]` tables, so one file serves the CLI and the application.
//!
//! ```toml
//! [budgets.default]
//! max_statements = 40
//!
//! [[budgets.route]]
//! route = "GET /invoices"    # glob (`*`, `?`) or `re:<regex>`
//! max_statements = 6
//! ```
//!
//! `strict` is accepted and ignored here: it is about a whole `querycomb run`, where a route
//! pattern that matched no request can be judged.

use std::fmt;
use std::path::Path;

use querycomb_detect::detectors::over_budget::{Budget, BudgetRule, Budgets};
use querycomb_detect::NamePattern;
use serde::Deserialize;

/// The file: only `[budgets]` is read (a `querycomb.toml` has other tables too).
#[derive(Debug, Deserialize)]
struct BudgetFile {
    #[serde(default)]
    budgets: Section,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    #[allow(dead_code)]
    strict: Option<bool>,
    #[serde(default)]
    default: Budget,
    #[serde(default)]
    route: Vec<RouteEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteEntry {
    #[serde(alias = "test")]
    route: toml::Spanned<String>,
    max_statements: Option<u32>,
    max_repeats: Option<u32>,
    max_total_ms: Option<u64>,
}

/// A budgets file that cannot be used, with `file:line` when the mistake has a place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetError(String);

impl fmt::Display for BudgetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BudgetError {}

/// Reads the budgets file at `path`.
pub fn load_budgets(path: impl AsRef<Path>) -> Result<Budgets, BudgetError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path)
        .map_err(|e| BudgetError(format!("cannot read budget file {}: {e}", path.display())))?;
    parse_budgets(&text, path)
}

/// Parses budgets from `text`; `origin` names it in errors.
pub fn parse_budgets(text: &str, origin: &Path) -> Result<Budgets, BudgetError> {
    let at = |offset: usize| format!("{}:{}", origin.display(), line_of(text, offset));
    let file: BudgetFile = toml::from_str(text).map_err(|e| {
        let place = e
            .span()
            .map_or_else(|| origin.display().to_string(), |s| at(s.start));
        BudgetError(format!("{place}: {}", e.message()))
    })?;
    let mut routes = Vec::with_capacity(file.budgets.route.len());
    for entry in file.budgets.route {
        let text_of_pattern = entry.route.get_ref();
        let route = NamePattern::new(text_of_pattern).map_err(|e| {
            let place = at(entry.route.span().start);
            BudgetError(format!(
                "{place}: bad route pattern {text_of_pattern:?}: {e}"
            ))
        })?;
        let budget = Budget {
            max_statements: entry.max_statements,
            max_repeats: entry.max_repeats,
            max_total_ms: entry.max_total_ms,
        };
        routes.push(BudgetRule {
            route,
            budget,
            origin: None,
        });
    }
    Ok(Budgets {
        default: file.budgets.default,
        routes,
    })
}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()
        .get(..end)
        .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_cli_format() {
        let text = "[budgets]\nstrict = true\n[budgets.default]\nmax_statements = 40\n\n\
                    [[budgets.route]]\nroute = \"GET /invoices\"\nmax_statements = 6\n\n\
                    [[budgets.route]]\ntest = \"tests::*\"\nmax_repeats = 1\n";
        let budgets = parse_budgets(text, Path::new("budgets.toml")).unwrap();
        assert_eq!(budgets.default.max_statements, Some(40));
        let invoices = budgets.for_route(Some("GET /invoices"));
        assert_eq!(invoices.max_statements, Some(6));
        let test = budgets.for_route(Some("tests::books"));
        assert_eq!((test.max_repeats, test.max_statements), (Some(1), Some(40)));
        assert_eq!(
            budgets.for_route(Some("GET /other")).max_statements,
            Some(40)
        );
    }

    #[test]
    fn ignores_other_tables_of_querycomb_toml() {
        let text = "[detect]\nidle_gap_ms = 5\n[budgets.default]\nmax_statements = 3\n";
        let budgets = parse_budgets(text, Path::new("querycomb.toml")).unwrap();
        assert_eq!(budgets.default.max_statements, Some(3));
    }

    #[test]
    fn mistakes_name_file_and_line() {
        let err = parse_budgets(
            "[budgets.default]\nmax_statments = 3\n",
            Path::new("b.toml"),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("b.toml:2:"), "{err}");
        let err = parse_budgets(
            "[[budgets.route]]\n\nroute = \"re:(\"\n",
            Path::new("b.toml"),
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with("b.toml:3: bad route pattern"),
            "{err}"
        );
    }
}

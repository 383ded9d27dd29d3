//! Baselines: what changed between two runs' JSON documents (`querycomb diff a.json b.json`,
//! and `querycomb run --baseline old.json`).
//!
//! Compared, and what counts as a regression:
//! - **fingerprints**: shapes new in the later run (listed, not a regression: new code adds
//!   queries), and shapes whose calls per request (calls ÷ requests they ran in) grew by at
//!   least one (a regression: a loop got longer, or a query moved into one);
//! - **routes**: routes whose statements per request grew, median or worst request (a
//!   regression); routes only in one run are listed;
//! - **findings**, by signature: those that appeared (a regression) or disappeared.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use querycomb_core::{Finding, FingerprintStat, RouteStat};
use querycomb_report::json::{parse_document, Document};
use serde::Serialize;

use crate::args::{DiffArgs, DiffFormat};
use crate::outcome::{CliError, Outcome};

/// Calls per request must grow by at least this much to count: averages over a different
/// mix of requests move by fractions without any code change.
const MIN_CALLS_GROWTH: f64 = 1.0;

/// The changes from `before` to `after`.
#[derive(Debug, Default, Serialize)]
pub struct Diff {
    pub schema: &'static str,
    pub before: String,
    pub after: String,
    pub regressed: bool,
    pub new_fingerprints: Vec<ShapeChange>,
    pub grown_fingerprints: Vec<ShapeChange>,
    pub grown_routes: Vec<RouteChange>,
    pub new_routes: Vec<String>,
    pub missing_routes: Vec<String>,
    pub appeared_findings: Vec<FindingChange>,
    pub disappeared_findings: Vec<FindingChange>,
}

#[derive(Debug, Serialize)]
pub struct ShapeChange {
    pub fingerprint: String,
    pub normalized: String,
    /// Calls per request before; absent for a new shape.
    pub before_per_request: Option<f64>,
    pub after_per_request: f64,
}

#[derive(Debug, Serialize)]
pub struct RouteChange {
    pub route: String,
    pub before_p50: u32,
    pub after_p50: u32,
    pub before_max: u32,
    pub after_max: u32,
}

#[derive(Debug, Serialize)]
pub struct FindingChange {
    pub signature: String,
    pub kind: querycomb_core::FindingKind,
    pub severity: &'static str,
    pub route: Option<String>,
    pub message: String,
}

pub const DIFF_SCHEMA: &str = "querycomb.diff/v1";

/// Compares two runs; `before_name`/`after_name` label them in the output.
pub fn compare(before: &Document, after: &Document, before_name: &str, after_name: &str) -> Diff {
    let (new_fingerprints, grown_fingerprints) =
        compare_shapes(&before.summary.fingerprints, &after.summary.fingerprints);
    let (grown_routes, new_routes, missing_routes) =
        compare_routes(&before.summary.routes, &after.summary.routes);
    let appeared_findings = only_in(&after.findings, &before.findings);
    let disappeared_findings = only_in(&before.findings, &after.findings);
    let regressed =
        !grown_fingerprints.is_empty() || !grown_routes.is_empty() || !appeared_findings.is_empty();
    Diff {
        schema: DIFF_SCHEMA,
        before: before_name.to_owned(),
        after: after_name.to_owned(),
        regressed,
        new_fingerprints,
        grown_fingerprints,
        grown_routes,
        new_routes,
        missing_routes,
        appeared_findings,
        disappeared_findings,
    }
}

fn per_request(stat: &FingerprintStat) -> f64 {
    stat.calls as f64 / stat.requests.max(1) as f64
}

fn compare_shapes(
    before: &[FingerprintStat],
    after: &[FingerprintStat],
) -> (Vec<ShapeChange>, Vec<ShapeChange>) {
    let mut new = Vec::new();
    let mut grown = Vec::new();
    for stat in after {
        let old = before.iter().find(|b| b.fingerprint == stat.fingerprint);
        let change = ShapeChange {
            fingerprint: stat.fingerprint.clone(),
            normalized: stat.normalized.clone(),
            before_per_request: old.map(per_request),
            after_per_request: per_request(stat),
        };
        match old {
            None => new.push(change),
            Some(old) if per_request(stat) - per_request(old) >= MIN_CALLS_GROWTH => {
                grown.push(change)
            }
            Some(_) => {}
        }
    }
    (new, grown)
}

/// Routes compared by name; the untagged bucket (`""`) and the overflow bucket are left
/// out, since they mix unrelated requests.
fn compare_routes(
    before: &[RouteStat],
    after: &[RouteStat],
) -> (Vec<RouteChange>, Vec<String>, Vec<String>) {
    let named = |r: &&RouteStat| !r.route.is_empty() && r.route != "<other>";
    let mut grown = Vec::new();
    let mut new = Vec::new();
    for stat in after.iter().filter(named) {
        match before.iter().find(|b| b.route == stat.route) {
            None => new.push(stat.route.clone()),
            Some(old) if stat.p50 > old.p50 || stat.max > old.max => grown.push(RouteChange {
                route: stat.route.clone(),
                before_p50: old.p50,
                after_p50: stat.p50,
                before_max: old.max,
                after_max: stat.max,
            }),
            Some(_) => {}
        }
    }
    let missing = before
        .iter()
        .filter(named)
        .filter(|b| !after.iter().any(|a| a.route == b.route))
        .map(|b| b.route.clone())
        .collect();
    (grown, new, missing)
}

fn only_in(these: &[Finding], others: &[Finding]) -> Vec<FindingChange> {
    these
        .iter()
        .filter(|f| !others.iter().any(|o| o.signature == f.signature))
        .map(|f| FindingChange {
            signature: f.signature.clone(),
            kind: f.kind,
            severity: f.severity.id(),
            route: f.request.route.clone(),
            message: f.message.clone(),
        })
        .collect()
}

/// The diff for people, one line per change, regressions marked with `✗`.
pub fn render_terminal(diff: &Diff) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "querycomb diff: {} → {}", diff.before, diff.after);
    section(
        &mut out,
        "✗ findings that appeared",
        &diff.appeared_findings,
        |f| format!("[{}] {}", f.kind, f.message),
    );
    section(
        &mut out,
        "✗ routes with more statements per request",
        &diff.grown_routes,
        |r| {
            format!(
                "{}: median {} → {}, worst {} → {}",
                r.route, r.before_p50, r.after_p50, r.before_max, r.after_max
            )
        },
    );
    section(
        &mut out,
        "✗ queries run more often per request",
        &diff.grown_fingerprints,
        |s| {
            format!(
                "{:.1} → {:.1} per request: {}",
                s.before_per_request.unwrap_or(0.0),
                s.after_per_request,
                s.normalized
            )
        },
    );
    section(&mut out, "  new queries", &diff.new_fingerprints, |s| {
        format!("{:.1} per request: {}", s.after_per_request, s.normalized)
    });
    section(&mut out, "  new routes", &diff.new_routes, String::clone);
    section(
        &mut out,
        "  routes not seen any more",
        &diff.missing_routes,
        String::clone,
    );
    section(
        &mut out,
        "✓ findings that disappeared",
        &diff.disappeared_findings,
        |f| format!("[{}] {}", f.kind, f.message),
    );
    let verdict = if diff.regressed {
        "regressed"
    } else {
        "no regression"
    };
    let _ = writeln!(out, "{verdict}");
    out
}

fn section<T>(out: &mut String, title: &str, items: &[T], line: impl Fn(&T) -> String) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(out, "{title} ({}):", items.len());
    for item in items {
        let text: String = line(item)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let _ = writeln!(out, "    {text}");
    }
}

/// Reads a JSON document written by `--format json`, naming the file in errors.
pub fn read_document(path: &Path) -> Result<Document, CliError> {
    let text = fs::read_to_string(path)
        .map_err(|e| CliError::Input(format!("cannot read {}: {e}", path.display())))?;
    parse_document(&text).map_err(|e| CliError::Input(format!("{}: {e}", path.display())))
}

/// `querycomb diff`: exit 1 when the later run regressed.
pub fn run(args: DiffArgs) -> Result<Outcome, CliError> {
    let before = read_document(&args.before)?;
    let after = read_document(&args.after)?;
    let diff = compare(
        &before,
        &after,
        &args.before.display().to_string(),
        &args.after.display().to_string(),
    );
    let text = match args.format.unwrap_or(DiffFormat::Terminal) {
        DiffFormat::Terminal => render_terminal(&diff),
        DiffFormat::Json => render_json(&diff)?,
    };
    write_out(args.output.as_ref(), &text)?;
    Ok(if diff.regressed {
        Outcome::Findings
    } else {
        Outcome::Clean
    })
}

pub fn render_json(diff: &Diff) -> Result<String, CliError> {
    serde_json::to_string_pretty(diff)
        .map(|mut s| {
            s.push('\n');
            s
        })
        .map_err(|e| CliError::Output(format!("cannot encode the diff: {e}")))
}

pub fn write_out(path: Option<&PathBuf>, text: &str) -> Result<(), CliError> {
    match path {
        Some(path) => fs::write(path, text)
            .map_err(|e| CliError::Output(format!("cannot write {}: {e}", path.display()))),
        None => {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(text.as_bytes()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    Err(CliError::Output(format!("cannot write the diff: {e}")))
                }
                _ => Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use querycomb_core::{RunSummary, SourceTable};

    fn shape(fp: &str, calls: u64, requests: u64) -> FingerprintStat {
        FingerprintStat {
            fingerprint: fp.into(),
            normalized: format!("SELECT {fp}"),
            calls,
            requests,
            ..Default::default()
        }
    }

    fn route(name: &str, p50: u32, max: u32) -> RouteStat {
        RouteStat {
            route: name.into(),
            requests: 1,
            p50,
            max,
            ..Default::default()
        }
    }

    fn document(shapes: Vec<FingerprintStat>, routes: Vec<RouteStat>) -> Document {
        let _ = SourceTable::default();
        Document {
            schema: querycomb_report::json::SCHEMA.into(),
            sources: Vec::new(),
            findings: Vec::new(),
            summary: RunSummary {
                fingerprints: shapes,
                routes,
                ..Default::default()
            },
        }
    }

    #[test]
    fn identical_runs_do_not_regress() {
        let doc = document(vec![shape("a", 10, 2)], vec![route("/a", 5, 6)]);
        let diff = compare(&doc, &doc, "x", "y");
        assert!(!diff.regressed);
        assert!(render_terminal(&diff).ends_with("no regression\n"));
    }

    #[test]
    fn grown_calls_and_statements_per_request_regress() {
        let before = document(
            vec![shape("a", 10, 2), shape("b", 2, 2)],
            vec![route("/a", 5, 6)],
        );
        let after = document(
            vec![shape("a", 12, 2), shape("b", 3, 2), shape("c", 1, 1)],
            vec![route("/a", 5, 9), route("/new", 1, 1)],
        );
        let diff = compare(&before, &after, "x", "y");
        assert!(diff.regressed);
        let grown: Vec<&str> = diff
            .grown_fingerprints
            .iter()
            .map(|s| s.fingerprint.as_str())
            .collect();
        assert_eq!(grown, ["a"]);
        assert_eq!(diff.new_fingerprints.len(), 1);
        assert_eq!(diff.grown_routes.len(), 1);
        assert_eq!(diff.new_routes, ["/new"]);
        let text = render_terminal(&diff);
        assert!(text.contains("/a: median 5 → 5, worst 6 → 9"), "{text}");
    }

    #[test]
    fn fewer_calls_is_not_a_regression() {
        let before = document(vec![shape("a", 20, 2)], vec![route("/a", 9, 9)]);
        let after = document(vec![shape("a", 2, 2)], vec![route("/a", 2, 2)]);
        assert!(!compare(&before, &after, "x", "y").regressed);
    }
}

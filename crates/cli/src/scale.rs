//! The scaling check: the same tests at two data scales must run the same number of
//! statements per route (or test). A count that grows with the data is an N+1 that no fixed
//! budget can catch at every N. `querycomb run --scale 10,100` runs the command twice with
//! `QUERYCOMB_SCALE` set; `querycomb scale a.json b.json` compares two existing reports.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use querycomb_core::FingerprintStat;
use querycomb_report::json::Document;
use serde::Serialize;

use crate::args::{DiffFormat, ScaleArgs};
use crate::diff::read_document;
use crate::outcome::{CliError, Outcome};

/// The environment variable the tests' fixtures read to size their data.
pub const SCALE_VAR: &str = "QUERYCOMB_SCALE";

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScaleReport {
    pub smaller: String,
    pub larger: String,
    pub routes: Vec<RouteScale>,
    /// Routes whose statement count grew.
    pub grown: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RouteScale {
    /// The route or test (`""` for requests without one).
    pub route: String,
    /// Most statements in one request of the route, at each scale.
    pub smaller: u32,
    pub larger: u32,
    pub grows: bool,
    /// The shapes whose calls per request grew, most grown first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grown_shapes: Vec<GrownShape>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GrownShape {
    pub fingerprint: String,
    pub normalized: String,
    pub smaller_calls: u64,
    pub larger_calls: u64,
}

/// Compares the route statistics of two runs of the same tests.
pub fn compare(smaller: &Document, larger: &Document, names: (&str, &str)) -> ScaleReport {
    let before: BTreeMap<&str, u32> = smaller
        .summary
        .routes
        .iter()
        .map(|r| (r.route.as_str(), r.max))
        .collect();
    let mut routes = Vec::new();
    for route in &larger.summary.routes {
        let Some(&small) = before.get(route.route.as_str()) else {
            continue;
        };
        let grows = route.max > small;
        let grown_shapes = if grows {
            grown_shapes(smaller, larger, &route.route)
        } else {
            Vec::new()
        };
        routes.push(RouteScale {
            route: route.route.clone(),
            smaller: small,
            larger: route.max,
            grows,
            grown_shapes,
        });
    }
    routes.sort_by(|a, b| b.grows.cmp(&a.grows).then(a.route.cmp(&b.route)));
    ScaleReport {
        smaller: names.0.to_owned(),
        larger: names.1.to_owned(),
        grown: routes.iter().filter(|r| r.grows).count(),
        routes,
    }
}

/// Shapes that ran more often at the larger scale: those the larger run's findings on the
/// route name first (they are per request), else every shape whose calls grew.
fn grown_shapes(smaller: &Document, larger: &Document, route: &str) -> Vec<GrownShape> {
    let calls = |doc: &Document| -> BTreeMap<String, (u64, String)> {
        doc.summary
            .fingerprints
            .iter()
            .map(|f: &FingerprintStat| (f.fingerprint.clone(), (f.calls, f.normalized.clone())))
            .collect()
    };
    let (before, after) = (calls(smaller), calls(larger));
    let on_route: Vec<&str> = larger
        .findings
        .iter()
        .filter(|f| f.request.route.as_deref().unwrap_or("") == route)
        .flat_map(|f| f.children.iter().map(|c| c.fingerprint.as_str()))
        .collect();
    let mut grown: Vec<GrownShape> = after
        .iter()
        .filter(|(fp, _)| on_route.is_empty() || on_route.contains(&fp.as_str()))
        .filter_map(|(fp, (calls, text))| {
            let was = before.get(fp).map_or(0, |b| b.0);
            (*calls > was).then(|| GrownShape {
                fingerprint: fp.clone(),
                normalized: text.clone(),
                smaller_calls: was,
                larger_calls: *calls,
            })
        })
        .collect();
    grown.sort_by_key(|g| std::cmp::Reverse(g.larger_calls - g.smaller_calls));
    grown.truncate(3);
    grown
}

pub fn render_terminal(report: &ScaleReport) -> String {
    let mut out = format!(
        "scaling check: {} (smaller) vs {} (larger)\n",
        report.smaller, report.larger
    );
    for r in &report.routes {
        let name = if r.route.is_empty() {
            "(requests without a route)"
        } else {
            &r.route
        };
        let verdict = if r.grows { "FAIL" } else { "ok  " };
        let _ = writeln!(
            out,
            "  {verdict}  {name}: {} → {} statements{}",
            r.smaller,
            r.larger,
            if r.grows {
                " (grows with the data)"
            } else {
                ""
            }
        );
        for g in &r.grown_shapes {
            let _ = writeln!(
                out,
                "        grew: {} ({} → {} calls)",
                g.normalized, g.smaller_calls, g.larger_calls
            );
        }
    }
    let _ = writeln!(
        out,
        "{} of {} routes grow with the data.",
        report.grown,
        report.routes.len()
    );
    out
}

pub fn render(report: &ScaleReport, format: DiffFormat) -> Result<String, CliError> {
    match format {
        DiffFormat::Terminal => Ok(render_terminal(report)),
        DiffFormat::Json => serde_json::to_string_pretty(report)
            .map(|s| s + "\n")
            .map_err(|e| CliError::Output(format!("cannot encode the scaling check: {e}"))),
    }
}

/// `querycomb scale a.json b.json`: exit 1 when a route grew.
pub fn run(args: ScaleArgs) -> Result<Outcome, CliError> {
    let smaller = read_document(&args.smaller)?;
    let larger = read_document(&args.larger)?;
    let report = compare(
        &smaller,
        &larger,
        (
            &args.smaller.display().to_string(),
            &args.larger.display().to_string(),
        ),
    );
    let text = render(&report, args.format.unwrap_or(DiffFormat::Terminal))?;
    crate::diff::write_out(args.output.as_ref(), &text)?;
    Ok(if report.grown > 0 {
        Outcome::Findings
    } else {
        Outcome::Clean
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use querycomb_core::{RouteStat, RunSummary};

    fn doc(routes: &[(&str, u32)], calls: &[(&str, u64)]) -> Document {
        Document {
            schema: querycomb_report::json::SCHEMA.into(),
            sources: Vec::new(),
            findings: Vec::new(),
            summary: RunSummary {
                routes: routes
                    .iter()
                    .map(|(r, max)| RouteStat {
                        route: (*r).into(),
                        requests: 1,
                        max: *max,
                        ..RouteStat::default()
                    })
                    .collect(),
                fingerprints: calls
                    .iter()
                    .map(|(fp, calls)| FingerprintStat {
                        fingerprint: (*fp).into(),
                        normalized: format!("SELECT {fp}"),
                        calls: *calls,
                        ..FingerprintStat::default()
                    })
                    .collect(),
                ..RunSummary::default()
            },
        }
    }

    #[test]
    fn growing_routes_fail_constant_ones_pass() {
        let small = doc(&[("loop", 13), ("fixed", 4)], &[("a", 10), ("b", 2)]);
        let large = doc(&[("loop", 103), ("fixed", 4)], &[("a", 100), ("b", 2)]);
        let report = compare(&small, &large, ("s", "l"));
        assert_eq!(report.grown, 1);
        assert_eq!(report.routes[0].route, "loop");
        assert_eq!(
            (report.routes[0].smaller, report.routes[0].larger),
            (13, 103)
        );
        assert_eq!(report.routes[0].grown_shapes[0].fingerprint, "a");
        assert!(!report.routes[1].grows);
        let text = render_terminal(&report);
        assert!(
            text.contains("FAIL  loop: 13 → 103 statements (grows with the data)"),
            "{text}"
        );
        assert!(text.contains("grew: SELECT a (10 → 100 calls)"), "{text}");
    }
}

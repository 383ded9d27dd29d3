//! `querycomb merge`: one report from the JSON reports of several runs over disjoint parts of
//! the same traffic — `querycomb collect` instances behind the Collector's `loadbalancing`
//! exporter routed by trace id, or `analyze` runs over parts of a file. Findings are merged
//! by signature: the earliest request's evidence is kept, `occurrences`, `total_count` and the
//! routes seen in (`seen_in`)
//! add up, the severity is the highest. Totals add up; per-shape statistics add up by
//! fingerprint; per-route statistics are recomputed from the merged histograms.

use std::collections::BTreeMap;
use std::fs;

use querycomb_core::{Finding, FindingKind, FingerprintStat, RouteStat, RunSummary, SourceTable};
use querycomb_report::json::parse_document;

use crate::args::MergeArgs;
use crate::config::FileConfig;
use crate::outcome::{CliError, Outcome};
use crate::report::{self, ReportSettings};

pub fn run(args: MergeArgs, file: FileConfig, color: bool) -> Result<Outcome, CliError> {
    let settings = ReportSettings::resolve(&args.report, &file, color);
    let mut sources = SourceTable::default();
    let mut merged = Merged::default();
    for path in &args.reports {
        let text = fs::read_to_string(path)
            .map_err(|e| CliError::Input(format!("cannot read {}: {e}", path.display())))?;
        let document = parse_document(&text)
            .map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
        let offset = sources.names().len() as u32;
        for name in &document.sources {
            sources.add(name.clone());
        }
        merged.add(document.findings, document.summary, offset);
    }
    let (findings, summary) = merged.finish();
    report::write(&settings, &sources, &findings, &summary)
}

#[derive(Default)]
struct Merged {
    findings: Vec<Finding>,
    summary: RunSummary,
    fingerprints: BTreeMap<String, FingerprintStat>,
    routes: BTreeMap<String, BTreeMap<u32, u64>>,
}

impl Merged {
    fn add(&mut self, findings: Vec<Finding>, summary: RunSummary, source_offset: u32) {
        for mut finding in findings {
            shift_sources(&mut finding, source_offset);
            match self
                .findings
                .iter_mut()
                .find(|f| f.signature == finding.signature)
            {
                Some(known) => merge_finding(known, finding),
                None => self.findings.push(finding),
            }
        }
        let total = &mut self.summary;
        total.inputs.extend(summary.inputs);
        total.bytes += summary.bytes;
        total.records += summary.records;
        total.statements += summary.statements;
        total.requests += summary.requests;
        total.malformed += summary.malformed;
        total.wasted_us += summary.wasted_us;
        total.elapsed_ms = total.elapsed_ms.max(summary.elapsed_ms);
        for stat in summary.fingerprints {
            let entry = self
                .fingerprints
                .entry(stat.fingerprint.clone())
                .or_insert_with(|| FingerprintStat {
                    calls: 0,
                    total_us: 0,
                    timed_calls: 0,
                    rows: 0,
                    requests: 0,
                    ..stat.clone()
                });
            entry.calls += stat.calls;
            entry.total_us += stat.total_us;
            entry.timed_calls += stat.timed_calls;
            entry.rows += stat.rows;
            entry.requests += stat.requests;
        }
        for route in summary.routes {
            let histogram = self.routes.entry(route.route).or_default();
            for (statements, requests) in route.histogram {
                *histogram.entry(statements).or_default() += requests;
            }
        }
    }

    fn finish(mut self) -> (Vec<Finding>, RunSummary) {
        // First appearance across the parts: the earliest request first.
        self.findings
            .sort_by_key(|f| (f.request.start.unwrap_or(i64::MAX), f.signature.clone()));
        let mut summary = self.summary;
        summary.findings = self.findings.len() as u64;
        let mut by_kind: BTreeMap<FindingKind, u64> = BTreeMap::new();
        for f in &self.findings {
            *by_kind.entry(f.kind).or_default() += 1;
        }
        summary.findings_by_kind = by_kind.into_iter().collect();
        let mut fingerprints: Vec<FingerprintStat> = self.fingerprints.into_values().collect();
        fingerprints.sort_by(|a, b| {
            b.calls
                .cmp(&a.calls)
                .then(a.fingerprint.cmp(&b.fingerprint))
        });
        summary.fingerprints = fingerprints;
        summary.routes = self
            .routes
            .iter()
            .map(|(route, histogram)| querycomb_detect::stats::route_stat(route, histogram))
            .collect::<Vec<RouteStat>>();
        (self.findings, summary)
    }
}

/// The earliest request's evidence stays; counts add up.
fn merge_finding(known: &mut Finding, other: Finding) {
    let occurrences = known.occurrences.saturating_add(other.occurrences);
    let total_count = known.total_count.saturating_add(other.total_count);
    let severity = known.severity.max(other.severity);
    let mut seen_in = known.seen_in.clone();
    seen_in.merge(&other.seen_in);
    let other_first = match (other.request.start, known.request.start) {
        (Some(a), Some(b)) => a < b,
        _ => false,
    };
    if other_first {
        *known = other;
    }
    known.seen_in = seen_in;
    known.occurrences = occurrences;
    known.total_count = total_count;
    known.severity = severity;
}

/// Locations of a later report point past the earlier reports' sources.
fn shift_sources(finding: &mut Finding, offset: u32) {
    finding.request.location.source.0 += offset;
    if let Some(parent) = finding.parent.as_mut() {
        parent.location.source.0 += offset;
    }
    for child in &mut finding.children {
        child.location.source.0 += offset;
    }
}

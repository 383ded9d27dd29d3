//! SARIF 2.1.0 for code-scanning UIs (GitHub code scanning, IDE viewers): one rule per
//! finding kind, one result per finding, located at the input line where the repeated
//! statement was first seen, with the finding's signature as a partial fingerprint so that
//! the same pattern is tracked as the same alert from run to run.

use std::fmt::Write as _;
use std::io::{self, Write};

use querycomb_core::{Finding, FindingKind, Location, RunSummary, Severity, SourceTable};
use querycomb_detect::kinds;
use serde_json::{json, Value};

use crate::buffered::{Buffered, Render};
use crate::describe::{self, clean};

const SARIF_SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// The key under `partialFingerprints`; versioned because the signature's recipe might change.
pub const FINGERPRINT_KEY: &str = "querycombSignature/v1";

/// Writes the SARIF log at [`FindingSink::finish`]: one document holds every result.
pub type SarifSink<W> = Buffered<W, Sarif>;

impl<W: Write> SarifSink<W> {
    pub fn new(out: W) -> Self {
        Buffered::with_render(out, Sarif)
    }
}

/// The SARIF log's rendering.
pub struct Sarif;

impl Render for Sarif {
    fn render(
        &self,
        out: &mut dyn Write,
        sources: &SourceTable,
        findings: &[Finding],
        summary: &RunSummary,
    ) -> io::Result<()> {
        let results: Vec<Value> = findings.iter().map(|f| result(f, sources)).collect();
        let log = json!({
            "$schema": SARIF_SCHEMA,
            "version": "2.1.0",
            "runs": [{
                "tool": { "driver": driver() },
                "invocations": [invocation(summary)],
                "results": results,
            }],
        });
        serde_json::to_writer_pretty(&mut *out, &log)?;
        out.write_all(b"\n")
    }
}

fn driver() -> Value {
    // One rule per registered kind, with the texts its detector declares.
    let rules: Vec<Value> = kinds::all()
        .map(|info| {
            json!({
                "id": info.kind.id(),
                "name": info.rule_name,
                "shortDescription": { "text": info.summary },
                "fullDescription": { "text": info.help },
                "help": { "text": info.help, "markdown": info.help },
                "defaultConfiguration": { "level": "warning" },
                "properties": { "tags": ["performance", "database", "sql"] },
            })
        })
        .collect();
    json!({
        "name": "querycomb",
        "version": env!("CARGO_PKG_VERSION"),
        "semanticVersion": env!("CARGO_PKG_VERSION"),
        "rules": rules,
    })
}

fn invocation(summary: &RunSummary) -> Value {
    json!({
        "executionSuccessful": true,
        "properties": {
            "inputs": summary.inputs,
            "statements": summary.statements,
            "requests": summary.requests,
            "malformedRecords": summary.malformed,
            "elapsedMs": summary.elapsed_ms,
        },
    })
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

fn rule_index(kind: FindingKind) -> usize {
    kinds::rank(kind).min(kinds::all().count().saturating_sub(1))
}

fn result(finding: &Finding, sources: &SourceTable) -> Value {
    let mut value = json!({
        "ruleId": finding.kind.id(),
        "ruleIndex": rule_index(finding.kind),
        "level": level(finding.severity),
        "message": { "text": message(finding) },
        "locations": [primary_location(finding, sources)],
        "partialFingerprints": { FINGERPRINT_KEY: clean(&finding.signature) },
        "properties": {
            "count": finding.count,
            "occurrences": finding.occurrences,
            "totalCount": finding.total_count,
            "distinctParams": finding.distinct_params,
            "totalDurationUs": finding.total_duration_us,
            "request": clean(&finding.request.id),
            "route": finding.request.route.as_deref().map(clean),
            "table": describe::table(finding).map(clean),
        },
    });
    let mut related = Vec::new();
    if code_location(finding).is_some() {
        let mut in_log = physical_location(describe::primary_location(finding), sources);
        in_log["message"] = json!({ "text": "the repeated query in the input" });
        related.push(in_log);
    }
    if let (Some(parent), false) = (&finding.parent, finding.children.is_empty()) {
        let mut in_log = physical_location(parent.location, sources);
        in_log["message"] = json!({ "text": "the parent query" });
        related.push(in_log);
    }
    if !related.is_empty() {
        for (id, location) in related.iter_mut().enumerate() {
            location["id"] = json!(id + 1);
        }
        value["relatedLocations"] = json!(related);
    }
    value
}

/// The application code that issued the repeated query, when its sqlcommenter tags said
/// (Rails' `source_location`), else the place in the input.
fn primary_location(finding: &Finding, sources: &SourceTable) -> Value {
    match code_location(finding) {
        Some((path, line)) => json!({
            "physicalLocation": {
                "artifactLocation": { "uri": artifact_uri(path) },
                "region": { "startLine": line.max(1) },
            }
        }),
        None => physical_location(describe::primary_location(finding), sources),
    }
}

/// `app/models/post.rb:12:in 'show'` → (`app/models/post.rb`, 12): the path before the
/// first `:<digits>`. A tag without a line number is not a location a viewer can open.
fn code_location(finding: &Finding) -> Option<(&str, u64)> {
    let tagged = finding.children.first()?.source_location.as_deref()?;
    tagged.match_indices(':').find_map(|(at, _)| {
        let rest = tagged.get(at + 1..)?;
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let line = rest.get(..digits)?.parse().ok()?;
        (at > 0).then(|| (tagged.get(..at).unwrap_or_default(), line))
    })
}

/// Plain text: what happened, where, the SQL and the fix, since many viewers show only this.
fn message(finding: &Finding) -> String {
    let mut text = format!(
        "{}: {}\nRequest: {}.",
        describe::headline(finding),
        clean(&finding.message),
        describe::request_label(&finding.request)
    );
    if let Some(parent) = &finding.parent {
        let _ = write!(text, "\nParent: {}", clean(&parent.normalized));
    }
    for child in &finding.children {
        let _ = write!(
            text,
            "\nRepeated (×{}): {}",
            finding.count,
            clean(&child.normalized)
        );
    }
    if let Some(us) = finding.total_duration_us {
        let _ = write!(
            text,
            "\nTime in repeated statements: {}.",
            describe::duration(us)
        );
    }
    if let Some(fix) = &finding.suggestion {
        let lines: Vec<String> = fix.lines().map(clean).collect();
        let _ = write!(text, "\nFix:\n{}", lines.join("\n"));
    }
    text
}

fn physical_location(location: Location, sources: &SourceTable) -> Value {
    json!({
        "physicalLocation": {
            "artifactLocation": { "uri": artifact_uri(sources.name(location.source)) },
            // SARIF lines are 1-based; a proxy "line" (a connection id) may be 0.
            "region": { "startLine": location.line.max(1) },
        }
    })
}

/// A URI reference for an input name: absolute paths become `file://` URIs, relative ones
/// stay relative (code-scanning UIs resolve them against the checkout), and every byte
/// outside the unreserved set is percent-encoded so spaces or `:` cannot change its meaning.
fn artifact_uri(name: &str) -> String {
    let mut uri = String::with_capacity(name.len() + 8);
    if name.starts_with('/') {
        uri.push_str("file://");
    }
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            let _ = write!(uri, "%{byte:02X}");
        }
    }
    uri
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    fn sarif(findings: &[Finding]) -> Value {
        let mut sink = SarifSink::new(Vec::new());
        fixtures::run(&mut sink, findings);
        let bytes = sink.into_inner();
        serde_json::from_slice(&bytes).expect("SARIF output is JSON")
    }

    #[test]
    fn has_the_required_sarif_structure() {
        let log = sarif(&[fixtures::n_plus_one(), fixtures::repeated_identical()]);
        assert_eq!(log["$schema"], SARIF_SCHEMA);
        assert_eq!(log["version"], "2.1.0");
        let run = &log["runs"][0];
        assert_eq!(run["tool"]["driver"]["name"], "querycomb");
        let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
        let ids: Vec<&str> = rules.iter().filter_map(|r| r["id"].as_str()).collect();
        let registered: Vec<&str> = kinds::all().map(|k| k.kind.id()).collect();
        assert_eq!(ids, registered);
        for rule in rules {
            assert!(rule["help"]["text"].as_str().is_some_and(|t| t.len() > 40));
            assert!(rule["shortDescription"]["text"].is_string());
        }

        let results = run["results"].as_array().expect("results");
        assert_eq!(results.len(), 2);
        for result in results {
            let index = result["ruleIndex"].as_u64().expect("ruleIndex") as usize;
            assert_eq!(rules[index]["id"], result["ruleId"]);
            assert!(["error", "warning", "note"].contains(&result["level"].as_str().unwrap()));
            assert!(result["message"]["text"]
                .as_str()
                .is_some_and(|t| !t.is_empty()));
            let physical = &result["locations"][0]["physicalLocation"];
            assert!(physical["artifactLocation"]["uri"].is_string());
            assert!(physical["region"]["startLine"]
                .as_u64()
                .is_some_and(|l| l >= 1));
            assert!(result["partialFingerprints"][FINGERPRINT_KEY].is_string());
        }
    }

    #[test]
    fn a_result_carries_the_finding() {
        let log = sarif(&[fixtures::n_plus_one()]);
        let result = &log["runs"][0]["results"][0];
        assert_eq!(result["ruleId"], "n_plus_one");
        assert_eq!(result["level"], "error");
        assert_eq!(
            result["partialFingerprints"][FINGERPRINT_KEY],
            "9f2c4e1a7b3d5c60"
        );
        let physical = &result["locations"][0]["physicalLocation"];
        assert_eq!(
            physical["artifactLocation"]["uri"],
            "logs/postgresql-15-main.log"
        );
        assert_eq!(physical["region"]["startLine"], 1207);
        let related = &result["relatedLocations"][0];
        assert_eq!(related["physicalLocation"]["region"]["startLine"], 1205);
        let text = result["message"]["text"].as_str().unwrap();
        for expected in [
            "N+1 query on shop_order ×50, seen in 12 requests",
            "route GET /customers/:id/orders",
            "Repeated (×50): SELECT \"shop_order\".\"id\"",
            "Parent: SELECT \"shop_customer\"",
            "Fix:\nSELECT",
            "\n-- One query for all keys",
            "12.4 ms",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in {text}");
        }
        assert_eq!(result["properties"]["occurrences"], 12);
    }

    #[test]
    fn severities_map_to_sarif_levels() {
        let mut info = fixtures::repeated_identical();
        info.severity = Severity::Info;
        let log = sarif(&[info, fixtures::repeated_identical()]);
        // Same signature: the later update replaces the first.
        assert_eq!(log["runs"][0]["results"].as_array().unwrap().len(), 1);
        assert_eq!(log["runs"][0]["results"][0]["level"], "warning");
        assert_eq!(level(Severity::Info), "note");
        assert_eq!(level(Severity::Error), "error");
    }

    #[test]
    fn input_names_become_uri_references() {
        assert_eq!(artifact_uri("logs/pg.log"), "logs/pg.log");
        assert_eq!(
            artifact_uri("/var/log/postgresql/csv log.csv"),
            "file:///var/log/postgresql/csv%20log.csv"
        );
        assert_eq!(artifact_uri("proxy:5433"), "proxy%3A5433");
        assert_eq!(artifact_uri("journal-ü#1"), "journal-%C3%BC%231");
        assert_eq!(artifact_uri("-"), "-");
    }

    #[test]
    fn line_zero_is_clamped_and_unknown_sources_still_render() {
        let mut finding = fixtures::over_budget_without_children();
        finding.request.location.line = 0;
        finding.request.location.source = querycomb_core::SourceId(99);
        let log = sarif(&[finding]);
        let physical = &log["runs"][0]["results"][0]["locations"][0]["physicalLocation"];
        assert_eq!(physical["region"]["startLine"], 1);
        assert_eq!(physical["artifactLocation"]["uri"], "%3Cunknown%3E");
        assert!(log["runs"][0]["results"][0]
            .get("relatedLocations")
            .is_none());
    }

    #[test]
    fn an_empty_run_has_empty_results() {
        let log = sarif(&[]);
        assert_eq!(log["runs"][0]["results"], json!([]));
        assert_eq!(
            log["runs"][0]["invocations"][0]["executionSuccessful"],
            true
        );
    }

    #[test]
    fn tagged_source_location_is_the_primary_location() {
        let mut finding = fixtures::n_plus_one();
        finding.children[0].source_location =
            Some("app/models/post.rb:12:in `comments'".to_owned());
        let mut out = Vec::new();
        fixtures::run(&mut SarifSink::new(&mut out), &[finding]);
        let log: Value = serde_json::from_slice(&out).unwrap();
        let result = &log["runs"][0]["results"][0];
        let physical = &result["locations"][0]["physicalLocation"];
        assert_eq!(physical["artifactLocation"]["uri"], "app/models/post.rb");
        assert_eq!(physical["region"]["startLine"], 12);
        let related = result["relatedLocations"].as_array().unwrap();
        assert_eq!(
            related.len(),
            2,
            "the log line and the parent: {related:#?}"
        );
        assert_eq!(related[0]["id"], 1);
        assert_eq!(related[1]["id"], 2);
    }
}

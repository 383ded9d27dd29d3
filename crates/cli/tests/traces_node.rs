//! OpenTelemetry traces from a real instrumentation: a node-postgres app traced by
//! `@opentelemetry/instrumentation-pg` (tests/e2e/otel-node, installed by
//! `scripts/setup-test-deps.sh otel-node`) against a throwaway PostgreSQL. Its three
//! requests are an N+1 (`/books`), its fixed twin (`/books-fixed`) and a concurrent fan-out
//! of the same loop (`/books-concurrent`); every way of getting the spans to querycomb must
//! give exactly the same two findings.

mod run_support;
mod traces_support;

use std::path::Path;

use run_support::*;
use traces_support::*;

/// `analyze --format json` on `file`; the findings.
fn analyze(file: &Path) -> (Vec<serde_json::Value>, Ran) {
    let report = file.with_extension("report.json");
    let ran = run(querycomb(None)
        .args([
            "analyze",
            "--quiet",
            "--format",
            "json",
            "--fail-on",
            "never",
            "-o",
        ])
        .arg(&report)
        .arg(file));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    (findings_of(&report), ran)
}

#[test]
fn otlp_json_lines_file_from_the_sdk_serializer() {
    let pg = start_pg(true);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("traces.jsonl");
    run_app(&pg, &format!("json-file:{}", file.display()), "batch");
    let (findings, ran) = analyze(&file);
    assert_app_findings(&findings);
    assert!(!ran.stderr.contains("skipped"), "{}", ran.stderr);
}

#[test]
fn otlp_json_lines_file_with_one_span_per_line() {
    let pg = start_pg(true);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("traces.jsonl");
    run_app(&pg, &format!("json-file:{}", file.display()), "simple");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.lines().count() > 20, "one request per span expected");
    let (findings, _) = analyze(&file);
    assert_app_findings(&findings);
}

#[test]
fn otlp_protobuf_file() {
    let pg = start_pg(true);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("traces.binpb");
    run_app(&pg, &format!("proto-file:{}", file.display()), "batch");
    let (findings, _) = analyze(&file);
    assert_app_findings(&findings);
}

//! OpenTelemetry traces from a real instrumentation: a node-postgres app traced by
//! `@opentelemetry/instrumentation-pg` (tests/e2e/otel-node, installed by
//! `scripts/setup-test-deps.sh otel-node`) against a throwaway PostgreSQL. Its three
//! requests are an N+1 (`/books`), its fixed twin (`/books-fixed`) and a concurrent fan-out
//! of the same loop (`/books-concurrent`); every way of getting the spans to querycomb must
//! give exactly the same two findings.

mod run_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use run_support::*;

fn node_modules() -> PathBuf {
    let dir = e2e_cache().join("otel-node/node_modules");
    assert!(
        dir.join("@opentelemetry/instrumentation-pg").is_dir(),
        "{} is missing: run scripts/setup-test-deps.sh otel-node first",
        dir.display()
    );
    dir
}

/// Runs the app once against `pg`, exporting as `export` says (see app.js).
pub fn run_app(pg: &querycomb_testkit::PgServer, export: &str, processor: &str) {
    let status = Command::new("node")
        .arg(repo_root().join("tests/e2e/otel-node/app.js"))
        .env("NODE_PATH", node_modules())
        .env("DATABASE_URL", pg.url("shop"))
        .env("QC_EXPORT", export)
        .env("QC_PROCESSOR", processor)
        .status()
        .expect("run node");
    assert!(status.success(), "the traced app failed: {status}");
}

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

/// The two findings every transport must give, and nothing else.
pub fn assert_app_findings(findings: &[serde_json::Value]) {
    let summary: Vec<String> = findings
        .iter()
        .map(|f| {
            format!(
                "{} {} {}×{} concurrent={} parent={}",
                f["kind"].as_str().unwrap_or_default(),
                f["request"]["route"].as_str().unwrap_or_default(),
                f["count"],
                f["children"][0]["normalized"].as_str().unwrap_or_default(),
                // How many ran at once depends on timing; that some did does not.
                f["concurrency"]
                    .as_u64()
                    .is_some_and(|n| (2..=8).contains(&n)),
                f["parent"]["normalized"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            "n_plus_one /books 8×SELECT id, name FROM authors WHERE id = $1 concurrent=false \
             parent=SELECT id, title, author_id FROM books ORDER BY id",
            "n_plus_one /books-concurrent 8×SELECT name FROM authors WHERE id = $1 \
             concurrent=true parent=SELECT id, title, author_id FROM books ORDER BY title",
        ],
        "{findings:#?}"
    );
    for f in findings {
        assert_eq!(f["request"]["kind"], "trace");
        assert_eq!(f["request"]["session"], "shop-api");
        let trace = f["request"]["trace_id"].as_str().unwrap_or_default();
        assert_eq!(trace.len(), 32, "{f}");
    }
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

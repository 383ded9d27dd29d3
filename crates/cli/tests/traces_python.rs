//! OpenTelemetry traces from a real Python instrumentation: psycopg traced by
//! `opentelemetry-instrumentation-psycopg` (tests/e2e/otel-python, installed by
//! `scripts/setup-test-deps.sh otel-python`) against a throwaway PostgreSQL: an N+1, its
//! fixed twin and a concurrent fan-out (eight threads, one connection each), exported by
//! the Python SDK as an OTLP protobuf file, over OTLP/HTTP and over OTLP/gRPC.

mod run_support;
mod traces_support;

use std::path::PathBuf;
use std::process::Command;

use run_support::*;
use traces_support::*;

fn venv_python() -> PathBuf {
    let python = e2e_cache().join("otel-python/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/setup-test-deps.sh otel-python first",
        python.display()
    );
    python
}

fn run_python_app(pg: &querycomb_testkit::PgServer, export: &str) {
    let status = Command::new(venv_python())
        .arg(repo_root().join("tests/e2e/otel-python/app.py"))
        .env("DATABASE_URL", pg.url("shop"))
        .env("QC_EXPORT", export)
        .status()
        .expect("run python");
    assert!(status.success(), "the traced app failed: {status}");
}

fn assert_python_findings(findings: &[serde_json::Value]) {
    // Eight threads released together, each query sleeping 50 ms: they overlap.
    let summary = finding_lines(findings);
    assert_eq!(
        summary,
        [
            "n_plus_one /books 8×SELECT id, name FROM authors WHERE id = $1 concurrent=false \
             parent=SELECT id, title, author_id FROM books ORDER BY id",
            "n_plus_one /books-concurrent 8×SELECT name, pg_sleep($1) FROM authors WHERE id = $2 \
             concurrent=true parent=SELECT id, title, author_id FROM books ORDER BY title",
        ],
        "{findings:#?}"
    );
    for f in findings {
        assert_eq!(f["request"]["kind"], "trace");
        assert_eq!(f["request"]["session"], "shop-py");
    }
}

#[test]
fn otlp_protobuf_file_from_the_python_sdk_encoder() {
    let pg = start_pg(true);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("traces.binpb");
    run_python_app(&pg, &format!("proto-file:{}", file.display()));
    let report = dir.path().join("report.json");
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
        .arg(&file));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(!ran.stderr.contains("skipped"), "{}", ran.stderr);
    assert_python_findings(&findings_of(&report));
}

#[test]
fn otlp_http_protobuf_from_the_python_exporter() {
    let pg = start_pg(true);
    let collector = Collector::start(&["--trace-window-ms", "60000"]);
    run_python_app(&pg, &format!("http-proto:{}", collector.http_url()));
    let (_, findings, lines) = collector.stop();
    assert_python_findings(&findings);
    assert_eq!(lines.len(), 2);
}

#[test]
fn otlp_grpc_from_the_python_exporter() {
    let pg = start_pg(true);
    let collector = Collector::start(&["--trace-window-ms", "60000"]);
    run_python_app(&pg, &format!("grpc:127.0.0.1:{}", collector.grpc));
    let (ran, findings, _) = collector.stop();
    assert_python_findings(&findings);
    assert!(ran.stderr.contains("0 dropped"), "{}", ran.stderr);
}

//! `querycomb collect` fed by the real OpenTelemetry JS exporters of a node-postgres app
//! traced by `@opentelemetry/instrumentation-pg` (tests/e2e/otel-node): OTLP/HTTP with JSON
//! and with protobuf bodies, OTLP/gRPC. Each gives exactly the findings the trace files
//! give (`traces_node.rs`), printed live, written to `--findings-out` and to the report on
//! shutdown.

mod run_support;
mod traces_support;

use run_support::*;
use traces_support::*;

fn collect_from_app(export: impl Fn(&Collector) -> String, processor: &str) {
    let pg = start_pg(true);
    // Traces stay open until shutdown flushes them: a batch exporter on a loaded machine may
    // send one trace's spans in batches seconds apart, which a short window would split
    // (findings_are_live_before_shutdown covers the short window).
    let collector = Collector::start(&["--trace-window-ms", "60000"]);
    run_app(&pg, &export(&collector), processor);
    let (ran, findings, lines) = collector.stop();
    assert_app_findings(&findings);
    // Live: each finding was printed and written as a line when it appeared.
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(ran.stderr.contains("n_plus_one"), "{}", ran.stderr);
    assert!(ran.stderr.contains("0 dropped"), "{}", ran.stderr);
}

/// With a short trace window, findings appear while the app's traces keep arriving, before
/// any shutdown.
#[test]
fn findings_are_live_before_shutdown() {
    let pg = start_pg(true);
    let collector = Collector::start(&["--trace-window-ms", "300"]);
    run_app(
        &pg,
        &format!("grpc:http://127.0.0.1:{}", collector.grpc),
        "batch",
    );
    let lines = collector.dir.path().join("findings.jsonl");
    let mut polls = 0;
    while std::fs::read_to_string(&lines)
        .unwrap_or_default()
        .lines()
        .count()
        < 2
    {
        polls += 1;
        assert!(polls < 1200, "no live findings in {}", lines.display());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (_, findings, lines) = collector.stop();
    assert_app_findings(&findings);
    assert_eq!(lines.len(), 2, "{lines:#?}");
}

#[test]
fn otlp_http_json_from_the_js_exporter() {
    collect_from_app(|c| format!("http-json:{}", c.http_url()), "batch");
}

#[test]
fn otlp_http_protobuf_one_span_per_request() {
    collect_from_app(|c| format!("http-proto:{}", c.http_url()), "simple");
}

#[test]
fn otlp_grpc_from_the_js_exporter() {
    collect_from_app(|c| format!("grpc:http://127.0.0.1:{}", c.grpc), "batch");
}

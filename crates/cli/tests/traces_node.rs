//! OpenTelemetry traces from a real instrumentation: a node-postgres app traced by
//! `@opentelemetry/instrumentation-pg` (tests/e2e/otel-node, installed by
//! `scripts/setup-test-deps.sh otel-node`) against a throwaway PostgreSQL. Its three
//! requests are an N+1 (`/books`), its fixed twin (`/books-fixed`) and a concurrent fan-out
//! of the same loop (`/books-concurrent`); every way of getting the spans to querycomb must
//! give exactly the same two findings. Asked to, it also loops over HTTP, and in graphql-js
//! resolvers traced by `@opentelemetry/instrumentation-graphql`.

mod run_support;
mod traces_support;

use std::path::Path;

use run_support::*;
use traces_support::*;

/// `analyze --format json` on `file`; the findings.
fn analyze(file: &Path) -> (Vec<serde_json::Value>, Ran) {
    analyze_with(file, &[])
}

/// `analyze --format json` with `extra` arguments (a `--dsn`) on `file`; the findings.
fn analyze_with(file: &Path, extra: &[&str]) -> (Vec<serde_json::Value>, Ran) {
    let report = file.with_extension("report.json");
    let ran = run(querycomb(None)
        .args([
            "analyze",
            "--quiet",
            "--format",
            "json",
            "--fail-on",
            "never",
        ])
        .args(extra)
        .arg("-o")
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

/// The Collector's file exporter may compress: a zstd file of several frames.
#[test]
fn zstd_compressed_otlp_json_lines() {
    use ruzstd::encoding::{compress_to_vec, CompressionLevel};
    let pg = start_pg(true);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("traces.jsonl");
    run_app(&pg, &format!("json-file:{}", file.display()), "simple");
    let text = std::fs::read_to_string(&file).unwrap();
    let mut compressed = Vec::new();
    for line in text.lines() {
        let frame = format!("{line}\n");
        compressed.extend(compress_to_vec(frame.as_bytes(), CompressionLevel::Fastest));
    }
    let zst = dir.path().join("traces.jsonl.zst");
    std::fs::write(&zst, compressed).unwrap();
    let (findings, _) = analyze(&zst);
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

/// Every span of an OTLP/JSON lines file: (service, span object), the span's resource
/// attributes kept beside its own under `resource` (for the exports that carry them).
fn otlp_spans(file: &Path) -> Vec<(String, serde_json::Value)> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut spans = Vec::new();
    for line in text.lines() {
        let request: serde_json::Value = serde_json::from_str(line).unwrap();
        for rs in request["resourceSpans"].as_array().unwrap() {
            let service = rs["resource"]["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|kv| kv["key"] == "service.name")
                .and_then(|kv| kv["value"]["stringValue"].as_str())
                .unwrap()
                .to_owned();
            for ss in rs["scopeSpans"].as_array().unwrap() {
                for span in ss["spans"].as_array().unwrap() {
                    let mut span = span.clone();
                    span["resource"] = rs["resource"].clone();
                    spans.push((service.clone(), span));
                }
            }
        }
    }
    spans
}

fn nanos(v: &serde_json::Value) -> u64 {
    v.as_str()
        .map_or_else(|| v.as_u64().unwrap(), |s| s.parse().unwrap())
}

fn string_tags(span: &serde_json::Value) -> Vec<(String, String)> {
    attribute_strings(&span["attributes"])
}

/// The span's resource attributes, as the Jaeger exporter writes them into the process's
/// tags and the Zipkin exporter into each span's (`telemetry.sdk.language`, …).
fn resource_tags(span: &serde_json::Value) -> Vec<(String, String)> {
    attribute_strings(&span["resource"]["attributes"])
        .into_iter()
        .filter(|(k, _)| k != "service.name")
        .collect()
}

fn attribute_strings(attributes: &serde_json::Value) -> Vec<(String, String)> {
    attributes
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|kv| {
            let v = &kv["value"];
            let text = v["stringValue"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| v["intValue"].as_str().map(str::to_owned))
                .or_else(|| v["intValue"].as_i64().map(|n| n.to_string()))?;
            Some((kv["key"].as_str()?.to_owned(), text))
        })
        .collect()
}

fn kind_name(span: &serde_json::Value) -> &'static str {
    match span["kind"].as_i64() {
        Some(2) => "server",
        Some(3) => "client",
        _ => "internal",
    }
}

/// The same spans as Jaeger's JSON export writes them (UI "Download JSON").
fn to_jaeger(spans: &[(String, serde_json::Value)]) -> serde_json::Value {
    let mut traces: Vec<(String, Vec<serde_json::Value>)> = Vec::new();
    let process_tags: Vec<serde_json::Value> = spans
        .first()
        .map(|(_, span)| resource_tags(span))
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| serde_json::json!({"key": k, "type": "string", "value": v}))
        .collect();
    for (service, span) in spans {
        assert_eq!(service, "shop-api");
        let trace = span["traceId"].as_str().unwrap().to_owned();
        let start = nanos(&span["startTimeUnixNano"]);
        let end = nanos(&span["endTimeUnixNano"]);
        let parent = span["parentSpanId"].as_str().unwrap_or("");
        let references: Vec<serde_json::Value> = if parent.is_empty() {
            Vec::new()
        } else {
            vec![serde_json::json!({"refType": "CHILD_OF", "traceID": trace, "spanID": parent})]
        };
        let mut tags: Vec<serde_json::Value> = string_tags(span)
            .into_iter()
            .map(|(k, v)| serde_json::json!({"key": k, "type": "string", "value": v}))
            .collect();
        tags.push(
            serde_json::json!({"key": "span.kind", "type": "string", "value": kind_name(span)}),
        );
        let jaeger = serde_json::json!({
            "traceID": trace, "spanID": span["spanId"], "operationName": span["name"],
            "references": references, "startTime": start / 1000, "duration": (end - start) / 1000,
            "tags": tags, "processID": "p1",
        });
        match traces.iter_mut().find(|(t, _)| *t == trace) {
            Some((_, list)) => list.push(jaeger),
            None => traces.push((trace, vec![jaeger])),
        }
    }
    let data: Vec<serde_json::Value> = traces
        .into_iter()
        .map(|(trace, spans)| serde_json::json!({"traceID": trace, "spans": spans, "processes": {"p1": {"serviceName": "shop-api", "tags": process_tags.clone()}}}))
        .collect();
    serde_json::json!({ "data": data })
}

/// The same spans as Zipkin v2 JSON.
fn to_zipkin(spans: &[(String, serde_json::Value)]) -> serde_json::Value {
    let list: Vec<serde_json::Value> = spans
        .iter()
        .map(|(service, span)| {
            let start = nanos(&span["startTimeUnixNano"]);
            let end = nanos(&span["endTimeUnixNano"]);
            let tags: serde_json::Map<String, serde_json::Value> = string_tags(span)
                .into_iter()
                .chain(resource_tags(span))
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect();
            let mut zipkin = serde_json::json!({
                "traceId": span["traceId"], "id": span["spanId"], "name": span["name"],
                "kind": kind_name(span).to_ascii_uppercase(), "timestamp": start / 1000,
                "duration": (end - start) / 1000, "localEndpoint": {"serviceName": service},
                "tags": tags,
            });
            if let Some(parent) = span["parentSpanId"].as_str().filter(|p| !p.is_empty()) {
                zipkin["parentId"] = parent.into();
            }
            zipkin
        })
        .collect();
    serde_json::Value::Array(list)
}

#[test]
fn jaeger_and_zipkin_exports_of_the_same_traces_give_the_same_findings() {
    let pg = start_pg(true);
    let dir = tempfile::tempdir().unwrap();
    let otlp = dir.path().join("traces.jsonl");
    run_app(&pg, &format!("json-file:{}", otlp.display()), "batch");
    let spans = otlp_spans(&otlp);
    let jaeger = dir.path().join("jaeger.json");
    std::fs::write(
        &jaeger,
        serde_json::to_vec_pretty(&to_jaeger(&spans)).unwrap(),
    )
    .unwrap();
    let zipkin = dir.path().join("zipkin.json");
    std::fs::write(&zipkin, serde_json::to_vec(&to_zipkin(&spans)).unwrap()).unwrap();
    let (from_otlp, _) = analyze(&otlp);
    for file in [&jaeger, &zipkin] {
        let (findings, ran) = analyze(file);
        assert_app_findings(&findings);
        assert!(!ran.stderr.contains("skipped"), "{}", ran.stderr);
        let signatures = |f: &[serde_json::Value]| -> Vec<String> {
            f.iter().map(|x| x["signature"].to_string()).collect()
        };
        assert_eq!(
            signatures(&findings),
            signatures(&from_otlp),
            "{}",
            file.display()
        );
    }
}

/// An N+1 over HTTP: `/books-api` calls an authors API (traced by
/// `@opentelemetry/instrumentation-http`) once per book, and each call runs its own lookup.
#[test]
fn n_plus_one_http_calls_to_another_service() {
    let pg = start_pg(true);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("traces.jsonl");
    let output = app_command(&pg, &format!("json-file:{}", file.display()))
        .env("QC_HTTP_LOOP", "1")
        .output()
        .expect("run node");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let port = stdout
        .split("authors API on port ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the app prints its API port");
    let (findings, _) = analyze(&file);
    let api: Vec<String> = findings
        .iter()
        .filter(|f| f["request"]["route"] == "/books-api")
        .map(|f| {
            format!(
                "{} {}",
                f["kind"].as_str().unwrap_or_default(),
                f["message"].as_str().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        api,
        [
            "n_plus_one books loop: 8 × SELECT a.name FROM authors a WHERE a.id = $1 after SELECT id, title, author_id FROM books ORDER BY id (one query per row)".to_owned(),
            format!("n_plus_one_http books loop: 8 × GET http://127.0.0.1:{port}/authors/{{id}} after SELECT id, title, author_id FROM books ORDER BY id (one HTTP call per row)"),
        ],
        "{findings:#?}"
    );
    let http = findings
        .iter()
        .find(|f| f["kind"] == "n_plus_one_http")
        .unwrap();
    assert_eq!(http["distinct_params"], 8);
    assert!(
        http["suggestion"]
            .as_str()
            .unwrap()
            .contains("batch endpoint"),
        "{http}"
    );
}

/// A fleet: two instances each fed the traces of one half of the trace ids (what the
/// Collector's `loadbalancing` exporter with `routing_key: traceID` does) give, merged, the
/// findings one instance fed everything gives.
#[test]
fn merged_reports_of_two_halves_by_trace_id_equal_one_run_over_all() {
    let pg = start_pg(true);
    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("all.jsonl");
    for _ in 0..3 {
        run_app(&pg, &format!("json-file:{}", all.display()), "simple");
    }
    // Split span by span on the trace id's last hex digit.
    let (mut even, mut odd) = (String::new(), String::new());
    for line in std::fs::read_to_string(&all).unwrap().lines() {
        let request: serde_json::Value = serde_json::from_str(line).unwrap();
        let span = &request["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        let last = span["traceId"].as_str().unwrap().chars().last().unwrap();
        let half = if u8::from_str_radix(&last.to_string(), 16)
            .unwrap()
            .is_multiple_of(2)
        {
            &mut even
        } else {
            &mut odd
        };
        half.push_str(line);
        half.push('\n');
    }
    assert!(!even.is_empty() && !odd.is_empty());
    let report = |name: &str, input: &Path| {
        let out = dir.path().join(name);
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
            .arg(&out)
            .arg(input));
        assert_eq!(ran.code, Some(0), "{}", ran.stderr);
        out
    };
    let (even_file, odd_file) = (dir.path().join("even.jsonl"), dir.path().join("odd.jsonl"));
    std::fs::write(&even_file, even).unwrap();
    std::fs::write(&odd_file, odd).unwrap();
    let whole = report("whole.json", &all);
    let parts = [
        report("even.json", &even_file),
        report("odd.json", &odd_file),
    ];
    let merged = dir.path().join("merged.json");
    let ran = run(querycomb(None)
        .args(["merge", "--format", "json", "--fail-on", "never", "-o"])
        .arg(&merged)
        .args(&parts));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let key = |f: &serde_json::Value| {
        format!(
            "{} {} {} count={} occurrences={} total={} parent={} child={}",
            f["signature"],
            f["kind"],
            f["request"]["route"],
            f["count"],
            f["occurrences"],
            f["total_count"],
            f["parent"]["normalized"],
            f["children"][0]["normalized"]
        )
    };
    let mut want: Vec<String> = findings_of(&whole).iter().map(key).collect();
    let mut got: Vec<String> = findings_of(&merged).iter().map(key).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    assert_eq!(want.len(), 2);
    assert!(
        want.iter().all(|k| k.contains("occurrences=3")),
        "{want:#?}"
    );
    let summary = |p: &Path| -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(p).unwrap()).unwrap()
            ["summary"]
            .clone()
    };
    for field in ["statements", "requests", "findings"] {
        assert_eq!(summary(&merged)[field], summary(&whole)[field], "{field}");
    }
}

/// An N+1 in GraphQL resolvers: `POST /api` runs `{ authors { name books { title } } }` on
/// graphql-js, whose `books` resolver queries once per author, and `POST /api-batched` the
/// same through a DataLoader (one `= ANY($1)` query). Neither the route nor any statement
/// says GraphQL: the resolver spans of `@opentelemetry/instrumentation-graphql` are the
/// evidence that names the DataLoader, and say which resolver.
#[test]
fn a_loop_in_graphql_resolvers_names_a_dataloader_from_the_resolver_spans() {
    let pg = start_pg(true);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("traces.jsonl");
    let output = app_command(&pg, &format!("json-file:{}", file.display()))
        .env("QC_GRAPHQL", "1")
        .output()
        .expect("run node");
    assert!(output.status.success(), "{output:?}");
    // The spans are the instrumentation's own: one resolver span per author's `books`.
    let spans = otlp_spans(&file);
    let books_resolvers = spans
        .iter()
        .filter(|(_, s)| {
            s["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("graphql.resolve authors.") && n.ends_with(".books"))
        })
        .count();
    assert_eq!(books_resolvers, 16, "8 authors, two requests");
    // With the plan check, which names each loop's fix.
    let (findings, _) = analyze_with(&file, &["--dsn", &pg.url("shop")]);
    let api: Vec<&serde_json::Value> = findings
        .iter()
        .filter(|f| {
            f["request"]["route"]
                .as_str()
                .is_some_and(|r| r.starts_with("/api"))
        })
        .collect();
    assert_eq!(api.len(), 1, "the DataLoader twin is no finding: {api:#?}");
    let finding = api[0];
    assert_eq!(finding["kind"], "n_plus_one");
    assert_eq!(finding["request"]["route"], "/api");
    assert_eq!(finding["count"], 8);
    assert_eq!(
        finding["children"][0]["normalized"],
        "SELECT id, title FROM books WHERE author_id = $1"
    );
    assert_eq!(
        finding["parent"]["normalized"],
        "SELECT id, name FROM authors ORDER BY id"
    );
    // The Node SDK's resource says `telemetry.sdk.language: nodejs`: kept with the resolver.
    assert_eq!(
        finding["children"][0]["stack_tags"],
        serde_json::json!({"graphql.resolve": "authors.*.books", "telemetry.sdk.language": "nodejs"})
    );
    assert_eq!(
        finding["parent"]["stack_tags"],
        serde_json::json!({"graphql.resolve": "authors", "telemetry.sdk.language": "nodejs"})
    );
    let advice = &finding["advice"];
    assert_eq!(advice["framework"], "GraphQL", "{finding:#}");
    assert_eq!(
        advice["framework_evidence"],
        "GraphQL resolver span `graphql.resolve authors.*.books` traced by a nodejs SDK \
         (resource attribute telemetry.sdk.language='nodejs')"
    );
    // The one DataLoader of the language the trace named, not a list of stacks.
    assert!(
        advice["fix"].as_str().unwrap_or_default().starts_with(
            "a request-scoped DataLoader in the resolver (graphql/dataloader's new DataLoader(keys => …)): \
             one batch load of books WHERE author_id = ANY("
        ),
        "{advice:#}"
    );
    // The pool arithmetic of a fan-out (the resolvers' statements overlap): a finite rate
    // after the fix, above today's by at most what 9 statements becoming 2 allow, and
    // never less connection time than the statements still run.
    let impact = &finding["impact"];
    let number = |field: &str| {
        impact[field]
            .as_f64()
            .unwrap_or_else(|| panic!("{field}: {impact:#}"))
    };
    let (now, after) = (number("pool_rps_now"), number("pool_rps_after"));
    let statements = finding["request"]["statements"].as_f64().unwrap();
    let remaining = statements - number("statements_saved");
    assert!(after.is_finite() && after > now, "{impact:#}");
    // At the bound itself (a hold that the statements divide exactly) the two ratios are
    // equal but for floating-point rounding.
    assert!(
        after / now <= statements / remaining * (1.0 + 1e-9),
        "{statements} → {remaining} statements: {impact:#}"
    );
    let parent_us = finding["waterfall"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|bar| bar["role"] == "parent")
        .map(|bar| bar["duration_us"].as_f64().unwrap())
        .sum::<f64>();
    assert!(number("hold_after_us") > parent_us, "{impact:#}");
    // The terminal report says the same: a trace's route is a route, not a test, and the
    // rate after the fix is the one computed above.
    let terminal = run(querycomb(None)
        .env("COLUMNS", "1000")
        .args(["analyze", "--fail-on", "never", "--dsn", &pg.url("shop")])
        .arg(&file));
    assert_eq!(terminal.code, Some(0), "{terminal:?}");
    let cause = terminal
        .stdout
        .lines()
        .find(|l| l.contains("N+1 query on books ×8") && l.contains(" — "))
        .unwrap_or_else(|| panic!("{}", terminal.stdout));
    assert!(cause.ends_with("route: /api"), "{cause}");
    let after = format!("about {after:.0} after the fix");
    assert!(
        terminal
            .stdout
            .lines()
            .any(|l| l.contains("impact:") && l.contains(&after)),
        "{after}: {}",
        terminal.stdout
    );
    // Jaeger and Zipkin exports of the same spans carry the same resolvers.
    for (name, export) in [
        ("jaeger.json", to_jaeger(&spans)),
        ("zipkin.json", to_zipkin(&spans)),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, serde_json::to_vec(&export).unwrap()).unwrap();
        let (exported, _) = analyze(&path);
        let tags: Vec<&serde_json::Value> = exported
            .iter()
            .filter(|f| f["request"]["route"] == "/api")
            .map(|f| &f["children"][0]["stack_tags"])
            .collect();
        assert_eq!(tags, [&finding["children"][0]["stack_tags"]], "{name}");
    }
    // The REST routes of the same run keep their findings, with no GraphQL evidence.
    let rest: Vec<serde_json::Value> = findings
        .iter()
        .filter(|f| !api.contains(f))
        .cloned()
        .collect();
    assert_app_findings(&rest);
    for f in &rest {
        assert!(f["children"][0].get("stack_tags").is_none(), "{f:#}");
        assert_ne!(f["advice"]["framework"], "GraphQL", "{f:#}");
    }
}

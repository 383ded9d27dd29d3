//! Bad trace input: each bad record or span is reported with where it was (line and byte,
//! trace and span id) and skipped, and nothing else is lost; a huge trace is cut to the span
//! limit with memory bounded.

use std::io::Cursor;
use std::sync::Arc;

use querycomb_core::{Collected, Location, SourceId};
use querycomb_traces::model::{Span, SpanAttrs, SpanKind, Value};
use querycomb_traces::{read_traces, sniff, Assembler, AssemblyLimits, TraceFormat};

const TRACE: &str = "5b8efff798038103d269b633813fc60c";

/// One OTLP/JSON request line holding `spans` (already JSON objects).
fn request(spans: &[String]) -> String {
    format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"shop"}}}}]}},"scopeSpans":[{{"scope":{{}},"spans":[{}]}}]}}]}}"#,
        spans.join(",")
    )
}

fn db_span(trace: &str, id: &str, start_ms: u64, sql: Option<&str>, name: &str) -> String {
    let attrs = match sql {
        Some(sql) => format!(
            r#"{{"key":"db.system.name","value":{{"stringValue":"postgresql"}}}},{{"key":"db.query.text","value":{{"stringValue":"{sql}"}}}}"#
        ),
        None => r#"{"key":"db.system","value":{"stringValue":"postgresql"}}"#.to_owned(),
    };
    let start = 1_700_000_000_000u64 + start_ms;
    format!(
        r#"{{"traceId":"{trace}","spanId":"{id}","parentSpanId":"aaaaaaaaaaaaaaaa","name":"{name}","kind":3,"startTimeUnixNano":"{}","endTimeUnixNano":"{}","attributes":[{attrs}]}}"#,
        start * 1_000_000,
        start * 1_000_000 + 400_000
    )
}

fn read(text: &str) -> Collected {
    let mut sink = Collected::default();
    let format = sniff(text.as_bytes()).expect("recognised as traces");
    read_traces(
        format,
        &mut Cursor::new(text.as_bytes()),
        SourceId(0),
        AssemblyLimits::FILE,
        &mut sink,
    )
    .expect("no I/O error");
    sink
}

#[test]
fn a_malformed_line_is_reported_with_its_place_and_the_rest_is_read() {
    let first = request(&[db_span(TRACE, "00000000000000b1", 0, Some("SELECT 1"), "q")]);
    let third = request(&[db_span(TRACE, "00000000000000b2", 5, Some("SELECT 2"), "q")]);
    let text = format!("{first}\n{{\"resourceSpans\": [nope\n{third}\n");
    let got = read(&text);
    assert_eq!(got.events.len(), 2);
    assert_eq!(got.errors.len(), 1, "{:?}", got.errors);
    let error = &got.errors[0];
    assert_eq!(error.location.line, 2);
    assert_eq!(error.location.byte, first.len() as u64 + 1);
    assert!(
        error.message.contains("not an OTLP/JSON trace request"),
        "{}",
        error.message
    );
}

#[test]
fn ids_of_the_wrong_length_name_the_span_and_trace() {
    let text = request(&[
        db_span("abc", "00000000000000b1", 0, Some("SELECT 1"), "q"),
        db_span(TRACE, "b2", 1, Some("SELECT 2"), "q"),
        db_span(TRACE, "00000000000000b3", 2, Some("SELECT 3"), "q"),
    ]);
    let got = read(&text);
    assert_eq!(got.events.len(), 1, "only the good span is read");
    let messages: Vec<&str> = got.errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages[0].contains("span \"00000000000000b1\" of trace \"abc\": traceId: 3 hex digits where 32 were expected"), "{}", messages[0]);
    assert!(
        messages[1].contains(&format!(
            "span \"b2\" of trace \"{TRACE}\": spanId: 2 hex digits where 16"
        )),
        "{}",
        messages[1]
    );
}

#[test]
fn a_database_span_without_sql_is_reported_but_connect_spans_are_not() {
    let text = request(&[
        db_span(TRACE, "00000000000000b1", 0, None, "pg.connect"),
        db_span(TRACE, "00000000000000b2", 1, None, "SELECT"),
        db_span(TRACE, "00000000000000b3", 2, Some("SELECT 1"), "q"),
    ]);
    let got = read(&text);
    assert_eq!(got.events.len(), 1);
    assert_eq!(got.errors.len(), 1, "{:?}", got.errors);
    assert!(
        got.errors[0].message.contains(&format!(
            "span 00000000000000b2 of trace {TRACE}: database span `SELECT` has no query text"
        )),
        "{}",
        got.errors[0].message
    );
}

#[test]
fn events_carry_their_context_and_spans_are_ordered_across_lines() {
    // Three lines, spans out of order, the server span last (as SDKs export it).
    let server = format!(
        r#"{{"traceId":"{TRACE}","spanId":"aaaaaaaaaaaaaaaa","name":"GET /x","kind":2,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000100000000","attributes":[{{"key":"http.route","value":{{"stringValue":"/books/:id"}}}}]}}"#
    );
    let text = [
        request(&[db_span(TRACE, "00000000000000b2", 9, Some("SELECT 2 /*traceparent='00-ffffffffffffffffffffffffffffffff-0000000000000001-01'*/"), "q")]),
        request(&[db_span(TRACE, "00000000000000b1", 3, Some("SELECT * FROM t WHERE id = %s"), "q")]),
        request(&[server]),
    ]
    .join("\n");
    let got = read(&text);
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    let sql: Vec<&str> = got.events.iter().map(|e| e.sql.as_str()).collect();
    assert_eq!(sql[0], "SELECT * FROM t WHERE id = %s");
    let first = &got.events[0].context;
    assert_eq!(first.trace_id.as_deref(), Some(TRACE));
    assert_eq!(first.span_id.as_deref(), Some("00000000000000b1"));
    assert_eq!(first.parent_span_id.as_deref(), Some("aaaaaaaaaaaaaaaa"));
    assert_eq!(first.route.as_deref(), Some("/books/:id"));
    assert_eq!(first.service.as_deref(), Some("shop"));
    assert!(first.params_unknown);
    assert!(!got.events[1].context.params_unknown);
    assert_eq!(got.events[0].time, Some(1_700_000_000_003_000));
    assert_eq!(got.events[0].duration_us, Some(400));
}

fn span(trace: u128, id: u64) -> Span {
    let mut attrs = SpanAttrs::default();
    attrs.note("db.query.text", Value::Str("SELECT 1"));
    Span {
        trace,
        id,
        parent: 1,
        kind: SpanKind::Client,
        name: String::new(),
        start_ns: id,
        end_ns: id + 1,
        service: Arc::from("svc"),
        attrs,
        location: Location::default(),
    }
}

#[test]
fn a_trace_of_a_million_spans_is_cut_to_the_limit_with_memory_bounded() {
    let mut sink = Collected::default();
    let mut assembler = Assembler::new(AssemblyLimits::FILE);
    for id in 1..=1_000_000u64 {
        assembler.push(span(7, id), &mut sink);
    }
    assert_eq!(
        assembler.held_spans(),
        AssemblyLimits::FILE.max_spans_per_trace
    );
    assembler.finish(&mut sink);
    let stats = assembler.stats();
    assert_eq!(stats.spans, 1_000_000);
    assert_eq!(stats.dropped_spans, 900_000);
    assert_eq!(sink.events.len(), 100_000);
    assert_eq!(sink.errors.len(), 1);
    assert!(
        sink.errors[0].message.starts_with(
            "trace 00000000000000000000000000000007: 900000 spans over the limit of 100000"
        ),
        "{}",
        sink.errors[0].message
    );
}

#[test]
fn open_traces_are_bounded() {
    let mut sink = Collected::default();
    let limits = AssemblyLimits {
        max_open_traces: 100,
        ..AssemblyLimits::FILE
    };
    let mut assembler = Assembler::new(limits);
    for trace in 1..=10_000u128 {
        assembler.push(span(trace, 1), &mut sink);
        assert!(assembler.open_traces() <= 100);
    }
    assembler.finish(&mut sink);
    assert_eq!(
        sink.events.len(),
        10_000,
        "evicted traces are analysed, not lost"
    );
}

#[test]
fn protobuf_files_that_end_early_or_announce_too_much_are_reported() {
    // A length prefix of 10 bytes followed by 3.
    let mut cut = vec![0, 0, 0, 10, 0x0a, 0x01, 0x02];
    let mut sink = Collected::default();
    let stats = read_traces(
        TraceFormat::OtlpProto,
        &mut Cursor::new(&mut cut),
        SourceId(0),
        AssemblyLimits::FILE,
        &mut sink,
    )
    .unwrap();
    assert_eq!(stats.records, 1);
    assert_eq!(sink.errors.len(), 1);
    assert!(sink.errors[0]
        .message
        .contains("message cut short: 3 of 10 bytes"));
    let huge = [0xff, 0xff, 0xff, 0xff, 0x0a];
    let mut sink = Collected::default();
    read_traces(
        TraceFormat::OtlpProto,
        &mut Cursor::new(&huge[..]),
        SourceId(0),
        AssemblyLimits::FILE,
        &mut sink,
    )
    .unwrap();
    assert!(
        sink.errors[0].message.contains("over the limit"),
        "{:?}",
        sink.errors
    );
}

#[test]
fn sniffing() {
    let line = request(&[db_span(TRACE, "00000000000000b1", 0, Some("SELECT 1"), "q")]);
    assert_eq!(sniff(line.as_bytes()), Some(TraceFormat::OtlpJsonLines));
    let pretty = "{\n  \"resourceSpans\": []\n}\n";
    assert_eq!(sniff(pretty.as_bytes()), Some(TraceFormat::OtlpJson));
    assert_eq!(
        sniff(b"2024-01-01 00:00:00 UTC [1] LOG:  statement: SELECT 1"),
        None
    );
    assert_eq!(sniff(b"{\"timestamp\":\"2024\",\"message\":\"x\"}"), None);
    assert_eq!(
        sniff(&[0, 0, 0, 5, 0x0a, 0, 0, 0, 0]),
        Some(TraceFormat::OtlpProto)
    );
    assert_eq!(
        sniff(&[5, 0x0a, 0, 0, 0, 0]),
        Some(TraceFormat::OtlpProtoDelimited)
    );
    let got = read(pretty);
    assert!(got.errors.is_empty() && got.events.is_empty());
}

#[test]
fn jaeger_and_zipkin_are_sniffed_and_their_bad_spans_named() {
    let zipkin = r#"[{"traceId":"463ac35c9f6413ad","id":"a2fb4a1d1a96d312","kind":"CLIENT","timestamp":1,"duration":2,"localEndpoint":{"serviceName":"api"},"tags":{"db.statement":"SELECT 1"}},
{"traceId":"463ac35c9f6413ad","id":"xyz","tags":{"db.statement":"SELECT 2"}}]
[{"traceId":"463ac35c9f6413ad","id":"a2fb4a1d1a96d313","kind":"CLIENT","timestamp":3,"duration":2,"tags":{"db.statement":"SELECT 3"}}]
[{"traceId": nope}]"#;
    assert_eq!(sniff(zipkin.as_bytes()), Some(TraceFormat::ZipkinJson));
    let got = read(zipkin);
    let sql: Vec<&str> = got.events.iter().map(|e| e.sql.as_str()).collect();
    assert_eq!(sql, ["SELECT 1", "SELECT 3"]);
    assert_eq!(
        got.events[0].context.trace_id.as_deref(),
        Some("0000000000000000463ac35c9f6413ad"),
        "64-bit trace ids are widened"
    );
    assert_eq!(got.events[0].session, "api");
    assert_eq!(got.errors.len(), 2, "{:?}", got.errors);
    assert!(
        got.errors[0]
            .message
            .contains("span \"xyz\" of trace \"463ac35c9f6413ad\": id: 3 hex digits"),
        "{}",
        got.errors[0].message
    );
    assert_eq!(got.errors[1].location.line, 4);
    assert!(got.errors[1]
        .message
        .contains("not a Zipkin v2 JSON span array"));

    let jaeger = r#"{"data":[{"traceID":"463ac35c9f6413ad48485a3953bb6124","spans":[{"traceID":"463ac35c9f6413ad48485a3953bb6124","spanID":"a2fb4a1d1a96d312","operationName":"SELECT","references":[{"refType":"CHILD_OF","traceID":"463ac35c9f6413ad48485a3953bb6124","spanID":"0000000000000001"}],"startTime":1,"duration":2,"tags":[{"key":"db.system","type":"string","value":"postgresql"},{"key":"db.statement","type":"string","value":"SELECT 1"},{"key":"span.kind","type":"string","value":"client"}],"processID":"p1"},{"traceID":"463ac35c9f6413ad48485a3953bb6124","spanID":"12","operationName":"x","processID":"p1"}],"processes":{"p1":{"serviceName":"api"}}}]}"#;
    assert_eq!(sniff(jaeger.as_bytes()), Some(TraceFormat::JaegerJson));
    let got = read(jaeger);
    assert_eq!(got.events.len(), 1);
    assert_eq!(
        got.events[0].context.parent_span_id.as_deref(),
        Some("0000000000000001")
    );
    assert_eq!(got.events[0].session, "api");
    assert_eq!(got.errors.len(), 1);
    assert!(
        got.errors[0].message.contains(
            "span \"12\" of trace \"463ac35c9f6413ad48485a3953bb6124\": spanID: 2 hex digits"
        ),
        "{}",
        got.errors[0].message
    );
}

//! `querycomb collect` on bad requests: an OTLP/HTTP body over `--max-request-bytes` is
//! refused with 413, a malformed one with 400, each named on stderr with the peer and
//! counted in /metrics; good requests around them are still analysed.

mod run_support;
mod traces_support;

use std::io::{Read, Write};
use std::net::TcpStream;

use traces_support::*;

/// One HTTP/1.1 request; the status line and body of the answer.
fn http(port: u16, method: &str, path: &str, content_type: &str, body: &[u8]) -> (String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    // A refused body may be answered before it is all sent.
    let _ = stream.write_all(body);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.lines().next().unwrap_or_default().to_owned();
    let body = answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

fn line(trace: &str, span: &str, sql: &str) -> String {
    format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"api"}}}}]}},"scopeSpans":[{{"spans":[{{"traceId":"{trace}","spanId":"{span}","name":"q","kind":3,"startTimeUnixNano":"1","endTimeUnixNano":"2","attributes":[{{"key":"db.query.text","value":{{"stringValue":"{sql}"}}}}]}}]}}]}}]}}"#
    )
}

#[test]
fn oversize_and_malformed_requests_are_refused_and_named() {
    let collector = Collector::start(&["--max-request-bytes", "2000"]);
    let port = collector.http;
    let good = line(
        "5b8efff798038103d269b633813fc60c",
        "00000000000000b1",
        "SELECT 1",
    );
    let (status, _) = http(
        port,
        "POST",
        "/v1/traces",
        "application/json",
        good.as_bytes(),
    );
    assert!(status.contains("200"), "{status}");

    let big = format!("{}{}", good, " ".repeat(5000));
    let (status, body) = http(
        port,
        "POST",
        "/v1/traces",
        "application/json",
        big.as_bytes(),
    );
    assert!(status.contains("413"), "{status}");
    assert!(body.contains("over the limit of 2000 bytes"), "{body}");

    let (status, body) = http(
        port,
        "POST",
        "/v1/traces",
        "application/json",
        b"{\"resourceSpans\": [nope",
    );
    assert!(status.contains("400"), "{status}");
    assert!(body.contains("not an OTLP/JSON trace request"), "{body}");

    let (status, body) = http(
        port,
        "POST",
        "/v1/traces",
        "application/x-protobuf",
        &[0x0a, 0xff],
    );
    assert!(status.contains("400"), "{status}");
    assert!(
        body.contains("not an OTLP protobuf trace request"),
        "{body}"
    );

    let (status, _) = http(port, "POST", "/v1/traces", "text/plain", b"hi");
    assert!(status.contains("415"), "{status}");

    let bad_id = line("5b8e", "00000000000000b2", "SELECT 2");
    let (status, _) = http(
        port,
        "POST",
        "/v1/traces",
        "application/json",
        bad_id.as_bytes(),
    );
    assert!(
        status.contains("200"),
        "the request is fine, one span in it is not: {status}"
    );

    let (status, metrics) = http(port, "GET", "/metrics", "text/plain", b"");
    assert!(status.contains("200"), "{status}");
    for expected in [
        r#"querycomb_collect_requests_total{transport="http",outcome="accepted"} 2"#,
        r#"querycomb_collect_requests_total{transport="http",outcome="too_large"} 1"#,
        r#"querycomb_collect_requests_total{transport="http",outcome="malformed"} 2"#,
    ] {
        assert!(metrics.contains(expected), "{expected} not in\n{metrics}");
    }

    let (ran, _, _) = collector.stop();
    assert!(
        ran.stderr
            .contains("refused: request body over the limit of 2000 bytes"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("http request from 127.0.0.1:"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("span \"00000000000000b2\" of trace \"5b8e\": traceId: 4 hex digits where 32 were expected"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("2 requests, 2 spans received"),
        "{}",
        ran.stderr
    );
}

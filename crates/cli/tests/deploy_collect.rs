//! deploy/k8s-collect.yaml: the querycomb container's command line, as written in the
//! manifest (addresses and the data directory moved to this machine), runs `collect`: it
//! accepts OTLP/HTTP, finds an N+1 in a trace, and on SIGTERM writes the report and the
//! findings lines where the manifest says. The Collector's configuration routes by trace id
//! to the headless Service the StatefulSet is governed by.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn manifest() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/k8s-collect.yaml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `command` and `args` of container `name` (a `- name:` line, then `command: [..]` and
/// an `args:` list of `- ` lines).
fn container(manifest: &str, name: &str) -> (Vec<String>, Vec<String>) {
    let mut lines = manifest
        .lines()
        .skip_while(|l| l.trim() != format!("- name: {name}"))
        .skip(1);
    let mut command = Vec::new();
    let mut args = Vec::new();
    while let Some(line) = lines.next() {
        let line = line.trim();
        if let Some(list) = line.strip_prefix("command:") {
            command = serde_json::from_str(list.trim()).expect("command: a JSON-style list");
        } else if line == "args:" {
            for arg in lines.by_ref() {
                match arg.trim().strip_prefix("- ") {
                    Some(arg) => args.push(arg.to_owned()),
                    None => break,
                }
            }
            break;
        }
    }
    assert!(
        !command.is_empty() && !args.is_empty(),
        "container {name} not found"
    );
    (command, args)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn post(port: u16, body: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.lines().next().unwrap_or_default().to_owned()
}

/// A trace: a parent query, then one lookup per row.
fn n_plus_one_trace() -> String {
    let span = |id: u64, at_ms: u64, sql: &str| {
        let start = (1_700_000_000_000 + at_ms) * 1_000_000;
        format!(
            r#"{{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"{id:016x}","parentSpanId":"00000000000000ff","name":"q","kind":3,"startTimeUnixNano":"{start}","endTimeUnixNano":"{}","attributes":[{{"key":"db.system.name","value":{{"stringValue":"postgresql"}}}},{{"key":"db.query.text","value":{{"stringValue":"{sql}"}}}}]}}"#,
            start + 500_000
        )
    };
    let mut spans = vec![span(1, 0, "SELECT id FROM orders")];
    for i in 0..6 {
        spans.push(span(
            2 + i,
            2 + i,
            "SELECT name FROM customers WHERE id = $1",
        ));
    }
    format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"shop"}}}}]}},"scopeSpans":[{{"spans":[{}]}}]}}]}}"#,
        spans.join(",")
    )
}

#[test]
fn the_manifests_collect_command_line_runs_and_reports_on_sigterm() {
    let manifest = manifest();
    let (command, args) = container(&manifest, "querycomb");
    assert_eq!(command, ["querycomb", "collect"]);
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http) = (free_port(), free_port());
    let data = format!("{}/", dir.path().display());
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            a.replace("0.0.0.0:4317", &format!("127.0.0.1:{grpc}"))
                .replace("0.0.0.0:4318", &format!("127.0.0.1:{http}"))
                .replace("/data/", &data)
        })
        .collect();
    let child = Command::new(env!("CARGO_BIN_EXE_querycomb"))
        .args(&command[1..])
        .args(&args)
        // Findings are expected here: the exit status is not under test.
        .arg("--fail-on=never")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start querycomb collect");
    for port in [grpc, http] {
        let mut tries = 0;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            tries += 1;
            assert!(tries < 600, "querycomb collect did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert_eq!(post(http, &n_plus_one_trace()), "HTTP/1.1 200 OK");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait for collect");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    let findings = report["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 1, "{report:#}");
    assert_eq!(findings[0]["kind"], "n_plus_one");
    assert_eq!(findings[0]["count"], 6);
    let lines = std::fs::read_to_string(dir.path().join("findings.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 1, "{lines}");
}

#[test]
fn the_collector_routes_by_trace_id_to_the_statefulsets_headless_service() {
    let manifest = manifest();
    assert!(manifest.contains("routing_key: traceID"));
    let hostname = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("hostname: "))
        .expect("a dns resolver hostname");
    let headless = "querycomb-collect-headless";
    assert_eq!(
        hostname,
        format!("{headless}.observability.svc.cluster.local")
    );
    assert!(manifest.contains(&format!("serviceName: {headless}")));
    assert!(manifest.contains("clusterIP: None"));
}

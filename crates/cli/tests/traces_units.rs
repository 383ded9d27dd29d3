//! Trace files: a trace is one unit of work however long it pauses, and each span's SQL is
//! read in the dialect of its own database system (`db.system.name` / `db.system`), not one
//! dialect for the whole run. The statement texts are as each system's drivers send them
//! (PostgreSQL `$1` and `"quoted"` names, MySQL `"strings"`, SQLite `?`, SQL Server `@p0`,
//! Oracle `:1`).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const SERVER: u8 = 2;
const CLIENT: u8 = 3;

/// One span as OTLP/JSON, with string attributes.
fn span(
    trace: &str,
    id: u64,
    parent: u64,
    kind: u8,
    start_ms: u64,
    attrs: &[(&str, &str)],
) -> String {
    let start = (1_700_000_000_000 + start_ms) * 1_000_000;
    let attrs: Vec<String> = attrs
        .iter()
        .map(|(k, v)| {
            let v = serde_json::to_string(v).unwrap();
            format!(r#"{{"key":"{k}","value":{{"stringValue":{v}}}}}"#)
        })
        .collect();
    let parent = if parent == 0 {
        String::new()
    } else {
        format!(r#""parentSpanId":"{parent:016x}","#)
    };
    format!(
        r#"{{"traceId":"{trace}","spanId":"{id:016x}",{parent}"name":"span {id}","kind":{kind},"startTimeUnixNano":"{start}","endTimeUnixNano":"{}","attributes":[{}]}}"#,
        start + 1_000_000,
        attrs.join(",")
    )
}

/// One OTLP/JSON request line: `service`'s spans.
fn line(service: &str, spans: &[String]) -> String {
    format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"{service}"}}}}]}},"scopeSpans":[{{"scope":{{}},"spans":[{}]}}]}}]}}"#,
        spans.join(",")
    )
}

/// A request trace: a server span for `route`, a parent query at 0 ms, then one child query
/// per row from `loop_at_ms` on (`children[i]`), all on database system `system`.
fn request(
    trace: &str,
    service: &str,
    route: &str,
    system: &str,
    parent_sql: &str,
    children: &[String],
    loop_at_ms: u64,
) -> String {
    let mut spans = vec![span(trace, 1, 0, SERVER, 0, &[("http.route", route)])];
    let db = |id: u64, at: u64, sql: &str| {
        span(
            trace,
            id,
            1,
            CLIENT,
            at,
            &[("db.system.name", system), ("db.query.text", sql)],
        )
    };
    spans.push(db(2, 1, parent_sql));
    for (i, sql) in children.iter().enumerate() {
        spans.push(db(3 + i as u64, loop_at_ms + 2 * i as u64, sql));
    }
    line(service, &spans)
}

fn same(sql: &str, n: usize) -> Vec<String> {
    vec![sql.to_owned(); n]
}

fn analyze(file: &Path, extra: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_querycomb"))
        .args(["analyze", "--format", "json"])
        .args(extra)
        .arg(file)
        .output()
        .expect("run querycomb");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Route, kind, parent, child, count and fix of each finding, sorted.
fn findings(report: &Value) -> Vec<(String, String, String, String, u64, String)> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let mut out: Vec<_> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                text(&f["request"]["route"]),
                text(&f["kind"]),
                text(&f["parent"]["normalized"]),
                text(&f["children"][0]["normalized"]),
                f["count"].as_u64().unwrap_or(0),
                // The batched statement (its explanation follows on the next lines).
                text(&f["suggestion"])
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_trace_that_pauses_longer_than_the_idle_gap_is_still_one_unit() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("traces.jsonl");
    // The handler queries the orders, waits 3 s (a slow call elsewhere), then loops.
    let trace = request(
        "5b8efff798038103d269b633813fc60c",
        "shop",
        "GET /orders",
        "postgresql",
        "SELECT id, customer_id FROM orders WHERE status = $1",
        &same("SELECT name FROM customers WHERE id = $1", 6),
        3000,
    );
    std::fs::write(&file, format!("{trace}\n")).unwrap();
    let report = analyze(&file, &["--idle-gap-ms", "1000"]);
    let got = findings(&report);
    assert_eq!(got.len(), 1, "{report:#}");
    let (route, kind, parent, child, count, _) = &got[0];
    assert_eq!(route, "GET /orders");
    assert_eq!(kind, "n_plus_one");
    assert_eq!(
        parent,
        "SELECT id, customer_id FROM orders WHERE status = $1"
    );
    assert_eq!(child, "SELECT name FROM customers WHERE id = $1");
    assert_eq!(*count, 6);
    assert_eq!(
        report["summary"]["requests"].as_u64(),
        Some(1),
        "{report:#}"
    );
}

#[test]
fn each_span_is_read_in_the_dialect_of_its_database_system() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("traces.jsonl");
    let mysql_names: Vec<String> = (1..=6)
        .map(|i| format!(r#"SELECT id, title FROM books WHERE author_name = "author {i}""#))
        .collect();
    let lines = [
        // MySQL: `"…"` is a string, so these six differ only in a value.
        request(
            "00000000000000000000000000000a01",
            "catalog",
            "GET /authors",
            "mysql",
            "SELECT name FROM authors ORDER BY name",
            &mysql_names,
            5,
        ),
        // PostgreSQL: `"…"` is a name (read as MySQL, every name would be a value).
        request(
            "00000000000000000000000000000a02",
            "shop",
            "GET /orders",
            "postgresql",
            r#"SELECT "id" FROM "orders" WHERE "status" = $1"#,
            &same(r#"SELECT "total" FROM "lines" WHERE "order_id" = $1"#, 6),
            5,
        ),
        request(
            "00000000000000000000000000000a03",
            "notes",
            "GET /notes",
            "sqlite",
            r#"SELECT "id" FROM "notes""#,
            &same(r#"SELECT "body" FROM "revisions" WHERE "note_id" = ?"#, 6),
            5,
        ),
        request(
            "00000000000000000000000000000a04",
            "billing",
            "GET /customers",
            "microsoft.sql_server",
            "SELECT Id FROM Customers WHERE Region = @Region",
            &same("SELECT Total FROM Invoices WHERE CustomerId = @p0", 6),
            5,
        ),
        request(
            "00000000000000000000000000000a05",
            "ledger",
            "GET /accounts",
            "oracle",
            "SELECT id FROM accounts WHERE owner = :1",
            &same("SELECT amount FROM entries WHERE account_id = :1", 6),
            5,
        ),
    ];
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let row = |route: &str, parent: &str, child: &str, fix: &str| {
        (
            route.to_owned(),
            "n_plus_one".to_owned(),
            parent.to_owned(),
            child.to_owned(),
            6,
            fix.to_owned(),
        )
    };
    let want = vec![
        row(
            "GET /accounts",
            "SELECT id FROM accounts WHERE owner = ?",
            "SELECT amount FROM entries WHERE account_id = ?",
            "SELECT account_id, amount FROM entries WHERE account_id IN (?, ...)",
        ),
        row(
            "GET /authors",
            "SELECT name FROM authors ORDER BY name",
            "SELECT id, title FROM books WHERE author_name = ?",
            "SELECT author_name, id, title FROM books WHERE author_name IN (?, ...)",
        ),
        row(
            "GET /customers",
            "SELECT Id FROM Customers WHERE Region = ?",
            "SELECT Total FROM Invoices WHERE CustomerId = ?",
            "SELECT CustomerId, Total FROM Invoices WHERE CustomerId IN (?, ...)",
        ),
        row(
            "GET /notes",
            r#"SELECT "id" FROM "notes""#,
            r#"SELECT "body" FROM "revisions" WHERE "note_id" = ?"#,
            r#"SELECT "note_id", "body" FROM "revisions" WHERE "note_id" IN (?, ...)"#,
        ),
        row(
            "GET /orders",
            r#"SELECT "id" FROM "orders" WHERE "status" = $1"#,
            r#"SELECT "total" FROM "lines" WHERE "order_id" = $1"#,
            r#"SELECT "order_id", "total" FROM "lines" WHERE "order_id" = ANY($1)"#,
        ),
    ];
    // Whatever the run's own dialect, each span is read in its system's.
    for run_dialect in ["postgres", "mysql"] {
        let report = analyze(&file, &["--dialect", run_dialect]);
        assert_eq!(
            findings(&report),
            want,
            "--dialect {run_dialect}: {report:#}"
        );
    }
}

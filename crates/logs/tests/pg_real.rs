//! The PostgreSQL log readers on logs written by a real PostgreSQL server.
//!
//! Each test starts a throwaway cluster in one logging mode, drives the same workload
//! through the `postgres` crate (simple protocol, unnamed and named extended-protocol
//! statements, a multi-line multi-statement string, two failing statements) and `psql`,
//! then reads the log the server wrote and checks the exact event sequence.

mod common;

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls};
use querycomb_core::OwnedEvent;
use querycomb_logs::{sniff, LogFormat, ReadStats};
use querycomb_testkit::{PgOptions, PgServer};

const APP: &str = "qc-workload";

use querycomb_core::Collected as Collect;

/// What one statement of the workload should look like in the log.
struct Expected {
    sql: &'static str,
    params: Option<&'static str>,
    prepared: Option<&'static str>,
    error: Option<&'static str>,
}

const fn ok(
    sql: &'static str,
    params: Option<&'static str>,
    prepared: Option<&'static str>,
) -> Expected {
    Expected {
        sql,
        params,
        prepared,
        error: None,
    }
}

const fn failed(sql: &'static str, error: &'static str) -> Expected {
    Expected {
        sql,
        params: None,
        prepared: None,
        error: Some(error),
    }
}

const EXPECTED: &[Expected] = &[
    ok("SELECT count(*) FROM customers", None, None),
    ok(
        "SELECT name FROM customers WHERE id = $1",
        Some("$1 = '2'"),
        None,
    ),
    ok(
        "SELECT email FROM customers WHERE id = $1",
        Some("$1 = '3'"),
        Some("s0"),
    ),
    ok(
        "SELECT email FROM customers WHERE id = $1",
        Some("$1 = '4'"),
        Some("s0"),
    ),
    ok("SELECT 1 AS a;\n  SELECT 2 AS b", None, None),
    ok(
        "SELECT id FROM customers WHERE name = $1",
        Some("$1 = 'o''neil'"),
        None,
    ),
    failed(
        "SELECT * FROM missing_table",
        "relation \"missing_table\" does not exist",
    ),
    failed("SELECT 1 / $1", "division by zero"),
    ok(
        "SELECT id\n  FROM customers\n WHERE id = 1 /*route='%2Fshow'*/",
        None,
        None,
    ),
];

fn workload(server: &PgServer) {
    server.createdb("shop").expect("createdb");
    server
        .psql(
            "shop",
            "CREATE TABLE customers (id int PRIMARY KEY, name text, email text); \
             INSERT INTO customers SELECT g, 'c' || g, 'c' || g || '@x' FROM generate_series(1, 9) g",
        )
        .expect("schema");
    let conn = format!("{} application_name={APP}", server.conn_str("shop"));
    let mut client = Client::connect(&conn, NoTls).expect("connect");
    client
        .simple_query("SELECT count(*) FROM customers")
        .expect("simple");
    client
        .query_typed(
            "SELECT name FROM customers WHERE id = $1",
            &[(&2i32 as &(dyn ToSql + Sync), Type::INT4)],
        )
        .expect("unnamed");
    let named = client
        .prepare("SELECT email FROM customers WHERE id = $1")
        .expect("prepare");
    client.query(&named, &[&3i32]).expect("named 3");
    client.query(&named, &[&4i32]).expect("named 4");
    client
        .simple_query("SELECT 1 AS a;\n  SELECT 2 AS b")
        .expect("multi");
    client
        .query_typed(
            "SELECT id FROM customers WHERE name = $1",
            &[(&"o'neil" as &(dyn ToSql + Sync), Type::TEXT)],
        )
        .expect("quoted parameter");
    assert!(client.simple_query("SELECT * FROM missing_table").is_err());
    assert!(client
        .query_typed(
            "SELECT 1 / $1",
            &[(&0i32 as &(dyn ToSql + Sync), Type::INT4)]
        )
        .is_err());
    client
        .simple_query("SELECT id\n  FROM customers\n WHERE id = 1 /*route='%2Fshow'*/")
        .expect("multi-line");
    drop(client);
    server.psql("shop", "SELECT 42").expect("psql");
}

/// Starts a server with `conf`, runs the workload, stops it and reads `file` of its logs.
fn run(conf: &[&str], file: &str, format: LogFormat) -> (Collect, ReadStats) {
    let opts = PgOptions {
        conf: conf.iter().map(|s| s.to_string()).collect(),
        ..PgOptions::default()
    };
    let server = PgServer::start(opts).expect("start PostgreSQL");
    workload(&server);
    server.stop().expect("stop");
    let path = server.log_dir().join(file);
    assert_eq!(
        sniff(&head(&path)),
        Some(format),
        "sniffed format of {file}"
    );
    let bytes = std::fs::read(&path).expect("log file");
    let mut input = BufReader::new(bytes.as_slice());
    let mut sink = Collect::default();
    let stats = common::read(format, &mut input, &mut sink);
    check_locations(&sink, &bytes, format);
    (sink, stats)
}

/// Every event points at the line (number and byte offset) of the record that logged it,
/// which holds the statement's first line.
fn check_locations(sink: &Collect, log: &[u8], format: LogFormat) {
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(
            log.iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .collect();
    for event in &sink.events {
        let line = event.location.line as usize;
        assert_eq!(
            line_starts[line - 1] as u64,
            event.location.byte,
            "byte offset of line {line}"
        );
        let start = line_starts[line - 1];
        let end = line_starts.get(line).copied().unwrap_or(log.len());
        let text = String::from_utf8_lossy(&log[start..end]);
        let first = event.sql.lines().next().unwrap_or_default();
        // As the format writes it.
        let first_sql_line = match format {
            LogFormat::PgCsv => first.replace('"', "\"\""),
            LogFormat::PgJson => serde_json::to_string(first).expect("json")[1..]
                .trim_end_matches('"')
                .to_owned(),
            _ => first.to_owned(),
        };
        let first_sql_line = first_sql_line.as_str();
        assert!(
            text.contains(first_sql_line),
            "line {line} {text:?} holds {first_sql_line:?}"
        );
    }
}

fn head(path: &Path) -> Vec<u8> {
    let mut head = Vec::new();
    File::open(path)
        .expect("log file")
        .take(64 * 1024)
        .read_to_end(&mut head)
        .expect("read head");
    head
}

/// Checks the workload's events against [`EXPECTED`] and the psql session.
fn check(sink: &Collect, stats: ReadStats, durations: bool) {
    assert!(sink.errors.is_empty(), "malformed: {:?}", sink.errors);
    assert_eq!(stats.malformed, 0);
    assert_eq!(stats.events, sink.events.len() as u64);
    let ours: Vec<&OwnedEvent> = sink
        .events
        .iter()
        .filter(|e| e.application.as_deref() == Some(APP))
        .collect();
    let got: Vec<&str> = ours.iter().map(|e| e.sql.as_str()).collect();
    let want: Vec<&str> = EXPECTED.iter().map(|e| e.sql).collect();
    assert_eq!(got, want);
    for (event, expected) in ours.iter().zip(EXPECTED) {
        assert_eq!(
            event.error.as_deref(),
            expected.error,
            "error of {}",
            expected.sql
        );
        assert_eq!(event.user.as_deref(), Some("qc"));
        assert_eq!(event.database.as_deref(), Some("shop"));
        assert_eq!(event.session, ours[0].session, "one session");
        assert!(event.time.is_some(), "time of {}", expected.sql);
        if expected.error.is_none() {
            assert_eq!(
                event.params.as_deref(),
                expected.params,
                "params of {}",
                expected.sql
            );
            // The client numbers its statements process-wide (`s0`, `s1`, …).
            let name = event.prepared_name.as_deref();
            let named = name
                .is_some_and(|n| n.starts_with('s') && n[1..].bytes().all(|b| b.is_ascii_digit()));
            assert_eq!(
                named,
                expected.prepared.is_some(),
                "prepared name {name:?} of {}",
                expected.sql
            );
            assert_eq!(
                event.duration_us.is_some(),
                durations,
                "duration of {}",
                expected.sql
            );
        }
    }
    let psql: Vec<&OwnedEvent> = sink
        .events
        .iter()
        .filter(|e| e.application.as_deref() == Some("psql") && e.sql == "SELECT 42")
        .collect();
    assert_eq!(psql.len(), 1);
    assert_ne!(psql[0].session, ours[0].session);
    let times: Vec<i64> = sink.events.iter().filter_map(|e| e.time).collect();
    let mut sorted = times.clone();
    sorted.sort();
    if !durations {
        assert_eq!(times, sorted, "events in log order");
    }
}

const STDERR: &[&str] = &[
    "log_destination = 'stderr'",
    "log_line_prefix = '%m [%p] %q%u@%d '",
    "log_connections = on",
    "log_disconnections = on",
];

#[test]
fn stderr_log_statement_all() {
    let conf = [STDERR, &["log_statement = 'all'"]].concat();
    let (sink, stats) = run(&conf, "postgresql.log", LogFormat::PgStderr);
    check(&sink, stats, false);
}

#[test]
fn stderr_log_min_duration_zero() {
    let conf = [STDERR, &["log_min_duration_statement = 0"]].concat();
    let (sink, stats) = run(&conf, "postgresql.log", LogFormat::PgStderr);
    check(&sink, stats, true);
}

#[test]
fn stderr_both_settings_pgbadger_prefix() {
    let conf = [
        "log_destination = 'stderr'",
        "log_line_prefix = '%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h '",
        "log_statement = 'all'",
        "log_min_duration_statement = 0",
    ];
    let (sink, stats) = run(&conf, "postgresql.log", LogFormat::PgStderr);
    check(&sink, stats, true);
}

#[test]
fn csvlog_both_settings() {
    let conf = [
        "log_destination = 'csvlog'",
        "log_statement = 'all'",
        "log_min_duration_statement = 0",
    ];
    let (sink, stats) = run(&conf, "postgresql.csv", LogFormat::PgCsv);
    check(&sink, stats, true);
}

#[test]
fn jsonlog_both_settings() {
    let conf = [
        "log_destination = 'jsonlog'",
        "log_statement = 'all'",
        "log_min_duration_statement = 0",
    ];
    let (sink, stats) = run(&conf, "postgresql.json", LogFormat::PgJson);
    check(&sink, stats, true);
}

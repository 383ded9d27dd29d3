//! `querycomb analyze` on logs written by a real PostgreSQL server, in each logging mode:
//! a workload through real clients (psql for the simple protocol, tokio-postgres for the
//! extended protocol with unnamed and named prepared statements), then the findings must be
//! exactly the expected ones — every wasteful pattern found, none of the clean twins.

use std::path::{Path, PathBuf};
use std::process::Command;

use querycomb_testkit::{PgOptions, PgServer};
use serde_json::Value;

const BASE: &[&str] = &["timezone = 'UTC'", "log_timezone = 'UTC'"];

/// `(kind, child table, N, parent table)` of one finding.
type Expected = (&'static str, &'static str, u64, Option<&'static str>);

/// The patterns in `examples/workload.sql` and in [`extended_protocol_workload`].
const EXPECTED: &[Expected] = &[
    ("n_plus_one", "customers", 25, Some("orders")),
    ("count_in_loop", "comments", 10, Some("posts")),
    ("n_plus_one_write", "order_items", 20, None),
    ("repeated_identical", "customers", 12, None),
    ("mn_plus_one", "order_items", 8, Some("orders")),
    // Extended protocol: unnamed statements, then a named prepared statement.
    ("n_plus_one", "orders", 12, Some("customers")),
    ("n_plus_one", "order_items", 15, Some("orders")),
];

fn workload_sql() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/workload.sql")
}

fn start(mode: &[&str]) -> PgServer {
    let conf = BASE.iter().chain(mode).map(|s| s.to_string()).collect();
    let pg = PgServer::start(PgOptions {
        conf,
        ..PgOptions::default()
    })
    .expect("start PostgreSQL");
    pg.createdb("shop").expect("createdb");
    pg
}

/// Loops through the extended protocol, with a clean batched twin of each.
async fn extended_protocol_workload(pg: &PgServer) {
    let conn = format!("{} application_name=shop-api", pg.conn_str("shop"));
    let (client, connection) = tokio_postgres::connect(&conn, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let tag = "/*route='%2Fapi%2Fcustomers'*/";

    // N+1 with unnamed statements (parse/bind/execute each time).
    let customers = client
        .query(
            &format!("SELECT id, name FROM customers ORDER BY id LIMIT 12 {tag}"),
            &[],
        )
        .await
        .unwrap();
    for row in &customers {
        let id: i32 = row.get(0);
        client
            .query(
                &format!("SELECT id, total FROM orders WHERE customer_id = $1 {tag}"),
                &[&id],
            )
            .await
            .unwrap();
    }
    // Clean twin: one ANY($1) query with all the keys, in its own request.
    client.batch_execute("BEGIN").await.unwrap();
    let ids: Vec<i32> = customers.iter().map(|r| r.get(0)).collect();
    client
        .query("SELECT id, name FROM customers WHERE id = ANY($1)", &[&ids])
        .await
        .unwrap();
    client.batch_execute("COMMIT").await.unwrap();

    // N+1 with a named prepared statement, inside a transaction.
    client.batch_execute("BEGIN").await.unwrap();
    let orders = client
        .query("SELECT id FROM orders ORDER BY id LIMIT 15", &[])
        .await
        .unwrap();
    let items = client
        .prepare("SELECT sku, qty FROM order_items WHERE order_id = $1")
        .await
        .unwrap();
    for row in &orders {
        let id: i32 = row.get(0);
        client.query(&items, &[&id]).await.unwrap();
    }
    client.batch_execute("COMMIT").await.unwrap();

    // Below the threshold: three lookups are not reported.
    client.batch_execute("BEGIN").await.unwrap();
    for id in 1..=3 {
        client.query(&items, &[&id]).await.unwrap();
    }
    client.batch_execute("COMMIT").await.unwrap();
}

fn run_workload(pg: &PgServer) {
    pg.psql_file("shop", "shop-web", &workload_sql())
        .expect("workload.sql");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(extended_protocol_workload(pg));
    pg.stop().expect("stop PostgreSQL (flushes the logs)");
}

fn analyze(log: &Path, extra: &[&str]) -> (Value, i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_querycomb"))
        .arg("analyze")
        .arg("--format")
        .arg("json")
        .args(extra)
        .arg(log)
        .output()
        .expect("run querycomb");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (json, out.status.code().unwrap_or(-1), stderr)
}

fn summarize(findings: &Value) -> Vec<(String, String, u64, Option<String>)> {
    let table = |q: &Value| q["table"].as_str().map(str::to_owned);
    let mut got: Vec<_> = findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_owned(),
                table(&f["children"][0]).unwrap_or_default(),
                f["count"].as_u64().unwrap(),
                table(&f["parent"]),
            )
        })
        .collect();
    got.sort();
    got
}

fn expected() -> Vec<(String, String, u64, Option<String>)> {
    let mut want: Vec<_> = EXPECTED
        .iter()
        .map(|(k, t, n, p)| (k.to_string(), t.to_string(), *n, p.map(str::to_owned)))
        .collect();
    want.sort();
    want
}

fn check(mode: &[&str], log_file: &str) -> Value {
    let pg = start(mode);
    run_workload(&pg);
    let log = pg.log_dir().join(log_file);
    let (report, code, stderr) = analyze(&log, &[]);
    assert_eq!(
        summarize(&report["findings"]),
        expected(),
        "{log_file}: {stderr}"
    );
    assert_eq!(code, 1, "findings at warning level fail the run");
    assert_eq!(report["summary"]["malformed"], 0, "{stderr}");
    report
}

#[test]
fn stderr_log_statement_all() {
    let report = check(
        &[
            "log_statement = 'all'",
            "log_line_prefix = '%m [%p] %q%u@%d '",
        ],
        "postgresql.log",
    );
    // No durations in this mode.
    assert_eq!(report["findings"][0]["total_duration_us"], Value::Null);
}

#[test]
fn stderr_log_min_duration_statement() {
    let report = check(
        &[
            "log_min_duration_statement = 0",
            "log_line_prefix = '%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h '",
        ],
        "postgresql.log",
    );
    assert!(report["findings"][0]["total_duration_us"]
        .as_u64()
        .is_some());
}

#[test]
fn csvlog_with_both_settings() {
    let report = check(
        &[
            "log_destination = 'csvlog'",
            "log_statement = 'all'",
            "log_min_duration_statement = 0",
        ],
        "postgresql.csv",
    );
    assert!(report["findings"][0]["total_duration_us"]
        .as_u64()
        .is_some());
}

#[test]
fn jsonlog() {
    check(
        &["log_destination = 'jsonlog'", "log_statement = 'all'"],
        "postgresql.json",
    );
}

#[test]
fn parameters_are_hidden_unless_asked() {
    let pg = start(&["log_statement = 'all'"]);
    run_workload(&pg);
    let log = pg.log_dir().join("postgresql.log");
    let (hidden, _, _) = analyze(&log, &[]);
    assert!(!hidden.to_string().contains("example_params"));
    let (shown, _, _) = analyze(&log, &["--show-params"]);
    assert!(shown.to_string().contains("example_params"), "{shown}");
}

#[test]
fn sarif_points_at_the_tagged_source_location() {
    let pg = start(&["log_statement = 'all'"]);
    let tag = "/*action='index',controller='posts',source_location='app%2Fmodels%2Fpost.rb%3A12%3Ain%20%60author%27'*/";
    let mut sql = String::from(
        "CREATE TABLE authors (id int PRIMARY KEY, name text);\n\
         CREATE TABLE posts (id int PRIMARY KEY, author_id int);\n\
         INSERT INTO authors SELECT g, 'a' || g FROM generate_series(1, 8) g;\n\
         INSERT INTO posts SELECT g, g FROM generate_series(1, 8) g;\n\
         BEGIN;\nSELECT id, author_id FROM posts ORDER BY id;\n",
    );
    for id in 1..=8 {
        sql.push_str(&format!(
            "SELECT name FROM authors WHERE id = {id} {tag};\n"
        ));
    }
    sql.push_str("COMMIT;\n");
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("rails.sql");
    std::fs::write(&script, sql).unwrap();
    pg.psql_file("shop", "rails", &script).unwrap();
    pg.stop().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_querycomb"))
        .args(["analyze", "--format", "sarif"])
        .arg(pg.log_dir().join("postgresql.log"))
        .output()
        .unwrap();
    let sarif: Value = serde_json::from_slice(&out.stdout).expect("SARIF JSON");
    let result = &sarif["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "n_plus_one", "{sarif:#}");
    let physical = &result["locations"][0]["physicalLocation"];
    assert_eq!(physical["artifactLocation"]["uri"], "app/models/post.rb");
    assert_eq!(physical["region"]["startLine"], 12);
}

/// The pool-saturation figure uses each route's observed request rate: the route's requests
/// over its traffic window (first request's start to last request's end, in the summary),
/// and the hold time at which `--pool-size` connections are busy all the time at that rate.
#[test]
fn route_request_rates_feed_the_pool_saturation_figure() {
    let pg = start(&[
        "log_min_duration_statement = 0",
        "log_line_prefix = '%m [%p] %q%u@%d '",
    ]);
    run_workload(&pg);
    let log = pg.log_dir().join("postgresql.log");
    let (report, _, stderr) = analyze(&log, &["--keep-keys", "--pool-size", "4"]);
    let routes = report["summary"]["routes"].as_array().unwrap();
    let orders = routes
        .iter()
        .find(|r| r["route"] == "/orders")
        .unwrap_or_else(|| panic!("no /orders route: {report:#}"));
    assert_eq!(orders["requests"], 3, "{orders:#}");
    let window = &orders["window"];
    let seconds =
        (window["end"].as_i64().unwrap() - window["start"].as_i64().unwrap()) as f64 / 1e6;
    assert!(seconds > 0.0, "{orders:#}");
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "n_plus_one" && f["request"]["route"] == "/orders")
        .unwrap_or_else(|| panic!("no n_plus_one on /orders: {stderr}"));
    let impact = &finding["impact"];
    let rps = impact["observed_rps"].as_f64().unwrap();
    assert!(
        (rps - 3.0 / seconds).abs() < 1e-6 * rps.max(1.0),
        "{impact:#}"
    );
    assert_eq!(impact["pool_size"], 4);
    let hold = impact["saturating_hold_us"].as_u64().unwrap();
    assert_eq!(hold, (4.0 * 1e6 / rps).round() as u64, "{impact:#}");
    // A route with one request has no rate.
    for f in report["findings"].as_array().unwrap() {
        let route = f["request"]["route"].as_str().unwrap_or("");
        let requests = routes
            .iter()
            .find(|r| r["route"] == route)
            .map(|r| r["requests"].clone());
        if requests == Some(serde_json::json!(1)) {
            assert!(f["impact"]["observed_rps"].is_null(), "{f:#}");
        }
    }
}

//! `querycomb analyze` on general and slow query logs written by a real MariaDB server
//! running `examples/mariadb-workload.sql` through the real `mariadb` client: every wasteful
//! pattern found, none of the clean twins, from the log files and from the log tables (their
//! CSV files, and read from the live server through a `mysql://` URL).

use std::path::Path;
use std::process::Command;

use querycomb_testkit::{MariaDb, MariaOptions};
use serde_json::Value;

fn example(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    std::fs::read_to_string(path).expect("example SQL")
}

fn analyze(log: &Path) -> Value {
    analyze_with_stderr(log).0
}

/// The JSON report, and what was said on standard error.
fn analyze_with_stderr(log: &Path) -> (Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_querycomb"))
        .args(["analyze", "--format", "json"])
        .arg(log)
        .output()
        .expect("run querycomb");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let report = serde_json::from_slice(&out.stdout).expect("JSON report");
    (report, stderr)
}

/// The warning `analyze` gives for a log whose clock has whole seconds.
const WHOLE_SECONDS: &str = "this log's clock has whole seconds";

/// `(kind, child table, N, has parent)`, sorted.
fn summarize(report: &Value) -> Vec<(String, String, u64, bool)> {
    let mut got: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_owned(),
                f["children"][0]["table"].as_str().unwrap_or("").to_owned(),
                f["count"].as_u64().unwrap(),
                !f["parent"].is_null(),
            )
        })
        .collect();
    got.sort();
    got
}

#[test]
fn general_and_slow_logs_of_a_real_workload() {
    let mut server = MariaDb::start(MariaOptions {
        slow_log: true,
        log_tables: true,
        ..MariaOptions::default()
    })
    .expect("start MariaDB");
    server
        .client("", &example("mariadb-schema.sql"))
        .expect("schema");
    server
        .client("shop", &example("mariadb-workload.sql"))
        .expect("workload");
    // A second connection: a middleware looking up the same row for every item.
    let lookup = "SELECT id, name, email FROM customers WHERE id = 7 /*route='%2Fprofile'*/;\n";
    server
        .client("shop", &lookup.repeat(6))
        .expect("repeated lookups");
    server.client("shop", "SELECT 'sentinel-end'").unwrap();
    server
        .wait_for_log(&server.general_log_path(), "sentinel-end")
        .unwrap();
    server
        .wait_for_log(&server.slow_log_path(), "sentinel-end")
        .unwrap();
    // The log tables read from the live server, as a user who may read nothing else.
    server
        .client(
            "",
            "CREATE USER reader@'%' IDENTIFIED BY 'reader-secret';
             GRANT SELECT ON mysql.general_log TO reader@'%';
             GRANT SELECT ON mysql.slow_log TO reader@'%';",
        )
        .expect("a reader of the log tables");
    let live: Vec<(Value, String)> = ["general_log", "slow_log"]
        .iter()
        .map(|table| {
            let url = format!(
                "mysql://reader:reader-secret@{}:{}/mysql.{table}",
                server.host(),
                server.port()
            );
            analyze_with_stderr(Path::new(&url))
        })
        .collect();
    // Whole logs: nothing may be appended while they are read.
    server.stop();

    let expected = |prepared_parent: bool| {
        let mut want = vec![
            ("count_in_loop".into(), "comments".into(), 6, true),
            ("n_plus_one".into(), "customers".into(), 8, true),
            (
                "n_plus_one".into(),
                "order_items".into(),
                6,
                prepared_parent,
            ),
            ("n_plus_one_write".into(), "order_items".into(), 6, false),
            ("repeated_identical".into(), "customers".into(), 6, false),
        ];
        want.sort();
        want
    };
    let (general, said) = analyze_with_stderr(&server.general_log_path());
    assert_eq!(summarize(&general), expected(true), "{general:#}");
    assert!(said.contains(WHOLE_SECONDS), "{said}");
    // The same logs as rows of the log tables: the same findings, with microseconds.
    for table in [
        server.general_log_table_path(),
        server.slow_log_table_path(),
    ] {
        let (report, said) = analyze_with_stderr(&table);
        let got = summarize(&report);
        assert!(
            got == expected(true) || got == expected(false),
            "{report:#}"
        );
        assert!(!said.contains(WHOLE_SECONDS), "{said}");
    }
    for (report, said) in live {
        let got = summarize(&report);
        assert!(
            got == expected(true) || got == expected(false),
            "{report:#}"
        );
        assert!(!said.contains("reader-secret"), "{said}");
        let inputs = report["summary"]["inputs"].to_string();
        assert!(
            inputs.contains("mysql://reader:***@") && !inputs.contains("reader-secret"),
            "{inputs}"
        );
    }
    // The general log shows the EXECUTEs with their values; the route tag and parent come
    // from the surrounding statements in both logs.
    let slow = analyze(&server.slow_log_path());
    let got = summarize(&slow);
    assert!(got == expected(true) || got == expected(false), "{slow:#}");
    assert!(slow["findings"][0]["total_duration_us"].as_u64().is_some());
}

/// `analyze --dsn mysql://…` on a real general log: the keys the log wrote inline are bound,
/// and each loop's batch is explained by the server that ran it, through a read-only user.
#[test]
fn plan_checks_on_mariadb_from_its_general_log() {
    let server = MariaDb::start(MariaOptions::default()).expect("start MariaDB");
    server
        .client("", &example("mariadb-schema.sql"))
        .expect("schema");
    server
        .client(
            "",
            "CREATE USER 'reader'@'%' IDENTIFIED BY 'reader-secret';
             GRANT SELECT ON shop.* TO 'reader'@'%';
             GRANT SELECT ON mysql.general_log TO 'reader'@'%';",
        )
        .expect("read-only user");
    // This server logs to its file only: read live, its log table is empty, and says why.
    let table = format!(
        "mysql://reader:reader-secret@127.0.0.1:{}/mysql.general_log",
        server.port()
    );
    let out = Command::new(env!("CARGO_BIN_EXE_querycomb"))
        .args(["analyze", "-q", &table])
        .output()
        .expect("run querycomb");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("the table has no rows"), "{stderr}");
    assert!(stderr.contains("log_output = TABLE"), "{stderr}");
    assert!(!stderr.contains("reader-secret"), "{stderr}");
    server
        .client("shop", &example("mariadb-workload.sql"))
        .expect("workload");
    server.client("shop", "SELECT 'sentinel-end'").unwrap();
    let text = server
        .wait_for_log(&server.general_log_path(), "sentinel-end")
        .unwrap();
    // The plan check's own statements land in the same log: analyse a copy taken before.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("general.log");
    std::fs::write(&log, text).unwrap();
    let dsn = format!(
        "mysql://reader:reader-secret@127.0.0.1:{}/shop",
        server.port()
    );
    let out = Command::new(env!("CARGO_BIN_EXE_querycomb"))
        .args(["analyze", "--format", "json", "--dsn", &dsn])
        .arg(&log)
        .output()
        .expect("run querycomb");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("reader-secret"), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let finding = |kind: &str, table: &str| {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["kind"] == kind && f["children"][0]["table"] == table)
            .cloned()
            .unwrap_or_else(|| panic!("no {kind} on {table}: {report:#}"))
    };
    let customers = finding("n_plus_one", "customers");
    let check = &customers["plan_check"];
    assert_eq!(check["verdict"], "safe", "{customers:#}");
    assert_eq!(check["key_source"], "captured");
    assert_eq!(check["keys"], 8);
    assert_eq!(check["lookup_key"], "primary key");
    assert!(check["server"].as_str().unwrap().starts_with("MariaDB "));
    assert_eq!(
        check["batched"]["node"], "range using PRIMARY on customers",
        "{check:#}"
    );

    let counts = finding("count_in_loop", "comments");
    let check = &counts["plan_check"];
    assert_eq!(check["verdict"], "needs_index", "{counts:#}");
    assert_eq!(
        check["create_index"],
        "ALTER TABLE `shop`.`comments` ADD INDEX `comments_post_id_idx` (`post_id`), ALGORITHM=INPLACE, LOCK=NONE;"
    );
}

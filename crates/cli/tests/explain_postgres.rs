//! `querycomb analyze --dsn` and `querycomb explain` end to end: a real PostgreSQL with
//! 100,000 rows and its indexes, loops run through tokio-postgres (extended protocol, so the
//! log carries `DETAIL: parameters:`), the log analysed, and each loop's batched rewrite
//! explained against the same database with the keys the log captured.

use std::process::{Command, Output};

use querycomb_testkit::{PgOptions, PgServer};
use serde_json::Value;

const SCHEMA: &str = "
CREATE TABLE authors (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE categories (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE books (id int PRIMARY KEY, author_id int NOT NULL REFERENCES authors (id),
                    category_id int NOT NULL REFERENCES categories (id),
                    title text NOT NULL, body text NOT NULL);
INSERT INTO authors SELECT g, 'author ' || g FROM generate_series(1, 1000) g;
INSERT INTO categories SELECT g, 'category ' || g FROM generate_series(1, 50) g;
INSERT INTO books SELECT g, 1 + g % 1000, 1 + (g * 7919) % 50, 'title ' || g, repeat('x', 100)
  FROM generate_series(1, 100000) g;
CREATE INDEX books_author_id_idx ON books (author_id);
CREATE INDEX books_category_id_idx ON books (category_id);
ANALYZE;
";

/// One loop per connection (one request each): parent, then one child per parent row.
async fn workload(pg: &PgServer) {
    let loops: [(&str, &str); 3] = [
        (
            "SELECT id FROM categories ORDER BY id LIMIT 30",
            "SELECT id, title FROM books WHERE category_id = $1",
        ),
        (
            "SELECT author_id FROM books WHERE id % 997 = 0 ORDER BY id LIMIT 20",
            "SELECT id, name FROM authors WHERE id = $1",
        ),
        (
            "SELECT 'title ' || id FROM books WHERE id <= 12 ORDER BY id",
            "SELECT id, author_id FROM books WHERE title = $1",
        ),
    ];
    // Each loop tagged as its own route: this test is about the plan check, not about
    // telling untagged requests apart (crates/cli/tests/accuracy.rs measures that).
    for (i, (parent, child)) in loops.into_iter().enumerate() {
        let tag = format!(" /*route='%2Floop{i}'*/");
        let (parent, child) = (format!("{parent}{tag}"), format!("{child}{tag}"));
        let (parent, child) = (parent.as_str(), child.as_str());
        let (client, connection) =
            tokio_postgres::connect(&pg.conn_str("shop"), tokio_postgres::NoTls)
                .await
                .expect("connect");
        let task = tokio::spawn(connection);
        for row in client.query(parent, &[]).await.unwrap() {
            if parent.contains("'title '") {
                let key: String = row.get(0);
                client.query(child, &[&key]).await.unwrap();
            } else {
                let key: i32 = row.get(0);
                client.query(child, &[&key]).await.unwrap();
            }
        }
        drop(client);
        let _ = task.await;
    }
}

fn shop() -> PgServer {
    let pg = PgServer::start(PgOptions {
        conf: vec![
            "log_min_duration_statement = 0".into(),
            "log_line_prefix = '%m [%p] %q%u@%d '".into(),
        ],
        ..PgOptions::default()
    })
    .expect("start PostgreSQL");
    pg.createdb("shop").unwrap();
    pg.psql("shop", SCHEMA).unwrap();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(workload(&pg));
    pg.psql("shop", "SELECT 'workload-done'").unwrap();
    pg.wait_for_log("postgresql.log", "workload-done").unwrap();
    pg
}

fn querycomb(args: &[&str], dsn: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_querycomb"));
    command.args(args).env_remove("QUERYCOMB_DSN");
    if let Some(dsn) = dsn {
        // The DSN through the environment: the password stays off the command line.
        command.env("QUERYCOMB_DSN", dsn);
    }
    command.output().expect("run querycomb")
}

fn json(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// `(child table, verdict, key source)` of each n_plus_one, sorted.
fn verdicts(report: &Value) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "n_plus_one")
        .map(|f| {
            let check = &f["plan_check"];
            (
                f["children"][0]["table"].as_str().unwrap_or("").to_owned(),
                check["verdict"].as_str().unwrap_or("none").to_owned(),
                check["key_source"].as_str().unwrap_or("none").to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

fn finding<'r>(report: &'r Value, column: &str) -> &'r Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["plan_check"]["lookup_column"] == column)
        .unwrap_or_else(|| panic!("no finding looked up by {column}: {report:#}"))
}

#[test]
fn analyze_with_a_dsn_explains_each_loop_with_its_captured_keys() {
    let pg = shop();
    let log = pg.log_dir().join("postgresql.log");
    let log = log.to_str().unwrap();
    let dsn = pg.url("shop");

    let out = querycomb(&["analyze", "--format", "json", log], Some(&dsn));
    let report = json(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let captured =
        |verdict: &str, table: &str| (table.to_owned(), verdict.to_owned(), "captured".to_owned());
    assert_eq!(
        verdicts(&report),
        vec![
            captured("safe", "authors"),
            captured("needs_index", "books"),
            captured("plan_changes", "books"),
        ],
        "{stderr}"
    );
    assert!(stderr.contains("3 findings checked"), "{stderr}");
    let index = finding(&report, "title");
    assert_eq!(
        index["plan_check"]["create_index"],
        "CREATE INDEX CONCURRENTLY books_title_idx ON public.books (title);"
    );
    assert_eq!(index["plan_check"]["keys"], 12);
    let flips = finding(&report, "category_id");
    assert_eq!(flips["plan_check"]["keys"], 30);
    assert!(flips["plan_check"]["chunk_size"].as_u64().is_some());
    assert_eq!(flips["advice"]["relation"], "to_many");
    assert_eq!(
        flips["plan_check"]["lookup_key"],
        "foreign key to categories (id)"
    );
    let by_id = finding(&report, "id");
    assert_eq!(by_id["advice"]["relation"], "to_one");
    assert_eq!(by_id["plan_check"]["lookup_key"], "primary key");
    assert!(by_id["advice"]["relation_evidence"]
        .as_str()
        .unwrap()
        .ends_with("(catalogs)"));
    let impact = &flips["impact"];
    assert_eq!(impact["statements_saved"], 29);
    assert!(impact["db_time_saved_us"].as_u64().is_some(), "{impact}");
    // The keys were used, not written.
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("captured_keys") && !text.contains("title 7"),
        "{text}"
    );
    assert!(!stderr.contains(pg.password()));
}

#[test]
fn keys_kept_on_request_feed_a_later_explain() {
    let pg = shop();
    let log = pg.log_dir().join("postgresql.log");
    let dir = tempfile::tempdir().unwrap();
    let findings = dir.path().join("findings.json");
    let out = querycomb(
        &[
            "analyze",
            "--format",
            "json",
            "--keep-keys",
            "-o",
            findings.to_str().unwrap(),
            log.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kept = std::fs::read_to_string(&findings).unwrap();
    assert!(kept.contains("\"captured_keys\"") && kept.contains("title 7"));

    let explained = querycomb(
        &["explain", "--format", "json", findings.to_str().unwrap()],
        Some(&pg.url("shop")),
    );
    let report = json(&explained);
    assert_eq!(verdicts(&report).len(), 3);
    assert!(verdicts(&report).iter().all(|v| v.2 == "captured"));
    assert!(verdicts(&report).iter().any(|v| v.1 == "plan_changes"));
    assert!(!String::from_utf8_lossy(&explained.stdout).contains("captured_keys"));

    // Without kept keys: generic plans, and it says so.
    let plain = dir.path().join("plain.json");
    let out = querycomb(
        &[
            "analyze",
            "--format",
            "json",
            "-o",
            plain.to_str().unwrap(),
            log.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let generic = querycomb(
        &["explain", "--format", "json", plain.to_str().unwrap()],
        Some(&pg.url("shop")),
    );
    assert!(String::from_utf8_lossy(&generic.stderr).contains("generic plans"));
    let report = json(&generic);
    assert!(
        verdicts(&report).iter().all(|v| v.2 == "generic"),
        "{report:#}"
    );
    assert!(verdicts(&report).iter().any(|v| v.1 == "needs_index"));

    // Keys never go into a format that would print them.
    let refused = querycomb(&["analyze", "--keep-keys", log.to_str().unwrap()], None);
    assert_eq!(refused.status.code(), Some(2));
}

#[test]
fn explain_reads_findings_json_lines_and_names_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"schema\":\"querycomb.findings/v1\",\"sources\":[]}\nnot json\n",
    )
    .unwrap();
    let out = querycomb(&["explain", bad.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:2:", bad.display())),
        "{stderr}"
    );
}

//! Spans of two database systems in one trace file, from real instrumentations: a Python
//! process querying MariaDB through PyMySQL and SQLite through sqlite3, traced by
//! `opentelemetry-instrumentation-pymysql` and `-sqlite3` (tests/e2e/otel-dialects, installed
//! by `scripts/setup-test-deps.sh otel-dialects`), against a throwaway MariaDB. Each span is
//! read in its own system's dialect (`db.system`), whatever the run's `--dialect`: the MySQL
//! loop whose names are pasted in double quotes is an N+1 (in MySQL `"…"` is a string; read
//! as PostgreSQL every name would be its own statement), the SQLite loop keeps its quoted
//! names and gets an `IN (?, ...)` fix, and both fixed twins are clean.

mod run_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use querycomb_testkit::{MariaDb, MariaOptions};
use run_support::*;

fn venv_python() -> PathBuf {
    let python = e2e_cache().join("otel-dialects/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/setup-test-deps.sh otel-dialects first",
        python.display()
    );
    python
}

const SCHEMA: &str = "CREATE DATABASE shop;
CREATE USER 'qc'@'127.0.0.1' IDENTIFIED BY 'qc-pw';
GRANT ALL ON shop.* TO 'qc'@'127.0.0.1';
USE shop;
CREATE TABLE authors (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL);
CREATE TABLE books (id INT AUTO_INCREMENT PRIMARY KEY, title VARCHAR(40), author_name VARCHAR(40));
INSERT INTO authors VALUES (1, 'Ada'), (2, 'Brian'), (3, 'Cleo'), (4, 'Dmitri'), (5, 'Edsger'), (6, 'Frances'), (7, 'Grace');
INSERT INTO books (title, author_name) SELECT CONCAT('book of ', name), name FROM authors;";

fn sqlite_db(dir: &Path) -> PathBuf {
    let path = dir.join("notes.db");
    let script = r#"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executescript('''
CREATE TABLE "notes" ("id" INTEGER PRIMARY KEY);
CREATE TABLE "revisions" ("id" INTEGER PRIMARY KEY, "note_id" INTEGER, "body" TEXT);
''')
for i in range(1, 9):
    db.execute('INSERT INTO "notes" VALUES (?)', (i,))
    db.execute('INSERT INTO "revisions" ("note_id", "body") VALUES (?, ?)', (i, f"v{i}"))
db.commit()
"#;
    let status = Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .status()
        .expect("python3");
    assert!(status.success());
    path
}

fn analyze(file: &Path, dialect: &str) -> serde_json::Value {
    let out = querycomb(None)
        .args(["analyze", "--format", "json", "--dialect", dialect])
        .arg(file)
        .output()
        .expect("run querycomb");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn mysql_and_sqlite_spans_from_real_instrumentations_each_in_their_dialect() {
    let server = MariaDb::start(MariaOptions::default()).expect("start MariaDB");
    server.client("", SCHEMA).expect("schema");
    let dir = tempfile::tempdir().unwrap();
    let sqlite = sqlite_db(dir.path());
    let file = dir.path().join("traces.binpb");
    let status = Command::new(venv_python())
        .arg(repo_root().join("tests/e2e/otel-dialects/app.py"))
        .env("MYSQL_PORT", server.port().to_string())
        .env("MYSQL_USER", "qc")
        .env("MYSQL_PASSWORD", "qc-pw")
        .env("SQLITE_PATH", &sqlite)
        .env("QC_EXPORT", &file)
        .status()
        .expect("run python");
    assert!(status.success(), "the traced app failed: {status}");

    let want = [
        (
            "/authors".to_owned(),
            "SELECT id, name FROM authors ORDER BY id".to_owned(),
            "SELECT id, title FROM books WHERE author_name = ?".to_owned(),
            7,
            "SELECT author_name, id, title FROM books WHERE author_name IN (?, ...)".to_owned(),
        ),
        (
            "/notes".to_owned(),
            r#"SELECT "id" FROM "notes" ORDER BY "id""#.to_owned(),
            r#"SELECT "body" FROM "revisions" WHERE "note_id" = ?"#.to_owned(),
            8,
            r#"SELECT "note_id", "body" FROM "revisions" WHERE "note_id" IN (?, ...)"#.to_owned(),
        ),
    ];
    for dialect in ["postgres", "mysql"] {
        let report = analyze(&file, dialect);
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
        let mut got: Vec<_> = report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| {
                assert_eq!(f["kind"], "n_plus_one", "{f:#}");
                (
                    text(&f["request"]["route"]),
                    text(&f["parent"]["normalized"]),
                    text(&f["children"][0]["normalized"]),
                    f["count"].as_u64().unwrap_or(0),
                    text(&f["suggestion"])
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect();
        got.sort();
        assert_eq!(got, want, "--dialect {dialect}: {report:#}");
        assert_eq!(
            report["summary"]["requests"].as_u64(),
            Some(4),
            "--dialect {dialect}: {report:#}"
        );
    }
}

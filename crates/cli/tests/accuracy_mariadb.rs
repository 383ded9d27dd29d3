//! Request-level accuracy on MariaDB (docs/accuracy.md, "MariaDB"): the corpus's MariaDB
//! stacks under tests/accuracy/ — the Django ORM on PyMySQL with one persistent connection,
//! SQLAlchemy's ORM on PyMySQL with a QueuePool shared by two request streams, a job-queue
//! worker claiming jobs with `FOR UPDATE SKIP LOCKED` in transactions, mysql2's pool shared by
//! two request streams with server-side prepared statements — run labelled
//! requests against a throwaway MariaDB that writes its general log and its slow log
//! (`long_query_time = 0`) at once, untagged and then tagged with sqlcommenter trace ids.
//! Both logs are analysed as recorded and every finding, in every request it was found in,
//! is matched with the labels, as `accuracy.rs` does on PostgreSQL (`accuracy_support`).
//!
//! The server writes both logs twice: as files, and as rows of its log tables
//! (`log_output = FILE,TABLE`, read from the CSV engine's files). MariaDB 10.11 writes
//! whole-second timestamps in both log files: no pause between requests can be seen there,
//! so untagged requests are told apart by what the logs do show (pool check-in statements,
//! transaction ends, check-out probes) and by the idle gap. The log tables keep
//! microseconds, so there the pauses are seen as in PostgreSQL's logs, and the tables are
//! also scored with `accuracy.rs`'s stalled timing. The stalled timing
//! of `accuracy.rs` moves µs clocks and has nothing to move here. The test asserts what does
//! not depend on timing: tagged traffic is exact, and no request that must produce nothing
//! is ever flagged, tagged or untagged; the untagged table is printed.

mod accuracy_support;
mod run_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use accuracy_support::{
    conclude, labelled, log_clock_tick, read_events, read_labels, report, score, stalled, table,
};
use querycomb_logs::LogFormat;
use querycomb_sql::Dialect;
use querycomb_testkit::{deps, MariaDb, MariaOptions};
use run_support::{e2e_cache, repo_root};

/// The logs scored: the two files, and the same two logs as rows of the log tables (the
/// CSV engine's files), whose clocks have microseconds.
const LOGS: [(&str, LogFormat); 4] = [
    ("general.log", LogFormat::MySqlGeneral),
    ("slow.log", LogFormat::MySqlSlow),
    ("general_log.CSV", LogFormat::MySqlGeneralTable),
    ("slow_log.CSV", LogFormat::MySqlSlowTable),
];

#[test]
fn request_level_recall_and_precision_on_mariadb_logs() {
    let mut server = MariaDb::start(MariaOptions {
        slow_log: true,
        log_tables: true,
        ..MariaOptions::default()
    })
    .expect("start MariaDB");
    let schema = fs::read_to_string(repo_root().join("tests/accuracy/schema-mariadb.sql"))
        .expect("read the schema");
    server.client("", &schema).expect("load the schema");
    let dir = tempfile::tempdir().expect("temp dir");
    let labels = run_corpus(&server, dir.path());
    server
        .client("", "SELECT 'accuracy-corpus-done'")
        .expect("sentinel");
    for path in [server.general_log_path(), server.slow_log_path()] {
        server
            .wait_for_log(&path, "accuracy-corpus-done")
            .expect("log flushed");
    }
    // Whole logs: nothing may be appended while they are read.
    server.stop();
    let logs = dir.path().join("logs");
    fs::create_dir_all(&logs).expect("a directory for the logs");
    let written = [
        server.general_log_path(),
        server.slow_log_path(),
        server.general_log_table_path(),
        server.slow_log_table_path(),
    ];
    for (path, (file, _)) in written.iter().zip(LOGS) {
        fs::copy(path, logs.join(file)).expect("copy a log");
    }
    fs::copy(&labels, logs.join("labels.jsonl")).expect("copy the labels");
    if let Some(keep) = std::env::var_os("QUERYCOMB_ACCURACY_KEEP") {
        let keep = Path::new(&keep).join("mariadb");
        fs::create_dir_all(&keep).expect("create the directory to keep logs in");
        let files = LOGS.iter().map(|(file, _)| *file).chain(["labels.jsonl"]);
        for file in files {
            fs::copy(logs.join(file), keep.join(file)).expect("keep a log");
        }
    }
    score_logs(&logs, Kept::All);
}

/// Re-scores the logs a run kept with `QUERYCOMB_ACCURACY_KEEP=<dir>` (in `<dir>/mariadb`),
/// after a change to grouping (a developer's tool; the test above is the proof).
#[test]
#[ignore = "developer tool: set QUERYCOMB_ACCURACY_KEPT to a directory kept by QUERYCOMB_ACCURACY_KEEP"]
fn rescore_kept_mariadb_logs() {
    let kept = std::env::var_os("QUERYCOMB_ACCURACY_KEPT")
        .expect("QUERYCOMB_ACCURACY_KEPT names a directory kept by QUERYCOMB_ACCURACY_KEEP");
    // Runs kept before the log tables were written have only the two files.
    score_logs(&Path::new(&kept).join("mariadb"), Kept::WhatIsThere);
}

/// Which of [`LOGS`] a directory must hold.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kept {
    All,
    WhatIsThere,
}

/// Runs every MariaDB stack of the corpus in both modes, as the `app` user over TCP; returns
/// the labels file.
fn run_corpus(server: &MariaDb, dir: &Path) -> PathBuf {
    let labels = dir.join("labels.jsonl");
    let python = deps::require(
        "the accuracy corpus's Python venv",
        e2e_cache().join("accuracy-venv/bin/python"),
    );
    let corpus = repo_root().join("tests/accuracy/python/corpus.py");
    // The user and password tests/accuracy/schema-mariadb.sql creates.
    let dsn = format!(
        "host={} port={} user=app password=app-secret dbname=shop",
        server.host(),
        server.port()
    );
    let node_modules = deps::require(
        "the accuracy corpus's npm packages",
        e2e_cache().join("accuracy-node/node_modules"),
    );
    let node = deps::require_program("node");
    let url = format!(
        "mysql://app:app-secret@{}:{}/shop",
        server.host(),
        server.port()
    );
    for mode in ["untagged", "tagged"] {
        for stack in ["django-mariadb", "sqlalchemy", "worker-mariadb"] {
            let status = Command::new(&python)
                .arg(&corpus)
                .args([stack, &dsn, mode])
                .arg(&labels)
                .status()
                .expect("run the Python corpus");
            assert!(status.success(), "python corpus {stack} {mode}: {status}");
        }
        let status = Command::new(&node)
            .env("NODE_PATH", &node_modules)
            .arg(repo_root().join("tests/accuracy/node/corpus.js"))
            .args(["mysql2-pool", &url, mode])
            .arg(&labels)
            .status()
            .expect("run the Node corpus");
        assert!(status.success(), "node corpus mysql2-pool {mode}: {status}");
    }
    labels
}

/// Scores every log as recorded; prints the table and fails on what the test does not allow.
fn score_logs(dir: &Path, kept: Kept) {
    let labels = read_labels(&dir.join("labels.jsonl"));
    let mut table = table();
    let mut problems = Vec::new();
    for (file, format) in LOGS {
        let path = dir.join(file);
        if kept == Kept::WhatIsThere && !path.exists() {
            println!("{}: not kept in this run", path.display());
            continue;
        }
        let events = read_events(&path, format);
        let label_at = labelled(&events);
        let mut timings = vec![("recorded", events)];
        // The stalled timing moves a clock finer than a second (the log tables'); on whole
        // seconds (the files') it would invent a finer clock than the log's (docs/accuracy.md,
        // "MariaDB").
        if log_clock_tick(&timings[0].1) < 1_000_000 {
            timings.push(("stalled", stalled(&timings[0].1, &label_at)));
        }
        for (timing, events) in &timings {
            let scores = score(events, Dialect::MySql, &label_at, &labels);
            let source = format!("{} {timing}", format.id());
            report(&source, &scores, &labels, &mut table, &mut problems);
        }
    }
    conclude(&table, &problems);
}

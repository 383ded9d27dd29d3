//! psycopg 3 (from PyPI) through the proxy: prepared statements, pipeline mode with an
//! error mid-pipeline, a server-side cursor, COPY. Results identical to a direct
//! connection; every reply matched to its statement.

mod common;

use std::process::Command;

use common::start;
use querycomb_testkit::{deps, Auth};

const SCHEMA: &str = "CREATE TABLE customers (id int PRIMARY KEY, name text);
INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 20) g;";

fn workload(conninfo: &str) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/psycopg_workload.py");
    // psycopg comes pinned in the test venv (tests/e2e/django/requirements.txt).
    let out = Command::new(deps::python())
        .args([script, conninfo])
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "psycopg workload failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn psycopg_prepared_pipeline_cursor_and_copy() {
    let h = start(Auth::Scram);
    h.pg.psql("postgres", SCHEMA).expect("schema");
    let direct = workload(&h.direct_conn("postgres"));
    let proxied = workload(&h.proxy_conn("postgres"));
    assert_eq!(proxied, direct);
    assert!(
        proxied.contains("\"pipeline_error\": \"division_by_zero\""),
        "{proxied}"
    );

    let events = h.drain_events();
    let named = |sql: &str| events.iter().filter(|e| e.sql == sql).count();
    assert_eq!(named("SELECT name FROM customers WHERE id = $1"), 12);
    assert_eq!(named("SELECT id, name FROM customers WHERE id = $1"), 20);
    let prepared = events
        .iter()
        .filter(|e| e.sql == "SELECT name FROM customers WHERE id = $1")
        .filter(|e| {
            e.prepared_name
                .as_deref()
                .is_some_and(|n| n.starts_with("_pg3_"))
        })
        .count();
    assert!(prepared >= 7, "auto-prepared executions: {prepared}");
    let failed: Vec<_> = events.iter().filter(|e| e.error.is_some()).collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].error.as_deref(), Some("22012"));
    assert!(
        !events.iter().any(|e| e.sql == "SELECT 2"),
        "skipped after the error, never ran"
    );
    let fetches = events
        .iter()
        .filter(|e| e.sql.starts_with("FETCH FORWARD 7"))
        .count();
    assert_eq!(fetches, 8, "50 rows, 7 at a time, and the empty last fetch");
    let copy_in = events
        .iter()
        .find(|e| e.sql == "COPY copied FROM STDIN")
        .expect("COPY event");
    assert_eq!(copy_in.rows, Some(100));
    let report = h.shutdown();
    assert_eq!(report.stats.unmatched_replies, 0);
    assert_eq!(report.stats.events_dropped, 0);
}

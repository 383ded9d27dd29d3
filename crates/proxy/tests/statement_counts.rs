//! The proxy counts what the server executed, for every protocol flow real drivers use:
//! asyncpg (prepare-then-execute: Parse/Describe/Sync, then Bind/Execute/Sync), psycopg 3
//! (auto-prepare, pipeline, executemany, a named cursor fetched in pieces), node-postgres
//! (unnamed and named extended, multi-statement simple query). The server's own count is
//! pg_stat_statements `calls` (one per statement run, a portal fetched in pieces once).

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{start_server, Harness};
use querycomb_proxy::pipeline_detector;
use querycomb_testkit::{Auth, PgOptions};

const FLOWS: &[&str] = &[
    "flow_cached",
    "flow_prepared",
    "flow_many",
    "flow_simple",
    "flow_cursor",
    "flow_pg3_loop",
    "flow_pg3_pipe",
    "flow_pg3_many",
    "flow_pg3_named",
    "flow_pg3_simple",
    "flow_node_unnamed",
    "flow_node_named",
    "flow_node_simple",
];

fn harness() -> Harness {
    let options = PgOptions {
        auth: Auth::Scram,
        conf: vec![
            "shared_preload_libraries = 'pg_stat_statements'".into(),
            "pg_stat_statements.track = 'top'".into(),
        ],
        ..PgOptions::default()
    };
    let h = start_server(
        options,
        |_| {},
        |proxy| {
            proxy.detector(pipeline_detector(querycomb_detect::Config::default()));
        },
    );
    let mut schema = String::from("CREATE EXTENSION pg_stat_statements;\n");
    for table in FLOWS {
        schema.push_str(&format!(
            "CREATE TABLE {table} (n int); INSERT INTO {table} SELECT generate_series(1, 10);\n"
        ));
    }
    schema.push_str("SELECT pg_stat_statements_reset();\n");
    h.pg.psql("postgres", &schema).expect("schema");
    h
}

/// Statements per flow table as the server counted them.
fn server_counts(h: &Harness) -> BTreeMap<&'static str, u64> {
    let out = h
        .pg
        .psql(
            "postgres",
            "SELECT query || '|' || calls FROM pg_stat_statements WHERE query LIKE '%flow_%' AND query NOT LIKE '%pg_stat_statements%'",
        )
        .expect("pg_stat_statements");
    per_flow(out.lines().filter_map(|line| {
        let (query, calls) = line.rsplit_once('|')?;
        Some((query, calls.trim().parse().unwrap_or(0)))
    }))
}

/// Per flow table, the sum of `calls` over `(sql, calls)` pairs that name it.
fn per_flow<'a>(items: impl IntoIterator<Item = (&'a str, u64)>) -> BTreeMap<&'static str, u64> {
    let mut counts = BTreeMap::new();
    for (sql, calls) in items {
        for table in FLOWS {
            if sql
                .split(|c: char| !c.is_alphanumeric() && c != '_')
                .any(|w| w == *table)
            {
                *counts.entry(*table).or_default() += calls;
            }
        }
    }
    counts
}

fn run(mut command: Command) {
    let out = command.output().expect("run the client");
    assert!(
        out.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn proxy_statement_counts_equal_the_servers_for_every_driver_flow() {
    let h = harness();
    let (user, password, port) = (h.pg.user(), h.pg.password(), h.addr.port());
    let url = format!("postgres://{user}:{password}@127.0.0.1:{port}/postgres");
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/e2e");
    let tests = concat!(env!("CARGO_MANIFEST_DIR"), "/tests");

    let mut asyncpg = Command::new(format!("{root}/asyncpg-venv/bin/python"));
    asyncpg.arg(format!("{tests}/counts_asyncpg.py")).arg(&url);
    run(asyncpg);
    let mut psycopg = Command::new(format!("{root}/django-venv/bin/python"));
    psycopg.arg(format!("{tests}/counts_psycopg.py")).arg(&url);
    run(psycopg);
    let mut node = Command::new("node");
    node.arg(format!("{tests}/counts_node.js"))
        .arg(&url)
        .env("NODE_PATH", format!("{root}/node/node_modules"));
    run(node);

    let server = server_counts(&h);
    let total: u64 = server.values().sum();
    assert_eq!(server.len(), FLOWS.len(), "every flow ran: {server:?}");
    let events = h.wait_events(total as usize);
    let observed = per_flow(events.iter().map(|e| (e.sql.as_str(), 1)));
    assert_eq!(observed, server, "events");
    // And the detection stage's statistics, which budgets and reports are built from.
    let report = h.shutdown();
    let stats = &report.analysis.summary.fingerprints;
    let detected = per_flow(stats.iter().map(|f| (f.normalized.as_str(), f.calls)));
    // The detection stage keeps `DECLARE … CURSOR` (psycopg's named cursor) out of its
    // per-shape statistics (cursor control, see crates/detect/src/control.rs); the proxy's
    // event for it is counted above.
    let mut expected = server.clone();
    expected.remove("flow_pg3_named");
    assert_eq!(detected, expected, "detection statistics");
}

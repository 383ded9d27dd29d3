//! node-postgres (from npm) through the proxy: parameterized and named prepared
//! statements, a multi-statement query, an error, and `Promise.all` over a pool. Results
//! identical to a direct connection; the pooled loop is seen on several connections.

mod common;

use std::path::Path;
use std::process::Command;

use common::start;
use querycomb_testkit::{deps, Auth};

const SCHEMA: &str = "CREATE TABLE customers (id int PRIMARY KEY, name text);
INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 20) g;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers);
INSERT INTO orders SELECT g, 1 + g % 20 FROM generate_series(1, 40) g;";

fn workload(modules: &Path, url: &str) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node_workload.js");
    let out = Command::new(deps::node())
        .args([script, url])
        .env("NODE_PATH", modules)
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "node workload failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn node_postgres_prepared_errors_and_pooled_promise_all() {
    let modules = deps::node_modules();
    let h = start(Auth::Scram);
    h.pg.psql("postgres", SCHEMA).expect("schema");
    let direct = workload(&modules, &h.pg.url("postgres"));
    let proxy_url = format!(
        "postgres://{}:{}@127.0.0.1:{}/postgres",
        h.pg.user(),
        h.pg.password(),
        h.addr.port()
    );
    let proxied = workload(&modules, &proxy_url);
    assert_eq!(proxied, direct);
    assert!(proxied.contains("\"error\":\"22012\""), "{proxied}");

    let events = h.drain_events();
    let count = |sql: &str| events.iter().filter(|e| e.sql == sql).count();
    assert_eq!(count("SELECT name FROM customers WHERE id = $1"), 10);
    let prepared: Vec<_> = events
        .iter()
        .filter(|e| e.sql == "SELECT id, name FROM customers WHERE id = $1")
        .collect();
    assert_eq!(prepared.len(), 5);
    assert!(prepared
        .iter()
        .all(|e| e.prepared_name.as_deref() == Some("by-id")));
    assert_eq!(count("SELECT 1 AS a"), 1);
    assert_eq!(count("SELECT 2 AS b"), 1);
    let failed: Vec<_> = events.iter().filter(|e| e.error.is_some()).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].error.as_deref(), Some("22012"));
    let pooled: Vec<_> = events
        .iter()
        .filter(|e| e.sql.contains("%2Fpool"))
        .collect();
    assert_eq!(pooled.len(), 12);
    let sessions: std::collections::HashSet<_> = pooled.iter().map(|e| &e.session).collect();
    assert!(
        sessions.len() > 1,
        "Promise.all spread the loop over the pool"
    );
    let report = h.shutdown();
    assert_eq!(report.stats.unmatched_replies, 0);
    assert_eq!(report.stats.events_dropped, 0);
}

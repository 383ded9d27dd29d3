//! Agreement with PostgreSQL's own grouping (pg_stat_statements' queryid) on pairs of
//! statements, with the systematic differences spelled out: querycomb also merges list and
//! VALUES lengths (the batched form of a loop is one shape however long), and keeps apart what
//! only the catalog can merge (quoted vs unquoted names, column aliases), because querycomb
//! sees SQL text, not resolved relations.

use querycomb_sql::{Dialect, Fingerprinter};
use querycomb_testkit::{PgOptions, PgServer};

const SCHEMA: &str = "
CREATE EXTENSION pg_stat_statements;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int, status text);
CREATE TABLE items (id int, sku text);
CREATE TABLE users_2009 (id int);
CREATE TABLE users_2010 (id int);
CREATE TABLE comments (id int, post_id int);
CREATE TABLE docs (data jsonb);
";

/// (a, b, PostgreSQL groups them together, querycomb groups them together)
const PAIRS: &[(&str, &str, bool, bool)] = &[
    (
        "SELECT * FROM orders WHERE customer_id = 1",
        "SELECT * FROM orders WHERE customer_id = 2",
        true,
        true,
    ),
    (
        "SELECT * FROM orders WHERE customer_id = 1",
        "select *  from orders where customer_id=2 -- note",
        true,
        true,
    ),
    (
        "SELECT * FROM orders WHERE customer_id = 1 LIMIT 1",
        "SELECT * FROM orders WHERE customer_id = 7 LIMIT 21",
        true,
        true,
    ),
    (
        "SELECT count(*) FROM comments WHERE post_id = 1",
        "SELECT COUNT(*) FROM comments WHERE post_id = 2",
        true,
        true,
    ),
    (
        "SELECT * FROM docs WHERE data ? 'a'",
        "SELECT * FROM docs WHERE data ? 'b'",
        true,
        true,
    ),
    (
        "SELECT * FROM docs WHERE data ? 'a'",
        "SELECT * FROM docs WHERE data ?| array['a']",
        false,
        false,
    ),
    (
        "SELECT * FROM orders WHERE status = 'new'",
        "SELECT * FROM orders WHERE status = $$paid$$",
        true,
        true,
    ),
    (
        "SELECT * FROM users_2009 WHERE id = 1",
        "SELECT * FROM users_2010 WHERE id = 1",
        false,
        false,
    ),
    (
        "SELECT * FROM orders WHERE customer_id = 1",
        "SELECT * FROM orders WHERE status = 'x'",
        false,
        false,
    ),
    (
        "UPDATE orders SET status = 'a' WHERE id = 1",
        "UPDATE orders SET status = 'b' WHERE id = 2",
        true,
        true,
    ),
    // querycomb merges list lengths and VALUES rows; PostgreSQL 15 does not (18 squashes lists).
    (
        "SELECT * FROM orders WHERE id IN (1, 2, 3)",
        "SELECT * FROM orders WHERE id IN (4, 5)",
        false,
        true,
    ),
    (
        "INSERT INTO items VALUES (1, 'a')",
        "INSERT INTO items VALUES (1, 'a'), (2, 'b')",
        false,
        true,
    ),
    // PostgreSQL resolves names to the same relation and ignores aliases; querycomb sees text.
    (
        "SELECT * FROM \"orders\" WHERE id = 1",
        "SELECT * FROM orders WHERE id = 1",
        true,
        false,
    ),
    (
        "SELECT id AS a FROM orders",
        "SELECT id AS b FROM orders",
        true,
        false,
    ),
];

fn run(server: &PgServer, sql: &str) -> String {
    match server.psql("postgres", sql) {
        Ok(out) => out,
        Err(e) => panic!("{sql}: {e}"),
    }
}

/// Whether pg_stat_statements files `a` and `b` under one queryid.
fn postgres_groups_together(server: &PgServer, a: &str, b: &str) -> bool {
    run(server, "SELECT pg_stat_statements_reset()");
    run(server, a);
    run(server, b);
    let entries = run(
        server,
        "SELECT count(*) FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%'",
    );
    match entries.trim() {
        "1" => true,
        "2" => false,
        other => panic!("unexpected pg_stat_statements count {other:?} for {a} / {b}"),
    }
}

#[test]
fn grouping_agrees_with_pg_stat_statements_except_where_documented() {
    let options = PgOptions {
        conf: vec![
            "shared_preload_libraries = 'pg_stat_statements'".to_owned(),
            "pg_stat_statements.track = 'top'".to_owned(),
        ],
        ..PgOptions::default()
    };
    let server = match PgServer::start(options) {
        Ok(s) => s,
        Err(e) => panic!("cannot start PostgreSQL: {e}"),
    };
    run(&server, SCHEMA);
    let mut fp = Fingerprinter::new(Dialect::Postgres);
    for &(a, b, postgres_same, querycomb_same) in PAIRS {
        assert_eq!(
            postgres_groups_together(&server, a, b),
            postgres_same,
            "PostgreSQL on:\n  {a}\n  {b}"
        );
        let ours = fp.scan(a).fingerprint == fp.scan(b).fingerprint;
        assert_eq!(ours, querycomb_same, "querycomb on:\n  {a}\n  {b}");
    }
}

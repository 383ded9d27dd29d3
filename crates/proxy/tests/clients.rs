//! Real clients through the proxy against a throwaway PostgreSQL: psql, pgbench in all
//! three protocol modes, tokio-postgres (prepared, pipelined, COPY, cancel). Results must
//! be identical to a direct connection, and the observed events must describe what ran.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{start, Harness};
use futures_util::{future, SinkExt, StreamExt};
use querycomb_testkit::Auth;
use tokio_postgres::NoTls;

const SCHEMA: &str = "CREATE TABLE customers (id int PRIMARY KEY, name text);
INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 20) g;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, total numeric);
INSERT INTO orders SELECT g, 1 + g % 20, g * 1.5 FROM generate_series(1, 40) g;";

#[test]
fn psql_multi_statement_results_and_events_match_direct() {
    let h = start(Auth::Trust);
    h.pg.psql("postgres", SCHEMA).expect("schema");
    let sql = "SELECT count(*) FROM orders; UPDATE orders SET total = total WHERE id <= 3; \
               SELECT name FROM customers WHERE id = 7 /*route='%2Fcustomers'*/";
    let direct = h.psql(h.pg.port(), sql);
    let proxied = h.psql(h.addr.port(), sql);
    assert!(proxied.status.success(), "{proxied:?}");
    assert_eq!(direct.stdout, proxied.stdout);
    assert_eq!(
        String::from_utf8_lossy(&proxied.stdout),
        "40\nUPDATE 3\ncustomer 7\n"
    );

    let events = h.wait_events(3);
    let seen: Vec<(&str, Option<u64>)> = events.iter().map(|e| (e.sql.as_str(), e.rows)).collect();
    assert_eq!(
        seen,
        [
            ("SELECT count(*) FROM orders", Some(1)),
            ("UPDATE orders SET total = total WHERE id <= 3", Some(3)),
            (
                "SELECT name FROM customers WHERE id = 7 /*route='%2Fcustomers'*/",
                Some(1)
            ),
        ]
    );
    assert!(events.iter().all(|e| e.user.as_deref() == Some("qc")));
    assert!(events
        .iter()
        .all(|e| e.application.as_deref() == Some("psql")));
    assert!(events
        .iter()
        .all(|e| e.duration_us.is_some() && e.error.is_none()));

    // An error mid-string: the failing statement carries its SQLSTATE, the rest never ran.
    let failed = h.psql(h.addr.port(), "SELECT 1; SELECT 1/0; SELECT 3");
    assert!(!failed.status.success());
    let events = h.wait_events(2);
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1].sql, "SELECT 1/0");
    assert_eq!(events[1].error.as_deref(), Some("22012"));
    drop(events);
    assert_eq!(h.wait_connections(0), 0);
    let report = h.shutdown();
    assert_eq!(report.stats.events_dropped, 0);
    assert_eq!(report.stats.unmatched_replies, 0);
    assert_eq!(report.stats.connections, 2);
}

/// `pgbench` output line `number of failed transactions: 0 (0.000%)`, and the count of
/// processed transactions.
fn pgbench(h: &Harness, port: u16, mode: &str) -> (u64, u64) {
    let out = Command::new("pgbench")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            h.pg.user(),
        ])
        .args([
            "-M", mode, "-c", "4", "-j", "2", "-T", "3", "-n", "postgres",
        ])
        .env("PGPASSWORD", h.pg.password())
        .output()
        .expect("run pgbench");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "pgbench -M {mode}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let number = |prefix: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.split('/').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix:?} in pgbench output:\n{text}"))
    };
    (
        number("number of transactions actually processed: "),
        number("number of failed transactions: "),
    )
}

fn pgbench_all_modes(auth: Auth) {
    let h = start(auth);
    let init = Command::new("pgbench")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &h.pg.port().to_string(),
            "-U",
            h.pg.user(),
        ])
        .args(["-i", "-s", "1", "-q", "postgres"])
        .env("PGPASSWORD", h.pg.password())
        .output()
        .expect("pgbench -i");
    assert!(init.status.success(), "{init:?}");
    let mut total = 0;
    for mode in ["simple", "extended", "prepared"] {
        let (processed, failed) = pgbench(&h, h.addr.port(), mode);
        assert!(processed > 50, "-M {mode}: only {processed} transactions");
        assert_eq!(failed, 0, "-M {mode}");
        total += processed;
    }
    assert_eq!(h.wait_connections(0), 0);
    let report = h.shutdown();
    // The TPC-B-like script runs 7 statements per transaction (BEGIN ... END).
    assert!(
        report.stats.statements >= total * 7,
        "{} statements for {total} transactions",
        report.stats.statements
    );
    assert_eq!(report.stats.events_dropped, 0);
    assert_eq!(report.stats.unmatched_replies, 0);
}

#[test]
fn pgbench_simple_extended_prepared_trust() {
    pgbench_all_modes(Auth::Trust);
}

#[test]
fn pgbench_simple_extended_prepared_scram() {
    pgbench_all_modes(Auth::Scram);
}

#[test]
fn psql_through_md5_and_scram_auth() {
    for auth in [Auth::Md5, Auth::Scram] {
        let h = start(auth);
        let out = h.psql(h.addr.port(), "SELECT current_user");
        assert!(out.status.success(), "{auth:?}: {out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "qc\n");
        // A wrong password is refused by the server, through the proxy, as usual.
        let refused = Command::new("psql")
            .args(["-X", "-h", "127.0.0.1", "-p", &h.addr.port().to_string()])
            .args(["-U", "qc", "-d", "postgres", "-c", "SELECT 1"])
            .env("PGPASSWORD", "wrong")
            .output()
            .expect("psql");
        assert!(!refused.status.success());
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains("password authentication failed"),
            "{refused:?}"
        );
    }
}

async fn rows_of(client: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    client
        .query(sql, &[])
        .await
        .expect("query")
        .iter()
        .map(|row| format!("{row:?}"))
        .collect()
}

#[test]
fn tokio_postgres_prepared_pipelined_copy_and_cancel() {
    let h = start(Auth::Scram);
    h.pg.psql("postgres", SCHEMA).expect("schema");
    let proxy = h.proxy_conn("postgres");
    let direct = h.direct_conn("postgres");
    h.rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&proxy, NoTls).await.expect("connect via proxy");
        tokio::spawn(conn);
        let (plain, conn) = tokio_postgres::connect(&direct, NoTls).await.expect("connect direct");
        tokio::spawn(conn);

        // Prepared statement, executed with several parameters.
        let lookup = client
            .prepare("SELECT id, name FROM customers WHERE id = $1")
            .await
            .expect("prepare");
        for id in [3, 5, 8] {
            let row = client.query_one(&lookup, &[&id]).await.expect("query_one");
            assert_eq!(row.get::<_, String>(1), format!("customer {id}"));
        }

        // Pipelined: all queries are sent before the first reply is read.
        let queries = (1..=10).map(|id| {
            let client = &client;
            let lookup = &lookup;
            async move { client.query_one(lookup, &[&id]).await.map(|r| r.get::<_, i32>(0)) }
        });
        let ids: Vec<i32> = future::try_join_all(queries).await.expect("pipelined");
        assert_eq!(ids, (1..=10).collect::<Vec<_>>());

        // Identical results via the proxy and directly.
        let sql = "SELECT o.id, c.name, o.total FROM orders o JOIN customers c ON c.id = o.customer_id ORDER BY o.id";
        assert_eq!(rows_of(&client, sql).await, rows_of(&plain, sql).await);

        // COPY in and out.
        client.batch_execute("CREATE TABLE copied (id int, note text)").await.expect("create");
        let sink = client.copy_in("COPY copied FROM STDIN").await.expect("copy in");
        futures_util::pin_mut!(sink);
        let data: String = (1..=1000).map(|i| format!("{i}\tnote {i}\n")).collect();
        sink.send(bytes::Bytes::from(data.clone())).await.expect("send copy data");
        assert_eq!(sink.finish().await.expect("finish copy"), 1000);
        let stream = client.copy_out("COPY copied TO STDOUT").await.expect("copy out");
        let chunks: Vec<bytes::Bytes> = stream.map(|c| c.expect("chunk")).collect().await;
        let out: Vec<u8> = chunks.concat();
        assert_eq!(String::from_utf8_lossy(&out), data);

        // Cancel: the CancelRequest goes to the right server connection.
        let token = client.cancel_token();
        let slow = client.simple_query("SELECT pg_sleep(30)");
        let cancel = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            token.cancel_query(NoTls).await
        };
        let (slow, cancel) = tokio::join!(slow, cancel);
        cancel.expect("cancel request");
        let err = slow.expect_err("cancelled");
        assert_eq!(err.code(), Some(&tokio_postgres::error::SqlState::QUERY_CANCELED));

        // The connection is still good afterwards.
        let row = client.query_one("SELECT 42", &[]).await.expect("after cancel");
        assert_eq!(row.get::<_, i32>(0), 42);
    });
    let events = h.drain_events();
    let lookups: Vec<_> = events
        .iter()
        .filter(|e| e.sql == "SELECT id, name FROM customers WHERE id = $1")
        .collect();
    assert_eq!(lookups.len(), 13, "3 sequential + 10 pipelined");
    assert!(lookups
        .iter()
        .all(|e| e.rows == Some(1) && e.prepared_name.is_some()));
    // Parameter values are digests unless asked for: the ids never appear.
    assert!(lookups.iter().all(|e| e
        .params
        .as_deref()
        .is_some_and(|p| p.starts_with("$1 = #") && !p.contains("\\x"))));
    let distinct: std::collections::HashSet<_> = lookups.iter().map(|e| e.params.clone()).collect();
    assert_eq!(distinct.len(), 10, "ids 1..=10 (3, 5, 8 twice)");
    let copy_in = events
        .iter()
        .find(|e| e.sql == "COPY copied FROM STDIN")
        .expect("copy in event");
    assert_eq!(copy_in.rows, Some(1000));
    let cancelled = events
        .iter()
        .find(|e| e.sql == "SELECT pg_sleep(30)")
        .expect("cancelled event");
    assert_eq!(cancelled.error.as_deref(), Some("57014"));
    let report = h.shutdown();
    assert_eq!(report.stats.events_dropped, 0);
    assert_eq!(report.stats.unmatched_replies, 0);
}

/// An N+1 loop and its batched rewrite: the proxy sees 1 + N statements vs 2.
#[test]
fn n_plus_one_and_clean_workloads_are_observed_as_run() {
    let h = start(Auth::Trust);
    h.pg.psql("postgres", SCHEMA).expect("schema");
    let proxy = h.proxy_conn("postgres");
    h.rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&proxy, NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        // N+1: orders, then one customer lookup per order.
        common::orders_then_one_customer_each(&client).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Clean: the same data with one batched query.
        common::orders_then_customers_batched(&client).await;
    });
    let events = h.wait_events(28);
    let on = |route: &str| -> Vec<_> { events.iter().filter(|e| e.sql.contains(route)).collect() };
    let n_plus_one = on("%2Forders");
    assert_eq!(n_plus_one.len(), 26);
    assert_eq!(n_plus_one[0].rows, Some(25));
    assert!(n_plus_one[1..]
        .iter()
        .all(|e| e.sql.starts_with("SELECT name FROM customers") && e.rows == Some(1)));
    let clean = on("%2Fclean");
    assert_eq!(clean.len(), 2);
    assert_eq!(
        clean[1].rows,
        Some(20),
        "25 orders of 20 distinct customers"
    );
    let session = &n_plus_one[0].session;
    assert!(
        session.parse::<u32>().is_ok(),
        "session is the backend pid: {session}"
    );
    let report = h.shutdown();
    assert_eq!(report.stats.unmatched_replies, 0);
}

/// NotificationResponse arrives between other replies and must not disturb matching.
#[test]
fn listen_notify_passes_through_without_disturbing_matching() {
    let h = start(Auth::Trust);
    let out = h.psql(
        h.addr.port(),
        "LISTEN jobs; NOTIFY jobs, 'hello'; SELECT 7; NOTIFY jobs, 'again'; SELECT 8",
    );
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Asynchronous notification \"jobs\" with payload \"hello\""),
        "{text}"
    );
    assert!(text.contains("with payload \"again\""), "{text}");
    let events = h.wait_events(5);
    let seen: Vec<(&str, Option<u64>)> = events.iter().map(|e| (e.sql.as_str(), e.rows)).collect();
    assert_eq!(
        seen,
        [
            ("LISTEN jobs", None),
            ("NOTIFY jobs, 'hello'", None),
            ("SELECT 7", Some(1)),
            ("NOTIFY jobs, 'again'", None),
            ("SELECT 8", Some(1)),
        ]
    );
    let report = h.shutdown();
    assert_eq!(report.stats.unmatched_replies, 0);
}

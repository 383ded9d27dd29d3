//! A short soak: rounds of fresh connections running the same traced N+1 workload, with
//! detection, the shape metrics, the proof and live budgets all on. Memory is bounded when
//! no table grows with repetition: after the first round every table the proxy and
//! detection keep (`table_entries` by table) is back to the same size once the round's
//! requests are over, whatever the number of connections and statements. Checked through
//! the metrics, never through timings.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{start_full, Harness};
use querycomb_proxy::{
    pipeline_detector, EnforceMode, Enforcement, LiveLimits, ProxyEvidence, ShapeMeter,
};
use querycomb_testkit::Auth;
use tokio_postgres::NoTls;

const ROUNDS: usize = 6;
const CONNECTIONS: usize = 16;
const REQUESTS: usize = 4;
const LOOKUPS: i32 = 10;

const TABLES: &[&str] = &[
    "detection_shapes",
    "detection_sessions",
    "detection_open_units",
    "detection_open_statements",
    "detection_findings",
    "meter_open_requests",
    "published_findings",
    "proof_loops",
    "proof_pairs",
    "proof_parents",
    "value_link_clients",
];

fn harness() -> Harness {
    start_full(
        Auth::Trust,
        |config| {
            config.enforcement = Enforcement {
                mode: EnforceMode::Reject,
                default: LiveLimits {
                    max_statements: Some(1_000),
                    ..LiveLimits::default()
                },
                idle_gap: Duration::from_millis(200),
                ..Enforcement::default()
            };
        },
        |proxy| {
            let meter = ShapeMeter::new(proxy.metrics(), Duration::from_millis(500));
            let evidence = ProxyEvidence::new(10).with_metrics(proxy.metrics());
            // A traced request that pauses longer than the idle gap is cut in two, and the
            // second half, children without their parent, is a finding of its own. On a
            // loaded machine a client can stall for half a second, which made the findings
            // table look as if it grew; the gap is long enough that only a stall of
            // seconds could cut a request.
            proxy
                .detector(pipeline_detector(querycomb_detect::Config {
                    idle_gap_ms: 2_000,
                    ..Default::default()
                }))
                .meter(Box::new(meter))
                .evidence(Box::new(evidence));
        },
    )
}

/// One connection's work: `REQUESTS` traced requests, each an N+1 over `LOOKUPS` rows.
async fn client_work(conn: String, round: usize, client_no: usize) {
    let (client, connection) = tokio_postgres::connect(&conn, NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    for request in 0..REQUESTS {
        let trace = format!("{round:08x}{client_no:08x}{request:016x}");
        let tags =
            format!("/*route='%2Fsoak%2F{request}',traceparent='00-{trace}-00f067aa0ba902b7-01'*/");
        let parent = format!("SELECT g FROM generate_series(1, {LOOKUPS}) g {tags}");
        let child = format!("SELECT $1::int * 2 {tags}");
        let ids: Vec<i32> = client
            .query(&parent, &[])
            .await
            .expect("parent")
            .iter()
            .map(|row| row.get(0))
            .collect();
        for id in ids {
            let doubled: i32 = client
                .query_one(&child, &[&id])
                .await
                .expect("child")
                .get(0);
            assert_eq!(doubled, id * 2);
        }
    }
}

/// Waits until `done` holds (a bound on progress, not a timing check).
fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn tables_stay_bounded_over_rounds_of_connections() {
    let h = harness();
    let conn = format!(
        "host=127.0.0.1 port={} user=qc dbname=postgres",
        h.addr.port()
    );
    let per_round = (CONNECTIONS * REQUESTS) as u64 * (1 + LOOKUPS as u64);
    let mut sizes: Vec<BTreeMap<&str, i64>> = Vec::new();
    for round in 0..ROUNDS {
        h.rt.block_on(async {
            let tasks: Vec<_> = (0..CONNECTIONS)
                .map(|c| tokio::spawn(client_work(conn.clone(), round, c)))
                .collect();
            for task in tasks {
                task.await.expect("client");
            }
        });
        let statements = per_round * (round as u64 + 1);
        wait_for("detection saw every statement", || {
            h.metrics.statements.get() >= statements
        });
        wait_for("every connection closed", || {
            h.metrics.connections.get() == 0
        });
        wait_for("every request closed and every session forgotten", || {
            [
                "meter_open_requests",
                "detection_open_units",
                "detection_open_statements",
                "detection_sessions",
            ]
            .iter()
            .all(|&table| h.metrics.table_entries(table) == 0)
        });
        // Let a few more ticks (50 ms apart) record the sizes after the round.
        std::thread::sleep(Duration::from_millis(200));
        sizes.push(
            TABLES
                .iter()
                .map(|&t| (t, h.metrics.table_entries(t)))
                .collect(),
        );
    }
    assert_eq!(
        h.metrics.statements.get(),
        per_round * ROUNDS as u64,
        "every statement was counted, none dropped"
    );
    assert_eq!(h.metrics.events_dropped.get(), 0);
    let first = &sizes[0];
    assert!(first["detection_shapes"] >= 2, "{first:?}");
    assert!(
        first["published_findings"] >= 1,
        "the N+1 was found: {first:?}"
    );
    for (round, later) in sizes.iter().enumerate().skip(1) {
        // Shapes, findings and published signatures are the workload's, not the
        // traffic's: the same after every round.
        for table in [
            "detection_shapes",
            "detection_findings",
            "published_findings",
        ] {
            assert_eq!(
                later[table], first[table],
                "{table} grew by round {round}: {sizes:?}"
            );
        }
        // Per-request and per-session state is gone once the requests are over. (The
        // proof tables are per session and grow until their cap of 4,096 entries, where
        // they are reset and the reset counted: printed below, not asserted.)
        // (Waited for above: meter_open_requests, detection_open_units,
        // detection_open_statements and detection_sessions reach 0 after every round.)
    }
    // Traced requests spread over budgets: bounded by the documented cap.
    let shared = h.metrics.table_entries("shared_budgets");
    assert!(
        shared > 0 && shared as usize <= querycomb_proxy::enforce::MAX_SHARED_UNITS,
        "{shared}"
    );
    println!("table sizes by round: {sizes:#?}");
    let report = h.shutdown();
    assert_eq!(report.stats.connections, (ROUNDS * CONNECTIONS) as u64);
}

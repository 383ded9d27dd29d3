//! Events per second through the whole pipeline, on a realistic mix (ignored by default):
//! `cargo test --release -p querycomb-detect --test throughput -- --ignored --nocapture`

use std::time::Instant;

use querycomb_core::{EventSink, Location, QueryEvent, SourceId};
use querycomb_detect::{Config, Pipeline};
use querycomb_sql::Dialect;

#[test]
#[ignore = "benchmark: run in release with --ignored"]
fn events_per_second() {
    let sessions: Vec<String> = (0..64).map(|i| format!("{}", 4000 + i)).collect();
    let params: Vec<String> = (0..1000).map(|i| format!("$1 = '{i}'")).collect();
    // Requests of 7 statements (a transaction of 5 queries), each session busy in turn.
    let statements = [
        "BEGIN",
        "SELECT o.id, o.customer_id, o.total FROM orders o WHERE o.status = $1 ORDER BY o.id LIMIT 50",
        "SELECT c.id, c.name, c.email FROM customers c WHERE c.id = $1",
        "SELECT COUNT(*) FROM items WHERE order_id = $1",
        "UPDATE sessions SET seen_at = now() WHERE id = $1",
        "SELECT c.id, c.name, c.email FROM customers c WHERE c.id = $1",
        "COMMIT",
    ];
    let total = 2_000_000u64;
    let mut pipeline = Pipeline::new(Config::default(), Dialect::Postgres);
    let started = Instant::now();
    for n in 0..total {
        let sql = statements[(n % 7) as usize];
        let event = QueryEvent {
            location: Location {
                source: SourceId(0),
                line: n,
                byte: n * 120,
            },
            time: Some(1_700_000_000_000_000 + n as i64 * 20),
            duration_us: Some(80),
            session: &sessions[(n / 7 % 64) as usize],
            sql,
            params: Some(&params[(n % 1000) as usize]),
            rows: Some(1),
            ..QueryEvent::default()
        };
        pipeline.event(&event);
    }
    let analysis = pipeline.finish();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{total} events in {secs:.2} s: {:.0} events/s; {} findings, {} requests",
        total as f64 / secs,
        analysis.findings.len(),
        analysis.summary.requests
    );
    let counted = (0..total).filter(|n| (1..=5).contains(&(n % 7))).count() as u64;
    assert_eq!(analysis.summary.statements, counted);
    assert_eq!(analysis.summary.requests, total.div_ceil(7));
}

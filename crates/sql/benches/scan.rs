//! Self-benchmark of `Fingerprinter::scan` on realistic ORM statements (std::time only).
//! Run: `cargo bench -p querycomb-sql --bench scan [-- <name filter>]`. On a shared machine,
//! `QC_SCAN_ITERS=1000000 perf stat -e task-clock <bench binary> <filter>` gives CPU time per
//! query that other load cannot inflate (divide by the iterations).

use querycomb_sql::{Dialect, Fingerprinter};
use std::hint::black_box;
use std::time::{Duration, Instant};

include!("../tests/corpus/orm.rs");

/// Nanoseconds per `scan` of `sql`: the best of `rounds` timed rounds of about `round` each.
/// The minimum, not the mean, because the machine is shared and other load only adds time.
fn ns_per_scan(fp: &mut Fingerprinter, sql: &str, rounds: u32, round: Duration) -> f64 {
    let mut batch = 16u64;
    loop {
        let start = Instant::now();
        for _ in 0..batch {
            black_box(fp.scan(black_box(sql)));
        }
        if start.elapsed() >= round / 4 {
            break;
        }
        batch *= 2;
    }
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..batch {
                black_box(fp.scan(black_box(sql)));
            }
            start.elapsed().as_nanos() as f64 / batch as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let round = Duration::from_millis(20);
    // `cargo bench --bench scan -- <substring>` runs only the matching queries.
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_default();
    let mut cases: Vec<(String, bool, String)> = ORM_QUERIES
        .iter()
        .map(|(n, my, q)| (n.to_string(), *my, q.to_string()))
        .collect();
    cases.push(("in_list_100".into(), false, in_list(100)));
    cases.push(("insert_50_rows".into(), false, multi_insert(50)));
    println!(
        "{:<20} {:>7} {:>10} {:>10} {:>12}",
        "query", "bytes", "ns/query", "MB/s", "queries/s"
    );
    let (mut total_ns, mut total_bytes) = (0.0, 0usize);
    cases.retain(|(name, _, _)| name.contains(&filter));
    // `QC_SCAN_ITERS=N` runs exactly N scans of each selected query and prints nothing, so
    // `perf stat -e cycles,instructions` gives per-query counts that other load cannot inflate.
    if let Some(iters) = std::env::var("QC_SCAN_ITERS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        for (_, mysql, sql) in &cases {
            let mut fp = Fingerprinter::new(if *mysql {
                Dialect::MySql
            } else {
                Dialect::Postgres
            });
            for _ in 0..iters {
                black_box(fp.scan(black_box(sql)));
            }
        }
        return;
    }
    for (name, mysql, sql) in &cases {
        let dialect = if *mysql {
            Dialect::MySql
        } else {
            Dialect::Postgres
        };
        let mut fp = Fingerprinter::new(dialect);
        let ns = ns_per_scan(&mut fp, sql, 15, round);
        let mb_s = sql.len() as f64 / ns * 1e9 / 1e6;
        println!(
            "{name:<20} {:>7} {ns:>10.1} {mb_s:>10.1} {:>12.0}",
            sql.len(),
            1e9 / ns
        );
        total_ns += ns;
        total_bytes += sql.len();
    }
    println!(
        "{:<20} {:>7} {:>10.1} {:>10.1}",
        "all (mean)",
        total_bytes / cases.len(),
        total_ns / cases.len() as f64,
        total_bytes as f64 / total_ns * 1e3
    );
}

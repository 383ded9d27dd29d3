//! Times each engine over a query set: warm-up, then rounds that alternate between the
//! engines (so a burst of load from other users of the machine hits all of them alike),
//! reporting the median round as queries/second and MB/s.

use crate::corpus::Query;
use crate::engines::Engine;
use std::hint::black_box;
use std::time::{Duration, Instant};

const ROUNDS: u32 = 5;
const WARM_UP: Duration = Duration::from_millis(300);

/// Measured speed of one engine on one query set.
pub struct Speed {
    pub engine: &'static str,
    pub queries_per_sec: f64,
    pub mb_per_sec: f64,
    /// Mean time per query in microseconds.
    pub micros_per_query: f64,
    /// Queries the engine rejected (parse errors and the like), out of the set.
    pub rejected: usize,
}

/// Runs every engine over `queries` for about `budget` in total each.
pub fn measure(engines: &mut [&mut dyn Engine], queries: &[Query], budget: Duration) -> Vec<Speed> {
    let bytes: usize = queries.iter().map(|q| q.sql.len()).sum();
    let per_round = budget / ROUNDS;
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); engines.len()];
    let rejected: Vec<usize> = engines
        .iter_mut()
        .map(|engine| warm_up(&mut **engine, queries))
        .collect();
    for _ in 0..ROUNDS {
        for (engine, samples) in engines.iter_mut().zip(rates.iter_mut()) {
            samples.push(time_round(&mut **engine, queries, per_round));
        }
    }
    engines
        .iter()
        .zip(rates)
        .zip(rejected)
        .map(|((engine, mut samples), rejected)| {
            samples.sort_by(f64::total_cmp);
            let passes_per_sec = samples[samples.len() / 2];
            let queries_per_sec = passes_per_sec * queries.len() as f64;
            Speed {
                engine: engine.name(),
                queries_per_sec,
                mb_per_sec: passes_per_sec * bytes as f64 / 1e6,
                micros_per_query: 1e6 / queries_per_sec,
                rejected,
            }
        })
        .collect()
}

/// Runs passes until the warm-up time is spent; returns how many queries were rejected.
fn warm_up(engine: &mut dyn Engine, queries: &[Query]) -> usize {
    let start = Instant::now();
    let mut rejected = 0;
    while start.elapsed() < WARM_UP {
        rejected = one_pass(engine, queries);
    }
    rejected
}

/// Whole passes over the set until `budget` is spent; returns passes per second.
fn time_round(engine: &mut dyn Engine, queries: &[Query], budget: Duration) -> f64 {
    let start = Instant::now();
    let mut passes = 0u64;
    loop {
        black_box(one_pass(engine, queries));
        passes += 1;
        let elapsed = start.elapsed();
        if elapsed >= budget {
            return passes as f64 / elapsed.as_secs_f64();
        }
    }
}

fn one_pass(engine: &mut dyn Engine, queries: &[Query]) -> usize {
    let mut rejected = 0;
    for query in queries {
        let (value, accepted) = engine.run(black_box(query));
        black_box(value);
        rejected += usize::from(!accepted);
    }
    rejected
}

/// Prints one table of speeds and the ratios of the first engine (querycomb) to the rest.
pub fn print(title: &str, queries: &[Query], speeds: &[Speed]) {
    let bytes: usize = queries.iter().map(|q| q.sql.len()).sum();
    println!(
        "\n{title}: {} queries, {:.1} KB, mean {:.0} bytes/query",
        queries.len(),
        bytes as f64 / 1e3,
        bytes as f64 / queries.len() as f64
    );
    println!(
        "  {:<24} {:>14} {:>10} {:>12} {:>9}",
        "engine", "queries/s", "MB/s", "µs/query", "rejected"
    );
    for speed in speeds {
        println!(
            "  {:<24} {:>14.0} {:>10.1} {:>12.3} {:>9}",
            speed.engine,
            speed.queries_per_sec,
            speed.mb_per_sec,
            speed.micros_per_query,
            speed.rejected
        );
    }
    let Some((ours, peers)) = speeds.split_first() else {
        return;
    };
    for peer in peers {
        println!(
            "  ratio {} ÷ {}: {:.1}×",
            ours.engine,
            peer.engine,
            ours.queries_per_sec / peer.queries_per_sec
        );
    }
}

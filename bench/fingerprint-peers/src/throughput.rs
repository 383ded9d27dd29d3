//! Times each engine over a query set: warm-up, then rounds that alternate between the
//! engines (so a burst of load from other users of the machine hits all of them alike),
//! reporting the median round as queries/second and MB/s.
//!
//! Rates are per second of this thread's CPU time (Linux `/proc/thread-self/schedstat`,
//! nanoseconds on CPU) when available: on a shared machine wall time mostly measures
//! how long the scheduler kept us waiting. Wall-time rates are printed next to them.

use crate::corpus::Query;
use crate::engines::Engine;
use std::hint::black_box;
use std::time::{Duration, Instant};

const ROUNDS: u32 = 5;
const WARM_UP: Duration = Duration::from_millis(300);

/// Measured speed of one engine on one query set.
pub struct Speed {
    pub engine: &'static str,
    /// Whether the rates below are per CPU second (else per wall second).
    pub cpu_time: bool,
    /// Queries per wall-clock second, for comparison.
    pub wall_queries_per_sec: f64,
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
    let mut rates: Vec<Vec<Rate>> = vec![Vec::new(); engines.len()];
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
        .map(|((engine, samples), rejected)| {
            let cpu_time = samples.iter().all(|r| r.per_cpu_sec.is_some());
            let passes_per_sec = median(
                samples
                    .iter()
                    .map(|r| r.per_cpu_sec.filter(|_| cpu_time).unwrap_or(r.per_wall_sec)),
            );
            let wall = median(samples.iter().map(|r| r.per_wall_sec));
            let queries_per_sec = passes_per_sec * queries.len() as f64;
            Speed {
                engine: engine.name(),
                cpu_time,
                wall_queries_per_sec: wall * queries.len() as f64,
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

/// Passes per second of one round, by wall time and (when known) by CPU time.
#[derive(Clone, Copy)]
struct Rate {
    per_wall_sec: f64,
    per_cpu_sec: Option<f64>,
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// Nanoseconds this thread has spent on a CPU (first field of schedstat), if readable.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Whole passes over the set until `budget` of wall time is spent.
fn time_round(engine: &mut dyn Engine, queries: &[Query], budget: Duration) -> Rate {
    let cpu_start = thread_cpu_ns();
    let start = Instant::now();
    let mut passes = 0u64;
    loop {
        black_box(one_pass(engine, queries));
        passes += 1;
        let elapsed = start.elapsed();
        if elapsed >= budget {
            let cpu_secs = cpu_start
                .zip(thread_cpu_ns())
                .map(|(a, b)| b.saturating_sub(a) as f64 / 1e9)
                .filter(|&secs| secs > 0.0);
            return Rate {
                per_wall_sec: passes as f64 / elapsed.as_secs_f64(),
                per_cpu_sec: cpu_secs.map(|secs| passes as f64 / secs),
            };
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
    let clock = match speeds.first() {
        Some(s) if s.cpu_time => "per CPU second",
        _ => "per wall second (CPU time unavailable)",
    };
    println!(
        "  {:<24} {:>14} {:>10} {:>12} {:>9} {:>16}",
        "engine", "queries/s", "MB/s", "µs/query", "rejected", "wall queries/s"
    );
    for speed in speeds {
        println!(
            "  {:<24} {:>14.0} {:>10.1} {:>12.3} {:>9} {:>16.0}",
            speed.engine,
            speed.queries_per_sec,
            speed.mb_per_sec,
            speed.micros_per_query,
            speed.rejected,
            speed.wall_queries_per_sec
        );
    }
    println!("  rates {clock}, median of {ROUNDS} alternating rounds");
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

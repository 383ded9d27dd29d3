//! What the guard's layer costs per statement and per request, against the same workload
//! without it, in one run:
//!
//! - `without guard`: the subscriber an application has without the guard (a layer that
//!   only wants INFO and above), so sqlx's DEBUG statement events are disabled and sqlx
//!   skips building them;
//! - `events on, ignored`: a layer that enables sqlx's events and ignores them: what sqlx's
//!   own logging costs (its summary and text allocations) once anything wants its events;
//! - `with guard`: the guard's layer.
//!
//! Each request is a tower-http-like `request` span with 10, then 20 statements, emitted
//! exactly as sqlx-core 0.8.6's `QueryLogger::finish` does; the difference between the two
//! sizes is the cost per statement, the rest the cost per request. Two workloads: clean
//! requests (every statement a different shape) and N+1s (a parent and one lookup per row),
//! whose finding is published once per request (warn events on, nobody listening).
//!
//! `cargo bench -p querycomb-guard --bench layer_overhead`

// The allocation counter is a `GlobalAlloc`, which only unsafe code can implement.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use querycomb_guard::Guard;
use tracing::level_filters::LevelFilter;
use tracing::{Dispatch, Level};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const REQUESTS: usize = 20_000;
const STATEMENTS: usize = 10;
const ROUNDS: usize = 5;

/// sqlx-core 0.8.6 `QueryLogger::finish`, for a statement that was not slow.
fn sqlx_log(sql: &str, rows: u64, elapsed: Duration) {
    if !tracing::enabled!(target: "sqlx::query", Level::DEBUG) {
        return;
    }
    let mut summary = sql
        .split_whitespace()
        .take(4)
        .collect::<Vec<&str>>()
        .join(" ");
    let sql = if summary != sql {
        summary.push_str(" …");
        format!("\n\n{sql}\n")
    } else {
        String::new()
    };
    tracing::debug!(
        target: "sqlx::query",
        summary,
        db.statement = sql,
        rows_affected = 0u64,
        rows_returned = rows,
        ?elapsed,
        elapsed_secs = elapsed.as_secs_f64(),
    );
}

fn run(requests: usize, statements: &[String]) {
    let elapsed = Duration::from_micros(120);
    for _ in 0..requests {
        let span = tracing::info_span!("request", method = "GET", http.route = "/books");
        span.in_scope(|| {
            for sql in statements {
                sqlx_log(black_box(sql), 1, elapsed);
            }
        });
    }
}

/// Enables sqlx's events and does nothing with them.
struct Ignore;

impl<S: tracing::Subscriber> Layer<S> for Ignore {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        black_box(event);
    }
}

/// CPU time of this thread: the machine is shared, and time spent waiting for a core is
/// not the layer's.
fn thread_cpu_time() -> Duration {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

/// One timed run: (CPU time per request, allocations per request).
fn measure_once(dispatch: &Dispatch, statements: &[String]) -> (Duration, f64) {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let start = thread_cpu_time();
    tracing::dispatcher::with_default(dispatch, || run(REQUESTS, statements));
    let took = thread_cpu_time() - start;
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    (took / REQUESTS as u32, allocations as f64 / REQUESTS as f64)
}

/// Time and allocations per request of the three set-ups for `statements`: the best of
/// `ROUNDS` rounds, the set-ups taking turns within each round.
fn three(statements: &[String]) -> [(Duration, f64); 3] {
    let guard = Guard::new();
    let setups = [
        Dispatch::new(tracing_subscriber::registry().with(LevelFilter::INFO)),
        Dispatch::new(tracing_subscriber::registry().with(Ignore)),
        Dispatch::new(tracing_subscriber::registry().with(guard.layer())),
    ];
    for dispatch in &setups {
        tracing::dispatcher::with_default(dispatch, || run(1000, statements));
    }
    let mut best = [(Duration::MAX, 0.0); 3];
    for _ in 0..ROUNDS {
        for (dispatch, best) in setups.iter().zip(best.iter_mut()) {
            let (took, allocations) = measure_once(dispatch, statements);
            if took < best.0 {
                *best = (took, allocations);
            }
        }
    }
    assert_eq!(guard.summary().requests as usize, REQUESTS * ROUNDS + 1000);
    best
}

/// Requests of `STATEMENTS` and of `2 * STATEMENTS` statements made by `make`: the
/// difference is the cost of `STATEMENTS` more statements, the rest the request's own.
fn report(workload: &str, make: impl Fn(usize) -> Vec<String>) {
    let small = three(&make(STATEMENTS));
    let large = three(&make(2 * STATEMENTS));
    let ns = |d: Duration| d.as_nanos() as f64;
    let n = STATEMENTS as f64;
    println!("{workload}: {REQUESTS} requests, best of {ROUNDS}, CPU time of the thread");
    for (name, (s, l)) in ["without guard", "events on, ignored", "with guard"]
        .iter()
        .zip(small.iter().zip(&large))
    {
        println!(
            "  {name:<20} {STATEMENTS} statements: {:>7.0} ns {:>5.1} allocs/request   {} statements: {:>7.0} ns {:>5.1} allocs/request",
            ns(s.0),
            s.1,
            2 * STATEMENTS,
            ns(l.0),
            l.1
        );
    }
    // Marginal cost of one statement, and what is left per request.
    let per_statement = |i: usize| (ns(large[i].0) - ns(small[i].0)) / n;
    let allocs_per_statement = |i: usize| (large[i].1 - small[i].1) / n;
    let per_request = |i: usize| ns(small[i].0) - n * per_statement(i);
    println!(
        "  guard layer, per statement: {:.0} ns, {:.2} allocations (with guard − events on, ignored)",
        per_statement(2) - per_statement(1),
        allocs_per_statement(2) - allocs_per_statement(1)
    );
    println!(
        "  guard layer, per request:   {:.0} ns, {:.1} allocations (span, route, detectors{})",
        per_request(2) - per_request(1),
        (small[2].1 - small[1].1) - n * (allocs_per_statement(2) - allocs_per_statement(1)),
        if workload.starts_with("N+1") {
            ", the finding published"
        } else {
            ""
        }
    );
    println!(
        "  sqlx's own logging once enabled, per statement: {:.0} ns, {:.2} allocations (events on, ignored − without guard)",
        per_statement(1) - per_statement(0),
        allocs_per_statement(1) - allocs_per_statement(0)
    );
}

fn main() {
    report("clean requests (all shapes different)", |n| {
        (0..n)
            .map(|i| {
                format!(
                    "SELECT id, name, created_at FROM table_{i} WHERE id = $1 AND tenant_id = $2"
                )
            })
            .collect()
    });
    report("N+1 requests (a parent, then one lookup per row)", |n| {
        let mut statements =
            vec!["SELECT id, title, author_id FROM books ORDER BY id LIMIT $1".to_owned()];
        statements.extend((1..n).map(|_| "SELECT id, name FROM authors WHERE id = $1".to_owned()));
        statements
    });
}

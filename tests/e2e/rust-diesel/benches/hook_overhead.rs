//! What querycomb-guard's Diesel hook costs per statement, without a database: Diesel's
//! `StartQuery`/`FinishQuery` events for real Diesel queries (an N+1: the authors, then one
//! books query per author), handed to the hook exactly as a connection hands them.
//!
//! - `no span current`: the hook with no request around (it returns before rendering);
//! - `Diesel's rendering`: only `Display` of Diesel's query into a reused buffer, the part of
//!   the hook that is Diesel's own work (its query builder writes the SQL and the binds);
//! - `with guard`: the hook inside a request span with the guard's layer: rendering, the
//!   event, the layer, fingerprinting, the detectors at the end of each request.
//!
//! Requests of 10, then 20 statements; the difference is the cost of 10 statements, the
//! rest per request. Best of 5 rounds, CPU time of the thread.
//!
//! `cargo bench --manifest-path tests/e2e/rust-diesel/Cargo.toml --bench hook_overhead`

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{debug_query, QueryFragment};
use querycomb_e2e_diesel::{authors, books, Author, Book};
use querycomb_guard::diesel::GuardInstrumentation;
use querycomb_guard::Guard;
use tracing_subscriber::layer::SubscriberExt;

const REQUESTS: usize = 5_000;
const STATEMENTS: usize = 10;
const ROUNDS: usize = 5;

type Query = Box<dyn QueryFragment<Pg>>;

/// The authors, then one books query per author: `statements` in all.
fn n_plus_one(statements: usize) -> Vec<Query> {
    let mut queries: Vec<Query> = vec![Box::new(
        authors::table
            .order(authors::id)
            .select(Author::as_select())
            .into_boxed(),
    )];
    for id in 1..statements as i32 {
        queries.push(Box::new(
            books::table
                .filter(books::author_id.eq(id))
                .order(books::id)
                .select(Book::as_select())
                .into_boxed(),
        ));
    }
    queries
}

fn thread_cpu_time() -> Duration {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

#[derive(Clone, Copy)]
enum Setup {
    NoSpan,
    RenderOnly,
    WithGuard,
}

/// CPU time per request of `setup` on `queries`, best of `ROUNDS`.
fn measure(setup: Setup, queries: &[Query]) -> Duration {
    let guard = Guard::new();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(guard.layer()));
    let mut hook = GuardInstrumentation::new();
    let mut text = String::new();
    let mut best = Duration::MAX;
    for _ in 0..ROUNDS {
        let start = thread_cpu_time();
        tracing::dispatcher::with_default(&dispatch, || {
            for _ in 0..REQUESTS {
                let span = tracing::info_span!("request", http.route = "/authors");
                let _entered = matches!(setup, Setup::WithGuard).then(|| span.enter());
                for query in queries {
                    let query = debug_query::<Pg, _>(query);
                    match setup {
                        Setup::RenderOnly => {
                            text.clear();
                            write!(text, "{query}").unwrap();
                            black_box(&text);
                        }
                        Setup::NoSpan | Setup::WithGuard => {
                            hook.on_connection_event(InstrumentationEvent::start_query(&query));
                            hook.on_connection_event(InstrumentationEvent::finish_query(
                                &query, None,
                            ));
                        }
                    }
                }
            }
        });
        best = best.min(thread_cpu_time() - start);
    }
    if matches!(setup, Setup::WithGuard) {
        assert_eq!(guard.summary().requests as usize, REQUESTS * ROUNDS);
        assert_eq!(guard.findings().len(), 1, "the N+1 must be found");
    }
    best / REQUESTS as u32
}

fn main() {
    let small = n_plus_one(STATEMENTS);
    let large = n_plus_one(2 * STATEMENTS);
    let ns = |d: Duration| d.as_nanos() as f64;
    println!(
        "Diesel hook, N+1 requests: {REQUESTS} requests, best of {ROUNDS}, CPU time of the thread"
    );
    let mut per_statement = Vec::new();
    for (name, setup) in [
        ("no span current", Setup::NoSpan),
        ("Diesel's rendering", Setup::RenderOnly),
        ("with guard", Setup::WithGuard),
    ] {
        let (s, l) = (measure(setup, &small), measure(setup, &large));
        let each = (ns(l) - ns(s)) / STATEMENTS as f64;
        per_statement.push(each);
        println!(
            "  {name:<20} {STATEMENTS} statements: {:>8.0} ns   {} statements: {:>8.0} ns   per statement: {each:>6.0} ns   per request: {:>6.0} ns",
            ns(s),
            2 * STATEMENTS,
            ns(l),
            ns(s) - STATEMENTS as f64 * each
        );
    }
    println!(
        "  hook per statement: {:.0} ns, of which Diesel's rendering {:.0} ns and the guard {:.0} ns",
        per_statement[2],
        per_statement[1],
        per_statement[2] - per_statement[1]
    );
}

//! Grouping query events into units of work, and the detectors that turn them into findings.
//!
//! [`Pipeline`] is an [`querycomb_core::EventSink`]: sources push one event per executed
//! statement; [`Pipeline::finish`] (batch) or [`Pipeline::take_updates`] (live) hand out
//! de-duplicated [`querycomb_core::Finding`]s with their evidence, and the run's statistics.
//!
//! # How a statement is seen
//! Each statement is fingerprinted once (`querycomb_sql::Fingerprinter::scan`): statements
//! that differ only in literals, bind parameters, list lengths, comments, whitespace or
//! keyword case share a fingerprint. Its *values* are a hash of its literals and its bind
//! parameters' text: equal values mean an identical execution, different values a new loop
//! iteration. psycopg's auto-prepared `execute _pg3_0` arrives with its real SQL and counts
//! under that SQL's fingerprint like any other execution.
//!
//! Not counted (not parents, not children, not in statement counts): `BEGIN`, `COMMIT`,
//! `ROLLBACK`, `SAVEPOINT`, `RELEASE`, `ROLLBACK TO`, `PREPARE`, `DEALLOCATE`, `SET`, `SHOW`,
//! and cursor `DECLARE`/`FETCH`/`CLOSE` — drivers issue them on their own, and paging through
//! a cursor (`FETCH 100 FROM c` × N) is how large results should be read.
//!
//! # Units of work
//! A finding is a pattern inside one request, so the first job is knowing which statements
//! belong together. In order of preference (see [`mod@unit`]):
//! 1. the sqlcommenter `traceparent` trace id, across sessions: a request that fans out over
//!    pooled connections (or that a transaction-mode pooler interleaves with others on one
//!    connection) is one unit; a trace stays open until it has been idle for the gap;
//! 2. the `route` / `controller`+`action` tags, per session, until the route changes;
//! 3. an explicit `BEGIN … COMMIT/ROLLBACK` on a session (or MySQL's `SET autocommit = 0`
//!    … `COMMIT`); single-statement transactions (ORMs wrap each save in one) chain into
//!    one burst instead, so a save loop is seen;
//! 4. otherwise a burst: a session's statements, split into requests by pool markers (a
//!    check-in reset ends one; a check-out probe or a job-queue claim starts one), by the
//!    `COMMIT` of a transaction the server opened implicitly (autocommit off, no `BEGIN`:
//!    MySQL drivers) or a `ROLLBACK` with no `BEGIN` (a pool's on check-in), and by
//!    pauses: the split between pauses inside and between requests is learned per session
//!    ([`mod@gaps`]), `idle_gap_ms` is the upper bound; a loop going on across an ambiguous
//!    pause keeps its request together. Pieces of one request's loop sent at once over
//!    several pooled connections of one client are put back together (`fanout.rs`).
//!
//! Untagged statements join the session's current unit (drivers never tag `BEGIN`/`COMMIT`;
//! server-side `EXECUTE` and named prepared statements cannot be tagged), except that a
//! transaction begun after a tagged request's statements, whose statements are untagged, is
//! other work and a unit of its own. An untagged unit that only holds `BEGIN` takes the first
//! tag that arrives; one that ran untagged work of its own is closed instead.
//!
//! Housekeeping (pool resets, liveness probes) and tooling (catalog introspection, migration
//! history) are classified once per shape (`querycomb_sql::class`) and left out of detection
//! unless `include_tooling`; they are counted in the summary.
//!
//! Limits of the evidence: without a trace id, requests on one connection are told apart by
//! markers and pauses only. When the pauses inside requests and between them overlap (a slow
//! application, a loaded machine), some requests split or merge; docs/accuracy.md measures
//! how often on real stacks. Tag SQL with `traceparent` for exact grouping.
//!
//! # Decision rules
//! Per unit, each statement shape is summarised (executions, distinct parameter sets, total
//! time, longest list), then:
//! - **`n_plus_one`**: a SELECT shape run at least `n_plus_one` (5) times with at least two
//!   distinct parameter sets, each execution carrying fewer than `batch_min_list` (10) list
//!   items, not paging (`OFFSET`; or a `LIMIT` without an equality filter, or with a cursor
//!   on the first `ORDER BY` column: keyset pages, `querycomb_sql::Shape::is_paging`). Its parent
//!   is the nearest earlier SELECT of another shape before the first child that ran fewer
//!   times than the child (a shape running as often is a sibling in the loop) and that reads
//!   rows (not a FROM-less `SELECT nextval(…)`, `now()`, `set_config(…)`), preferring the
//!   nearest one that returned at least as many rows as there were distinct children when
//!   row counts are known. In a plain burst a read loop needs a parent
//!   (`burst_loops_need_parent`): a parentless run of lookups there is as likely a worker
//!   handling one job per iteration, which a log cannot tell apart from a loop.
//! - **`count_in_loop`**: the same, when the child is an aggregate (`COUNT(*)`, `EXISTS`):
//!   the fix is a `GROUP BY`, not an `IN` list.
//! - **`n_plus_one_write`**: the same for INSERT/UPDATE/DELETE/MERGE one row at a time;
//!   a statement carrying several rows (multi-row `VALUES`, `UNNEST`/`= ANY` of an array
//!   parameter) or touching several (the server's row count, which the proxy reads from
//!   `CommandComplete`) is a batch, and a loop of batches is not reported. No parent is
//!   needed.
//! - **`repeated_identical`**: a shape run at least `repeated_identical` (5) times, every time
//!   with the same parameters: a missing memo, fixed by reusing the result. A shape that also
//!   ran with other parameters is reported when the loop detectors do not report it as a
//!   loop (too few executions, or a read loop in a burst without a parent) and one
//!   parameter set alone ran that often: the finding is that set's executions (its count,
//!   time, statements), so a stray execution (another request's, untagged) hides nothing.
//! - **`mn_plus_one`**: two or more loop shapes that strictly alternate (A B C A B C …) with
//!   equal counts (±1): one finding listing every child, instead of one per child. A child
//!   that runs several times per iteration of another (A B B A B B) is a nested loop and is
//!   reported as its own `n_plus_one` with the outer child as parent.
//! - When `slow_loop_total_ms` is set (it is not by default: findings must not depend on
//!   the machine's speed), a loop whose children took that long together needs only
//!   `slow_loop_count` (3) executions; `min_loop_total_ms` (off) drops loops faster than it.
//! - **Not findings**: one statement with a long `IN`/`ANY`/`VALUES` list (or `= ANY($1)`
//!   with a long `{…}` array parameter) — that is the fix; chunked batch loads (each chunk a
//!   long list); cursor paging; savepoints, transaction control, `DEALLOCATE`; anything below
//!   the thresholds; shapes matching `allow_sql` (normalised or first raw text) or touching an
//!   `allow_tables` table; every request on an `allow_routes` route; and any loop where an
//!   execution carries the inline `/* querycomb:allow */` marker.
//!
//! # Why these defaults
//! - Count 5 (Sentry's choice), not 2 (Prosopite, django-zeal): loops of 2–4 are the main
//!   false-positive complaint about those tools and cost a few round trips; real N+1s grow
//!   with the data and pass 5 quickly. A lower count (3) for slow children is opt-in
//!   (`slow_loop_total_ms`).
//! - No time floor by default: server logs time the statement on the server, not the network
//!   and driver round trip that makes an N+1 expensive, so a Sentry-like 50 ms floor would
//!   hide most real N+1s found in logs.
//! - Idle gap 1 s: a request's statements follow each other within milliseconds; a loop that
//!   waits over a second per iteration is slow for another reason.
//! - Batch list 10: real batch sizes (Hibernate `@BatchSize`, Django prefetch chunks) are
//!   10–1000; two or three items per statement, repeated, is still a loop.
//! - Severity: loops are warnings, raised to errors at 20 repeated statements in one
//!   request; identical repeats are info, raised to warnings likewise. Time raises a
//!   severity only when `severity.escalate_total_ms` is set: the same statements get the
//!   same severity on a fast machine and a loaded one.
//!
//! # De-duplication
//! A finding's signature is a hash of (kind, parent fingerprint, child fingerprints) as 16 hex
//! digits (with the route for a budget, and apart for a test's fixtures: `querycomb run`'s
//! `(setup)`/`(teardown)` routes); the first request's evidence is kept and later requests add to `occurrences` and
//! `total_count` (see [`findings`]). Findings never contain raw SQL or parameter values, only
//! normalised text, unless `show_params` is set.
//!
//! # Memory
//! Flat in the length of the input: per statement a fixed-size record in its open unit (no
//! SQL text); at most `max_statements_per_unit` per unit (a longer unit is analysed in
//! batches, and loops going on into the next batch keep their parent); idle units closed by
//! a periodic sweep on the input clock; idle sessions forgotten; each query shape described
//! and stored once, while transaction control and bookkeeping (whose savepoint, cursor and
//! statement names change all the time) are recognised by their first words and never
//! stored. It grows with the number of concurrently open requests and of distinct query
//! shapes.
//!
//! # Speed
//! About 2.3 million events per second on one core of the development machine, fingerprinting
//! and request grouping included, requests of 5 queries (`tests/throughput.rs`, run in
//! release with `--ignored`; noisy on a shared machine).

mod activity;
pub mod budget;
pub mod catalog;
pub mod config;
pub mod control;
pub mod detectors;
mod fanout;
pub mod findings;
pub mod gaps;
pub mod hash;
pub mod kinds;
pub mod pattern;
pub mod pipeline;
mod scan_cache;
pub mod stats;
pub mod text;
pub mod unit;

pub use config::{Config, DialectSetting, RouteRule, SeverityRules, Thresholds};
pub use pattern::{NamePattern, SqlRegex};
pub use pipeline::{Occurrence, Pipeline};

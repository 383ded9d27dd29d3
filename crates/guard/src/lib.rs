//! querycomb's N+1 detection inside a Rust application.
//!
//! - [`Guard`] and its [`GuardLayer`]: a `tracing` layer that reads the statements sqlx
//!   reports (its `sqlx::query` events; SeaORM runs on sqlx) and Diesel's (feature `diesel`:
//!   `diesel::GuardInstrumentation`), groups them by the request span
//!   that encloses them (tower-http's `request` span, [`Guard::request_span`], or any span
//!   name you configure) and runs querycomb's detectors on each request as it ends: N+1 with
//!   parent and child, count in a loop, repeated identical statements, budgets. Findings are
//!   `tracing` warn events (target `querycomb_guard`), [`Guard::findings`], callbacks, and
//!   optionally a JSON lines file in querycomb's findings schema (`querycomb.findings/v1`),
//!   so `querycomb diff` and baselines work on them.
//! - [`testing`]: [`assert_max_queries!`], [`assert_no_n_plus_one!`], the
//!   [`testing::QueryGuard`] type and [`testing::assert_flat_scaling`].
//! - [`middleware::BudgetLayer`]: a tower layer (axum, tonic, hyper) enforcing a per-route
//!   statement budget from querycomb's budgets file: log, or answer with a configured status.
//! - [`dataloader::Loader`]: a request-scoped batching loader with the contract of querycomb's
//!   fix advice (de-duplication, one batch per scheduling round, a hard maximum batch size,
//!   results in key order with explicit not-found and per-key errors).
//!
//! # Setting up
//! ```no_run
//! use tracing_subscriber::prelude::*;
//!
//! let guard = querycomb_guard::Guard::new();
//! tracing_subscriber::registry().with(guard.layer()).init();
//! // ... serve requests inside tower-http's TraceLayer or `guard.request_span(route)` ...
//! for finding in guard.findings() {
//!     println!("{}", finding.message);
//! }
//! ```
//! sqlx logs statements at `DEBUG` on target `sqlx::query`: a global filter (an `EnvFilter`
//! added with `.with(...)` rather than as a per-layer filter) that drops them hides them from
//! the guard too; give your formatting layer its filter with `.with_filter(...)` instead.
//!
//! # What sqlx's events cannot say
//! sqlx reports the statement text, rows and time, not the bind values. So each execution
//! of a statement with placeholders counts as a new parameter set (a loop over one id is
//! reported as an N+1 rather than a repeat; one batched statement fixes both), and an array
//! placeholder under `ANY(…)`/`unnest(…)` counts as a batch. `querycomb proxy` sees the
//! values and tells the two apart.
//!
//! # Overhead
//! Per statement: the fields of sqlx's event are read into a reused per-thread buffer, the
//! statement is fingerprinted once (scans of recent texts are remembered) and a fixed-size
//! record is pushed to its request, under one mutex. No allocation per statement beyond what
//! sqlx's event carries. The detectors run once per request, when it ends. Measured by
//! `cargo bench -p querycomb-guard` (see BENCHMARKS.md).

#![forbid(unsafe_code)]

mod binds;
mod budgets;
pub mod dataloader;
#[cfg(feature = "diesel")]
pub mod diesel;
mod guard;
mod layer;
pub mod middleware;
mod sqlx_event;
pub mod testing;

pub use budgets::{load_budgets, parse_budgets, BudgetError};
pub use guard::{Guard, GuardBuilder, RequestHandle, RequestReport};
pub use layer::GuardLayer;
pub use querycomb_core::{Finding, FindingKind, QueryRef, Severity};
pub use querycomb_detect::detectors::over_budget::{Budget, Budgets};
pub use querycomb_detect::Config;
pub use querycomb_sql::Dialect;
pub use sqlx_event::record_statement;

//! Query assertions for tests.
//!
//! ```ignore
//! // fails: "expected at most 3 statements, ran 9", with the N+1 it found
//! let page = querycomb_guard::assert_max_queries!(3, books_page(&pool)).await;
//! querycomb_guard::assert_no_n_plus_one!(books_page(&pool)).await;
//! ```
//!
//! Each assertion runs its future under a subscriber of its own (a registry with a fresh
//! [`Guard`]'s layer, current while the future is polled) inside one request span, so tests
//! running in parallel never see each other's statements and no global subscriber is needed.
//! What is counted: sqlx statements run while the future is polled, transaction control and
//! session bookkeeping excepted. Tasks spawned inside it are counted only when their future
//! carries the subscriber (`.with_current_subscriber()`) and the span (`.in_current_span()`).
//! Tracing output of the code under test is not shown by your own subscriber meanwhile.
//! sqlx must log statements (its default; `log_statements(LevelFilter::Off)` turns it off):
//! [`assert_flat_scaling`] and [`QueryGuard::max_statements`] fail when nothing was seen.

use querycomb_detect::detectors::{count_in_loop, mn_plus_one, n_plus_one, n_plus_one_write};
use std::fmt::Write as _;
use std::future::Future;

use querycomb_core::{Finding, FindingKind};
use tracing::instrument::WithSubscriber;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

use crate::guard::{lock, Guard, RequestReport};

/// Kinds that mean "a loop where one statement would do".
const LOOP_KINDS: [FindingKind; 4] = [
    n_plus_one::KIND,
    count_in_loop::KIND,
    mn_plus_one::KIND,
    n_plus_one_write::KIND,
];

/// Runs `future` as one request named `label` and returns its output and what the guard
/// saw. Panics if the guard could not observe it (which would make every count zero).
pub async fn observe<F: Future>(label: &str, future: F) -> (F::Output, RequestReport) {
    observe_with(Guard::builder().warn_events(false), label, future).await
}

/// [`observe`] with detection settings of your own (thresholds, budgets).
pub async fn observe_with<F: Future>(
    builder: crate::GuardBuilder,
    label: &str,
    future: F,
) -> (F::Output, RequestReport) {
    let guard = match builder.build() {
        Ok(guard) => guard,
        Err(e) => panic!("querycomb-guard: cannot set up the guard: {e}"),
    };
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(guard.layer()));
    let (span, handle) = tracing::dispatcher::with_default(&dispatch, || guard.request_span(label));
    assert!(
        handle.observed(),
        "querycomb-guard: the guard's layer did not see the request span of {label}"
    );
    let output = future.instrument(span).with_subscriber(dispatch).await;
    let report = handle
        .finish()
        .unwrap_or_else(|| panic!("querycomb-guard: no report for {label}"));
    (output, report)
}

/// Body of [`crate::assert_max_queries!`].
pub async fn assert_max_queries<F: Future>(max: u32, future: F, at: &str) -> F::Output {
    let (output, report) = observe(at, future).await;
    if report.statements > max {
        panic!(
            "querycomb-guard: expected at most {max} statements at {at}, ran {}{}",
            report.statements,
            describe_findings(&report.findings)
        );
    }
    output
}

/// Body of [`crate::assert_no_n_plus_one!`].
pub async fn assert_no_n_plus_one<F: Future>(future: F, at: &str) -> F::Output {
    let (output, report) = observe(at, future).await;
    let loops = loop_findings(&report.findings);
    if !loops.is_empty() {
        panic!(
            "querycomb-guard: N+1 at {at} ({} statements){}",
            report.statements,
            describe_findings(&loops)
        );
    }
    output
}

/// Fails with the findings printed unless at most `max` statements run inside `future`.
/// Evaluates to the future's output; use inside an async test.
#[macro_export]
macro_rules! assert_max_queries {
    ($max:expr, $future:expr $(,)?) => {
        $crate::testing::assert_max_queries(
            $max,
            $future,
            ::core::concat!(::core::file!(), ":", ::core::line!()),
        )
        .await
    };
}

/// Fails with parent, child, count and the batched SQL when `future` runs an N+1 (or a
/// count in a loop, an M×N+1, a write per row). Evaluates to the future's output.
#[macro_export]
macro_rules! assert_no_n_plus_one {
    ($future:expr $(,)?) => {
        $crate::testing::assert_no_n_plus_one(
            $future,
            ::core::concat!(::core::file!(), ":", ::core::line!()),
        )
        .await
    };
}

/// Watches several futures of one test and fails the test when it is dropped if any of them
/// ran a loop (or more statements than [`QueryGuard::max_statements`] allows), printing
/// each finding: parent, child, N and the batched SQL.
///
/// ```ignore
/// let guard = QueryGuard::new("books page").max_statements(5);
/// guard.watch(render_page(&pool)).await;
/// guard.watch(render_page(&pool)).await;
/// // dropped here: panics if either ran an N+1 or more than 5 statements
/// ```
pub struct QueryGuard {
    label: String,
    max_statements: Option<u32>,
    seen: std::sync::Mutex<Vec<RequestReport>>,
}

impl QueryGuard {
    pub fn new(label: impl Into<String>) -> Self {
        QueryGuard {
            label: label.into(),
            max_statements: None,
            seen: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Also fail when one watched future runs more than `max` statements (and when none
    /// ran any statement at all: sqlx's statement logging would be off).
    pub fn max_statements(mut self, max: u32) -> Self {
        self.max_statements = Some(max);
        self
    }

    /// Runs `future` as one request of this guard.
    pub async fn watch<F: Future>(&self, future: F) -> F::Output {
        let (output, report) = observe(&self.label, future).await;
        lock(&self.seen).push(report);
        output
    }

    /// Reports of the futures watched so far.
    pub fn reports(&self) -> Vec<RequestReport> {
        lock(&self.seen).clone()
    }

    /// What is wrong so far, empty when nothing is.
    pub fn problems(&self) -> String {
        let seen = lock(&self.seen);
        let mut out = String::new();
        for (index, report) in seen.iter().enumerate() {
            if let Some(max) = self.max_statements {
                if report.statements > max {
                    let _ = write!(
                        out,
                        "\nrun {}: {} statements, more than {max}",
                        index + 1,
                        report.statements
                    );
                }
            }
            let loops = loop_findings(&report.findings);
            if !loops.is_empty() {
                let _ = write!(out, "\nrun {}:{}", index + 1, describe_findings(&loops));
            }
        }
        if self.max_statements.is_some()
            && !seen.is_empty()
            && seen.iter().all(|r| r.statements == 0)
        {
            out.push_str("\nno statement was seen at all: is sqlx's statement logging off?");
        }
        out
    }
}

impl Drop for QueryGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let problems = self.problems();
        if !problems.is_empty() {
            panic!("querycomb-guard: {}:{problems}", self.label);
        }
    }
}

/// Runs `run(small)` and `run(large)` (each a fresh request) and fails when the larger one
/// ran more statements: the statement count must not grow with the data. Returns the two
/// counts. Fails too when neither ran any statement (nothing was observed).
pub async fn assert_flat_scaling<R, Fut>(small: usize, large: usize, mut run: R) -> (u32, u32)
where
    R: FnMut(usize) -> Fut,
    Fut: Future,
{
    assert!(
        small < large,
        "assert_flat_scaling: {small} is not smaller than {large}"
    );
    let (_, at_small) = observe(&format!("size {small}"), run(small)).await;
    let (_, at_large) = observe(&format!("size {large}"), run(large)).await;
    assert!(
        at_small.statements > 0 || at_large.statements > 0,
        "querycomb-guard: no statement was seen at either size: is sqlx's statement logging off?"
    );
    if at_large.statements > at_small.statements {
        panic!(
            "querycomb-guard: the statement count grows with the size: {} at {small}, {} at {large}{}",
            at_small.statements,
            at_large.statements,
            describe_findings(&at_large.findings)
        );
    }
    (at_small.statements, at_large.statements)
}

fn loop_findings(findings: &[Finding]) -> Vec<Finding> {
    findings
        .iter()
        .filter(|f| LOOP_KINDS.contains(&f.kind))
        .cloned()
        .collect()
}

/// Each finding as a test failure should show it: what, parent, child, N, the fix.
pub fn describe_findings(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let _ = write!(
            out,
            "\n  {} ({}): {}",
            querycomb_detect::kinds::info(f.kind).title,
            f.kind.id(),
            f.message
        );
        if let Some(parent) = &f.parent {
            let _ = write!(out, "\n    parent: {}", parent.normalized);
        }
        for child in &f.children {
            let _ = write!(out, "\n    child:  {}", child.normalized);
        }
        let _ = write!(
            out,
            "\n    N = {} ({} distinct parameter sets)",
            f.count, f.distinct_params
        );
        if let Some(fix) = &f.suggestion {
            let _ = write!(out, "\n    fix:    {}", fix.replace('\n', "\n            "));
        }
    }
    out
}

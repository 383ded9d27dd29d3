//! Diesel (≥ 2.2) through its `Instrumentation` hook (feature `diesel`).
//!
//! Diesel tells an instrumentation when each statement starts and finishes, on the thread
//! (or in the future, for diesel-async) that runs it, so the statement is reported inside
//! whatever span is current there: the guard's layer puts it in the enclosing request span
//! exactly as it does sqlx's events.
//!
//! ```ignore
//! use diesel::connection::set_default_instrumentation;
//! // every connection made from now on (pools included) reports to the guard
//! set_default_instrumentation(querycomb_guard::diesel::default_instrumentation)?;
//! // or one connection:
//! conn.set_instrumentation(querycomb_guard::diesel::GuardInstrumentation::new());
//! ```
//!
//! Diesel's synchronous connections run on a blocking thread in async servers
//! (`spawn_blocking`, deadpool's `interact`): carry the request span there
//! (`let span = Span::current(); spawn_blocking(move || span.in_scope(|| …))`), or the
//! statements belong to no request.
//!
//! Unlike sqlx's events, Diesel's carry the bind values: the guard hashes them (it never
//! keeps or prints them), so a loop over the same id is a repeat, not an N+1.

use std::fmt::Write as _;
use std::time::Instant;

use ::diesel::connection::{Instrumentation, InstrumentationEvent};
use querycomb_detect::hash::values_hash;

use crate::sqlx_event::OWN_TARGET;

/// What Diesel's `Display` of a query puts between the SQL and the bind values.
const BINDS_MARKER: &str = " -- binds: ";

/// Reports each statement a Diesel connection runs to the guard's layer. One per
/// connection; keeps a text buffer that grows to the longest statement and is reused.
#[derive(Debug, Default)]
pub struct GuardInstrumentation {
    started: Option<Instant>,
    text: String,
}

impl GuardInstrumentation {
    pub fn new() -> Self {
        GuardInstrumentation::default()
    }
}

/// For `diesel::connection::set_default_instrumentation`: every connection established
/// afterwards reports to the guard.
pub fn default_instrumentation() -> Option<Box<dyn Instrumentation>> {
    Some(Box::new(GuardInstrumentation::new()))
}

impl Instrumentation for GuardInstrumentation {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { .. } => self.started = Some(Instant::now()),
            InstrumentationEvent::FinishQuery { query, .. } => {
                let elapsed = self.started.take().map(|start| start.elapsed());
                // Outside every span no request can own the statement: skip Diesel's
                // rendering of it.
                if tracing::Span::current().is_none() {
                    return;
                }
                self.text.clear();
                if write!(self.text, "{query}").is_err() {
                    return;
                }
                let (sql, values) = split_binds(&self.text);
                let elapsed_us = elapsed.map(|e| u64::try_from(e.as_micros()).unwrap_or(u64::MAX));
                report(sql, values, elapsed_us);
            }
            _ => {}
        }
    }
}

/// One statement event for the layer (read like [`crate::record_statement`]'s).
fn report(sql: &str, values: Option<u64>, elapsed_us: Option<u64>) {
    tracing::debug!(
        target: OWN_TARGET,
        sql,
        elapsed_us,
        querycomb.values = values
    );
}

/// The SQL of Diesel's rendering of a query (`SQL -- binds: [..]`), and a hash of its bind
/// values (`None` for raw text run by `batch_execute`, which has no binds part).
fn split_binds(text: &str) -> (&str, Option<u64>) {
    match text.find(BINDS_MARKER) {
        Some(at) => {
            let sql = text.get(..at).unwrap_or(text);
            let binds = text.get(at + BINDS_MARKER.len()..).unwrap_or_default();
            (sql, Some(values_hash(0, Some(binds))))
        }
        None => (text, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_sql_from_its_binds() {
        let (sql, one) = split_binds("SELECT * FROM books WHERE author_id = $1 -- binds: [1]");
        assert_eq!(sql, "SELECT * FROM books WHERE author_id = $1");
        let (_, two) = split_binds("SELECT * FROM books WHERE author_id = $1 -- binds: [2]");
        let (_, again) = split_binds("SELECT * FROM books WHERE author_id = $1 -- binds: [1]");
        assert!(one.is_some() && one != two && one == again);
        assert_eq!(split_binds("BEGIN"), ("BEGIN", None));
    }
}

//! Reading sqlx's statement events.
//!
//! sqlx (0.7, 0.8) reports every statement when its query logger is dropped, as one event on
//! target `sqlx::query` (level `DEBUG` by default, `WARN` when slow) with the fields
//! `summary` (the first four words; the whole statement when that is all of it),
//! `db.statement` (empty when `summary` is the whole statement, else `"\n\n{sql}\n"`),
//! `rows_affected`, `rows_returned`, `elapsed` (Debug) and `elapsed_secs` (f64).
//! (sqlx-core 0.8.6 `src/logger.rs`, `QueryLogger::finish`.)
//!
//! The statement text is only lent to the visitor one field at a time, and the row count and
//! elapsed time come after it, so the text is copied into a buffer the caller reuses: no
//! allocation per statement once the buffer has grown to the longest statement.

use tracing::field::{Field, Visit};

/// The target of sqlx's statement events.
pub(crate) const SQLX_TARGET: &str = "sqlx::query";
/// The target of [`record_statement`]'s events.
pub(crate) const OWN_TARGET: &str = "querycomb_guard::statement";

/// Reports one executed statement to the guard, for drivers that do not emit sqlx's events
/// (call it where the driver tells you a statement finished, inside the request's span).
/// `sql` is the statement as executed; `rows` returned or affected, when known.
pub fn record_statement(sql: &str, rows: Option<u64>, elapsed: std::time::Duration) {
    let elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    tracing::debug!(target: "querycomb_guard::statement", sql, rows, elapsed_us);
}

/// One sqlx statement event, read.
pub(crate) struct SqlxStatement<'b> {
    sql: &'b mut String,
    /// `db.statement` was non-empty: `summary` was only an abbreviation.
    full_text: bool,
    rows_returned: Option<u64>,
    rows_affected: Option<u64>,
    pub elapsed_us: Option<u64>,
    /// A hash of the bind values, from drivers whose events carry them (Diesel).
    pub values: Option<u64>,
}

impl<'b> SqlxStatement<'b> {
    pub fn new(buffer: &'b mut String) -> Self {
        buffer.clear();
        SqlxStatement {
            sql: buffer,
            full_text: false,
            rows_returned: None,
            rows_affected: None,
            elapsed_us: None,
            values: None,
        }
    }

    pub fn sql(&self) -> &str {
        self.sql
    }

    /// Rows a query returned, else rows a write affected.
    pub fn rows(&self) -> Option<u64> {
        match (self.rows_returned, self.rows_affected) {
            (Some(returned), _) if returned > 0 => Some(returned),
            (_, Some(affected)) if affected > 0 => Some(affected),
            (returned, affected) => returned.or(affected),
        }
    }
}

impl Visit for SqlxStatement<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "db.statement" if !value.is_empty() => {
                let text = value.strip_prefix("\n\n").unwrap_or(value);
                let text = text.strip_suffix('\n').unwrap_or(text);
                self.sql.clear();
                self.sql.push_str(text);
                self.full_text = true;
            }
            "sql" => {
                self.sql.clear();
                self.sql.push_str(value);
                self.full_text = true;
            }
            "summary" if !self.full_text => {
                self.sql.clear();
                self.sql.push_str(value);
            }
            _ => {}
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "rows_returned" => self.rows_returned = Some(value),
            "rows_affected" => self.rows_affected = Some(value),
            "rows" => self.rows_returned = Some(value),
            "elapsed_us" => self.elapsed_us = Some(value),
            "querycomb.values" => self.values = Some(value),
            _ => {}
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if let Ok(value) = u64::try_from(value) {
            self.record_u64(field, value);
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "elapsed_secs" && value.is_finite() && value >= 0.0 {
            self.elapsed_us = Some((value * 1e6) as u64);
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

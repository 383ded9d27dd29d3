//! Log sources: PostgreSQL stderr/csvlog/jsonlog and MySQL/MariaDB general and slow logs (as
//! files, or as the rows of their log tables), as query events.
//!
//! Every reader has the same shape (see [`read_log`]): it streams a [`BufRead`], lends one
//! borrowed [`QueryEvent`](querycomb_core::QueryEvent) per executed statement to an
//! [`EventSink`], reports records it cannot understand through
//! [`EventSink::malformed`] and carries on. Only I/O errors end a read early.
//!
//! Module ownership: `postgres/*` and this file belong to the PostgreSQL sources, `mysql/*`
//! to the MySQL/MariaDB sources. Each format module exposes
//! `pub fn read(input, source, opts, sink) -> io::Result<ReadStats>` with the signature of
//! [`read_log`] minus the format.

// This crate reads untrusted bytes (log files, SQL text): no input may panic it. Tests may.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

use std::io::{self, BufRead};

use querycomb_core::{EventSink, SourceId};

mod lines;
pub mod mysql;
pub mod postgres;

/// The log formats querycomb reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogFormat {
    /// PostgreSQL `log_destination=stderr` (any `log_line_prefix`).
    PgStderr,
    /// PostgreSQL `log_destination=csvlog`.
    PgCsv,
    /// PostgreSQL 15+ `log_destination=jsonlog`.
    PgJson,
    /// MySQL 8 / MariaDB general query log.
    MySqlGeneral,
    /// MySQL / MariaDB slow query log.
    MySqlSlow,
    /// Rows of MySQL / MariaDB `mysql.general_log` (`log_output = TABLE`): the CSV engine's
    /// `general_log.CSV`, or a `mysql --batch` export.
    MySqlGeneralTable,
    /// Rows of MySQL / MariaDB `mysql.slow_log`, in the same two forms.
    MySqlSlowTable,
}

impl LogFormat {
    pub const ALL: [LogFormat; 7] = [
        LogFormat::PgStderr,
        LogFormat::PgCsv,
        LogFormat::PgJson,
        LogFormat::MySqlGeneral,
        LogFormat::MySqlSlow,
        LogFormat::MySqlGeneralTable,
        LogFormat::MySqlSlowTable,
    ];

    /// Stable short name, as accepted on the command line.
    pub fn id(self) -> &'static str {
        match self {
            LogFormat::PgStderr => "pg-stderr",
            LogFormat::PgCsv => "pg-csv",
            LogFormat::PgJson => "pg-json",
            LogFormat::MySqlGeneral => "mysql-general",
            LogFormat::MySqlSlow => "mysql-slow",
            LogFormat::MySqlGeneralTable => "mysql-general-table",
            LogFormat::MySqlSlowTable => "mysql-slow-table",
        }
    }

    pub fn from_id(id: &str) -> Option<LogFormat> {
        LogFormat::ALL.into_iter().find(|f| f.id() == id)
    }

    /// True for the PostgreSQL formats (so the caller can pick the SQL dialect).
    pub fn is_postgres(self) -> bool {
        matches!(
            self,
            LogFormat::PgStderr | LogFormat::PgCsv | LogFormat::PgJson
        )
    }
}

/// Guesses the format from the first few KiB of a log. `None` when nothing fits.
pub fn sniff(head: &[u8]) -> Option<LogFormat> {
    postgres::sniff(head).or_else(|| mysql::sniff(head))
}

/// Options a user can give that the log itself may not tell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// PostgreSQL `log_line_prefix` of a stderr log; auto-detected when `None`.
    pub log_line_prefix: Option<String>,
}

/// What one read saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Bytes consumed from the input.
    pub bytes: u64,
    /// Log records seen (a multi-line record counts once).
    pub records: u64,
    /// Query events emitted.
    pub events: u64,
    /// Records reported through [`EventSink::malformed`] and skipped.
    pub malformed: u64,
}

/// Reads a whole log of the given format into `sink`.
///
/// Only I/O errors are `Err`; malformed records go to `sink.malformed(..)` and reading
/// continues.
pub fn read_log(
    format: LogFormat,
    input: &mut dyn BufRead,
    source: SourceId,
    opts: &ReadOptions,
    sink: &mut dyn EventSink,
) -> io::Result<ReadStats> {
    match format {
        LogFormat::PgStderr => postgres::stderr::read(input, source, opts, sink),
        LogFormat::PgCsv => postgres::csv::read(input, source, opts, sink),
        LogFormat::PgJson => postgres::json::read(input, source, opts, sink),
        LogFormat::MySqlGeneral => mysql::general::read(input, source, opts, sink),
        LogFormat::MySqlSlow => mysql::slow::read(input, source, opts, sink),
        LogFormat::MySqlGeneralTable => mysql::table::read_general(input, source, opts, sink),
        LogFormat::MySqlSlowTable => mysql::table::read_slow(input, source, opts, sink),
    }
}

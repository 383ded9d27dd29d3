//! SQL lexing, fingerprinting, sqlcommenter tags and batched-query rewrites for the PostgreSQL
//! and MySQL dialects, and the standard quoting of the others (SQLite, SQL Server, Oracle:
//! [`Dialect::Ansi`]).
//!
//! - [`Fingerprinter::scan`] is the hot path (every statement): a fingerprint that ignores
//!   literals, placeholders, list lengths, comments, whitespace and keyword case, without
//!   allocating.
//! - [`Fingerprinter::describe`] runs once per new shape: normalised text and facts.
//! - [`comment::tags`] reads sqlcommenter tags; [`rewrite::batched`] proposes the statement that
//!   replaces a loop of one shape.
//!
//! # Normalisation rules
//! - Literals (numbers incl. `1e5`, `.5`, `0x1F`, `0b1`, `1_000`; strings incl. `E''`, `U&''`,
//!   `B''`, `X''`, `N''`, `$$..$$`, `$tag$..$tag$`, MySQL `"..."`; `TRUE`/`FALSE`) and
//!   placeholders (`$1`, `?`, `:name`, `%s`, `%(name)s`, `@p1`) are one "parameter" token:
//!   `= 1`, `= $1` and `= ?` fingerprint alike. Normalised text numbers them `$1, $2, ..` in
//!   PostgreSQL and writes `?` in MySQL. `NULL` stays a keyword (`IS NULL` is structure).
//! - A `-`/`+` directly before a number is part of the literal when an operand cannot precede
//!   it (start, operator, `(`, `,`, `[`, or a keyword such as `WHERE`/`THEN`/`LIMIT`), with or
//!   without a space (`= - 5`); after an operand it stays binary (`a - 5`).
//! - `IN (..)` and `ARRAY[..]` lists made only of literals/placeholders (optionally signed, cast,
//!   or tuples of such) hash as their first item plus a list marker, whatever their length;
//!   text `IN ($1, ...)`. A list holding anything else (`IN (1, a, 2)`, a subquery) is walked
//!   normally. Rows of a multi-row `VALUES` that repeat the first row's shape are dropped, so
//!   1 row and 50 rows fingerprint alike. [`Scan::max_list`] keeps the longest length.
//! - Casts are kept with their type (`$1::int` ≠ `$1::bigint`), unlike libpg_query.
//! - Unquoted words hash ASCII-case-folded (keywords and identifiers alike: PostgreSQL folds
//!   identifiers, and ORMs spell them consistently); text upper-cases keywords and keeps
//!   identifiers as written. Quoted identifiers (`"Users"`, `` `t` ``) hash exactly.
//!   Digits in names are kept (`users_2009` ≠ `users_2010`), unlike pt-fingerprint.
//! - `"x"` is an identifier in PostgreSQL and a string in MySQL; backslash escapes apply in
//!   MySQL strings and PostgreSQL `E''` strings only.
//! - Comments are dropped: `--` (MySQL: only before whitespace), `#` (MySQL only; in
//!   PostgreSQL it is an operator), `/* */` (nested in PostgreSQL). MySQL `/*! .. */` and
//!   `/*!50001 .. */` keep their content as SQL. A trailing `;` is dropped.
//! - PostgreSQL `?`: after an operand, `?|`, `?&`, `?#`, `?-|` and `??` are operators, and a bare
//!   `?` is the jsonb operator when a string literal or `$n` follows; otherwise `?` is a
//!   placeholder. In MySQL `?` is always a placeholder.
//! - `TRUE`/`FALSE` are values (`= true` is `= $1`) except after `IS` / `IS NOT`.
//! - `querycomb:allow` (any case), `querycomb='allow'` or `querycomb=allow` in any comment sets
//!   [`Scan::allow`].
//! - Nothing is truncated: every byte of a long statement is hashed.
//! - Fingerprints are stable across runs and machines (explicit little-endian reads, fixed
//!   constants; see `hash.rs`) and change only when these rules change.

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

pub mod class;
pub mod comment;
mod facts;
mod fingerprint;
mod hash;
mod keywords;
mod lexer;
pub mod rewrite;
pub mod split;
mod values;
mod verb;

#[cfg(feature = "scan-counter")]
pub use fingerprint::scans_so_far;
pub use fingerprint::{Fingerprinter, Scan, Shape};
pub use values::{param_count, param_values};
pub use verb::Verb;

/// The SQL dialect a statement is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// `"x"` is an identifier, `$1` placeholders, `$$` strings, nested `/* */`, jsonb `?` operators.
    Postgres,
    /// `"x"` is a string, backslash escapes, `#` comments, `/*! ... */` executable comments, `?` placeholders.
    MySql,
    /// The standard quoting most other SQL databases share (SQLite, SQL Server, Oracle, Db2):
    /// `"x"` is an identifier, no backslash escapes, `?`/`:name`/`@p1` placeholders (a `?` is
    /// never an operator). Normalised text writes `?`; batched rewrites use `IN (?, ...)`.
    Ansi,
}

impl Dialect {
    /// The nearest dialect of a database system as OpenTelemetry names it (`db.system.name`,
    /// or the older `db.system`); `None` for systems that are not SQL or not known.
    pub fn for_db_system(system: &str) -> Option<Dialect> {
        let system = system.trim();
        let is = |names: &[&str]| names.iter().any(|n| system.eq_ignore_ascii_case(n));
        if is(&[
            "postgresql",
            "postgres",
            "cockroachdb",
            "aws.redshift",
            "redshift",
            "yugabytedb",
            "timescaledb",
        ]) {
            Some(Dialect::Postgres)
        } else if is(&["mysql", "mariadb", "tidb", "singlestore", "memsql"]) {
            Some(Dialect::MySql)
        } else if is(&[
            "sqlite",
            "mssql",
            "microsoft.sql_server",
            "mssqlcompact",
            "oracle",
            "oracle.db",
            "db2",
            "ibm.db2",
            "h2",
            "h2database",
            "hsqldb",
            "derby",
            "firebird",
            "hanadb",
            "sap.hana",
            "sap.maxdb",
            "teradata",
            "informix",
            "ibm.informix",
            "trino",
            "instantdb",
            "intersystems_cache",
        ]) {
            Some(Dialect::Ansi)
        } else {
            None
        }
    }
}

//! SQL lexing, fingerprinting, sqlcommenter tags and batched-query rewrites for the PostgreSQL
//! and MySQL dialects.
//!
//! - [`Fingerprinter::scan`] is the hot path (every statement): a fingerprint that ignores
//!   literals, placeholders, list lengths, comments, whitespace and keyword case, without
//!   allocating.
//! - [`Fingerprinter::describe`] runs once per new shape: normalised text and facts.
//! - [`comment::tags`] reads sqlcommenter tags; [`rewrite::batched`] proposes the statement that
//!   replaces a loop of one shape.

pub mod comment;
mod facts;
mod fingerprint;
mod hash;
mod keywords;
mod lexer;
pub mod rewrite;
mod verb;

pub use fingerprint::{Fingerprinter, Scan, Shape};
pub use verb::Verb;

/// The SQL dialect a statement is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// `"x"` is an identifier, `$1` placeholders, `$$` strings, nested `/* */`, jsonb `?` operators.
    Postgres,
    /// `"x"` is a string, backslash escapes, `#` comments, `/*! ... */` executable comments, `?` placeholders.
    MySql,
}

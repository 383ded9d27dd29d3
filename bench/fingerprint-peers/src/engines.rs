//! The three fingerprinters under test, each behind the same small interface so the
//! timing loop treats them alike.

use crate::corpus::{CorpusDialect, Query};
use libdd_trace_obfuscation::obfuscation_config::{DbmsKind, SqlConfig};
use querycomb_sql::{Dialect, Fingerprinter};

/// Something that turns one query into a fingerprint-like value. `run` returns a value
/// the caller feeds to `black_box`, and whether the engine accepted the query.
pub trait Engine {
    fn name(&self) -> &'static str;
    fn run(&mut self, query: &Query) -> (u64, bool);
}

/// querycomb's hot path: `Fingerprinter::scan`, one reusable fingerprinter per dialect.
pub struct Querycomb {
    postgres: Fingerprinter,
    mysql: Fingerprinter,
}

impl Querycomb {
    pub fn new() -> Self {
        Querycomb {
            postgres: Fingerprinter::new(Dialect::Postgres),
            mysql: Fingerprinter::new(Dialect::MySql),
        }
    }

    pub fn fingerprinter(&mut self, dialect: CorpusDialect) -> &mut Fingerprinter {
        match dialect {
            CorpusDialect::Postgres => &mut self.postgres,
            CorpusDialect::MySql => &mut self.mysql,
        }
    }
}

impl Engine for Querycomb {
    fn name(&self) -> &'static str {
        "querycomb scan"
    }

    fn run(&mut self, query: &Query) -> (u64, bool) {
        let scan = self.fingerprinter(query.dialect).scan(&query.sql);
        (scan.fingerprint, true)
    }
}

/// libpg_query's parser-based fingerprint, default options (as the crate ships them).
pub struct PgQuery;

impl Engine for PgQuery {
    fn name(&self) -> &'static str {
        "pg_query::fingerprint"
    }

    fn run(&mut self, query: &Query) -> (u64, bool) {
        match pg_query::fingerprint(&query.sql, 0, 0) {
            Ok(fp) => (fp.value, true),
            Err(_) => (0, false),
        }
    }
}

/// Datadog's obfuscator with the agent's default SQL config and the query's dialect.
/// It returns normalised text, not a hash; we do not hash it for it, which favours it.
pub struct Datadog {
    config: SqlConfig,
}

impl Datadog {
    pub fn new() -> Self {
        Datadog {
            config: SqlConfig::default(),
        }
    }
}

impl Datadog {
    /// The obfuscated text, or None when the obfuscator rejects the query.
    pub fn text(&self, query: &Query) -> Option<String> {
        let dbms = match query.dialect {
            CorpusDialect::Postgres => DbmsKind::Postgresql,
            CorpusDialect::MySql => DbmsKind::Mysql,
        };
        libdd_trace_obfuscation::sql::obfuscate_sql(&query.sql, &self.config, dbms).ok()
    }
}

impl Engine for Datadog {
    fn name(&self) -> &'static str {
        "Datadog obfuscate_sql"
    }

    fn run(&mut self, query: &Query) -> (u64, bool) {
        match self.text(query) {
            Some(text) => (text.len() as u64, true),
            None => (0, false),
        }
    }
}

//! What a statement shape is *for*, decided once per shape from its normalised text: the
//! application's own work, a driver's or pool's housekeeping, or tooling (schema
//! introspection, migrations); and whether it marks where a unit of work starts or ends
//! (a pool's check-in reset, a check-out probe, a job-queue claim).
//!
//! Every rule is a fact about a client or a server, not a threshold: docs/configuration.md
//! lists each entry with the stack that sends it.

use crate::facts::{tokens, unquote, Tok};
use crate::lexer::Kind;
use crate::{Dialect, Shape, Verb};

/// Whose statement it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// The application's queries: candidates for findings.
    Application,
    /// Sent by drivers and pools on their own: liveness probes, session resets.
    Housekeeping,
    /// Sent by tools: schema introspection (system catalogs), migration bookkeeping.
    Tooling,
}

/// Where a statement sits in the life of a pooled connection, when that says where a unit
/// of work starts or ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Marker {
    None,
    /// A pool's reset when a connection is given back (`DISCARD ALL`, `RESET ALL`,
    /// asyncpg's `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`):
    /// the unit of work that used the connection is over.
    CheckIn,
    /// A liveness probe (`SELECT 1`, `SELECT version()`), sent when a connection is taken
    /// from a pool: a unit of work starts.
    CheckOut,
    /// A job-queue claim (`… FOR UPDATE SKIP LOCKED`, `pg_try_advisory_lock(…)`): a worker's
    /// next job starts. Repeating it is polling, not a missing memo.
    Claim,
}

/// A shape's purpose and marker, with the reason (for docs and `--explain`-style output).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Class {
    pub purpose: Purpose,
    pub marker: Marker,
    pub reason: &'static str,
}

impl Class {
    const APPLICATION: Class = Class {
        purpose: Purpose::Application,
        marker: Marker::None,
        reason: "application",
    };
}

/// Migration-history tables of common tools (compared ASCII-case-insensitively, schema
/// dropped), with the tool that owns each.
pub const MIGRATION_TABLES: &[(&str, &str)] = &[
    ("alembic_version", "Alembic"),
    ("django_migrations", "Django"),
    ("schema_migrations", "Rails, Ecto, golang-migrate"),
    ("ar_internal_metadata", "Rails"),
    ("flyway_schema_history", "Flyway"),
    ("schema_version", "Flyway before 5"),
    ("databasechangelog", "Liquibase"),
    ("databasechangeloglock", "Liquibase"),
    ("knex_migrations", "Knex"),
    ("knex_migrations_lock", "Knex"),
    ("sequelizemeta", "Sequelize"),
    ("__efmigrationshistory", "Entity Framework"),
    ("_prisma_migrations", "Prisma"),
    ("goose_db_version", "goose"),
    ("__diesel_schema_migrations", "Diesel"),
    ("_sqlx_migrations", "sqlx"),
    ("refinery_schema_history", "refinery"),
    ("doctrine_migration_versions", "Doctrine"),
    ("mikro_orm_migrations", "MikroORM"),
];

/// Schemas that hold a server's own catalogs.
pub const SYSTEM_SCHEMAS: &[&str] = &[
    "pg_catalog",
    "information_schema",
    "performance_schema",
    "mysql",
    "sys",
];

/// Functions that read or change a session setting (`SHOW` and `SET` as functions).
const SETTING_FUNCTIONS: &[&str] = &["current_setting", "set_config"];

/// Functions a liveness probe selects, alone and without arguments.
const PROBE_FUNCTIONS: &[&str] = &[
    "version",
    "current_schema",
    "current_database",
    "current_user",
    "session_user",
    "pg_backend_pid",
    "connection_id",
    "database",
];

/// Functions whose call makes a statement a queue claim (non-blocking lock attempts).
const CLAIM_FUNCTIONS: &[&str] = &[
    "pg_try_advisory_lock",
    "pg_try_advisory_xact_lock",
    "pg_try_advisory_lock_shared",
    "pg_try_advisory_xact_lock_shared",
];

/// The class of a described shape. Cheap enough for once per shape, never per statement.
pub fn classify(shape: &Shape, dialect: Dialect) -> Class {
    let toks = tokens(&shape.normalized, dialect);
    if let Some(class) = reset(&toks) {
        return class;
    }
    if let Some(class) = tooling(shape) {
        return class;
    }
    if shape.verb == Verb::Select && is_setting_call(&toks, shape) {
        return Class {
            purpose: Purpose::Housekeeping,
            marker: Marker::None,
            reason: "session setting",
        };
    }
    // An empty statement (`;`, only comments) does nothing but a round trip: the liveness
    // check of psycopg under SQLAlchemy's `pool_pre_ping`, and of pgjdbc's `isValid()`.
    let empty = toks.iter().all(|t| t.kind == Kind::Semi);
    if empty || (shape.verb == Verb::Select && is_probe(&toks, shape)) {
        return Class {
            purpose: Purpose::Housekeeping,
            marker: Marker::CheckOut,
            reason: "liveness probe",
        };
    }
    if is_claim(&toks) {
        return Class {
            marker: Marker::Claim,
            reason: "job-queue claim",
            ..Class::APPLICATION
        };
    }
    Class::APPLICATION
}

fn reset(toks: &[Tok<'_>]) -> Option<Class> {
    let first = toks.iter().find(|t| t.kind == Kind::Word)?;
    let second = toks.iter().filter(|t| t.kind == Kind::Word).nth(1);
    let is_all = second.is_some_and(|t| t.is_word("all"));
    let reset = first.is_word("discard")
        || first.is_word("unlisten")
        || (first.is_word("reset") && is_all)
        || calls(toks, &["pg_advisory_unlock_all"]);
    if reset {
        return Some(Class {
            purpose: Purpose::Housekeeping,
            marker: Marker::CheckIn,
            reason: "pool reset on check-in",
        });
    }
    first.is_word("reset").then_some(Class {
        purpose: Purpose::Housekeeping,
        marker: Marker::None,
        reason: "session setting",
    })
}

fn tooling(shape: &Shape) -> Option<Class> {
    let mut reason = None;
    for table in &shape.tables {
        let (schema, name) = match table.rsplit_once('.') {
            Some((schema, name)) => (Some(unquote(schema)), unquote(name)),
            None => (None, unquote(table)),
        };
        let system_schema = schema
            .as_deref()
            .is_some_and(|s| SYSTEM_SCHEMAS.iter().any(|x| s.eq_ignore_ascii_case(x)));
        // PostgreSQL reserves the `pg_` prefix for its own catalogs and views.
        let system_name =
            schema.is_none() && name.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("pg_"));
        if system_schema || system_name {
            reason = Some("schema introspection (system catalogs)");
            break;
        }
        if MIGRATION_TABLES
            .iter()
            .any(|(t, _)| name.eq_ignore_ascii_case(t))
        {
            reason = Some("migration history");
            break;
        }
    }
    reason.map(|reason| Class {
        purpose: Purpose::Tooling,
        marker: Marker::None,
        reason,
    })
}

/// `SELECT 1`, `SELECT 1 AS ping`, `SELECT version()`, `SELECT pg_catalog.version()`: one
/// constant or one server-information call, no table, no filter.
fn is_probe(toks: &[Tok<'_>], shape: &Shape) -> bool {
    if !shape.tables.is_empty() {
        return false;
    }
    let mut items = toks.iter().skip_while(|t| !t.is_word("select")).skip(1);
    let mut item: Vec<&Tok<'_>> = items.by_ref().take_while(|t| !t.is_word("as")).collect();
    if item.last().is_some_and(|t| t.kind == Kind::Semi) {
        item.pop();
    }
    let rest: Vec<&Tok<'_>> = items.collect();
    // After `AS`: one alias word, nothing else.
    let alias_ok = match rest.as_slice() {
        [] => true,
        [alias] => alias.kind == Kind::Word,
        _ => false,
    };
    if !alias_ok {
        return false;
    }
    let call = |name: &Tok<'_>, open: &Tok<'_>, close: &Tok<'_>| {
        open.kind == Kind::LParen
            && close.kind == Kind::RParen
            && PROBE_FUNCTIONS.iter().any(|f| name.is_word(f))
    };
    match item.as_slice() {
        [one] => one.kind == Kind::Param,
        [name, open, close] => call(name, open, close),
        [schema, dot, name, open, close] => {
            schema.is_word("pg_catalog") && dot.kind == Kind::Dot && call(name, open, close)
        }
        _ => false,
    }
}

/// `SELECT current_setting('jit'), set_config('jit', 'off', false)`: the function forms of
/// `SHOW` and `SET`, with no table, calling nothing else (asyncpg sends this around its
/// type introspection). Session bookkeeping, like `SET` and `RESET`.
fn is_setting_call(toks: &[Tok<'_>], shape: &Shape) -> bool {
    if !shape.tables.is_empty() {
        return false;
    }
    let mut called = toks.windows(2).filter_map(|w| match w {
        [name, open] if name.kind == Kind::Word && open.kind == Kind::LParen => Some(*name),
        _ => None,
    });
    let mut any = false;
    called.all(|name| {
        any = true;
        SETTING_FUNCTIONS.iter().any(|f| name.is_word(f))
    }) && any
}

fn is_claim(toks: &[Tok<'_>]) -> bool {
    let skip_locked = toks
        .windows(2)
        .any(|w| matches!(w, [a, b] if a.is_word("skip") && b.is_word("locked")));
    skip_locked || calls(toks, CLAIM_FUNCTIONS) || calls(toks, &["get_lock"])
}

/// A call of one of `functions` (a word followed by `(`), schema-qualified or not.
fn calls(toks: &[Tok<'_>], functions: &[&str]) -> bool {
    toks.windows(2).any(|w| {
        matches!(w, [name, open] if name.kind == Kind::Word
            && open.kind == Kind::LParen
            && functions.iter().any(|f| name.is_word(f)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Fingerprinter;

    fn class_of(sql: &str) -> (Purpose, Marker) {
        let shape = Fingerprinter::new(Dialect::Postgres).describe(sql);
        let class = classify(&shape, Dialect::Postgres);
        (class.purpose, class.marker)
    }

    #[test]
    fn pool_resets_end_a_unit() {
        for sql in [
            "DISCARD ALL",
            "RESET ALL",
            "UNLISTEN *",
            "SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;",
        ] {
            assert_eq!(
                class_of(sql),
                (Purpose::Housekeeping, Marker::CheckIn),
                "{sql}"
            );
        }
        assert_eq!(
            class_of("RESET search_path"),
            (Purpose::Housekeeping, Marker::None)
        );
    }

    #[test]
    fn setting_functions_are_session_bookkeeping() {
        for sql in [
            "SELECT current_setting('jit') AS cur, set_config('jit', 'off', false) AS new",
            "SELECT set_config('jit', $1, false)",
            "select pg_catalog.current_setting('search_path')",
        ] {
            assert_eq!(
                class_of(sql),
                (Purpose::Housekeeping, Marker::None),
                "{sql}"
            );
        }
        for sql in [
            "SELECT current_setting('app.tenant'), count(*) FROM orders",
            "SELECT now(), current_setting('TimeZone')",
            "SELECT 1 WHERE current_setting('x') IN ('a', 'b')",
            "SELECT now()",
        ] {
            assert_eq!(class_of(sql).0, Purpose::Application, "{sql}");
        }
    }

    #[test]
    fn probes_start_a_unit() {
        for sql in [
            "SELECT 1",
            "select 1;",
            "/* ping */ SELECT 1",
            "SELECT 1 AS ping",
            "SELECT version()",
            "select pg_catalog.version()",
            "SELECT current_schema()",
            ";",
            "",
            " /* ping */ ;",
        ] {
            assert_eq!(
                class_of(sql),
                (Purpose::Housekeeping, Marker::CheckOut),
                "{sql}"
            );
        }
        for sql in [
            "SELECT 1 FROM users WHERE id = 4",
            "SELECT 1, 2",
            "SELECT now()",
            "SELECT version(1)",
            "SELECT nextval('s')",
            "SELECT 1 WHERE false",
        ] {
            assert_eq!(class_of(sql).0, Purpose::Application, "{sql}");
        }
    }

    #[test]
    fn catalogs_and_migrations_are_tooling() {
        for sql in [
            "SELECT t.oid FROM pg_catalog.pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE typname = $1",
            "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r'",
            "SELECT * FROM information_schema.columns WHERE table_name = 'x'",
            "SELECT version_num FROM alembic_version",
            "UPDATE alembic_version SET version_num = 'b' WHERE alembic_version.version_num = 'a'",
            "SELECT \"SequelizeMeta\".name FROM \"SequelizeMeta\"",
            "INSERT INTO \"__EFMigrationsHistory\" VALUES ('x', 'y')",
            "SELECT * FROM public.django_migrations",
        ] {
            assert_eq!(class_of(sql), (Purpose::Tooling, Marker::None), "{sql}");
        }
        for sql in [
            "SELECT * FROM pages WHERE id = 1",
            "SELECT * FROM public.migrations_report",
            "SELECT * FROM app.versions",
        ] {
            assert_eq!(class_of(sql).0, Purpose::Application, "{sql}");
        }
    }

    #[test]
    fn queue_claims_are_application_work_that_marks_a_job() {
        for sql in [
            "SELECT id FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
            "UPDATE jobs SET state = 'running' WHERE id = (SELECT id FROM jobs WHERE state = 'queued' ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING id",
            "SELECT pg_try_advisory_lock(42)",
            "WITH j AS (SELECT id FROM jobs LIMIT 10) SELECT id FROM j WHERE pg_try_advisory_lock(id)",
        ] {
            assert_eq!(class_of(sql), (Purpose::Application, Marker::Claim), "{sql}");
        }
        assert_eq!(
            class_of("SELECT * FROM jobs WHERE id = 1 FOR UPDATE").1,
            Marker::None
        );
    }
}

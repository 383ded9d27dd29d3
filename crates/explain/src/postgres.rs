//! The plan check against PostgreSQL.
//!
//! Every statement runs inside `BEGIN READ ONLY` with `SET LOCAL statement_timeout` and
//! `lock_timeout`, checked with `SHOW transaction_read_only` before anything is explained,
//! and the transaction is always rolled back (also when a step fails, by the guard's drop).
//! Only SELECT children are explained; `EXPLAIN ANALYZE` (with `--analyze`) runs them, which
//! the read-only transaction confines to reading.

use postgres::{Client, NoTls, SimpleQueryMessage, Transaction};
use querycomb_core::{Access, Finding, KeySource, PlanCheck};

use crate::batch::{self, array_literal, ident, literal, Keys, Statements};
use crate::plan::Plan;
use crate::verdict::{decide, Explained, TableFacts};
use crate::Options;

/// A connection that explains findings.
pub struct PgExplainer {
    client: Client,
    server: String,
    version: u32,
    options: Options,
}

impl PgExplainer {
    pub fn connect(dsn: &str, options: Options) -> Result<PgExplainer, String> {
        let mut client = Client::connect(dsn, NoTls)
            .map_err(|e| format!("cannot connect to {}: {e}", redact(dsn)))?;
        let row = client
            .query_one(
                "SELECT current_setting('server_version'), current_setting('server_version_num')::int",
                &[],
            )
            .map_err(|e| format!("cannot read the server version: {e}"))?;
        let version: i32 = row.get(1);
        Ok(PgExplainer {
            server: format!("PostgreSQL {}", row.get::<_, String>(0)),
            version: version.max(0) as u32,
            client,
            options,
        })
    }

    /// The plan check of one finding (never an error: a failure is a `skipped` verdict).
    pub fn check(&mut self, finding: &Finding) -> PlanCheck {
        let Some(child) = finding.children.first() else {
            return PlanCheck::skipped("the finding has no child statement");
        };
        let statements = match batch::statements(&child.normalized) {
            Ok(s) => s,
            Err(why) => return PlanCheck::skipped(why.reason()),
        };
        let params = querycomb_sql::param_count(&child.normalized);
        let keys: Vec<&Keys> = finding
            .fix
            .captured_keys
            .iter()
            .filter(|k| k.len() == params)
            .collect();
        let mut check = match self.guarded(|tx, opts, version| {
            explain_finding(tx, opts, version, &statements, &keys, finding.count)
        }) {
            Ok(check) => check,
            Err(e) => PlanCheck::skipped(format!("EXPLAIN failed: {e}")),
        };
        check.server = Some(self.server.clone());
        check
    }

    /// Runs `f` in a read-only transaction with timeouts, and rolls it back whatever happens.
    fn guarded<T>(
        &mut self,
        f: impl FnOnce(&mut Transaction<'_>, &Options, u32) -> Result<T, String>,
    ) -> Result<T, String> {
        let mut tx = self
            .client
            .build_transaction()
            .read_only(true)
            .start()
            .map_err(db_error)?;
        tx.batch_execute(&format!(
            "SET LOCAL statement_timeout = {}; SET LOCAL lock_timeout = {}",
            self.options.statement_timeout_ms, self.options.lock_timeout_ms
        ))
        .map_err(db_error)?;
        let read_only: String = tx
            .query_one("SHOW transaction_read_only", &[])
            .map_err(db_error)?
            .get(0);
        if read_only != "on" {
            return Err("the transaction is not read-only: nothing explained".into());
        }
        let result = f(&mut tx, &self.options, self.version);
        tx.rollback().map_err(db_error)?;
        result
    }
}

fn explain_finding(
    tx: &mut Transaction<'_>,
    options: &Options,
    version: u32,
    s: &Statements,
    keys: &[&Keys],
    count: u32,
) -> Result<PlanCheck, String> {
    let first = keys
        .iter()
        .find(|k| k.get(s.key_child_param).is_some_and(Option::is_some));
    let mut distinct: Vec<&str> = Vec::new();
    for k in keys {
        if let Some(Some(v)) = k.get(s.key_child_param) {
            if !distinct.contains(&v.as_str()) {
                distinct.push(v);
            }
        }
    }
    let table = s
        .key_qualifier
        .clone()
        .or_else(|| s.tables.first().cloned());
    let table = table.as_deref();
    let (child_plan, batch_plan, source) = match first {
        Some(first) => {
            let explain = |tx: &mut Transaction<'_>, sql: &str| explain(tx, sql, options.analyze);
            let child = explain(tx, &bind(&s.child, |i| literal(value(first, i))))?;
            let batch = explain(tx, &batched_sql(s, first, &distinct))?;
            (child, batch, KeySource::Captured)
        }
        None => {
            let child = explain_generic(tx, version, &s.child, "qc_child")?;
            let batch = explain_generic(tx, version, &s.batched, "qc_batch")?;
            (child, batch, KeySource::Generic)
        }
    };
    let child = child_plan.summary(table);
    let batched = batch_plan.summary(table);
    let relation = child_plan
        .relation(table)
        .or_else(|| batch_plan.relation(table));
    let facts = match &relation {
        Some(rel) => table_facts(tx, rel, &s.key_column, options)?,
        None => None,
    };
    let explained = Explained {
        child,
        batched,
        facts,
        source,
        keys: distinct.len() as u32,
        batched_sql: s.batched.clone(),
        count,
        key_column: &s.key_column,
        table,
    };
    decide(explained, || match first {
        Some(first) => flip_point(tx, s, first, &distinct, table).map(Some),
        None => Ok(None),
    })
}

fn value(keys: &Keys, i: usize) -> Option<&str> {
    keys.get(i).and_then(Option::as_deref)
}

/// The batched statement with `keys` as its key array and `first`'s other values.
fn batched_sql(s: &Statements, first: &Keys, keys: &[&str]) -> String {
    bind(&s.batched, |j| {
        if j == s.key_param {
            array_literal(keys.iter().copied())
        } else {
            let from = s.batched_from_child.get(j).copied().unwrap_or(usize::MAX);
            literal(value(first, from))
        }
    })
}

/// The smallest key count (a prefix of the captured keys) whose batch reads the table by a
/// sequential scan; plans are monotone enough in the key count for a binary search.
fn flip_point(
    tx: &mut Transaction<'_>,
    s: &Statements,
    first: &Keys,
    keys: &[&str],
    table: Option<&str>,
) -> Result<u32, String> {
    let (mut good, mut bad) = (0usize, keys.len());
    while bad - good > 1 {
        let mid = good + (bad - good) / 2;
        let plan = explain(
            tx,
            &batched_sql(s, first, keys.get(..mid).unwrap_or(keys)),
            false,
        )?;
        if plan.summary(table).access == Access::Seq {
            bad = mid;
        } else {
            good = mid;
        }
    }
    Ok(bad as u32)
}

/// `sql` with each `$n` replaced by `value(n - 1)`.
fn bind(sql: &str, value: impl Fn(usize) -> String) -> String {
    let mut out = String::with_capacity(sql.len());
    let bytes = sql.as_bytes();
    let (mut i, mut at, mut quoted) = (0, 0, false);
    while let Some(&b) = bytes.get(i) {
        if b == b'"' {
            quoted = !quoted;
        } else if b == b'$' && !quoted {
            let digits = bytes
                .get(i + 1..)
                .unwrap_or_default()
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            if let Some(n) = sql
                .get(i + 1..i + 1 + digits)
                .and_then(|d| d.parse::<usize>().ok())
            {
                out.push_str(sql.get(at..i).unwrap_or_default());
                out.push_str(&value(n.saturating_sub(1)));
                at = i + 1 + digits;
                i = at;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(sql.get(at..).unwrap_or_default());
    out
}

fn explain(tx: &mut Transaction<'_>, sql: &str, analyze: bool) -> Result<Plan, String> {
    let options = if analyze {
        "ANALYZE, BUFFERS, FORMAT JSON"
    } else {
        "FORMAT JSON"
    };
    plan_of(tx, &format!("EXPLAIN ({options}) {sql}"))
}

/// A plan that holds for any values: `EXPLAIN (GENERIC_PLAN)` on PostgreSQL 16+, else a
/// prepared statement planned with `plan_cache_mode = force_generic_plan` (the NULLs bound
/// then are not looked at by the planner).
fn explain_generic(
    tx: &mut Transaction<'_>,
    version: u32,
    sql: &str,
    name: &str,
) -> Result<Plan, String> {
    if version >= 160_000 {
        return plan_of(tx, &format!("EXPLAIN (GENERIC_PLAN, FORMAT JSON) {sql}"));
    }
    let params = querycomb_sql::param_count(sql);
    tx.batch_execute(&format!(
        "SET LOCAL plan_cache_mode = force_generic_plan; PREPARE {name} AS {sql}"
    ))
    .map_err(db_error)?;
    let nulls = vec!["NULL"; params].join(", ");
    let args = if params == 0 {
        String::new()
    } else {
        format!("({nulls})")
    };
    let plan = plan_of(tx, &format!("EXPLAIN (FORMAT JSON) EXECUTE {name}{args}"));
    tx.batch_execute(&format!("DEALLOCATE {name}"))
        .map_err(db_error)?;
    plan
}

/// The server's message and SQLSTATE (the driver's own text for a database error is only
/// "db error").
fn db_error(e: postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

fn plan_of(tx: &mut Transaction<'_>, statement: &str) -> Result<Plan, String> {
    let messages = tx.simple_query(statement).map_err(db_error)?;
    let text = messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
        .ok_or_else(|| "EXPLAIN returned no plan".to_owned())?;
    Plan::parse(&text)
}

fn table_facts(
    tx: &mut Transaction<'_>,
    relation: &str,
    column: &str,
    options: &Options,
) -> Result<Option<TableFacts>, String> {
    let row = tx
        .query_opt(
            "SELECT n.nspname::text, c.relname::text, greatest(c.reltuples, 0)::bigint,
                    pg_total_relation_size(c.oid), c.relpages::bigint,
                    (SELECT i.indexrelid::regclass::text FROM pg_index i
                       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                      WHERE i.indrelid = c.oid AND a.attname = $2 AND i.indpred IS NULL
                      ORDER BY i.indisunique DESC LIMIT 1),
                    (SELECT CASE k.contype WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique key'
                              ELSE 'foreign key to ' || k.confrelid::regclass::text || ' ('
                                   || (SELECT string_agg(f.attname, ', ') FROM pg_attribute f
                                        WHERE f.attrelid = k.confrelid AND f.attnum = ANY (k.confkey))
                                   || ')' END
                       FROM pg_constraint k
                       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = $2
                      WHERE k.conrelid = c.oid AND k.contype IN ('p', 'u', 'f')
                        AND k.conkey = ARRAY[a.attnum]
                      ORDER BY k.contype = 'f', k.contype LIMIT 1)
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.oid = to_regclass($1)",
            &[&ident(relation), &column],
        )
        .map_err(db_error)?;
    Ok(row.map(|row| {
        let schema: String = row.get(0);
        let relation: String = row.get(1);
        let pages = row.get::<_, i64>(4).max(0) as u64;
        TableFacts {
            table: format!("{schema}.{relation}"),
            create_index: create_index(&schema, &relation, column),
            rows: row.get::<_, i64>(2).max(0) as u64,
            bytes: row.get::<_, i64>(3).max(0) as u64,
            small: pages <= options.small_table_pages,
            leading_index: row.get(5),
            key: row.get(6),
        }
    }))
}

/// `CREATE INDEX CONCURRENTLY books_title_idx ON public.books (title);`
fn create_index(schema: &str, relation: &str, column: &str) -> String {
    format!(
        "CREATE INDEX CONCURRENTLY {} ON {}.{} ({});",
        ident(&format!("{relation}_{column}_idx")),
        ident(schema),
        ident(relation),
        ident(column)
    )
}

/// The DSN without its password, for messages.
pub fn redact(dsn: &str) -> String {
    match (dsn.find("://"), dsn.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let auth = dsn.get(scheme + 3..at).unwrap_or_default();
            match auth.split_once(':') {
                Some((user, _)) => format!(
                    "{}{user}:***{}",
                    dsn.get(..scheme + 3).unwrap_or_default(),
                    dsn.get(at..).unwrap_or_default()
                ),
                None => dsn.to_owned(),
            }
        }
        _ if dsn.contains("password") => "the DSN given (password not shown)".to_owned(),
        _ => dsn.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_placeholders_outside_quoted_names() {
        assert_eq!(
            bind(
                r#"SELECT "$1" FROM t WHERE a = $1 AND b = $10"#,
                |i| format!("<{i}>")
            ),
            r#"SELECT "$1" FROM t WHERE a = <0> AND b = <9>"#
        );
    }

    #[test]
    fn passwords_never_in_messages() {
        assert_eq!(
            redact("postgres://qc:secret@127.0.0.1:5432/db"),
            "postgres://qc:***@127.0.0.1:5432/db"
        );
        assert!(!redact("host=x password=secret").contains("secret"));
    }
}

//! The plan check against MySQL and MariaDB (`mysql://` or `mariadb://` DSNs).
//!
//! The guard: the session is made read-only (`SET SESSION TRANSACTION READ ONLY`, then
//! checked through `@@session.transaction_read_only`, or `tx_read_only` on servers that only
//! know the old name) with a statement time limit (`max_statement_time` on MariaDB,
//! `max_execution_time` on MySQL) and `lock_wait_timeout`/`innodb_lock_wait_timeout`; each
//! finding is explained inside `START TRANSACTION READ ONLY` and always rolled back. Only
//! SELECT children are explained, with `EXPLAIN FORMAT=JSON` (`--analyze`: MariaDB's
//! `ANALYZE FORMAT=JSON`, which runs the SELECT inside that transaction; MySQL's JSON
//! `EXPLAIN ANALYZE` is too new to rely on, so there it stays a plain EXPLAIN).
//!
//! MySQL has no generic plans: a statement with `?` cannot be explained, so a finding
//! without captured values is `skipped` (server logs write the values inline, so they are
//! captured whenever the log had them).

use mysql::prelude::Queryable;
use mysql::{Conn, Opts};
use querycomb_core::{Access, Finding, KeySource, PlanCheck, PlanSummary};
use querycomb_sql::Dialect;
use serde_json::Value;

use crate::batch::{batched_rewrite, Keys, NotExplainable};
use crate::postgres::redact;
use crate::verdict::{decide, Explained, TableFacts};
use crate::Options;

/// A connection to MySQL or MariaDB that cannot change anything: read-only, with a time
/// limit on every statement and on lock waits, checked before it is handed out. The plan
/// check explains through one; `querycomb analyze mysql://…/mysql.general_log` reads the
/// log tables through one.
pub struct ReadOnlySession {
    pub conn: Conn,
    /// `MariaDB 10.11.19`, `MySQL 8.0.36`.
    pub server: String,
    pub mariadb: bool,
}

impl ReadOnlySession {
    /// Connects to `dsn` (`mysql://` or `mariadb://`; the password is never shown in an
    /// error) and guards the session.
    pub fn open(
        dsn: &str,
        statement_timeout_ms: u64,
        lock_timeout_ms: u64,
    ) -> Result<ReadOnlySession, String> {
        let url = match dsn.strip_prefix("mariadb://") {
            Some(rest) => format!("mysql://{rest}"),
            None => dsn.to_owned(),
        };
        let opts =
            Opts::from_url(&url).map_err(|e| format!("not a MySQL DSN: {}: {e}", redact(dsn)))?;
        let mut conn =
            Conn::new(opts).map_err(|e| format!("cannot connect to {}: {e}", redact(dsn)))?;
        let version: String = conn
            .query_first("SELECT VERSION()")
            .map_err(|e| format!("cannot read the server version: {e}"))?
            .unwrap_or_default();
        let mariadb = version.contains("MariaDB");
        let number = version.split('-').next().unwrap_or(&version).to_owned();
        let mut session = ReadOnlySession {
            conn,
            server: format!("{} {number}", if mariadb { "MariaDB" } else { "MySQL" }),
            mariadb,
        };
        session.guard(statement_timeout_ms, lock_timeout_ms)?;
        Ok(session)
    }

    /// Limits and read-only mode for the whole session, checked before anything runs.
    fn guard(&mut self, statement_timeout_ms: u64, lock_timeout_ms: u64) -> Result<(), String> {
        let ms = statement_timeout_ms.max(1);
        let time_limit = if self.mariadb {
            format!("SET SESSION max_statement_time = {:.3}", ms as f64 / 1000.0)
        } else {
            format!("SET SESSION max_execution_time = {ms}")
        };
        // Lock waits are whole seconds here; never 0 (that would be "no wait" only on some
        // servers and an error on others).
        let lock_secs = lock_timeout_ms.div_ceil(1000).max(1);
        for statement in [
            time_limit,
            format!("SET SESSION lock_wait_timeout = {lock_secs}"),
            format!("SET SESSION innodb_lock_wait_timeout = {lock_secs}"),
            "SET SESSION TRANSACTION READ ONLY".to_owned(),
        ] {
            self.conn
                .query_drop(&statement)
                .map_err(|e| format!("{statement}: {e}"))?;
        }
        let read_only: Option<i64> = self
            .conn
            .query_first("SELECT @@session.transaction_read_only")
            .or_else(|_| self.conn.query_first("SELECT @@session.tx_read_only"))
            .map_err(|e| format!("cannot read the session's read-only mode: {e}"))?;
        if read_only != Some(1) {
            return Err("the session is not read-only: nothing done".into());
        }
        Ok(())
    }
}

/// A connection that explains findings.
pub struct MyExplainer {
    session: ReadOnlySession,
    options: Options,
}

impl MyExplainer {
    pub fn connect(dsn: &str, options: Options) -> Result<MyExplainer, String> {
        let session =
            ReadOnlySession::open(dsn, options.statement_timeout_ms, options.lock_timeout_ms)?;
        Ok(MyExplainer { session, options })
    }

    /// The plan check of one finding (never an error: a failure is a `skipped` verdict).
    pub fn check(&mut self, finding: &Finding) -> PlanCheck {
        let Some(child) = finding.children.first() else {
            return PlanCheck::skipped("the finding has no child statement");
        };
        let statements = match statements(&child.normalized) {
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
        let mut check = if keys.is_empty() {
            PlanCheck::skipped(
                "no values were captured, and MySQL/MariaDB cannot explain a statement with placeholders (there are no generic plans)",
            )
        } else {
            let analyze = self.options.analyze && self.session.mariadb;
            let (options, count) = (self.options.clone(), finding.count);
            match self
                .guarded(|conn| explain_finding(conn, &options, analyze, &statements, &keys, count))
            {
                Ok(check) => check,
                Err(e) => PlanCheck::skipped(format!("EXPLAIN failed: {e}")),
            }
        };
        check.server = Some(self.session.server.clone());
        check
    }

    /// Runs `f` in a read-only transaction, and rolls it back whatever happens.
    fn guarded<T>(&mut self, f: impl FnOnce(&mut Conn) -> Result<T, String>) -> Result<T, String> {
        let conn = &mut self.session.conn;
        conn.query_drop("START TRANSACTION READ ONLY")
            .map_err(db_error)?;
        let result = f(conn);
        conn.query_drop("ROLLBACK").map_err(db_error)?;
        result
    }
}

/// The child and its batched rewrite in MySQL form.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Statements {
    /// The child, as normalised (`?` placeholders).
    child: String,
    /// The batched rewrite before and after its `IN (?, ...)`.
    before_keys: String,
    after_keys: String,
    /// The child's parameter (0-based) the loop varies: the key.
    key_param: usize,
    key_qualifier: Option<String>,
    key_column: String,
    tables: Vec<String>,
}

impl Statements {
    fn batched(&self) -> String {
        format!("{}IN (?, ...){}", self.before_keys, self.after_keys)
    }
}

const KEY_LIST: &str = "IN (?, ...)";

/// Both statements from a MySQL child's normalised text.
fn statements(child: &str) -> Result<Statements, NotExplainable> {
    let (shape, rewrite) = batched_rewrite(child, Dialect::MySql)?;
    let at = rewrite
        .sql
        .find(KEY_LIST)
        .ok_or(NotExplainable::NoRewrite)?;
    let before = rewrite.sql.get(..at).unwrap_or_default();
    let after = rewrite.sql.get(at + KEY_LIST.len()..).unwrap_or_default();
    let key_param = placeholders(before);
    // The rewrite keeps the child's placeholders in order, the key's as the list (a LIMIT
    // it drops is the last one); anything else cannot be bound from the child's values.
    if key_param + 1 + placeholders(after) > querycomb_sql::param_count(child) {
        return Err(NotExplainable::NoRewrite);
    }
    let (key_qualifier, key_column) = key_operand(before);
    Ok(Statements {
        child: child.to_owned(),
        before_keys: before.to_owned(),
        after_keys: after.to_owned(),
        key_param,
        key_qualifier,
        key_column,
        tables: shape.tables,
    })
}

/// `?` outside quoted names (normalised text holds no string literals).
fn placeholders(sql: &str) -> usize {
    let mut quote = None;
    sql.chars()
        .filter(|&c| {
            match (quote, c) {
                (None, '`' | '"') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                _ => {}
            }
            quote.is_none() && c == '?'
        })
        .count()
}

/// `(qualifier, column)` of the operand just before the key list: `` `b`.`author_id` ``.
fn key_operand(before: &str) -> (Option<String>, String) {
    let trimmed = before.trim_end();
    let start = trimmed
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '`' | '"')))
        .map_or(0, |i| i + 1);
    let operand = trimmed.get(start..).unwrap_or_default();
    let mut parts: Vec<String> = operand
        .split('.')
        .map(|p| p.trim_matches(|c| c == '`' || c == '"').to_owned())
        .collect();
    let column = parts.pop().unwrap_or_default();
    (parts.pop(), column)
}

/// `sql` with its `?` (from the `first`-th on) replaced by `value(i)`.
fn bind(sql: &str, first: usize, value: impl Fn(usize) -> String) -> String {
    let mut out = String::with_capacity(sql.len());
    let (mut quote, mut index) = (None, first);
    for c in sql.chars() {
        match (quote, c) {
            (None, '`' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '?') => {
                out.push_str(&value(index));
                index += 1;
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

fn value(keys: &Keys, i: usize) -> Option<&str> {
    keys.get(i).and_then(Option::as_deref)
}

/// A value as a MySQL string literal; one holding a backslash as a hex literal, whose
/// meaning does not depend on `NO_BACKSLASH_ESCAPES`.
fn literal(value: Option<&str>) -> String {
    match value {
        None => "NULL".to_owned(),
        Some(v) if v.contains('\\') => {
            let hex: String = v.bytes().map(|b| format!("{b:02X}")).collect();
            format!("X'{hex}'")
        }
        Some(v) => format!("'{}'", v.replace('\'', "''")),
    }
}

fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

fn explain_finding(
    conn: &mut Conn,
    options: &Options,
    analyze: bool,
    s: &Statements,
    keys: &[&Keys],
    count: u32,
) -> Result<PlanCheck, String> {
    let first = keys
        .iter()
        .find(|k| value(k, s.key_param).is_some())
        .ok_or("every captured key is NULL")?;
    let mut distinct: Vec<&str> = Vec::new();
    for k in keys {
        if let Some(v) = value(k, s.key_param) {
            if !distinct.contains(&v) {
                distinct.push(v);
            }
        }
    }
    let table = s
        .key_qualifier
        .clone()
        .or_else(|| s.tables.first().cloned());
    let table = table.as_deref();
    let batched_sql = |keys: &[&str]| {
        let list: Vec<String> = keys.iter().map(|k| literal(Some(k))).collect();
        format!(
            "{}IN ({}){}",
            bind(&s.before_keys, 0, |i| literal(value(first, i))),
            list.join(", "),
            bind(&s.after_keys, s.key_param + 1, |i| literal(value(first, i)))
        )
    };
    let child_plan = explain(
        conn,
        &bind(&s.child, 0, |i| literal(value(first, i))),
        analyze,
    )?;
    let batch_plan = explain(conn, &batched_sql(&distinct), analyze)?;
    let child = child_plan.summary(table);
    let batched = batch_plan.summary(table);
    let relation = child_plan
        .relation(table)
        .or_else(|| batch_plan.relation(table))
        .or_else(|| s.tables.first().cloned());
    let facts = match &relation {
        Some(rel) => table_facts(conn, rel, &s.key_column, options)?,
        None => None,
    };
    let explained = Explained {
        child,
        batched,
        facts,
        source: KeySource::Captured,
        keys: distinct.len() as u32,
        batched_sql: s.batched(),
        count,
        key_column: &s.key_column,
        table,
    };
    decide(explained, || {
        // The smallest prefix of the keys whose batch scans the table (binary search).
        let (mut good, mut bad) = (0usize, distinct.len());
        while bad - good > 1 {
            let mid = good + (bad - good) / 2;
            let plan = explain(
                conn,
                &batched_sql(distinct.get(..mid).unwrap_or_default()),
                false,
            )?;
            if plan.summary(table).access == Access::Seq {
                bad = mid;
            } else {
                good = mid;
            }
        }
        Ok(Some(bad as u32))
    })
}

fn explain(conn: &mut Conn, sql: &str, analyze: bool) -> Result<MyPlan, String> {
    let statement = if analyze {
        format!("ANALYZE FORMAT=JSON {sql}")
    } else {
        format!("EXPLAIN FORMAT=JSON {sql}")
    };
    let text: Option<String> = conn.query_first(&statement).map_err(db_error)?;
    MyPlan::parse(&text.ok_or("EXPLAIN returned no plan")?)
}

/// MySQL's or MariaDB's `EXPLAIN FORMAT=JSON`, reduced to what a verdict needs.
struct MyPlan {
    root: Value,
}

impl MyPlan {
    fn parse(text: &str) -> Result<MyPlan, String> {
        let root: Value =
            serde_json::from_str(text).map_err(|e| format!("EXPLAIN output is not JSON: {e}"))?;
        if root.get("query_block").is_none() {
            return Err("EXPLAIN output has no \"query_block\"".into());
        }
        Ok(MyPlan { root })
    }

    /// The access to `table` (by the name EXPLAIN shows: the alias, else the table).
    fn summary(&self, table: Option<&str>) -> PlanSummary {
        let block = self.root.get("query_block").unwrap_or(&Value::Null);
        let number = |v: Option<&Value>| {
            v.and_then(|v| {
                v.as_f64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
        };
        // MySQL: cost_info.query_cost; MariaDB 11+: cost (10.x shows none).
        let cost = number(block.get("cost_info").and_then(|c| c.get("query_cost")))
            .or_else(|| number(block.get("cost")))
            .unwrap_or(0.0);
        let scan = table_of(&self.root, table);
        let (node, access, rows) = match scan {
            Some(t) => {
                let access_type = str_of(t, "access_type");
                let key = str_of(t, "key");
                let name = str_of(t, "table_name");
                let node = if key.is_empty() {
                    format!("{access_type} (full table scan) on {name}")
                } else {
                    format!("{access_type} using {key} on {name}")
                };
                let rows = number(t.get("rows_examined_per_scan"))
                    .or_else(|| number(t.get("rows")))
                    .unwrap_or(0.0);
                (node, access(access_type), rows)
            }
            None => ("no table access".to_owned(), Access::Other, 0.0),
        };
        let actual_ms = number(block.get("r_total_time_ms"));
        PlanSummary {
            node,
            access,
            cost,
            rows,
            actual_us: actual_ms.map(|ms| (ms * 1000.0).round() as u64),
            actual_rows: scan
                .and_then(|t| number(t.get("r_rows")))
                .map(|r| r.round() as u64),
            buffers: None,
        }
    }

    fn relation(&self, table: Option<&str>) -> Option<String> {
        table_of(&self.root, table).map(|t| str_of(t, "table_name").to_owned())
    }
}

/// The server's message and SQLSTATE, else the client's error.
fn db_error(e: mysql::Error) -> String {
    match e {
        mysql::Error::MySqlError(e) => format!("{} ({})", e.message, e.state),
        other => other.to_string(),
    }
}

fn str_of<'v>(node: &'v Value, key: &str) -> &'v str {
    node.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The first `table` object (depth first, through nested loops, sorts and subqueries) that
/// reads `table`, or any when `None`.
fn table_of<'v>(node: &'v Value, table: Option<&str>) -> Option<&'v Value> {
    match node {
        Value::Object(map) => {
            let name = str_of(node, "table_name");
            if !name.is_empty()
                && map.contains_key("access_type")
                && table.is_none_or(|t| t.eq_ignore_ascii_case(name))
            {
                return Some(node);
            }
            map.values().find_map(|v| table_of(v, table))
        }
        Value::Array(items) => items.iter().find_map(|v| table_of(v, table)),
        _ => None,
    }
}

/// EXPLAIN's `access_type`: lookups through an index, or reading the whole table (`ALL`)
/// or the whole index (`index`), both of which grow with the table.
fn access(access_type: &str) -> Access {
    match access_type {
        "system" | "const" | "eq_ref" | "ref" | "ref_or_null" | "range" | "index_merge"
        | "unique_subquery" | "index_subquery" | "fulltext" => Access::Index,
        "ALL" | "index" => Access::Seq,
        _ => Access::Other,
    }
}

fn table_facts(
    conn: &mut Conn,
    relation: &str,
    column: &str,
    options: &Options,
) -> Result<Option<TableFacts>, String> {
    let err = db_error;
    let table: Option<(String, String, u64, u64, u64)> = conn
        .exec_first(
            "SELECT TABLE_SCHEMA, TABLE_NAME, COALESCE(TABLE_ROWS, 0),
                    COALESCE(DATA_LENGTH, 0) + COALESCE(INDEX_LENGTH, 0), COALESCE(DATA_LENGTH, 0)
               FROM information_schema.TABLES
              WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
            (relation,),
        )
        .map_err(err)?;
    let Some((schema, name, rows, bytes, data)) = table else {
        return Ok(None);
    };
    let leading_index: Option<String> = conn
        .exec_first(
            "SELECT INDEX_NAME FROM information_schema.STATISTICS
              WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND SEQ_IN_INDEX = 1 AND COLUMN_NAME = ?
              ORDER BY NON_UNIQUE, INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME LIMIT 1",
            (&schema, &name, column),
        )
        .map_err(err)?;
    // A one-column unique index on the column, else a foreign key from it.
    let unique: Option<String> = conn
        .exec_first(
            "SELECT CASE WHEN s.INDEX_NAME = 'PRIMARY' THEN 'primary key' ELSE 'unique key' END
               FROM information_schema.STATISTICS s
              WHERE s.TABLE_SCHEMA = ? AND s.TABLE_NAME = ? AND s.COLUMN_NAME = ?
                AND s.NON_UNIQUE = 0 AND s.SEQ_IN_INDEX = 1
                AND NOT EXISTS (SELECT 1 FROM information_schema.STATISTICS o
                                 WHERE o.TABLE_SCHEMA = s.TABLE_SCHEMA AND o.TABLE_NAME = s.TABLE_NAME
                                   AND o.INDEX_NAME = s.INDEX_NAME AND o.SEQ_IN_INDEX = 2)
              ORDER BY s.INDEX_NAME = 'PRIMARY' DESC LIMIT 1",
            (&schema, &name, column),
        )
        .map_err(err)?;
    let key = match unique {
        Some(key) => Some(key),
        None => conn
            .exec_first(
                "SELECT CONCAT('foreign key to ', REFERENCED_TABLE_SCHEMA, '.', REFERENCED_TABLE_NAME,
                               ' (', REFERENCED_COLUMN_NAME, ')')
                   FROM information_schema.KEY_COLUMN_USAGE
                  WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = ?
                    AND REFERENCED_TABLE_NAME IS NOT NULL LIMIT 1",
                (&schema, &name, column),
            )
            .map_err(err)?,
    };
    Ok(Some(TableFacts {
        table: format!("{schema}.{name}"),
        rows,
        bytes,
        // The same size as PostgreSQL's limit in 8 kB pages.
        small: data <= options.small_table_pages.saturating_mul(8192),
        leading_index,
        key,
        create_index: create_index(&schema, &name, column),
    }))
}

/// The online (non-blocking) index build:
/// ``ALTER TABLE `shop`.`books` ADD INDEX `books_title_idx` (`title`), ALGORITHM=INPLACE, LOCK=NONE;``
fn create_index(schema: &str, relation: &str, column: &str) -> String {
    format!(
        "ALTER TABLE {}.{} ADD INDEX {} ({}), ALGORITHM=INPLACE, LOCK=NONE;",
        ident(schema),
        ident(relation),
        ident(&format!("{relation}_{column}_idx")),
        ident(column)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_list_is_found_and_bound() {
        let s =
            statements("SELECT id, title FROM books WHERE author_id = ? AND deleted = ?").unwrap();
        assert_eq!(s.key_param, 0);
        assert_eq!(s.key_column, "author_id");
        assert_eq!(
            s.batched(),
            "SELECT author_id, id, title FROM books WHERE author_id IN (?, ...) AND deleted = ?"
        );
        let quoted =
            statements("SELECT `b`.`id` FROM `books` `b` WHERE `b`.`author_id` = ?").unwrap();
        assert_eq!(quoted.key_qualifier.as_deref(), Some("b"));
        assert_eq!(quoted.key_column, "author_id");
        assert_eq!(
            bind("SELECT `?` FROM t WHERE a = ? AND b = ?", 0, |i| format!(
                "<{i}>"
            )),
            "SELECT `?` FROM t WHERE a = <0> AND b = <1>"
        );
        assert_eq!(literal(Some("it's")), "'it''s'");
        assert_eq!(literal(Some("a\\b")), "X'615C62'");
        assert_eq!(
            statements("UPDATE books SET title = ? WHERE id = ?"),
            Err(NotExplainable::Write)
        );
    }

    #[test]
    fn mariadb_and_mysql_plans_are_read_alike() {
        let mariadb = r#"{"query_block": {"select_id": 1, "table": {"table_name": "b",
            "access_type": "ref", "possible_keys": ["books_author"], "key": "books_author",
            "rows": 3, "filtered": 100}}}"#;
        let plan = MyPlan::parse(mariadb).unwrap();
        let s = plan.summary(Some("b"));
        assert_eq!(
            (s.access, s.node.as_str()),
            (Access::Index, "ref using books_author on b")
        );
        let mysql = r#"{"query_block": {"select_id": 1, "cost_info": {"query_cost": "101.25"},
            "ordering_operation": {"table": {"table_name": "books", "access_type": "ALL",
            "rows_examined_per_scan": 1000}}}}"#;
        let s = MyPlan::parse(mysql).unwrap().summary(None);
        assert_eq!((s.access, s.cost, s.rows), (Access::Seq, 101.25, 1000.0));
        assert_eq!(s.node, "ALL (full table scan) on books");
        assert!(MyPlan::parse("[]").is_err());
    }
}

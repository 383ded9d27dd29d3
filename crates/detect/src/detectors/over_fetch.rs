//! `over_fetch`: a SELECT that sent wide rows (on average at least `over_fetch_row_bytes`
//! bytes each, at least two of them) to the application, after which the same request's
//! later statements used only the keys of those rows: a lookup by the table's `id`, or by a
//! foreign key named after it (`post_id`, `postId`). Loading a list of posts with their
//! bodies to fetch their comments moves the bodies over the wire for nothing, and an ORM's
//! default `SELECT` of every column does exactly that. Needs result bytes per statement,
//! which only the proxy sees.
//!
//! Later statements are the only use of a result that SQL shows: a template that prints the
//! wide column is invisible to it, so the finding is info, and its message says what the
//! evidence was.

use querycomb_core::{BaseSeverity, FindingKind, KindInfo, Severity};
use querycomb_sql::{Shape, Verb};
use regex::Regex;
use std::sync::OnceLock;

use super::{Candidate, Detector, Limit, MessageParts, UnitAnalysis};
use crate::catalog::FpId;
use crate::config::{KindLimits, Thresholds};
use crate::unit::{Stmt, Unit};

pub const KIND: FindingKind = FindingKind::new("over_fetch");

pub static INFO: KindInfo = KindInfo {
    kind: KIND,
    title: "over-fetch",
    rule_name: "OverFetch",
    summary: "A query sent wide rows to the application, whose later statements used only their keys.",
    help: "A SELECT returned rows averaging kilobytes each (large text, JSON or binary columns, often an ORM's default select of every column), and the same request then used only the keys of those rows in its later statements. Select only the columns the page uses, or defer the wide ones: Django only()/defer(), Rails select/pluck, SQLAlchemy load_only/defer, Sequelize attributes, TypeORM select, Prisma select, a DTO projection in Hibernate/Spring Data.",
    severity: BaseSeverity::Fixed(Severity::Info),
    after_fix: "rows narrowed to the columns the request uses",
};

/// When a row is wide.
pub static ROW_BYTES: Limit = Limit {
    key: "over_fetch_row_bytes",
    default: 2048,
    doc: "Average bytes per result row (on the wire: the proxy adds up the rows' DataRow messages) from which a SELECT's rows are wide. Default 2048: PostgreSQL moves values out of line (TOAST) once a row passes about 2 kB, so rows wider than that carry large text, JSON or binary columns, while a listing's row (ids, a title, a few dates) is a few hundred bytes. 0 turns the check off. Needs result bytes per statement (the proxy).",
};

/// A single wide row is a detail page showing its record; a list of them is the pattern.
const MIN_ROWS: u64 = 2;

pub struct OverFetch;

impl Detector for OverFetch {
    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    fn limit(&self) -> Option<&'static Limit> {
        Some(&ROW_BYTES)
    }

    fn message(&self, parts: &MessageParts<'_>) -> String {
        let rows = parts.candidate.rows.unwrap_or_default();
        let bytes = parts.candidate.result_bytes.unwrap_or_default();
        let user = parts
            .children
            .get(1)
            .map_or(String::new(), |c| crate::text::excerpt(&c.normalized));
        format!(
            "{} sent {rows} rows of {} each ({} in all) to the application; the request's later statements used only their keys ({user})",
            parts.child(),
            size(bytes / rows.max(1)),
            size(bytes),
        )
    }

    fn advice(&self) -> Option<&'static str> {
        Some("Select only the columns the request uses (or defer the wide ones); when only the keys are needed, select just the keys.")
    }

    fn wants_short_unit(&self, unit: &Unit, _thresholds: &Thresholds, limits: &KindLimits) -> bool {
        let limit = limits.get(&ROW_BYTES);
        limit > 0 && unit.stmts.iter().any(|s| wide(s, limit).is_some())
    }

    fn detect(&self, unit: &UnitAnalysis<'_>, out: &mut Vec<Candidate>) {
        let limit = unit.limit(&ROW_BYTES);
        if limit == 0 {
            return;
        }
        for group in &unit.groups {
            let Some(entry) = unit.shape(group.fp) else {
                continue;
            };
            let shape = &entry.shape;
            if shape.verb != Verb::Select || shape.aggregate || !unit.reportable(group) {
                continue;
            }
            let Some(table) = shape.tables.first() else {
                continue;
            };
            let Some((index, rows, bytes)) = widest(unit, group.fp, limit) else {
                continue;
            };
            let Some(user) = later_key_user(unit, index, group.fp, table) else {
                continue;
            };
            out.push(Candidate {
                kind: KIND,
                parent: None,
                children: vec![group.fp, user],
                count: group.count,
                statements: group.count,
                distinct_params: group.distinct,
                params: None,
                total_us: group.total_us,
                rows: Some(rows),
                result_bytes: Some(bytes),
            });
        }
    }
}

/// `(rows, bytes)` of an execution whose rows are wide.
fn wide(stmt: &Stmt, limit: u64) -> Option<(u64, u64)> {
    let (rows, bytes) = (stmt.rows?, stmt.result_bytes?);
    (rows >= MIN_ROWS && bytes / rows >= limit).then_some((rows, bytes))
}

/// The execution of `fp` that sent the most bytes in wide rows: `(index, rows, bytes)`.
fn widest(unit: &UnitAnalysis<'_>, fp: FpId, limit: u64) -> Option<(usize, u64, u64)> {
    unit.unit
        .stmts
        .iter()
        .enumerate()
        .filter(|(_, s)| s.fp == fp)
        .filter_map(|(i, s)| wide(s, limit).map(|(rows, bytes)| (i, rows, bytes)))
        .max_by_key(|&(_, _, bytes)| bytes)
}

/// The first statement after `index` (of another shape) that looks rows of `table` up by key.
fn later_key_user(unit: &UnitAnalysis<'_>, index: usize, fp: FpId, table: &str) -> Option<FpId> {
    unit.unit
        .stmts
        .get(index + 1..)?
        .iter()
        .map(|s| s.fp)
        .filter(|&later| later != fp)
        .find(|&later| unit.shape(later).is_some_and(|e| keyed_by(&e.shape, table)))
}

/// `shape` filters by a key of `table`: its `id` (on `table` itself), or a foreign key
/// named after it (`post_id`/`postId` for `posts`, `blog_post`, `post`).
pub fn keyed_by(shape: &Shape, table: &str) -> bool {
    let table = bare(table).to_ascii_lowercase();
    let on_table = shape
        .tables
        .iter()
        .any(|t| bare(t).eq_ignore_ascii_case(&table));
    let compared = looked_up_columns(&shape.normalized);
    let columns = shape.filter_columns.iter().map(String::as_str).chain(compared);
    columns.into_iter().any(|column| {
        let column = bare(column);
        if column.eq_ignore_ascii_case("id") {
            return on_table;
        }
        let stem = column
            .strip_suffix("_id")
            .or_else(|| column.strip_suffix("Id"))
            .filter(|stem| !stem.is_empty())
            .map(str::to_ascii_lowercase);
        stem.is_some_and(|stem| {
            [stem.clone(), format!("{stem}s"), format!("{stem}es")]
                .iter()
                .any(|name| table == *name || table.ends_with(&format!("_{name}")))
        })
    })
}

/// Columns the WHERE clause compares with parameters, one (`= $1`) or a list (`IN ($1, …)`,
/// `= ANY($1)`), in normalised SQL.
fn looked_up_columns(normalized: &str) -> impl Iterator<Item = &str> {
    static LOOKUP: OnceLock<Option<Regex>> = OnceLock::new();
    let re = LOOKUP
        .get_or_init(|| {
            Regex::new(r#"(?i-u)"?(\w+)"?\s*(?:=\s*(?:ANY\s*\(\s*)?|IN\s*\(\s*)(?:\$\d|\?)"#).ok()
        })
        .as_ref();
    let clause = where_clause(normalized);
    re.into_iter()
        .flat_map(move |re| re.captures_iter(clause))
        .filter_map(|c| c.get(1).map(|m| m.as_str()))
}

/// From the first ` WHERE ` on (everything when there is none).
fn where_clause(sql: &str) -> &str {
    let upper = sql.to_ascii_uppercase();
    upper.find(" WHERE ").and_then(|at| sql.get(at..)).unwrap_or(sql)
}

/// The last dotted part, without quotes: `"public"."posts"` → `posts`.
fn bare(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name).trim_matches('"')
}

/// `10.2 KB`, `512 B`.
fn size(bytes: u64) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else if bytes < 1024 * 1024 {
        format!("{:.1} KB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use querycomb_sql::{Dialect, Fingerprinter};

    fn shape(sql: &str) -> Shape {
        Fingerprinter::new(Dialect::Postgres).describe(sql)
    }

    #[test]
    fn a_lookup_by_the_tables_keys_uses_only_keys() {
        let comments = shape(
            "SELECT comments.id, comments.body, comments.article_id FROM comments WHERE comments.article_id IN ($1, $2, $3)",
        );
        assert!(keyed_by(&comments, "articles"));
        assert!(!keyed_by(&comments, "authors"));
        let typeorm = shape(r#"SELECT "Comment"."id" FROM "comment" "Comment" WHERE "Comment"."postId" = $1"#);
        assert!(keyed_by(&typeorm, "post"));
        let django = shape(r#"SELECT "blog_comment"."id" FROM "blog_comment" WHERE "blog_comment"."post_id" IN (1, 2)"#);
        assert!(keyed_by(&django, "blog_post"));
        let refetch = shape("SELECT id FROM articles WHERE id = $1");
        assert!(keyed_by(&refetch, "articles"));
        assert!(!keyed_by(&refetch, "comments"));
        let by_title = shape("SELECT id FROM articles WHERE title = $1");
        assert!(!keyed_by(&by_title, "articles"));
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(10_445), "10.2 KB");
        assert_eq!(size(3 * 1024 * 1024), "3.0 MB");
    }
}

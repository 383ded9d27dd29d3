//! The two statements a plan check explains, with the values to bind: one child execution,
//! and the batched rewrite with every captured key in one array.
//!
//! Both are PostgreSQL `PREPARE`d from the finding's normalised text (valid SQL with `$n`
//! placeholders) and explained through `EXECUTE` with the values as untyped literals, so
//! the server gives each value the type the statement needs, as it did for the application.

use querycomb_sql::rewrite;
use querycomb_sql::{Dialect, Fingerprinter, Shape, Verb};

pub(crate) use querycomb_core::Keys;

/// What to explain for one finding.
#[derive(Debug, Clone, PartialEq)]
pub struct Statements {
    /// The child, as normalised (`$1`…`$n`).
    pub child: String,
    /// The batched rewrite, placeholders renumbered densely from `$1`.
    pub batched: String,
    /// 0-based index among the batched statement's placeholders of the key array.
    pub key_param: usize,
    /// For each batched placeholder: the child's 0-based parameter it takes its value from.
    pub batched_from_child: Vec<usize>,
    /// The child's parameter the loop varies (the key).
    pub key_child_param: usize,
    /// `"books"."author_id"` as written; its qualifier (table or alias) and column, unquoted.
    pub key_expr: String,
    pub key_qualifier: Option<String>,
    pub key_column: String,
    /// Tables named in the child, main first.
    pub tables: Vec<String>,
}

/// Why a finding's child cannot be explained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotExplainable {
    Write,
    NotSelect,
    ListLiteral,
    SeveralStatements,
    NoRewrite,
}

impl NotExplainable {
    pub fn reason(&self) -> &'static str {
        match self {
            NotExplainable::Write => {
                "the child writes: never explained; the batched write is in the suggestion"
            }
            NotExplainable::NotSelect => "the child is not a SELECT: only reads are explained",
            NotExplainable::ListLiteral => {
                "the child holds a literal list, collapsed in its normalised text: the values cannot be bound"
            }
            NotExplainable::SeveralStatements => "the child text holds several statements",
            NotExplainable::NoRewrite => {
                "no batched rewrite is known for this child, so there is no batch to explain"
            }
        }
    }
}

/// The shape and batched rewrite of `child` (normalised text, `dialect`), when it is one SELECT with
/// one key per execution that a batch can replace; else why not.
pub(crate) fn batched_rewrite(
    child: &str,
    dialect: Dialect,
) -> Result<(Shape, rewrite::Rewrite), NotExplainable> {
    let shape = Fingerprinter::new(dialect).describe(child);
    match shape.verb {
        Verb::Select => {}
        Verb::Insert | Verb::Update | Verb::Delete => return Err(NotExplainable::Write),
        _ => return Err(NotExplainable::NotSelect),
    }
    if child.contains(", ...") {
        return Err(NotExplainable::ListLiteral);
    }
    if child.trim_end().trim_end_matches(';').contains(';') {
        return Err(NotExplainable::SeveralStatements);
    }
    let rewrite = rewrite::batched(&shape).ok_or(NotExplainable::NoRewrite)?;
    Ok((shape, rewrite))
}

/// The loop key of a PostgreSQL child, as its batched rewrite compares it (`"books"."author_id"
/// = ANY($1)`): its qualifier and column, unquoted. Also for a child that cannot be explained
/// because its normalised text collapsed a list (TypeORM's `"j"."bookId" IN ($1, ...)`).
pub fn key(child: &str) -> Option<(Option<String>, String)> {
    let shape = Fingerprinter::new(Dialect::Postgres).describe(child);
    if shape.verb != Verb::Select {
        return None;
    }
    let rewrite = rewrite::batched(&shape)?;
    let (_, expr) = key_operand(&rewrite.sql)?;
    Some(split_qualified(expr))
}

/// Where the rewrite's `= ANY($` starts, and the column expression before it.
fn key_operand(batched: &str) -> Option<(usize, &str)> {
    let any_at = batched.find("= ANY($")?;
    Some((any_at, last_operand(batched.get(..any_at)?)))
}

/// Builds both statements from a PostgreSQL child's normalised text.
pub fn statements(child: &str) -> Result<Statements, NotExplainable> {
    let (shape, rewrite) = batched_rewrite(child, Dialect::Postgres)?;
    let placeholders = placeholders(&rewrite.sql);
    let (any_at, key_expr) = key_operand(&rewrite.sql).ok_or(NotExplainable::NoRewrite)?;
    let key_number = placeholders
        .iter()
        .find(|p| p.start == any_at + "= ANY(".len())
        .map(|p| p.number)
        .ok_or(NotExplainable::NoRewrite)?;
    let mut numbers: Vec<usize> = placeholders.iter().map(|p| p.number).collect();
    numbers.sort_unstable();
    numbers.dedup();
    let batched = renumber(&rewrite.sql, &placeholders, &numbers);
    let (key_qualifier, key_column) = split_qualified(key_expr);
    let key_expr = key_expr.to_owned();
    Ok(Statements {
        child: child.to_owned(),
        batched,
        key_param: numbers.iter().position(|&n| n == key_number).unwrap_or(0),
        batched_from_child: numbers.iter().map(|n| n - 1).collect(),
        key_child_param: key_number - 1,
        key_expr,
        key_qualifier,
        key_column,
        tables: shape.tables,
    })
}

struct Placeholder {
    start: usize,
    end: usize,
    number: usize,
}

/// `$n` outside quoted identifiers (normalised text holds no string literals).
fn placeholders(sql: &str) -> Vec<Placeholder> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut in_quotes = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'"' {
            in_quotes = !in_quotes;
        } else if b == b'$' && !in_quotes {
            let digits = bytes
                .get(i + 1..)
                .unwrap_or_default()
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            if let Some(number) = sql.get(i + 1..i + 1 + digits).and_then(|d| d.parse().ok()) {
                out.push(Placeholder {
                    start: i,
                    end: i + 1 + digits,
                    number,
                });
                i += digits;
            }
        }
        i += 1;
    }
    out
}

/// Rewrites each `$n` to its position in `numbers` (1-based), so a dropped `LIMIT $2`
/// leaves no gap the server could not type.
fn renumber(sql: &str, placeholders: &[Placeholder], numbers: &[usize]) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut at = 0;
    for p in placeholders {
        out.push_str(sql.get(at..p.start).unwrap_or_default());
        let dense = numbers.iter().position(|&n| n == p.number).unwrap_or(0) + 1;
        out.push_str(&format!("${dense}"));
        at = p.end;
    }
    out.push_str(sql.get(at..).unwrap_or_default());
    out
}

/// The column expression ending `text`: `"books"."author_id"`, `t1_0.author_id`, `id`.
fn last_operand(text: &str) -> &str {
    let text = text.trim_end();
    let bytes = text.as_bytes();
    let mut start = bytes.len();
    let mut quoted = false;
    while start > 0 {
        let b = bytes.get(start - 1).copied().unwrap_or(b' ');
        if b == b'"' {
            quoted = !quoted;
        } else if !(quoted || b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'$') {
            break;
        }
        start -= 1;
    }
    text.get(start..).unwrap_or_default()
}

/// `"books"."author_id"` → (`books`, `author_id`); `id` → (None, `id`).
fn split_qualified(expr: &str) -> (Option<String>, String) {
    let parts = split_dots(expr);
    let unquote = |p: &str| {
        p.strip_prefix('"')
            .and_then(|p| p.strip_suffix('"'))
            .map(|p| p.replace("\"\"", "\""))
            .unwrap_or_else(|| p.to_ascii_lowercase())
    };
    let column = parts.last().map(|p| unquote(p)).unwrap_or_default();
    let qualifier = parts
        .len()
        .checked_sub(2)
        .and_then(|i| parts.get(i))
        .map(|p| unquote(p));
    (qualifier, column)
}

fn split_dots(expr: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in expr.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => {
                parts.push(expr.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(expr.get(start..).unwrap_or_default());
    parts
}

/// A value as an untyped SQL literal (`'8'`, `NULL`): the server types it from the statement.
pub fn literal(value: Option<&str>) -> String {
    match value {
        Some(v) => format!("'{}'", v.replace('\'', "''")),
        None => "NULL".to_owned(),
    }
}

/// Keys as one untyped array literal: `'{"1","2"}'`.
pub fn array_literal<'k>(keys: impl IntoIterator<Item = &'k str>) -> String {
    let items: Vec<String> = keys
        .into_iter()
        .map(|k| format!("\"{}\"", k.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    literal(Some(&format!("{{{}}}", items.join(","))))
}

/// An identifier quoted only when it must be (`books`, `"Books"`).
pub fn ident(name: &str) -> String {
    let plain = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if plain {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_and_batch_with_the_key_found() {
        let s = statements(
            r#"SELECT "books"."id", "books"."title" FROM "books" WHERE "books"."author_id" = $1"#,
        )
        .unwrap();
        assert_eq!(
            s.batched,
            r#"SELECT "books"."author_id", "books"."id", "books"."title" FROM "books" WHERE "books"."author_id" = ANY($1)"#
        );
        assert_eq!((s.key_param, s.key_child_param), (0, 0));
        assert_eq!(s.key_qualifier.as_deref(), Some("books"));
        assert_eq!(s.key_column, "author_id");
    }

    #[test]
    fn a_dropped_limit_leaves_no_gap() {
        let s = statements("SELECT * FROM authors WHERE tenant = $1 AND id = $2 LIMIT $3").unwrap();
        assert_eq!(
            s.batched,
            "SELECT * FROM authors WHERE tenant = $1 AND id = ANY($2)"
        );
        assert_eq!(s.batched_from_child, vec![0, 1]);
        assert_eq!((s.key_param, s.key_child_param), (1, 1));
        assert_eq!((s.key_qualifier, s.key_column.as_str()), (None, "id"));
    }

    #[test]
    fn writes_and_lists_are_not_explained() {
        assert_eq!(
            statements("UPDATE books SET title = $1 WHERE id = $2"),
            Err(NotExplainable::Write)
        );
        assert_eq!(
            statements("SELECT * FROM books WHERE id IN ($1, ...)"),
            Err(NotExplainable::ListLiteral)
        );
    }

    #[test]
    fn literals_are_quoted() {
        assert_eq!(literal(Some("it's")), "'it''s'");
        assert_eq!(literal(None), "NULL");
        assert_eq!(
            array_literal(["1", "a\"b", "c'd"]),
            r#"'{"1","a\"b","c''d"}'"#
        );
        assert_eq!(ident("books"), "books");
        assert_eq!(ident("Books"), "\"Books\"");
    }
}

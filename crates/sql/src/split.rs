//! Splitting a query string that holds several statements (`SELECT 1; UPDATE t …`), on the
//! lexer's top-level `;` tokens: semicolons inside strings, quoted identifiers, dollar
//! quotes and comments are not boundaries, in either dialect.
//!
//! The proxy needs each statement of a multi-statement simple `Query` (the server answers
//! with one `CommandComplete` per statement). A comment-only tail (`SELECT 1;
//! /*route='x'*/`, as Sequelize writes sqlcommenter tags) stays attached to the statement
//! before it, because the server sends no reply for it; empty statements (`;;`) are
//! skipped, as the server skips them.

use std::ops::Range;

use crate::lexer::{Kind, Lexer};
use crate::Dialect;

/// Byte ranges of the statements in `sql`, trimmed, in order.
pub fn statements(sql: &str, dialect: Dialect) -> Vec<Range<usize>> {
    split_without_lexing(sql).unwrap_or_else(|| lexed_statements(sql, dialect))
}

/// The split on the lexer's top-level `;` tokens.
fn lexed_statements(sql: &str, dialect: Dialect) -> Vec<Range<usize>> {
    let mut parts: Vec<Range<usize>> = Vec::new();
    let mut lexer = Lexer::new(sql, dialect);
    let mut start = 0;
    let mut has_code = false;
    while let Some(token) = lexer.next_token() {
        if token.kind == Kind::Semi {
            push_part(sql, &mut parts, start..token.start, has_code);
            start = token.end;
            has_code = false;
        } else {
            has_code = true;
        }
    }
    push_part(sql, &mut parts, start..sql.len(), has_code);
    parts
}

/// The common cases without lexing (the proxy splits every simple query). Without a
/// `;`, a text that does not start like a comment (`--`, `/*`, MySQL's `#`) is one
/// statement, trimmed. A text without any byte that can open a string, a quoted name or
/// a comment (`'`, `"`, `` ` ``, `$`, `-`, `/`, `#`, `\`) has only top-level
/// semicolons: it is split on each. Anything else goes through the lexer.
fn split_without_lexing(sql: &str) -> Option<Vec<Range<usize>>> {
    if !sql.contains(';') {
        let trimmed = trim(sql, 0..sql.len());
        let first = sql.as_bytes().get(trimmed.start)?;
        if trimmed.is_empty() || matches!(first, b'-' | b'/' | b'#') {
            return None;
        }
        return Some(vec![trimmed]);
    }
    let quotes_or_comments =
        |b: &u8| matches!(b, b'\'' | b'"' | b'`' | b'$' | b'-' | b'/' | b'#' | b'\\');
    if sql.as_bytes().iter().any(quotes_or_comments) {
        return None;
    }
    let mut parts = Vec::new();
    let mut start = 0;
    for (at, _) in sql.match_indices(';') {
        push_part(sql, &mut parts, start..at, true);
        start = at + 1;
    }
    push_part(sql, &mut parts, start..sql.len(), true);
    Some(parts)
}

fn push_part(sql: &str, parts: &mut Vec<Range<usize>>, range: Range<usize>, has_code: bool) {
    let trimmed = trim(sql, range);
    if trimmed.is_empty() {
        return;
    }
    match parts.last_mut() {
        // A comment-only piece belongs to the statement before it.
        Some(last) if !has_code => last.end = trimmed.end,
        _ if has_code => parts.push(trimmed),
        _ => {}
    }
}

fn trim(sql: &str, range: Range<usize>) -> Range<usize> {
    let text = sql.get(range.clone()).unwrap_or("");
    let lead = text.len() - text.trim_start().len();
    let tail = text.len() - text.trim_end().len();
    if lead == text.len() {
        return range.start..range.start;
    }
    range.start + lead..range.end - tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(sql: &str) -> Vec<&str> {
        statements(sql, Dialect::Postgres)
            .into_iter()
            .map(|r| &sql[r])
            .collect()
    }

    #[test]
    fn splits_on_top_level_semicolons() {
        assert_eq!(split("SELECT 1; SELECT 2"), ["SELECT 1", "SELECT 2"]);
        assert_eq!(split("SELECT 1;;  ;SELECT 2;"), ["SELECT 1", "SELECT 2"]);
        assert_eq!(split("  "), Vec::<&str>::new());
    }

    #[test]
    fn ignores_semicolons_inside_literals_and_comments() {
        assert_eq!(
            split("SELECT 'a;b', \"c;d\", E'x\\';y' -- z;\n; SELECT /* ; /* ; */ */ 2"),
            [
                "SELECT 'a;b', \"c;d\", E'x\\';y' -- z;",
                "SELECT /* ; /* ; */ */ 2"
            ]
        );
        assert_eq!(
            split("CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql; SELECT $1"),
            [
                "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql",
                "SELECT $1"
            ]
        );
        assert_eq!(
            split("SELECT $$a;b$$; SELECT 2"),
            ["SELECT $$a;b$$", "SELECT 2"]
        );
    }

    #[test]
    fn mysql_strings_and_hash_comments() {
        let sql = "SELECT \"a;b\" # c;\n; SELECT 'x\\';y'";
        let parts: Vec<&str> = statements(sql, Dialect::MySql)
            .into_iter()
            .map(|r| &sql[r])
            .collect();
        assert_eq!(parts, ["SELECT \"a;b\" # c;", "SELECT 'x\\';y'"]);
    }

    #[test]
    fn trailing_comment_stays_with_its_statement() {
        assert_eq!(
            split("SELECT 1; /*route='%2Fx'*/"),
            ["SELECT 1; /*route='%2Fx'*/"]
        );
    }

    #[test]
    fn the_shortcuts_agree_with_the_lexer() {
        for sql in [
            "SELECT abalance FROM pgbench_accounts WHERE aid = 80123;",
            "SELECT 1; SELECT 2 ;; ",
            "BEGIN; UPDATE t SET a = 1 WHERE id = 2; COMMIT;",
            "SELECT 1 -- x;",
            "SELECT 'a;b';",
            "SELECT \"a;b\";",
            "SELECT $$;$$;",
            "SELECT 1; /*route='x'*/",
            " ; ",
            "SELECT 1",
            "  SELECT abalance FROM pgbench_accounts WHERE aid = 5\n",
            "SELECT 1 /*route='x'*/",
            "SELECT 1 -- trailing",
            "/* only a comment */",
            "-- only a comment",
            "# mysql comment",
            "",
            "   ",
            "SELECT 'a' || $$b$$",
            "é",
        ] {
            for dialect in [Dialect::Postgres, Dialect::MySql] {
                assert_eq!(
                    statements(sql, dialect),
                    lexed_statements(sql, dialect),
                    "{sql:?}"
                );
            }
        }
    }

    #[test]
    fn unterminated_tokens_do_not_panic() {
        for sql in [
            "SELECT 'abc",
            "SELECT $a$ x",
            "SELECT /* x",
            "E'\\",
            "$",
            "'",
            "--",
            "é;'",
        ] {
            let _ = statements(sql, Dialect::Postgres);
            let _ = statements(sql, Dialect::MySql);
        }
    }
}

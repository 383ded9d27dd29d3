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

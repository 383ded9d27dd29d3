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

/// The common cases without lexing (the proxy splits every simple query), in one pass over
/// the bytes. Without a `;`, a text that does not start like a comment (`--`, `/*`, MySQL's
/// `#`) is one statement, trimmed. A text without any byte that can open a string, a quoted
/// name or a comment (`'`, `"`, `` ` ``, `$`, `-`, `/`, `#`, `\\`) has only top-level
/// semicolons: it is split on each. Anything else goes through the lexer.
fn split_without_lexing(sql: &str) -> Option<Vec<Range<usize>>> {
    let bytes = sql.as_bytes();
    // One table lookup per byte: which of the two kinds of byte the text holds.
    let seen = bytes.iter().fold(0u8, |seen, &b| {
        seen | BYTE_CLASS.get(usize::from(b)).copied().unwrap_or(0)
    });
    if seen & SEMICOLON == 0 {
        let trimmed = trim(sql, 0..sql.len());
        let first = bytes.get(trimmed.start)?;
        if trimmed.is_empty() || matches!(first, b'-' | b'/' | b'#') {
            return None;
        }
        return Some(vec![trimmed]);
    }
    if seen & OPENS_QUOTE_OR_COMMENT != 0 {
        return None;
    }
    let mut parts = Vec::with_capacity(1);
    let mut start = 0;
    for (at, _) in bytes.iter().enumerate().filter(|(_, &b)| b == b';') {
        push_part(sql, &mut parts, start..at, true);
        start = at + 1;
    }
    push_part(sql, &mut parts, start..sql.len(), true);
    Some(parts)
}

const SEMICOLON: u8 = 1;
const OPENS_QUOTE_OR_COMMENT: u8 = 2;

/// [`SEMICOLON`] or [`OPENS_QUOTE_OR_COMMENT`] per byte value, 0 for any other byte.
// Built at compile time: an index out of range fails the build, it cannot panic a run.
#[allow(clippy::indexing_slicing)]
static BYTE_CLASS: [u8; 256] = {
    let mut class = [0u8; 256];
    class[b';' as usize] = SEMICOLON;
    let openers = *b"'\"`$-/#\\";
    let mut i = 0;
    while i < openers.len() {
        class[openers[i] as usize] = OPENS_QUOTE_OR_COMMENT;
        i += 1;
    }
    class
};

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
    let bytes = sql.as_bytes();
    let (mut start, mut end) = (range.start, range.end.min(bytes.len()));
    // ASCII whitespace without decoding (what `char::is_whitespace` says for ASCII).
    let space = |at: usize| matches!(bytes.get(at), Some(b'\t'..=b'\r' | b' '));
    while start < end && space(start) {
        start += 1;
    }
    while end > start && space(end - 1) {
        end -= 1;
    }
    let non_ascii = |at: usize| bytes.get(at).is_some_and(|b| !b.is_ascii());
    if start < end && (non_ascii(start) || non_ascii(end - 1)) {
        // Unicode whitespace is rare: trim it the slow way.
        let text = sql.get(start..end).unwrap_or("");
        let lead = text.len() - text.trim_start().len();
        let tail = text.len() - text.trim_end().len();
        if lead == text.len() {
            return range.start..range.start;
        }
        return start + lead..end - tail;
    }
    if start == end {
        return range.start..range.start;
    }
    start..end
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
            "SELECT 1;\u{3000}",
            "\u{a0}SELECT 1; SELECT 2\u{2003}",
            "\x0bSELECT 1\x0c;\t\r\n",
            "SELECT 'é';",
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

    /// Every text of up to five pieces from an alphabet of separators, openers and
    /// whitespace: the shortcut never disagrees with the lexer.
    #[test]
    fn the_shortcuts_agree_with_the_lexer_on_every_short_text() {
        const PIECES: [&str; 9] = [";", " ", "a", "'", "-", "\u{a0}", "\x0b", "/", "é"];
        let mut text = String::new();
        let mut digits = [0usize; 5];
        for len in 0..=digits.len() {
            digits = [0; 5];
            loop {
                text.clear();
                for &d in &digits[..len] {
                    text.push_str(PIECES[d]);
                }
                for dialect in [Dialect::Postgres, Dialect::MySql] {
                    assert_eq!(
                        statements(&text, dialect),
                        lexed_statements(&text, dialect),
                        "{text:?}"
                    );
                }
                // Next combination of `len` digits, or the next length.
                let Some(at) = (0..len).find(|&i| digits[i] + 1 < PIECES.len()) else {
                    break;
                };
                digits[at] += 1;
                digits[..at].fill(0);
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

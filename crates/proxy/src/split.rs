//! Splitting a simple-protocol query string into its statements.
//!
//! The server answers a multi-statement `Query` with one `CommandComplete` per statement,
//! so the observer emits one event per statement and needs each statement's own text. The
//! splitter knows just enough lexical structure to find the `;` that end statements:
//! quoted strings (`'..'`, `E'..'` with backslash escapes), quoted identifiers, dollar
//! quotes and comments. A comment-only tail (`SELECT 1; /*route='x'*/`, as Sequelize
//! writes sqlcommenter tags) stays attached to the statement before it, because the server
//! sends no reply for it.

use std::ops::Range;

/// Byte ranges of the statements in `sql`, trimmed, in order. Empty statements (`;;`) are
/// skipped, as the server skips them.
pub fn statements(sql: &str) -> Vec<Range<usize>> {
    let bytes = sql.as_bytes();
    let mut parts: Vec<Range<usize>> = Vec::new();
    let mut start = 0;
    let mut has_code = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let next = skip_token(bytes, i);
        match b {
            b';' => {
                push_part(sql, &mut parts, start..i, has_code);
                start = i + 1;
                has_code = false;
            }
            _ if !b.is_ascii_whitespace() && !is_comment_start(bytes, i) => has_code = true,
            _ => {}
        }
        i = next;
    }
    push_part(sql, &mut parts, start..bytes.len(), has_code);
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

fn is_comment_start(bytes: &[u8], i: usize) -> bool {
    matches!(
        (bytes.get(i), bytes.get(i + 1)),
        (Some(b'-'), Some(b'-')) | (Some(b'/'), Some(b'*'))
    )
}

/// Index just past the token starting at `i` (a quoted string, a comment, a dollar quote,
/// or a single byte).
fn skip_token(bytes: &[u8], i: usize) -> usize {
    match bytes[i] {
        b'\'' => {
            let escapes =
                i > 0 && matches!(bytes[i - 1], b'e' | b'E') && !ident_before(bytes, i - 1);
            skip_quoted(bytes, i + 1, b'\'', escapes)
        }
        b'"' => skip_quoted(bytes, i + 1, b'"', false),
        b'-' if bytes.get(i + 1) == Some(&b'-') => bytes[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |p| i + p + 1),
        b'/' if bytes.get(i + 1) == Some(&b'*') => skip_block_comment(bytes, i + 2),
        b'$' if !ident_before(bytes, i) => skip_dollar_quote(bytes, i).unwrap_or(i + 1),
        _ => i + 1,
    }
}

/// True when the byte before `i` continues an identifier (so `e'..'` in `name'` or `$` in
/// `a$1` is not a prefix).
fn ident_before(bytes: &[u8], i: usize) -> bool {
    i > 0 && matches!(bytes[i - 1], b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'$')
}

fn skip_quoted(bytes: &[u8], mut i: usize, quote: u8, backslash_escapes: bool) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if backslash_escapes => i += 2,
            b if b == quote => {
                if bytes.get(i + 1) == Some(&quote) {
                    i += 2;
                } else {
                    return i + 1;
                }
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

fn skip_block_comment(bytes: &[u8], mut i: usize) -> usize {
    let mut depth = 1;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1)) {
            (b'/', Some(b'*')) => {
                depth += 1;
                i += 2;
            }
            (b'*', Some(b'/')) => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

/// `$tag$ ... $tag$`; None when `$` does not open a dollar quote (e.g. `$1`).
fn skip_dollar_quote(bytes: &[u8], i: usize) -> Option<usize> {
    let tag_len = bytes[i + 1..]
        .iter()
        .position(|&b| b == b'$')
        .filter(|&n| {
            bytes[i + 1..i + 1 + n]
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80)
                && !bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
        })?;
    let delimiter = &bytes[i..i + tag_len + 2];
    let body_start = i + delimiter.len();
    let close = bytes[body_start..]
        .windows(delimiter.len())
        .position(|w| w == delimiter)
        .map_or(bytes.len(), |p| body_start + p + delimiter.len());
    Some(close)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(sql: &str) -> Vec<&str> {
        statements(sql).into_iter().map(|r| &sql[r]).collect()
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
        ] {
            let _ = statements(sql);
        }
    }
}

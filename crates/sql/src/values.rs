//! The values of one executed statement, in the order of its normalised `$n` placeholders:
//! what a plan check binds to explain the statement with the keys it really ran with.
//!
//! Normalisation turns every literal and every placeholder into one parameter, numbered in
//! order of appearance; this walks the raw text the same way and takes each literal's value,
//! or the bound value of each `$n` from the source's rendering of the parameters
//! (`$1 = '8', $2 = NULL`, as PostgreSQL logs and the proxy write them). Anything that cannot
//! be read back exactly (a digest instead of a value, a binary value, a bit string) makes the
//! answer `None`: a plan check never runs with invented values.

use crate::lexer::{Kind, Lexer};
use crate::Dialect;

/// One value per normalised parameter (`None` is SQL NULL); `None` when any cannot be read.
///
/// The caller compares the length with the number of parameters of the statement's shape:
/// normalisation collapses lists (`IN (1, 2, 3)` is one `$1`), so a statement with a list
/// gives more values than its shape has parameters.
pub fn param_values(
    sql: &str,
    params: Option<&str>,
    dialect: Dialect,
) -> Option<Vec<Option<String>>> {
    let bound = match params {
        Some(text) => parse_bound(text)?,
        None => Vec::new(),
    };
    let mut lexer = Lexer::new(sql, dialect);
    let mut values = Vec::new();
    let mut next_positional = 0usize;
    while let Some(token) = lexer.next_token() {
        let text = sql.get(token.start..token.end)?;
        let value = match token.kind {
            Kind::Num => Some(text.replace('_', "")),
            Kind::Bool => Some(text.to_ascii_lowercase()),
            Kind::Str => Some(string_value(text, dialect)?),
            Kind::Param => {
                let index = match text.strip_prefix('$') {
                    Some(n) => n.parse::<usize>().ok()?.checked_sub(1)?,
                    None => {
                        next_positional += 1;
                        next_positional - 1
                    }
                };
                bound.get(index)?.clone()
            }
            _ => continue,
        };
        values.push(value);
    }
    Some(values)
}

/// The parameters of a normalised shape (`$n` in PostgreSQL shapes, `?` in MySQL ones).
pub fn param_count(normalized: &str) -> usize {
    let count = |dialect| {
        let mut lexer = Lexer::new(normalized, dialect);
        std::iter::from_fn(|| lexer.next_token())
            .filter(|t| t.kind == Kind::Param)
            .count()
    };
    match count(Dialect::Postgres) {
        0 => count(Dialect::MySql),
        n => n,
    }
}

/// `$1 = '8', $2 = NULL` → `[Some("8"), None]`, in `$n` order.
fn parse_bound(text: &str) -> Option<Vec<Option<String>>> {
    let mut out: Vec<Option<String>> = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let after_dollar = rest.strip_prefix('$')?;
        let digits = after_dollar.bytes().take_while(u8::is_ascii_digit).count();
        let number: usize = after_dollar.get(..digits)?.parse().ok()?;
        if number != out.len() + 1 {
            return None;
        }
        rest = after_dollar
            .get(digits..)?
            .trim_start()
            .strip_prefix('=')?
            .trim_start();
        if let Some(after) = rest.strip_prefix("NULL") {
            out.push(None);
            rest = after;
        } else {
            let (value, after) = quoted(rest)?;
            out.push(Some(value));
            rest = after;
        }
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after.trim_start();
        } else if !rest.is_empty() {
            return None;
        }
    }
    Some(out)
}

/// A `'…'` string with `''` escapes at the start of `text`: its value and what follows.
fn quoted(text: &str) -> Option<(String, &str)> {
    let body = text.strip_prefix('\'')?;
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '\'' {
            value.push(c);
            continue;
        }
        if body.get(i + 1..).is_some_and(|r| r.starts_with('\'')) {
            value.push('\'');
            chars.next();
            continue;
        }
        return Some((value, body.get(i + 1..)?));
    }
    None
}

/// The value of a plain string literal (`'a''b'`, PostgreSQL `E'a\'b'`, dollar quotes,
/// MySQL `"x"` and backslash escapes); `None` for bit, hex and Unicode-escape strings.
fn string_value(text: &str, dialect: Dialect) -> Option<String> {
    if let Some(rest) = text.strip_prefix('$') {
        let tag_end = rest.find('$')?;
        let tag = rest.get(..tag_end)?;
        let body = rest.get(tag_end + 1..)?;
        let close = format!("${tag}$");
        return body.strip_suffix(close.as_str()).map(str::to_owned);
    }
    let (escapes, body) = match text.as_bytes().first()? {
        b'E' | b'e' if dialect == Dialect::Postgres => (true, text.get(1..)?),
        b'N' | b'n' => (dialect == Dialect::MySql, text.get(1..)?),
        b'\'' => (dialect == Dialect::MySql, text),
        b'"' if dialect == Dialect::MySql => (true, text),
        _ => return None,
    };
    let quote = body.chars().next()?;
    let inner = body.strip_prefix(quote)?.strip_suffix(quote)?;
    let mut value = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c == quote && chars.peek() == Some(&quote) {
            chars.next();
            value.push(quote);
        } else if c == '\\' && escapes {
            match chars.next()? {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                'r' => value.push('\r'),
                '0' => value.push('\0'),
                other => value.push(other),
            }
        } else {
            value.push(c);
        }
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(sql: &str, params: Option<&str>) -> Option<Vec<Option<String>>> {
        param_values(sql, params, Dialect::Postgres)
    }

    fn some(values: &[&str]) -> Option<Vec<Option<String>>> {
        Some(values.iter().map(|v| Some((*v).to_owned())).collect())
    }

    #[test]
    fn bound_values_in_placeholder_order() {
        assert_eq!(
            pg(
                "SELECT * FROM t WHERE a = $2 AND b = $1",
                Some("$1 = 'x''y', $2 = '8'")
            ),
            some(&["8", "x'y"])
        );
        assert_eq!(
            pg("SELECT * FROM t WHERE a = $1", Some("$1 = NULL")),
            Some(vec![None])
        );
    }

    #[test]
    fn literals_and_placeholders_mixed() {
        assert_eq!(
            pg(
                "SELECT * FROM t WHERE a = 'it''s' AND b = $1 AND c = -5 AND d = true LIMIT 21",
                Some("$1 = '3'")
            ),
            some(&["it's", "3", "-5", "true", "21"])
        );
        assert_eq!(
            pg("SELECT * FROM t WHERE a = E'a\\'b' AND b = $q$x$q$", None),
            some(&["a'b", "x"])
        );
        assert_eq!(
            param_values(
                "SELECT * FROM t WHERE a = 'a\\'b' AND b = ?",
                None,
                Dialect::MySql
            ),
            None,
            "a `?` with nothing bound has no value"
        );
        assert_eq!(
            param_values("SELECT * FROM t WHERE a = 'a\\'b'", None, Dialect::MySql),
            some(&["a'b"])
        );
    }

    #[test]
    fn digests_binary_and_gaps_are_not_values() {
        for params in [
            "$1 = #1f3a5b7c9d0e1f2a",
            "$1 = \\x0000002a",
            "$2 = '1'",
            "$1 = '1",
        ] {
            assert_eq!(
                pg("SELECT * FROM t WHERE a = $1", Some(params)),
                None,
                "{params}"
            );
        }
        assert_eq!(pg("SELECT * FROM t WHERE a = B'101'", None), None);
    }
}

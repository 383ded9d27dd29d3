//! What a span's statement text says about itself: whether its values are hidden behind
//! placeholders (driver placeholders, or literals an instrumentation sanitised to `?`), and
//! whether it was cut short.

/// A placeholder outside quotes: `?`, `$1`, `%s`, `%(name)s`, `:name`, `@p1`. When the span
/// carries no parameter values, executions of such a text cannot be told apart by value.
pub fn has_placeholder(sql: &str) -> bool {
    let bytes = sql.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let next = bytes.get(i + 1).copied().unwrap_or(0);
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None => match b {
                b'\'' | b'"' | b'`' => quote = Some(b),
                b'?' => return true,
                b'$' if next.is_ascii_digit() => return true,
                b'%' if next == b's' || next == b'(' => return true,
                b':' if next == b':' => i += 1,
                b':' | b'@' if next.is_ascii_alphabetic() || next == b'_' => return true,
                _ => {}
            },
        }
        i += 1;
    }
    false
}

/// Cut short: an ellipsis at the end (how instrumentations mark it), or brackets or quotes
/// left open (an attribute length limit cuts without a mark).
pub fn looks_truncated(sql: &str) -> bool {
    let trimmed = sql.trim_end();
    if trimmed.ends_with("...") || trimmed.ends_with('…') {
        return true;
    }
    let mut depth = 0i64;
    let mut quote: Option<u8> = None;
    for &b in trimmed.as_bytes() {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None => match b {
                b'\'' | b'"' | b'`' => quote = Some(b),
                b'(' => depth += 1,
                b')' => depth -= 1,
                _ => {}
            },
        }
    }
    depth > 0 || quote.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_of_every_driver() {
        for sql in [
            "SELECT * FROM t WHERE id = ?",
            "SELECT * FROM t WHERE id = $1",
            "SELECT * FROM t WHERE id = %s",
            "SELECT * FROM t WHERE id = %(id)s",
            "SELECT * FROM t WHERE id = :id",
            "SELECT * FROM t WHERE id = @p1",
        ] {
            assert!(has_placeholder(sql), "{sql}");
        }
        for sql in [
            "SELECT * FROM t WHERE id = 5",
            "SELECT '?' FROM t WHERE a::int = 1",
            "SELECT * FROM t LIMIT 21",
        ] {
            assert!(!has_placeholder(sql), "{sql}");
        }
    }

    #[test]
    fn truncation_marks() {
        assert!(looks_truncated("SELECT a, b FROM t WHERE id IN (1, 2, 3"));
        assert!(looks_truncated("SELECT a FROM t WHERE name = 'ab"));
        assert!(looks_truncated("SELECT a FROM t ..."));
        assert!(!looks_truncated("SELECT a FROM t WHERE id IN (1, 2)"));
    }
}

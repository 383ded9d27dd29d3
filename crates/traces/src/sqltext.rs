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
                // Oracle's `:1` (not a slice `[1:2]`: that colon follows an operand).
                b':' if next.is_ascii_digit()
                    && i.checked_sub(1).and_then(|p| bytes.get(p)).is_none_or(|p| {
                        matches!(p, b' ' | b'\t' | b'\n' | b'(' | b',' | b'=' | b'<' | b'>')
                    }) =>
                {
                    return true
                }
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
            "SELECT * FROM t WHERE id = :1",
        ] {
            assert!(has_placeholder(sql), "{sql}");
        }
        for sql in [
            "SELECT * FROM t WHERE id = 5",
            "SELECT '?' FROM t WHERE a::int = 1",
            "SELECT * FROM t LIMIT 21",
            "SELECT a[1:2] FROM t",
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

/// An HTTP call as an operation text and its values: `GET http://users/api/users/{id}` and
/// `17`. Ids in the path (numbers, UUIDs, long hex) become `{id}` and the query string is
/// set aside, so that calls to one endpoint share a shape and differ by their values. A
/// `url.template` from the instrumentation is used as it is (its values are unknown).
pub fn http_call(method: &str, url: &str, is_template: bool) -> (String, String) {
    if is_template {
        return (format!("{method} {url}"), String::new());
    }
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let path_start = base.find("://").map_or(0, |scheme| {
        base[scheme + 3..]
            .find('/')
            .map_or(base.len(), |p| scheme + 3 + p)
    });
    let (origin, path) = base.split_at(path_start);
    let mut text = format!("{method} {origin}");
    let mut values = Vec::new();
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            text.push('/');
        }
        if looks_like_id(segment) {
            text.push_str("{id}");
            values.push(segment);
        } else {
            text.push_str(segment);
        }
    }
    if !query.is_empty() {
        values.push(query);
    }
    (text, values.join(" "))
}

fn looks_like_id(segment: &str) -> bool {
    let digits = segment.bytes().filter(u8::is_ascii_digit).count();
    let hexish = segment.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    !segment.is_empty() && (digits == segment.len() || (hexish && digits > 0 && segment.len() >= 8))
}

#[cfg(test)]
mod http_tests {
    use super::http_call;

    #[test]
    fn ids_in_paths_become_one_shape() {
        assert_eq!(
            http_call("GET", "http://127.0.0.1:4000/authors/3?full=1", false),
            (
                "GET http://127.0.0.1:4000/authors/{id}".to_owned(),
                "3 full=1".to_owned()
            )
        );
        assert_eq!(
            http_call(
                "GET",
                "https://api/u/5f0c6e1a-2b3c-4d5e-8f90-123456789abc/posts",
                false
            )
            .0,
            "GET https://api/u/{id}/posts"
        );
        assert_eq!(http_call("GET", "/authors/7", false).0, "GET /authors/{id}");
        assert_eq!(http_call("POST", "/users/{id}", true).0, "POST /users/{id}");
        assert_eq!(http_call("GET", "http://api", false).0, "GET http://api");
    }
}

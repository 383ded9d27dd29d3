//! sqlcommenter tags, parsed the way frameworks really emit them.
//!
//! Accepted forms, in a `/* ... */` comment at the start or the end of the statement (before or
//! after a trailing `;`, or before the `RETURNING` clause that pgjdbc appends, after
//! Hibernate's or sqlcommenter's comment, to an insert whose generated keys were asked for):
//! `key='value'` with URL-encoding and `\'` escapes (the standard; Spring writes spaces as
//! `+`), Rails 7.1's unencoded `key='v'`, bare `key=v`, and Rails' legacy `key:value`. Parsing borrows from the statement and allocates only to decode a value.

use std::borrow::Cow;

/// The tags of one statement; cheap to build (finds the comments, parses nothing until asked).
#[derive(Clone, Copy, Debug, Default)]
pub struct Tags<'a> {
    front: &'a str,
    back: &'a str,
}

/// Finds the sqlcommenter comment(s) of `sql`: a leading one and/or a trailing one.
pub fn tags(sql: &str) -> Tags<'_> {
    let back_span = trailing_comment(sql).or_else(|| comment_before_returning(sql));
    let front_span = leading_comment(sql).filter(|f| back_span.is_none_or(|b| b.0 != f.0));
    let body = |span: Option<(usize, usize)>| {
        span.and_then(|(s, e)| sql.get(s + 2..e - 2))
            .unwrap_or_default()
    };
    Tags {
        front: body(front_span),
        back: body(back_span),
    }
}

/// `sql` without the comments [`tags`] reads (a leading one and a trailing one) and the
/// whitespace around them: the statement as the application wrote it, whatever tags a
/// sqlcommenter added to this execution (they differ per request). Borrows; no allocation.
pub fn without_tags(sql: &str) -> &str {
    let end = trailing_comment(sql).map_or(sql.len(), |(start, _)| start);
    let start = leading_comment(sql).map_or(0, |(_, end)| end).min(end);
    sql.get(start..end).unwrap_or(sql).trim()
}

/// Byte span of a `/* .. */` that ends the statement, ignoring whitespace and `;` after it.
fn trailing_comment(sql: &str) -> Option<(usize, usize)> {
    // Nearly every statement ends in neither `/` nor whitespace nor `;`: no comment there.
    if !matches!(sql.as_bytes().last(), Some(b'/' | b';') | Some(0x09..=0x0d | b' ' | 0x80..)) {
        return None;
    }
    let mut rest = sql.trim_end();
    while let Some(stripped) = rest.strip_suffix(';') {
        rest = stripped.trim_end();
    }
    let body_end = rest.len().checked_sub(2)?;
    if !rest.ends_with("*/") {
        return None;
    }
    let mut hay = rest.as_bytes().get(..body_end)?;
    loop {
        let slash = memchr::memrchr(b'/', hay)?;
        if hay.get(slash + 1) == Some(&b'*') {
            return Some((slash, rest.len()));
        }
        hay = hay.get(..slash)?;
    }
}

/// Byte span of a `/* .. */` followed only by a `RETURNING` clause of column names: pgjdbc
/// asked for generated keys appends `RETURNING *` or `RETURNING "id"` to the statement it was
/// given, comment and all. Only statements ending in `*` or `"` are looked at, so the hot
/// path of every other statement stays one byte test; the clause holds no `/`, so the
/// comment's end is the statement's last `/`.
fn comment_before_returning(sql: &str) -> Option<(usize, usize)> {
    let rest = sql.trim_end();
    if !matches!(rest.as_bytes().last(), Some(b'*' | b'"')) {
        return None;
    }
    let close = memchr::memrchr(b'/', rest.as_bytes())?.checked_sub(1)?;
    if rest.as_bytes().get(close) != Some(&b'*') {
        return None;
    }
    let tail = rest.get(close + 2..)?.trim_start();
    let keyword = tail.get(..9)?;
    let columns = tail.get(9..)?;
    let plain_columns = columns.starts_with(|c: char| c.is_ascii_whitespace())
        && !columns.contains(['\'', '/', '(', ';']);
    if !keyword.eq_ignore_ascii_case("returning") || !plain_columns {
        return None;
    }
    let open = rest.get(..close)?.rfind("/*")?;
    Some((open, close + 2))
}

/// Byte span of a `/* .. */` that starts the statement.
fn leading_comment(sql: &str) -> Option<(usize, usize)> {
    if !matches!(
        sql.as_bytes().first(),
        Some(b'/' | 0x09..=0x0d | b' ' | 0x80..)
    ) {
        return None;
    }
    let start = sql.len() - sql.trim_start().len();
    let rest = sql.get(start..)?;
    if !rest.starts_with("/*") {
        return None;
    }
    let end = rest.get(2..)?.find("*/")? + 4;
    Some((start, start + end))
}

impl<'a> Tags<'a> {
    /// The decoded value of `key` (ASCII case-insensitive), first occurrence.
    pub fn get(&self, key: &str) -> Option<Cow<'a, str>> {
        self.raw_pairs()
            .find(|p| p.key.eq_ignore_ascii_case(key))
            .map(Pair::decoded)
    }

    /// The 32 hex digits of the trace id in a valid `traceparent` (`00-<32hex>-<16hex>-<2hex>`,
    /// not all zeros).
    pub fn trace_id(&self) -> Option<&'a str> {
        let raw = self
            .raw_pairs()
            .find(|p| p.key.eq_ignore_ascii_case("traceparent"))?
            .raw;
        valid_trace_id(raw)
    }

    /// `route`, else `controller#action` (or `controller` alone).
    pub fn route(&self) -> Option<Cow<'a, str>> {
        if let Some(route) = self.get("route") {
            return Some(route);
        }
        let controller = self.get("controller")?;
        match self.get("action") {
            Some(action) => Some(Cow::Owned(format!("{controller}#{action}"))),
            None => Some(controller),
        }
    }

    /// [`route`](Self::route) and [`trace_id`](Self::trace_id) together, in one pass over
    /// the pairs.
    pub fn route_and_trace_id(&self) -> (Option<Cow<'a, str>>, Option<&'a str>) {
        if self.front.is_empty() && self.back.is_empty() {
            return (None, None);
        }
        let (mut route, mut controller, mut action, mut trace) = (None, None, None, None);
        for pair in self.raw_pairs() {
            let slot = match pair.key.len() {
                5 if pair.key.eq_ignore_ascii_case("route") => &mut route,
                10 if pair.key.eq_ignore_ascii_case("controller") => &mut controller,
                6 if pair.key.eq_ignore_ascii_case("action") => &mut action,
                11 if pair.key.eq_ignore_ascii_case("traceparent") => &mut trace,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(pair);
            }
        }
        let route = match (route, controller) {
            (Some(route), _) => Some(route.decoded()),
            (None, Some(controller)) => {
                let controller = controller.decoded();
                match action {
                    Some(action) => {
                        let action = action.decoded();
                        let mut both = String::with_capacity(controller.len() + 1 + action.len());
                        both.push_str(&controller);
                        both.push('#');
                        both.push_str(&action);
                        Some(Cow::Owned(both))
                    }
                    None => Some(controller),
                }
            }
            (None, None) => None,
        };
        (route, trace.and_then(|p| valid_trace_id(p.raw)))
    }

    pub fn is_empty(&self) -> bool {
        self.raw_pairs().next().is_none()
    }

    /// All `(key, decoded value)` pairs, leading comment first.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, Cow<'a, str>)> + use<'a> {
        self.raw_pairs().map(|p| (p.key, p.decoded()))
    }

    fn raw_pairs(&self) -> impl Iterator<Item = Pair<'a>> + use<'a> {
        Pairs { rest: self.front }.chain(Pairs { rest: self.back })
    }
}

/// The trace id of a raw `traceparent` value, if it is valid.
fn valid_trace_id(raw: &str) -> Option<&str> {
    // `00-` 32 hex `-` 16 hex `-` 2 hex: 55 bytes.
    let text = raw.trim();
    let bytes = text.as_bytes();
    let hex = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|part| part.iter().all(u8::is_ascii_hexdigit))
    };
    let valid = bytes.len() == 55
        && bytes.starts_with(b"00-")
        && bytes.get(35) == Some(&b'-')
        && bytes.get(52) == Some(&b'-')
        && hex(3..35)
        && hex(36..52)
        && hex(53..55);
    let trace = text.get(3..35)?;
    (valid && trace.bytes().any(|b| b != b'0')).then_some(trace)
}

/// One `key=value` / `key:value` before decoding.
#[derive(Clone, Copy)]
struct Pair<'a> {
    key: &'a str,
    raw: &'a str,
    /// `key:value` (Rails legacy): taken verbatim.
    legacy: bool,
}

impl<'a> Pair<'a> {
    fn decoded(self) -> Cow<'a, str> {
        if self.legacy || !self.raw.bytes().any(|b| matches!(b, b'\\' | b'%' | b'+')) {
            return Cow::Borrowed(self.raw);
        }
        match String::from_utf8(decode(self.raw.as_bytes())) {
            Ok(s) => Cow::Owned(s),
            Err(_) => Cow::Borrowed(self.raw),
        }
    }
}

/// `\'` (any `\x`) unescaped, `%XX` URL-decoded (invalid sequences kept), `+` as a space.
fn decode(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match b {
            b'\\' if i + 1 < raw.len() => {
                out.extend(raw.get(i + 1));
                i += 2;
            }
            b'%' => match (
                raw.get(i + 1).and_then(hex_val),
                raw.get(i + 2).and_then(hex_val),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn hex_val(b: &u8) -> Option<u8> {
    (*b as char).to_digit(16).map(|d| d as u8)
}

/// Iterates the pairs of one comment body; malformed chunks are skipped.
struct Pairs<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Pairs<'a> {
    type Item = Pair<'a>;

    fn next(&mut self) -> Option<Pair<'a>> {
        loop {
            self.rest = skip_separators(self.rest);
            if self.rest.is_empty() {
                return None;
            }
            if let Some(pair) = self.next_chunk() {
                return Some(pair);
            }
        }
    }
}

impl<'a> Pairs<'a> {
    /// Reads one chunk up to the next top-level comma; `None` if it is not a pair.
    fn next_chunk(&mut self) -> Option<Pair<'a>> {
        let rest = self.rest;
        let sep = rest
            .bytes()
            .position(|b| matches!(b, b'=' | b':' | b','))
            .filter(|&i| rest.as_bytes().get(i) != Some(&b','));
        let Some(sep) = sep else {
            let skip = find_comma(rest).unwrap_or(rest.len());
            self.rest = rest.get(skip..).unwrap_or_default();
            return None;
        };
        let key = rest.get(..sep)?.trim();
        let legacy = rest.as_bytes().get(sep) == Some(&b':');
        let after = rest.get(sep + 1..)?.trim_start();
        let (raw, remaining) = match after.strip_prefix('\'') {
            Some(quoted) => {
                let end = closing_quote(quoted);
                (
                    quoted.get(..end)?,
                    quoted.get(end + 1..).unwrap_or_default(),
                )
            }
            None => {
                let end = find_comma(after).unwrap_or(after.len());
                (
                    after.get(..end)?.trim_end(),
                    after.get(end..).unwrap_or_default(),
                )
            }
        };
        self.rest = find_comma(remaining)
            .and_then(|c| remaining.get(c..))
            .unwrap_or_default();
        let key_ok = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'%'));
        key_ok.then_some(Pair { key, raw, legacy })
    }
}

fn find_comma(s: &str) -> Option<usize> {
    // After a quoted value the comma nearly always comes next.
    match s.as_bytes() {
        [b',', ..] => Some(0),
        bytes => memchr::memchr(b',', bytes),
    }
}

/// `s` without its leading commas and whitespace.
fn skip_separators(s: &str) -> &str {
    let ascii = s
        .bytes()
        .position(|b| !matches!(b, b',' | 0x09..=0x0d | b' '))
        .unwrap_or(s.len());
    match s.as_bytes().get(ascii) {
        Some(0x80..) => s.trim_start_matches(|c: char| c == ',' || c.is_whitespace()),
        _ => s.get(ascii..).unwrap_or_default(),
    }
}

/// Index of the `'` closing a quoted value (`\'` does not close it); the end if unterminated.
fn closing_quote(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut i = 0;
    while let Some(found) = bytes
        .get(i..)
        .and_then(|rest| memchr::memchr2(b'\\', b'\'', rest))
    {
        i += found;
        match bytes.get(i) {
            Some(b'\'') => return i,
            _ => i += 2,
        }
    }
    s.len()
}

//! `log_line_prefix`: compiled once into a byte-scanning matcher, and guessed from the first
//! lines of a log when the user does not give it.
//!
//! Each escape knows how its value looks (`%m` is a timestamp with a zone, `%p` digits, `%c`
//! hex.hex); free-text values (`%u`, `%d`, `%a`, …) end where the next literal of the prefix
//! starts. After the prefix comes the severity (`LOG:  `), which also tells a real match from
//! a chance one. `%q` ends the prefix for processes without a session: the part after it is
//! tried first and dropped when the line does not have it.
//!
//! Escapes: `%m %t %s` (timestamps), `%n` (epoch), `%p` (pid), `%c` (session id), `%l %x %Q
//! %P` (numbers), `%e` (SQLSTATE), `%u %d %a` (user, database, application), `%h %r %v %i
//! %b` (other text), `%q`, `%%`, with optional padding (`%-10u`). Unknown escapes print
//! nothing in PostgreSQL and are ignored here too.

use memchr::memmem;

/// What a `%` escape stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    /// `%m`, `%t`, `%s`: `YYYY-MM-DD HH:MM:SS[.mmm] ZONE`.
    Timestamp {
        session_start: bool,
    },
    /// `%n`: epoch seconds with milliseconds.
    Epoch,
    /// `%p`: process id.
    Pid,
    /// `%c`: session id (`6b01fc4c.31c2`).
    SessionId,
    /// `%l`, `%x`, `%Q`, `%P`: (possibly empty or negative) numbers we do not use.
    Number,
    /// `%e`: SQLSTATE.
    SqlState,
    User,
    Database,
    Application,
    /// `%h`, `%r`, `%v`, `%i`, `%b`: free text we do not use.
    Text,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Literal(Vec<u8>),
    Field { escape: Escape, padded: bool },
}

/// A compiled `log_line_prefix`.
#[derive(Debug, Clone)]
pub(crate) struct Prefix {
    text: String,
    /// Items before `%q` (all of them when there is no `%q`).
    head: Vec<Item>,
    /// Items after `%q`, printed only by session processes.
    tail: Option<Vec<Item>>,
    /// The items are those of `%m [%p] %q%u@%d ` (Debian's default; `%t` alike), which
    /// [`parse_debian_first_try`] matches without interpreting them.
    debian: bool,
}

/// The parts of one line that the prefix and severity told apart. Empty values and
/// PostgreSQL's `[unknown]` are `None`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Matched<'a> {
    pub timestamp: Option<&'a [u8]>,
    pub epoch: Option<&'a [u8]>,
    pub pid: Option<&'a [u8]>,
    pub session_id: Option<&'a [u8]>,
    pub user: Option<&'a [u8]>,
    pub database: Option<&'a [u8]>,
    pub application: Option<&'a [u8]>,
    /// `LOG`, `ERROR`, `DETAIL`, `STATEMENT`, …
    pub severity: &'a [u8],
    /// The text after `SEVERITY:  `.
    pub message: &'a [u8],
}

/// Prefixes tried, in order, when none is given: Debian's default, pgBadger's recommended
/// ones, managed-service defaults, PostgreSQL's default, and bare timestamps.
pub(crate) const CANDIDATES: &[&str] = &[
    "%m [%p] %q%u@%d ",
    "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
    "%t [%p]: user=%u,db=%d,app=%a,client=%h ",
    "%t [%p]: [%l-1] user=%u,db=%d ",
    "%t [%p]: [%l-1] db=%d,user=%u,app=%a,client=%h ",
    "%t [%p]: db=%d,user=%u,app=%a,client=%h ",
    "%m [%p]: [%l-1] db=%d,user=%u ",
    "%t [%p-%l] %q%u@%d ",
    "%m [%p-%l] %q%u@%d ",
    "%t:%r:%u@%d:[%p]:",
    "%m [%p] %q[%c] %u@%d ",
    "%m [%p] ",
    "%m [%p]: ",
    "%n [%p] ",
    "%m ",
    "",
];

impl Prefix {
    /// Compiles a `log_line_prefix` value. Unknown escapes print nothing in PostgreSQL, so
    /// they are dropped here too.
    pub(crate) fn compile(text: &str) -> Prefix {
        let mut head = Vec::new();
        let mut tail: Option<Vec<Item>> = None;
        let mut literal = Vec::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            i += 1;
            if b != b'%' || i >= bytes.len() {
                literal.push(b);
                continue;
            }
            let mut padded = false;
            while bytes
                .get(i)
                .is_some_and(|b| *b == b'-' || b.is_ascii_digit())
            {
                padded = true;
                i += 1;
            }
            let Some(&code) = bytes.get(i) else { break };
            i += 1;
            let escape = match code {
                b'%' => {
                    literal.push(b'%');
                    continue;
                }
                b'q' => {
                    let items = tail.as_mut().unwrap_or(&mut head);
                    flush_literal(&mut literal, items);
                    if tail.is_none() {
                        tail = Some(Vec::new());
                    }
                    continue;
                }
                b'm' | b't' => Escape::Timestamp {
                    session_start: false,
                },
                b's' => Escape::Timestamp {
                    session_start: true,
                },
                b'n' => Escape::Epoch,
                b'p' => Escape::Pid,
                b'c' => Escape::SessionId,
                b'l' | b'x' | b'Q' | b'P' => Escape::Number,
                b'e' => Escape::SqlState,
                b'u' => Escape::User,
                b'd' => Escape::Database,
                b'a' => Escape::Application,
                b'h' | b'r' | b'v' | b'i' | b'b' => Escape::Text,
                _ => continue,
            };
            let items = tail.as_mut().unwrap_or(&mut head);
            flush_literal(&mut literal, items);
            items.push(Item::Field { escape, padded });
        }
        let items = tail.as_mut().unwrap_or(&mut head);
        flush_literal(&mut literal, items);
        Prefix {
            debian: is_debian(&head, tail.as_deref()),
            text: text.to_owned(),
            head,
            tail,
        }
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// Splits a line into prefix fields, severity and message; `None` when it does not fit.
    pub(crate) fn parse<'a>(&self, line: &'a [u8]) -> Option<Matched<'a>> {
        if self.debian {
            let mut found = Matched::default();
            if parse_debian_first_try(line, &mut found).is_some() {
                return Some(found);
            }
        }
        self.parse_general(line)
    }

    /// [`parse`](Self::parse) for any prefix: tries each place a free-text value may end
    /// (and the line without its `%q` part) until the line fits.
    fn parse_general<'a>(&self, line: &'a [u8]) -> Option<Matched<'a>> {
        let mut found = Matched::default();
        let then_severity = |pos: usize, found: &mut Matched<'a>| severity(line, pos, found);
        let matched = match &self.tail {
            None => match_items(&self.head, line, 0, &mut found, &then_severity),
            Some(tail) => {
                let then_tail = |pos: usize, found: &mut Matched<'a>| {
                    if match_items(tail, line, pos, found, &then_severity) {
                        return true;
                    }
                    // Without the session part: forget what the attempt filled in.
                    for item in tail {
                        if let Item::Field { escape, .. } = item {
                            record(*escape, b"", found);
                        }
                    }
                    severity(line, pos, found)
                };
                match_items(&self.head, line, 0, &mut found, &then_tail)
            }
        };
        matched.then_some(found)
    }
}

fn is_debian(head: &[Item], tail: Option<&[Item]>) -> bool {
    let field = |escape| Item::Field {
        escape,
        padded: false,
    };
    let literal = |text: &[u8]| Item::Literal(text.to_vec());
    let timestamp = Escape::Timestamp {
        session_start: false,
    };
    head == [
        field(timestamp),
        literal(b" ["),
        field(Escape::Pid),
        literal(b"] "),
    ] && tail
        == Some(
            &[
                field(Escape::User),
                literal(b"@"),
                field(Escape::Database),
                literal(b" "),
            ][..],
        )
}

/// The first try of the general matcher for `%m [%p] %q%u@%d `, written out: each free-text
/// value ends at the first place it may, and the `%q` part is present. Nearly every line
/// fits so, and when one does the general matcher stops at this same try, with the same
/// fields; `None` sends the line to the general matcher.
fn parse_debian_first_try<'a>(line: &'a [u8], found: &mut Matched<'a>) -> Option<()> {
    let timestamp = Escape::Timestamp {
        session_start: false,
    };
    let len = timestamp_len(line)?;
    record(timestamp, line.get(..len)?, found);
    let rest = line.get(len..)?.strip_prefix(b" [")?;
    let pid = count_digits(rest);
    if pid == 0 {
        return None;
    }
    record(Escape::Pid, rest.get(..pid)?, found);
    let rest = rest.get(pid..)?.strip_prefix(b"] ")?;
    let at = memchr::memchr(b'@', rest)?;
    record(Escape::User, rest.get(..at)?, found);
    let rest = rest.get(at + 1..)?;
    let space = memchr::memchr(b' ', rest)?;
    record(Escape::Database, rest.get(..space)?, found);
    let pos = line.len() - rest.len() + space + 1;
    severity(line, pos, found).then_some(())
}

fn flush_literal(literal: &mut Vec<u8>, items: &mut Vec<Item>) {
    if !literal.is_empty() {
        items.push(Item::Literal(std::mem::take(literal)));
    }
}

/// Reads `SEVERITY:  message` at `pos`.
fn severity<'a>(line: &'a [u8], pos: usize, found: &mut Matched<'a>) -> bool {
    let Some(rest) = line.get(pos..) else {
        return false;
    };
    let word = rest
        .iter()
        .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        .count();
    if !rest.first().is_some_and(u8::is_ascii_uppercase) {
        return false;
    }
    let Some((severity, message)) = rest
        .split_at_checked(word)
        .and_then(|(severity, after)| Some((severity, after.strip_prefix(b":  ")?)))
    else {
        return false;
    };
    found.severity = severity;
    found.message = message;
    true
}

/// How many places a free-text value may end before the match gives up.
const MAX_FREE_TEXT_TRIES: usize = 8;

/// Matches `items` from `pos`, then calls `then` with the position after them. Free-text
/// values try each occurrence of the literal after them (a `%a` may contain that literal)
/// until the rest of the line fits.
fn match_items<'a>(
    items: &[Item],
    line: &'a [u8],
    mut pos: usize,
    found: &mut Matched<'a>,
    then: &dyn Fn(usize, &mut Matched<'a>) -> bool,
) -> bool {
    for (index, item) in items.iter().enumerate() {
        let (escape, padded) = match item {
            Item::Literal(text) => {
                if !line.get(pos..).is_some_and(|rest| starts_with(rest, text)) {
                    return false;
                }
                pos += text.len();
                continue;
            }
            Item::Field { escape, padded } => (*escape, *padded),
        };
        let next = match items.get(index + 1) {
            Some(Item::Literal(text)) => Some(text.as_slice()),
            _ => None,
        };
        let Some(text) = line.get(pos..) else {
            return false;
        };
        let text = if padded {
            let spaces = count_spaces(text);
            pos += spaces;
            text.get(spaces..).unwrap_or_default()
        } else {
            text
        };
        let spec = FieldSpec {
            escape,
            padded,
            next,
        };
        if is_free_text(escape) {
            let after = items.get(index + 1..).unwrap_or_default();
            return match_free_text(after, line, pos, spec, found, then);
        }
        let Some(len) = field_len(escape, text) else {
            return false;
        };
        pos = finish_field(spec, line, pos, len, found);
    }
    then(pos, found)
}

/// A free-text value, then the remaining `items`: each place the value may end is tried
/// until the rest fits. A failed try leaves stale fields behind, but every later try (and a
/// success) sets them again.
fn match_free_text<'a>(
    items: &[Item],
    line: &'a [u8],
    pos: usize,
    spec: FieldSpec<'_>,
    found: &mut Matched<'a>,
    then: &dyn Fn(usize, &mut Matched<'a>) -> bool,
) -> bool {
    let Some(text) = line.get(pos..) else {
        return false;
    };
    let mut from = 0;
    for _ in 0..MAX_FREE_TEXT_TRIES {
        let Some(len) = free_text_end(text, spec.next, from) else {
            return false;
        };
        let end = finish_field(spec, line, pos, len, found);
        if match_items(items, line, end, found, then) {
            return true;
        }
        from = len + 1;
    }
    false
}

/// A field of the prefix and the literal that follows it.
#[derive(Clone, Copy)]
struct FieldSpec<'p> {
    escape: Escape,
    padded: bool,
    next: Option<&'p [u8]>,
}

/// Records a field's value and returns the position after it (and its padding).
fn finish_field<'a>(
    spec: FieldSpec<'_>,
    line: &'a [u8],
    pos: usize,
    len: usize,
    found: &mut Matched<'a>,
) -> usize {
    // `len` was measured on `line[pos..]` by the caller, so the `get`s never miss.
    let mut end = pos + len;
    let mut value = line.get(pos..end).unwrap_or_default();
    if spec.padded {
        value = trim_end_spaces(value);
        end += trailing_padding(line.get(end..).unwrap_or_default(), spec.next);
    }
    record(spec.escape, value, found);
    end
}

fn is_free_text(escape: Escape) -> bool {
    matches!(
        escape,
        Escape::User | Escape::Database | Escape::Application | Escape::Text
    )
}

fn record<'a>(escape: Escape, value: &'a [u8], found: &mut Matched<'a>) {
    let unknown = match value {
        [] => true,
        [b'[', ..] => value == b"[unknown]",
        _ => false,
    };
    let known = (!unknown).then_some(value);
    match escape {
        Escape::Timestamp {
            session_start: false,
        } => found.timestamp = known,
        Escape::Epoch => found.epoch = known,
        Escape::Pid => found.pid = known,
        Escape::SessionId => found.session_id = known,
        Escape::User => found.user = known,
        Escape::Database => found.database = known,
        Escape::Application => found.application = known,
        _ => {}
    }
}

/// Length of the value of a structured `escape` at the start of `text`.
fn field_len(escape: Escape, text: &[u8]) -> Option<usize> {
    match escape {
        Escape::Timestamp { .. } => timestamp_len(text),
        Escape::Epoch => {
            let int = count_digits(text);
            if int == 0 {
                return None;
            }
            match text.get(int) {
                Some(b'.') => {
                    let fraction = text.get(int + 1..).unwrap_or_default();
                    Some(int + 1 + count_digits(fraction))
                }
                _ => Some(int),
            }
        }
        Escape::Pid => match count_digits(text) {
            0 => None,
            n => Some(n),
        },
        Escape::Number => {
            let sign = usize::from(text.first() == Some(&b'-'));
            Some(sign + count_digits(text.get(sign..).unwrap_or_default()))
        }
        Escape::SessionId => {
            let first = count_hex(text);
            if first == 0 || text.get(first) != Some(&b'.') {
                return None;
            }
            let second = count_hex(text.get(first + 1..).unwrap_or_default());
            (second > 0).then_some(first + 1 + second)
        }
        Escape::SqlState => {
            let n = text
                .iter()
                .take(5)
                .filter(|b| b.is_ascii_alphanumeric())
                .count();
            (n == 5).then_some(5)
        }
        Escape::User | Escape::Database | Escape::Application | Escape::Text => None,
    }
}

/// The first place at or after `from` where a free-text value may end: the next literal of
/// the prefix, or without one, where the severity starts.
fn free_text_end(text: &[u8], next: Option<&[u8]>, from: usize) -> Option<usize> {
    let rest = text.get(from..)?;
    let found = match next {
        Some([single]) => memchr::memchr(*single, rest)?,
        Some(literal) => memmem::find(rest, literal)?,
        None => {
            let colon = memmem::find(rest, b":  ")?;
            let word = rest
                .get(..colon)
                .unwrap_or_default()
                .iter()
                .rev()
                .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                .count();
            colon - word
        }
    };
    Some(from + found)
}

/// `YYYY-MM-DD HH:MM:SS[.fff] ZONE`: returns the length up to the end of the zone.
fn timestamp_len(text: &[u8]) -> Option<usize> {
    let head: &[u8; 19] = text.get(..19)?.try_into().ok()?;
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1, b' ', h0, h1, b':', i0, i1, b':', s0, s1] =
        *head
    else {
        return None;
    };
    let digits = [y0, y1, y2, y3, m0, m1, d0, d1, h0, h1, i0, i1, s0, s1];
    // Without short-circuits: one branch instead of fourteen.
    if digits
        .iter()
        .fold(false, |bad, b| bad | !b.is_ascii_digit())
    {
        return None;
    }
    let mut rest = text.get(19..)?;
    if let [b'.', fraction @ ..] = rest {
        rest = fraction.get(count_digits(fraction)..)?;
    }
    let [b' ', zone @ ..] = rest else {
        return None;
    };
    let zone_len = zone
        .iter()
        .position(u8::is_ascii_whitespace)
        .unwrap_or(zone.len());
    (zone_len > 0).then_some(text.len() - zone.len() + zone_len)
}

/// `text.starts_with(literal)` without a `memcmp` call: prefix literals are a few bytes.
fn starts_with(text: &[u8], literal: &[u8]) -> bool {
    match (literal, text) {
        ([a], [x, ..]) => a == x,
        ([a, b], [x, y, ..]) => a == x && b == y,
        _ => text.len() >= literal.len() && text.iter().zip(literal).all(|(a, b)| a == b),
    }
}

fn count_digits(text: &[u8]) -> usize {
    text.iter().take_while(|b| b.is_ascii_digit()).count()
}

fn count_hex(text: &[u8]) -> usize {
    text.iter().take_while(|b| b.is_ascii_hexdigit()).count()
}

fn count_spaces(text: &[u8]) -> usize {
    text.iter().take_while(|b| **b == b' ').count()
}

fn trim_end_spaces(mut value: &[u8]) -> &[u8] {
    while let [rest @ .., b' '] = value {
        value = rest;
    }
    value
}

/// Spaces after a left-aligned padded value, leaving one for a literal that starts with it.
fn trailing_padding(text: &[u8], next: Option<&[u8]>) -> usize {
    let spaces = count_spaces(text);
    match next {
        Some([b' ', ..]) => spaces.saturating_sub(1),
        _ => spaces,
    }
}

/// Picks the candidate prefix that fits most lines of `head`; `None` when no candidate fits
/// any line. `complete` says `head` is the whole input (so its last line is whole too).
pub(crate) fn detect(head: &[u8], complete: bool) -> Option<Prefix> {
    let mut pieces: Vec<&[u8]> = head.split(|b| *b == b'\n').collect();
    // Drop the empty piece after the final newline, or a partial last line, unless that line
    // is all there is: a first record longer than the head (a 9 MB multi-row INSERT) still
    // starts with its prefix, and the prefix is all that detection reads.
    if (!complete || head.ends_with(b"\n")) && pieces.len() > 1 {
        pieces.pop();
    }
    let lines: Vec<&[u8]> = pieces
        .into_iter()
        .filter(|l| !l.is_empty() && l.first() != Some(&b'\t'))
        .take(500)
        .collect();
    let mut best: Option<(usize, Prefix)> = None;
    for text in CANDIDATES {
        let prefix = Prefix::compile(text);
        let hits = lines
            .iter()
            .filter(|l| prefix.parse(trim_cr(l)).is_some())
            .count();
        if hits > 0 && best.as_ref().is_none_or(|(most, _)| hits > *most) {
            best = Some((hits, prefix));
        }
    }
    best.map(|(_, prefix)| prefix)
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<'a>(prefix: &str, line: &'a str) -> Option<Matched<'a>> {
        Prefix::compile(prefix).parse(line.as_bytes())
    }

    fn s(v: Option<&[u8]>) -> Option<&str> {
        v.map(|b| std::str::from_utf8(b).unwrap())
    }

    #[test]
    fn debian_first_try_agrees_with_the_general_matcher() {
        let lines = [
            "2026-11-21 18:00:17.633 UTC [8755] app@shop LOG:  statement: SELECT 1",
            "2026-11-21 18:00:17.633 UTC [8755] [unknown]@[unknown] LOG:  connection received",
            "2026-11-21 18:00:17.633 UTC [8755] @ LOG:  x",
            "2026-11-21 18:00:17 CET [8755] a@b@c LOG:  x",
            "2026-11-21 18:00:17.633 UTC [8755] u@my db LOG:  x",
            "2026-11-21 18:00:17.633 UTC [8755] u@my db ERROR:  x y@z w",
            "2026-11-21 18:00:17.633 UTC [8755] LOG:  checkpoint starting: time",
            "2026-11-21 18:00:17.633 UTC [8755] LOG:  a@b c",
            "2026-11-21 18:00:17.633 UTC [8755] u@d LOG: x",
            "2026-11-21 18:00:17.633 UTC [8755] u@d log:  x",
            "2026-11-21 18:00:17.633 UTC [8755] u@d",
            "2026-11-21 18:00:17.633 UTC [8755] u@d ",
            "2026-11-21 18:00:17.633 UTC [8755] u@",
            "2026-11-21 18:00:17.633 UTC [] u@d LOG:  x",
            "2026-11-21 18:00:17.633 UTC [87x] u@d LOG:  x",
            "2026-11-21 18:00:17.633 UTC [8755]u@d LOG:  x",
            "2026-11-21 18:00:17.633 UTC",
            "2026-11-21 18:00:17.633  [8755] u@d LOG:  x",
            "2026-11-21 18:00:17.633 UTC [8755] ü@dé LOG:  x",
            "2026-11-21 18:00:17.633 UTC [8755] u@d 2PC:  x",
            "",
            "x",
        ];
        for text in ["%m [%p] %q%u@%d ", "%t [%p] %q%u@%d "] {
            let prefix = Prefix::compile(text);
            assert!(prefix.debian, "{text}");
            for line in lines {
                let line = line.as_bytes();
                assert_eq!(prefix.parse(line), prefix.parse_general(line), "{line:?}");
                // Every cut and every one-byte change to a separator.
                for cut in 0..line.len() {
                    let part = &line[..cut];
                    assert_eq!(prefix.parse(part), prefix.parse_general(part), "{part:?}");
                    for b in [b'@', b' ', b':', b'[', b']', b'L', b'.', b'1', 0xc3] {
                        let mut changed = line.to_vec();
                        changed[cut] = b;
                        let changed = changed.as_slice();
                        assert_eq!(
                            prefix.parse(changed),
                            prefix.parse_general(changed),
                            "{changed:?}"
                        );
                    }
                }
            }
        }
        for text in [
            "%m [%p] %u@%d ",
            "%m [%p] %q%u@%d",
            "%m [%-5p] %q%u@%d ",
            "%s [%p] %q%u@%d ",
        ] {
            assert!(!Prefix::compile(text).debian, "{text}");
        }
    }

    #[test]
    fn debian_prefix_session_and_background_lines() {
        let p = "%m [%p] %q%u@%d ";
        let m = parse(
            p,
            "2026-11-21 18:00:17.633 UTC [8755] app@shop LOG:  statement: SELECT 1",
        )
        .unwrap();
        assert_eq!(s(m.timestamp), Some("2026-11-21 18:00:17.633 UTC"));
        assert_eq!(s(m.pid), Some("8755"));
        assert_eq!(s(m.user), Some("app"));
        assert_eq!(s(m.database), Some("shop"));
        assert_eq!(m.severity, b"LOG");
        assert_eq!(m.message, b"statement: SELECT 1");

        let bg = parse(
            p,
            "2026-11-21 20:17:15.886 UTC [12727] LOG:  starting PostgreSQL",
        )
        .unwrap();
        assert_eq!((s(bg.pid), bg.user), (Some("12727"), None));
        let unknown = parse(
            p,
            "2026-11-21 20:17:16.003 UTC [12736] [unknown]@[unknown] LOG:  connection received",
        )
        .unwrap();
        assert_eq!((unknown.user, unknown.database), (None, None));
    }

    #[test]
    fn pgbadger_prefix_with_application_and_empty_values() {
        let p = "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ";
        let m = parse(
            p,
            "2026-11-21 18:00:17 UTC [42]: [3-1] user=app,db=shop,app=my app, v2,client=10.0.0.1 ERROR:  boom",
        )
        .unwrap();
        assert_eq!(s(m.application), Some("my app, v2"));
        assert_eq!(m.severity, b"ERROR");
        let empty = parse(
            p,
            "2026-11-21 18:00:17 UTC [42]: [4-1] user=app,db=shop,app=,client=10.0.0.1 LOG:  x",
        )
        .unwrap();
        assert_eq!(empty.application, None);
    }

    #[test]
    fn session_id_epoch_padding_and_escaped_percent() {
        let m = parse(
            "%n %c %% %-8u|",
            "1795284017.633 6b01fc4c.31c2 % app     |LOG:  hi",
        )
        .unwrap();
        assert_eq!(s(m.epoch), Some("1795284017.633"));
        assert_eq!(s(m.session_id), Some("6b01fc4c.31c2"));
        assert_eq!(s(m.user), Some("app"));
        assert_eq!(m.message, b"hi");
    }

    #[test]
    fn rejects_lines_that_do_not_fit() {
        assert!(parse("%m [%p] ", "2026-11-21 18:00:17.633 UTC [x] LOG:  a").is_none());
        assert!(parse("%m [%p] ", "garbage").is_none());
        assert!(parse("%m [%p] ", "2026-11-21 18:00:17.633 UTC [1] app@db LOG:  a").is_none());
        assert!(parse("%t ", "2016-06-07T19:07:02.558713Z    4 Query\tSELECT 1").is_none());
    }

    #[test]
    fn detects_common_prefixes() {
        let debian = "2026-11-21 20:17:15.886 UTC [12727] LOG:  starting\n\
            2026-11-21 20:17:16.004 UTC [12736] postgres@postgres LOG:  connection authorized: user=postgres\n\
            2026-11-21 20:17:16.007 UTC [12736] postgres@postgres LOG:  statement: SELECT 1\n";
        assert_eq!(
            detect(debian.as_bytes(), false).unwrap().text(),
            "%m [%p] %q%u@%d "
        );
        let badger = "2026-11-21 18:00:17 UTC [42]: [3-1] user=app,db=shop,app=psql,client=::1 LOG:  statement: SELECT 1\n";
        assert_eq!(
            detect(badger.as_bytes(), false).unwrap().text(),
            "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h "
        );
        let old_debian = "2026-11-21 18:00:17 UTC [42-1] app@shop LOG:  statement: SELECT 1\n";
        assert_eq!(
            detect(old_debian.as_bytes(), true).unwrap().text(),
            "%t [%p-%l] %q%u@%d "
        );
        let azure =
            "2026-11-21 18:00:17 UTC [42]: [3-1] db=shop,user=app,app=psql,client=::1 LOG:  x\n";
        let found = detect(azure.as_bytes(), true).unwrap();
        let m = found.parse(azure.trim_end().as_bytes()).unwrap();
        assert_eq!((s(m.user), s(m.database)), (Some("app"), Some("shop")));
        let plain = "2026-11-21 18:00:17 UTC LOG:  statement: SELECT 1\n";
        assert_eq!(detect(plain.as_bytes(), true).unwrap().text(), "%m ");
        assert!(detect(b"hello world\nnothing here\n", true).is_none());
    }

    #[test]
    fn detects_a_prefix_from_the_start_of_a_record_longer_than_the_head() {
        let cut = "2026-11-21 20:17:16.007 UTC [12736] app@shop LOG:  statement: INSERT INTO t VALUES (1, 'x'), (2, 'x'), (3,";
        assert_eq!(
            detect(cut.as_bytes(), false).unwrap().text(),
            "%m [%p] %q%u@%d "
        );
    }
}

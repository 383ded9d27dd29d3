//! The scans of recently seen statement texts. Prepared statements and ORMs send the same
//! text again and again (`execute a1: SELECT ... WHERE id = $1`), and [`Fingerprinter::scan`]
//! depends on the text alone, so a hit skips the lexer for the cost of one hash and one
//! comparison. Direct-mapped and bounded: memory does not grow with the input (at most
//! `SLOTS` texts of up to `MAX_TEXT` bytes, each buffer kept near its text's size).

use std::borrow::Cow;

use querycomb_sql::{Dialect, Fingerprinter, Scan};
use xxhash_rust::xxh3::xxh3_64;

use crate::unit::Key;

/// Slots; a power of two.
const SLOTS: usize = 1024;
/// Longer texts are scanned every time (they are rarely repeated verbatim, and the cache
/// stays under `SLOTS * MAX_TEXT` bytes).
const MAX_TEXT: usize = 1024;

#[derive(Default)]
struct Slot {
    text: String,
    /// The dialect `scan` was made in (a text reads differently in another).
    dialect: Option<Dialect>,
    scan: Option<Scan>,
    /// The grouping key the text's sqlcommenter tags give, once asked for.
    key: Option<CachedKey>,
}

/// A [`Key`] as positions in the slot's text, owned only where the key did not borrow.
#[derive(Clone)]
enum CachedKey {
    None,
    Trace {
        id: u128,
        text: (usize, usize),
        route: Option<CachedText>,
    },
    Route(CachedText),
}

#[derive(Clone)]
enum CachedText {
    Span(usize, usize),
    Owned(String),
}

impl CachedText {
    // The `Cow` itself is the point: a borrowed text is kept as a span.
    #[allow(clippy::ptr_arg)]
    fn of(text: &Cow<'_, str>, sql: &str) -> Option<CachedText> {
        match text {
            Cow::Borrowed(part) => span(part, sql).map(|(s, e)| CachedText::Span(s, e)),
            Cow::Owned(owned) => Some(CachedText::Owned(owned.clone())),
        }
    }

    fn get<'a>(&self, sql: &'a str) -> Option<Cow<'a, str>> {
        match self {
            CachedText::Span(start, end) => sql.get(*start..*end).map(Cow::Borrowed),
            CachedText::Owned(owned) => Some(Cow::Owned(owned.clone())),
        }
    }
}

/// Where `part` (a slice of `sql`) lies in it.
fn span(part: &str, sql: &str) -> Option<(usize, usize)> {
    let start = (part.as_ptr() as usize).checked_sub(sql.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (end <= sql.len()).then_some((start, end))
}

impl CachedKey {
    fn of(key: &Key<'_>, sql: &str) -> Option<CachedKey> {
        Some(match key {
            Key::None => CachedKey::None,
            Key::Inherit => return None,
            Key::Trace { id, text, route } => CachedKey::Trace {
                id: *id,
                text: span(text, sql)?,
                route: match route {
                    Some(route) => Some(CachedText::of(route, sql)?),
                    None => None,
                },
            },
            Key::Route(route) => CachedKey::Route(CachedText::of(route, sql)?),
        })
    }

    fn get<'a>(&self, sql: &'a str) -> Option<Key<'a>> {
        Some(match self {
            CachedKey::None => Key::None,
            CachedKey::Trace { id, text, route } => Key::Trace {
                id: *id,
                text: sql.get(text.0..text.1)?,
                route: match route {
                    Some(route) => Some(route.get(sql)?),
                    None => None,
                },
            },
            CachedKey::Route(route) => Key::Route(route.get(sql)?),
        })
    }
}

pub(crate) struct ScanCache {
    slots: Vec<Slot>,
}

impl Default for ScanCache {
    fn default() -> Self {
        ScanCache {
            slots: (0..SLOTS).map(|_| Slot::default()).collect(),
        }
    }
}

impl ScanCache {
    /// `fingerprinter.scan(sql)`, remembered; with the slot that now holds `sql`, for
    /// [`key`](Self::key).
    pub(crate) fn scan(
        &mut self,
        fingerprinter: &mut Fingerprinter,
        sql: &str,
    ) -> (Scan, Option<usize>) {
        if sql.len() > MAX_TEXT {
            return (fingerprinter.scan(sql), None);
        }
        let index = xxh3_64(sql.as_bytes()) as usize & (SLOTS - 1);
        let Some(slot) = self.slots.get_mut(index) else {
            return (fingerprinter.scan(sql), None);
        };
        let dialect = Some(fingerprinter.dialect());
        if let Some(scan) = slot
            .scan
            .filter(|_| slot.text == sql && slot.dialect == dialect)
        {
            return (scan, Some(index));
        }
        let scan = fingerprinter.scan(sql);
        slot.key = None;
        slot.dialect = dialect;
        if slot.text.capacity() > 2 * sql.len() + 64 {
            // Keep the slot's buffer near its text's size: the cache stays small.
            slot.text = String::with_capacity(sql.len());
        }
        slot.text.clear();
        slot.text.push_str(sql);
        slot.scan = Some(scan);
        (scan, Some(index))
    }

    /// `compute(sql)`, remembered in `slot` (from [`scan`](Self::scan) of this same `sql`).
    pub(crate) fn key<'a>(
        &mut self,
        slot: Option<usize>,
        sql: &'a str,
        compute: impl FnOnce(&'a str) -> Key<'a>,
    ) -> Key<'a> {
        let Some(slot) = slot.and_then(|index| self.slots.get_mut(index)) else {
            return compute(sql);
        };
        if slot.text != sql {
            return compute(sql);
        }
        if let Some(key) = slot.key.as_ref().and_then(|cached| cached.get(sql)) {
            return key;
        }
        let key = compute(sql);
        slot.key = CachedKey::of(&key, sql);
        key
    }
}

#[cfg(test)]
mod tests {
    use querycomb_sql::{comment, Dialect};

    use super::*;
    use crate::pipeline::key_of;

    #[test]
    fn same_keys_as_reading_the_tags() {
        let mut fp = Fingerprinter::new(Dialect::Postgres);
        let mut cache = ScanCache::default();
        let texts = [
            "SELECT 1",
            "SELECT 1 /*controller='posts',action='show'*/",
            "SELECT 1 /*application:Blog,controller:posts,action:index*/",
            "SELECT 1 /*route='%5Eposts/%24',traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/",
            "SELECT 1 /*traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/",
            "/*route='/a'*/ SELECT 2",
            "SELECT 1 /*route=''*/",
        ];
        let show = |key: &Key<'_>| format!("{key:?}");
        for _ in 0..3 {
            for text in texts {
                let (_, slot) = cache.scan(&mut fp, text);
                let key = cache.key(slot, text, |sql| key_of(&comment::tags(sql)));
                assert_eq!(show(&key), show(&key_of(&comment::tags(text))), "{text}");
            }
        }
    }

    #[test]
    fn same_answers_as_scanning() {
        let mut fp = Fingerprinter::new(Dialect::Postgres);
        let mut cache = ScanCache::default();
        let long = format!("SELECT 1 FROM t WHERE a IN ({})", "1, ".repeat(600) + "2");
        let texts = [
            "SELECT * FROM t WHERE id = $1",
            "SELECT * FROM t WHERE id = 5",
            "",
            "SELECT * FROM t WHERE id = 6 /* querycomb:allow */",
            long.as_str(),
        ];
        for _ in 0..3 {
            for text in texts {
                assert_eq!(cache.scan(&mut fp, text).0, fp.scan(text), "{text}");
            }
        }
    }
}

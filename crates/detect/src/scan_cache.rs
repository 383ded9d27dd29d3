//! The scans of recently seen statement texts. Prepared statements and ORMs send the same
//! text again and again (`execute a1: SELECT ... WHERE id = $1`), and [`Fingerprinter::scan`]
//! depends on the text alone, so a hit skips the lexer for the cost of one hash and one
//! comparison. Direct-mapped and bounded: memory does not grow with the input (at most
//! `SLOTS` texts of up to `MAX_TEXT` bytes, each buffer kept near its text's size).

use querycomb_sql::{Fingerprinter, Scan};
use xxhash_rust::xxh3::xxh3_64;

/// Slots; a power of two.
const SLOTS: usize = 1024;
/// Longer texts are scanned every time (they are rarely repeated verbatim, and the cache
/// stays under `SLOTS * MAX_TEXT` bytes).
const MAX_TEXT: usize = 1024;

#[derive(Default)]
struct Slot {
    text: String,
    scan: Option<Scan>,
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
    /// `fingerprinter.scan(sql)`, remembered.
    pub(crate) fn scan(&mut self, fingerprinter: &mut Fingerprinter, sql: &str) -> Scan {
        if sql.len() > MAX_TEXT {
            return fingerprinter.scan(sql);
        }
        let index = xxh3_64(sql.as_bytes()) as usize & (SLOTS - 1);
        let Some(slot) = self.slots.get_mut(index) else {
            return fingerprinter.scan(sql);
        };
        if let Some(scan) = slot.scan.filter(|_| slot.text == sql) {
            return scan;
        }
        let scan = fingerprinter.scan(sql);
        if slot.text.capacity() > 2 * sql.len() + 64 {
            // Keep the slot's buffer near its text's size: the cache stays small.
            slot.text = String::with_capacity(sql.len());
        }
        slot.text.clear();
        slot.text.push_str(sql);
        slot.scan = Some(scan);
        scan
    }
}

#[cfg(test)]
mod tests {
    use querycomb_sql::Dialect;

    use super::*;

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
                assert_eq!(cache.scan(&mut fp, text), fp.scan(text), "{text}");
            }
        }
    }
}

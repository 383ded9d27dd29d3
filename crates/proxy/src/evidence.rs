//! Parent ↔ child proof: did the loop's parameters come from the parent's rows?
//!
//! A log shows a query returning 25 rows followed by 25 lookups and can only suspect the
//! two are related. The proxy sees both the rows and the bind parameters, so it checks:
//! each connection keeps digests of the values of its most recent multi-row results, and
//! each later execution whose parameter values are among them names that result as its
//! parent. The detection thread counts those matches per (parent shape, child shape) and
//! marks the finding [`querycomb_core::Proof::Proven`].
//!
//! Memory is bounded per connection: at most [`MAX_VALUES`] digests per result, over the
//! first rows only, for at most [`RECENT_RESULTS`] results of distinct statements. Hashing
//! runs only while a result is being captured, so a large result costs a few hundred rows'
//! worth of work, not all of it. Only parameters sent with the extended protocol (bind
//! values) are matched; literals inlined into simple-protocol SQL are not.

// This module reads untrusted wire bytes: no input may panic it (tests may).
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

use std::collections::HashSet;
use std::sync::Arc;

/// Value digests kept per captured result.
pub const MAX_VALUES: usize = 4096;
/// Results (of distinct statements) kept per connection.
pub const RECENT_RESULTS: usize = 3;
/// Longer values are ids of nothing: not worth matching.
const MAX_VALUE_LEN: usize = 64;

/// The statement whose result contained an execution's parameter values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentRef {
    pub sql: Arc<str>,
    /// Identifies one execution of the parent (a new loop starts with a new result).
    pub result: u64,
}

/// A digest of one value that is equal for the same number or text in either wire format:
/// binary 2/4/8-byte values are read as big-endian integers and digested as their decimal
/// text, so an `int8` id returned in binary matches an `int4` parameter sent as text.
pub fn value_key(value: &[u8], binary: bool) -> Option<u64> {
    if value.is_empty() || value.len() > MAX_VALUE_LEN {
        return None;
    }
    if binary {
        let number = match *value {
            [a, b] => Some(i64::from(i16::from_be_bytes([a, b]))),
            [a, b, c, d] => Some(i64::from(i32::from_be_bytes([a, b, c, d]))),
            [a, b, c, d, e, f, g, h] => Some(i64::from_be_bytes([a, b, c, d, e, f, g, h])),
            _ => None,
        };
        if let Some(n) = number {
            return Some(fnv1a_decimal(n));
        }
    }
    Some(fnv1a(value))
}

/// FNV-1a: tiny values, no allocation, good enough spread for set membership.
fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_from(0xcbf2_9ce4_8422_2325, bytes)
}

fn fnv1a_from(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// [`fnv1a`] of `n` written in decimal (as a text-format value would be), without
/// allocating the text.
fn fnv1a_decimal(n: i64) -> u64 {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        if let Some(slot) = digits.get_mut(at) {
            *slot = b'0' + (rest % 10) as u8;
        }
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let sign: &[u8] = if n < 0 { b"-" } else { b"" };
    let hash = fnv1a_from(0xcbf2_9ce4_8422_2325, sign);
    fnv1a_from(hash, digits.get(at..).unwrap_or_default())
}

/// Whether column `index` of a result with these format codes is binary (the Bind rule:
/// no codes = all text, one code = all columns, else one per column).
pub fn is_binary(formats: &[u16], index: usize) -> bool {
    match formats {
        [] => false,
        [one] => *one == 1,
        many => many.get(index) == Some(&1),
    }
}

/// Value digests of one result, filled row by row while it streams past.
#[derive(Debug, Default)]
pub struct ResultCapture {
    values: HashSet<u64>,
    rows: u64,
}

impl ResultCapture {
    pub fn is_full(&self) -> bool {
        self.values.len() >= MAX_VALUES
    }

    /// Adds the values of one DataRow body (`int16 n`, then `int32 len` + bytes per column).
    pub fn add_row(&mut self, body: &[u8], formats: &[u16]) {
        self.rows += 1;
        let Some((count, mut rest)) = body.split_first_chunk::<2>() else {
            return;
        };
        for column in 0..u16::from_be_bytes(*count) as usize {
            if self.is_full() {
                return;
            }
            let Some((len, after)) = rest.split_first_chunk::<4>() else {
                return;
            };
            let len = i32::from_be_bytes(*len);
            if len < 0 {
                rest = after;
                continue;
            }
            let Some(value) = after.get(..len as usize) else {
                return;
            };
            if let Some(key) = value_key(value, is_binary(formats, column)) {
                self.values.insert(key);
            }
            rest = after.get(len as usize..).unwrap_or_default();
        }
    }
}

#[derive(Debug)]
struct Kept {
    sql: Arc<str>,
    result: u64,
    values: Arc<HashSet<u64>>,
}

/// The last few multi-row results of one connection, one per statement text.
#[derive(Debug, Default)]
pub struct RecentResults {
    kept: Vec<Kept>,
    next_result: u64,
    /// The values of the previous execution's result, of any size (an `INSERT … RETURNING
    /// id` returns one row): `None` when it returned none.
    previous: Option<Arc<HashSet<u64>>>,
}

impl RecentResults {
    /// Keeps a finished result if it could be a parent (two rows or more). A statement's
    /// new result replaces its previous one, so a loop whose children return several rows
    /// never pushes its parent out. Every execution's values (of any size) are remembered as
    /// the previous result, for dependent chains. The id the result is kept under, if kept.
    pub fn finish(&mut self, sql: &str, capture: Option<ResultCapture>) -> Option<u64> {
        let Some(capture) = capture.filter(|c| !c.values.is_empty()) else {
            self.previous = None;
            return None;
        };
        let values = Arc::new(capture.values);
        self.previous = Some(values.clone());
        if capture.rows < 2 {
            return None;
        }
        self.kept.retain(|k| &*k.sql != sql);
        if self.kept.len() >= RECENT_RESULTS {
            self.kept.remove(0);
        }
        self.next_result += 1;
        self.kept.push(Kept {
            sql: Arc::from(sql),
            result: self.next_result,
            values,
        });
        Some(self.next_result)
    }

    /// Leaves out of the previous result the values its execution was sent (`keys`): a
    /// value the server only echoed back (a tenant id in every row) links nothing.
    pub fn forget_sent(&mut self, keys: &[u64]) {
        if let Some(previous) = self.previous.as_mut() {
            if keys.iter().any(|key| previous.contains(key)) {
                let values = Arc::make_mut(previous);
                for key in keys {
                    values.remove(key);
                }
            }
        }
    }

    /// Whether one of `keys` is among the values the previous execution returned (and was
    /// not sent): the execution continues a dependent chain. Call before
    /// [`RecentResults::finish`].
    pub fn follows_previous(&self, keys: &[u64]) -> bool {
        self.previous
            .as_ref()
            .is_some_and(|values| keys.iter().any(|key| values.contains(key)))
    }

    /// The most recent other statement whose result holds one of `keys`.
    pub fn parent_of(&self, sql: &str, keys: &[u64]) -> Option<ParentRef> {
        if keys.is_empty() {
            return None;
        }
        self.kept
            .iter()
            .rev()
            .filter(|k| &*k.sql != sql)
            .find(|k| keys.iter().any(|key| k.values.contains(key)))
            .map(|k| ParentRef {
                sql: k.sql.clone(),
                result: k.result,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_integer_hashes_as_its_decimal_text() {
        for n in [0i64, 7, -7, 42, 1_000_000, i64::MIN, i64::MAX] {
            assert_eq!(fnv1a_decimal(n), fnv1a(n.to_string().as_bytes()), "{n}");
        }
    }

    fn row(values: &[&[u8]]) -> Vec<u8> {
        let mut body = (values.len() as u16).to_be_bytes().to_vec();
        for v in values {
            body.extend((v.len() as i32).to_be_bytes());
            body.extend(*v);
        }
        body
    }

    #[test]
    fn binary_and_text_integers_match() {
        assert_eq!(value_key(&7i32.to_be_bytes(), true), value_key(b"7", false));
        assert_eq!(value_key(&7i64.to_be_bytes(), true), value_key(b"7", false));
        assert_ne!(value_key(b"7", false), value_key(b"8", false));
        assert_eq!(value_key(b"", false), None);
    }

    #[test]
    fn children_find_the_parent_result_holding_their_values() {
        let parent: Arc<str> = Arc::from("SELECT id, customer_id FROM orders");
        let mut capture = ResultCapture::default();
        for (id, customer) in [(1i32, 7i32), (2, 8)] {
            capture.add_row(&row(&[&id.to_be_bytes(), &customer.to_be_bytes()]), &[1]);
        }
        let mut recent = RecentResults::default();
        recent.finish(&parent, Some(capture));
        let child = "SELECT * FROM customers WHERE id = $1";
        let found = recent.parent_of(child, &[value_key(b"8", false).unwrap_or_default()]);
        assert_eq!(found.map(|p| p.sql), Some(parent.clone()));
        assert_eq!(
            recent.parent_of(child, &[value_key(b"99", false).unwrap_or_default()]),
            None
        );

        // The child's own multi-row results never evict the parent.
        for _ in 0..10 {
            let mut own = ResultCapture::default();
            own.add_row(&row(&[b"x"]), &[]);
            own.add_row(&row(&[b"y"]), &[]);
            recent.finish(child, Some(own));
        }
        assert!(recent
            .parent_of(child, &[value_key(b"7", false).unwrap_or_default()])
            .is_some());
    }

    #[test]
    fn an_execution_using_the_previous_reply_follows_it() {
        let key = |v: &[u8]| value_key(v, false).unwrap_or_default();
        let insert: Arc<str> = Arc::from("INSERT INTO node (parent_id) VALUES ($1) RETURNING id");
        let mut recent = RecentResults::default();
        let mut returned = ResultCapture::default();
        returned.add_row(&row(&[b"41"]), &[]);
        recent.finish(&insert, Some(returned));
        assert!(
            recent.follows_previous(&[key(b"41")]),
            "uses the id just returned"
        );
        assert!(!recent.follows_previous(&[key(b"7")]));
        // A value the server only echoed back links nothing.
        let mut echoed = ResultCapture::default();
        echoed.add_row(&row(&[b"7", b"43"]), &[]);
        recent.finish(&insert, Some(echoed));
        recent.forget_sent(&[key(b"7")]);
        assert!(!recent.follows_previous(&[key(b"7")]));
        assert!(recent.follows_previous(&[key(b"43")]));
        // A statement that returned nothing breaks the chain.
        recent.finish("UPDATE counters SET n = n + 1", None);
        assert!(!recent.follows_previous(&[key(b"41")]));
    }

    #[test]
    fn single_rows_and_garbage_are_not_parents() {
        let mut recent = RecentResults::default();
        let mut one = ResultCapture::default();
        one.add_row(&row(&[b"5"]), &[]);
        recent.finish(&Arc::from("SELECT 5"), Some(one));
        assert_eq!(
            recent.parent_of("x", &[value_key(b"5", false).unwrap_or_default()]),
            None
        );
        let mut junk = ResultCapture::default();
        junk.add_row(&[0, 9, 0xff], &[]);
        junk.add_row(&[], &[]);
        junk.add_row(&[0, 1, 0x7f, 0xff, 0xff, 0xff, 1], &[]);
        assert_eq!(junk.rows, 3);
    }
}

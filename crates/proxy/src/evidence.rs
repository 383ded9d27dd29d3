//! Parent ↔ child links by value: did the loop's parameters come from the parent's rows?
//!
//! A log shows a query returning 25 rows followed by 25 lookups and can only suspect the
//! two are related. The proxy sees both the rows and the bind parameters, so it checks:
//! each connection digests the values of each result while it streams past and the values
//! of each execution's bind parameters ([`ValueTrace`]); the detection thread keeps each
//! client's most recent multi-row results ([`ClientResults`]), across all its connections,
//! and links every later execution whose parameter values are among them to that result
//! (`QueryEvent::links`). Grouping uses the links to put a pooled fan-out back together and
//! to keep two requests' loops of one shape apart; proof counts them.
//!
//! Memory is bounded: at most [`MAX_VALUES`] digests per result, over the first rows only,
//! [`RESULTS_PER_CLIENT`] results per client and [`MAX_CLIENTS`] clients. Hashing runs only
//! while a result is being captured, so a large result costs a few hundred rows' worth of
//! work, not all of it. Only parameters sent with the extended protocol (bind values) are
//! matched; literals inlined into simple-protocol SQL are not.

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

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use foldhash::fast::RandomState;

use querycomb_core::ValueLinks;

/// A set of value digests. Its keys are digests of values the database returned or a
/// client sent, so its hasher is seeded at random per process (collisions cannot be
/// prepared in advance), and it is foldhash rather than SipHash: a fraction of the cost,
/// on the four lookups each statement makes. Each set holds at most [`MAX_VALUES`].
pub type DigestSet = HashSet<u64, RandomState>;

/// Value digests kept per captured result.
pub const MAX_VALUES: usize = 4096;
/// Longer values are ids of nothing: not worth matching.
const MAX_VALUE_LEN: usize = 64;

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
    values: DigestSet,
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

/// What one execution leaves for the value links, sent with its event to the detection
/// thread: the digests of its bind values and, when it returned two rows or more, of its
/// result's values.
#[derive(Debug, Clone, Default)]
pub struct ValueTrace {
    pub keys: Box<[u64]>,
    pub result: Option<Arc<DigestSet>>,
}

impl ValueTrace {
    /// Nothing to link: no bind values, no kept result (most statements of simple-protocol
    /// clients, and every one-row result without parameters).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.result.is_none()
    }
}

/// The previous execution's reply on one connection, for dependent chains (an `INSERT …
/// RETURNING id` whose id the next insert uses): a chain runs on one connection.
#[derive(Debug, Default)]
pub struct PreviousReply {
    /// The values of the previous execution's result, of any size: `None` when it returned
    /// none.
    previous: Option<Arc<DigestSet>>,
}

impl PreviousReply {
    /// Remembers a finished execution's result as the previous reply; returns its values
    /// when it could be a parent (two rows or more).
    pub fn finish(&mut self, capture: Option<ResultCapture>) -> Option<Arc<DigestSet>> {
        let Some(capture) = capture.filter(|c| !c.values.is_empty()) else {
            self.previous = None;
            return None;
        };
        let values = Arc::new(capture.values);
        self.previous = Some(values.clone());
        (capture.rows >= 2).then_some(values)
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
    /// [`PreviousReply::finish`].
    pub fn follows_previous(&self, keys: &[u64]) -> bool {
        self.previous
            .as_ref()
            .is_some_and(|values| keys.iter().any(|key| values.contains(key)))
    }
}

/// Multi-row results kept per client (a few request streams, each with a parent or two).
pub const RESULTS_PER_CLIENT: usize = 16;
/// Clients whose results are kept at once; past this the table starts again (counted).
pub const MAX_CLIENTS: usize = 4096;

#[derive(Debug)]
struct Kept {
    /// Digest of the statement text: a loop's own results never count as its parent.
    sql: u64,
    /// Digest of the connection that ran it.
    session: u64,
    result: u64,
    values: Arc<DigestSet>,
}

/// The recent multi-row results of each client across all its connections, kept by the
/// detection thread, which sees every connection's executions in order: a child whose bind
/// values are among a result's values names that result as its parent, whichever connection
/// ran either (a pooled fan-out's children run on other connections than their parent).
#[derive(Debug, Default)]
pub struct ClientResults {
    clients: HashMap<u64, Vec<Kept>, RandomState>,
    next_result: u64,
    /// Times the client table was full and started again.
    pub resets: u64,
}

impl ClientResults {
    /// Links one execution of `client` (any stable digest of who it is) on `session` to
    /// the result its bind values came from, and keeps its own result as a possible parent.
    ///
    /// A link is drawn only when exactly one kept result of another statement holds one of
    /// its values: two requests reading overlapping rows at once (the same customers) leave
    /// their children unlinked rather than linked to a guess, and grouping then goes by
    /// timing as it does for logs. A statement's new result replaces its previous one on
    /// the same connection, so a loop whose children return several rows never pushes its
    /// parent out.
    pub fn link(&mut self, client: u64, session: u64, sql: &str, trace: &ValueTrace) -> ValueLinks {
        if trace.is_empty() {
            return ValueLinks::default();
        }
        if self.clients.len() >= MAX_CLIENTS && !self.clients.contains_key(&client) {
            self.clients.clear();
            self.resets += 1;
        }
        let sql = fnv1a(sql.as_bytes());
        let kept = self.clients.entry(client).or_default();
        let parent_result = (!trace.keys.is_empty())
            .then(|| parent_of(kept, sql, &trace.keys))
            .flatten();
        let result = trace.result.as_ref().map(|values| {
            kept.retain(|k| k.sql != sql || k.session != session);
            if kept.len() >= RESULTS_PER_CLIENT {
                kept.remove(0);
            }
            self.next_result += 1;
            kept.push(Kept {
                sql,
                session,
                result: self.next_result,
                values: values.clone(),
            });
            self.next_result
        });
        ValueLinks {
            result,
            parent_result,
        }
    }

    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}

/// See [`ClientResults::link`].
fn parent_of(kept: &[Kept], sql: u64, keys: &[u64]) -> Option<u64> {
    let mut holding = kept
        .iter()
        .filter(|k| k.sql != sql && keys.iter().any(|key| k.values.contains(key)));
    let only = holding.next()?;
    holding.next().is_none().then_some(only.result)
}

/// A digest of a session id, for [`ClientResults::link`].
pub fn session_digest(session: &str) -> u64 {
    fnv1a(session.as_bytes())
}

/// A digest of who a client is, as the detection stage groups them (user, database,
/// application). Called for each event with values to link: no allocation.
pub fn client_digest(user: Option<&str>, database: Option<&str>, application: Option<&str>) -> u64 {
    [user, database, application]
        .into_iter()
        .fold(0xcbf2_9ce4_8422_2325, |hash, part| {
            // A 0 byte after each part keeps ("ab", "c") apart from ("a", "bc").
            let bytes = part.unwrap_or_default().bytes().chain(std::iter::once(0));
            bytes.fold(hash, |hash, b| {
                (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
            })
        })
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

    fn capture(rows: &[&[&[u8]]]) -> Option<ResultCapture> {
        let mut capture = ResultCapture::default();
        for values in rows {
            capture.add_row(&row(values), &[]);
        }
        Some(capture)
    }

    fn key(value: &[u8]) -> u64 {
        value_key(value, false).unwrap_or_default()
    }

    fn kept(results: &mut ClientResults, session: u64, sql: &str, ids: &[&[u8]]) -> Option<u64> {
        let rows: Vec<&[&[u8]]> = ids.iter().map(std::slice::from_ref).collect();
        let values = PreviousReply::default().finish(capture(&rows));
        let trace = ValueTrace {
            keys: Box::new([]),
            result: values,
        };
        results.link(1, session, sql, &trace).result
    }

    fn lookup(results: &mut ClientResults, session: u64, value: &[u8]) -> Option<u64> {
        let trace = ValueTrace {
            keys: Box::new([key(value)]),
            result: None,
        };
        results
            .link(1, session, "SELECT * FROM customers WHERE id = $1", &trace)
            .parent_result
    }

    #[test]
    fn children_on_any_connection_link_to_the_result_holding_their_values() {
        let mut first = ResultCapture::default();
        for (id, customer) in [(1i32, 7i32), (2, 8)] {
            first.add_row(&row(&[&id.to_be_bytes(), &customer.to_be_bytes()]), &[1]);
        }
        let values = PreviousReply::default().finish(Some(first));
        let mut results = ClientResults::default();
        let parent = ValueTrace {
            keys: Box::new([]),
            result: values,
        };
        // The parent ran on connection 1 ...
        let orders = "SELECT id, customer_id FROM orders";
        let parent_result = results.link(1, 1, orders, &parent).result;
        assert!(parent_result.is_some(), "two rows: kept");
        // ... its children on it and on others: each names the parent's result.
        assert_eq!(lookup(&mut results, 1, b"8"), parent_result);
        assert_eq!(lookup(&mut results, 2, b"7"), parent_result);
        assert_eq!(lookup(&mut results, 3, b"99"), None);
        // Another client's rows link nothing.
        let child = ValueTrace {
            keys: Box::new([key(b"8")]),
            result: None,
        };
        assert_eq!(results.link(2, 2, "SELECT 1", &child).parent_result, None);

        // The child's own multi-row results never evict the parent.
        for _ in 0..40 {
            kept(
                &mut results,
                1,
                "SELECT * FROM customers WHERE id = $1",
                &[b"x", b"y"],
            );
        }
        assert_eq!(lookup(&mut results, 2, b"7"), parent_result);
    }

    #[test]
    fn two_requests_at_once_each_keep_their_children() {
        let mut results = ClientResults::default();
        let orders = "SELECT customer_id FROM orders WHERE day = $1";
        let a = kept(&mut results, 1, orders, &[b"1", b"2", b"5"]);
        let b = kept(&mut results, 2, orders, &[b"3", b"4", b"5"]);
        assert_ne!(a, b, "the same statement on two connections: two results");
        // On any connection: the one result holding the value, or none when two do.
        assert_eq!(lookup(&mut results, 1, b"2"), a);
        assert_eq!(lookup(&mut results, 3, b"2"), a);
        assert_eq!(lookup(&mut results, 3, b"3"), b);
        assert_eq!(lookup(&mut results, 1, b"5"), None, "ambiguous: no guess");
        assert_eq!(lookup(&mut results, 3, b"5"), None, "ambiguous: no guess");
    }

    #[test]
    fn the_client_table_is_bounded() {
        let mut results = ClientResults::default();
        let values = PreviousReply::default().finish(capture(&[&[b"1"], &[b"2"]]));
        let trace = ValueTrace {
            keys: Box::new([]),
            result: values,
        };
        for client in 0..(MAX_CLIENTS as u64 + 10) {
            results.link(client, 1, "SELECT id FROM t", &trace);
        }
        assert!(results.len() <= MAX_CLIENTS);
        assert_eq!(results.resets, 1);
    }

    #[test]
    fn an_execution_using_the_previous_reply_follows_it() {
        let mut previous = PreviousReply::default();
        previous.finish(capture(&[&[b"41"]]));
        assert!(
            previous.follows_previous(&[key(b"41")]),
            "uses the id just returned"
        );
        assert!(!previous.follows_previous(&[key(b"7")]));
        // A value the server only echoed back links nothing.
        previous.finish(capture(&[&[b"7", b"43"]]));
        previous.forget_sent(&[key(b"7")]);
        assert!(!previous.follows_previous(&[key(b"7")]));
        assert!(previous.follows_previous(&[key(b"43")]));
        // A statement that returned nothing breaks the chain.
        previous.finish(None);
        assert!(!previous.follows_previous(&[key(b"41")]));
    }

    #[test]
    fn single_rows_and_garbage_are_not_parents() {
        let mut previous = PreviousReply::default();
        assert_eq!(previous.finish(capture(&[&[b"5"]])), None);
        let mut junk = ResultCapture::default();
        junk.add_row(&[0, 9, 0xff], &[]);
        junk.add_row(&[], &[]);
        junk.add_row(&[0, 1, 0x7f, 0xff, 0xff, 0xff, 1], &[]);
        assert_eq!(junk.rows, 3);
    }
}

//! Parent ↔ child links by value: did the loop's parameters come from the parent's rows?
//!
//! A log shows a query returning 25 rows followed by 25 lookups and can only suspect the
//! two are related. The proxy sees both the rows and the bind parameters, so it checks:
//! each connection digests the values of each result while it streams past and the values
//! of each execution's bind parameters ([`ValueTrace`]); the detection thread keeps each
//! client's recent multi-row results ([`ClientResults`]), across all its connections, until
//! their connection closes or nothing used them for the idle gap that ends a unit of work,
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
use std::ops::Range;
use std::sync::{Arc, Weak};

use foldhash::fast::RandomState;

use querycomb_core::{Timestamp, ValueLinks};
use querycomb_sql::comment::without_tags;

use crate::observe::Session;

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
    /// The first few digests, until more come: most results are one short row, which is
    /// never a parent (only the previous reply of a dependent chain), and needs no set.
    few: FewDigests,
    /// Every digest, once there are more than `few` holds (`few` is then empty).
    values: DigestSet,
    rows: u64,
}

/// Up to [`FEW`] distinct digests, inline.
#[derive(Debug, Default, Clone)]
struct FewDigests {
    len: usize,
    items: [u64; FEW],
}

/// Digests kept inline per result before a set is built.
const FEW: usize = 8;

impl FewDigests {
    fn as_slice(&self) -> &[u64] {
        self.items.get(..self.len).unwrap_or_default()
    }

    fn contains(&self, key: &u64) -> bool {
        self.as_slice().contains(key)
    }

    /// False when it is full and `key` is new.
    fn insert(&mut self, key: u64) -> bool {
        if self.contains(&key) {
            return true;
        }
        match self.items.get_mut(self.len) {
            Some(slot) => {
                *slot = key;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    fn remove_all(&mut self, keys: &[u64]) {
        let before = std::mem::take(self);
        for &key in before.as_slice().iter().filter(|key| !keys.contains(key)) {
            self.insert(key);
        }
    }
}

impl ResultCapture {
    pub fn is_full(&self) -> bool {
        self.values.len() >= MAX_VALUES
    }

    fn is_empty(&self) -> bool {
        self.few.len == 0 && self.values.is_empty()
    }

    fn insert(&mut self, key: u64) {
        if self.values.is_empty() {
            if self.few.insert(key) {
                return;
            }
            // `few` is full: from now on every digest goes to the set.
            self.values.extend(self.few.as_slice().iter().copied());
            self.few = FewDigests::default();
        }
        self.values.insert(key);
    }

    fn into_set(self) -> DigestSet {
        let mut values = self.values;
        values.extend(self.few.as_slice().iter().copied());
        values
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
                self.insert(key);
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
    pub keys: Arc<[u64]>,
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
    /// The values of the previous execution's result, of any size.
    previous: Previous,
}

#[derive(Debug, Default)]
enum Previous {
    /// It returned no values.
    #[default]
    Nothing,
    /// One row of a few values (most replies), kept without a set.
    Few(FewDigests),
    Values(Arc<DigestSet>),
}

impl PreviousReply {
    /// Remembers a finished execution's result as the previous reply; returns its values
    /// when it could be a parent (two rows or more).
    pub fn finish(&mut self, capture: Option<ResultCapture>) -> Option<Arc<DigestSet>> {
        let Some(capture) = capture.filter(|c| !c.is_empty()) else {
            self.previous = Previous::Nothing;
            return None;
        };
        if capture.rows < 2 && capture.values.is_empty() {
            self.previous = Previous::Few(capture.few);
            return None;
        }
        let rows = capture.rows;
        let values = Arc::new(capture.into_set());
        self.previous = Previous::Values(values.clone());
        (rows >= 2).then_some(values)
    }

    /// Leaves out of the previous result the values its execution was sent (`keys`): a
    /// value the server only echoed back (a tenant id in every row) links nothing.
    pub fn forget_sent(&mut self, keys: &[u64]) {
        if !self.follows_previous(keys) {
            return;
        }
        match &mut self.previous {
            Previous::Nothing => {}
            Previous::Few(few) => few.remove_all(keys),
            Previous::Values(previous) => {
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
        keys.iter().any(|key| match &self.previous {
            Previous::Nothing => false,
            Previous::Few(few) => few.contains(key),
            Previous::Values(values) => values.contains(key),
        })
    }
}

/// Multi-row results kept per client (a few request streams, each with a parent or two).
pub const RESULTS_PER_CLIENT: usize = 16;
/// Clients whose results are kept at once; past this the table starts again (counted).
pub const MAX_CLIENTS: usize = 4096;

#[derive(Debug)]
struct Kept {
    /// Digest of the statement text without its sqlcommenter tags
    /// (`querycomb_sql::comment::without_tags`), which differ per request: a loop's own
    /// results, and a later read of the same statement, never count as its parent.
    sql: u64,
    /// The connection that ran it, while it is open.
    connection: Weak<Session>,
    result: u64,
    /// The result its own bind values linked it to.
    parent: Option<u64>,
    values: Arc<DigestSet>,
    /// When it was returned or, if later, when an execution last linked to it.
    last_used: Timestamp,
}

impl Kept {
    /// Whether it can still be the parent of a request grouping holds open: its connection
    /// is open (a closed connection ran its last request), and something returned or used
    /// it within `expiry` before `time`.
    fn live(&self, time: Timestamp, expiry: Option<Timestamp>) -> bool {
        self.connection.strong_count() > 0
            && expiry.is_none_or(|expiry| time.saturating_sub(self.last_used) <= expiry)
    }
}

/// The recent multi-row results of each client across all its connections, kept by the
/// detection thread, which sees every connection's executions in order: a child whose bind
/// values are among a result's values names that result as its parent, whichever connection
/// ran either (a pooled fan-out's children run on other connections than their parent).
#[derive(Debug, Default)]
pub struct ClientResults {
    clients: HashMap<u64, Vec<Kept>, RandomState>,
    next_result: u64,
    /// How long a kept result nothing uses stays a possible parent (µs; `None`: until its
    /// connection closes or it is pushed out). See [`ClientResults::expire_after`].
    expiry: Option<Timestamp>,
    /// Times the client table was full and started again.
    pub resets: u64,
    digests: StatementDigests,
}

/// Digests of statement texts without their tags ([`statement_digest`]), remembered by the
/// text's shared allocation: a prepared statement, and an unnamed one parsed again with the
/// same text, reach detection as the same `Arc` at every execution, so its digest is
/// computed once, not read byte by byte at each. A slot holds its text, so the address
/// cannot be reused by another text while it is cached; texts over [`MAX_DIGESTED_TEXT`]
/// bytes are not kept (memory stays under `DIGEST_SLOTS × MAX_DIGESTED_TEXT`).
#[derive(Debug)]
struct StatementDigests {
    slots: Box<[Option<DigestedText>]>,
}

impl Default for StatementDigests {
    fn default() -> Self {
        StatementDigests {
            slots: (0..DIGEST_SLOTS).map(|_| None).collect(),
        }
    }
}

#[derive(Debug)]
struct DigestedText {
    text: Arc<str>,
    range: Range<usize>,
    digest: u64,
}

/// Slots of [`StatementDigests`]; a power of two.
const DIGEST_SLOTS: usize = 64;
/// Longer texts are digested at every execution.
const MAX_DIGESTED_TEXT: usize = 1024;

impl StatementDigests {
    /// The digest of `text[range]` without its tags.
    fn digest(&mut self, text: &Arc<str>, range: Range<usize>) -> u64 {
        let statement = || text.get(range.clone()).unwrap_or(text);
        if text.len() > MAX_DIGESTED_TEXT {
            return statement_digest(statement());
        }
        // Fibonacci hashing of the address: its high bits pick the slot.
        let address = Arc::as_ptr(text).cast::<u8>() as usize ^ range.start;
        let index = (address as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58;
        let Some(slot) = self.slots.get_mut(index as usize) else {
            return statement_digest(statement());
        };
        match slot {
            Some(kept) if Arc::ptr_eq(&kept.text, text) && kept.range == range => kept.digest,
            _ => {
                let digest = statement_digest(statement());
                *slot = Some(DigestedText {
                    text: text.clone(),
                    range,
                    digest,
                });
                digest
            }
        }
    }
}

/// What identifies a statement among a client's kept results: its text without the
/// sqlcommenter tags, which differ per request.
fn statement_digest(sql: &str) -> u64 {
    fnv1a(without_tags(sql).as_bytes())
}

impl ClientResults {
    /// Kept results expire once nothing returned or linked to them for `idle_gap_us`, the
    /// detection stage's idle gap: a unit of work ends when it pauses that long (and a
    /// fan-out segment waits that long for its pieces), so a result no execution used for
    /// that long is the parent of no request grouping still holds open; kept, it would only
    /// make the children of a later request that reads the same rows ambiguous.
    pub fn expire_after(&mut self, idle_gap_us: Timestamp) {
        self.expiry = Some(idle_gap_us);
    }

    /// Links one execution of `client` (any stable digest of who it is) on `connection`,
    /// at `time`, to the result its bind values came from, and keeps its own result as a
    /// possible parent.
    ///
    /// A link is drawn only when exactly one kept result holds one of its values, and that
    /// result is another statement's: two requests reading overlapping rows at once (the same customers) leave
    /// their children unlinked rather than linked to a guess, and grouping then goes by
    /// timing as it does for logs. A loop's child replaces the result of the iteration
    /// before it (the same statement on the same connection, linked to the same parent), so
    /// a loop whose children return several rows never pushes its parent out. Nothing else
    /// replaces a result: a pooled connection's next request may read the same statement
    /// while the fan-out of the request before it still runs on other connections. Results
    /// of closed connections, and unused ones (see [`ClientResults::expire_after`]), are
    /// dropped.
    ///
    /// The statement is `text[range]`, a text shared with the connection's other executions
    /// of it: its digest is computed once per text (see [`StatementDigests`]).
    pub fn link(
        &mut self,
        client: u64,
        connection: &Arc<Session>,
        time: Timestamp,
        (text, range): (&Arc<str>, Range<usize>),
        trace: &ValueTrace,
    ) -> ValueLinks {
        if trace.is_empty() {
            return ValueLinks::default();
        }
        let sql = self.digests.digest(text, range);
        if self.clients.len() >= MAX_CLIENTS && !self.clients.contains_key(&client) {
            self.clients.clear();
            self.resets += 1;
        }
        let kept = self.clients.entry(client).or_default();
        let expiry = self.expiry;
        kept.retain(|k| k.live(time, expiry));
        let parent_result = (!trace.keys.is_empty())
            .then(|| parent_of(kept, sql, &trace.keys))
            .flatten()
            .map(|parent| {
                parent.last_used = parent.last_used.max(time);
                parent.result
            });
        let result = trace.result.as_ref().map(|values| {
            let connection = Arc::downgrade(connection);
            kept.retain(|k| {
                let sibling = k.parent.is_some() && k.parent == parent_result;
                !(sibling && k.sql == sql && k.connection.ptr_eq(&connection))
            });
            if kept.len() >= RESULTS_PER_CLIENT {
                kept.remove(0);
            }
            self.next_result += 1;
            kept.push(Kept {
                sql,
                connection,
                result: self.next_result,
                parent: parent_result,
                values: values.clone(),
                last_used: time,
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

/// See [`ClientResults::link`]. The statement's own earlier results count among the
/// holders but are never the parent: a value one of them also holds is as likely a page,
/// a limit or a re-read as an iteration of the other result.
fn parent_of<'a>(kept: &'a mut [Kept], sql: u64, keys: &[u64]) -> Option<&'a mut Kept> {
    let mut holding = kept
        .iter_mut()
        .filter(|k| keys.iter().any(|key| k.values.contains(key)));
    let only = holding.next()?;
    (holding.next().is_none() && only.sql != sql).then_some(only)
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

    impl ClientResults {
        /// [`ClientResults::link`] for a statement given as text alone.
        fn link_sql(
            &mut self,
            client: u64,
            connection: &Arc<Session>,
            time: Timestamp,
            sql: &str,
            trace: &ValueTrace,
        ) -> ValueLinks {
            let text: Arc<str> = Arc::from(sql);
            self.link(client, connection, time, (&text, 0..text.len()), trace)
        }
    }

    #[test]
    fn a_binary_integer_hashes_as_its_decimal_text() {
        for n in [0i64, 7, -7, 42, 1_000_000, i64::MIN, i64::MAX] {
            assert_eq!(fnv1a_decimal(n), fnv1a(n.to_string().as_bytes()), "{n}");
        }
    }

    /// A shared text's digest is remembered, and is the digest its statement would have
    /// read afresh: per statement of the text, without tags, whichever copy of the text.
    #[test]
    fn a_shared_texts_digest_is_its_statements_digest_without_tags() {
        let mut digests = StatementDigests::default();
        let tagged: Arc<str> = Arc::from("SELECT 1; SELECT * FROM t WHERE id = $1 /*route='a'*/");
        let first = 0..8;
        let second = 10..tagged.len();
        for _ in 0..3 {
            assert_eq!(
                digests.digest(&tagged, first.clone()),
                statement_digest("SELECT 1")
            );
            assert_eq!(
                digests.digest(&tagged, second.clone()),
                statement_digest("SELECT * FROM t WHERE id = $1"),
            );
        }
        let copy: Arc<str> = Arc::from("SELECT * FROM t WHERE id = $1 /*route='b'*/");
        assert_eq!(
            digests.digest(&copy, 0..copy.len()),
            statement_digest("SELECT * FROM t WHERE id = $1"),
        );
        let long: Arc<str> = Arc::from(format!("SELECT {} FROM t", "a, ".repeat(400)));
        assert_eq!(
            digests.digest(&long, 0..long.len()),
            statement_digest(&long)
        );
        assert!(
            digests
                .slots
                .iter()
                .flatten()
                .all(|kept| kept.text.len() <= MAX_DIGESTED_TEXT),
            "a long text is not kept"
        );
    }

    /// Many texts through few slots: a slot answers only for the text it holds, so each
    /// text always gets its own digest.
    #[test]
    fn texts_sharing_a_slot_never_take_each_others_digest() {
        let mut digests = StatementDigests::default();
        let texts: Vec<Arc<str>> = (0..4 * DIGEST_SLOTS)
            .map(|n| Arc::from(format!("SELECT * FROM t{n} WHERE id = $1")))
            .collect();
        for _ in 0..2 {
            for text in &texts {
                assert_eq!(digests.digest(text, 0..text.len()), statement_digest(text));
            }
        }
        // Freed texts whose addresses are reused by new ones.
        for n in 0..4 * DIGEST_SLOTS {
            let text: Arc<str> = Arc::from(format!("SELECT {n}"));
            assert_eq!(
                digests.digest(&text, 0..text.len()),
                statement_digest(&text)
            );
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

    /// Open connections, by index.
    fn connections() -> Vec<Arc<Session>> {
        (0..4).map(|_| Arc::default()).collect()
    }

    fn kept(
        results: &mut ClientResults,
        session: &Arc<Session>,
        sql: &str,
        ids: &[&[u8]],
    ) -> Option<u64> {
        kept_at(results, session, 0, sql, ids)
    }

    fn kept_at(
        results: &mut ClientResults,
        session: &Arc<Session>,
        time: Timestamp,
        sql: &str,
        ids: &[&[u8]],
    ) -> Option<u64> {
        let rows: Vec<&[&[u8]]> = ids.iter().map(std::slice::from_ref).collect();
        let values = PreviousReply::default().finish(capture(&rows));
        let trace = ValueTrace {
            keys: Arc::default(),
            result: values,
        };
        results.link_sql(1, session, time, sql, &trace).result
    }

    fn lookup(results: &mut ClientResults, session: &Arc<Session>, value: &[u8]) -> Option<u64> {
        lookup_at(results, session, 0, value)
    }

    fn lookup_at(
        results: &mut ClientResults,
        session: &Arc<Session>,
        time: Timestamp,
        value: &[u8],
    ) -> Option<u64> {
        let trace = ValueTrace {
            keys: Arc::from([key(value)]),
            result: None,
        };
        results
            .link_sql(
                1,
                session,
                time,
                "SELECT * FROM customers WHERE id = $1",
                &trace,
            )
            .parent_result
    }

    #[test]
    fn children_on_any_connection_link_to_the_result_holding_their_values() {
        let mut first = ResultCapture::default();
        for (id, customer) in [(1i32, 7i32), (2, 8)] {
            first.add_row(&row(&[&id.to_be_bytes(), &customer.to_be_bytes()]), &[1]);
        }
        let values = PreviousReply::default().finish(Some(first));
        let c = connections();
        let mut results = ClientResults::default();
        let parent = ValueTrace {
            keys: Arc::default(),
            result: values,
        };
        // The parent ran on connection 1 ...
        let orders = "SELECT id, customer_id FROM orders";
        let parent_result = results.link_sql(1, &c[1], 0, orders, &parent).result;
        assert!(parent_result.is_some(), "two rows: kept");
        // ... its children on it and on others: each names the parent's result.
        assert_eq!(lookup(&mut results, &c[1], b"8"), parent_result);
        assert_eq!(lookup(&mut results, &c[2], b"7"), parent_result);
        assert_eq!(lookup(&mut results, &c[3], b"99"), None);
        // Another client's rows link nothing.
        let child = ValueTrace {
            keys: Arc::from([key(b"8")]),
            result: None,
        };
        assert_eq!(
            results
                .link_sql(2, &c[2], 0, "SELECT 1", &child)
                .parent_result,
            None
        );

        // The children's own multi-row results (each replacing the iteration's before it)
        // never evict the parent.
        let values = PreviousReply::default().finish(capture(&[&[b"x"], &[b"y"]]));
        let child = ValueTrace {
            keys: Arc::from([key(b"8")]),
            result: values,
        };
        for _ in 0..40 {
            let sql = "SELECT * FROM items WHERE customer_id = $1";
            let links = results.link_sql(1, &c[1], 0, sql, &child);
            assert_eq!(links.parent_result, parent_result);
        }
        assert_eq!(lookup(&mut results, &c[2], b"7"), parent_result);
    }

    #[test]
    fn two_requests_at_once_each_keep_their_children() {
        let c = connections();
        let mut results = ClientResults::default();
        let orders = "SELECT customer_id FROM orders WHERE day = $1";
        let a = kept(&mut results, &c[1], orders, &[b"1", b"2", b"5"]);
        let b = kept(&mut results, &c[2], orders, &[b"3", b"4", b"5"]);
        assert_ne!(a, b, "the same statement on two connections: two results");
        // On any connection: the one result holding the value, or none when two do.
        assert_eq!(lookup(&mut results, &c[1], b"2"), a);
        assert_eq!(lookup(&mut results, &c[3], b"2"), a);
        assert_eq!(lookup(&mut results, &c[3], b"3"), b);
        assert_eq!(
            lookup(&mut results, &c[1], b"5"),
            None,
            "ambiguous: no guess"
        );
        assert_eq!(
            lookup(&mut results, &c[3], b"5"),
            None,
            "ambiguous: no guess"
        );
    }

    /// The detection stage's default idle gap, 1 s.
    const IDLE_GAP: Timestamp = 1_000_000;

    #[test]
    fn a_result_nothing_used_for_the_idle_gap_is_no_longer_a_parent() {
        let c = connections();
        let mut results = ClientResults::default();
        results.expire_after(IDLE_GAP);
        let orders = "SELECT id FROM orders WHERE customer_id <= $1 ORDER BY id";
        // A job read orders 1-8 and looped over them; that job is long over.
        let job = kept_at(&mut results, &c[1], 0, orders, &[b"1", b"2", b"8"]);
        assert_eq!(lookup_at(&mut results, &c[1], 10, b"2"), job);
        // A request on another connection reads a page holding order 8 and loops over it
        // more than the idle gap after anything used the job's rows: its children are the
        // page's, not ambiguous between the page and the finished job.
        let page = "SELECT id, customer_id FROM orders WHERE status = $1";
        let later = 10 + IDLE_GAP + 1;
        let request = kept_at(&mut results, &c[2], later, page, &[b"8", b"9"]);
        assert_eq!(lookup_at(&mut results, &c[2], later + 10, b"8"), request);
        // Rows the expired result alone held link nothing.
        assert_eq!(lookup_at(&mut results, &c[2], later + 20, b"1"), None);
    }

    #[test]
    fn each_link_keeps_its_parent_alive_for_another_idle_gap() {
        let c = connections();
        let mut results = ClientResults::default();
        results.expire_after(IDLE_GAP);
        let orders = "SELECT id FROM orders";
        let parent = kept_at(&mut results, &c[1], 0, orders, &[b"1", b"2", b"3"]);
        // A slow loop: each iteration within the idle gap of the one before, the whole
        // loop longer than it.
        let step = IDLE_GAP * 3 / 4;
        for (i, id) in [b"1", b"2", b"3", b"1"].into_iter().enumerate() {
            let time = step * (i as Timestamp + 1);
            assert_eq!(
                lookup_at(&mut results, &c[2], time, id),
                parent,
                "iteration {i}"
            );
        }
        // Unused for longer than the idle gap: gone.
        assert_eq!(
            lookup_at(&mut results, &c[2], step * 4 + IDLE_GAP + 1, b"2"),
            None
        );
    }

    #[test]
    fn without_expiry_results_stay_until_pushed_out() {
        let c = connections();
        let mut results = ClientResults::default();
        let parent = kept_at(
            &mut results,
            &c[1],
            0,
            "SELECT id FROM orders",
            &[b"1", b"2"],
        );
        assert_eq!(lookup_at(&mut results, &c[2], 100 * IDLE_GAP, b"1"), parent);
    }

    #[test]
    fn a_statement_is_the_same_whatever_its_sqlcommenter_tags() {
        let c = connections();
        let mut results = ClientResults::default();
        let orders = "SELECT id FROM orders WHERE customer_id <= $1 ORDER BY id";
        let tagged = |request: &str| format!("{orders} /*traceparent='{request}'*/");
        // A request reads orders 1-8; the next one, tagged with its own trace, reads them
        // again with the customer bound to a value among those rows: the same statement,
        // so not a child of the read before it.
        kept(&mut results, &c[1], &tagged("00-a"), &[b"1", b"2", b"8"]);
        let values = PreviousReply::default().finish(capture(&[&[b"1"], &[b"2"], &[b"8"]]));
        let reread = ValueTrace {
            keys: Arc::from([key(b"8")]),
            result: values,
        };
        let links = results.link_sql(1, &c[1], 0, &tagged("00-b"), &reread);
        assert_eq!(links.parent_result, None);
        assert!(links.result.is_some(), "kept as a parent of its own");
    }

    #[test]
    fn a_value_the_statements_own_earlier_results_hold_links_nothing() {
        let c = connections();
        let mut results = ClientResults::default();
        let page = "SELECT id, customer_id FROM orders WHERE status = $1 LIMIT $2 OFFSET $3";
        // A page of orders, then a batch of customers 8-10 ...
        kept(&mut results, &c[1], page, &[b"9", b"10", b"11"]);
        kept(
            &mut results,
            &c[1],
            "SELECT * FROM customers WHERE id = ANY($1)",
            &[b"8", b"10"],
        );
        // ... then the next request's page, `LIMIT 10`: 10 is a customer id of the batch,
        // and also among the previous page's values. No guess.
        let values = PreviousReply::default().finish(capture(&[&[b"12"], &[b"13"]]));
        let next_page = ValueTrace {
            keys: Arc::from([key(b"10")]),
            result: values,
        };
        assert_eq!(
            results
                .link_sql(1, &c[2], 0, page, &next_page)
                .parent_result,
            None
        );
    }

    #[test]
    fn a_pooled_connections_next_read_leaves_the_previous_requests_parent() {
        let c = connections();
        let mut results = ClientResults::default();
        let page = "SELECT id, customer_id FROM orders WHERE status = $1 LIMIT $2 OFFSET $3";
        // Request A reads its page on connection 1 and gives it back to the pool; its
        // fan-out runs on connections 2 and 3 ...
        let a = kept(&mut results, &c[1], page, &[b"1", b"2", b"3"]);
        assert_eq!(lookup(&mut results, &c[2], b"1"), a);
        // ... while request B takes connection 1 and reads the next page with the same
        // statement: A's last lookups still iterate A's rows.
        let b = kept(&mut results, &c[1], page, &[b"4", b"5", b"6"]);
        assert_eq!(lookup(&mut results, &c[3], b"3"), a);
        assert_eq!(lookup(&mut results, &c[2], b"4"), b);
        // Reading the same rows again, B leaves A's children ambiguous, not linked to B.
        kept(&mut results, &c[1], page, &[b"1", b"2", b"3"]);
        assert_eq!(
            lookup(&mut results, &c[3], b"2"),
            None,
            "ambiguous: no guess"
        );
    }

    #[test]
    fn a_closed_connections_results_are_no_parents() {
        let mut c = connections();
        let mut results = ClientResults::default();
        let orders = "SELECT id FROM orders WHERE customer_id <= $1 ORDER BY id";
        let page = "SELECT id, customer_id FROM orders WHERE status = $1";
        // A job read orders 1-8 on connection 3, and its process exited.
        kept(&mut results, &c[3], orders, &[b"1", b"2", b"8"]);
        c.truncate(3);
        // A request then reads a page holding orders 2 and 8: its children are the page's.
        let request = kept(&mut results, &c[1], page, &[b"2", b"8", b"9"]);
        assert_eq!(lookup(&mut results, &c[2], b"8"), request);
        assert_eq!(lookup(&mut results, &c[2], b"1"), None);
    }

    #[test]
    fn the_client_table_is_bounded() {
        let c = connections();
        let mut results = ClientResults::default();
        let values = PreviousReply::default().finish(capture(&[&[b"1"], &[b"2"]]));
        let trace = ValueTrace {
            keys: Arc::default(),
            result: values,
        };
        for client in 0..(MAX_CLIENTS as u64 + 10) {
            results.link_sql(client, &c[1], 0, "SELECT id FROM t", &trace);
        }
        assert!(results.len() <= MAX_CLIENTS);
        assert_eq!(results.resets, 1);
    }

    /// One short row is kept inline, a wider row or a second row in a set: the answers
    /// are the same either way.
    #[test]
    fn a_reply_is_the_same_kept_inline_or_in_a_set() {
        let wide: Vec<Vec<u8>> = (0..FEW as u32 + 3)
            .map(|n| n.to_string().into_bytes())
            .collect();
        let wide: Vec<&[u8]> = wide.iter().map(Vec::as_slice).collect();
        for reply in [
            capture(&[&[b"41", b"42"]]),
            capture(&[&wide]),
            capture(&[&[b"41"], &[b"42"]]),
        ] {
            let rows = reply.as_ref().map_or(0, |c| c.rows);
            let mut previous = PreviousReply::default();
            let parent = previous.finish(reply);
            assert_eq!(
                parent.is_some(),
                rows >= 2,
                "only multi-row results are parents"
            );
            if let Some(parent) = parent {
                assert!(parent.contains(&key(b"41")) && parent.contains(&key(b"42")));
            }
            assert!(previous.follows_previous(&[key(b"1"), key(b"42")]));
            previous.forget_sent(&[key(b"42")]);
            assert!(!previous.follows_previous(&[key(b"42")]));
        }
        let mut previous = PreviousReply::default();
        previous.finish(capture(&[&wide]));
        assert!(
            previous.follows_previous(&[key(b"10")]),
            "the last of a wide row"
        );
        previous.finish(capture(&[&[b"41", b"42"]]));
        assert!(
            previous.follows_previous(&[key(b"41")]) && previous.follows_previous(&[key(b"42")])
        );
        previous.forget_sent(&[key(b"41")]);
        assert!(
            !previous.follows_previous(&[key(b"41")]) && previous.follows_previous(&[key(b"42")])
        );
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

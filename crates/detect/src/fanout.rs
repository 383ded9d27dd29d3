//! Untagged concurrent fan-out: one request's loop sent at once over several pooled
//! connections (`Promise.all(ids.map(id => pool.query(…)))`, `asyncio.gather(…)` over a
//! pool). Each connection then shows a few children and nothing else; without a trace id,
//! every session's piece is too small to be a loop, or several pieces look like several
//! small N+1s with the wrong N.
//!
//! Untagged request segments (bursts, after the learned cuts) wait here for a short while
//! before the detectors see them, and pieces of one fan-out are put back together:
//! - a *fragment* is a segment made of one shape only (children and nothing else);
//! - two segments of the same client (user, database, application) on different sessions
//!   are siblings when one is a fragment of shape S and the other ran S within twice the
//!   longest pause learned inside a request of the fragment's span (a fan-out's pieces are
//!   sent together; the learned split, the middle of the empty band between the pauses
//!   inside requests and those between them, lies far above that on a quiet pool, and
//!   joined single-statement requests that merely ran side by side; and, when the other
//!   has a parent of its own,
//!   started its S within that window of the fragment: together, not somewhere inside
//!   another loop that merely ran at the same time; the fragment ran after that request
//!   started, and the request's opening statements are not children), with parameters the
//!   fragment did not use (a fan-out's children differ; two health checks reading the same
//!   row do not);
//! - fragments proven concurrent (siblings on two sessions or more) also join the client's
//!   segment of another shape that ended at most that window before they started: the
//!   parent, which a pool ran on whichever connection was free. A loop is never such a
//!   parent: a segment that ran their shape itself (past its opening statements), or one
//!   shape several times (keyset pages).
//!
//! Pieces of one shape that are siblings, and segments the value links join, are joined as
//! they are offered; pieces without a parent of their own must also start within the window
//! of the first (a fan-out's pieces are sent together; a pool smaller than the fan-out runs
//! the rest on connections the pieces already hold). Which request or parent a fan-out's
//! pieces belong with is settled when they are released (`FanOut::settle`), in order of
//! start: by then every segment that ended before them has been offered. Sessions close,
//! and so offer their segments, in an order that says nothing about who ran first (joined
//! as offered, a fan-out's pieces went to whichever request of the same shape closed first).
//!
//! Independent requests that happen to run at the same time each start with their own
//! parent, so they are not fragments and are never joined; a joined segment holds at most
//! one segment with a parent of its own. A joined segment holds its
//! statements in time order, and at one instant in the order of the input. Segments wait until the input clock has passed their end by
//! the hold time (the idle gap: the longest a unit stays open after its last statement),
//! and all of them at the end of input.

use std::collections::{BTreeMap, BTreeSet};

use querycomb_core::{Location, Timestamp};

use crate::activity::Activity;
use crate::catalog::FpId;
use crate::hash::FastMap;
use crate::unit::{Stmt, Unit};

/// A segment waiting for its siblings.
#[derive(Debug)]
pub(crate) struct Waiting {
    pub unit: Unit,
    pub client: u64,
    /// The longest pause learned inside a request on its session(s) (`GapModel::within_us`):
    /// how close in time siblings run.
    pub within_us: i64,
    sessions: Vec<String>,
    start: Timestamp,
    end: Timestamp,
    /// It holds a segment with a parent of its own (not a fragment): two of those are two
    /// requests, never one fan-out.
    has_parent: bool,
    /// Some statement of it names the result its values came from (a value link): without
    /// one, `linked_to` has nothing to say, and need not read the statements.
    names_results: bool,
}

impl Waiting {
    pub fn new(unit: Unit, client: u64, within_us: i64) -> Option<Waiting> {
        let start = unit.stmts.iter().filter_map(|s| s.time).min()?;
        let end = unit.stmts.iter().filter_map(|s| s.time).max()?;
        let sessions = vec![unit.header.session.clone()];
        let mut waiting = Waiting {
            unit,
            client,
            within_us,
            sessions,
            start,
            end,
            has_parent: false,
            names_results: false,
        };
        waiting.has_parent = waiting.fragment().is_none();
        waiting.names_results = waiting.unit.stmts.iter().any(|s| s.parent_result != 0);
        Some(waiting)
    }

    /// The shapes it ran, each once.
    fn shapes(&self) -> impl Iterator<Item = FpId> + '_ {
        distinct(self.unit.stmts.iter().map(|s| s.fp))
    }

    /// The results its statements were kept under (value links), each once.
    fn results(&self) -> impl Iterator<Item = u64> + '_ {
        distinct(self.unit.stmts.iter().map(|s| s.result).filter(|&r| r != 0))
    }

    /// The results its statements' values came from (value links), each once.
    fn named_results(&self) -> impl Iterator<Item = u64> + '_ {
        distinct(
            self.unit
                .stmts
                .iter()
                .map(|s| s.parent_result)
                .filter(|&r| r != 0),
        )
    }

    /// The one shape it is made of, if it is made of one.
    fn fragment(&self) -> Option<FpId> {
        let first = self.unit.stmts.first()?.fp;
        self.unit
            .stmts
            .iter()
            .all(|s| s.fp == first)
            .then_some(first)
    }

    /// How close in time siblings run: within twice the longest pause inside a request.
    fn window(&self, other: &Waiting) -> i64 {
        self.within_us.max(other.within_us).saturating_mul(2)
    }

    fn shares_session(&self, other: &Waiting) -> bool {
        self.sessions.iter().any(|s| other.sessions.contains(s))
    }

    /// `other` ran `fp` near this one's span with parameters this one did not use.
    fn sibling_of(&self, fp: FpId, other: &Waiting, time: &Time<'_>) -> bool {
        let window = self.window(other);
        // A stall from this span's end to `t` (or from `t` to its start): read once as the
        // stall's edges (`Activity::first_after`, `last_before` agree with `silent`), not
        // once for each of the other's statements.
        let quiet_until = time.activity.first_after(self.client, self.end);
        let quiet_since = time.activity.last_before(self.client, self.start);
        let near = |t: Timestamp| {
            (t >= self.start.saturating_sub(window) && t <= self.end.saturating_add(window))
                || (t >= self.end
                    && t.saturating_sub(self.end) <= time.hold_us
                    && quiet_until.is_none_or(|q| q >= t))
                || (t <= self.start
                    && self.start.saturating_sub(t) <= time.hold_us
                    && quiet_since.is_none_or(|q| q <= t))
        };
        let children = other.children_of_shape(fp);
        let theirs: Vec<u64> = children
            .clone()
            .filter(|s| s.time.is_some_and(near))
            .map(|s| s.values)
            .collect();
        if theirs.is_empty() || self.unit.stmts.iter().all(|s| theirs.contains(&s.values)) {
            return false;
        }
        // Pieces without a parent are sent together: each starts within the window of the
        // first (or after a stall), unless it goes on on a connection the others already
        // hold (a fan-out wider than the pool waits for its own connections); near the span
        // alone chained unrelated single reads of one table, each a few ms after the last.
        // A segment with its own parent: the fan-out started with its first child, not
        // somewhere inside a loop of its own that merely ran at the same time, and this
        // piece ran after that request started (its parent drives its children) — unless
        // it is already a fan-out over several sessions, whose children this one continues
        // (requiring the window there lost lookups that waited for a connection another
        // request freed: through the proxy, fan-outs were found with the wrong count).
        let together = |a: Timestamp, b: Timestamp| {
            a.abs_diff(b) <= window.unsigned_abs() || time.stalled(self.client, a.min(b), a.max(b))
        };
        if !other.has_parent {
            return (other.sessions.len() >= 2 && self.shares_session(other))
                || together(self.start, other.start);
        }
        other.sessions.len() >= 2
            || (self.start >= other.start
                && children
                    .clone()
                    .next()
                    .and_then(|s| s.time)
                    .is_some_and(|first| together(first, self.start)))
    }

    /// Its statements of shape `fp` that can be a fan-out's children. In a segment with a
    /// parent of its own, on one session, statements of `fp` before its first statement of
    /// another shape opened that request: a request's opening statement is never a child
    /// of a fan-out, so never a sibling of another segment's pieces.
    fn children_of_shape(&self, fp: FpId) -> impl Iterator<Item = &crate::unit::Stmt> + Clone {
        let opening = if self.has_parent && self.sessions.len() == 1 {
            self.unit.stmts.iter().take_while(|s| s.fp == fp).count()
        } else {
            0
        };
        self.unit
            .stmts
            .iter()
            .skip(opening)
            .filter(move |s| s.fp == fp)
    }

    /// This concurrent fragment started right after `other` ended: `other` is its parent.
    /// Not when `other` is a loop itself: a request that ran the fragment's shape past its
    /// opening statements (these pieces join it only as its siblings, `sibling_of`), or
    /// one shape run several times (keyset pages, a poll), which a fan-out does not iterate
    /// as it iterates one read's rows.
    fn follows_parent(&self, other: &Waiting, time: &Time<'_>) -> bool {
        let window = self.window(other);
        let one_shape_loop = other.fragment().is_some() && other.unit.stmts.len() > 1;
        self.sessions.len() >= 2
            && self
                .fragment()
                .is_some_and(|fp| other.children_of_shape(fp).next().is_none())
            && !one_shape_loop
            && other.end <= self.start
            && (self.start.saturating_sub(other.end) <= window
                || time.stalled(self.client, other.end, self.start))
    }

    /// The parent result this fragment's children name by value (the proxy's links), when
    /// they name exactly one.
    fn driven_by(&self) -> Option<u64> {
        let mut named = self
            .unit
            .stmts
            .iter()
            .map(|s| s.parent_result)
            .filter(|&r| r != 0);
        let first = named.next()?;
        named.all(|r| r == first).then_some(first)
    }

    fn produced(&self, result: u64) -> bool {
        self.unit.stmts.iter().any(|s| s.result == result)
    }

    /// What the value links say about joining this fragment with `other`, when they say
    /// anything: `Some(true)` when `other` ran the statement whose rows the children
    /// iterate, or holds children of that same result (one fan-out whatever the timing);
    /// `Some(false)` when `other`'s children of the same shape iterate another result (two
    /// requests running one loop at once).
    fn linked_to(&self, other: &Waiting) -> Option<bool> {
        if !self.names_results {
            return None;
        }
        let fp = self.fragment()?;
        let parent = self.driven_by()?;
        if other.produced(parent) {
            return Some(true);
        }
        let theirs = other
            .unit
            .stmts
            .iter()
            .filter(|s| s.fp == fp && s.parent_result != 0)
            .map(|s| s.parent_result);
        let mut saw_any = false;
        for result in theirs {
            if result == parent {
                return Some(true);
            }
            saw_any = true;
        }
        saw_any.then_some(false)
    }

    fn joins(&self, other: &Waiting, time: &Time<'_>) -> bool {
        // Segments of one session follow each other: never one fan-out.
        let one_session = self.sessions.len() == 1 && other.sessions.len() == 1;
        if self.client != other.client
            || (one_session && self.shares_session(other))
            || (self.has_parent && other.has_parent)
        {
            return false;
        }
        // Values first: they say which rows a child iterates, which timing can only guess.
        if let Some(linked) = self.linked_to(other).or_else(|| other.linked_to(self)) {
            return linked;
        }
        match (self.fragment(), other.fragment()) {
            (Some(fp), _) if self.sibling_of(fp, other, time) => true,
            (_, Some(fp)) if other.sibling_of(fp, self, time) => true,
            (Some(_), _) if self.follows_parent(other, time) => true,
            (_, Some(_)) => other.follows_parent(self, time),
            _ => false,
        }
    }

    /// Joined at once, when offered: pieces of one shape that are siblings (the same
    /// fan-out, whichever request drives it), or segments the value links join. Which
    /// request or parent a fan-out's pieces belong to waits until the segments around them
    /// have closed (`FanOut::settle`): segments are offered as their sessions close, in an
    /// order that says nothing about who ran first.
    fn gathers(&self, other: &Waiting, time: &Time<'_>) -> bool {
        // The cheap tests first: an offer reads every waiting segment near it.
        let pieces_of_one_shape = !self.has_parent
            && !other.has_parent
            && self
                .fragment()
                .is_some_and(|fp| other.fragment() == Some(fp));
        let joined = || self.joins(other, time) || other.joins(self, time);
        if pieces_of_one_shape {
            return joined();
        }
        let linked = self
            .linked_to(other)
            .or_else(|| other.linked_to(self))
            .unwrap_or(false);
        linked && joined()
    }

    /// This piece belongs with `other`: the request whose loop it is a sibling of, or the
    /// segment it follows as a fan-out's parent (or the one the value links name).
    fn driven_from(&self, other: &Waiting, time: &Time<'_>) -> bool {
        if self.has_parent || !self.joins(other, time) {
            return false;
        }
        if let Some(linked) = self.linked_to(other) {
            return linked;
        }
        self.fragment()
            .is_some_and(|fp| self.sibling_of(fp, other, time) || self.follows_parent(other, time))
    }

    fn absorb(&mut self, other: Waiting) {
        // At the same instant, the one written first opened it (see `in_input_order`).
        let opens = |w: &Waiting| (w.start, w.unit.header.location);
        let other_opened = opens(&other) < opens(self);
        let header = &mut self.unit.header;
        if other_opened {
            header.start = other.unit.header.start;
            header.location = other.unit.header.location;
            header.session = other.unit.header.session.clone();
        }
        header.end = header.end.max(other.unit.header.end);
        header.statements = header
            .statements
            .saturating_add(other.unit.header.statements);
        self.unit.stmts.extend(other.unit.stmts);
        self.unit.stmts.sort_by_key(in_input_order);
        for (fp, examples) in other.unit.examples {
            self.unit.examples.entry(fp).or_default().extend(examples);
        }
        for session in other.sessions {
            if !self.sessions.contains(&session) {
                self.sessions.push(session);
            }
        }
        self.start = self.start.min(other.start);
        self.end = self.end.max(other.end);
        self.within_us = self.within_us.max(other.within_us);
        self.has_parent |= other.has_parent;
        self.names_results |= other.names_results;
    }
}

/// Each item once, in order of first appearance. A segment holds a handful of shapes and
/// results, remembered without allocating; more spill into a list.
fn distinct<T: PartialEq + Copy + Default>(
    items: impl Iterator<Item = T>,
) -> impl Iterator<Item = T> {
    let mut few = [T::default(); 8];
    let mut seen = 0;
    let mut more: Vec<T> = Vec::new();
    items.filter(move |item| {
        let known = few.get(..seen).unwrap_or_default();
        if known.contains(item) || more.contains(item) {
            return false;
        }
        match few.get_mut(seen) {
            Some(slot) => {
                *slot = *item;
                seen += 1;
            }
            None => more.push(*item),
        }
        true
    })
}

/// What the client's other sessions did between two instants.
pub(crate) struct Time<'a> {
    activity: &'a Activity,
    /// The longest a stall may last and still be inside one request: the idle gap.
    hold_us: i64,
}

impl Time<'_> {
    /// From `from` to `to` (in that order, at most the idle gap apart) the client ran
    /// nothing at all: the application stalled, so the pause says nothing about whether
    /// the two statements belong together.
    fn stalled(&self, client: u64, from: Timestamp, to: Timestamp) -> bool {
        from <= to
            && to.saturating_sub(from) <= self.hold_us
            && self.activity.silent(client, from, to)
    }
}

/// Segments waiting for their siblings, indexed so that an offer reads only the segments
/// that could join it, not every segment of the last idle gap: on untagged traffic of
/// thousands of requests a second (every single-statement request is a piece), comparing
/// each offer with every waiting segment made grouping quadratic in the request rate.
///
/// Which segments can join is decided by `Waiting::joins` alone; the index only rules out
/// segments for which it must be false (see `ClientWaiting::candidates`), so the result is
/// that of comparing with every waiting segment in the order they were offered (a test
/// checks this on random segments).
#[derive(Debug, Default)]
pub(crate) struct FanOut {
    waiting: FastMap<Seq, Waiting>,
    clients: FastMap<u64, ClientWaiting>,
    next_seq: Seq,
    /// Every waiting segment of the client is a neighbour, not only those the index finds
    /// (the reference the index is tested against).
    #[cfg(test)]
    without_index: bool,
}

/// The order segments were offered in (a segment made by joining is offered anew).
type Seq = u64;

/// Where a statement stands among a fan-out's: by time, and at the same instant by where it
/// came from. A log's clock ticks in milliseconds, so a page and the lookups it sent at once
/// often share a timestamp, and the order the server wrote them in is the only order there
/// is (a child put before its parent has no parent). Through the proxy (`line` is the
/// connection) ties of a microsecond are kept apart by connection, deterministically.
fn in_input_order(stmt: &Stmt) -> (Option<Timestamp>, Location) {
    (stmt.time, stmt.location)
}

/// One client's waiting segments (segments of different clients never join), indexed by
/// start. Two requests (segments with a parent of their own) never join, so requests are
/// indexed by start alone, for the pieces that look for them; pieces also by shape.
#[derive(Debug, Default)]
struct ClientWaiting {
    requests: ByStart,
    /// Pieces, and pieces under each shape they ran: siblings share a shape.
    pieces: ByStart,
    pieces_by_shape: FastMap<FpId, ByStart>,
    /// Pieces over several sessions: one may follow any segment as its parent.
    spread: ByStart,
    /// Value links: the segments that produced a result, and those whose statements name
    /// one as their parent. Links join whatever the timing.
    produced: FastMap<u64, Vec<Seq>>,
    named: FastMap<u64, Vec<Seq>>,
    /// The segments' longest pauses inside a request, counted: the largest bounds how far
    /// apart siblings may run.
    windows: BTreeMap<i64, usize>,
}

impl ClientWaiting {
    fn insert(&mut self, seq: Seq, w: &Waiting) {
        *self.windows.entry(w.within_us).or_default() += 1;
        if w.has_parent {
            self.requests.insert(w, seq);
        } else {
            self.pieces.insert(w, seq);
            for fp in w.shapes() {
                self.pieces_by_shape.entry(fp).or_default().insert(w, seq);
            }
            if w.sessions.len() >= 2 {
                self.spread.insert(w, seq);
            }
        }
        for result in w.results() {
            self.produced.entry(result).or_default().push(seq);
        }
        for result in w.named_results() {
            self.named.entry(result).or_default().push(seq);
        }
    }

    fn remove(&mut self, seq: Seq, w: &Waiting) {
        if let Some(count) = self.windows.get_mut(&w.within_us) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.windows.remove(&w.within_us);
            }
        }
        if w.has_parent {
            self.requests.remove(w, seq);
        } else {
            self.pieces.remove(w, seq);
            self.spread.remove(w, seq);
            for fp in w.shapes() {
                if let Some(index) = self.pieces_by_shape.get_mut(&fp) {
                    index.remove(w, seq);
                    if index.is_empty() {
                        self.pieces_by_shape.remove(&fp);
                    }
                }
            }
        }
        for result in w.results() {
            unlist(&mut self.produced, result, seq);
        }
        for result in w.named_results() {
            unlist(&mut self.named, result, seq);
        }
    }

    /// No segment waits (every other index is empty with these two).
    fn is_empty(&self) -> bool {
        self.requests.is_empty() && self.pieces.is_empty()
    }

    /// Every waiting segment that `segment` could join, in no particular order: a superset
    /// of those for which `Waiting::joins` holds either way.
    ///
    /// Without value links, a join needs a piece: a request joins only pieces, and a piece
    /// joins another segment as its sibling (a statement of a shape the other ran,
    /// `sibling_of`) or as a fan-out over several sessions following its parent, or the
    /// other way round (`follows_parent`); in each case the other's span meets `segment`'s
    /// reach: its span widened by the larger window (`Waiting::window`), and further, up to the
    /// hold time, over any stretch in which the client ran nothing (a stall;
    /// `Time::stalled`). With links, a join needs a result one produced or named that the
    /// other named.
    fn candidates(&self, segment: &Waiting, time: &Time<'_>, out: &mut Vec<Seq>) {
        // Requests join pieces only (links included: a request is never a fragment).
        if segment.has_parent && self.pieces.is_empty() {
            return;
        }
        let mut reach = None;
        let mut meeting = |index: &ByStart, out: &mut Vec<Seq>| {
            if !index.is_empty() {
                let (from, to) = *reach.get_or_insert_with(|| self.reach(segment, time));
                index.meeting(from, to, out);
            }
        };
        if segment.sessions.len() >= 2 {
            meeting(&self.pieces, out);
        } else {
            for fp in segment.shapes() {
                if let Some(index) = self.pieces_by_shape.get(&fp) {
                    meeting(index, out);
                }
            }
            meeting(&self.spread, out);
        }
        if !segment.has_parent {
            meeting(&self.requests, out);
        }
        if let Some(parent) = segment.driven_by() {
            for list in [self.produced.get(&parent), self.named.get(&parent)] {
                out.extend(list.into_iter().flatten().copied());
            }
        }
        for result in segment.results().chain(segment.named_results()) {
            out.extend(self.named.get(&result).into_iter().flatten().copied());
        }
        out.sort_unstable();
        out.dedup();
    }

    /// The instants between which another segment's statements can be near enough to
    /// `segment`'s to join it (see `candidates`). A stall that ends at a statement of
    /// `segment` starts no earlier than the one ending at its first, nor one that starts at
    /// a statement of it ends later than the one starting at its last, whichever of its
    /// statements activity still remembers.
    fn reach(&self, segment: &Waiting, time: &Time<'_>) -> (Timestamp, Timestamp) {
        let longest = self.windows.keys().next_back().copied().unwrap_or(0);
        let window = segment.within_us.max(longest).saturating_mul(2);
        let client = segment.client;
        let stalled_from = time
            .activity
            .last_before(client, segment.start)
            .unwrap_or(Timestamp::MIN)
            .max(segment.start.saturating_sub(time.hold_us));
        let stalled_to = time
            .activity
            .first_after(client, segment.end)
            .unwrap_or(Timestamp::MAX)
            .min(segment.end.saturating_add(time.hold_us));
        (
            segment.start.saturating_sub(window).min(stalled_from),
            segment.end.saturating_add(window).max(stalled_to),
        )
    }
}

/// Segments by start, in classes by span (class `k` up to 2^k ms), so that the segments
/// whose span meets an interval are found by a range of starts per class; longer ones
/// (few: a request that long holds its connection) in a list read whole.
#[derive(Debug, Default)]
struct ByStart {
    classes: [BTreeSet<(Timestamp, Seq)>; SPAN_CLASSES],
    long: BTreeSet<Seq>,
    len: usize,
}

/// Spans up to 2^(SPAN_CLASSES - 1) ms (256 ms) are indexed by start.
const SPAN_CLASSES: usize = 9;

impl ByStart {
    fn class(w: &Waiting) -> Option<usize> {
        let span_us = u64::try_from(w.end.saturating_sub(w.start)).unwrap_or(0);
        let class = match span_us.div_ceil(1000) {
            0 | 1 => 0,
            ms => (u64::BITS - (ms - 1).leading_zeros()) as usize,
        };
        (class < SPAN_CLASSES).then_some(class)
    }

    fn longest_us(class: usize) -> i64 {
        1000 << class
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn insert(&mut self, w: &Waiting, seq: Seq) {
        let new = match ByStart::class(w) {
            Some(class) => self.classes[class].insert((w.start, seq)),
            None => self.long.insert(seq),
        };
        self.len += usize::from(new);
    }

    fn remove(&mut self, w: &Waiting, seq: Seq) {
        let gone = match ByStart::class(w) {
            Some(class) => self.classes[class].remove(&(w.start, seq)),
            None => self.long.remove(&seq),
        };
        self.len -= usize::from(gone);
    }

    /// The segments whose span meets `from..=to`: in each class, those that started
    /// within it, or at most the class's longest span before it; and the long ones.
    fn meeting(&self, from: Timestamp, to: Timestamp, out: &mut Vec<Seq>) {
        for (class, set) in self.classes.iter().enumerate() {
            if set.is_empty() {
                continue;
            }
            let earliest = from.saturating_sub(ByStart::longest_us(class));
            out.extend(
                set.range((earliest, Seq::MIN)..=(to, Seq::MAX))
                    .map(|&(_, seq)| seq),
            );
        }
        out.extend(self.long.iter().copied());
    }
}

fn unindex(clients: &mut FastMap<u64, ClientWaiting>, seq: Seq, w: &Waiting) {
    if let Some(client) = clients.get_mut(&w.client) {
        client.remove(seq, w);
        if client.is_empty() {
            clients.remove(&w.client);
        }
    }
}

fn unlist(map: &mut FastMap<u64, Vec<Seq>>, key: u64, seq: Seq) {
    if let Some(list) = map.get_mut(&key) {
        list.retain(|&s| s != seq);
        if list.is_empty() {
            map.remove(&key);
        }
    }
}

impl FanOut {
    /// Adds a segment, gathering it with every waiting sibling piece of its shape and
    /// every segment the value links join (and theirs, transitively; `Waiting::gathers`).
    pub fn offer(&mut self, mut segment: Waiting, activity: &Activity, hold_us: i64) {
        let time = Time { activity, hold_us };
        let mut candidates = Vec::new();
        while let Some(other) = self
            .first_gathering(&segment, &time, &mut candidates)
            .and_then(|seq| self.take(seq))
        {
            segment.absorb(other);
        }
        self.put(segment);
    }

    fn put(&mut self, segment: Waiting) -> Seq {
        let seq = self.next_seq;
        self.next_seq += 1;
        let client = self.clients.entry(segment.client).or_default();
        client.insert(seq, &segment);
        self.waiting.insert(seq, segment);
        seq
    }

    /// The waiting segments that could join `segment` (`ClientWaiting::candidates`), in the
    /// order they were offered, into `out`.
    fn neighbours(&self, segment: &Waiting, time: &Time<'_>, out: &mut Vec<Seq>) {
        out.clear();
        #[cfg(test)]
        if self.without_index {
            out.extend(
                self.waiting
                    .iter()
                    .filter(|(_, w)| w.client == segment.client)
                    .map(|(&seq, _)| seq),
            );
            out.sort_unstable();
            return;
        }
        if let Some(client) = self.clients.get(&segment.client) {
            client.candidates(segment, time, out);
        }
    }

    /// The first offered of the waiting segments `segment` gathers with.
    fn first_gathering(
        &self,
        segment: &Waiting,
        time: &Time<'_>,
        candidates: &mut Vec<Seq>,
    ) -> Option<Seq> {
        self.neighbours(segment, time, candidates);
        candidates.iter().copied().find(|seq| {
            self.waiting
                .get(seq)
                .is_some_and(|w| segment.gathers(w, time))
        })
    }

    /// The segment the waiting piece `seq` belongs with, of those waiting now (see
    /// `Waiting::driven_from`): the one its value links name; else, of the segments with a
    /// parent, the one that started last, whose parent ran nearest before it — two
    /// requests' loops of one shape may overlap in time, and a fan-out's pieces belong with
    /// the parent that ran just before them; else the parent it follows that ended last.
    fn driver_of(&self, seq: Seq, time: &Time<'_>, candidates: &mut Vec<Seq>) -> Option<Seq> {
        let piece = self.waiting.get(&seq).filter(|w| !w.has_parent)?;
        self.neighbours(piece, time, candidates);
        let mut best: Option<((bool, Timestamp), Seq)> = None;
        for &other in candidates.iter().filter(|&&other| other != seq) {
            let Some(w) = self.waiting.get(&other) else {
                continue;
            };
            if !piece.driven_from(w, time) {
                continue;
            }
            if piece.linked_to(w) == Some(true) {
                return Some(other);
            }
            let request = w.has_parent || w.fragment().is_none();
            let rank = (request, if request { w.start } else { w.end });
            // The first offered of equals stays.
            if best.is_none_or(|(best_rank, _)| rank > best_rank) {
                best = Some((rank, other));
            }
        }
        best.map(|(_, other)| other)
    }

    /// Joins the waiting segment `seq` with what it belongs with, now that the segments
    /// around it have closed: as a piece, with its driver (`driver_of`); then, whatever it
    /// has become, with every waiting piece still waiting after this release whose driver
    /// it is.
    fn settle(
        &mut self,
        mut seq: Seq,
        time: &Time<'_>,
        is_due: &impl Fn(&Waiting) -> bool,
        candidates: &mut Vec<Seq>,
    ) {
        if let Some(driver) = self.driver_of(seq, time, candidates) {
            seq = self.merge(seq, driver);
        }
        let mut pieces = Vec::new();
        loop {
            let Some(segment) = self.waiting.get(&seq) else {
                return;
            };
            self.neighbours(segment, time, &mut pieces);
            // Only a piece still waiting after this release, that it could drive, is asked
            // for its driver (which reads the piece's own neighbours): pieces released now
            // settle themselves, in order of start, while it still waits.
            let adopted = pieces.iter().copied().find(|&piece| {
                piece != seq
                    && self
                        .waiting
                        .get(&piece)
                        .is_some_and(|p| !is_due(p) && p.driven_from(segment, time))
                    && self.driver_of(piece, time, candidates) == Some(seq)
            });
            match adopted {
                Some(piece) => seq = self.merge(seq, piece),
                None => return,
            }
        }
    }

    fn merge(&mut self, a: Seq, b: Seq) -> Seq {
        match (self.take(a), self.take(b)) {
            (Some(mut a), Some(b)) => {
                a.absorb(b);
                self.put(a)
            }
            (Some(one), None) | (None, Some(one)) => self.put(one),
            (None, None) => a,
        }
    }

    fn take(&mut self, seq: Seq) -> Option<Waiting> {
        let w = self.waiting.remove(&seq)?;
        unindex(&mut self.clients, seq, &w);
        Some(w)
    }

    /// Segments whose end the clock has passed by `hold_us`, oldest first, each settled
    /// first (`settle`), in order of start: by then every segment that ended before it has
    /// been offered.
    pub fn release(
        &mut self,
        now: Timestamp,
        hold_us: i64,
        activity: &Activity,
        ready: &mut Vec<Unit>,
    ) {
        let is_due = |w: &Waiting| now == Timestamp::MAX || w.end.saturating_add(hold_us) < now;
        let mut due: Vec<(Timestamp, Seq)> = self
            .waiting
            .iter()
            .filter(|(_, w)| is_due(w))
            .map(|(&seq, w)| (w.start, seq))
            .collect();
        due.sort_unstable();
        let time = Time { activity, hold_us };
        let mut candidates = Vec::new();
        for (_, seq) in due {
            if self.waiting.contains_key(&seq) {
                self.settle(seq, &time, &is_due, &mut candidates);
            }
        }
        let mut done: Vec<Option<Waiting>> = Vec::new();
        let mut order: Vec<(u64, usize)> = Vec::new();
        for (seq, w) in self.waiting.extract_if(|_, w| is_due(w)) {
            unindex(&mut self.clients, seq, &w);
            order.push((w.unit.header.serial, done.len()));
            done.push(Some(w));
        }
        // The map hands them out in no order; sorted by serial, not moved while sorting.
        order.sort_unstable();
        ready.extend(
            order
                .into_iter()
                .filter_map(|(_, at)| done.get_mut(at)?.take().map(|w| w.unit)),
        );
    }

    /// Everything, at the end of input.
    pub fn flush(&mut self, activity: &Activity, hold_us: i64, ready: &mut Vec<Unit>) {
        self.release(Timestamp::MAX, hold_us, activity, ready);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::{RequestHeader, Stmt};
    use querycomb_core::{Location, RequestKind};

    const ORDERS: FpId = FpId(1);
    const CUSTOMER: FpId = FpId(2);
    const PAGE: FpId = FpId(3);

    /// A statement of shape `fp` at `time`, with its values hash and value links.
    pub(super) fn stmt(fp: FpId, time: Timestamp, values: u64, result: u64, parent: u64) -> Stmt {
        Stmt {
            fp,
            list: 0,
            values,
            time: Some(time),
            duration_us: Some(50),
            rows: Some(1),
            result_bytes: None,
            location: Location::default(),
            allow: false,
            span: 0,
            parent_span: 0,
            uses_previous_result: false,
            paging: false,
            result,
            parent_result: parent,
        }
    }

    /// An untagged burst on `session` of `stmts`, in their order.
    pub(super) fn burst(serial: u64, session: String, stmts: Vec<Stmt>) -> Unit {
        Unit {
            header: RequestHeader {
                serial,
                kind: RequestKind::Burst,
                trace_id: None,
                route: None,
                session,
                start: stmts.first().and_then(|s| s.time),
                end: stmts.last().and_then(|s| s.time),
                statements: stmts.len() as u32,
                location: Location::default(),
            },
            stmts,
            complete: true,
            examples: Default::default(),
            keys: Default::default(),
        }
    }

    /// A segment on `session` of the statements `(shape, µs)`, with the longest pause
    /// learned inside a request.
    fn segment(session: &str, stmts: &[(FpId, i64)], within_us: i64) -> Waiting {
        let stmts: Vec<Stmt> = stmts
            .iter()
            .enumerate()
            .map(|(i, &(fp, time))| stmt(fp, time, i as u64 + time as u64, 0, 0))
            .collect();
        let unit = burst(0, session.into(), stmts);
        Waiting::new(unit, 7, within_us).expect("timed statements")
    }

    /// Lookups on p2 and p3, joined: a fan-out proven concurrent, starting at 13.4 ms.
    fn pieces() -> Waiting {
        let mut pieces = segment("p2", &[(CUSTOMER, 13_400), (CUSTOMER, 14_800)], 12);
        pieces.absorb(segment("p3", &[(CUSTOMER, 13_500)], 8_192));
        pieces
    }

    fn follows(parent: &Waiting) -> bool {
        let activity = Activity::default();
        let time = Time {
            activity: &activity,
            hold_us: 1_000_000,
        };
        pieces().follows_parent(parent, &time)
    }

    #[test]
    fn a_read_that_ended_just_before_a_fan_out_is_its_parent() {
        assert!(follows(&segment("p1", &[(ORDERS, 7_700)], 12)));
        // Several statements before the read, none of the pieces' shape: still a parent.
        assert!(follows(&segment(
            "p1",
            &[(PAGE, 5_000), (ORDERS, 7_700)],
            12
        )));
    }

    #[test]
    fn a_request_with_a_loop_of_the_pieces_shape_is_not_their_parent() {
        let looped = segment(
            "p1",
            &[(ORDERS, 1_000), (CUSTOMER, 4_000), (CUSTOMER, 7_700)],
            12,
        );
        assert!(!follows(&looped));
    }

    #[test]
    fn a_loop_of_one_shape_is_not_a_fan_outs_parent() {
        let pages = segment(
            "p1",
            &[(PAGE, 1_000), (PAGE, 3_000), (PAGE, 5_000), (PAGE, 7_700)],
            12,
        );
        assert!(!follows(&pages));
    }
}

/// The index gives what comparing every offer with every waiting segment gives.
#[cfg(test)]
mod index_tests {
    use super::tests::{burst, stmt};
    use super::*;
    use crate::unit::Stmt;

    /// The same stage comparing every waiting segment of the client with every offer and
    /// every settled segment: what the index must give.
    fn exhaustive() -> FanOut {
        FanOut {
            without_index: true,
            ..FanOut::default()
        }
    }

    /// A small deterministic generator (xorshift).
    struct Random(u64);

    impl Random {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// Segments of two clients over six sessions, four shapes and few values, some of them
    /// long or linked, offered about in the order their ends were reached (a unit is
    /// handed out when the statement after it, or a sweep, shows it over).
    fn segments(seed: u64) -> Vec<(u64, Unit, i64)> {
        let mut random = Random(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut out = Vec::new();
        for serial in 0..60 {
            let start = random.below(600_000) as i64;
            let count = 1 + random.below(4);
            let spacing = [200, 1_500, 40_000, 150_000][random.below(4) as usize];
            let linked = random.below(4) == 0;
            let stmts: Vec<Stmt> = (0..count)
                .map(|i| {
                    let (result, parent) = if linked {
                        (random.below(4), random.below(4))
                    } else {
                        (0, 0)
                    };
                    stmt(
                        FpId(1 + random.below(4) as u32),
                        start + i as i64 * spacing + random.below(300) as i64,
                        random.below(6),
                        result,
                        parent,
                    )
                })
                .collect();
            let session = format!("s{}", random.below(6));
            let unit = burst(serial, session, stmts);
            let within = [1, 500, 2_000, 8_000][random.below(4) as usize];
            let handed_out = unit.header.end.unwrap_or(0) + random.below(30_000) as i64;
            out.push((handed_out, (1 + random.below(2), unit, within)));
        }
        out.sort_by_key(|&(handed_out, _)| handed_out);
        out.into_iter().map(|(_, segment)| segment).collect()
    }

    /// A released unit: its serial, session and statements (shape, time, values).
    type Released = (u64, String, Vec<(FpId, Option<Timestamp>, u64)>);

    /// What was released, statement by statement.
    fn summary(units: &[Unit]) -> Vec<Released> {
        units
            .iter()
            .map(|u| {
                let stmts = u.stmts.iter().map(|s| (s.fp, s.time, s.values)).collect();
                (u.header.serial, u.header.session.to_string(), stmts)
            })
            .collect()
    }

    #[test]
    fn the_index_joins_what_comparing_every_segment_joins() {
        let mut joined = 0;
        for seed in 1..=400u64 {
            let hold_us = [60_000, 300_000, 1_000_000][(seed % 3) as usize];
            let horizon_us = if seed % 2 == 0 { 20_000 } else { 10_000_000 };
            let mut activity = Activity::default();
            let mut all: Vec<(u64, u64, FpId, Timestamp)> = segments(seed)
                .iter()
                .flat_map(|(client, unit, _)| {
                    let session = unit.header.session.len() as u64 * 31
                        + u64::from(unit.header.session.as_bytes()[1]);
                    unit.stmts
                        .iter()
                        .filter_map(move |s| Some((*client, session, s.fp, s.time?)))
                })
                .collect();
            all.sort_by_key(|&(_, _, _, time)| time);
            for (client, session, fp, time) in all {
                activity.record(client, session, fp, time, horizon_us);
            }
            let (mut indexed, mut exhaustive) = (FanOut::default(), exhaustive());
            let (mut from_index, mut from_all) = (Vec::new(), Vec::new());
            for (at, (client, unit, within)) in segments(seed).into_iter().enumerate() {
                let now = unit.header.end.unwrap_or(0);
                // (the clock is at least there; `release` only needs it not to run ahead)
                let twin = segments(seed).swap_remove(at).1;
                let (Some(a), Some(b)) = (
                    Waiting::new(unit, client, within),
                    Waiting::new(twin, client, within),
                ) else {
                    continue;
                };
                indexed.offer(a, &activity, hold_us);
                exhaustive.offer(b, &activity, hold_us);
                // Releases now and then, as often as every other offer: a segment released
                // before the pieces it drives must take them along.
                if at % (2 + seed as usize % 6) == 1 {
                    indexed.release(now, hold_us, &activity, &mut from_index);
                    exhaustive.release(now, hold_us, &activity, &mut from_all);
                }
            }
            indexed.flush(&activity, hold_us, &mut from_index);
            exhaustive.release(Timestamp::MAX, hold_us, &activity, &mut from_all);
            assert_eq!(summary(&from_index), summary(&from_all), "seed {seed}");
            joined += 60 - from_all.len();
        }
        // The segments do join, often: the comparison is not between two empty results.
        assert!(joined > 2_000, "{joined} joins");
    }
}

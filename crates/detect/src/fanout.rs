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
//!   learned split of the fragment's span (and, when the other has a parent of its own,
//!   started its S within that window of the fragment: together, not somewhere inside
//!   another loop that merely ran at the same time; the fragment ran after that request
//!   started, and the request's opening statements are not children), with parameters the
//!   fragment did not use (a fan-out's children differ; two health checks reading the same
//!   row do not);
//! - fragments proven concurrent (siblings on two sessions or more) also join the client's
//!   segment of another shape that ended at most twice the split before they started: the
//!   parent, which a pool ran on whichever connection was free. A loop is never such a
//!   parent: a segment that ran their shape itself (past its opening statements), or one
//!   shape several times (keyset pages).
//!
//! Independent requests that happen to run at the same time each start with their own
//! parent, so they are not fragments and are never joined; a joined segment holds at most
//! one segment with a parent of its own. A joined segment holds its
//! statements in time order. Segments wait until the input clock has passed their end by
//! the hold time (the idle gap: the longest a unit stays open after its last statement),
//! and all of them at the end of input.

use querycomb_core::Timestamp;

use crate::activity::Activity;
use crate::catalog::FpId;
use crate::unit::Unit;

/// A segment waiting for its siblings.
#[derive(Debug)]
pub(crate) struct Waiting {
    pub unit: Unit,
    pub client: u64,
    /// The learned split of its session(s): how close in time siblings run.
    pub split_us: i64,
    sessions: Vec<String>,
    start: Timestamp,
    end: Timestamp,
    /// It holds a segment with a parent of its own (not a fragment): two of those are two
    /// requests, never one fan-out.
    has_parent: bool,
}

impl Waiting {
    pub fn new(unit: Unit, client: u64, split_us: i64) -> Option<Waiting> {
        let start = unit.stmts.iter().filter_map(|s| s.time).min()?;
        let end = unit.stmts.iter().filter_map(|s| s.time).max()?;
        let sessions = vec![unit.header.session.clone()];
        let mut waiting = Waiting {
            unit,
            client,
            split_us,
            sessions,
            start,
            end,
            has_parent: false,
        };
        waiting.has_parent = waiting.fragment().is_none();
        Some(waiting)
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

    /// How close in time siblings run: pauses up to twice the learned split may still be
    /// inside one request (see `unit::pauses_over`).
    fn window(&self, other: &Waiting) -> i64 {
        self.split_us.max(other.split_us).saturating_mul(2)
    }

    fn shares_session(&self, other: &Waiting) -> bool {
        self.sessions.iter().any(|s| other.sessions.contains(s))
    }

    /// `other` ran `fp` near this one's span with parameters this one did not use.
    fn sibling_of(&self, fp: FpId, other: &Waiting, time: &Time<'_>) -> bool {
        let window = self.window(other);
        let near = |t: Timestamp| {
            (t >= self.start.saturating_sub(window) && t <= self.end.saturating_add(window))
                || time.stalled(self.client, self.end, t)
                || time.stalled(self.client, t, self.start)
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
        // A segment with its own parent: the fan-out started with its first child, not
        // somewhere inside a loop of its own that merely ran at the same time, and this
        // piece ran after that request started (its parent drives its children) — unless it
        // is already a fan-out over several sessions, whose children this one continues.
        other.fragment().is_some()
            || other.sessions.len() >= 2
            || (self.start >= other.start
                && children
                    .clone()
                    .next()
                    .and_then(|s| s.time)
                    .is_some_and(|first| {
                        first.abs_diff(self.start) <= window.unsigned_abs()
                            || time.stalled(self.client, first, self.start)
                            || time.stalled(self.client, self.start, first)
                    }))
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

    fn absorb(&mut self, other: Waiting) {
        let header = &mut self.unit.header;
        if other.start < self.start {
            header.start = other.unit.header.start;
            header.location = other.unit.header.location;
            header.session = other.unit.header.session.clone();
        }
        header.end = header.end.max(other.unit.header.end);
        header.statements = header
            .statements
            .saturating_add(other.unit.header.statements);
        self.unit.stmts.extend(other.unit.stmts);
        self.unit.stmts.sort_by_key(|s| s.time);
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
        self.split_us = self.split_us.max(other.split_us);
        self.has_parent |= other.has_parent;
    }
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

/// Segments waiting for their siblings, in two lists: two segments that each hold a parent
/// of their own never join (`Waiting::joins`), so a segment with a parent is compared with
/// the pieces only. On traffic of whole requests (one connection per request, or pieces that
/// never come) that keeps each offer from reading every segment of the last idle gap: with
/// thousands of requests a second, one list made grouping quadratic in the request rate.
#[derive(Debug, Default)]
pub(crate) struct FanOut {
    /// Segments with a parent of their own.
    requests: Vec<Waiting>,
    /// Pieces without one: fragments of one shape.
    pieces: Vec<Waiting>,
}

/// Where a waiting segment is.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Request(usize),
    Piece(usize),
}

impl FanOut {
    /// Adds a segment, joining it with every waiting sibling (and theirs, transitively).
    pub fn offer(&mut self, mut segment: Waiting, activity: &Activity, hold_us: i64) {
        let time = Time { activity, hold_us };
        while let Some(slot) = self.best_sibling(&segment, &time) {
            let other = match slot {
                Slot::Request(at) => self.requests.swap_remove(at),
                Slot::Piece(at) => self.pieces.swap_remove(at),
            };
            segment.absorb(other);
        }
        if segment.has_parent {
            self.requests.push(segment);
        } else {
            self.pieces.push(segment);
        }
    }

    /// The waiting segment to join `segment` with next: a piece without a parent of its own
    /// first; among pieces with a parent (at most one can join), the one that started last,
    /// whose parent ran nearest before — two requests' loops of one shape may overlap in
    /// time, and a fan-out's pieces belong with the parent that ran just before them.
    fn best_sibling(&self, segment: &Waiting, time: &Time<'_>) -> Option<Slot> {
        let joinable = |w: &Waiting| segment.joins(w, time) || w.joins(segment, time);
        if let Some(at) = self.pieces.iter().position(joinable) {
            return Some(Slot::Piece(at));
        }
        if segment.has_parent {
            return None;
        }
        let mut best: Option<(usize, &Waiting)> = None;
        for (at, w) in self
            .requests
            .iter()
            .enumerate()
            .filter(|(_, w)| joinable(w))
        {
            if best.is_none_or(|(_, b)| w.start > b.start) {
                best = Some((at, w));
            }
        }
        best.map(|(at, _)| Slot::Request(at))
    }

    /// Segments whose end the clock has passed by `hold_us`, oldest first.
    pub fn release(&mut self, now: Timestamp, hold_us: i64, ready: &mut Vec<Unit>) {
        let mut done: Vec<Waiting> = Vec::new();
        for list in [&mut self.requests, &mut self.pieces] {
            let mut index = 0;
            while index < list.len() {
                if list[index].end.saturating_add(hold_us) < now {
                    done.push(list.swap_remove(index));
                } else {
                    index += 1;
                }
            }
        }
        done.sort_by_key(|w| w.unit.header.serial);
        ready.extend(done.into_iter().map(|w| w.unit));
    }

    /// Everything, at the end of input.
    pub fn flush(&mut self, ready: &mut Vec<Unit>) {
        self.release(Timestamp::MAX, 0, ready);
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

    /// A segment on `session` of the statements `(shape, µs)`, with the learned split.
    fn segment(session: &str, stmts: &[(FpId, i64)], split_us: i64) -> Waiting {
        let stmts: Vec<Stmt> = stmts
            .iter()
            .enumerate()
            .map(|(i, &(fp, time))| Stmt {
                fp,
                list: 0,
                values: i as u64 + time as u64,
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
                result: 0,
                parent_result: 0,
            })
            .collect();
        let unit = Unit {
            header: RequestHeader {
                serial: 0,
                kind: RequestKind::Burst,
                trace_id: None,
                route: None,
                session: session.into(),
                start: stmts.first().and_then(|s| s.time),
                end: stmts.last().and_then(|s| s.time),
                statements: stmts.len() as u32,
                location: Location::default(),
            },
            stmts,
            complete: true,
            examples: Default::default(),
            keys: Default::default(),
        };
        Waiting::new(unit, 7, split_us).expect("timed statements")
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

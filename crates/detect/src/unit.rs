//! Units of work ("requests"): which statements belong together.
//!
//! Keys, best evidence first:
//! 1. a sqlcommenter `traceparent` trace id — one unit per trace, across sessions (a
//!    request that fans out over several pooled connections is still one request);
//! 2. a sqlcommenter `route` (or `controller`+`action`) — one unit per run of equally
//!    tagged statements on a session;
//! 3. an explicit transaction, `BEGIN … COMMIT/ROLLBACK` on a session (savepoints and
//!    `ROLLBACK TO` stay inside);
//! 4. otherwise a burst: a session's statements until a pool marker (a check-in reset ends
//!    it; a check-out probe or a queue claim starts the next), or a pause longer than the
//!    split learned for the session (see `gaps.rs`, `pauses_over`), at most `idle_gap_ms`.
//!
//! Untagged statements (drivers never tag `BEGIN`/`COMMIT`; server-side `EXECUTE` and raw
//! connections do not either) join the session's current unit, and an untagged unit that
//! ran no untagged work of its own adopts the first tag that arrives in it, so `BEGIN;
//! <tagged statements>; COMMIT` is one tagged request. An untagged unit that did run work is
//! left when tags arrive, and a transaction begun after a tagged request's statements whose
//! statements are untagged is a unit of its own (a job, a pooler's next client). An untagged
//! named prepared statement never counts as untagged work that a later tag could not adopt
//! (its text was fixed when it was first prepared, so drivers that tag at execution time
//! cannot tag it), but it does start that transaction's own unit: tokio-postgres and pgx
//! name every statement, so a name says nothing about the request.
//!
//! A unit closes on `COMMIT`/`ROLLBACK` (when it is a transaction unit), when its session
//! moves to another route or to untagged work in a new transaction (a trace stays open: it
//! may go on elsewhere),
//! when it has been idle for the gap (checked for every open unit a few times per gap of
//! input time, not per event), and at the end of input.
//!
//! Memory: each statement is kept as a fixed-size [`Stmt`] (no SQL text); a unit keeps at
//! most `max_statements_per_unit` of them and hands a full batch to the detectors early; idle
//! sessions are forgotten. So memory follows the number of concurrently open requests, not
//! the length of the input.

use std::borrow::Cow;

use querycomb_core::{Location, RequestKind, Timestamp};

use querycomb_sql::class::Marker;

use crate::catalog::{FpId, Role};
use crate::fanout::{FanOut, Waiting};
use crate::gaps::GapModel;
use crate::hash::FastHasher;
use crate::hash::FastMap;

/// One counted statement as the detectors see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stmt {
    pub fp: FpId,
    /// Longest collapsed list (IN/ANY/VALUES, or a `{…}` array parameter), in items.
    pub list: u32,
    /// Hash of literal values and bind parameters (see [`crate::hash::values_hash`]).
    pub values: u64,
    pub time: Option<Timestamp>,
    pub duration_us: Option<u64>,
    pub rows: Option<u64>,
    pub location: Location,
    /// The inline `querycomb:allow` marker was present.
    pub allow: bool,
    /// From a trace: the statement's own span id and the span that issued it (0 when not
    /// from a trace, or unknown).
    pub span: u64,
    pub parent_span: u64,
    /// Used a value the statement before it returned (see
    /// [`querycomb_core::QueryEvent::uses_previous_result`]).
    pub uses_previous_result: bool,
}

/// What is known about a unit of work, apart from its statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    /// Unique per unit within a run, increasing in order of opening.
    pub serial: u64,
    pub kind: RequestKind,
    pub trace_id: Option<String>,
    pub route: Option<String>,
    /// The session of its first statement.
    pub session: String,
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    /// Counted statements so far (over all batches of the unit).
    pub statements: u32,
    /// Where its first statement is.
    pub location: Location,
}

/// A batch of a unit's statements ready for the detectors: the whole unit when it closed,
/// or the first `max_statements_per_unit` of a very long one (`complete == false`).
#[derive(Debug, Clone)]
pub struct Unit {
    pub header: RequestHeader,
    pub stmts: Vec<Stmt>,
    pub complete: bool,
    /// Example parameter text per shape (only with `show_params`).
    pub examples: FastMap<FpId, Vec<String>>,
    /// Each execution's values per shape (only with `capture_keys`).
    pub keys: FastMap<FpId, Vec<Keys>>,
}

/// The values of one execution, in normalised `$n` order (`None` is NULL).
pub type Keys = Vec<Option<String>>;

/// The grouping key an event's sqlcommenter tags give it.
#[derive(Debug, Clone)]
pub enum Key<'a> {
    /// No tags: the statement ran outside any tagged request.
    None,
    /// No tags, but none could be expected (a named prepared statement, whose text was
    /// fixed when it was first prepared): follow the session's current unit like untagged
    /// statements do, without counting as untagged work that a later tag could not adopt.
    Inherit,
    Trace {
        id: u128,
        text: &'a str,
        route: Option<Cow<'a, str>>,
    },
    Route(Cow<'a, str>),
}

/// One event, reduced to what grouping needs.
#[derive(Debug, Clone)]
pub struct Incoming<'a> {
    pub session: &'a str,
    pub time: Option<Timestamp>,
    pub location: Location,
    pub role: Role,
    /// The pool or queue boundary the statement's class marks (untagged traffic only).
    pub marker: Marker,
    /// Who sent it, as far as the source knows: user, database, application. Sessions of
    /// one client may carry one request's fan-out.
    pub client: [Option<&'a str>; 3],
    pub key: Key<'a>,
    /// The record kept for a query (`role == Role::Query`).
    pub stmt: Option<Stmt>,
    /// Parameter text for examples (only passed with `show_params`).
    pub example: Option<&'a str>,
    /// The execution's values (only passed with `capture_keys`).
    pub keys: Option<Keys>,
}

/// Settings grouping needs, copied out of the config.
#[derive(Debug, Clone, Copy)]
pub struct GroupingLimits {
    pub idle_gap_us: i64,
    pub max_statements: usize,
    pub examples_per_shape: usize,
    /// Executions whose values are kept per shape and unit with `capture_keys`.
    pub keys_per_shape: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct UnitRef {
    slot: u32,
    serial: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct SessionState {
    unit: Option<UnitRef>,
    in_transaction: bool,
    /// The current unit's statement count when the last `BEGIN` arrived.
    tx_start: u32,
    /// That `BEGIN` came after a tagged request's statements: untagged statements in this
    /// transaction are other work, not part of that request.
    begin_after_tag: bool,
    /// Where and when that `BEGIN` ran, to start the split-off unit there.
    begin_at: (Option<Timestamp>, Location),
    last_time: Option<Timestamp>,
    /// Pauses between this session's statements: where its untagged units split.
    gaps: GapModel,
    /// The session's units are delimited by markers: a pool that resets every connection it
    /// takes back, or a worker that claims each job. Pauses then add only noise, and do not
    /// cut its units.
    delimited: bool,
}

#[derive(Debug)]
struct OpenUnit {
    header: RequestHeader,
    stmts: Vec<Stmt>,
    last_time: Option<Timestamp>,
    trace: Option<u128>,
    /// A burst made of single-statement transactions (ORMs wrap each save in one).
    chain: bool,
    /// The learned pause that ends an untagged unit on its session, as of its last
    /// statement (`i64::MAX` when nothing was learned yet).
    split_us: i64,
    /// The pause that ends an untagged unit even inside a loop (see `pauses_over`).
    loop_cut_us: i64,
    /// Hash of the first statement's client (see [`Incoming::client`]).
    client: u64,
    /// Ran on a marker-delimited session (see `SessionState::delimited`): no pause cuts.
    delimited: bool,
    /// Counted statements that carried no tags.
    untagged_queries: u32,
    examples: FastMap<FpId, Vec<String>>,
    keys: FastMap<FpId, Vec<Keys>>,
}

impl OpenUnit {
    fn is_tagged(&self) -> bool {
        matches!(self.header.kind, RequestKind::Trace | RequestKind::Route)
    }

    /// An untagged unit holding nothing but bookkeeping (`BEGIN`) and untagged prepared
    /// statements: it becomes the tagged request that follows. One that ran untagged work
    /// of its own is another unit.
    fn adoptable(&self) -> bool {
        !self.is_tagged() && self.untagged_queries == 0
    }
}

/// Open units in a slab; a [`UnitRef`] is valid while its slot holds the same serial.
#[derive(Debug, Default)]
struct Units {
    slots: Vec<(u64, Option<OpenUnit>)>,
    free: Vec<u32>,
    traces: FastMap<u128, UnitRef>,
    next_serial: u64,
    /// Closed units and full batches, waiting for the detectors.
    ready: Vec<Unit>,
    /// Untagged segments waiting for the other pieces of a concurrent fan-out.
    fanout: FanOut,
    /// How long they wait after their end: the idle gap.
    hold_us: i64,
}

/// Assigns events to units of work and hands finished ones out through [`Grouper::drain`].
#[derive(Debug)]
pub struct Grouper {
    /// Session name → index in `session_states` (an index, so that one lookup suffices).
    sessions: FastMap<Box<str>, usize>,
    session_states: Vec<SessionState>,
    free_sessions: Vec<usize>,
    units: Units,
    limits: GroupingLimits,
    now: Option<Timestamp>,
    next_sweep: Option<Timestamp>,
    learning: GapLearning,
}

/// What pauses between statements taught about where untagged units split.
#[derive(Debug, Default)]
struct GapLearning {
    /// Pauses over all sessions: the split for sessions too young to have their own.
    all: GapModel,
    /// The input clock's resolution: 1 s, 1 ms or 1 µs, the coarsest that divides every
    /// timestamp seen (`None` before the first).
    tick: Option<i64>,
}

impl GapLearning {
    /// Records the pause since the session's last statement; returns, for its untagged
    /// unit, the learned split (the session's, or all sessions' while it has none) and the
    /// pause that ends a request even inside a loop (twice the split, or a short
    /// between-request pause when longer), both at most `limit` (`idle_gap_ms`).
    fn learn(
        &mut self,
        state: &mut SessionState,
        time: Option<Timestamp>,
        limit: i64,
    ) -> (i64, i64) {
        let Some(time) = time else {
            return (limit, limit);
        };
        let tick = [1_000_000, 1000, 1]
            .into_iter()
            .find(|t| time % t == 0 && self.tick.is_none_or(|old| old >= *t))
            .unwrap_or(1);
        self.tick = Some(tick);
        if let Some(last) = state.last_time {
            let gap = time.saturating_sub(last);
            // Pauses beyond the idle gap end a unit anyway; they say nothing about where
            // inside it to split. Below one tick the clock cannot tell pauses apart.
            if (0..=limit).contains(&gap) {
                state.gaps.record(gap.max(tick));
                self.all.record(gap.max(tick));
            }
        }
        if tick >= 1_000_000 {
            return (limit, limit);
        }
        // The session's own split when its pauses show one; else all sessions' (a young
        // session, or one whose few requests do not show the two kinds yet).
        let model = if state.gaps.split_us().is_some() {
            &state.gaps
        } else {
            &self.all
        };
        match (model.split_us(), model.between_us()) {
            (Some(split), between) => {
                let loop_cut = split.saturating_mul(2).max(between.unwrap_or(0)).min(limit);
                (split.min(limit), loop_cut)
            }
            (None, _) => (limit, limit),
        }
    }
}

impl Grouper {
    pub fn new(limits: GroupingLimits) -> Grouper {
        Grouper {
            sessions: FastMap::default(),
            session_states: Vec::new(),
            free_sessions: Vec::new(),
            units: Units {
                hold_us: limits.idle_gap_us,
                ..Units::default()
            },
            limits,
            now: None,
            next_sweep: None,
            learning: GapLearning::default(),
        }
    }

    /// Places one event. Per event: one session lookup, at most one trace lookup, a push.
    pub fn push(&mut self, event: Incoming<'_>) {
        self.advance(event.time);
        let slot = self.session_slot(event.session);
        let Some(state) = self.session_states.get_mut(slot) else {
            return;
        };
        let (untagged_gap, loop_cut) =
            self.learning
                .learn(state, event.time, self.limits.idle_gap_us);
        let units = &mut self.units;
        let mut current = units.live_current(
            state,
            event.time,
            self.limits.idle_gap_us,
            (untagged_gap, loop_cut),
        );
        if units.starts_unit(current, state, &event) {
            if let Some(c) = current.take() {
                units.close(c);
            }
        }
        note_transaction(state, &event, current.and_then(|c| units.get(c)));
        let target = match &event.key {
            Key::Trace { id, text, route } => {
                Some(units.trace_target(current, *id, text, route.as_deref(), &event))
            }
            Key::Route(route) => Some(units.route_target(current, route, &event)),
            // A named prepared statement follows its session, except into a transaction
            // begun after a tagged request: drivers such as tokio-postgres and pgx name
            // every statement, so there a name says nothing about the request.
            Key::None | Key::Inherit => units.untagged_target(current, state, &event),
        };
        state.unit = target;
        if event.time.is_some() {
            state.last_time = event.time;
        }
        if matches!(event.marker, Marker::CheckIn | Marker::Claim) && is_untagged(&event.key) {
            state.delimited = true;
        }
        if let Some(target) = target {
            units.add(target, &event, self.limits, (untagged_gap, loop_cut));
            if let Some(unit) = units.get_mut(target) {
                unit.delimited |= state.delimited;
            }
            units.after_control(target, state, event.role);
            if units.ends_unit(target, state, &event) {
                units.close(target);
                state.unit = None;
            }
        }
    }

    fn session_slot(&mut self, session: &str) -> usize {
        if let Some(&slot) = self.sessions.get(session) {
            return slot;
        }
        let slot = match self.free_sessions.pop() {
            Some(slot) => slot,
            None => {
                self.session_states.push(SessionState::default());
                self.session_states.len() - 1
            }
        };
        if let Some(state) = self.session_states.get_mut(slot) {
            *state = SessionState::default();
        }
        self.sessions.insert(session.into(), slot);
        slot
    }

    /// Puts `stmts` back at the front of the open unit `serial` after one of its batches was
    /// analysed: the parents of loops that go on into the next batch, so that those loops
    /// keep their parent (and their signature).
    pub fn carry_over(&mut self, serial: u64, stmts: &[Stmt]) {
        let Some(r) = self.units.open_refs().find(|r| r.serial == serial) else {
            return;
        };
        if let Some(unit) = self.units.get_mut(r) {
            unit.stmts.splice(0..0, stmts.iter().copied());
        }
    }

    /// The input clock moved on without an event (the proxy between statements).
    pub fn tick(&mut self, now: Timestamp) {
        self.advance(Some(now));
    }

    /// Closes every open unit (end of input), oldest first.
    pub fn finish(&mut self) {
        let mut open: Vec<UnitRef> = self.units.open_refs().collect();
        open.sort_by_key(|r| r.serial);
        for r in open {
            self.units.close(r);
        }
        self.units.fanout.flush(&mut self.units.ready);
        self.sessions.clear();
        self.session_states.clear();
        self.free_sessions.clear();
    }

    /// Units (and batches of long units) ready for the detectors, in the order they closed.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Unit> {
        self.units.ready.drain(..)
    }

    pub fn has_ready(&self) -> bool {
        !self.units.ready.is_empty()
    }

    /// Open units right now (for tests and live status).
    pub fn open_units(&self) -> usize {
        self.units.open_refs().count()
    }

    /// Sessions remembered right now (for tests: idle ones must be forgotten).
    pub fn tracked_sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Moves the clock; a few times per idle gap, closes every unit idle for longer.
    fn advance(&mut self, time: Option<Timestamp>) {
        let Some(time) = time else { return };
        if self.now.is_some_and(|now| now >= time) {
            return;
        }
        self.now = Some(time);
        match self.next_sweep {
            Some(due) if time < due => {}
            Some(_) => {
                self.sweep(time);
                self.next_sweep = Some(time.saturating_add(self.sweep_interval()));
            }
            None => self.next_sweep = Some(time.saturating_add(self.sweep_interval())),
        }
    }

    fn sweep_interval(&self) -> i64 {
        (self.limits.idle_gap_us / 4).max(1000)
    }

    fn sweep(&mut self, now: Timestamp) {
        let gap = self.limits.idle_gap_us;
        let idle: Vec<UnitRef> = self
            .units
            .open_refs()
            .filter(|r| {
                let last = self.units.get(*r).and_then(|u| u.last_time);
                is_idle(last, Some(now), gap)
            })
            .collect();
        for r in idle {
            self.units.close(r);
        }
        let units = &mut self.units;
        units.fanout.release(now, gap, &mut units.ready);
        let units = &self.units;
        let states = &self.session_states;
        let free = &mut self.free_sessions;
        // A session inside a transaction is remembered longer so that statements after a
        // long pause still count as part of its transaction.
        let forget_tx_after = gap.saturating_mul(100);
        self.sessions.retain(|_, slot| {
            let keep = states.get(*slot).is_some_and(|s| {
                s.unit.is_some_and(|r| units.get(r).is_some())
                    || (s.in_transaction && !is_idle(s.last_time, Some(now), forget_tx_after))
            });
            if !keep {
                free.push(*slot);
            }
            keep
        });
    }
}

/// Transaction state a session's `BEGIN`/`COMMIT` and tags imply, before the event is placed.
fn note_transaction(state: &mut SessionState, event: &Incoming<'_>, current: Option<&OpenUnit>) {
    match event.role {
        Role::Begin => {
            state.in_transaction = true;
            state.begin_after_tag = current.is_some_and(OpenUnit::is_tagged);
            state.begin_at = (event.time, event.location);
        }
        Role::End => {
            state.in_transaction = false;
            state.begin_after_tag = false;
        }
        Role::Query | Role::Bookkeeping => {}
    }
    if matches!(event.key, Key::Trace { .. } | Key::Route(_)) {
        state.begin_after_tag = false;
    }
}

fn is_idle(last: Option<Timestamp>, now: Option<Timestamp>, gap_us: i64) -> bool {
    matches!((last, now), (Some(last), Some(now)) if now.saturating_sub(last) > gap_us)
}

impl Units {
    /// The session's unit if it is still open and not idle too long before `time` (an idle
    /// one is closed here).
    fn live_current(
        &mut self,
        state: &SessionState,
        time: Option<Timestamp>,
        idle_gap_us: i64,
        (untagged_gap_us, loop_cut_us): (i64, i64),
    ) -> Option<UnitRef> {
        let current = state.unit.filter(|r| self.get(*r).is_some())?;
        let unit = self.get_mut(current)?;
        unit.split_us = untagged_gap_us;
        unit.loop_cut_us = loop_cut_us;
        let unit = &*unit;
        // A pause twice the learned split ends an untagged burst whatever follows (see
        // `pauses_over`); shorter ones are decided when the burst closes.
        // Inside a transaction, or a chain of single-statement transactions, the idle gap
        // alone decides, as for any explicit transaction.
        let plain_burst = unit.header.kind == RequestKind::Burst
            && !unit.chain
            && !state.in_transaction
            && !state.delimited;
        let gap = if plain_burst && untagged_gap_us < idle_gap_us {
            loop_cut_us
        } else {
            idle_gap_us
        };
        if is_idle(unit.last_time, time, gap) {
            self.close(current);
            return None;
        }
        Some(current)
    }

    /// A check-out probe or a job claim, untagged, after the session's untagged unit ran
    /// work outside a transaction (or just began one): the next unit of work starts here.
    fn starts_unit(
        &self,
        current: Option<UnitRef>,
        state: &SessionState,
        event: &Incoming<'_>,
    ) -> bool {
        if !matches!(event.marker, Marker::CheckOut | Marker::Claim) || !is_untagged(&event.key) {
            return false;
        }
        current.and_then(|c| self.get(c)).is_some_and(|u| {
            !u.is_tagged()
                && u.header.statements > 0
                && (!state.in_transaction || u.header.statements == state.tx_start)
        })
    }

    /// A pool's check-in reset, untagged, outside a transaction: the untagged unit that used
    /// the connection is over.
    fn ends_unit(&self, target: UnitRef, state: &SessionState, event: &Incoming<'_>) -> bool {
        event.marker == Marker::CheckIn
            && is_untagged(&event.key)
            && !state.in_transaction
            && self.get(target).is_some_and(|u| !u.is_tagged())
    }

    /// After `BEGIN`, remembers where the transaction starts; after `COMMIT`/`ROLLBACK`,
    /// ends it (which may close the unit).
    fn after_control(&mut self, target: UnitRef, state: &mut SessionState, role: Role) {
        let statements = self.get(target).map_or(0, |u| u.header.statements);
        match role {
            Role::Begin => state.tx_start = statements,
            Role::End => {
                let in_transaction = statements - state.tx_start.min(statements);
                if self.end_transaction(target, in_transaction) {
                    state.unit = None;
                }
            }
            Role::Query | Role::Bookkeeping => {}
        }
    }

    fn get(&self, r: UnitRef) -> Option<&OpenUnit> {
        match self.slots.get(r.slot as usize) {
            Some((serial, unit)) if *serial == r.serial => unit.as_ref(),
            _ => None,
        }
    }

    fn get_mut(&mut self, r: UnitRef) -> Option<&mut OpenUnit> {
        match self.slots.get_mut(r.slot as usize) {
            Some((serial, unit)) if *serial == r.serial => unit.as_mut(),
            _ => None,
        }
    }

    fn open_refs(&self) -> impl Iterator<Item = UnitRef> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, (_, unit))| unit.is_some())
            .map(|(slot, (serial, _))| UnitRef {
                slot: slot as u32,
                serial: *serial,
            })
    }

    fn open(&mut self, kind: RequestKind, event: &Incoming<'_>) -> UnitRef {
        self.next_serial += 1;
        let serial = self.next_serial;
        let unit = OpenUnit {
            header: RequestHeader {
                serial,
                kind,
                trace_id: None,
                route: None,
                session: event.session.to_owned(),
                start: event.time,
                end: event.time,
                statements: 0,
                location: event.location,
            },
            stmts: Vec::new(),
            last_time: event.time,
            trace: None,
            chain: false,
            split_us: i64::MAX,
            loop_cut_us: i64::MAX,
            client: client_hash(&event.client),
            delimited: false,
            untagged_queries: 0,
            examples: FastMap::default(),
            keys: FastMap::default(),
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                if let Some(entry) = self.slots.get_mut(slot as usize) {
                    *entry = (serial, Some(unit));
                }
                slot
            }
            None => {
                self.slots.push((serial, Some(unit)));
                (self.slots.len() - 1) as u32
            }
        };
        UnitRef { slot, serial }
    }

    fn close(&mut self, r: UnitRef) {
        let Some((_, slot)) = self.slots.get_mut(r.slot as usize) else {
            return;
        };
        let Some(unit) = slot.take() else { return };
        self.free.push(r.slot);
        if let Some(trace) = unit.trace {
            if self.traces.get(&trace) == Some(&r) {
                self.traces.remove(&trace);
            }
        }
        if unit.header.statements > 0 {
            self.hand_out(unit);
        }
    }

    /// Queues a closed unit for the detectors. An untagged burst that stayed open while the
    /// split was still being learned (the first requests on a connection) is cut where it
    /// paused longer than the split learned since, so those requests are seen apart too.
    fn hand_out(&mut self, unit: OpenUnit) {
        let whole = unit.header.statements as usize == unit.stmts.len();
        let cuts =
            if whole && unit.header.kind == RequestKind::Burst && !unit.chain && !unit.delimited {
                pauses_over(&unit.stmts, unit.split_us, unit.loop_cut_us)
            } else {
                Vec::new()
            };
        let burst = unit.header.kind == RequestKind::Burst && !unit.chain;
        let (client, split_us) = (unit.client, unit.split_us);
        if cuts.is_empty() {
            let whole = Unit {
                header: unit.header,
                stmts: unit.stmts,
                complete: true,
                examples: unit.examples,
                keys: unit.keys,
            };
            self.segment_out(whole, burst, client, split_us);
            return;
        }
        let mut start = 0;
        for end in cuts.into_iter().chain([unit.stmts.len()]) {
            let part = unit.stmts.get(start..end).unwrap_or_default().to_vec();
            let mut header = unit.header.clone();
            if start > 0 {
                self.next_serial += 1;
                header.serial = self.next_serial;
                header.location = part.first().map_or(header.location, |s| s.location);
            }
            header.start = part.first().and_then(|s| s.time).or(header.start);
            header.end = part.last().and_then(|s| s.time).or(header.end);
            header.statements = part.len() as u32;
            let segment = Unit {
                header,
                stmts: part,
                complete: true,
                examples: unit.examples.clone(),
                keys: unit.keys.clone(),
            };
            self.segment_out(segment, burst, client, split_us);
            start = end;
        }
    }

    /// An untagged burst segment waits for fan-out siblings; anything else is ready.
    fn segment_out(&mut self, segment: Unit, burst: bool, client: u64, split_us: i64) {
        let learned = split_us < self.hold_us;
        let timed = segment.stmts.iter().any(|s| s.time.is_some());
        if !(burst && learned && timed) {
            self.ready.push(segment);
            return;
        }
        if let Some(waiting) = Waiting::new(segment, client, split_us.max(1)) {
            self.fanout.offer(waiting);
        }
    }

    /// The session leaves `current` for another key. A session's own unit (route,
    /// transaction, burst) is over; a trace may go on elsewhere (other connections, or this
    /// one later when a pooler interleaves requests), so it stays open until idle.
    fn leave(&mut self, current: UnitRef) {
        let is_trace = self
            .get(current)
            .is_some_and(|u| u.header.kind == RequestKind::Trace);
        if !is_trace {
            self.close(current);
        }
    }

    fn trace_target(
        &mut self,
        current: Option<UnitRef>,
        id: u128,
        text: &str,
        route: Option<&str>,
        event: &Incoming<'_>,
    ) -> UnitRef {
        if let Some(existing) = self
            .traces
            .get(&id)
            .copied()
            .filter(|r| self.get(*r).is_some())
        {
            if let Some(current) = current.filter(|c| *c != existing) {
                self.fold_into(current, existing);
            }
            if let Some(unit) = self.get_mut(existing) {
                set_route_once(&mut unit.header, route);
            }
            return existing;
        }
        let target = match current {
            Some(c) if self.get(c).is_some_and(OpenUnit::adoptable) => c,
            Some(c) => {
                self.leave(c);
                self.open(RequestKind::Trace, event)
            }
            None => self.open(RequestKind::Trace, event),
        };
        if let Some(unit) = self.get_mut(target) {
            unit.header.kind = RequestKind::Trace;
            unit.header.trace_id = Some(text.to_owned());
            unit.trace = Some(id);
            set_route_once(&mut unit.header, route);
        }
        self.traces.insert(id, target);
        target
    }

    /// An adoptable unit's statements belong to the trace that tags arrive for; any other
    /// is simply left.
    fn fold_into(&mut self, from: UnitRef, into: UnitRef) {
        if !self.get(from).is_some_and(OpenUnit::adoptable) {
            self.leave(from);
            return;
        }
        let Some((_, slot)) = self.slots.get_mut(from.slot as usize) else {
            return;
        };
        let Some(moved) = slot.take() else { return };
        self.free.push(from.slot);
        if let Some(unit) = self.get_mut(into) {
            unit.header.statements = unit
                .header
                .statements
                .saturating_add(moved.header.statements);
            unit.stmts.extend(moved.stmts);
            for (fp, examples) in moved.examples {
                unit.examples.entry(fp).or_default().extend(examples);
            }
            for (fp, keys) in moved.keys {
                unit.keys.entry(fp).or_default().extend(keys);
            }
        }
    }

    fn route_target(
        &mut self,
        current: Option<UnitRef>,
        route: &str,
        event: &Incoming<'_>,
    ) -> UnitRef {
        if let Some(c) = current {
            let same_route = self
                .get(c)
                .is_some_and(|u| u.header.route.as_deref() == Some(route));
            let adoptable = self.get(c).is_some_and(OpenUnit::adoptable);
            if same_route {
                return c;
            }
            if adoptable {
                if let Some(unit) = self.get_mut(c) {
                    unit.header.kind = RequestKind::Route;
                    unit.header.route = Some(route.to_owned());
                }
                return c;
            }
            self.leave(c);
        }
        let target = self.open(RequestKind::Route, event);
        if let Some(unit) = self.get_mut(target) {
            unit.header.route = Some(route.to_owned());
        }
        target
    }

    /// Untagged statements stay in the session's current unit, tagged or not (a request
    /// may run some untagged SQL: server-side `EXECUTE`, a raw connection), except in a
    /// transaction begun after a tagged request's statements: that is other work (a job, a
    /// pooler's next client), so the tagged unit is left.
    fn untagged_target(
        &mut self,
        current: Option<UnitRef>,
        state: &mut SessionState,
        event: &Incoming<'_>,
    ) -> Option<UnitRef> {
        let tagged = current.filter(|c| self.get(*c).is_some_and(OpenUnit::is_tagged));
        match (event.role, tagged) {
            (Role::Query, Some(c)) if state.in_transaction && state.begin_after_tag => {
                self.leave(c);
                state.begin_after_tag = false;
                state.tx_start = 0;
                let target = self.open(anonymous_kind(state), event);
                if let Some(unit) = self.get_mut(target) {
                    let (time, location) = state.begin_at;
                    unit.header.start = time.or(unit.header.start);
                    unit.header.location = location;
                }
                Some(target)
            }
            _ => self.inherited_target(current, state, event),
        }
    }

    /// The session's current unit; `BEGIN` after a burst starts a transaction unit.
    fn inherited_target(
        &mut self,
        current: Option<UnitRef>,
        state: &SessionState,
        event: &Incoming<'_>,
    ) -> Option<UnitRef> {
        match event.role {
            Role::Begin => match current {
                Some(c)
                    if self
                        .get(c)
                        .is_some_and(|u| u.header.kind != RequestKind::Burst || u.chain) =>
                {
                    Some(c)
                }
                Some(c) => {
                    self.close(c);
                    Some(self.open(RequestKind::Transaction, event))
                }
                None => Some(self.open(RequestKind::Transaction, event)),
            },
            Role::End | Role::Bookkeeping => current,
            Role::Query => Some(current.unwrap_or_else(|| self.open(anonymous_kind(state), event))),
        }
    }

    /// `COMMIT`/`ROLLBACK` in `target`, whose transaction ran `in_transaction` statements.
    /// A transaction unit closes, unless it held a single statement: an ORM wrapping each
    /// save in its own transaction is one loop, so such units chain into a burst that the
    /// next single-statement transactions join. A real transaction ends a chain. Returns
    /// whether the unit closed.
    fn end_transaction(&mut self, target: UnitRef, in_transaction: u32) -> bool {
        let Some(unit) = self.get_mut(target) else {
            return false;
        };
        let close = match (unit.header.kind, unit.chain) {
            (RequestKind::Transaction, _) if in_transaction == 1 => {
                unit.header.kind = RequestKind::Burst;
                unit.chain = true;
                false
            }
            (RequestKind::Transaction, _) => true,
            (RequestKind::Burst, true) => in_transaction >= 2,
            _ => false,
        };
        if close {
            self.close(target);
        }
        close
    }

    /// Adds the event to `target`; hands out a full batch when the unit reaches its cap.
    fn add(
        &mut self,
        target: UnitRef,
        event: &Incoming<'_>,
        limits: GroupingLimits,
        (split_us, loop_cut_us): (i64, i64),
    ) {
        let Some(unit) = self.get_mut(target) else {
            return;
        };
        if let Some(time) = event.time {
            unit.last_time = Some(unit.last_time.map_or(time, |t| t.max(time)));
            unit.header.end = unit.last_time;
            if unit.header.start.is_none_or(|s| s > time) {
                unit.header.start = Some(time);
            }
        }
        unit.split_us = split_us;
        unit.loop_cut_us = loop_cut_us;
        let Some(stmt) = event.stmt.filter(|_| event.role == Role::Query) else {
            return;
        };
        unit.stmts.push(stmt);
        unit.header.statements = unit.header.statements.saturating_add(1);
        if matches!(event.key, Key::None) {
            unit.untagged_queries = unit.untagged_queries.saturating_add(1);
        }
        if let Some(example) = event.example {
            let kept = unit.examples.entry(stmt.fp).or_default();
            if kept.len() < limits.examples_per_shape {
                kept.push(example.to_owned());
            }
        }
        if let Some(keys) = &event.keys {
            let kept = unit.keys.entry(stmt.fp).or_default();
            if kept.len() < limits.keys_per_shape {
                kept.push(keys.clone());
            }
        }
        if unit.stmts.len() >= limits.max_statements {
            let batch = Unit {
                header: unit.header.clone(),
                stmts: std::mem::take(&mut unit.stmts),
                complete: false,
                examples: std::mem::take(&mut unit.examples),
                keys: std::mem::take(&mut unit.keys),
            };
            self.ready.push(batch);
        }
    }
}

/// Where a burst splits into requests: before each statement that follows a pause longer
/// than `split_us`, unless that statement is part of a loop — the same shape as the one
/// before it (an iteration that paused) or as the one after it (a loop's first child, which
/// must stay with its parent) — and the pause is at most `loop_cut_us` (twice the split, or
/// a short between-request pause as learned when that is longer). The learned split is a
/// boundary between two overlapping kinds of pause on a slow or busy application; a loop
/// going on decides the pauses near it, a pause as long as those between requests ends the
/// request whatever follows.
fn pauses_over(stmts: &[Stmt], split_us: i64, loop_cut_us: i64) -> Vec<usize> {
    let mut cuts = Vec::new();
    for (index, pair) in stmts.windows(2).enumerate() {
        let (before, at) = (&pair[0], &pair[1]);
        let pause = match (before.time, at.time) {
            (Some(b), Some(a)) => a.saturating_sub(b),
            _ => continue,
        };
        let next = stmts.get(index + 2).map(|s| s.fp);
        let in_loop = at.fp == before.fp || next == Some(at.fp);
        let near_split = pause <= loop_cut_us;
        if pause > split_us && !(in_loop && near_split) {
            cuts.push(index + 1);
        }
    }
    cuts
}

fn client_hash(client: &[Option<&str>; 3]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = FastHasher::default();
    client.hash(&mut hasher);
    hasher.finish()
}

fn is_untagged(key: &Key<'_>) -> bool {
    matches!(key, Key::None | Key::Inherit)
}

fn anonymous_kind(state: &SessionState) -> RequestKind {
    if state.in_transaction {
        RequestKind::Transaction
    } else {
        RequestKind::Burst
    }
}

fn set_route_once(header: &mut RequestHeader, route: Option<&str>) {
    if header.route.is_none() {
        header.route = route.map(str::to_owned);
    }
}

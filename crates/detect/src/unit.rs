//! Units of work ("requests"): which statements belong together.
//!
//! Keys, best evidence first:
//! 1. a sqlcommenter `traceparent` trace id — one unit per trace, across sessions (a
//!    request that fans out over several pooled connections is still one request);
//! 2. a sqlcommenter `route` (or `controller`+`action`) — one unit per run of equally
//!    tagged statements on a session;
//! 3. an explicit transaction, `BEGIN … COMMIT/ROLLBACK` on a session (savepoints and
//!    `ROLLBACK TO` stay inside; MySQL's `SET autocommit = 0` begins one); consecutive
//!    transactions of one committed statement each chain into one burst (an ORM saving
//!    row by row), and one statement rolled back is a piece of pooled work, handed out as
//!    a burst that may join a fan-out (see `Units::end_transaction`);
//! 4. otherwise a burst: a session's statements until a pool marker (a check-in reset ends
//!    it; a check-out probe or a queue claim starts the next), the `COMMIT`/`ROLLBACK` of a
//!    transaction the server opened implicitly (see `Units::end_implicit`), or a pause
//!    longer than the split learned for the session (see `gaps.rs`), at most
//!    `idle_gap_ms` — except inside
//!    a loop while the client's other sessions were silent (a stall of the whole
//!    application; see `Units::pauses_over`, `activity.rs`), or whose child's values came
//!    from a result of the unit (the source's value links). Each cut is decided as soon as
//!    the statement after the pause arrives.
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

use crate::activity::{Activity, Elsewhere};
use crate::catalog::{FpId, Role};
use crate::fanout::{FanOut, Waiting};
use crate::gaps::{clock_tick, GapModel};
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
    /// Bytes of result rows sent to the application, when the source saw them (the proxy).
    pub result_bytes: Option<u64>,
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
    /// A page of a paging loop (`OFFSET`, keyset; `Shape::is_paging`): no parent drives it.
    pub paging: bool,
    /// Value links from the source (see [`querycomb_core::ValueLinks`]), 0 for none: the id
    /// its result was kept under, and the id of the result its bind values came from.
    pub result: u64,
    pub parent_result: u64,
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
    /// Example parameter text per shape (only with `show_params`), each with its
    /// execution's values hash ([`Stmt::values`]).
    pub examples: FastMap<FpId, Vec<(u64, String)>>,
    /// Each execution's values per shape (only with `capture_keys`), likewise.
    pub keys: FastMap<FpId, Vec<(u64, Keys)>>,
}

pub use querycomb_core::Keys;

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
    /// An end that is a `ROLLBACK` (see `Units::end_implicit`).
    pub rollback: bool,
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
    /// The key is a trace its source delivers whole and closes with
    /// [`Grouper::close_trace`] (trace files, `collect`), rather than one known from
    /// sqlcommenter tags.
    pub whole_trace: bool,
}

/// A whole trace's unit stays open through pauses up to this many idle gaps.
const TRACE_IDLE_FACTOR: i64 = 100;

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
    /// Hash of the session's name, and of its first statement's client (see
    /// [`Incoming::client`]): computed once, for the activity every statement records.
    key: u64,
    client: Option<u64>,
    in_transaction: bool,
    /// The current unit's statement count when the last `BEGIN` arrived.
    tx_start: u32,
    /// Counted statements since the session's last `BEGIN`, `COMMIT` or `ROLLBACK`: what a
    /// transaction the server opened implicitly held when its `COMMIT`/`ROLLBACK` arrives
    /// without a `BEGIN` (MySQL drivers with autocommit off, see `Units::end_implicit`).
    since_end: u32,
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
    /// The learned pauses that end an untagged unit on its session, as of its last
    /// statement (`i64::MAX` when nothing was learned yet).
    split: Split,
    /// Hash of its session's name, to tell its pauses from other sessions' activity.
    session_key: u64,
    /// Hash of the first statement's client (see [`Incoming::client`]).
    client: u64,
    /// Ran on a marker-delimited session (see `SessionState::delimited`): no pause cuts.
    delimited: bool,
    /// A trace its source delivers whole (see [`Incoming::whole_trace`]): no pause cuts.
    whole_trace: bool,
    /// Counted statements that carried no tags.
    untagged_queries: u32,
    examples: FastMap<FpId, Vec<(u64, String)>>,
    keys: FastMap<FpId, Vec<(u64, Keys)>>,
}

impl OpenUnit {
    /// How long the unit may pause before it is over: the idle gap, except for a trace its
    /// source delivers whole, which is one unit of work however long it pauses (the source
    /// says when it is complete, see [`Grouper::close_trace`]; the longer limit only bounds
    /// memory should it not).
    fn idle_limit(&self, idle_gap_us: i64) -> i64 {
        if self.whole_trace {
            idle_gap_us.saturating_mul(TRACE_IDLE_FACTOR)
        } else {
            idle_gap_us
        }
    }

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
    /// What each client's sessions ran lately.
    pub(crate) activity: Activity,
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
    /// Forgotten sessions whose units pool markers delimited (session hash → when it last
    /// ran a statement): a pool resets a connection each time it takes it back, so its next
    /// unit, after the pool left it idle long enough to be forgotten, is still delimited by
    /// markers and not cut by pauses. Kept as long as a transaction's session is.
    delimited: FastMap<u64, Timestamp>,
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
    /// pause that ends a loop while the client's other sessions are busy (twice the split,
    /// or a short between-request pause when longer), both at most `limit`
    /// (`idle_gap_ms`).
    fn learn(&mut self, state: &mut SessionState, time: Option<Timestamp>, limit: i64) -> Split {
        let mut unlearned = Split {
            us: limit,
            loop_cut_us: limit,
            fine_clock: false,
            within_us: limit,
        };
        let Some(time) = time else {
            return unlearned;
        };
        let tick = clock_tick(time, self.tick);
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
            return unlearned;
        }
        unlearned.fine_clock = true;
        // The session's own split when its pauses show one; else all sessions' (a young
        // session, or one whose few requests do not show the two kinds yet).
        let model = if state.gaps.split_us().is_some() {
            &state.gaps
        } else {
            &self.all
        };
        match (model.split_us(), model.between_us()) {
            (Some(split), between) => Split {
                us: split.min(limit),
                loop_cut_us: split.saturating_mul(2).max(between.unwrap_or(0)).min(limit),
                fine_clock: true,
                within_us: model.within_us().unwrap_or(split).min(limit),
            },
            (None, _) => unlearned,
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
            delimited: FastMap::default(),
        }
    }

    /// Places one event. Per event: one session lookup, at most one trace lookup, a push.
    pub fn push(&mut self, event: Incoming<'_>) {
        self.advance(event.time);
        let slot = self.session_slot(event.session);
        let Some(state) = self.session_states.get_mut(slot) else {
            return;
        };
        let untagged_gap = self
            .learning
            .learn(state, event.time, self.limits.idle_gap_us);
        if let (Some(time), Some(stmt)) = (event.time, event.stmt) {
            let client = *state
                .client
                .get_or_insert_with(|| client_hash(&event.client));
            let horizon = self.limits.idle_gap_us.saturating_mul(2);
            self.units
                .activity
                .record(client, state.key, stmt.fp, time, horizon);
        }
        let units = &mut self.units;
        let mut current =
            units.live_current(state, event.time, self.limits.idle_gap_us, untagged_gap);
        if units.starts_unit(current, state, &event) {
            if let Some(c) = current.take() {
                units.close(c);
            }
        }
        let explicit = state.in_transaction;
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
            units.add(target, &event, self.limits, untagged_gap);
            if let Some(unit) = units.get_mut(target) {
                unit.delimited |= state.delimited;
            }
            let target = units.hand_out_decided(target);
            state.unit = Some(target);
            if event.role == Role::End && !explicit {
                if units.end_implicit(target, state.since_end, event.rollback) {
                    state.unit = None;
                }
            } else {
                units.after_control(target, state, event.role, event.rollback);
            }
            if units.ends_unit(target, state, &event) {
                units.close(target);
                state.unit = None;
            }
        }
        match event.role {
            Role::Begin | Role::End => state.since_end = 0,
            Role::Query if event.stmt.is_some() => {
                state.since_end = state.since_end.saturating_add(1);
            }
            Role::Query | Role::Bookkeeping => {}
        }
    }

    /// The source has delivered every statement of trace `id` (trace files and `collect`
    /// assemble whole traces): its unit is complete.
    pub fn close_trace(&mut self, id: u128) {
        if let Some(unit) = self.units.traces.get(&id).copied() {
            self.units.close(unit);
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
            let key = session_key(session);
            *state = SessionState {
                key,
                delimited: self.delimited.remove(&key).is_some(),
                ..SessionState::default()
            };
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
        let units = &mut self.units;
        units
            .fanout
            .flush(&units.activity, units.hold_us, &mut units.ready);
        self.sessions.clear();
        self.delimited.clear();
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

    /// Statements held by the open units right now (their memory: a fixed-size [`Stmt`] each,
    /// at most `max_statements_per_unit` per unit).
    pub fn open_statements(&self) -> usize {
        self.units
            .slots
            .iter()
            .filter_map(|(_, unit)| unit.as_ref())
            .map(|unit| unit.stmts.len())
            .sum()
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
                self.units
                    .get(*r)
                    .is_some_and(|u| is_idle(u.last_time, Some(now), u.idle_limit(gap)))
            })
            .collect();
        for r in idle {
            self.units.close(r);
        }
        let units = &mut self.units;
        units
            .fanout
            .release(now, gap, &units.activity, &mut units.ready);
        units
            .activity
            .forget_before(now.saturating_sub(gap.saturating_mul(2)));
        let units = &self.units;
        let states = &self.session_states;
        let free = &mut self.free_sessions;
        // A session inside a transaction is remembered longer so that statements after a
        // long pause still count as part of its transaction; that a forgotten session's
        // units are delimited by markers, as long (see `Grouper::delimited`).
        let forget_after = gap.saturating_mul(100);
        let delimited = &mut self.delimited;
        delimited.retain(|_, last| !is_idle(Some(*last), Some(now), forget_after));
        self.sessions.retain(|_, slot| {
            let keep = states.get(*slot).is_some_and(|s| {
                s.unit.is_some_and(|r| units.get(r).is_some())
                    || (s.in_transaction && !is_idle(s.last_time, Some(now), forget_after))
            });
            if !keep {
                if let Some(s) = states.get(*slot).filter(|s| s.delimited) {
                    delimited.insert(s.key, s.last_time.unwrap_or(now));
                }
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
        split: Split,
    ) -> Option<UnitRef> {
        let current = state.unit.filter(|r| self.get(*r).is_some())?;
        let unit = self.get_mut(current)?;
        unit.split = split;
        // Only the idle gap closes a unit here (longer for a trace its source delivers
        // whole): where an untagged burst splits is decided from its statements' shapes and
        // pauses once the statement after a pause is known (`hand_out_decided`,
        // `pauses_over`).
        if is_idle(unit.last_time, time, unit.idle_limit(idle_gap_us)) {
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
    fn after_control(
        &mut self,
        target: UnitRef,
        state: &mut SessionState,
        role: Role,
        rollback: bool,
    ) {
        let statements = self.get(target).map_or(0, |u| u.header.statements);
        match role {
            Role::Begin => state.tx_start = statements,
            Role::End => {
                let in_transaction = statements - state.tx_start.min(statements);
                if self.end_transaction(target, in_transaction, rollback) {
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
            split: Split {
                us: i64::MAX,
                loop_cut_us: i64::MAX,
                fine_clock: false,
                within_us: i64::MAX,
            },
            session_key: session_key(event.session),
            client: client_hash(&event.client),
            delimited: false,
            whole_trace: false,
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
                self.pauses_over(&unit, true)
            } else {
                Vec::new()
            };
        let burst = unit.header.kind == RequestKind::Burst && !unit.chain;
        let (client, split) = (unit.client, unit.split);
        if cuts.is_empty() {
            let whole = Unit {
                header: unit.header,
                stmts: unit.stmts,
                complete: true,
                examples: unit.examples,
                keys: unit.keys,
            };
            self.segment_out(whole, burst, client, split);
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
            self.segment_out(segment, burst, client, split);
            start = end;
        }
    }

    /// Hands out the requests an open untagged burst has finished: everything before its
    /// last cut that the statements after it decided (see [`Units::pauses_over`]). The rest stays
    /// open, under a new serial; returns the reference to it.
    fn hand_out_decided(&mut self, target: UnitRef) -> UnitRef {
        let Some(unit) = self.get(target) else {
            return target;
        };
        let whole = unit.header.statements as usize == unit.stmts.len();
        if !whole || unit.header.kind != RequestKind::Burst || unit.chain || unit.delimited {
            return target;
        }
        // The newest pause that the statement after it decides (earlier ones were decided
        // as their own next statements arrived; the whole burst is looked at again when it
        // closes, with the split learned by then).
        let cut = unit.stmts.len().saturating_sub(2);
        if cut == 0 || !self.cuts_before(unit, 0, cut, false) {
            return target;
        }
        self.hand_out_before(target, cut)
    }

    /// Hands out the open unit's statements before `cut` as a unit of their own; the rest
    /// stays open, under a new serial; returns the reference to it.
    fn hand_out_before(&mut self, target: UnitRef, cut: usize) -> UnitRef {
        let serial = self.next_serial + 1;
        let Some(unit) = self.get_mut(target) else {
            return target;
        };
        let rest = unit.stmts.split_off(cut);
        let mut done = OpenUnit {
            header: unit.header.clone(),
            stmts: std::mem::replace(&mut unit.stmts, rest),
            last_time: None,
            trace: None,
            chain: unit.chain,
            whole_trace: unit.whole_trace,
            split: unit.split,
            session_key: unit.session_key,
            client: unit.client,
            delimited: false,
            untagged_queries: 0,
            examples: unit.examples.clone(),
            keys: unit.keys.clone(),
        };
        done.header.statements = done.stmts.len() as u32;
        done.header.end = done.stmts.last().and_then(|s| s.time).or(done.header.end);
        unit.header.statements = unit.stmts.len() as u32;
        unit.header.start = unit
            .stmts
            .first()
            .and_then(|s| s.time)
            .or(unit.header.start);
        unit.header.location = unit
            .stmts
            .first()
            .map_or(unit.header.location, |s| s.location);
        unit.header.serial = serial;
        self.next_serial = serial;
        if let Some(entry) = self.slots.get_mut(target.slot as usize) {
            entry.0 = serial;
        }
        self.hand_out(done);
        UnitRef {
            slot: target.slot,
            serial,
        }
    }

    /// An untagged burst segment waits for fan-out siblings; anything else is ready. Pieces
    /// run within twice the longest pause learned inside a request of each other (the
    /// lower side of the split), or overlap in time when nothing is
    /// learned (the pauses of a loaded application may show no two kinds), or were
    /// separated only by a stall of the whole application (see `fanout.rs`). Clocks of whole
    /// seconds cannot show any of this.
    fn segment_out(&mut self, segment: Unit, burst: bool, client: u64, split: Split) {
        let timed = segment.stmts.iter().any(|s| s.time.is_some());
        if !(burst && split.fine_clock && timed) {
            self.ready.push(segment);
            return;
        }
        let within = if split.us < self.hold_us {
            split.within_us
        } else {
            0
        };
        if let Some(waiting) = Waiting::new(segment, client, within.max(1)) {
            self.fanout.offer(waiting, &self.activity, self.hold_us);
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
            unit.whole_trace = event.whole_trace;
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
            Role::Query => match current {
                Some(c) if !state.in_transaction && self.ends_chain(c, event.time) => {
                    self.close(c);
                    Some(self.open(anonymous_kind(state), event))
                }
                Some(c) => Some(c),
                None => Some(self.open(anonymous_kind(state), event)),
            },
        }
    }

    /// A statement outside any transaction, after a pause longer than the learned split,
    /// ends a chain of saves: the saves of a loop come in transactions of their own, so this
    /// is the next request on the connection (a pool that sends nothing between requests,
    /// as Go's `database/sql` does). Saves are never cut by pauses (see
    /// [`Units::end_transaction`]); a read between two of them, without a pause, stays.
    fn ends_chain(&self, current: UnitRef, time: Option<Timestamp>) -> bool {
        self.get(current).is_some_and(|u| {
            u.chain && u.split.fine_clock && is_idle(u.last_time, time, u.split.us)
        })
    }

    /// `COMMIT`/`ROLLBACK` with no `BEGIN` before it on the session: the end of a transaction
    /// the server opened implicitly (MySQL and MariaDB with autocommit off, the default of
    /// Python's DB-API drivers and of pools that turn it off), which held `held` statements.
    /// A `COMMIT` ends an untagged burst like a transaction unit ends, and a single statement
    /// chains as single-statement transactions do (an ORM committing each save, see
    /// [`Units::end_transaction`]). A `ROLLBACK` saved nothing: with no `BEGIN`, it is what a
    /// pool sends when a connection is given back (SQLAlchemy's reset on return), and ends
    /// the burst whatever it held, as a check-in reset does. Returns whether the unit closed.
    fn end_implicit(&mut self, target: UnitRef, held: u32, rollback: bool) -> bool {
        let Some(unit) = self.get_mut(target) else {
            return false;
        };
        if unit.header.kind != RequestKind::Burst {
            return false;
        }
        if held == 1 && !rollback {
            unit.chain = true;
        }
        if held >= 2 || rollback {
            self.close(target);
            return true;
        }
        false
    }

    /// `COMMIT`/`ROLLBACK` in `target`, whose transaction ran `in_transaction` statements.
    /// A transaction unit closes, unless it held a single statement and committed it: an ORM
    /// wrapping each save in its own transaction is one loop, so such units chain into a
    /// burst that the next single-statement transactions join. A real transaction ends a
    /// chain, and so does a `ROLLBACK`, which saved nothing: one statement rolled back is
    /// what a pool's reset on return leaves of a request that read once (SQLAlchemy on
    /// psycopg: `BEGIN`, the read, `ROLLBACK` when the `Session` closes), not a loop's save.
    /// Returns whether the unit closed.
    fn end_transaction(&mut self, target: UnitRef, in_transaction: u32, rollback: bool) -> bool {
        let Some(unit) = self.get_mut(target) else {
            return false;
        };
        let close = match (unit.header.kind, unit.chain) {
            (RequestKind::Transaction, _) if in_transaction == 1 && !rollback => {
                unit.header.kind = RequestKind::Burst;
                unit.chain = true;
                false
            }
            // Untagged work the pool delimited, like a burst ended by a check-in reset: it
            // may be one piece of a fan-out over the pool (`fanout.rs`).
            (RequestKind::Transaction, _) if in_transaction == 1 => {
                unit.header.kind = RequestKind::Burst;
                true
            }
            (RequestKind::Transaction, _) => true,
            // A chain's saves end before this one, which read once and rolled back: that
            // read is the pool's next piece of work, not the loop's next save.
            (RequestKind::Burst, true)
                if rollback
                    && in_transaction == 1
                    && unit.stmts.len() > 1
                    && unit.header.statements as usize == unit.stmts.len() =>
            {
                let cut = unit.stmts.len() - 1;
                let piece = self.hand_out_before(target, cut);
                if let Some(piece) = self.get_mut(piece) {
                    piece.chain = false;
                }
                self.close(piece);
                return true;
            }
            (RequestKind::Burst, true) => in_transaction >= 2 || rollback,
            _ => false,
        };
        if close {
            self.close(target);
        }
        close
    }

    /// Adds the event to `target`; hands out a full batch when the unit reaches its cap.
    fn add(&mut self, target: UnitRef, event: &Incoming<'_>, limits: GroupingLimits, split: Split) {
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
        unit.split = split;
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
                kept.push((stmt.values, example.to_owned()));
            }
        }
        if let Some(keys) = &event.keys {
            let kept = unit.keys.entry(stmt.fp).or_default();
            if kept.len() < limits.keys_per_shape {
                kept.push((stmt.values, keys.clone()));
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

/// The learned pauses of a session (see [`GapLearning::learn`]).
#[derive(Debug, Clone, Copy)]
struct Split {
    /// A pause longer than this may end an untagged request.
    us: i64,
    /// A pause longer than this ends a loop while the client's other sessions were busy.
    loop_cut_us: i64,
    /// The clock is finer than a second: pauses between statements can be seen.
    fine_clock: bool,
    /// The longest pause inside a request, as learned (`GapModel::within_us`): how close
    /// in time a concurrent fan-out's pieces run.
    within_us: i64,
}

impl Units {
    /// Where a burst splits into requests: before each statement that follows a pause
    /// longer than the learned split, unless that statement is part of a loop — the same
    /// shape (and list length) as the one before it (an iteration that paused), or as the
    /// one after it (a loop's first child, which must stay with the parent that drove it) —
    /// and the pause does not look like the end of a request:
    /// - while the client's other sessions were silent, the whole application stalled (a
    ///   loaded machine, a garbage collection, an event loop blocked): a loop in progress
    ///   goes on whatever the pause, up to the idle gap that bounds every unit;
    /// - while they ran only that same shape, one fan-out's siblings were running (this
    ///   session waited its turn): the same;
    /// - while they ran other work, the application was running other requests, and this
    ///   session may have been given back to a pool and taken by another request: the loop
    ///   goes on only up to twice the split (or a short between-request pause). (Cutting
    ///   at the split itself then measured no better on the corpus: loops of concurrent
    ///   requests on dedicated connections pause while the other requests run.)
    ///
    /// Whatever the pause (as long as the clock shows one), a statement of the shape the
    /// burst opened with, outside a loop, starts the next request: requests of one handler
    /// begin alike (a session lookup, the page's main query), and a pooled connection given
    /// back is often taken at once by the next one.
    ///
    /// Two requests that each are nothing but a loop of one shape, back to back on one
    /// session with nothing else running between them, join: no pause can tell them apart.
    ///
    /// A loop's child whose values came from a result that the request open on its own
    /// session returned (the source's value links: the proxy draws one only when that
    /// result alone holds the values) iterates that request's rows: it continues the
    /// request whatever the pause before it (see [`iterates_own_rows`]).
    ///
    /// With `closed`, the burst is over, and a pause before its last statement is decided
    /// without a statement after it; otherwise only the pauses whose next statement is
    /// known.
    fn pauses_over(&self, unit: &OpenUnit, closed: bool) -> Vec<usize> {
        let mut cuts = Vec::new();
        let mut start = 0;
        for at in 1..unit.stmts.len() {
            if self.cuts_before(unit, start, at, closed) {
                cuts.push(at);
                start = at;
            }
        }
        cuts
    }

    /// Whether the burst splits before its statement `at`, in the request that began at its
    /// statement `start` (see [`Units::pauses_over`]).
    fn cuts_before(&self, unit: &OpenUnit, start: usize, at: usize, closed: bool) -> bool {
        let stmts = &unit.stmts;
        let (Some(before), Some(here)) = (stmts.get(at.wrapping_sub(1)), stmts.get(at)) else {
            return false;
        };
        let (Some(from), Some(to)) = (before.time, here.time) else {
            return false;
        };
        let pause = to.saturating_sub(from);
        if iterates_other_rows(stmts, at) || follows_exhausted_loop(stmts, start, at) {
            return true;
        }
        let next = stmts.get(at + 1);
        if next.is_none() && !closed {
            return false;
        }
        let same = |other: &Stmt| other.fp == here.fp && other.list == here.list;
        // A page opening a paging loop has no parent that it must stay with, so it is a
        // loop's first child only when it is not a page.
        let in_loop = same(before) || (!here.paging && next.is_some_and(same));
        // The shape the request opened with, again, outside a loop and after a pause the
        // clock can see: the next request of the same kind (one handler after another on a
        // pooled connection taken back at once), whatever the learned split says.
        let reopens = stmts.first().is_some_and(|first| first.fp == here.fp);
        if !in_loop && reopens && pause > 0 && unit.split.fine_clock {
            return true;
        }
        if pause <= unit.split.us {
            return false;
        }
        if !in_loop {
            return true;
        }
        if iterates_own_rows(stmts, start, at) {
            return false;
        }
        match self
            .activity
            .elsewhere(unit.client, unit.session_key, here.fp, from, to)
        {
            Elsewhere::Nothing | Elsewhere::SameShape => false,
            Elsewhere::OtherWork => {
                pause > unit.split.loop_cut_us
                    || (pause > unit.split.us.saturating_mul(2)
                        && outpaces_loop(stmts, start, at, pause))
            }
        }
    }
}

/// Statements looked back over for a loop's pace: a bound on the work of one cut, not on
/// what a loop may be.
const PACE_LOOKBACK: usize = 64;

/// The pause before statement `at` is more than twice the longest pause between the
/// loop's earlier iterations (consecutive statements of its shape since `start`, among the
/// last [`PACE_LOOKBACK`]): not the loop's own pace. `false` when the loop has no earlier
/// iteration to measure.
fn outpaces_loop(stmts: &[Stmt], start: usize, at: usize, pause: i64) -> bool {
    let Some(fp) = stmts.get(at).map(|s| s.fp) else {
        return false;
    };
    let from = start.max(at.saturating_sub(PACE_LOOKBACK));
    let earlier = stmts.get(from..at).unwrap_or_default();
    earlier
        .windows(2)
        .filter_map(|pair| match pair {
            [a, b] if a.fp == fp && b.fp == fp => Some(b.time?.saturating_sub(a.time?)),
            _ => None,
        })
        .max()
        .is_some_and(|longest| pause > longest.saturating_mul(2))
}

/// Statements looked back over for the result a child's values came from.
const LINK_LOOKBACK: usize = 256;

/// The statement `at` continues the loop before it by shape, but its values come from
/// other rows than that loop's (the source's value links, `QueryEvent::links`), rows that
/// nothing recent in this burst returned: another request took the pooled connection and
/// runs the same loop over its own parent's rows (a fan-out's piece, or the next request).
/// Timing cannot see this; values can.
fn iterates_other_rows(stmts: &[Stmt], at: usize) -> bool {
    let (Some(before), Some(here)) = (stmts.get(at.wrapping_sub(1)), stmts.get(at)) else {
        return false;
    };
    if here.parent_result == 0
        || before.fp != here.fp
        || before.parent_result == 0
        || before.parent_result == here.parent_result
    {
        return false;
    }
    !recent_before(stmts, 0, at)
        .iter()
        .any(|s| s.result == here.parent_result)
}

/// The statement `at` has the shape of the loop before it, but that loop has run as many
/// children linked to its parent as the parent returned rows (the source's value links),
/// and `at` is not linked to that parent: the loop has iterated every row, so `at` is not
/// one more iteration but another request's statement on the pooled connection (a
/// fan-out's piece, whose values several recent results held, so that the source linked
/// it to none). Only linked children count: a loop that ran fewer of them than its parent
/// has rows (some left unlinked, or repeats an identity map skipped) is left to timing.
fn follows_exhausted_loop(stmts: &[Stmt], start: usize, at: usize) -> bool {
    let (Some(before), Some(here)) = (stmts.get(at.wrapping_sub(1)), stmts.get(at)) else {
        return false;
    };
    let parent = before.parent_result;
    if before.fp != here.fp || parent == 0 || here.parent_result == parent {
        return false;
    }
    let request = recent_before(stmts, start, at);
    let Some(rows) = request
        .iter()
        .find(|s| s.result == parent)
        .and_then(|s| s.rows)
    else {
        return false;
    };
    let children = request
        .iter()
        .filter(|s| s.fp == here.fp && s.parent_result == parent)
        .count();
    rows > 0 && children as u64 >= rows
}

/// The statement `at` names by value (the source's value links, `QueryEvent::links`) a
/// result that the request it would continue returned: the statements from `start`, where
/// that request began on this session, up to it. The source links a child only to the one
/// recent result that holds its values, so the child iterates this request's rows, and a
/// pause before it, whatever ran elsewhere meanwhile, is the application's, not the end of
/// the request: through the proxy, the first request on a fresh pooled connection whose
/// handler stalls between its read and its loop while the other request stream runs.
fn iterates_own_rows(stmts: &[Stmt], start: usize, at: usize) -> bool {
    let Some(here) = stmts.get(at).filter(|s| s.parent_result != 0) else {
        return false;
    };
    recent_before(stmts, start, at)
        .iter()
        .any(|s| s.result == here.parent_result)
}

/// The statements from `start` up to `at`, at most the last [`LINK_LOOKBACK`] of them: where
/// a link's result is looked for.
fn recent_before(stmts: &[Stmt], start: usize, at: usize) -> &[Stmt] {
    stmts
        .get(start.max(at.saturating_sub(LINK_LOOKBACK))..at)
        .unwrap_or_default()
}

fn session_key(session: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = FastHasher::default();
    session.hash(&mut hasher);
    hasher.finish()
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

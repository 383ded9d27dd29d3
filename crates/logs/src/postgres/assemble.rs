//! Turns PostgreSQL log records (from any of the three formats) into query events.
//!
//! One executed statement is spread over several records of its backend: `statement:` or
//! `execute <name>:`, then maybe `DETAIL:  parameters: …`, a bare `duration: …` (when
//! `log_statement` and `log_min_duration_statement` are both on), or `ERROR` + `STATEMENT`.
//! So each session keeps its statement *pending* until a later record of the same session
//! shows it is complete. Pending statements wait in one queue in input order, and an event
//! is emitted only when it and everything before it is complete, so events come out in the
//! order the log started them. A session that goes quiet would hold the queue forever, so
//! past [`MAX_PENDING`] the oldest is emitted as it is.
//!
//! Slots and their strings are reused, so steady-state assembly does not allocate.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use querycomb_core::{EventSink, Location, QueryEvent, Timestamp};

/// Most statements waiting for completion before the oldest is emitted regardless.
const MAX_PENDING: usize = 4096;
/// Sessions remembered (for application names) before idle ones are forgotten.
const MAX_SESSIONS: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Severity {
    Log,
    Detail,
    Statement,
    Error,
    Other,
}

impl Severity {
    pub(crate) fn from_name(name: &[u8]) -> Severity {
        match name {
            b"LOG" => Severity::Log,
            b"DETAIL" => Severity::Detail,
            b"STATEMENT" => Severity::Statement,
            // FATAL/PANIC end the session, but their STATEMENT still names what failed.
            b"ERROR" | b"FATAL" | b"PANIC" => Severity::Error,
            _ => Severity::Other,
        }
    }
}

/// One log record, as every format can describe it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record<'a> {
    pub location: Location,
    pub time: Option<Timestamp>,
    /// Backend pid or session id: what pairs a statement with its later records.
    pub session: &'a str,
    pub user: Option<&'a str>,
    pub database: Option<&'a str>,
    pub application: Option<&'a str>,
    pub severity: Severity,
    pub message: &'a str,
    /// csvlog/jsonlog only: the record's own detail column (stderr logs a `DETAIL` record).
    pub detail: Option<&'a str>,
    /// csvlog/jsonlog only: the statement an error belongs to (stderr logs `STATEMENT`).
    pub statement: Option<&'a str>,
}

/// What a `LOG` message says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LogLine<'a> {
    /// `statement: …`, `execute <name>: …`, optionally after `duration: X ms  `.
    Executed {
        sql: &'a str,
        name: Option<&'a str>,
        duration_us: Option<u64>,
    },
    /// `duration: X ms` alone: the end of the statement logged before.
    Duration(u64),
    /// `duration: … parse/bind …`, `execute fetch from …`: steps of a statement, not one.
    ProtocolStep,
    Connection {
        user: Option<&'a str>,
        database: Option<&'a str>,
        application: Option<&'a str>,
    },
    Disconnection,
    Other,
}

/// An optional string kept in a reused buffer.
#[derive(Debug, Default)]
pub(crate) struct Text {
    value: String,
    set: bool,
}

impl Text {
    pub(crate) fn set(&mut self, value: Option<&str>) {
        self.value.clear();
        self.set = value.is_some();
        if let Some(v) = value {
            self.value.push_str(v);
        }
    }
    pub(crate) fn get(&self) -> Option<&str> {
        self.set.then_some(self.value.as_str())
    }
}

#[derive(Debug, Default)]
struct Slot {
    done: bool,
    location: Location,
    time: Option<Timestamp>,
    duration_us: Option<u64>,
    /// Logged when it started, so a bare `duration:` record may still come.
    awaits_duration: bool,
    session: String,
    user: Text,
    database: Text,
    application: Text,
    sql: String,
    params: Text,
    prepared_name: Text,
    error: Text,
}

#[derive(Debug, Default)]
struct Session {
    key: String,
    /// From the `connection authorized` line, for formats whose records lack them.
    user: Text,
    database: Text,
    application: Text,
    pending: Option<usize>,
    /// The last record was the pending statement: a `DETAIL: parameters` belongs to it.
    params_target: bool,
    /// An `ERROR` waiting for its `STATEMENT` record.
    error: Text,
}

pub(crate) struct Assembler {
    /// Session key → index into `sessions`.
    index: HashMap<String, usize, BuildHasherDefault<KeyHasher>>,
    sessions: Vec<Session>,
    free_sessions: Vec<usize>,
    /// The session of the previous record: consecutive records often share one.
    last_session: Option<usize>,
    slots: Vec<Slot>,
    free_slots: Vec<usize>,
    queue: VecDeque<usize>,
    events: u64,
}

impl Assembler {
    pub(crate) fn new() -> Self {
        Assembler {
            index: HashMap::default(),
            sessions: Vec::new(),
            free_sessions: Vec::new(),
            last_session: None,
            slots: Vec::new(),
            free_slots: Vec::new(),
            queue: VecDeque::new(),
            events: 0,
        }
    }

    /// Events emitted so far.
    pub(crate) fn events(&self) -> u64 {
        self.events
    }

    pub(crate) fn record(&mut self, rec: &Record<'_>, sink: &mut dyn EventSink) {
        let s = self.session_index(rec.session);
        match rec.severity {
            Severity::Log => self.on_log(s, rec, sink),
            Severity::Detail => self.on_detail(s, rec.message),
            Severity::Error => self.on_error(s, rec, sink),
            Severity::Statement => self.on_error_statement(s, rec, rec.message, sink),
            Severity::Other => {}
        }
    }

    /// End of input: everything pending is complete.
    pub(crate) fn finish(&mut self, sink: &mut dyn EventSink) {
        for &index in &self.queue {
            if let Some(slot) = self.slots.get_mut(index) {
                slot.done = true;
            }
        }
        for session in &mut self.sessions {
            session.pending = None;
        }
        self.drain(sink);
    }

    // Session and slot numbers are handed out by this type only (`new_session`, `new_slot`)
    // and always index their vectors; the `get`s below never miss, they only keep a
    // bookkeeping mistake from panicking on someone's log.

    fn session_index(&mut self, key: &str) -> usize {
        if let Some(s) = self.last_session {
            if self
                .sessions
                .get(s)
                .is_some_and(|session| session.key == key)
            {
                return s;
            }
        }
        let s = match self.index.get(key) {
            Some(&s) => s,
            None => self.new_session(key),
        };
        self.last_session = Some(s);
        s
    }

    fn new_session(&mut self, key: &str) -> usize {
        if self.index.len() >= MAX_SESSIONS {
            self.forget_idle_sessions();
        }
        let s = match self.free_sessions.pop() {
            Some(s) => s,
            None => {
                self.sessions.push(Session::default());
                self.sessions.len() - 1
            }
        };
        if let Some(session) = self.sessions.get_mut(s) {
            session.key.clear();
            session.key.push_str(key);
        }
        self.index.insert(key.to_owned(), s);
        s
    }

    fn forget_idle_sessions(&mut self) {
        let sessions = &mut self.sessions;
        let free = &mut self.free_sessions;
        self.index.retain(|_, &mut s| {
            let Some(session) = sessions.get_mut(s) else {
                return false;
            };
            let keep = session.pending.is_some();
            if !keep {
                session.reset();
                free.push(s);
            }
            keep
        });
        self.last_session = None;
    }

    fn end_session(&mut self, s: usize) {
        self.complete_pending(s);
        if let Some(session) = self.sessions.get_mut(s) {
            self.index.remove(session.key.as_str());
            session.reset();
            self.free_sessions.push(s);
        }
        self.last_session = None;
    }

    fn on_log(&mut self, s: usize, rec: &Record<'_>, sink: &mut dyn EventSink) {
        let line = classify(rec.message);
        let Some(session) = self.sessions.get_mut(s) else {
            return;
        };
        session.params_target = false;
        session.error.set(None);
        match line {
            LogLine::Executed {
                sql,
                name,
                duration_us,
            } => {
                self.complete_pending(s);
                self.start_statement(s, rec, sql, name, duration_us);
                if let Some(detail) = rec.detail {
                    self.on_detail(s, detail);
                }
            }
            LogLine::Duration(us) => self.attach_duration(s, us),
            LogLine::ProtocolStep => self.complete_pending(s),
            LogLine::Connection {
                user,
                database,
                application,
            } => {
                session.user.set(user);
                session.database.set(database);
                session.application.set(application);
            }
            LogLine::Disconnection => self.end_session(s),
            LogLine::Other => {}
        }
        self.drain(sink);
    }

    fn start_statement(
        &mut self,
        s: usize,
        rec: &Record<'_>,
        sql: &str,
        name: Option<&str>,
        duration_us: Option<u64>,
    ) {
        let index = self.new_slot();
        let (Some(session), Some(slot)) = (self.sessions.get_mut(s), self.slots.get_mut(index))
        else {
            return;
        };
        fill_slot(slot, rec, session);
        slot.sql.push_str(sql);
        slot.prepared_name.set(name);
        slot.duration_us = duration_us;
        slot.awaits_duration = duration_us.is_none();
        // A `duration:` record is written when the statement ends: its start is earlier.
        slot.time = match (rec.time, duration_us) {
            (Some(t), Some(d)) => Some(t.saturating_sub(i64::try_from(d).unwrap_or(i64::MAX))),
            (t, _) => t,
        };
        session.pending = Some(index);
        session.params_target = true;
        self.queue.push_back(index);
    }

    fn on_detail(&mut self, s: usize, detail: &str) {
        let Some(session) = self.sessions.get_mut(s) else {
            return;
        };
        let target = session.pending.filter(|_| session.params_target);
        session.params_target = false;
        if let (Some(slot), Some(params)) = (
            target.and_then(|index| self.slots.get_mut(index)),
            detail.strip_prefix("parameters: "),
        ) {
            slot.params.set(Some(params));
        }
    }

    fn on_error(&mut self, s: usize, rec: &Record<'_>, sink: &mut dyn EventSink) {
        let Some(session) = self.sessions.get_mut(s) else {
            return;
        };
        session.params_target = false;
        session.error.set(Some(without_position(rec.message)));
        // csvlog and jsonlog put the failing statement in the error record itself.
        if let Some(statement) = rec.statement {
            self.on_error_statement(s, rec, statement, sink);
        }
    }

    /// The statement an `ERROR` belongs to: marks the pending statement when it is the
    /// same text, else it is an event of its own (it failed before it could be logged).
    fn on_error_statement(
        &mut self,
        s: usize,
        rec: &Record<'_>,
        statement: &str,
        sink: &mut dyn EventSink,
    ) {
        let Some(session) = self.sessions.get(s) else {
            return;
        };
        if !session.error.set {
            return;
        }
        let slots = &self.slots;
        let pending = session.pending.filter(|&i| {
            slots
                .get(i)
                .is_some_and(|slot| slot.sql == statement && !slot.error.set)
        });
        let index = match pending {
            Some(index) => index,
            None => {
                self.complete_pending(s);
                self.start_statement(s, rec, statement, None, None);
                let Some(index) = self.sessions.get(s).and_then(|session| session.pending) else {
                    return;
                };
                if let Some(slot) = self.slots.get_mut(index) {
                    slot.awaits_duration = false;
                }
                index
            }
        };
        if let (Some(session), Some(slot)) = (self.sessions.get_mut(s), self.slots.get_mut(index)) {
            slot.error.set(session.error.get());
            session.error.set(None);
        }
        self.complete_pending(s);
        self.drain(sink);
    }

    fn attach_duration(&mut self, s: usize, us: u64) {
        let pending = self.sessions.get(s).and_then(|session| session.pending);
        if let Some(slot) = pending.and_then(|index| self.slots.get_mut(index)) {
            if slot.awaits_duration && slot.duration_us.is_none() {
                slot.duration_us = Some(us);
            }
        }
        self.complete_pending(s);
    }

    fn complete_pending(&mut self, s: usize) {
        let Some(session) = self.sessions.get_mut(s) else {
            return;
        };
        if let Some(slot) = session.pending.take().and_then(|i| self.slots.get_mut(i)) {
            slot.done = true;
        }
        session.params_target = false;
    }

    fn new_slot(&mut self) -> usize {
        match self.free_slots.pop() {
            Some(index) => index,
            None => {
                self.slots.push(Slot::default());
                self.slots.len() - 1
            }
        }
    }

    /// Emits complete statements from the front of the queue, forcing the oldest out when
    /// too many wait.
    fn drain(&mut self, sink: &mut dyn EventSink) {
        while let Some(&index) = self.queue.front() {
            let Some(slot) = self.slots.get(index) else {
                self.queue.pop_front();
                continue;
            };
            if !slot.done {
                if self.queue.len() <= MAX_PENDING {
                    break;
                }
                let session = self.index.get(slot.session.as_str());
                if let Some(session) = session.and_then(|&s| self.sessions.get_mut(s)) {
                    if session.pending == Some(index) {
                        session.pending = None;
                    }
                }
            }
            self.queue.pop_front();
            sink.event(&slot.as_event());
            self.events += 1;
            self.free_slots.push(index);
        }
    }
}

/// FxHash-style hasher for session keys (short ASCII ids from the log itself).
#[derive(Default, Clone, Copy)]
struct KeyHasher(u64);

impl KeyHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            for (to, from) in word.iter_mut().zip(chunk) {
                *to = *from;
            }
            self.add(u64::from_le_bytes(word));
        }
    }
    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// stderr appends ` at character 15` to errors that csvlog/jsonlog keep in a column of
/// their own; dropped so all formats report the same message.
fn without_position(message: &str) -> &str {
    match message.rfind(" at character ") {
        Some(at) if message[at + 14..].bytes().all(|b| b.is_ascii_digit()) => &message[..at],
        _ => message,
    }
}

impl Session {
    fn reset(&mut self) {
        self.key.clear();
        self.user.set(None);
        self.database.set(None);
        self.application.set(None);
        self.pending = None;
        self.params_target = false;
        self.error.set(None);
    }
}

fn fill_slot(slot: &mut Slot, rec: &Record<'_>, session: &Session) {
    slot.done = false;
    slot.location = rec.location;
    slot.session.clear();
    slot.session.push_str(rec.session);
    slot.sql.clear();
    slot.params.set(None);
    slot.error.set(None);
    slot.user.set(rec.user.or(session.user.get()));
    slot.database.set(rec.database.or(session.database.get()));
    slot.application
        .set(rec.application.or(session.application.get()));
}

impl Slot {
    fn as_event(&self) -> QueryEvent<'_> {
        QueryEvent {
            location: self.location,
            time: self.time,
            duration_us: self.duration_us,
            session: &self.session,
            user: self.user.get(),
            database: self.database.get(),
            application: self.application.get(),
            sql: &self.sql,
            params: self.params.get(),
            prepared_name: self.prepared_name.get(),
            rows: None,
            error: self.error.get(),
            in_transaction: None,
        }
    }
}

fn classify(message: &str) -> LogLine<'_> {
    if let Some(rest) = message.strip_prefix("duration: ") {
        return classify_duration(rest);
    }
    if let Some(line) = classify_statement(message, None) {
        return line;
    }
    if let Some(rest) = message.strip_prefix("connection authorized: ") {
        return connection(rest);
    }
    if message.starts_with("disconnection: ") {
        return LogLine::Disconnection;
    }
    LogLine::Other
}

/// `statement: …` / `execute <name>: …`; `None` when the message is neither.
fn classify_statement(message: &str, duration_us: Option<u64>) -> Option<LogLine<'_>> {
    if let Some(sql) = message.strip_prefix("statement: ") {
        return Some(LogLine::Executed {
            sql,
            name: None,
            duration_us,
        });
    }
    let rest = message.strip_prefix("execute ")?;
    if rest.starts_with("fetch from ") {
        // A further batch from an already executed portal, not a new execution.
        return Some(LogLine::ProtocolStep);
    }
    let colon = memchr::memchr_iter(b':', rest.as_bytes())
        .find(|&i| rest.as_bytes().get(i + 1) == Some(&b' '))?;
    let (label, sql) = (&rest[..colon], &rest[colon + 2..]);
    // `name/portal` when the portal is named; `<unnamed>` is the unnamed statement.
    let name = label
        .split('/')
        .next()
        .filter(|n| *n != "<unnamed>" && !n.is_empty());
    Some(LogLine::Executed {
        sql,
        name,
        duration_us,
    })
}

fn classify_duration(rest: &str) -> LogLine<'_> {
    // `12.345 ms`: the number runs to the first space (`str::find` is slow for this).
    let ms_end = rest
        .bytes()
        .position(|b| !(b.is_ascii_digit() || b == b'.'))
        .unwrap_or(rest.len());
    if !rest[ms_end..].starts_with(" ms") {
        return LogLine::Other;
    }
    let Some(us) = parse_millis(&rest[..ms_end]) else {
        return LogLine::Other;
    };
    let after = &rest[ms_end + 3..];
    if after.trim().is_empty() {
        return LogLine::Duration(us);
    }
    let text = after.trim_start_matches(' ');
    if let Some(line) = classify_statement(text, Some(us)) {
        return line;
    }
    // `parse`/`bind` are steps of the statement whose `execute` follows; anything else
    // (auto_explain's `plan:`, `fastpath function call:`) is not about the pending one.
    if text.starts_with("parse ") || text.starts_with("bind ") {
        LogLine::ProtocolStep
    } else {
        LogLine::Other
    }
}

/// `12.345` milliseconds → microseconds.
fn parse_millis(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    let (int, frac) = match bytes.iter().position(|&b| b == b'.') {
        Some(dot) => (bytes.get(..dot)?, bytes.get(dot + 1..)?),
        None => (bytes, &[][..]),
    };
    if int.is_empty() || !int.iter().all(u8::is_ascii_digit) || int.len() > 15 {
        return None;
    }
    // At most 15 digits: no overflow.
    let int = int.iter().fold(0u64, |n, &b| n * 10 + u64::from(b - b'0'));
    let mut us = int.checked_mul(1000)?;
    let mut scale = 100;
    for &b in frac.iter().take(3) {
        if !b.is_ascii_digit() {
            return None;
        }
        us += u64::from(b - b'0') * scale;
        scale /= 10;
    }
    Some(us)
}

/// `user=app database=shop application_name=psql[ SSL enabled (…)]`.
fn connection(rest: &str) -> LogLine<'_> {
    let value = |key: &str| -> Option<&str> {
        let start = rest.find(key)? + key.len();
        let tail = &rest[start..];
        let end = if key == "application_name=" {
            [" SSL enabled", " GSS ", " identity="]
                .iter()
                .filter_map(|m| tail.find(m))
                .min()
                .unwrap_or(tail.len())
        } else {
            tail.find(' ').unwrap_or(tail.len())
        };
        Some(&tail[..end]).filter(|v| !v.is_empty())
    };
    LogLine::Connection {
        user: value("user="),
        database: value("database="),
        application: value("application_name="),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_log_messages() {
        assert_eq!(
            classify("statement: SELECT 1"),
            LogLine::Executed {
                sql: "SELECT 1",
                name: None,
                duration_us: None
            }
        );
        assert_eq!(
            classify("execute P_0: SELECT $1"),
            LogLine::Executed {
                sql: "SELECT $1",
                name: Some("P_0"),
                duration_us: None
            }
        );
        assert_eq!(
            classify("execute <unnamed>: SELECT $1"),
            LogLine::Executed {
                sql: "SELECT $1",
                name: None,
                duration_us: None
            }
        );
        assert_eq!(
            classify("duration: 0.382 ms  execute S_1/C_2: SELECT 2"),
            LogLine::Executed {
                sql: "SELECT 2",
                name: Some("S_1"),
                duration_us: Some(382)
            }
        );
        assert_eq!(classify("duration: 140.605 ms"), LogLine::Duration(140_605));
        assert_eq!(
            classify("duration: 0.261 ms  bind <unnamed>: SELECT 1"),
            LogLine::ProtocolStep
        );
        assert_eq!(
            classify("execute fetch from S_1/C_2: SELECT 1"),
            LogLine::ProtocolStep
        );
        assert_eq!(classify("checkpoint starting: time"), LogLine::Other);
        assert_eq!(
            classify("duration: 12.000 ms  plan:\nQuery Text: SELECT 1"),
            LogLine::Other
        );
        assert_eq!(classify("duration: x ms"), LogLine::Other);
    }

    #[test]
    fn parses_connection_lines() {
        assert_eq!(
            classify("connection authorized: user=app database=shop application_name=shop web SSL enabled (protocol=TLSv1.3)"),
            LogLine::Connection {
                user: Some("app"),
                database: Some("shop"),
                application: Some("shop web")
            }
        );
        assert_eq!(
            classify("connection authorized: user=app database=shop"),
            LogLine::Connection {
                user: Some("app"),
                database: Some("shop"),
                application: None
            }
        );
    }

    #[derive(Default)]
    struct Collect(Vec<querycomb_core::OwnedEvent>);

    impl EventSink for Collect {
        fn event(&mut self, event: &QueryEvent<'_>) {
            self.0.push(event.into());
        }
        fn malformed(&mut self, _error: querycomb_core::InputError) {}
    }

    fn statement<'a>(session: &'a str, message: &'a str, line: u64) -> Record<'a> {
        Record {
            location: Location {
                line,
                ..Location::default()
            },
            time: Some(0),
            session,
            user: None,
            database: None,
            application: None,
            severity: Severity::Log,
            message,
            detail: None,
            statement: None,
        }
    }

    #[test]
    fn quiet_sessions_cannot_hold_the_queue_forever() {
        let mut assembler = Assembler::new();
        let mut sink = Collect::default();
        let keys: Vec<String> = (0..MAX_PENDING + 10).map(|i| i.to_string()).collect();
        for (i, key) in keys.iter().enumerate() {
            assembler.record(
                &statement(key, "statement: SELECT 1", i as u64 + 1),
                &mut sink,
            );
        }
        // Nothing completed them, but the oldest were pushed out, in order.
        assert_eq!(sink.0.len(), 10);
        assert!(sink
            .0
            .iter()
            .enumerate()
            .all(|(i, e)| e.location.line == i as u64 + 1));
        // A late duration for a pushed-out statement is ignored, not misattributed.
        assembler.record(&statement("0", "duration: 5.000 ms", 99_999), &mut sink);
        assembler.finish(&mut sink);
        assert_eq!(sink.0.len(), MAX_PENDING + 10);
        assert!(sink.0.iter().all(|e| e.duration_us.is_none()));
        assert!(sink
            .0
            .windows(2)
            .all(|w| w[0].location.line < w[1].location.line));
    }

    #[test]
    fn sessions_are_forgotten_at_disconnection_and_reused() {
        let mut assembler = Assembler::new();
        let mut sink = Collect::default();
        let connect = "connection authorized: user=a database=b application_name=first";
        assembler.record(&statement("7", connect, 1), &mut sink);
        assembler.record(&statement("7", "statement: SELECT 1", 2), &mut sink);
        assembler.record(
            &statement("7", "disconnection: session time: 0:00:01", 3),
            &mut sink,
        );
        assembler.record(&statement("7", "statement: SELECT 2", 4), &mut sink);
        assembler.finish(&mut sink);
        let apps: Vec<_> = sink.0.iter().map(|e| e.application.as_deref()).collect();
        assert_eq!(apps, [Some("first"), None]);
    }

    #[test]
    fn millis_to_micros() {
        assert_eq!(parse_millis("0.382"), Some(382));
        assert_eq!(parse_millis("12"), Some(12_000));
        assert_eq!(parse_millis("1.23456"), Some(1_234));
        assert_eq!(parse_millis(""), None);
        assert_eq!(parse_millis("-1"), None);
        assert_eq!(parse_millis("1.2.3"), None);
        assert_eq!(parse_millis(".5"), None);
        assert_eq!(parse_millis("7."), Some(7_000));
        assert_eq!(
            parse_millis("999999999999999.999"),
            Some(999_999_999_999_999_999)
        );
        assert_eq!(parse_millis("1000000000000000"), None);
    }
}

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
            b"ERROR" => Severity::Error,
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
    sessions: HashMap<String, Session>,
    slots: Vec<Slot>,
    free: Vec<usize>,
    queue: VecDeque<usize>,
    events: u64,
}

impl Assembler {
    pub(crate) fn new() -> Self {
        Assembler {
            sessions: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            queue: VecDeque::new(),
            events: 0,
        }
    }

    /// Events emitted so far.
    pub(crate) fn events(&self) -> u64 {
        self.events
    }

    pub(crate) fn record(&mut self, rec: &Record<'_>, sink: &mut dyn EventSink) {
        self.ensure_session(rec.session);
        match rec.severity {
            Severity::Log => self.on_log(rec, sink),
            Severity::Detail => self.on_detail(rec.session, rec.message),
            Severity::Error => self.on_error(rec, sink),
            Severity::Statement => self.on_error_statement(rec, rec.message, sink),
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
        for session in self.sessions.values_mut() {
            session.pending = None;
        }
        self.drain(sink);
    }

    fn ensure_session(&mut self, key: &str) {
        if self.sessions.contains_key(key) {
            return;
        }
        if self.sessions.len() >= MAX_SESSIONS {
            self.sessions.retain(|_, s| s.pending.is_some());
        }
        self.sessions.insert(key.to_owned(), Session::default());
    }

    fn on_log(&mut self, rec: &Record<'_>, sink: &mut dyn EventSink) {
        let line = classify(rec.message);
        if let Some(session) = self.sessions.get_mut(rec.session) {
            session.params_target = false;
            session.error.set(None);
        }
        match line {
            LogLine::Executed {
                sql,
                name,
                duration_us,
            } => {
                self.complete_pending(rec.session);
                self.start_statement(rec, sql, name, duration_us);
                if let Some(detail) = rec.detail {
                    self.on_detail(rec.session, detail);
                }
            }
            LogLine::Duration(us) => self.attach_duration(rec.session, us),
            LogLine::ProtocolStep => self.complete_pending(rec.session),
            LogLine::Connection {
                user,
                database,
                application,
            } => {
                if let Some(session) = self.sessions.get_mut(rec.session) {
                    session.user.set(user);
                    session.database.set(database);
                    session.application.set(application);
                }
            }
            LogLine::Disconnection => {
                self.complete_pending(rec.session);
                self.sessions.remove(rec.session);
            }
            LogLine::Other => {}
        }
        self.drain(sink);
    }

    fn start_statement(
        &mut self,
        rec: &Record<'_>,
        sql: &str,
        name: Option<&str>,
        duration_us: Option<u64>,
    ) {
        let index = self.new_slot();
        let session = self.sessions.get_mut(rec.session);
        let slot = &mut self.slots[index];
        fill_slot(slot, rec, session.as_deref());
        slot.sql.push_str(sql);
        slot.prepared_name.set(name);
        slot.duration_us = duration_us;
        slot.awaits_duration = duration_us.is_none();
        // A `duration:` record is written when the statement ends: its start is earlier.
        slot.time = match (rec.time, duration_us) {
            (Some(t), Some(d)) => Some(t - i64::try_from(d).unwrap_or(0)),
            (t, _) => t,
        };
        if let Some(session) = session {
            session.pending = Some(index);
            session.params_target = true;
        }
        self.queue.push_back(index);
    }

    fn on_detail(&mut self, session_key: &str, detail: &str) {
        let Some(session) = self.sessions.get_mut(session_key) else {
            return;
        };
        let target = session.pending.filter(|_| session.params_target);
        session.params_target = false;
        let (Some(index), Some(params)) = (target, detail.strip_prefix("parameters: ")) else {
            return;
        };
        if let Some(slot) = self.slots.get_mut(index) {
            slot.params.set(Some(params));
        }
    }

    fn on_error(&mut self, rec: &Record<'_>, sink: &mut dyn EventSink) {
        if let Some(session) = self.sessions.get_mut(rec.session) {
            session.params_target = false;
            session.error.set(Some(without_position(rec.message)));
        }
        // csvlog and jsonlog put the failing statement in the error record itself.
        if let Some(statement) = rec.statement {
            self.on_error_statement(rec, statement, sink);
        }
    }

    /// The statement an `ERROR` belongs to: marks the pending statement when it is the
    /// same text, else it is an event of its own (it failed before it could be logged).
    fn on_error_statement(&mut self, rec: &Record<'_>, statement: &str, sink: &mut dyn EventSink) {
        let Some(session) = self.sessions.get_mut(rec.session) else {
            return;
        };
        if !session.error.set {
            return;
        }
        let pending = session.pending.filter(|&i| {
            self.slots
                .get(i)
                .is_some_and(|slot| slot.sql == statement && !slot.error.set)
        });
        let index = match pending {
            Some(index) => index,
            None => {
                self.complete_pending(rec.session);
                self.start_statement(rec, statement, None, None);
                match self.sessions.get(rec.session).and_then(|s| s.pending) {
                    Some(index) => index,
                    None => return,
                }
            }
        };
        if let Some(session) = self.sessions.get_mut(rec.session) {
            if let Some(slot) = self.slots.get_mut(index) {
                slot.error.set(session.error.get());
            }
            session.error.set(None);
        }
        self.complete_pending(rec.session);
        self.drain(sink);
    }

    fn attach_duration(&mut self, session_key: &str, us: u64) {
        let Some(index) = self.sessions.get(session_key).and_then(|s| s.pending) else {
            return;
        };
        if let Some(slot) = self.slots.get_mut(index) {
            if slot.awaits_duration && slot.duration_us.is_none() {
                slot.duration_us = Some(us);
            }
        }
        self.complete_pending(session_key);
    }

    fn complete_pending(&mut self, session_key: &str) {
        let Some(session) = self.sessions.get_mut(session_key) else {
            return;
        };
        if let Some(index) = session.pending.take() {
            if let Some(slot) = self.slots.get_mut(index) {
                slot.done = true;
            }
        }
        session.params_target = false;
    }

    fn new_slot(&mut self) -> usize {
        match self.free.pop() {
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
                let key = slot.session.clone();
                if let Some(session) = self.sessions.get_mut(&key) {
                    if session.pending == Some(index) {
                        session.pending = None;
                    }
                }
            }
            self.queue.pop_front();
            sink.event(&slot.as_event());
            self.events += 1;
            self.free.push(index);
        }
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

fn fill_slot(slot: &mut Slot, rec: &Record<'_>, session: Option<&Session>) {
    slot.done = false;
    slot.location = rec.location;
    slot.session.clear();
    slot.session.push_str(rec.session);
    slot.sql.clear();
    slot.params.set(None);
    slot.error.set(None);
    slot.user.set(known(rec.user, session.map(|s| &s.user)));
    slot.database
        .set(known(rec.database, session.map(|s| &s.database)));
    slot.application
        .set(known(rec.application, session.map(|s| &s.application)));
}

/// The record's own value, else what the session's connection line said.
fn known<'a>(own: Option<&'a str>, from_session: Option<&'a Text>) -> Option<&'a str> {
    own.or_else(|| from_session.and_then(Text::get))
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
    let colon = rest.find(": ")?;
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
    let Some(ms_end) = rest.find(" ms") else {
        return LogLine::Other;
    };
    let Some(us) = parse_millis(&rest[..ms_end]) else {
        return LogLine::Other;
    };
    let after = &rest[ms_end + 3..];
    if after.trim().is_empty() {
        return LogLine::Duration(us);
    }
    let text = after.trim_start_matches(' ');
    classify_statement(text, Some(us)).unwrap_or(LogLine::ProtocolStep)
}

/// `12.345` milliseconds → microseconds.
fn parse_millis(text: &str) -> Option<u64> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) || int.len() > 15 {
        return None;
    }
    let mut us = int.parse::<u64>().ok()?.checked_mul(1000)?;
    let mut scale = 100;
    for b in frac.bytes().take(3) {
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

    #[test]
    fn millis_to_micros() {
        assert_eq!(parse_millis("0.382"), Some(382));
        assert_eq!(parse_millis("12"), Some(12_000));
        assert_eq!(parse_millis("1.23456"), Some(1_234));
        assert_eq!(parse_millis(""), None);
        assert_eq!(parse_millis("-1"), None);
    }
}

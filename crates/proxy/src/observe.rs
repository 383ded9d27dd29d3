//! Turns the messages of one connection into query events.
//!
//! Both pumps of a connection feed one [`Observer`]: the client pump calls
//! [`Observer::client_message`] *before* forwarding (so an operation is queued before its
//! reply can arrive), the server pump calls [`Observer::server_message`]. Replies are
//! matched to requests with a FIFO of pending operations, which is what the protocol
//! guarantees: the server answers in order, even when the client pipelines.
//!
//! Choices, documented for users of the events:
//! - A multi-statement simple `Query` gives one event per statement, with that statement's
//!   text (split at top-level semicolons); each statement's duration runs from the previous statement's
//!   completion (or the send) to its own `CommandComplete`.
//! - An extended-protocol statement's duration runs from its `Execute` reaching the proxy
//!   to its `CommandComplete`/`ErrorResponse`. Parse and Bind are not timed separately.
//! - `Execute` with a row limit that ends in `PortalSuspended` is one statement: the event
//!   is emitted when the portal completes, is closed, or its transaction ends, with the
//!   rows of all fetches and the time from the first `Execute`.
//! - `in_transaction` is the transaction status from the last `ReadyForQuery` before the
//!   statement was sent (so `BEGIN` is outside, `COMMIT` inside).
//! - After an error in the extended protocol the server ignores everything up to `Sync`;
//!   the observer drops the pending operations likewise, and ignores messages the client
//!   sends before its `Sync`.

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

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use querycomb_core::{Location, OwnedEvent, QueryEvent, SourceId, Timestamp, ValueLinks};

use crate::enforce::{self, AdmitVerdict, Budgeter};
use crate::evidence::{value_key, PreviousReply, ResultCapture, ValueTrace};
use crate::frame::{cstr, cstr_bytes, Message};
use crate::splice::Edit;
use querycomb_sql::{split, Dialect};

/// A finished statement, with the digests of its values that the detection thread links
/// to other statements of the same client (`QueryEvent::links`).
///
/// What the connection thread hands to detection: the statement's text and its session
/// are shared with the connection (reference-counted), not copied per statement; the
/// detection thread reads it through [`Observed::as_event`].
#[derive(Debug, Clone)]
pub struct Observed {
    /// Who ran it (one per connection, shared by its events).
    pub session: Arc<Session>,
    /// The query string the statement came from; `sql_range` is the statement within it
    /// (one statement of a multi-statement simple query).
    sql: Arc<str>,
    sql_range: Range<usize>,
    pub location: Location,
    pub time: Timestamp,
    pub duration_us: u64,
    pub params: Option<Arc<str>>,
    pub prepared_name: Option<Arc<str>>,
    pub rows: Option<u64>,
    pub result_bytes: Option<u64>,
    pub error: Option<String>,
    pub in_transaction: bool,
    pub uses_previous_result: bool,
    pub values: ValueTrace,
    /// Set by the detection thread, which links values across the client's connections.
    pub links: ValueLinks,
}

/// The session fields of a connection's events.
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// The backend pid from `BackendKeyData` (as server logs name sessions); `c<conn id>`
    /// until the server sent it.
    pub id: String,
    pub user: Option<String>,
    pub database: Option<String>,
    pub application: Option<String>,
}

impl Observed {
    /// The statement's text.
    pub fn sql(&self) -> &str {
        self.sql.get(self.sql_range.clone()).unwrap_or(&self.sql)
    }

    /// The text the statement came from, shared with the connection's other executions of
    /// it, and where the statement lies in it.
    pub fn shared_sql(&self) -> (&Arc<str>, Range<usize>) {
        (&self.sql, self.sql_range.clone())
    }

    /// The event as the detection stage reads it, borrowed.
    pub fn as_event(&self) -> QueryEvent<'_> {
        QueryEvent {
            location: self.location,
            time: Some(self.time),
            duration_us: Some(self.duration_us),
            session: &self.session.id,
            user: self.session.user.as_deref(),
            database: self.session.database.as_deref(),
            application: self.session.application.as_deref(),
            sql: self.sql(),
            params: self.params.as_deref(),
            prepared_name: self.prepared_name.as_deref(),
            rows: self.rows,
            result_bytes: self.result_bytes,
            error: self.error.as_deref(),
            in_transaction: Some(self.in_transaction),
            uses_previous_result: self.uses_previous_result,
            links: self.links,
            ..QueryEvent::default()
        }
    }

    /// An owned copy of the event (for taps and tests).
    pub fn to_owned_event(&self) -> OwnedEvent {
        OwnedEvent::from(&self.as_event())
    }
}

/// Who is connected, from the startup packet.
#[derive(Debug, Clone, Default)]
pub struct SessionInfo {
    pub conn_id: u64,
    pub user: Option<String>,
    pub database: Option<String>,
    pub application: Option<String>,
}

impl SessionInfo {
    pub fn from_params(conn_id: u64, params: &[(String, String)]) -> Self {
        let get = |key: &str| {
            params
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        SessionInfo {
            conn_id,
            user: get("user"),
            database: get("database").or_else(|| get("user")),
            application: get("application_name").filter(|a| !a.is_empty()),
        }
    }
}

/// Per-connection protocol state.
#[derive(Debug)]
pub struct Observer {
    info: SessionInfo,
    /// Who the events belong to; replaced when `BackendKeyData` names the backend.
    session: Arc<Session>,
    /// Show parameter values as they are; otherwise as digests (see [`render_params`]).
    capture_params: bool,
    /// Prepared statements: name → text and declared parameter types.
    statements: Statements,
    portals: Portals,
    suspended: HashMap<String, Box<Execution>>,
    pending: VecDeque<Pending>,
    /// After an extended-protocol error, until the client's next `Sync`.
    skipping_to_sync: bool,
    /// The server is in copy-in mode (after `G`, until the client's CopyDone/CopyFail);
    /// it ignores `Sync` and `Flush` meanwhile.
    copy_in: bool,
    in_transaction: bool,
    events: Vec<Observed>,
    /// The previous execution's reply, for dependent chains.
    previous: PreviousReply,
    /// The value digests of the event being pushed (set just before `push_event`).
    values: ValueTrace,
    /// The event being pushed used a value of the previous result (set with `values`).
    follows_previous: bool,
    /// Replies that did not match the pending operation (should stay 0).
    pub mismatches: u64,
    /// Prepared statements and portals forgotten to stay within [`MAX_NAMED`].
    pub evicted: u64,
    /// Live budgets and the edits they make, when enforced. Boxed: most connections are
    /// not enforced, and every idle connection carries this struct.
    enforcing: Option<Box<Enforcing>>,
    /// When the open explicit transaction began (first ReadyForQuery saying so).
    transaction_start: Option<Instant>,
    /// Durations of transactions ended since the last [`Observer::take_transactions`].
    transactions: Vec<std::time::Duration>,
}

/// A connection's live budgets and the wire edits they make.
#[derive(Debug)]
struct Enforcing {
    budget: Budgeter,
    /// Client messages to replace (rejected statements), for the client pump.
    client_edits: Vec<Edit>,
    /// Server messages to replace or insert, for the server pump.
    server_edits: Vec<Edit>,
    /// Client stream offset from which bytes are not yet forwarded (replaceable).
    client_window: u64,
    /// The server pump applies edits to the chunk being observed.
    server_editing: bool,
    /// Warning notices to insert before the next ReadyForQuery.
    notices: Vec<u8>,
    /// Budget verdicts since the last [`Observer::take_verdicts`], for metrics.
    verdicts: Vec<(Option<String>, bool)>,
}

/// A prepared statement: its text and, when values are captured, the parameter types the
/// client declared (to read binary values as text, see `binary.rs`).
#[derive(Debug)]
struct Prepared {
    sql: Arc<str>,
    types: Option<Arc<[u32]>>,
}

/// A bound portal; cloned per Execute, so every field is reference-counted.
#[derive(Debug, Clone)]
struct Portal {
    sql: Option<Arc<str>>,
    /// The prepared statement's name; `None` for the unnamed statement.
    statement: Option<Arc<str>>,
    bind: Arc<BindTail>,
}

/// A connection's prepared statements or portals, by name. The unnamed one, which drivers
/// use for nearly every statement of the extended protocol, has a slot of its own: no
/// hashing, no allocation for its name, and nothing to clear when a transaction ends.
/// Named ones are bounded by [`MAX_NAMED`] (see [`make_room`]).
#[derive(Debug)]
struct ByName<K, V> {
    unnamed_name: K,
    unnamed: Option<V>,
    named: HashMap<K, V>,
}

/// Prepared statements: the name is kept with each, for the portals bound to it.
type Statements = ByName<Arc<str>, Prepared>;
type Portals = ByName<String, Portal>;

impl<K: for<'a> From<&'a str>, V> Default for ByName<K, V> {
    fn default() -> Self {
        ByName {
            unnamed_name: K::from(""),
            unnamed: None,
            named: HashMap::new(),
        }
    }
}

impl<K, V> ByName<K, V>
where
    K: std::borrow::Borrow<str> + std::hash::Hash + Eq + Clone + for<'a> From<&'a str>,
{
    fn get(&self, name: &str) -> Option<&V> {
        self.get_key_value(name).map(|(_, value)| value)
    }

    fn get_key_value(&self, name: &str) -> Option<(&K, &V)> {
        if name.is_empty() {
            self.unnamed.as_ref().map(|v| (&self.unnamed_name, v))
        } else {
            self.named.get_key_value(name)
        }
    }

    fn get_mut(&mut self, name: &str) -> Option<&mut V> {
        if name.is_empty() {
            self.unnamed.as_mut()
        } else {
            self.named.get_mut(name)
        }
    }

    /// Parses or binds `name`; returns how many named ones were forgotten to make room.
    fn insert(&mut self, name: &str, value: V) -> u64 {
        if name.is_empty() {
            self.unnamed = Some(value);
            return 0;
        }
        let evicted = make_room(&mut self.named, name);
        self.named.insert(K::from(name), value);
        evicted
    }

    fn remove(&mut self, name: &str) {
        if name.is_empty() {
            self.unnamed = None;
        } else {
            self.named.remove(name);
        }
    }

    fn clear(&mut self) {
        self.unnamed = None;
        if !self.named.is_empty() {
            self.named.clear();
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.named.len() + usize::from(self.unnamed.is_some())
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug)]
enum Pending {
    Simple(Box<SimpleQuery>),
    Parse,
    Bind,
    /// The statement described (name and text), when its parameter types are wanted
    /// (values captured and the client left some types to the server, as tokio-postgres
    /// does).
    Describe(Option<(Arc<str>, Arc<str>)>),
    Close,
    Sync,
    Function,
    /// The client ended a COPY before the server's CopyInResponse arrived.
    CopyDone,
    Execute(Box<Execution>),
}

#[derive(Debug)]
struct SimpleQuery {
    /// The proxy's ErrorResponse, when the query was rejected for its budget.
    rejected: Option<Vec<u8>>,
    sql: Arc<str>,
    parts: Vec<Range<usize>>,
    next: usize,
    part_start: Instant,
    location: Location,
    in_transaction: bool,
    failed: bool,
    capture: Option<ResultCapture>,
    /// `DataRow` bytes of the current part.
    part_bytes: u64,
}

#[derive(Debug)]
struct Execution {
    /// The proxy's ErrorResponse, when the statement was rejected for its budget.
    rejected: Option<Vec<u8>>,
    sql: Option<Arc<str>>,
    prepared_name: Option<Arc<str>>,
    portal: String,
    bind: Arc<BindTail>,
    capture: Option<ResultCapture>,
    start: Instant,
    rows: u64,
    /// `DataRow` bytes sent back so far.
    bytes: u64,
    location: Location,
    in_transaction: bool,
}

/// What an event needs besides the session.
struct Done {
    /// The query string and the statement's range in it.
    sql: Arc<str>,
    sql_range: Range<usize>,
    start: Instant,
    end: Instant,
    location: Location,
    prepared_name: Option<Arc<str>>,
    params: Option<Arc<str>>,
    rows: Option<u64>,
    result_bytes: Option<u64>,
    error: Option<String>,
    in_transaction: bool,
}

impl Observer {
    pub fn new(info: SessionInfo, capture_params: bool) -> Self {
        Observer {
            session: Arc::new(Session {
                id: format!("c{}", info.conn_id),
                user: info.user.clone(),
                database: info.database.clone(),
                application: info.application.clone(),
            }),
            info,
            capture_params,
            statements: Statements::default(),
            portals: Portals::default(),
            suspended: HashMap::new(),
            pending: VecDeque::new(),
            skipping_to_sync: false,
            copy_in: false,
            in_transaction: false,
            events: Vec::new(),
            previous: PreviousReply::default(),
            values: ValueTrace::default(),
            follows_previous: false,
            mismatches: 0,
            evicted: 0,
            enforcing: None,
            transaction_start: None,
            transactions: Vec::new(),
        }
    }

    /// Enforces live budgets on this connection.
    pub(crate) fn with_budget(mut self, budget: Budgeter) -> Self {
        self.enforcing = Some(Box::new(Enforcing {
            budget,
            client_edits: Vec::new(),
            server_edits: Vec::new(),
            client_window: 0,
            server_editing: false,
            notices: Vec::new(),
            verdicts: Vec::new(),
        }));
        self
    }

    /// Client bytes from `offset` on have not been forwarded yet: messages starting there
    /// may be replaced.
    pub(crate) fn set_client_window(&mut self, offset: u64) {
        if let Some(enforcing) = self.enforcing.as_mut() {
            enforcing.client_window = offset;
        }
    }

    pub(crate) fn take_client_edits(&mut self) -> Vec<Edit> {
        self.enforcing
            .as_mut()
            .map(|e| std::mem::take(&mut e.client_edits))
            .unwrap_or_default()
    }

    /// Whether the next server bytes may need editing: a rejected statement awaits its
    /// error, or a notice awaits a ReadyForQuery.
    pub(crate) fn expects_server_edits(&self) -> bool {
        let Some(enforcing) = self.enforcing.as_ref() else {
            return false;
        };
        !enforcing.notices.is_empty()
            || self.pending.iter().any(|op| match op {
                Pending::Simple(q) => q.rejected.is_some(),
                Pending::Execute(e) => e.rejected.is_some(),
                _ => false,
            })
    }

    /// Called around feeding a server chunk: edits are made only while its bytes are
    /// still held by the pump.
    pub(crate) fn set_server_editing(&mut self, editing: bool) {
        if let Some(enforcing) = self.enforcing.as_mut() {
            enforcing.server_editing = editing;
        }
    }

    pub(crate) fn take_server_edits(&mut self) -> Vec<Edit> {
        self.enforcing
            .as_mut()
            .map(|e| std::mem::take(&mut e.server_edits))
            .unwrap_or_default()
    }

    /// Durations of the explicit transactions that ended since the last call.
    pub fn take_transactions(&mut self) -> Vec<std::time::Duration> {
        std::mem::take(&mut self.transactions)
    }

    /// `(route, rejected)` per budget warning or rejection since the last call.
    pub(crate) fn take_verdicts(&mut self) -> Vec<(Option<String>, bool)> {
        self.enforcing
            .as_mut()
            .map(|e| std::mem::take(&mut e.verdicts))
            .unwrap_or_default()
    }

    /// Runs the budget on a statement about to be sent. Returns the ErrorResponse to answer
    /// with when it is rejected (and its message can still be replaced by `substitute`).
    fn judge(
        &mut self,
        msg: &Message<'_>,
        sql: &str,
        count: u64,
        now: Instant,
        substitute: fn() -> Vec<u8>,
    ) -> Option<Vec<u8>> {
        let enforcing = self.enforcing.as_mut()?;
        let replaceable = msg.offset >= enforcing.client_window;
        let verdict = enforcing.budget.admit(sql, count, now);
        match verdict {
            AdmitVerdict::Allow => None,
            AdmitVerdict::Warn(breach) => {
                let text = breach.message();
                enforcing.notices.extend(enforce::response(
                    b'N',
                    "WARNING",
                    enforce::WARN_SQLSTATE,
                    &text,
                    &[],
                ));
                enforcing.verdicts.push((breach.route, false));
                None
            }
            AdmitVerdict::Reject(breach) if replaceable => {
                enforcing.client_edits.push(Edit {
                    start: msg.offset,
                    end: msg.offset + 5 + u64::from(msg.len),
                    bytes: substitute(),
                    fallback: None,
                });
                let error = enforce::rejection(&breach);
                enforcing.verdicts.push((breach.route, true));
                Some(error)
            }
            // Already forwarded in part (a statement longer than the hold-back limit).
            AdmitVerdict::Reject(_) => None,
        }
    }

    /// Events completed since the last call.
    pub fn take_events(&mut self) -> std::vec::Drain<'_, Observed> {
        self.events.drain(..)
    }

    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Operations still waiting for a reply (statements in flight).
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    fn location(&self, msg: &Message<'_>) -> Location {
        Location {
            source: SourceId(0),
            line: self.info.conn_id,
            byte: msg.offset,
        }
    }

    /// A frontend message, seen before it is forwarded.
    pub fn client_message(&mut self, msg: Message<'_>, now: Instant) {
        if self.skipping_to_sync && msg.tag != b'S' {
            return;
        }
        let op = match msg.tag {
            b'Q' => self.on_query(&msg, now),
            b'P' => self.on_parse(msg.body),
            b'B' => self.on_bind(msg.body),
            b'E' => self.on_execute(&msg, now),
            b'C' => self.on_close(msg.body),
            b'D' => Some(Pending::Describe(self.describe_types_of(msg.body))),
            // Ignored by the server in copy-in mode: no ReadyForQuery will answer it.
            b'S' if self.copy_in => None,
            b'S' => {
                self.skipping_to_sync = false;
                Some(Pending::Sync)
            }
            b'c' | b'f' if self.copy_in => {
                self.copy_in = false;
                None
            }
            b'c' | b'f' => Some(Pending::CopyDone),
            b'F' => Some(Pending::Function),
            _ => None,
        };
        if let Some(op) = op {
            self.pending.push_back(op);
        }
    }

    fn on_query(&mut self, msg: &Message<'_>, now: Instant) -> Option<Pending> {
        let sql: Arc<str> = Arc::from(body_text(msg.body).as_ref());
        let parts = split::statements(&sql, Dialect::Postgres);
        let count = parts.len().max(1) as u64;
        let rejected = self.judge(msg, &sql, count, now, enforce::substitute_query);
        Some(Pending::Simple(Box::new(SimpleQuery {
            rejected,
            parts,
            sql,
            next: 0,
            part_start: now,
            part_bytes: 0,
            location: self.location(msg),
            in_transaction: self.in_transaction,
            failed: false,
            capture: None,
        })))
    }

    fn on_parse(&mut self, body: &[u8]) -> Option<Pending> {
        if let Some((name, rest)) = cstr(body) {
            let (text, types) = cstr_bytes(rest).unwrap_or((rest, &[]));
            // Clients of the extended protocol parse the same unnamed text for every
            // execution: a name already holding this text keeps it, which saves checking
            // it, an allocation and a copy per statement here, and a free on the detection
            // thread. (With captured values the declared types are parsed again, as they
            // may differ.)
            if !self.capture_params
                && self
                    .statements
                    .get(name)
                    .is_some_and(|held| held.sql.as_bytes() == text)
            {
                return Some(Pending::Parse);
            }
            let sql = text_of(text);
            // Only captured values are shown, so only then are the types worth keeping.
            let types = self
                .capture_params
                .then(|| Arc::from(crate::binary::parse_param_types(types)));
            self.evicted += self.statements.insert(
                name,
                Prepared {
                    sql: Arc::from(sql.as_ref()),
                    types,
                },
            );
        }
        Some(Pending::Parse)
    }

    /// A statement Describe whose answer can complete the statement's parameter types.
    fn describe_types_of(&self, body: &[u8]) -> Option<(Arc<str>, Arc<str>)> {
        // Types are only kept when values are captured: no lookup on the usual path.
        if !self.capture_params {
            return None;
        }
        let (&kind, rest) = body.split_first()?;
        let name = cstr(rest)?.0;
        let (name, prepared) = self.statements.get_key_value(name)?;
        let types = prepared.types.as_deref()?;
        (kind == b'S' && (types.is_empty() || types.contains(&0)))
            .then(|| (name.clone(), prepared.sql.clone()))
    }

    /// ParameterDescription: the types the server settled on for a described statement.
    fn on_parameter_description(&mut self, body: &[u8]) {
        if let Some(Pending::Describe(Some((name, sql)))) = self.pending.front() {
            match self.statements.get_mut(name) {
                // The same statement, not one parsed under its name since (pipelines).
                Some(prepared) if Arc::ptr_eq(&prepared.sql, sql) => {
                    prepared.types = Some(Arc::from(crate::binary::parse_param_types(body)));
                }
                _ => {}
            }
        }
    }

    fn on_bind(&mut self, body: &[u8]) -> Option<Pending> {
        if let Some((portal, rest)) = cstr(body) {
            if let Some((statement, rest)) = cstr(rest) {
                let prepared = self.statements.get_key_value(statement);
                let types = prepared
                    .and_then(|(_, p)| p.types.as_deref())
                    .unwrap_or_default();
                let bind = parse_bind_tail(rest, self.capture_params, types).unwrap_or_default();
                let (name, sql) = match prepared {
                    Some((name, p)) => (Some(name.clone()), Some(p.sql.clone())),
                    None => (None, None),
                };
                if !self.suspended.is_empty() {
                    self.suspended.remove(portal);
                }
                self.evicted += self.portals.insert(
                    portal,
                    Portal {
                        sql,
                        statement: name.filter(|name| !name.is_empty()),
                        bind: Arc::new(bind),
                    },
                );
            }
        }
        Some(Pending::Bind)
    }

    fn on_execute(&mut self, msg: &Message<'_>, now: Instant) -> Option<Pending> {
        let portal = cstr(msg.body).map_or("", |(p, _)| p);
        let resumed = (!self.suspended.is_empty())
            .then(|| self.suspended.remove(portal))
            .flatten();
        if let Some(resumed) = resumed {
            // A portal fetched further: the same statement, counted once.
            return Some(Pending::Execute(resumed));
        }
        let found = self.portals.get(portal).cloned();
        let (sql, statement, bind) = found.map_or((None, None, Arc::default()), |p| {
            (p.sql, p.statement, p.bind)
        });
        let rejected = match &sql {
            Some(text) => self.judge(msg, text, 1, now, enforce::substitute_execute),
            None => None,
        };
        Some(Pending::Execute(Box::new(Execution {
            rejected,
            sql,
            prepared_name: statement,
            portal: portal.to_owned(),
            bind,
            capture: None,
            start: now,
            rows: 0,
            bytes: 0,
            location: self.location(msg),
            in_transaction: self.in_transaction,
        })))
    }

    fn on_close(&mut self, body: &[u8]) -> Option<Pending> {
        if let Some((&kind, rest)) = body.split_first() {
            let name = cstr(rest).map_or("", |(n, _)| n);
            match kind {
                b'S' => {
                    self.statements.remove(name);
                }
                b'P' => {
                    self.portals.remove(name);
                    if let Some(exec) = self.suspended.remove(name) {
                        self.finish_execution(exec, None, None, Instant::now());
                    }
                }
                _ => {}
            }
        }
        Some(Pending::Close)
    }

    /// A backend message, seen as it arrives (the bytes are forwarded regardless).
    pub fn server_message(&mut self, msg: Message<'_>, now: Instant) {
        match msg.tag {
            b'1' => self.expect(|p| matches!(p, Pending::Parse)),
            b'2' => self.expect(|p| matches!(p, Pending::Bind)),
            b'3' => self.expect(|p| matches!(p, Pending::Close)),
            b'V' => self.expect(|p| matches!(p, Pending::Function)),
            b't' => self.on_parameter_description(msg.body),
            b'T' | b'n' => {
                if matches!(self.pending.front(), Some(Pending::Describe(_))) {
                    self.pending.pop_front();
                }
            }
            b'D' => self.on_data_row(msg.body, msg.len),
            b'C' => self.on_command_complete(msg.body, now),
            b's' => self.on_portal_suspended(),
            b'I' => self.on_empty_query(now),
            b'E' if self.replace_rejected_error(&msg) => {}
            b'E' => self.on_error(msg.body, now),
            b'Z' => {
                self.insert_notices(&msg);
                self.on_ready(msg.body, now);
            }
            b'K' => self.on_backend_key(msg.body),
            b'G' => self.on_copy_in(),
            _ => {}
        }
    }

    fn span(msg: &Message<'_>) -> (u64, u64) {
        (msg.offset, msg.offset + 5 + u64::from(msg.len))
    }

    /// The server's error for a rejected statement's substitute becomes the proxy's own.
    /// The statement did not run: no event. Returns false for any other error.
    fn replace_rejected_error(&mut self, msg: &Message<'_>) -> bool {
        let error = match self.pending.front_mut() {
            Some(Pending::Simple(query)) if !query.failed => query.rejected.take(),
            Some(Pending::Execute(exec)) => exec.rejected.take(),
            _ => None,
        };
        let Some(error) = error else { return false };
        let (start, end) = Self::span(msg);
        if let Some(enforcing) = self.enforcing.as_mut().filter(|e| e.server_editing) {
            enforcing.server_edits.push(Edit {
                start,
                end,
                bytes: error,
                fallback: None,
            });
        }
        match self.pending.front_mut() {
            Some(Pending::Simple(query)) => query.failed = true,
            _ => {
                self.pending.pop_front();
                self.drop_until_sync();
            }
        }
        true
    }

    /// Warning notices go before the ReadyForQuery that ends the statement that passed the
    /// budget (after it, if its start was already forwarded).
    fn insert_notices(&mut self, msg: &Message<'_>) {
        let Some(enforcing) = self
            .enforcing
            .as_mut()
            .filter(|e| e.server_editing && !e.notices.is_empty())
        else {
            return;
        };
        let (start, end) = Self::span(msg);
        enforcing.server_edits.push(Edit {
            start,
            end: start,
            bytes: std::mem::take(&mut enforcing.notices),
            fallback: Some(end),
        });
    }

    fn expect(&mut self, is_expected: impl Fn(&Pending) -> bool) {
        match self.pending.front() {
            Some(op) if is_expected(op) => {
                self.pending.pop_front();
            }
            _ => self.mismatches += 1,
        }
    }

    /// Syncs the client queued behind the COPY, before its CopyDone, are ignored by the
    /// server: forget them, or the next ReadyForQuery would be matched to the wrong Sync.
    fn on_copy_in(&mut self) {
        let mut index = 1;
        while let Some(op) = self.pending.get(index) {
            match op {
                Pending::CopyDone => {
                    self.pending.remove(index);
                    return;
                }
                Pending::Sync => {
                    self.pending.remove(index);
                }
                _ => index += 1,
            }
        }
        self.copy_in = true;
    }

    fn on_backend_key(&mut self, body: &[u8]) {
        if let Some(pid) = body.first_chunk::<4>() {
            let mut session = Session::clone(&self.session);
            session.id = u32::from_be_bytes(*pid).to_string();
            self.session = Arc::new(session);
        }
    }

    /// Whether DataRow bodies are wanted now (a result is being captured for proof).
    ///
    /// Decided per chunk, and a chunk often holds ParseComplete, BindComplete and the rows
    /// together, so the first few pending operations are looked at, not just the front.
    pub fn wants_rows(&self) -> bool {
        let wanted =
            |capture: &Option<ResultCapture>| capture.as_ref().is_none_or(|c| !c.is_full());
        self.pending.iter().take(4).any(|op| match op {
            Pending::Execute(exec) => wanted(&exec.capture),
            Pending::Simple(query) => wanted(&query.capture),
            _ => false,
        })
    }

    fn on_data_row(&mut self, body: &[u8], len: u32) {
        match self.pending.front_mut() {
            Some(Pending::Execute(exec)) => {
                exec.rows += 1;
                exec.bytes += u64::from(len);
                let capture = exec.capture.get_or_insert_with(ResultCapture::default);
                if !body.is_empty() && !capture.is_full() {
                    capture.add_row(body, &exec.bind.result_formats);
                }
            }
            Some(Pending::Simple(query)) => {
                query.part_bytes += u64::from(len);
                let capture = query.capture.get_or_insert_with(ResultCapture::default);
                if !body.is_empty() && !capture.is_full() {
                    capture.add_row(body, &[]);
                }
            }
            _ => {}
        }
    }

    fn on_command_complete(&mut self, body: &[u8], now: Instant) {
        let rows = command_rows(body);
        match self.pending.front_mut() {
            Some(Pending::Simple(query)) => {
                let part = query.parts.get(query.next).cloned();
                query.next += 1;
                let start = std::mem::replace(&mut query.part_start, now);
                let bytes = std::mem::take(&mut query.part_bytes);
                let capture = query.capture.take();
                let (sql, location, in_tx) =
                    (query.sql.clone(), query.location, query.in_transaction);
                let range = statement_range(&sql, part);
                self.values = ValueTrace {
                    keys: Arc::default(),
                    result: self.previous.finish(capture),
                };
                self.push_event(Done {
                    sql,
                    sql_range: range,
                    start,
                    end: now,
                    location,
                    prepared_name: None,
                    params: None,
                    rows,
                    result_bytes: Some(bytes),
                    error: None,
                    in_transaction: in_tx,
                });
            }
            Some(Pending::Execute(_)) => {
                if let Some(Pending::Execute(exec)) = self.pending.pop_front() {
                    let rows = rows.map(|r| r.max(exec.rows)).or(Some(exec.rows));
                    self.finish_execution(exec, rows, None, now);
                }
            }
            _ => self.mismatches += 1,
        }
    }

    fn on_portal_suspended(&mut self) {
        match self.pending.pop_front() {
            Some(Pending::Execute(exec)) => {
                self.suspended.insert(exec.portal.clone(), exec);
            }
            Some(other) => {
                self.pending.push_front(other);
                self.mismatches += 1;
            }
            None => self.mismatches += 1,
        }
    }

    fn on_empty_query(&mut self, now: Instant) {
        match self.pending.front_mut() {
            Some(Pending::Simple(query)) => {
                query.next += 1;
                query.part_start = now;
            }
            Some(Pending::Execute(_)) => {
                self.pending.pop_front();
            }
            _ => self.mismatches += 1,
        }
    }

    fn on_error(&mut self, body: &[u8], now: Instant) {
        let code = error_code(body);
        match self.pending.front_mut() {
            // The server abandons the rest of the query string and sends ReadyForQuery.
            Some(Pending::Simple(query)) if !query.failed => {
                query.failed = true;
                let part = query.parts.get(query.next).cloned();
                let (sql, location, in_tx, start) = (
                    query.sql.clone(),
                    query.location,
                    query.in_transaction,
                    query.part_start,
                );
                let range = statement_range(&sql, part);
                self.push_event(Done {
                    sql,
                    sql_range: range,
                    start,
                    end: now,
                    location,
                    prepared_name: None,
                    params: None,
                    rows: None,
                    result_bytes: None,
                    error: code,
                    in_transaction: in_tx,
                });
            }
            Some(Pending::Simple(_)) => {}
            // An error outside any operation (FATAL, or during authentication).
            None | Some(Pending::Sync) => {}
            Some(_) => self.fail_extended(code, now),
        }
    }

    /// The failed operation is the front one; the server then skips to the next Sync, and
    /// so do we. The statement that failed is the first Execute up to that Sync: when the
    /// error came from its Parse or Bind (a syntax error, or `1/0` folded while planning),
    /// it failed all the same and is reported with the error. Executes after it never ran.
    fn fail_extended(&mut self, code: Option<String>, now: Instant) {
        let failed = self
            .pending
            .iter()
            .take_while(|op| !matches!(op, Pending::Sync))
            .position(|op| matches!(op, Pending::Execute(_)));
        if let Some(Pending::Execute(exec)) = failed.and_then(|i| self.pending.remove(i)) {
            self.finish_execution(exec, None, code, now);
        }
        self.drop_until_sync();
    }

    fn drop_until_sync(&mut self) {
        while let Some(op) = self.pending.front() {
            if matches!(op, Pending::Sync) {
                return;
            }
            self.pending.pop_front();
        }
        self.skipping_to_sync = true;
    }

    fn on_ready(&mut self, body: &[u8], now: Instant) {
        while let Some(op) = self.pending.pop_front() {
            if matches!(op, Pending::Sync | Pending::Simple(_)) {
                break;
            }
            if matches!(op, Pending::CopyDone) {
                continue;
            }
            self.mismatches += 1;
        }
        self.in_transaction = matches!(body.first(), Some(b'T' | b'E'));
        match (self.in_transaction, self.transaction_start) {
            (true, None) => self.transaction_start = Some(now),
            (false, Some(start)) => {
                self.transactions.push(now.saturating_duration_since(start));
                self.transaction_start = None;
            }
            _ => {}
        }
        if let Some(enforcing) = self.enforcing.as_mut() {
            enforcing.budget.ready(self.in_transaction);
        }
        if !self.in_transaction && !self.suspended.is_empty() {
            // Portals die with their transaction: the suspended statement is over.
            let mut ended: Vec<Box<Execution>> = self.suspended.drain().map(|(_, e)| e).collect();
            ended.sort_by_key(|e| e.start);
            for exec in ended {
                let rows = Some(exec.rows);
                self.finish_execution(exec, rows, None, now);
            }
        }
        if !self.in_transaction && self.pending.is_empty() {
            // The server dropped every portal with the transaction; forget them too, so a
            // client naming portals uniquely cannot grow this map. (Only when nothing is in
            // flight: a pipelined Bind for the next transaction may already be queued.)
            self.portals.clear();
        }
    }

    fn finish_execution(
        &mut self,
        exec: Box<Execution>,
        rows: Option<u64>,
        error: Option<String>,
        now: Instant,
    ) {
        let exec = *exec;
        // A portal whose statement we never saw parsed has no text to report.
        let Some(sql) = exec.sql else { return };
        self.follows_previous = self.previous.follows_previous(&exec.bind.keys);
        let result = self.previous.finish(exec.capture);
        self.previous.forget_sent(&exec.bind.keys);
        self.values = ValueTrace {
            keys: exec.bind.keys.clone(),
            result,
        };
        self.push_event(Done {
            sql_range: 0..sql.len(),
            sql,
            start: exec.start,
            end: now,
            location: exec.location,
            prepared_name: exec.prepared_name,
            params: exec.bind.params.clone(),
            rows,
            result_bytes: error.is_none().then_some(exec.bytes),
            error,
            in_transaction: exec.in_transaction,
        });
    }

    fn push_event(&mut self, done: Done) {
        if let (Some(enforcing), Some(rows)) = (self.enforcing.as_mut(), done.rows) {
            enforcing.budget.rows(rows);
        }
        let duration = done.end.saturating_duration_since(done.start);
        self.events.push(Observed {
            session: self.session.clone(),
            sql: done.sql,
            sql_range: done.sql_range,
            location: done.location,
            time: wall_clock(done.start),
            duration_us: duration.as_micros() as u64,
            params: done.params,
            prepared_name: done.prepared_name,
            rows: done.rows,
            result_bytes: done.result_bytes,
            error: done.error,
            in_transaction: done.in_transaction,
            uses_previous_result: std::mem::take(&mut self.follows_previous),
            values: std::mem::take(&mut self.values),
            links: ValueLinks::default(),
        });
    }
}

/// The range of a multi-statement query's part in `sql`, or all of it.
fn statement_range(sql: &str, part: Option<Range<usize>>) -> Range<usize> {
    part.filter(|range| sql.get(range.clone()).is_some())
        .unwrap_or(0..sql.len())
}

/// Named prepared statements (and portals) remembered per connection. A client that
/// prepares ever new names without closing them cannot grow the proxy past this; an
/// execution of a forgotten statement is not reported (and counted as evicted).
pub const MAX_NAMED: usize = 10_000;

/// Forgets one entry when `map` is full and `key` is new; returns how many were forgotten.
fn make_room<K, V>(map: &mut HashMap<K, V>, key: &str) -> u64
where
    K: std::borrow::Borrow<str> + std::hash::Hash + Eq + Clone,
{
    if map.len() < MAX_NAMED || map.contains_key(key) {
        return 0;
    }
    let victim = map.keys().next().cloned();
    match victim {
        Some(victim) => {
            map.remove(victim.borrow());
            1
        }
        None => 0,
    }
}

/// Microseconds since the epoch for a monotonic instant, anchored once per process so
/// that event times never go backwards within a run.
pub fn wall_clock(at: Instant) -> Timestamp {
    static ANCHOR: OnceLock<(Instant, Timestamp)> = OnceLock::new();
    let (base_instant, base_us) = *ANCHOR.get_or_init(|| {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        (Instant::now(), since_epoch.as_micros() as Timestamp)
    });
    let delta = if at >= base_instant {
        at.duration_since(base_instant).as_micros() as Timestamp
    } else {
        -(base_instant.duration_since(at).as_micros() as Timestamp)
    };
    base_us + delta
}

/// Text up to the first NUL (or all of it when the body was cut at the observation cap);
/// borrowed unless it is not UTF-8.
fn body_text(body: &[u8]) -> Cow<'_, str> {
    text_of(cstr_bytes(body).map_or(body, |(text, _)| text))
}

/// `text` as a string, lossily where it is not UTF-8.
fn text_of(text: &[u8]) -> Cow<'_, str> {
    // The strict check is much cheaper than the lossy one on valid text, the usual case.
    match std::str::from_utf8(text) {
        Ok(valid) => Cow::Borrowed(valid),
        Err(_) => String::from_utf8_lossy(text),
    }
}

/// Rows from a command tag: the last word of `SELECT 5`, `INSERT 0 5`, `UPDATE 3`,
/// `COPY 10`; none for tags without a count (`CREATE TABLE`, `BEGIN`).
pub fn command_rows(body: &[u8]) -> Option<u64> {
    // On bytes: every CommandComplete passes here, and the tag is ASCII.
    let end = body.iter().position(|&b| b == 0).unwrap_or(body.len());
    let tag = body.get(..end)?;
    let last_space = tag.iter().rposition(|&b| b == b' ')?;
    if tag.first() == Some(&b' ') {
        return None;
    }
    let count = tag.get(last_space + 1..)?;
    std::str::from_utf8(count).ok()?.parse().ok()
}

/// The SQLSTATE (`C` field) of an ErrorResponse body.
pub fn error_code(mut body: &[u8]) -> Option<String> {
    while let Some((&field, rest)) = body.split_first() {
        if field == 0 {
            return None;
        }
        let (value, after) = cstr(rest)?;
        if field == b'C' {
            return Some(value.to_owned());
        }
        body = after;
    }
    None
}

/// `$1 = '8', $2 = NULL` from a Bind body after the portal and statement names.
///
/// The detection stage needs parameters to tell a loop (different values) from a repeated
/// identical statement, and array lengths to recognise `= ANY($1)` batches. Unless the user
/// asked to see values (`reveal`), each value is replaced by a digest (`#1f3a…`), arrays
/// keeping their shape (`{#…,#…}`), so no raw value leaves the connection. Revealed binary
/// values are shown as hex (`\x0000002a`).
#[cfg(test)]
fn render_params(rest: &[u8], reveal: bool) -> Option<String> {
    parse_bind_tail(rest, reveal, &[]).and_then(|tail| tail.params.map(|params| params.to_string()))
}

/// What a Bind says after the portal and statement names.
#[derive(Debug, Default)]
struct BindTail {
    /// Rendered parameters (see [`render_params`]); shared with every event of the portal.
    params: Option<Arc<str>>,
    /// Value digests of the parameters, for parent ↔ child proof.
    keys: Arc<[u64]>,
    /// Result-column format codes; empty when every column is text (what most clients
    /// ask for, as one code 0).
    result_formats: Vec<u16>,
}

thread_local! {
    /// Where a Bind's parameters and their digests are written before being copied, once,
    /// into the shared form its events carry: one allocation each per Bind, none per
    /// event. Per thread, not per connection, so an idle connection keeps none of it.
    static BIND_SCRATCH: std::cell::RefCell<(String, Vec<u64>)> = const {
        std::cell::RefCell::new((String::new(), Vec::new()))
    };
}

/// Scratch kept between Binds up to this size (a larger one is freed after use).
const MAX_KEPT_SCRATCH: usize = 16 * 1024;

/// `types`: the parameter types the statement declared (see `binary.rs`), possibly fewer
/// than the parameters.
fn parse_bind_tail(rest: &[u8], reveal: bool, types: &[u32]) -> Option<BindTail> {
    BIND_SCRATCH.with_borrow_mut(|(out, keys)| {
        out.clear();
        keys.clear();
        let tail = render_bind_tail(rest, reveal, types, out, keys);
        if out.capacity() > MAX_KEPT_SCRATCH {
            *out = String::new();
        }
        if keys.capacity() > MAX_KEPT_SCRATCH / 8 {
            *keys = Vec::new();
        }
        tail
    })
}

fn render_bind_tail(
    rest: &[u8],
    reveal: bool,
    types: &[u32],
    out: &mut String,
    keys: &mut Vec<u64>,
) -> Option<BindTail> {
    let mut reader = Reader(rest);
    let format_count = reader.u16()? as usize;
    let formats = reader.take(format_count * 2)?;
    let format = |index: usize| formats.get(index * 2..index * 2 + 2).map(be16);
    let count = reader.u16()? as usize;
    for index in 0..count {
        let len = reader.i32()?;
        let binary = match format_count {
            0 => false,
            1 => format(0) == Some(1),
            _ => format(index) == Some(1),
        };
        if index > 0 {
            out.push_str(", ");
        }
        out.push('$');
        push_decimal(out, index + 1);
        out.push_str(" = ");
        if len < 0 {
            out.push_str("NULL");
            continue;
        }
        let value = reader.take(len as usize)?;
        let declared = types.get(index).copied().unwrap_or(0);
        render_value(out, value, binary.then_some(declared), reveal);
        keys.extend(value_key(value, binary));
    }
    let mut result_formats = Vec::new();
    if let Some(count) = reader.u16() {
        let codes = reader.take(usize::from(count.min(1600)) * 2)?;
        // All text reads like no codes at all (see `evidence::is_binary`).
        if codes.iter().any(|&byte| byte != 0) {
            result_formats = codes.chunks_exact(2).map(be16).collect();
        }
    }
    Some(BindTail {
        params: Some(shared(out.as_str(), out.is_empty())),
        keys: shared(keys.as_slice(), keys.is_empty()),
        result_formats,
    })
}

/// A big-endian 16-bit code of a two-byte slice (as `chunks_exact(2)` gives).
fn be16(code: &[u8]) -> u16 {
    <[u8; 2]>::try_from(code).map_or(0, u16::from_be_bytes)
}

/// `value` copied into an `Arc`, but for an empty one: `Arc::default()` shares one static
/// empty value, no allocation.
fn shared<T: ?Sized>(value: &T, is_empty: bool) -> Arc<T>
where
    Arc<T>: Default + for<'a> From<&'a T>,
{
    if is_empty {
        Arc::default()
    } else {
        Arc::from(value)
    }
}

/// Longest revealed value; longer ones are cut and marked with their digest.
const MAX_SHOWN_VALUE: usize = 200;

/// `binary`: the value is in binary format, of this declared type (0: unknown).
fn render_value(out: &mut String, value: &[u8], binary: Option<u32>, reveal: bool) {
    let elements = match binary {
        Some(_) => binary_array_elements(value),
        None => text_array_elements(value),
    };
    match elements {
        Some(items) => {
            out.push('{');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                // Elements are shown as hex: the array's own element type is not read.
                render_scalar(out, item, binary.map(|_| 0), reveal, false);
            }
            out.push('}');
        }
        None => render_scalar(out, value, binary, reveal, true),
    }
}

fn render_scalar(out: &mut String, value: &[u8], binary: Option<u32>, reveal: bool, quote: bool) {
    if !reveal || value.len() > MAX_SHOWN_VALUE {
        push_digest(out, digest(value));
        return;
    }
    if let Some(declared) = binary {
        if quote {
            let mark = out.len();
            out.push('\'');
            if crate::binary::push_text(out, declared, value) {
                let text = out.split_off(mark + 1);
                out.push_str(&text.replace('\'', "''"));
                out.push('\'');
                return;
            }
            out.truncate(mark);
        }
        out.push_str("\\x");
        for b in value {
            let _ = write!(out, "{b:02x}");
        }
        return;
    }
    let text = String::from_utf8_lossy(value);
    if quote {
        out.push('\'');
        out.push_str(&text.replace('\'', "''"));
        out.push('\'');
    } else {
        out.push_str(&text);
    }
}

/// `#` and the digest as 16 hex digits (`#{:016x}`, without the formatting machinery: one
/// per bind parameter).
fn push_digest(out: &mut String, digest: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = [b'#'; 17];
    for (at, slot) in text.iter_mut().skip(1).enumerate() {
        let nibble = (digest >> ((15 - at) * 4)) & 0xf;
        *slot = HEX.get(nibble as usize).copied().unwrap_or(b'0');
    }
    out.push_str(std::str::from_utf8(&text).unwrap_or("#"));
}

/// `n` in decimal, without the formatting machinery.
fn push_decimal(out: &mut String, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        if let Some(slot) = digits.get_mut(start) {
            *slot = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || start == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(digits.get(start..).unwrap_or_default()).unwrap_or(""));
}

/// A stable 64-bit digest (xxh3, unkeyed): equal values, equal digests, in every run.
fn digest(value: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(value)
}

/// Items of a one-dimensional text array literal `{a,"b,c",d}`; None if not an array.
fn text_array_elements(value: &[u8]) -> Option<Vec<&[u8]>> {
    let inner = value.strip_prefix(b"{")?.strip_suffix(b"}")?;
    if inner.is_empty() {
        return Some(Vec::new());
    }
    let mut items = Vec::new();
    let (mut start, mut quoted, mut depth, mut escaped) = (0, false, 0u32, false);
    for (i, &b) in inner.iter().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => quoted = !quoted,
            b'{' if !quoted => depth += 1,
            b'}' if !quoted => depth = depth.saturating_sub(1),
            b',' if !quoted && depth == 0 => {
                items.push(inner.get(start..i)?);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(inner.get(start..)?);
    Some(items)
}

/// Elements of a binary-format array (`ndim, flags, elemtype, (size, lbound)*, (len,
/// bytes)*`); None if the value is not one.
fn binary_array_elements(value: &[u8]) -> Option<Vec<&[u8]>> {
    let mut reader = Reader(value);
    let ndim = reader.i32()?;
    let _flags = reader.i32()?;
    let _element_type = reader.i32()?;
    if !(0..=6).contains(&ndim) {
        return None;
    }
    let mut total: usize = 1;
    for _ in 0..ndim {
        let size = usize::try_from(reader.i32()?).ok()?;
        let _lower_bound = reader.i32()?;
        total = total.checked_mul(size)?;
    }
    if ndim == 0 {
        total = 0;
    }
    let mut items = Vec::with_capacity(total.min(4096));
    for _ in 0..total {
        let len = reader.i32()?;
        items.push(if len < 0 {
            &[][..]
        } else {
            reader.take(len as usize)?
        });
    }
    reader.0.is_empty().then_some(items)
}

/// Bounds-checked big-endian reads.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
    }
    fn i32(&mut self) -> Option<i32> {
        let b = self.take(4)?.first_chunk::<4>()?;
        Some(i32::from_be_bytes(*b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sixteen_hex_digits() {
        for value in [0u64, 1, 0xdead_beef, u64::MAX] {
            let mut out = String::new();
            push_digest(&mut out, value);
            assert_eq!(out, format!("#{value:016x}"));
        }
    }

    fn cs(s: &str) -> Vec<u8> {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        v
    }

    struct Harness {
        obs: Observer,
        offset: u64,
    }

    impl Harness {
        fn new() -> Self {
            let info = SessionInfo {
                conn_id: 7,
                user: Some("qc".into()),
                database: Some("app".into()),
                application: None,
            };
            Harness {
                obs: Observer::new(info, true),
                offset: 0,
            }
        }
        fn client(&mut self, tag: u8, body: &[u8]) {
            let msg = Message {
                tag,
                len: body.len() as u32,
                body,
                offset: self.offset,
            };
            self.offset += 5 + body.len() as u64;
            self.obs.client_message(msg, Instant::now());
        }
        fn server(&mut self, tag: u8, body: &[u8]) {
            let msg = Message {
                tag,
                len: body.len() as u32,
                body,
                offset: 0,
            };
            self.obs.server_message(msg, Instant::now());
        }
        fn parse(&mut self, name: &str, sql: &str) {
            let mut body = cs(name);
            body.extend(cs(sql));
            body.extend([0, 0]);
            self.client(b'P', &body);
        }
        fn bind(&mut self, portal: &str, statement: &str, value: &str) {
            let mut body = cs(portal);
            body.extend(cs(statement));
            body.extend([0, 0, 0, 1]);
            body.extend((value.len() as i32).to_be_bytes());
            body.extend(value.as_bytes());
            body.extend([0, 0]);
            self.client(b'B', &body);
        }
        fn execute(&mut self, portal: &str, max_rows: i32) {
            let mut body = cs(portal);
            body.extend(max_rows.to_be_bytes());
            self.client(b'E', &body);
        }
        fn events(&mut self) -> Vec<OwnedEvent> {
            self.obs.take_events().map(|o| o.to_owned_event()).collect()
        }
        /// Executes the unnamed portal and syncs; the server answers the Parse and Bind,
        /// returns no rows and is ready.
        fn execute_unnamed_and_sync(&mut self) {
            self.execute("", 0);
            self.client(b'S', b"");
            self.server(b'1', b"");
            self.server(b'2', b"");
            self.server(b'C', &cs("SELECT 0"));
            self.server(b'Z', b"I");
        }
    }

    #[test]
    fn a_statement_parsed_again_keeps_its_text_and_a_new_text_replaces_it() {
        let mut h = Harness::new();
        h.obs.capture_params = false;
        let unnamed = |h: &Harness| h.obs.statements.get("").map(|p| p.sql.clone());
        let run = |h: &mut Harness, sql: &str| {
            h.parse("", sql);
            h.bind("", "", "1");
            h.execute_unnamed_and_sync();
        };
        run(&mut h, "SELECT a FROM t WHERE id = $1");
        let first = unnamed(&h).unwrap();
        run(&mut h, "SELECT a FROM t WHERE id = $1");
        assert!(Arc::ptr_eq(&first, &unnamed(&h).unwrap()));
        run(&mut h, "SELECT b FROM t WHERE id = $1");
        let events: Vec<String> = h.events().into_iter().map(|e| e.sql).collect();
        assert_eq!(
            events,
            [
                "SELECT a FROM t WHERE id = $1",
                "SELECT a FROM t WHERE id = $1",
                "SELECT b FROM t WHERE id = $1",
            ]
        );
        assert_eq!(h.obs.mismatches, 0);
        // A named statement parsed again under its name (after a Close, or refused by the
        // server as a duplicate) keeps its text the same way.
        h.parse("s1", "SELECT c FROM t");
        let named = h.obs.statements.get("s1").map(|p| p.sql.clone()).unwrap();
        h.parse("s1", "SELECT c FROM t");
        assert!(Arc::ptr_eq(
            &named,
            &h.obs.statements.get("s1").unwrap().sql
        ));
        h.parse("s1", "SELECT d FROM t");
        assert_eq!(&*h.obs.statements.get("s1").unwrap().sql, "SELECT d FROM t");
    }

    #[test]
    fn result_format_codes_all_text_are_kept_as_none_and_any_binary_as_given() {
        // No parameter formats, no parameters, then the result-column codes.
        let tail = |codes: &[u8]| {
            let mut rest = vec![0, 0, 0, 0];
            rest.extend(((codes.len() / 2) as u16).to_be_bytes());
            rest.extend(codes);
            parse_bind_tail(&rest, false, &[]).map(|t| t.result_formats)
        };
        assert_eq!(tail(&[0, 0]), Some(vec![]));
        assert_eq!(tail(&[0, 0, 0, 0, 0, 0]), Some(vec![]));
        assert_eq!(tail(&[0, 1]), Some(vec![1]));
        assert_eq!(tail(&[0, 0, 0, 1]), Some(vec![0, 1]));
        // Fewer codes than announced: not a Bind we can read.
        let mut short = vec![0, 0, 0, 0, 0, 2, 0, 1];
        assert!(parse_bind_tail(&short, false, &[]).is_none());
        short.extend([0, 1]);
        assert_eq!(
            parse_bind_tail(&short, false, &[]).map(|t| t.result_formats),
            Some(vec![1, 1])
        );
    }

    #[test]
    fn binds_rendered_one_after_another_share_no_scratch() {
        let bind = |values: &[&str]| {
            let mut rest = vec![0, 0];
            rest.extend((values.len() as u16).to_be_bytes());
            for value in values {
                rest.extend((value.len() as i32).to_be_bytes());
                rest.extend(value.as_bytes());
            }
            rest.extend([0, 0]);
            parse_bind_tail(&rest, true, &[]).unwrap()
        };
        // More text than the scratch keeps between Binds.
        let many: Vec<String> = (0..2000).map(|i| format!("v{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let first = bind(&many);
        let shown = first.params.as_deref().unwrap();
        assert!(shown.len() > MAX_KEPT_SCRATCH);
        assert!(shown.starts_with("$1 = 'v0', $2 = 'v1'"));
        assert!(shown.ends_with("$2000 = 'v1999'"));
        let expected: Vec<u64> = many
            .iter()
            .filter_map(|value| value_key(value.as_bytes(), false))
            .collect();
        assert_eq!(*first.keys, *expected);
        let second = bind(&["2"]);
        let third = bind(&[]);
        assert_eq!(second.params.as_deref(), Some("$1 = '2'"));
        assert_eq!(second.keys.len(), 1);
        assert_eq!(third.params.as_deref(), Some(""));
        assert!(third.keys.is_empty());
        assert_ne!(first.keys.first(), second.keys.first());
    }

    #[test]
    fn multi_statement_query_gives_one_event_per_statement() {
        let mut h = Harness::new();
        h.client(b'Q', &cs("SELECT 1; UPDATE t SET a = 1 /*route='x'*/"));
        h.server(b'T', b"");
        h.server(b'D', b"");
        h.server(b'C', &cs("SELECT 1"));
        h.server(b'C', &cs("UPDATE 3"));
        h.server(b'Z', b"I");
        let events = h.events();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].sql, "SELECT 1");
        assert_eq!(events[0].rows, Some(1));
        assert_eq!(events[1].sql, "UPDATE t SET a = 1 /*route='x'*/");
        assert_eq!(events[1].rows, Some(3));
        assert_eq!(events[1].location.line, 7);
        assert_eq!(h.obs.pending(), 0);
        assert_eq!(h.obs.mismatches, 0);
    }

    #[test]
    fn result_bytes_are_the_data_rows_of_each_statement() {
        let mut h = Harness::new();
        // Simple protocol, two statements: each part counts its own rows' bytes.
        h.client(b'Q', &cs("SELECT body FROM t; SELECT 1"));
        h.server(b'T', b"");
        h.server(b'D', &[0u8; 100]);
        h.server(b'D', &[0u8; 50]);
        h.server(b'C', &cs("SELECT 2"));
        h.server(b'T', b"");
        h.server(b'D', &[0u8; 7]);
        h.server(b'C', &cs("SELECT 1"));
        h.server(b'Z', b"I");
        // Extended protocol.
        h.parse("s1", "SELECT body FROM t WHERE id = $1");
        h.bind("", "s1", "1");
        h.execute("", 0);
        h.client(b'S', b"");
        h.server(b'1', b"");
        h.server(b'2', b"");
        h.server(b'D', &[0u8; 300]);
        h.server(b'C', &cs("SELECT 1"));
        h.server(b'Z', b"I");
        let bytes: Vec<Option<u64>> = h.events().iter().map(|e| e.result_bytes).collect();
        assert_eq!(bytes, [Some(150), Some(7), Some(300)]);
    }

    #[test]
    fn pipelined_extended_statements_match_their_replies() {
        let mut h = Harness::new();
        h.server(b'K', &[0, 0, 0x30, 0x39, 1, 2, 3, 4]);
        h.parse("s1", "SELECT * FROM t WHERE id = $1");
        for id in ["1", "2", "3"] {
            h.bind("", "s1", id);
            h.execute("", 0);
        }
        h.client(b'S', b"");
        h.server(b'1', b"");
        for rows in [1, 0, 2] {
            h.server(b'2', b"");
            for _ in 0..rows {
                h.server(b'D', b"");
            }
            h.server(b'C', &cs(&format!("SELECT {rows}")));
        }
        h.server(b'Z', b"I");
        let events = h.events();
        assert_eq!(events.len(), 3);
        assert!(events
            .iter()
            .all(|e| e.sql == "SELECT * FROM t WHERE id = $1"));
        assert_eq!(
            events.iter().map(|e| e.rows).collect::<Vec<_>>(),
            [Some(1), Some(0), Some(2)]
        );
        assert_eq!(events[0].prepared_name.as_deref(), Some("s1"));
        assert_eq!(events[2].params.as_deref(), Some("$1 = '3'"));
        assert_eq!(events[0].session, "12345");
        assert_eq!(h.obs.mismatches, 0);
    }

    #[test]
    fn error_mid_pipeline_skips_to_sync() {
        let mut h = Harness::new();
        h.parse("", "SELECT 1/0");
        h.bind("", "", "x");
        h.execute("", 0);
        h.parse("", "SELECT 2");
        h.bind("", "", "x");
        h.execute("", 0);
        h.server(b'1', b"");
        h.server(b'2', b"");
        h.server(b'E', b"SERROR\0C22012\0Mdivision by zero\0\0");
        // Sent before the client learned of the error: the server skips all of it
        // up to the Sync.
        h.parse("", "SELECT 3");
        h.bind("", "", "x");
        h.execute("", 0);
        h.client(b'S', b"");
        h.server(b'Z', b"I");
        // Business as usual afterwards.
        h.client(b'Q', &cs("SELECT 4"));
        h.server(b'C', &cs("SELECT 1"));
        h.server(b'Z', b"I");
        let events = h.events();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].sql, "SELECT 1/0");
        assert_eq!(events[0].error.as_deref(), Some("22012"));
        assert_eq!(events[1].sql, "SELECT 4");
        assert_eq!(h.obs.pending(), 0);
        assert_eq!(h.obs.mismatches, 0);
    }

    #[test]
    fn an_error_at_bind_fails_the_statement_behind_it() {
        let mut h = Harness::new();
        h.parse("", "SELECT 1/0");
        h.bind("", "", "x");
        h.client(b'D', b"P\0");
        h.execute("", 0);
        h.parse("", "SELECT 2");
        h.bind("", "", "x");
        h.execute("", 0);
        h.client(b'S', b"");
        h.server(b'1', b"");
        h.server(b'E', b"SERROR\0C22012\0\0");
        h.server(b'Z', b"I");
        let events = h.events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].sql, "SELECT 1/0");
        assert_eq!(events[0].error.as_deref(), Some("22012"));
        assert_eq!(h.obs.pending(), 0);
        assert_eq!(h.obs.mismatches, 0);
    }

    #[test]
    fn portals_are_forgotten_with_their_transaction() {
        let mut h = Harness::new();
        h.parse("s", "SELECT 1");
        for i in 0..100 {
            let name = format!("p{i}");
            h.bind(&name, "s", "x");
            h.execute(&name, 0);
            h.client(b'S', b"");
            if i == 0 {
                h.server(b'1', b"");
            }
            h.server(b'2', b"");
            h.server(b'C', &cs("SELECT 1"));
            h.server(b'Z', b"I");
        }
        assert_eq!(h.events().len(), 100);
        assert!(h.obs.portals.is_empty());
        assert_eq!(h.obs.mismatches, 0);
    }

    #[test]
    fn portal_suspension_is_one_statement() {
        let mut h = Harness::new();
        h.client(b'Q', &cs("BEGIN"));
        h.server(b'C', &cs("BEGIN"));
        h.server(b'Z', b"T");
        h.parse("", "SELECT * FROM big");
        h.bind("c1", "", "x");
        h.execute("c1", 2);
        h.client(b'S', b"");
        h.server(b'1', b"");
        h.server(b'2', b"");
        h.server(b'D', b"");
        h.server(b'D', b"");
        h.server(b's', b"");
        h.server(b'Z', b"T");
        h.execute("c1", 2);
        h.client(b'S', b"");
        h.server(b'D', b"");
        h.server(b'C', &cs("SELECT 1"));
        h.server(b'Z', b"T");
        let events = h.events();
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[1].sql, "SELECT * FROM big");
        assert_eq!(events[1].rows, Some(3));
        assert_eq!(events[1].in_transaction, Some(true));
        assert_eq!(events[0].in_transaction, Some(false));
    }

    #[test]
    fn copy_in_with_sync_sent_ahead_keeps_matching() {
        let mut h = Harness::new();
        // tokio-postgres: Bind, Execute, Sync, then CopyData, CopyDone, Sync.
        h.parse("s", "COPY t FROM STDIN");
        h.client(b'S', b"");
        h.server(b'1', b"");
        h.server(b'Z', b"I");
        h.bind("", "s", "x");
        h.execute("", 0);
        h.client(b'S', b"");
        h.server(b'2', b"");
        h.server(b'G', b"");
        h.client(b'd', b"1\n");
        h.client(b'c', b"");
        h.client(b'S', b"");
        h.server(b'C', &cs("COPY 1"));
        h.server(b'Z', b"I");
        h.client(b'Q', &cs("SELECT 1"));
        h.server(b'C', &cs("SELECT 1"));
        h.server(b'Z', b"I");
        let events = h.events();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].rows, Some(1));
        assert_eq!(events[1].sql, "SELECT 1");
        assert_eq!(h.obs.pending(), 0);
        assert_eq!(h.obs.mismatches, 0);
    }

    fn data_row(values: &[&str]) -> Vec<u8> {
        let mut body = (values.len() as u16).to_be_bytes().to_vec();
        for v in values {
            body.extend((v.len() as i32).to_be_bytes());
            body.extend(v.as_bytes());
        }
        body
    }

    #[test]
    fn children_bound_with_parent_values_name_their_parent() {
        let mut h = Harness::new();
        h.parse("", "SELECT id, customer_id FROM orders");
        h.bind("", "", "x");
        h.execute("", 0);
        h.client(b'S', b"");
        assert!(
            h.obs.wants_rows(),
            "the Execute is queued behind Parse and Bind"
        );
        h.server(b'1', b"");
        h.server(b'2', b"");
        for (id, customer) in [("1", "7"), ("2", "8"), ("3", "7")] {
            h.server(b'D', &data_row(&[id, customer]));
        }
        h.server(b'C', &cs("SELECT 3"));
        h.server(b'Z', b"I");
        for customer in ["7", "8", "42"] {
            h.parse("s2", "SELECT name FROM customers WHERE id = $1");
            h.bind("", "s2", customer);
            h.execute("", 0);
            h.client(b'S', b"");
            h.server(b'1', b"");
            h.server(b'2', b"");
            h.server(b'D', &data_row(&["n"]));
            h.server(b'C', &cs("SELECT 1"));
            h.server(b'Z', b"I");
        }
        let observed: Vec<Observed> = h.obs.take_events().collect();
        assert_eq!(observed.len(), 4);
        let mut results = crate::evidence::ClientResults::default();
        let links: Vec<_> = observed
            .iter()
            .map(|o| results.link(1, &o.session, o.time, o.shared_sql(), &o.values))
            .collect();
        assert_eq!(links[0].parent_result, None);
        assert!(links[0].result.is_some(), "three rows: a possible parent");
        assert_eq!(links[1].parent_result, links[0].result);
        assert_eq!(links[2].parent_result, links[0].result);
        assert_eq!(
            links[3].parent_result, None,
            "42 was not among the parent's values"
        );
    }

    #[test]
    fn numbers_and_digests_are_written_as_the_formatter_would() {
        for n in [0, 1, 9, 10, 65_535, usize::MAX] {
            let mut out = String::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string());
        }
        for d in [0, 1, 0xdead_beef, u64::MAX] {
            let mut out = String::new();
            push_digest(&mut out, d);
            assert_eq!(out, format!("#{d:016x}"));
        }
    }

    #[test]
    fn named_statements_are_bounded_with_counted_evictions() {
        let mut h = Harness::new();
        for i in 0..MAX_NAMED + 5 {
            h.parse(&format!("s{i}"), "SELECT 1");
        }
        assert_eq!(h.obs.statements.len(), MAX_NAMED);
        assert_eq!(h.obs.evicted, 5);
    }

    #[test]
    fn simple_query_error_ends_the_string() {
        let mut h = Harness::new();
        h.client(b'Q', &cs("SELECT 1; SELECT x; SELECT 3"));
        h.server(b'C', &cs("SELECT 1"));
        h.server(b'E', b"SERROR\0C42703\0\0");
        h.server(b'Z', b"I");
        let events = h.events();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].sql, "SELECT x");
        assert_eq!(events[1].error.as_deref(), Some("42703"));
    }

    #[test]
    fn param_values_are_digested_unless_asked() {
        let info = SessionInfo::default();
        let mut obs = Observer::new(info, false);
        let mut body = cs("");
        body.extend(cs("SELECT $1"));
        body.extend([0, 0]);
        obs.client_message(
            Message {
                tag: b'P',
                len: 0,
                body: &body,
                offset: 0,
            },
            Instant::now(),
        );
        let mut bind = cs("");
        bind.extend(cs(""));
        bind.extend([0, 0, 0, 1, 0, 0, 0, 6]);
        bind.extend(b"secret");
        bind.extend([0, 0]);
        obs.client_message(
            Message {
                tag: b'B',
                len: 0,
                body: &bind,
                offset: 0,
            },
            Instant::now(),
        );
        obs.client_message(
            Message {
                tag: b'E',
                len: 0,
                body: &[0, 0, 0, 0, 0],
                offset: 0,
            },
            Instant::now(),
        );
        for tag in [b'1', b'2'] {
            obs.server_message(
                Message {
                    tag,
                    len: 0,
                    body: &[],
                    offset: 0,
                },
                Instant::now(),
            );
        }
        obs.server_message(
            Message {
                tag: b'C',
                len: 0,
                body: b"SELECT 1\0",
                offset: 0,
            },
            Instant::now(),
        );
        let events: Vec<_> = obs.take_events().map(|o| o.to_owned_event()).collect();
        assert_eq!(events.len(), 1);
        let params = events[0].params.as_deref().unwrap_or_default();
        assert!(params.starts_with("$1 = #"), "{params}");
        assert!(!params.contains("secret"));
    }

    fn bind_rest(values: &[(&[u8], u16)]) -> Vec<u8> {
        let mut rest = (values.len() as u16).to_be_bytes().to_vec();
        for (_, format) in values {
            rest.extend(format.to_be_bytes());
        }
        rest.extend((values.len() as u16).to_be_bytes());
        for (value, _) in values {
            rest.extend((value.len() as i32).to_be_bytes());
            rest.extend(*value);
        }
        rest
    }

    #[test]
    fn arrays_keep_their_length_and_values_their_identity() {
        let mut binary_array = Vec::new();
        for n in [1i32, 0, 23, 3, 1] {
            binary_array.extend(n.to_be_bytes());
        }
        for id in [7i32, 8, 9] {
            binary_array.extend(4i32.to_be_bytes());
            binary_array.extend(id.to_be_bytes());
        }
        let rest = bind_rest(&[
            (b"{1,\"a,b\",3}", 0),
            (&binary_array, 1),
            (&[0, 0, 0, 42], 1),
        ]);
        let shown = render_params(&rest, true).unwrap_or_default();
        assert_eq!(
            shown,
            "$1 = {1,\"a,b\",3}, $2 = {\\x00000007,\\x00000008,\\x00000009}, $3 = \\x0000002a"
        );
        let hidden = render_params(&rest, false).unwrap_or_default();
        assert_eq!(hidden.matches('#').count(), 7, "{hidden}");
        assert!(hidden.contains("$2 = {#"));
        assert_eq!(
            render_params(&rest, false),
            Some(hidden),
            "digests are stable"
        );
        let other = bind_rest(&[(b"{1,2,4}", 0), (&binary_array, 1), (&[0, 0, 0, 43], 1)]);
        assert_ne!(render_params(&other, false), render_params(&rest, false));
    }

    /// pgjdbc and psycopg 3 send integer keys in binary and declare their type in Parse:
    /// captured, they read as the numbers PostgreSQL prints, so the plan check can use them.
    #[test]
    fn binary_values_of_declared_types_are_captured_as_text() {
        let mut h = Harness::new();
        let mut parse = cs("s1");
        parse.extend(cs(
            "SELECT * FROM authors WHERE id = $1 AND name <> $2 AND at < $3",
        ));
        parse.extend(3u16.to_be_bytes());
        for oid in [20u32, 25, 1114] {
            parse.extend(oid.to_be_bytes());
        }
        h.client(b'P', &parse);
        let mut bind = cs("");
        bind.extend(cs("s1"));
        bind.extend(bind_rest(&[
            (&42i64.to_be_bytes(), 1),
            (b"O'Brien", 1),
            (&7i64.to_be_bytes(), 1),
        ]));
        bind.extend([0, 0]);
        h.client(b'B', &bind);
        h.execute_unnamed_and_sync();
        let events = h.events();
        assert_eq!(
            events[0].params.as_deref(),
            Some("$1 = '42', $2 = 'O''Brien', $3 = \\x0000000000000007"),
            "a timestamp is not read as a number"
        );
    }

    /// tokio-postgres leaves the types to the server and learns them from the statement's
    /// ParameterDescription: so does the proxy.
    #[test]
    fn types_left_to_the_server_are_read_from_its_parameter_description() {
        let mut h = Harness::new();
        h.parse("s7", "SELECT name FROM authors WHERE id = $1");
        let mut describe = vec![b'S'];
        describe.extend(cs("s7"));
        h.client(b'D', &describe);
        h.client(b'S', b"");
        h.server(b'1', b"");
        let mut types = 1u16.to_be_bytes().to_vec();
        types.extend(23u32.to_be_bytes());
        h.server(b't', &types);
        h.server(b'T', b"");
        h.server(b'Z', b"I");
        let mut bind = cs("");
        bind.extend(cs("s7"));
        bind.extend(bind_rest(&[(&5i32.to_be_bytes(), 1)]));
        bind.extend([0, 0]);
        h.client(b'B', &bind);
        h.execute("", 0);
        h.client(b'S', b"");
        h.server(b'2', b"");
        h.server(b'C', &cs("SELECT 0"));
        h.server(b'Z', b"I");
        let events = h.events();
        assert_eq!(events[0].params.as_deref(), Some("$1 = '5'"));
        assert_eq!(h.obs.mismatches, 0);
    }

    #[test]
    fn helpers_survive_garbage() {
        assert_eq!(command_rows(b"INSERT 0 5\0"), Some(5));
        assert_eq!(command_rows(b"CREATE TABLE\0"), None);
        assert_eq!(command_rows(b"BEGIN\0"), None);
        assert_eq!(command_rows(b""), None);
        assert_eq!(command_rows(b"SELECT 1\0"), Some(1));
        assert_eq!(command_rows(b"SELECT \0"), None);
        assert_eq!(command_rows(b" 5\0"), None);
        assert_eq!(command_rows(b"MERGE 12"), Some(12));
        assert_eq!(error_code(b"SERROR\0C2"), None);
        assert_eq!(render_params(&[0, 1, 0], false), None);
        assert_eq!(
            render_params(&[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff], false).as_deref(),
            Some("$1 = NULL")
        );
    }
}

use crate::location::{InputError, Location};

/// Microseconds since the Unix epoch, UTC.
pub type Timestamp = i64;

/// One executed statement, as a source saw it.
///
/// Borrowed: a source lends the event out of its own buffers for the duration of one
/// [`EventSink::event`] call, so reading a log costs no allocation per statement. A sink
/// that needs anything later copies it (the detection stage keeps only a fingerprint id and
/// a few numbers per statement).
#[derive(Debug, Clone, Copy, Default)]
pub struct QueryEvent<'a> {
    /// Where the record starts in its input.
    pub location: Location,
    /// When the statement started (or was logged, when the source knows no better).
    pub time: Option<Timestamp>,
    /// How long it ran, when the source knows (log durations, proxy timing).
    pub duration_us: Option<u64>,
    /// The connection it ran on: a PostgreSQL backend pid or session id, a MySQL thread id
    /// (made unique by the source when the server reuses ids), a proxy connection id.
    pub session: &'a str,
    pub user: Option<&'a str>,
    pub database: Option<&'a str>,
    pub application: Option<&'a str>,
    /// The statement text as executed, comments (sqlcommenter tags) included. For a named
    /// prepared statement this is the text given at Parse/PREPARE time.
    pub sql: &'a str,
    /// Bind parameter values as the source rendered them (for example
    /// `$1 = '8', $2 = 'x'`), when the statement was executed with parameters.
    /// Never printed unless the user asks with `--show-params`.
    pub params: Option<&'a str>,
    /// The prepared statement's name (`P_0`, `_pg3_0`), when it had one.
    pub prepared_name: Option<&'a str>,
    /// Rows returned or affected, when known.
    pub rows: Option<u64>,
    /// SQLSTATE or error message when the statement failed.
    pub error: Option<&'a str>,
    /// The source knows this statement ran inside an explicit transaction block
    /// (`Some(true)`), outside one (`Some(false)`), or cannot tell (`None`).
    pub in_transaction: Option<bool>,
}

/// Receives what a source produces, in input order.
///
/// Sources push rather than being pulled so that they can lend borrowed views of their
/// buffers (see [`QueryEvent`]) and keep their own parsing state (continuation lines,
/// statements waiting for a `DETAIL` or `duration` line) private.
///
/// Contract:
/// - `event` is called once per executed statement, in the order the input records them.
/// - `malformed` is called for every record the source skipped; the source then carries on
///   with the next record. It never aborts the run.
/// - `warning` is called for a record the source *did* read, with a caveat the user should
///   know (an unknown time zone read as UTC). It is not malformed input: nothing was skipped.
/// - `tick` is called with the input's clock when the source has no event but knows time
///   has passed (the proxy between statements); log sources need not call it.
pub trait EventSink {
    fn event(&mut self, event: &QueryEvent<'_>);
    fn malformed(&mut self, error: InputError);
    fn warning(&mut self, _warning: InputError) {}
    fn tick(&mut self, _now: crate::Timestamp) {}
}

/// Collects events as owned values: for tests and small tools, not for the hot path.
impl EventSink for Vec<OwnedEvent> {
    fn event(&mut self, event: &QueryEvent<'_>) {
        self.push(OwnedEvent::from(event));
    }
    fn malformed(&mut self, _error: InputError) {}
}

/// Everything a source produced, owned: what tests of sources assert on.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    pub events: Vec<OwnedEvent>,
    /// Records skipped as malformed.
    pub errors: Vec<InputError>,
    /// Records read with a caveat.
    pub warnings: Vec<InputError>,
}

impl EventSink for Collected {
    fn event(&mut self, event: &QueryEvent<'_>) {
        self.events.push(OwnedEvent::from(event));
    }
    fn malformed(&mut self, error: InputError) {
        self.errors.push(error);
    }
    fn warning(&mut self, warning: InputError) {
        self.warnings.push(warning);
    }
}

/// An owned copy of a [`QueryEvent`], for tests and for stages that must keep events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnedEvent {
    pub location: Location,
    pub time: Option<Timestamp>,
    pub duration_us: Option<u64>,
    pub session: String,
    pub user: Option<String>,
    pub database: Option<String>,
    pub application: Option<String>,
    pub sql: String,
    pub params: Option<String>,
    pub prepared_name: Option<String>,
    pub rows: Option<u64>,
    pub error: Option<String>,
    pub in_transaction: Option<bool>,
}

impl From<&QueryEvent<'_>> for OwnedEvent {
    fn from(e: &QueryEvent<'_>) -> Self {
        let own = |s: Option<&str>| s.map(str::to_owned);
        OwnedEvent {
            location: e.location,
            time: e.time,
            duration_us: e.duration_us,
            session: e.session.to_owned(),
            user: own(e.user),
            database: own(e.database),
            application: own(e.application),
            sql: e.sql.to_owned(),
            params: own(e.params),
            prepared_name: own(e.prepared_name),
            rows: e.rows,
            error: own(e.error),
            in_transaction: e.in_transaction,
        }
    }
}

impl OwnedEvent {
    pub fn as_event(&self) -> QueryEvent<'_> {
        QueryEvent {
            location: self.location,
            time: self.time,
            duration_us: self.duration_us,
            session: &self.session,
            user: self.user.as_deref(),
            database: self.database.as_deref(),
            application: self.application.as_deref(),
            sql: &self.sql,
            params: self.params.as_deref(),
            prepared_name: self.prepared_name.as_deref(),
            rows: self.rows,
            error: self.error.as_deref(),
            in_transaction: self.in_transaction,
        }
    }
}

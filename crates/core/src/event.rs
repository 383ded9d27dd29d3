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
    /// Bytes of result rows sent to the application, when the source sees them (the proxy
    /// adds up its `DataRow` messages): how wide the rows were, for `over_fetch`.
    pub result_bytes: Option<u64>,
    /// SQLSTATE or error message when the statement failed.
    pub error: Option<&'a str>,
    /// The source knows this statement ran inside an explicit transaction block
    /// (`Some(true)`), outside one (`Some(false)`), or cannot tell (`None`).
    pub in_transaction: Option<bool>,
    /// The request the statement belongs to, when the source knows it from outside the SQL
    /// (`querycomb run`: the test and phase that ran it). Used like a sqlcommenter `route`
    /// tag when the statement carries no tags of its own.
    pub route: Option<&'a str>,
    /// One of its bind values is a value the previous statement on the same connection
    /// returned (the proxy sees both): a step of a dependent chain, like an `INSERT …
    /// RETURNING id` whose id the next row's insert uses, which one batched statement
    /// cannot replace. `false` when the source cannot tell.
    pub uses_previous_result: bool,
    /// How this statement's values link it to other statements of the same client, on any
    /// of its connections, when the source sees both rows and bind values (the proxy).
    pub links: ValueLinks,
    /// The request context the source knows as data (trace sources fill it from span
    /// attributes). Log and proxy sources leave it empty: their context is in sqlcommenter
    /// tags, which the detection stage reads from `sql`.
    pub context: Context<'a>,
}

/// Links by value between the statements of one client, which a source that sees result rows
/// and bind values (the proxy) can draw and a log cannot: a concurrent fan-out's children run
/// on other connections than the parent whose rows they iterate, and two requests running the
/// same loop at once are told apart by whose rows each child's parameters came from.
/// Result ids are unique within one run; both `None` when the source cannot tell.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ValueLinks {
    /// This statement returned several rows, whose values were kept under this id.
    pub result: Option<u64>,
    /// One of its bind values was among the values of that earlier result (the most recent
    /// one of another statement holding one).
    pub parent_result: Option<u64>,
}

/// Where a statement ran, as data: the trace and span it belongs to, the route and service
/// that ran it, the code that issued it. Borrowed and `Copy` like [`QueryEvent`]; all empty
/// by default, so a source that knows none of it pays nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Context<'a> {
    /// W3C trace id, 32 lowercase hex digits. A source that sets it delivers whole traces
    /// and calls [`EventSink::trace_complete`] after each one's last statement.
    pub trace_id: Option<&'a str>,
    /// The statement's own span id, 16 lowercase hex digits.
    pub span_id: Option<&'a str>,
    /// The span that issued it (the handler or resolver span), 16 lowercase hex digits.
    pub parent_span_id: Option<&'a str>,
    /// The request's route (`http.route` of the server span, else the root span's name).
    pub route: Option<&'a str>,
    /// The service that ran the statement (`service.name` of its resource).
    pub service: Option<&'a str>,
    /// The database system it ran on, as the source names it (`db.system.name` /
    /// `db.system`: `postgresql`, `mysql`, `sqlite`, …): the statement is read in that
    /// system's dialect rather than the run's.
    pub db_system: Option<&'a str>,
    pub code: CodeLocation<'a>,
    /// The GraphQL field the statement was resolved for: the field path of the nearest
    /// GraphQL resolver span above the statement's span in its service (`graphql.field.path`
    /// of `@opentelemetry/instrumentation-graphql`), list indices as `*`: `authors.*.books`.
    /// Evidence that a loop ran in GraphQL resolvers; the detection stage keeps it with the
    /// shape's stack tags (under [`crate::RESOLVER_SPAN_TAG`]).
    pub resolver: Option<&'a str>,
    /// The language of the SDK that traced the statement (`telemetry.sdk.language` of its
    /// resource: `nodejs`, `python`, `java`, …). Kept with the resolver (under
    /// [`crate::SDK_LANGUAGE_TAG`]): it names the DataLoader of that language.
    pub language: Option<&'a str>,
    /// What kind of operation the event is: SQL by default; an outgoing HTTP call when a
    /// trace source reports client spans (then `sql` holds `METHOD url-template`).
    pub operation: Operation,
    /// The statement text was cut short by the instrumentation (or by the source's limit).
    pub truncated: bool,
    /// The text has bind placeholders (or literals an instrumentation replaced with `?`)
    /// whose values the source never saw: executions cannot be told apart by their values,
    /// so each counts as its own parameter set (a loop, not an identical repeat).
    pub params_unknown: bool,
}

/// Where in the application's code an operation was issued (`code.*` span attributes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CodeLocation<'a> {
    pub file: Option<&'a str>,
    pub line: Option<u32>,
    pub function: Option<&'a str>,
}

impl CodeLocation<'_> {
    pub fn is_empty(&self) -> bool {
        self.file.is_none() && self.function.is_none()
    }

    /// `file:line in function`, as much of it as is known; `None` when nothing is.
    pub fn display(&self) -> Option<String> {
        let place = match (self.file, self.line) {
            (Some(file), Some(line)) => Some(format!("{file}:{line}")),
            (Some(file), None) => Some(file.to_owned()),
            (None, _) => None,
        };
        match (place, self.function) {
            (Some(place), Some(function)) => Some(format!("{place} in {function}")),
            (Some(place), None) => Some(place),
            (None, Some(function)) => Some(function.to_owned()),
            (None, None) => None,
        }
    }
}

/// The kind of operation an event records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Operation {
    /// A database statement.
    #[default]
    Sql,
    /// An outgoing HTTP request to another service.
    HttpCall,
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
    /// Every statement of the trace `trace_id` (32 hex digits) has been delivered: sources
    /// that assemble whole traces say so, and its unit of work ends here, whatever pauses
    /// it had.
    fn trace_complete(&mut self, _trace_id: &str) {}
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
    pub result_bytes: Option<u64>,
    pub error: Option<String>,
    pub in_transaction: Option<bool>,
    pub route: Option<String>,
    pub uses_previous_result: bool,
    pub links: ValueLinks,
    pub context: OwnedContext,
}

/// An owned copy of a [`Context`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnedContext {
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub parent_span_id: Option<String>,
    pub route: Option<String>,
    pub service: Option<String>,
    pub db_system: Option<String>,
    pub code_file: Option<String>,
    pub code_line: Option<u32>,
    pub code_function: Option<String>,
    pub resolver: Option<String>,
    pub language: Option<String>,
    pub operation: Operation,
    pub truncated: bool,
    pub params_unknown: bool,
}

impl From<&Context<'_>> for OwnedContext {
    fn from(c: &Context<'_>) -> Self {
        let own = |s: Option<&str>| s.map(str::to_owned);
        OwnedContext {
            trace_id: own(c.trace_id),
            span_id: own(c.span_id),
            parent_span_id: own(c.parent_span_id),
            route: own(c.route),
            service: own(c.service),
            db_system: own(c.db_system),
            code_file: own(c.code.file),
            code_line: c.code.line,
            code_function: own(c.code.function),
            resolver: own(c.resolver),
            language: own(c.language),
            operation: c.operation,
            truncated: c.truncated,
            params_unknown: c.params_unknown,
        }
    }
}

impl OwnedContext {
    pub fn as_context(&self) -> Context<'_> {
        Context {
            trace_id: self.trace_id.as_deref(),
            span_id: self.span_id.as_deref(),
            parent_span_id: self.parent_span_id.as_deref(),
            route: self.route.as_deref(),
            service: self.service.as_deref(),
            db_system: self.db_system.as_deref(),
            code: CodeLocation {
                file: self.code_file.as_deref(),
                line: self.code_line,
                function: self.code_function.as_deref(),
            },
            resolver: self.resolver.as_deref(),
            language: self.language.as_deref(),
            operation: self.operation,
            truncated: self.truncated,
            params_unknown: self.params_unknown,
        }
    }
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
            result_bytes: e.result_bytes,
            error: own(e.error),
            in_transaction: e.in_transaction,
            route: own(e.route),
            uses_previous_result: e.uses_previous_result,
            links: e.links,
            context: OwnedContext::from(&e.context),
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
            result_bytes: self.result_bytes,
            error: self.error.as_deref(),
            in_transaction: self.in_transaction,
            route: self.route.as_deref(),
            uses_previous_result: self.uses_previous_result,
            links: self.links,
            context: self.context.as_context(),
        }
    }
}

/// What the detection stage read from one event's SQL in its one scan, handed back to live
/// sources (the proxy's metrics and proof) so that nothing reads the text a second time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scanned<'a> {
    /// The statement's shape; `None` for transaction control and session bookkeeping
    /// (`BEGIN`, `SET`, ...), which are recognised by their first words and never scanned.
    pub fingerprint: Option<u64>,
    /// The unit of work's trace id (hex), from the source or the statement's tags.
    pub trace_id: Option<std::borrow::Cow<'a, str>>,
    /// The route, from the source or the statement's tags (decoded).
    pub route: Option<std::borrow::Cow<'a, str>>,
}

impl Scanned<'_> {
    /// An owned copy, for callers that scanned a temporary event.
    pub fn into_owned(self) -> Scanned<'static> {
        use std::borrow::Cow;
        Scanned {
            fingerprint: self.fingerprint,
            trace_id: self.trace_id.map(|t| Cow::Owned(t.into_owned())),
            route: self.route.map(|r| Cow::Owned(r.into_owned())),
        }
    }
}

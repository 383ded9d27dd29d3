//! Traces from spans that arrive in any order and across records: spans are held per trace
//! until the trace has been quiet for a while (the window), then the whole trace is turned
//! into query events in start order. Bounded: at most `max_spans_per_trace` spans are kept
//! per trace and at most `max_open_traces` traces are held; beyond that the oldest are
//! emitted early, and dropped spans are counted and reported with their trace id.
//!
//! Only the spans detection needs are kept: database client spans, HTTP client spans, and
//! the server and root spans that name the route. Of every other span only its place in the
//! tree is kept (its id, its parent, and a GraphQL resolver's field path), so that each
//! statement can name the resolver it ran under ([`Context::resolver`]).

use std::collections::HashMap;
use std::fmt::Write as _;

use querycomb_core::{
    CodeLocation, Context, EventSink, InputError, Location, Operation, QueryEvent,
};

use crate::model::{Span, SpanKind};
use crate::sqltext::{has_placeholder, http_call, looks_truncated};

/// Bounds of the assembly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssemblyLimits {
    /// A trace quiet for this long (in the clock's units: records for files, milliseconds
    /// for `collect`) is complete.
    pub window: u64,
    pub max_spans_per_trace: usize,
    pub max_open_traces: usize,
}

impl AssemblyLimits {
    /// For files: a trace is complete when 1,000 records went by without one of its spans.
    pub const FILE: AssemblyLimits = AssemblyLimits {
        window: 1_000,
        max_spans_per_trace: 100_000,
        max_open_traces: 50_000,
    };
    /// For live receivers: a trace is complete 10 s after its last span arrived (SDK batch
    /// processors hold spans up to 5 s by default).
    pub const LIVE: AssemblyLimits = AssemblyLimits {
        window: 10_000,
        max_spans_per_trace: 100_000,
        max_open_traces: 50_000,
    };
}

/// Totals of an assembly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AssemblyStats {
    pub spans: u64,
    pub traces: u64,
    /// Query events emitted (database spans with a statement).
    pub events: u64,
    /// Spans not kept because their trace was over the limit.
    pub dropped_spans: u64,
    /// Spans and records reported as malformed.
    pub malformed: u64,
}

/// A span that is not kept, reduced to its place in the tree.
#[derive(Debug)]
struct Link {
    id: u64,
    /// 0 where the walk up stops: a root, or a span that starts another unit of work (a
    /// consumer's).
    parent: u64,
    /// A GraphQL resolver span's field path ([`crate::model::SpanAttrs::resolver`]).
    resolver: Option<Box<str>>,
}

#[derive(Debug)]
struct OpenTrace {
    spans: Vec<Span>,
    /// The other spans' places in the tree, at most `max_spans_per_trace` of them.
    links: Vec<Link>,
    /// A span of the trace is a GraphQL resolver's: the statements' resolvers are looked up.
    resolvers: bool,
    last_seen: u64,
    first_seen: u64,
    /// Earliest span start, to emit traces that arrived together in time order.
    first_start_ns: u64,
    received: u64,
    dropped: u64,
    first_location: Location,
}

/// Holds open traces; see the module docs.
#[derive(Debug)]
pub struct Assembler {
    limits: AssemblyLimits,
    open: HashMap<u128, OpenTrace>,
    clock: u64,
    next_sweep: u64,
    stats: AssemblyStats,
    /// Reused text buffers for an event's ids and parameters.
    ids: String,
    params: String,
}

impl Assembler {
    pub fn new(limits: AssemblyLimits) -> Assembler {
        Assembler {
            limits,
            open: HashMap::new(),
            clock: 0,
            next_sweep: 0,
            stats: AssemblyStats::default(),
            ids: String::new(),
            params: String::new(),
        }
    }

    pub fn stats(&self) -> AssemblyStats {
        self.stats
    }

    pub fn open_traces(&self) -> usize {
        self.open.len()
    }

    /// Spans currently held.
    pub fn held_spans(&self) -> usize {
        self.open.values().map(|t| t.spans.len()).sum()
    }

    /// Counts a malformed record or span that a reader reported itself.
    pub fn count_malformed(&mut self) {
        self.stats.malformed += 1;
    }

    /// Adds one span.
    pub fn push(&mut self, span: Span, sink: &mut dyn EventSink) {
        self.stats.spans += 1;
        let keep = is_kept(&span);
        let clock = self.clock;
        let trace = self.open.entry(span.trace).or_insert_with(|| OpenTrace {
            spans: Vec::new(),
            links: Vec::new(),
            resolvers: false,
            last_seen: clock,
            first_seen: clock,
            first_start_ns: span.start_ns,
            received: 0,
            dropped: 0,
            first_location: span.location,
        });
        trace.received += 1;
        trace.last_seen = clock;
        trace.first_start_ns = trace.first_start_ns.min(span.start_ns);
        trace.resolvers |= span.attrs.resolver.is_some();
        if keep {
            if trace.spans.len() < self.limits.max_spans_per_trace {
                trace.spans.push(span);
            } else {
                trace.dropped += 1;
                self.stats.dropped_spans += 1;
            }
        } else if trace.links.len() < self.limits.max_spans_per_trace {
            // Past the limit a statement's resolver may go unnamed; nothing else is lost.
            trace.links.push(Link {
                id: span.id,
                parent: if starts_unit(span.kind) {
                    0
                } else {
                    span.parent
                },
                resolver: span.attrs.resolver.map(String::into_boxed_str),
            });
        }
        if self.open.len() > self.limits.max_open_traces {
            self.evict_oldest(sink);
        }
    }

    /// Moves the clock; now and then emits every trace quiet for longer than the window.
    pub fn advance(&mut self, now: u64, sink: &mut dyn EventSink) {
        self.clock = self.clock.max(now);
        if self.clock < self.next_sweep {
            return;
        }
        self.next_sweep = self.clock + (self.limits.window / 4).max(1);
        let horizon = self.clock.saturating_sub(self.limits.window);
        let mut quiet: Vec<(u64, u64, u128)> = self
            .open
            .iter()
            .filter(|(_, t)| t.last_seen < horizon)
            .map(|(id, t)| (t.first_seen, t.first_start_ns, *id))
            .collect();
        quiet.sort_unstable();
        for (_, _, id) in quiet {
            self.emit(id, sink);
        }
    }

    /// Emits every open trace, oldest first (end of input, shutdown).
    pub fn finish(&mut self, sink: &mut dyn EventSink) {
        let mut all: Vec<(u64, u64, u128)> = self
            .open
            .iter()
            .map(|(id, t)| (t.first_seen, t.first_start_ns, *id))
            .collect();
        all.sort_unstable();
        for (_, _, id) in all {
            self.emit(id, sink);
        }
    }

    /// Too many open traces: the oldest tenth goes out now.
    fn evict_oldest(&mut self, sink: &mut dyn EventSink) {
        let mut by_age: Vec<(u64, u128)> =
            self.open.iter().map(|(id, t)| (t.last_seen, *id)).collect();
        by_age.sort_unstable();
        let count = (by_age.len() / 10).max(1);
        for (_, id) in by_age.into_iter().take(count) {
            self.emit(id, sink);
        }
    }

    fn emit(&mut self, id: u128, sink: &mut dyn EventSink) {
        let Some(mut trace) = self.open.remove(&id) else {
            return;
        };
        self.stats.traces += 1;
        if trace.dropped > 0 {
            self.stats.malformed += 1;
            sink.malformed(InputError {
                location: trace.first_location,
                message: format!(
                    "trace {id:032x}: {} spans over the limit of {} kept per trace were dropped \
                     ({} received); the trace was analysed with the first {}",
                    trace.dropped,
                    self.limits.max_spans_per_trace,
                    trace.received,
                    self.limits.max_spans_per_trace
                ),
            });
        }
        // Ties on start are common (the JS SDK records starts to the millisecond): the span
        // that ended first goes first, so a quick parent query stays ahead of its children.
        trace.spans.sort_by_key(|s| (s.start_ns, s.end_ns, s.id));
        let route = route_of(&trace.spans).map(str::to_owned);
        let tree = trace
            .resolvers
            .then(|| Tree::new(&trace.spans, &trace.links));
        let mut trace_hex = String::with_capacity(32);
        let _ = write!(trace_hex, "{id:032x}");
        for span in &trace.spans {
            let issued_by_app = !matches!(
                span.kind,
                SpanKind::Server | SpanKind::Producer | SpanKind::Consumer
            );
            if !issued_by_app {
                continue;
            }
            let resolver = tree.as_ref().and_then(|t| t.resolver_above(span));
            if span.attrs.is_db() {
                self.emit_db_span(span, &trace_hex, route.as_deref(), resolver, sink);
            } else if span.kind == SpanKind::Client {
                self.emit_http_call(span, &trace_hex, route.as_deref(), resolver, sink);
            }
        }
        sink.trace_complete(&trace_hex);
    }

    fn emit_db_span(
        &mut self,
        span: &Span,
        trace_hex: &str,
        route: Option<&str>,
        resolver: Option<&str>,
        sink: &mut dyn EventSink,
    ) {
        let Some(sql) = span
            .attrs
            .statement
            .as_deref()
            .filter(|s| !s.trim().is_empty())
        else {
            if !is_connect(&span.name) {
                self.stats.malformed += 1;
                sink.malformed(InputError {
                    location: span.location,
                    message: format!(
                        "span {:016x} of trace {trace_hex}: database span `{}` has no query \
                         text (db.query.text / db.statement); skipped",
                        span.id, span.name
                    ),
                });
            }
            return;
        };
        self.ids.clear();
        let _ = write!(self.ids, "{:016x}{:016x}", span.id, span.parent);
        self.params.clear();
        for (i, (name, value)) in span.attrs.params.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            let _ = write!(self.params, "{sep}{name} = '{value}'");
        }
        let (span_id, parent_id) = self.ids.split_at(16);
        let attrs = &span.attrs;
        let event = QueryEvent {
            location: span.location,
            time: i64::try_from(span.start_ns / 1000).ok(),
            duration_us: Some(span.end_ns.saturating_sub(span.start_ns) / 1000),
            session: &span.service,
            sql,
            params: (!attrs.params.is_empty()).then_some(self.params.as_str()),
            rows: attrs.rows,
            context: Context {
                trace_id: Some(trace_hex),
                span_id: Some(span_id),
                parent_span_id: (span.parent != 0).then_some(parent_id),
                route,
                service: Some(&span.service),
                db_system: attrs.db_system.as_deref(),
                code: CodeLocation {
                    file: attrs.code_file.as_deref(),
                    line: attrs.code_line,
                    function: attrs.code_function.as_deref(),
                },
                resolver,
                language: span.attrs.language.as_deref(),
                operation: Operation::Sql,
                truncated: looks_truncated(sql),
                params_unknown: attrs.params.is_empty() && has_placeholder(sql),
            },
            ..QueryEvent::default()
        };
        self.stats.events += 1;
        sink.event(&event);
    }
}

impl Assembler {
    /// An HTTP client span as an [`Operation::HttpCall`] event (see [`http_call`]).
    fn emit_http_call(
        &mut self,
        span: &Span,
        trace_hex: &str,
        route: Option<&str>,
        resolver: Option<&str>,
        sink: &mut dyn EventSink,
    ) {
        let attrs = &span.attrs;
        let (Some(method), Some(url)) = (attrs.http_method.as_deref(), attrs.url.as_deref()) else {
            return;
        };
        let (text, values) = http_call(method, url, attrs.url_is_template());
        self.ids.clear();
        let _ = write!(self.ids, "{:016x}{:016x}", span.id, span.parent);
        let (span_id, parent_id) = self.ids.split_at(16);
        let event = QueryEvent {
            location: span.location,
            time: i64::try_from(span.start_ns / 1000).ok(),
            duration_us: Some(span.end_ns.saturating_sub(span.start_ns) / 1000),
            session: &span.service,
            sql: &text,
            params: (!values.is_empty()).then_some(values.as_str()),
            context: Context {
                trace_id: Some(trace_hex),
                span_id: Some(span_id),
                parent_span_id: (span.parent != 0).then_some(parent_id),
                route,
                service: Some(&span.service),
                db_system: None,
                code: CodeLocation {
                    file: attrs.code_file.as_deref(),
                    line: attrs.code_line,
                    function: attrs.code_function.as_deref(),
                },
                resolver,
                language: span.attrs.language.as_deref(),
                operation: Operation::HttpCall,
                truncated: false,
                params_unknown: values.is_empty(),
            },
            ..QueryEvent::default()
        };
        self.stats.events += 1;
        sink.event(&event);
    }
}

/// The spans of one trace by id, to walk up from a statement to the resolver it ran under.
struct Tree<'a> {
    /// Span id → (parent, 0 where the walk stops; resolver field path).
    up: HashMap<u64, (u64, Option<&'a str>)>,
}

impl<'a> Tree<'a> {
    fn new(spans: &'a [Span], links: &'a [Link]) -> Tree<'a> {
        let kept = spans.iter().map(|s| {
            let parent = if starts_unit(s.kind) { 0 } else { s.parent };
            (s.id, (parent, s.attrs.resolver.as_deref()))
        });
        let others = links
            .iter()
            .map(|l| (l.id, (l.parent, l.resolver.as_deref())));
        Tree {
            up: kept.chain(others).collect(),
        }
    }

    /// The field path of the nearest GraphQL resolver span above `span`, within the unit of
    /// work that issued it: the walk stops at a server or consumer span (another service's
    /// resolver is not where this statement's loop is), at a span it does not have, and
    /// after as many steps as there are spans (a cycle in damaged input).
    fn resolver_above(&self, span: &Span) -> Option<&'a str> {
        let mut id = span.parent;
        for _ in 0..self.up.len() {
            let &(parent, resolver) = self.up.get(&id)?;
            if resolver.is_some() {
                return resolver;
            }
            if parent == 0 {
                return None;
            }
            id = parent;
        }
        None
    }
}

/// A span that starts a unit of work of its own: a service's request, a message's handling.
fn starts_unit(kind: SpanKind) -> bool {
    matches!(kind, SpanKind::Server | SpanKind::Consumer)
}

/// Database and HTTP client spans, and spans that may name the route.
fn is_kept(span: &Span) -> bool {
    span.attrs.is_db()
        || span.kind == SpanKind::Server
        || span.parent == 0
        || (span.kind == SpanKind::Client && span.attrs.http_method.is_some())
}

/// `http.route` of the outermost server span that has one, else the root span's name.
fn route_of(spans: &[Span]) -> Option<&str> {
    let server = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Server)
        .filter_map(|s| Some((s.parent != 0, s.start_ns, s.attrs.route.as_deref()?)))
        .min()
        .map(|(_, _, route)| route);
    server.or_else(|| {
        spans
            .iter()
            .find(|s| s.parent == 0 && !s.attrs.is_db())
            .map(|s| s.name.as_str())
    })
}

/// Connection spans (`connect`, `pg.connect`) carry no statement by design.
fn is_connect(name: &str) -> bool {
    name == "connect" || name.ends_with(".connect") || name.starts_with("pg-pool.")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use querycomb_core::Collected;

    use super::*;
    use crate::model::{SpanAttrs, Value};

    const TRACE: u128 = 0x4bf9_2f35_77b3_4da6_a3ce_9290_36e0_e473;

    fn span(id: u64, parent: u64, kind: SpanKind, attrs: &[(&str, &str)]) -> Span {
        let mut a = SpanAttrs::default();
        for (key, value) in attrs {
            a.note(key, Value::Str(value));
        }
        Span {
            trace: TRACE,
            id,
            parent,
            kind,
            name: format!("span {id}"),
            start_ns: id * 1_000_000,
            end_ns: id * 1_000_000 + 500_000,
            service: Arc::from("shop-api"),
            attrs: a,
            location: Location::default(),
        }
    }

    fn db(id: u64, parent: u64, sql: &str) -> Span {
        span(
            id,
            parent,
            SpanKind::Client,
            &[("db.system.name", "postgresql"), ("db.query.text", sql)],
        )
    }

    /// Each statement names the nearest resolver span above it, through spans that are not
    /// kept, whatever order the spans arrive in; none when no resolver is above it within
    /// its own unit of work.
    #[test]
    fn a_statement_names_the_nearest_resolver_above_it() {
        let resolver = |id, parent, path| {
            span(
                id,
                parent,
                SpanKind::Internal,
                &[("graphql.field.name", "x"), ("graphql.field.path", path)],
            )
        };
        let spans = [
            db(7, 5, "SELECT id, title FROM books WHERE author_id = $1"),
            db(8, 3, "SELECT id, name FROM authors"),
            db(9, 2, "SELECT count(*) FROM sessions"),
            // Another service called from the resolver: its own server span ends the walk.
            db(12, 11, "SELECT name FROM publishers WHERE id = $1"),
            span(
                11,
                4,
                SpanKind::Server,
                &[("http.route", "/publishers/:id")],
            ),
            // A statement under a cycle of damaged parents.
            db(15, 13, "SELECT 1"),
            span(13, 14, SpanKind::Internal, &[]),
            span(14, 13, SpanKind::Internal, &[]),
            // A repository span between the resolver and the statement.
            span(5, 4, SpanKind::Internal, &[]),
            resolver(4, 3, "authors.3.books"),
            resolver(3, 10, "authors"),
            span(
                10,
                2,
                SpanKind::Internal,
                &[("graphql.operation.name", "Q")],
            ),
            span(2, 1, SpanKind::Internal, &[]),
            span(1, 0, SpanKind::Server, &[("http.route", "/api")]),
        ];
        let mut assembler = Assembler::new(AssemblyLimits::FILE);
        let mut sink = Collected::default();
        for s in spans {
            assembler.push(s, &mut sink);
        }
        assembler.finish(&mut sink);
        let resolvers: Vec<(&str, Option<&str>)> = sink
            .events
            .iter()
            .map(|e| (e.sql.as_str(), e.context.resolver.as_deref()))
            .collect();
        assert_eq!(
            resolvers,
            [
                (
                    "SELECT id, title FROM books WHERE author_id = $1",
                    Some("authors.*.books")
                ),
                ("SELECT id, name FROM authors", Some("authors")),
                ("SELECT count(*) FROM sessions", None),
                ("SELECT name FROM publishers WHERE id = $1", None),
                ("SELECT 1", None),
            ]
        );
        assert!(sink.errors.is_empty(), "{:?}", sink.errors);
    }
}

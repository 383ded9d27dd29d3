//! The tracing layer: request spans open and close units of work; sqlx's statement events
//! become statements of the outermost request span around them.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::guard::{Guard, RequestMark, Tally};
use crate::sqlx_event::{SqlxStatement, OWN_TARGET, SQLX_TARGET};

/// Request spans nested deeper than this inside each other count statements only for the
/// outermost ones (a handle of a deeper one sees none).
const MAX_NESTED_HANDLES: usize = 4;

/// Feeds a [`Guard`]; from [`Guard::layer`].
pub struct GuardLayer {
    guard: Guard,
}

impl GuardLayer {
    pub(crate) fn new(guard: Guard) -> Self {
        GuardLayer { guard }
    }
}

thread_local! {
    /// The statement text of the event being read: sqlx lends it one field at a time.
    static SQL_BUFFER: RefCell<String> = const { RefCell::new(String::new()) };
}

impl<S> Layer<S> for GuardLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let inner = &self.guard.inner;
        if !inner.is_request_span(attrs.metadata().name()) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let outermost = !span
            .scope()
            .skip(1)
            .any(|ancestor| ancestor.extensions().get::<RequestMark>().is_some());
        let mut fields = SpanFields::new(&inner.route_fields);
        attrs.record(&mut fields);
        let token = fields.token;
        let method = fields.method.clone();
        let mark = inner.open_request(outermost, fields.route(), token);
        let mut extensions = span.extensions_mut();
        extensions.insert(mark);
        if let Some(method) = method {
            // For a route recorded later (`span.record("http.route", …)`).
            extensions.insert(SpanMethod(method));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = SpanFields::new(&self.guard.inner.route_fields);
        let key = {
            let extensions = span.extensions();
            let Some(key) = extensions.get::<RequestMark>().and_then(|m| m.unit) else {
                return;
            };
            fields.method = extensions.get::<SpanMethod>().map(|m| m.0.clone());
            key
        };
        values.record(&mut fields);
        if let Some(route) = fields.route() {
            self.guard.inner.set_route(key, route);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let target = event.metadata().target();
        if target != SQLX_TARGET && target != OWN_TARGET {
            return;
        }
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        // The outermost request span is the unit; every request span's handle counts.
        let mut unit = None;
        let mut tallies: [Option<Arc<Tally>>; MAX_NESTED_HANDLES] = Default::default();
        let mut handles = 0;
        for span in scope {
            let extensions = span.extensions();
            let Some(mark) = extensions.get::<RequestMark>() else {
                continue;
            };
            if mark.unit.is_some() {
                unit = mark.unit;
            }
            if let (Some(tally), Some(slot)) = (&mark.tally, tallies.get_mut(handles)) {
                *slot = Some(Arc::clone(tally));
                handles += 1;
            }
        }
        let Some(key) = unit else { return };
        let counted = SQL_BUFFER.with(|buffer| {
            let Ok(mut buffer) = buffer.try_borrow_mut() else {
                return false;
            };
            let mut statement = SqlxStatement::new(&mut buffer);
            event.record(&mut statement);
            if statement.sql().is_empty() {
                return false;
            }
            self.guard.inner.statement(key, &statement)
        });
        if counted {
            for tally in tallies.iter().flatten() {
                tally.statements.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let key = span.extensions().get::<RequestMark>().and_then(|m| m.unit);
        if let Some(key) = key {
            self.guard.inner.finish_request(key);
        }
    }
}

/// The method field of a request span, kept for a route recorded after the span was made.
struct SpanMethod(String);

/// The fields of a request span the guard uses: its route and, for its own spans, the
/// token of the handle waiting for it.
struct SpanFields<'a> {
    extra_route_fields: &'a [String],
    extra: Option<String>,
    route: Option<String>,
    http_route: Option<String>,
    otel_name: Option<String>,
    method: Option<String>,
    uri_path: Option<String>,
    token: Option<u64>,
}

impl<'a> SpanFields<'a> {
    fn new(extra_route_fields: &'a [String]) -> Self {
        SpanFields {
            extra_route_fields,
            extra: None,
            route: None,
            http_route: None,
            otel_name: None,
            method: None,
            uri_path: None,
            token: None,
        }
    }

    /// The route, best field first.
    fn route(self) -> Option<String> {
        let method = self.method;
        let with_method = |path: String| match &method {
            Some(method) => format!("{method} {path}"),
            None => path,
        };
        self.extra
            .or(self.route)
            .or_else(|| self.http_route.map(with_method))
            .or(self.otel_name)
            .or_else(|| self.uri_path.map(with_method))
    }

    fn put(&mut self, name: &str, value: String) {
        if self.extra.is_none() && self.extra_route_fields.iter().any(|f| f == name) {
            self.extra = Some(value);
            return;
        }
        match name {
            "route" => self.route = Some(value),
            "http.route" => self.http_route = Some(value),
            "otel.name" => self.otel_name = Some(value),
            "method" | "http.method" | "http.request.method" => self.method = Some(value),
            "uri" | "url.path" | "http.target" => {
                // The path only: a query string would make every request its own route.
                let path = value.split(['?', '#']).next().unwrap_or_default();
                let path = match path.find("://") {
                    Some(scheme) => path
                        .get(scheme + 3..)
                        .and_then(|rest| rest.find('/').and_then(|slash| rest.get(slash..)))
                        .unwrap_or("/"),
                    None => path,
                };
                self.uri_path = Some(path.to_owned());
            }
            _ => {}
        }
    }

    fn wanted(&self, name: &str) -> bool {
        matches!(
            name,
            "route"
                | "http.route"
                | "otel.name"
                | "method"
                | "http.method"
                | "http.request.method"
                | "uri"
                | "url.path"
                | "http.target"
        ) || self.extra_route_fields.iter().any(|f| f == name)
    }
}

impl Visit for SpanFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.wanted(field.name()) {
            self.put(field.name(), value.to_owned());
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "querycomb.token" {
            self.token = Some(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if self.wanted(field.name()) {
            let mut text = String::new();
            let _ = write!(text, "{value:?}");
            self.put(field.name(), text);
        }
    }
}

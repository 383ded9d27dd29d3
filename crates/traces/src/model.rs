//! One span as every trace format is read into: ids as numbers, the attributes querycomb
//! needs (both generations of the database semantic conventions, HTTP, `code.*`, a GraphQL
//! resolver's field path), nothing else. Each reader turns its own encoding's attributes into calls of [`SpanAttrs::note`],
//! so what an attribute means is decided in this one place.

use std::sync::Arc;

use querycomb_core::Location;

/// What the span represents, from OTLP's `SpanKind` (Jaeger and Zipkin spell it out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpanKind {
    #[default]
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    /// OTLP's numbering (`SPAN_KIND_SERVER = 2`, `SPAN_KIND_CLIENT = 3`).
    pub fn from_otlp(n: i64) -> SpanKind {
        match n {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }

    /// Jaeger's `span.kind` tag and Zipkin's `kind`, in any case.
    pub fn from_name(name: &str) -> SpanKind {
        match name.to_ascii_lowercase().as_str() {
            "server" => SpanKind::Server,
            "client" => SpanKind::Client,
            "producer" => SpanKind::Producer,
            "consumer" => SpanKind::Consumer,
            "internal" => SpanKind::Internal,
            _ => SpanKind::Unspecified,
        }
    }
}

/// An attribute value as the readers hand it over.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Str(&'a str),
    Int(i64),
    Other,
}

impl Value<'_> {
    fn text(self) -> Option<String> {
        match self {
            Value::Str(s) => Some(s.to_owned()),
            Value::Int(n) => Some(n.to_string()),
            Value::Other => None,
        }
    }

    fn int(self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(n),
            Value::Str(s) => s.trim().parse().ok(),
            Value::Other => None,
        }
    }
}

/// The attributes querycomb reads. Newer keys win over the deprecated ones they replace,
/// whatever order they arrive in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpanAttrs {
    /// `db.system.name` / `db.system`: present on every database client span.
    pub db_system: Option<String>,
    /// `db.query.text` / `db.statement`.
    pub statement: Option<String>,
    statement_is_new: bool,
    /// `db.operation.name` / `db.operation`.
    pub operation: Option<String>,
    /// `db.collection.name` / `db.sql.table`.
    pub table: Option<String>,
    /// `db.response.returned_rows`.
    pub rows: Option<u64>,
    /// `db.query.parameter.<key>` values, in arrival order.
    pub params: Vec<(String, String)>,
    /// `http.route` of a server span.
    pub route: Option<String>,
    /// `http.request.method` / `http.method`.
    pub http_method: Option<String>,
    /// `url.template`, else `url.full` / `http.url`.
    pub url: Option<String>,
    url_is_template: bool,
    /// `code.file.path` / `code.filepath`, `code.line.number` / `code.lineno`,
    /// `code.function.name` / `code.function`.
    pub code_file: Option<String>,
    pub code_line: Option<u32>,
    pub code_function: Option<String>,
    /// `graphql.field.path` of a GraphQL resolver span (`@opentelemetry/instrumentation-graphql`
    /// names the span `graphql.resolve authors.0.books`), list indices as `*`:
    /// `authors.*.books`. Only the path: never the span's `graphql.source`.
    pub resolver: Option<String>,
    /// `telemetry.sdk.language`: a resource attribute (OTLP resources, Jaeger process tags),
    /// or a span tag where an exporter copies the resource's attributes into each span's
    /// (Zipkin): `nodejs`, `python`, `java`, …
    pub language: Option<String>,
}

impl SpanAttrs {
    /// Reads one span attribute; unknown keys are ignored.
    pub fn note(&mut self, key: &str, value: Value<'_>) {
        match key {
            "db.system.name" => self.db_system = value.text(),
            "db.system" => keep_first(&mut self.db_system, value),
            "db.query.text" => {
                self.statement = value.text();
                self.statement_is_new = true;
            }
            "db.statement" if !self.statement_is_new => self.statement = value.text(),
            "db.operation.name" => self.operation = value.text(),
            "db.operation" => keep_first(&mut self.operation, value),
            "db.collection.name" => self.table = value.text(),
            "db.sql.table" => keep_first(&mut self.table, value),
            "db.response.returned_rows" => {
                self.rows = value.int().and_then(|n| u64::try_from(n).ok());
            }
            "http.route" => self.route = value.text(),
            "http.request.method" => self.http_method = value.text(),
            "http.method" => keep_first(&mut self.http_method, value),
            "url.template" => {
                self.url = value.text();
                self.url_is_template = true;
            }
            "url.full" | "http.url" if !self.url_is_template => keep_first(&mut self.url, value),
            "code.file.path" => self.code_file = value.text(),
            "code.filepath" => keep_first(&mut self.code_file, value),
            "code.line.number" | "code.lineno" => {
                self.code_line = value.int().and_then(|n| u32::try_from(n).ok());
            }
            "code.function.name" => self.code_function = value.text(),
            "code.function" => keep_first(&mut self.code_function, value),
            querycomb_core::SDK_LANGUAGE_TAG => self.language = value.text(),
            "graphql.field.path" => {
                if let Value::Str(path) = value {
                    self.resolver = Some(field_path(path));
                }
            }
            _ => {
                if let Some(name) = key.strip_prefix("db.query.parameter.") {
                    if let Some(text) = value.text() {
                        self.params.push((name.to_owned(), text));
                    }
                }
            }
        }
    }

    /// The URL is `url.template` (ids already replaced), not the full URL.
    pub fn url_is_template(&self) -> bool {
        self.url_is_template
    }

    pub fn is_db(&self) -> bool {
        self.db_system.is_some() || self.statement.is_some()
    }
}

/// A resolver's field path with its list indices as `*` (`authors.0.books` →
/// `authors.*.books`): every item's resolver is the same field.
fn field_path(path: &str) -> String {
    path.split('.')
        .map(|key| {
            if !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit()) {
                "*"
            } else {
                key
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// A resource's `telemetry.sdk.language`, read from its attributes as a span's would be.
pub fn resource_language<'a>(
    attributes: impl IntoIterator<Item = (&'a str, Value<'a>)>,
) -> Option<String> {
    let mut resource = SpanAttrs::default();
    for (key, value) in attributes {
        if key == querycomb_core::SDK_LANGUAGE_TAG {
            resource.note(key, value);
        }
    }
    resource.language
}

fn keep_first(slot: &mut Option<String>, value: Value<'_>) {
    if slot.is_none() {
        *slot = value.text();
    }
}

/// One span, reduced to what detection needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub trace: u128,
    pub id: u64,
    /// 0 for a root span.
    pub parent: u64,
    pub kind: SpanKind,
    pub name: String,
    pub start_ns: u64,
    pub end_ns: u64,
    /// `service.name` of the span's resource (Jaeger: process; Zipkin: local endpoint).
    pub service: Arc<str>,
    pub attrs: SpanAttrs,
    /// Where the record holding the span starts in its input.
    pub location: Location,
}

/// A hex id of exactly `digits` digits (`traceId` 32, `spanId` 16), or why not. Empty is
/// `Ok(0)`: no parent.
pub fn parse_hex_id(text: &str, digits: usize) -> Result<u128, String> {
    if text.is_empty() {
        return Ok(0);
    }
    if text.len() != digits {
        return Err(format!(
            "{} hex digits where {digits} were expected",
            text.len()
        ));
    }
    u128::from_str_radix(text, 16).map_err(|_| "not hexadecimal".to_owned())
}

/// A binary id (OTLP protobuf: 16 or 8 bytes, empty for no parent), or why not.
pub fn parse_binary_id(bytes: &[u8], len: usize) -> Result<u128, String> {
    if bytes.is_empty() {
        return Ok(0);
    }
    if bytes.len() != len {
        return Err(format!("{} bytes where {len} were expected", bytes.len()));
    }
    Ok(bytes
        .iter()
        .fold(0u128, |acc, b| (acc << 8) | u128::from(*b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_semconv_keys_win_in_any_order() {
        let mut a = SpanAttrs::default();
        a.note("db.query.text", Value::Str("SELECT 2"));
        a.note("db.statement", Value::Str("SELECT 1"));
        a.note("db.system", Value::Str("postgresql"));
        a.note("db.system.name", Value::Str("mysql"));
        a.note("code.lineno", Value::Str("12"));
        a.note("db.query.parameter.id", Value::Int(7));
        assert_eq!(a.statement.as_deref(), Some("SELECT 2"));
        assert_eq!(a.db_system.as_deref(), Some("mysql"));
        assert_eq!(a.code_line, Some(12));
        assert_eq!(a.params, vec![("id".to_owned(), "7".to_owned())]);
        let mut b = SpanAttrs::default();
        b.note("db.statement", Value::Str("SELECT 1"));
        assert_eq!(b.statement.as_deref(), Some("SELECT 1"));
    }

    #[test]
    fn a_resolver_span_is_known_by_its_field_path() {
        let mut a = SpanAttrs::default();
        a.note("graphql.field.name", Value::Str("books"));
        a.note("graphql.field.path", Value::Str("authors.10.books"));
        a.note("graphql.source", Value::Str(" books(first: 3) { title }"));
        assert_eq!(a.resolver.as_deref(), Some("authors.*.books"));
        assert!(!a.is_db());
        let mut merged = SpanAttrs::default();
        merged.note("graphql.field.path", Value::Str("authors.*.books.*.title"));
        assert_eq!(merged.resolver.as_deref(), Some("authors.*.books.*.title"));
    }

    #[test]
    fn the_sdk_language_is_read_from_a_resource_or_a_span() {
        let resource = [
            ("service.name", Value::Str("shop-api")),
            ("telemetry.sdk.language", Value::Str("nodejs")),
        ];
        assert_eq!(resource_language(resource).as_deref(), Some("nodejs"));
        assert_eq!(resource_language([("service.name", Value::Str("x"))]), None);
        let mut zipkin = SpanAttrs::default();
        zipkin.note("telemetry.sdk.language", Value::Str("python"));
        assert_eq!(zipkin.language.as_deref(), Some("python"));
    }

    #[test]
    fn ids_of_the_wrong_length_are_refused() {
        assert_eq!(parse_hex_id("", 16), Ok(0));
        assert_eq!(parse_hex_id("00000000000000ff", 16), Ok(255));
        assert!(parse_hex_id("ff", 16).unwrap_err().contains("2 hex digits"));
        assert!(parse_hex_id("zz00000000000000", 16).is_err());
        assert_eq!(parse_binary_id(&[0, 1], 2), Ok(1));
        assert!(parse_binary_id(&[1], 8).is_err());
    }
}

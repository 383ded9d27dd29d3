//! OTLP trace requests (`ExportTraceServiceRequest` / `TracesData`, the same message), in
//! both encodings: JSON as the OTLP spec writes it (hex ids, 64-bit integers as strings,
//! lowerCamelCase keys, unknown fields ignored) and binary protobuf. Both become
//! [`Span`]s through one attribute reader ([`crate::model::SpanAttrs::note`]).

use std::sync::Arc;

use querycomb_core::{EventSink, InputError, Location};
use serde::Deserialize;

use crate::assemble::Assembler;
use crate::model::{
    parse_binary_id, parse_hex_id, resource_language, Span, SpanAttrs, SpanKind, Value,
};

/// What a service without `service.name` is called (the SDKs' own default).
const UNKNOWN_SERVICE: &str = "unknown_service";

// ---- JSON -------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonRequest {
    #[serde(default)]
    resource_spans: Vec<JsonResourceSpans>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonResourceSpans {
    #[serde(default)]
    resource: JsonResource,
    #[serde(default, alias = "instrumentationLibrarySpans")]
    scope_spans: Vec<JsonScopeSpans>,
}

#[derive(Debug, Default, Deserialize)]
struct JsonResource {
    #[serde(default)]
    attributes: Vec<JsonKeyValue>,
}

#[derive(Debug, Default, Deserialize)]
struct JsonScopeSpans {
    #[serde(default)]
    spans: Vec<JsonSpan>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonSpan {
    #[serde(default)]
    trace_id: String,
    #[serde(default)]
    span_id: String,
    #[serde(default)]
    parent_span_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: Option<Number>,
    #[serde(default)]
    start_time_unix_nano: Option<Number>,
    #[serde(default)]
    end_time_unix_nano: Option<Number>,
    #[serde(default)]
    attributes: Vec<JsonKeyValue>,
}

#[derive(Debug, Default, Deserialize)]
struct JsonKeyValue {
    key: String,
    #[serde(default)]
    value: JsonAnyValue,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonAnyValue {
    string_value: Option<String>,
    int_value: Option<Number>,
}

/// OTLP/JSON writes 64-bit integers as strings, and readers must accept numbers too.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Number {
    Int(i64),
    Uint(u64),
    Text(String),
    Float(f64),
}

impl Number {
    fn as_u64(&self) -> u64 {
        match self {
            Number::Int(n) => u64::try_from(*n).unwrap_or(0),
            Number::Uint(n) => *n,
            Number::Text(s) => s.trim().parse().unwrap_or(0),
            Number::Float(f) => *f as u64,
        }
    }

    fn as_i64(&self) -> i64 {
        match self {
            Number::Int(n) => *n,
            Number::Uint(n) => i64::try_from(*n).unwrap_or(i64::MAX),
            Number::Text(s) => s.trim().parse().unwrap_or(0),
            Number::Float(f) => *f as i64,
        }
    }
}

impl JsonAnyValue {
    fn value(&self) -> Value<'_> {
        match (&self.string_value, &self.int_value) {
            (Some(s), _) => Value::Str(s),
            (None, Some(n)) => Value::Int(n.as_i64()),
            (None, None) => Value::Other,
        }
    }
}

/// Parses one OTLP/JSON request.
pub fn parse_json(bytes: &[u8]) -> Result<JsonRequest, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("not an OTLP/JSON trace request: {e}"))
}

/// Feeds every span of `request` to the assembler; spans with bad ids are reported and
/// skipped.
pub fn push_json(
    request: JsonRequest,
    location: Location,
    assembler: &mut Assembler,
    sink: &mut dyn EventSink,
) {
    for resource in request.resource_spans {
        let service = service_name(
            resource
                .resource
                .attributes
                .iter()
                .map(|kv| (kv.key.as_str(), kv.value.value())),
        );
        let language = resource_language(
            resource
                .resource
                .attributes
                .iter()
                .map(|kv| (kv.key.as_str(), kv.value.value())),
        );
        for span in resource.scope_spans.into_iter().flat_map(|s| s.spans) {
            let ids = (
                parse_hex_id(&span.trace_id, 32),
                parse_hex_id(&span.span_id, 16),
                parse_hex_id(&span.parent_span_id, 16),
            );
            let (trace, id, parent) = match check_ids(ids, &span.trace_id, &span.span_id) {
                Ok(ids) => ids,
                Err(message) => {
                    report(assembler, sink, location, message);
                    continue;
                }
            };
            let mut attrs = SpanAttrs::default();
            attrs.language = language.clone();
            for kv in &span.attributes {
                attrs.note(&kv.key, kv.value.value());
            }
            let span = Span {
                trace,
                id: id as u64,
                parent: parent as u64,
                kind: SpanKind::from_otlp(span.kind.map_or(0, |k| k.as_i64())),
                name: span.name,
                start_ns: span.start_time_unix_nano.map_or(0, |n| n.as_u64()),
                end_ns: span.end_time_unix_nano.map_or(0, |n| n.as_u64()),
                service: service.clone(),
                attrs,
                location,
            };
            assembler.push(span, sink);
        }
    }
}

// ---- protobuf ---------------------------------------------------------------------------

/// `opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest` (field-compatible
/// with `opentelemetry.proto.trace.v1.TracesData`): only the fields querycomb reads.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoRequest {
    #[prost(message, repeated, tag = "1")]
    resource_spans: Vec<ProtoResourceSpans>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ProtoResourceSpans {
    #[prost(message, optional, tag = "1")]
    resource: Option<ProtoResource>,
    #[prost(message, repeated, tag = "2")]
    scope_spans: Vec<ProtoScopeSpans>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ProtoResource {
    #[prost(message, repeated, tag = "1")]
    attributes: Vec<ProtoKeyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ProtoScopeSpans {
    #[prost(message, repeated, tag = "2")]
    spans: Vec<ProtoSpan>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ProtoSpan {
    #[prost(bytes = "vec", tag = "1")]
    trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    span_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    parent_span_id: Vec<u8>,
    #[prost(string, tag = "5")]
    name: String,
    #[prost(int32, tag = "6")]
    kind: i32,
    #[prost(fixed64, tag = "7")]
    start_time_unix_nano: u64,
    #[prost(fixed64, tag = "8")]
    end_time_unix_nano: u64,
    #[prost(message, repeated, tag = "9")]
    attributes: Vec<ProtoKeyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ProtoKeyValue {
    #[prost(string, tag = "1")]
    key: String,
    #[prost(message, optional, tag = "2")]
    value: Option<ProtoAnyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ProtoAnyValue {
    #[prost(oneof = "ProtoValue", tags = "1, 2, 3, 4")]
    value: Option<ProtoValue>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum ProtoValue {
    #[prost(string, tag = "1")]
    String(String),
    #[prost(bool, tag = "2")]
    Bool(bool),
    #[prost(int64, tag = "3")]
    Int(i64),
    #[prost(double, tag = "4")]
    Double(f64),
}

impl ProtoKeyValue {
    fn value(&self) -> Value<'_> {
        match self.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(ProtoValue::String(s)) => Value::Str(s),
            Some(ProtoValue::Int(n)) => Value::Int(*n),
            _ => Value::Other,
        }
    }
}

/// `ExportTraceServiceResponse { partial_success { rejected_spans, error_message } }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoResponse {
    #[prost(message, optional, tag = "1")]
    pub partial_success: Option<ProtoPartialSuccess>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoPartialSuccess {
    #[prost(int64, tag = "1")]
    pub rejected_spans: i64,
    #[prost(string, tag = "2")]
    pub error_message: String,
}

/// Parses one binary OTLP request.
pub fn parse_proto(bytes: &[u8]) -> Result<ProtoRequest, String> {
    <ProtoRequest as prost::Message>::decode(bytes)
        .map_err(|e| format!("not an OTLP protobuf trace request: {e}"))
}

/// Feeds every span of a binary request to the assembler.
pub fn push_proto(
    request: ProtoRequest,
    location: Location,
    assembler: &mut Assembler,
    sink: &mut dyn EventSink,
) {
    for resource in request.resource_spans {
        let attributes = resource.resource.map(|r| r.attributes).unwrap_or_default();
        let service = service_name(attributes.iter().map(|kv| (kv.key.as_str(), kv.value())));
        let language = resource_language(attributes.iter().map(|kv| (kv.key.as_str(), kv.value())));
        for span in resource.scope_spans.into_iter().flat_map(|s| s.spans) {
            let ids = (
                parse_binary_id(&span.trace_id, 16),
                parse_binary_id(&span.span_id, 8),
                parse_binary_id(&span.parent_span_id, 8),
            );
            let (trace, id, parent) =
                match check_ids(ids, &hex(&span.trace_id), &hex(&span.span_id)) {
                    Ok(ids) => ids,
                    Err(message) => {
                        report(assembler, sink, location, message);
                        continue;
                    }
                };
            let mut attrs = SpanAttrs::default();
            attrs.language = language.clone();
            for kv in &span.attributes {
                attrs.note(&kv.key, kv.value());
            }
            let span = Span {
                trace,
                id: id as u64,
                parent: parent as u64,
                kind: SpanKind::from_otlp(i64::from(span.kind)),
                name: span.name,
                start_ns: span.start_time_unix_nano,
                end_ns: span.end_time_unix_nano,
                service: service.clone(),
                attrs,
                location,
            };
            assembler.push(span, sink);
        }
    }
}

// ---- shared -----------------------------------------------------------------------------

fn service_name<'a>(attributes: impl Iterator<Item = (&'a str, Value<'a>)>) -> Arc<str> {
    for (key, value) in attributes {
        if key == "service.name" {
            if let Value::Str(name) = value {
                return Arc::from(name);
            }
        }
    }
    Arc::from(UNKNOWN_SERVICE)
}

type Ids = (
    Result<u128, String>,
    Result<u128, String>,
    Result<u128, String>,
);

/// The span's ids, or a message naming the span, its trace and what is wrong.
fn check_ids(ids: Ids, trace_text: &str, span_text: &str) -> Result<(u128, u128, u128), String> {
    let name = |field: &str, why: String| {
        format!("span {span_text:?} of trace {trace_text:?}: {field}: {why}; span skipped")
    };
    let trace = ids.0.map_err(|e| name("traceId", e))?;
    let id = ids.1.map_err(|e| name("spanId", e))?;
    let parent = ids.2.map_err(|e| name("parentSpanId", e))?;
    if trace == 0 {
        return Err(name("traceId", "missing or all zero".to_owned()));
    }
    if id == 0 {
        return Err(name("spanId", "missing or all zero".to_owned()));
    }
    Ok((trace, id, parent))
}

fn report(
    assembler: &mut Assembler,
    sink: &mut dyn EventSink,
    location: Location,
    message: String,
) {
    assembler.count_malformed();
    sink.malformed(InputError { location, message });
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A decoded OTLP request, in either encoding.
#[derive(Debug)]
pub enum Request {
    Json(JsonRequest),
    Proto(ProtoRequest),
}

impl Request {
    /// Spans it holds (what a refused request drops).
    pub fn span_count(&self) -> usize {
        match self {
            Request::Json(r) => r
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum(),
            Request::Proto(r) => r
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum(),
        }
    }

    /// Feeds its spans to the assembler.
    pub fn push(self, location: Location, assembler: &mut Assembler, sink: &mut dyn EventSink) {
        match self {
            Request::Json(r) => push_json(r, location, assembler, sink),
            Request::Proto(r) => push_proto(r, location, assembler, sink),
        }
    }
}

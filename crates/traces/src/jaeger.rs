//! Jaeger's JSON export (the UI's "Download JSON", `GET /api/traces`): `{"data": [trace]}`
//! where each trace has `spans` (ids as hex, `references` to the parent, `startTime` and
//! `duration` in microseconds, typed `tags`) and `processes` (the service of each span).

use std::collections::HashMap;
use std::sync::Arc;

use querycomb_core::{EventSink, InputError, Location};
use serde::Deserialize;

use crate::assemble::Assembler;
use crate::model::{parse_hex_id, resource_language, Span, SpanAttrs, SpanKind, Value};

#[derive(Debug, Deserialize)]
pub struct Export {
    #[serde(default)]
    data: Vec<Trace>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Trace {
    #[serde(default)]
    spans: Vec<JaegerSpan>,
    #[serde(default)]
    processes: HashMap<String, Process>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Process {
    #[serde(default)]
    service_name: String,
    /// The resource's attributes, as the Jaeger exporters write them.
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JaegerSpan {
    #[serde(rename = "traceID", default)]
    trace_id: String,
    #[serde(rename = "spanID", default)]
    span_id: String,
    #[serde(default)]
    operation_name: String,
    #[serde(default)]
    references: Vec<Reference>,
    #[serde(default)]
    start_time: u64,
    #[serde(default)]
    duration: u64,
    #[serde(default)]
    tags: Vec<Tag>,
    #[serde(rename = "processID", default)]
    process_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reference {
    #[serde(default)]
    ref_type: String,
    #[serde(rename = "spanID", default)]
    span_id: String,
}

#[derive(Debug, Deserialize)]
struct Tag {
    key: String,
    #[serde(default)]
    value: serde_json::Value,
}

pub fn parse(bytes: &[u8]) -> Result<Export, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("not a Jaeger JSON export: {e}"))
}

pub fn push(
    export: Export,
    location: Location,
    assembler: &mut Assembler,
    sink: &mut dyn EventSink,
) {
    for trace in export.data {
        let services: HashMap<&str, Arc<str>> = trace
            .processes
            .iter()
            .map(|(id, p)| (id.as_str(), Arc::from(p.service_name.as_str())))
            .collect();
        let languages: HashMap<&str, Option<String>> = trace
            .processes
            .iter()
            .map(|(id, p)| (id.as_str(), resource_language(p.tags.iter().map(tag_value))))
            .collect();
        for span in &trace.spans {
            let parent_text = span
                .references
                .iter()
                .find(|r| r.ref_type.eq_ignore_ascii_case("CHILD_OF"))
                .or(span.references.first())
                .map_or("", |r| r.span_id.as_str());
            let text = SpanIdText {
                trace: &span.trace_id,
                span: &span.span_id,
                parent: parent_text,
                names: ["traceID", "spanID", "parent spanID"],
            };
            let Some((trace_id, id, parent)) = text.read(location, assembler, sink) else {
                continue;
            };
            let mut attrs = SpanAttrs::default();
            attrs.language = languages.get(span.process_id.as_str()).cloned().flatten();
            let mut kind = SpanKind::Unspecified;
            for tag in &span.tags {
                let (_, value) = tag_value(tag);
                if tag.key == "span.kind" {
                    if let Value::Str(name) = value {
                        kind = SpanKind::from_name(name);
                    }
                }
                attrs.note(&tag.key, value);
            }
            let service = services
                .get(span.process_id.as_str())
                .cloned()
                .unwrap_or_else(|| Arc::from("unknown_service"));
            assembler.push(
                Span {
                    trace: trace_id,
                    id: id as u64,
                    parent: parent as u64,
                    kind,
                    name: span.operation_name.clone(),
                    start_ns: span.start_time.saturating_mul(1000),
                    end_ns: span
                        .start_time
                        .saturating_add(span.duration)
                        .saturating_mul(1000),
                    service,
                    attrs,
                    location,
                },
                sink,
            );
        }
    }
}

/// Jaeger and Zipkin may write 64-bit trace ids as 16 hex digits: the high half is zero.
/// A span's ids as a JSON format writes them (Jaeger, Zipkin), with the names that format
/// gives them for messages.
pub(crate) struct SpanIdText<'a> {
    pub trace: &'a str,
    pub span: &'a str,
    pub parent: &'a str,
    pub names: [&'a str; 3],
}

impl SpanIdText<'_> {
    /// The ids, or `None` after reporting the span as malformed (skipped) at `location`.
    pub(crate) fn read(
        &self,
        location: Location,
        assembler: &mut Assembler,
        sink: &mut dyn EventSink,
    ) -> Option<(u128, u128, u128)> {
        match span_ids(self.trace, self.span, self.parent, self.names) {
            Ok(ids) => Some(ids),
            Err(why) => {
                assembler.count_malformed();
                sink.malformed(InputError {
                    location,
                    message: format!(
                        "span {:?} of trace {:?}: {why}; span skipped",
                        self.span, self.trace
                    ),
                });
                None
            }
        }
    }
}

/// A span's trace, span and parent ids from hex text (a 16-digit trace id is padded to 32),
/// or which of them, named as the format names them, is malformed or missing (a zero parent
/// means a root span).
fn span_ids(
    trace: &str,
    span: &str,
    parent: &str,
    names: [&str; 3],
) -> Result<(u128, u128, u128), String> {
    let parsed = [
        parse_hex_id(&pad(trace), 32),
        parse_hex_id(span, 16),
        parse_hex_id(parent, 16),
    ];
    match parsed {
        [Ok(t), Ok(s), Ok(p)] if t != 0 && s != 0 => Ok((t, s, p)),
        parsed => Err(names
            .into_iter()
            .zip(parsed)
            .enumerate()
            .find_map(|(i, (field, r))| match r {
                Err(e) => Some(format!("{field}: {e}")),
                Ok(0) if i < 2 => Some(format!("{field}: missing")),
                Ok(_) => None,
            })
            .unwrap_or_default()),
    }
}

pub(crate) fn pad(trace_id: &str) -> String {
    if trace_id.len() < 32 && !trace_id.is_empty() && trace_id.len() <= 16 {
        format!("{trace_id:0>32}")
    } else {
        trace_id.to_owned()
    }
}

/// A tag as an attribute.
fn tag_value(tag: &Tag) -> (&str, Value<'_>) {
    let value = match &tag.value {
        serde_json::Value::String(s) => Value::Str(s),
        serde_json::Value::Number(n) => n.as_i64().map_or(Value::Other, Value::Int),
        _ => Value::Other,
    };
    (tag.key.as_str(), value)
}

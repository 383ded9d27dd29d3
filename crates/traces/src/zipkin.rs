//! Zipkin v2 JSON: an array of spans (`traceId`, `id`, `parentId`, `kind`, `timestamp` and
//! `duration` in microseconds, `localEndpoint.serviceName`, string `tags`). A file may hold
//! several arrays one after the other (one per exported batch).

use std::collections::HashMap;
use std::sync::Arc;

use querycomb_core::{EventSink, Location};
use serde::Deserialize;

use crate::assemble::Assembler;
use crate::jaeger::SpanIdText;
use crate::model::{Span, SpanAttrs, SpanKind, Value};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ZipkinSpan {
    #[serde(default)]
    trace_id: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    parent_id: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    timestamp: u64,
    #[serde(default)]
    duration: u64,
    #[serde(default)]
    local_endpoint: Option<Endpoint>,
    #[serde(default)]
    tags: HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Endpoint {
    #[serde(default)]
    service_name: Option<String>,
}

/// Every array in `bytes`; a malformed one ends the read with its byte offset.
pub fn parse_arrays(bytes: &[u8]) -> (Vec<Vec<ZipkinSpan>>, Option<(u64, String)>) {
    let mut arrays = Vec::new();
    let mut stream = serde_json::Deserializer::from_slice(bytes).into_iter::<Vec<ZipkinSpan>>();
    loop {
        let end = stream.byte_offset();
        let blank = bytes.get(end..).map_or(0, |rest| {
            rest.iter().take_while(|b| b.is_ascii_whitespace()).count()
        });
        let offset = (end + blank) as u64;
        match stream.next() {
            None => return (arrays, None),
            Some(Ok(array)) => arrays.push(array),
            Some(Err(e)) => {
                return (
                    arrays,
                    Some((offset, format!("not a Zipkin v2 JSON span array: {e}"))),
                )
            }
        }
    }
}

pub fn push(
    spans: Vec<ZipkinSpan>,
    location: Location,
    assembler: &mut Assembler,
    sink: &mut dyn EventSink,
) {
    let mut services: HashMap<String, Arc<str>> = HashMap::new();
    for span in spans {
        let parent_text = span.parent_id.as_deref().unwrap_or("");
        let text = SpanIdText {
            trace: &span.trace_id,
            span: &span.id,
            parent: parent_text,
            names: ["traceId", "id", "parentId"],
        };
        let Some((trace, id, parent)) = text.read(location, assembler, sink) else {
            continue;
        };
        let mut attrs = SpanAttrs::default();
        for (key, value) in &span.tags {
            attrs.note(key, Value::Str(value));
        }
        let name = span
            .local_endpoint
            .and_then(|e| e.service_name)
            .unwrap_or_else(|| "unknown_service".to_owned());
        let service = services
            .entry(name)
            .or_insert_with_key(|n| Arc::from(n.as_str()))
            .clone();
        assembler.push(
            Span {
                trace,
                id: id as u64,
                parent: parent as u64,
                kind: span
                    .kind
                    .as_deref()
                    .map_or(SpanKind::Unspecified, SpanKind::from_name),
                name: span.name,
                start_ns: span.timestamp.saturating_mul(1000),
                end_ns: span
                    .timestamp
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

//! OpenTelemetry traces as a query source.
//!
//! Trace files (OTLP/JSON lines as the Collector's `file` exporter writes them, a single
//! OTLP/JSON document, OTLP protobuf files) and OTLP requests (for `querycomb collect`) are
//! read into [`model::Span`]s; [`assemble::Assembler`] holds each trace's spans until the
//! trace is complete and then pushes one [`querycomb_core::QueryEvent`] per database span,
//! in start order, with its context as data: trace, span and parent span ids, the route
//! (`http.route` of the server span, else the root span's name), the service
//! (`service.name`), the code location (`code.*`), rows, start and duration.
//!
//! Bad input never stops a read: a malformed record, a span with ids of the wrong length, a
//! database span with no query text, a trace over the span limit — each is reported with its
//! place (record line and byte, trace and span id) and skipped.

pub mod assemble;
pub mod jaeger;
pub mod model;
pub mod otlp;
pub mod sqltext;
pub mod zipkin;

use std::io::{self, BufRead, Read};

use querycomb_core::{EventSink, InputError, Location, SourceId};

pub use assemble::{Assembler, AssemblyLimits, AssemblyStats};

/// Trace file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceFormat {
    /// One OTLP/JSON `ExportTraceServiceRequest` per line (the Collector `file` exporter).
    OtlpJsonLines,
    /// One OTLP/JSON document spread over many lines.
    OtlpJson,
    /// Binary OTLP messages, each preceded by its length as 4 big-endian bytes (the
    /// Collector `file` exporter with `format: proto`).
    OtlpProto,
    /// Binary OTLP messages, each preceded by its length as a varint (protobuf's
    /// "delimited" streaming, as the OTLP file exporter specification asks).
    OtlpProtoDelimited,
    /// Jaeger's JSON export: `{"data": [{"spans": …, "processes": …}]}`.
    JaegerJson,
    /// Zipkin v2 JSON span arrays.
    ZipkinJson,
}

impl TraceFormat {
    pub fn name(self) -> &'static str {
        match self {
            TraceFormat::OtlpJsonLines => "OTLP/JSON lines",
            TraceFormat::OtlpJson => "OTLP/JSON document",
            TraceFormat::OtlpProto => "OTLP protobuf (length-prefixed)",
            TraceFormat::OtlpProtoDelimited => "OTLP protobuf (varint-delimited)",
            TraceFormat::JaegerJson => "Jaeger JSON",
            TraceFormat::ZipkinJson => "Zipkin v2 JSON",
        }
    }
}

/// Largest single message accepted from a file (a Collector batch is far smaller).
pub const MAX_MESSAGE_BYTES: usize = 256 << 20;

/// Recognises a trace file from its first (decompressed) bytes.
pub fn sniff(head: &[u8]) -> Option<TraceFormat> {
    let text = head.trim_ascii_start();
    if text.first() == Some(&b'[') {
        let zipkin = contains(text, b"\"traceId\"") && contains(text, b"\"id\"");
        return zipkin.then_some(TraceFormat::ZipkinJson);
    }
    if text.first() == Some(&b'{') {
        if contains(text, b"\"traceID\"") && contains(text, b"\"data\"") {
            return Some(TraceFormat::JaegerJson);
        }
        if !contains(text, b"\"resourceSpans\"") {
            return None;
        }
        let first_line = text.split(|&b| b == b'\n').next().unwrap_or(text);
        let one_per_line =
            first_line.trim_ascii_end().ends_with(b"}") || first_line.len() == text.len();
        return Some(if one_per_line {
            TraceFormat::OtlpJsonLines
        } else {
            TraceFormat::OtlpJson
        });
    }
    sniff_proto(head)
}

/// A binary OTLP request starts with field 1 (`resource_spans`, length-delimited): byte
/// `0x0a`. Before it comes its length, as 4 big-endian bytes or as a varint.
fn sniff_proto(head: &[u8]) -> Option<TraceFormat> {
    if let (Some(len), Some(&0x0a)) = (head.get(..4), head.get(4)) {
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if len > 0 && len <= MAX_MESSAGE_BYTES {
            return Some(TraceFormat::OtlpProto);
        }
    }
    let (len, used) = read_varint(head)?;
    (len > 0 && head.get(used) == Some(&0x0a)).then_some(TraceFormat::OtlpProtoDelimited)
}

fn read_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().take(10).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// What one read saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TraceReadStats {
    pub bytes: u64,
    /// Records (lines, messages) read.
    pub records: u64,
    pub assembly: AssemblyStats,
}

/// Reads a whole trace file into `sink`. Only I/O errors are `Err`.
pub fn read_traces(
    format: TraceFormat,
    input: &mut dyn BufRead,
    source: SourceId,
    limits: AssemblyLimits,
    sink: &mut dyn EventSink,
) -> io::Result<TraceReadStats> {
    let mut assembler = Assembler::new(limits);
    let mut stats = match format {
        TraceFormat::OtlpJsonLines => read_json_lines(input, source, &mut assembler, sink)?,
        TraceFormat::OtlpJson => read_json_document(input, source, &mut assembler, sink)?,
        TraceFormat::OtlpProto | TraceFormat::OtlpProtoDelimited => {
            read_proto_stream(format, input, source, &mut assembler, sink)?
        }
        TraceFormat::JaegerJson | TraceFormat::ZipkinJson => {
            read_json_export(format, input, source, &mut assembler, sink)?
        }
    };
    assembler.finish(sink);
    stats.assembly = assembler.stats();
    Ok(stats)
}

fn read_json_lines(
    input: &mut dyn BufRead,
    source: SourceId,
    assembler: &mut Assembler,
    sink: &mut dyn EventSink,
) -> io::Result<TraceReadStats> {
    let mut stats = TraceReadStats::default();
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let read = (&mut *input)
            .take(MAX_MESSAGE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if read == 0 {
            break;
        }
        number += 1;
        let location = Location {
            source,
            line: number,
            byte: stats.bytes,
        };
        stats.bytes += read as u64;
        if read > MAX_MESSAGE_BYTES && line.last() != Some(&b'\n') {
            // Memory stays bounded: the rest of the line is skipped unread.
            stats.bytes += skip_line(input)?;
            stats.records += 1;
            assembler.count_malformed();
            sink.malformed(InputError {
                location,
                message: format!("line longer than {MAX_MESSAGE_BYTES} bytes: skipped"),
            });
            continue;
        }
        let record = line.trim_ascii();
        if record.is_empty() {
            continue;
        }
        stats.records += 1;
        match otlp::parse_json(record) {
            Ok(request) => otlp::push_json(request, location, assembler, sink),
            Err(message) => {
                assembler.count_malformed();
                sink.malformed(InputError { location, message });
            }
        }
        assembler.advance(number, sink);
    }
    Ok(stats)
}

/// Consumes input up to and including the next newline; returns how many bytes.
fn skip_line(input: &mut dyn BufRead) -> io::Result<u64> {
    let mut skipped = 0u64;
    loop {
        let buffer = input.fill_buf()?;
        if buffer.is_empty() {
            return Ok(skipped);
        }
        let (used, done) = match buffer.iter().position(|&b| b == b'\n') {
            Some(at) => (at + 1, true),
            None => (buffer.len(), false),
        };
        input.consume(used);
        skipped += used as u64;
        if done {
            return Ok(skipped);
        }
    }
}

fn read_json_document(
    input: &mut dyn BufRead,
    source: SourceId,
    assembler: &mut Assembler,
    sink: &mut dyn EventSink,
) -> io::Result<TraceReadStats> {
    let mut text = Vec::new();
    input.read_to_end(&mut text)?;
    let location = Location {
        source,
        line: 1,
        byte: 0,
    };
    match otlp::parse_json(&text) {
        Ok(request) => otlp::push_json(request, location, assembler, sink),
        Err(message) => {
            assembler.count_malformed();
            sink.malformed(InputError { location, message });
        }
    }
    Ok(TraceReadStats {
        bytes: text.len() as u64,
        records: 1,
        assembly: AssemblyStats::default(),
    })
}

/// A Jaeger or Zipkin export: read whole (their formats are not line-delimited), then
/// every trace in it.
fn read_json_export(
    format: TraceFormat,
    input: &mut dyn BufRead,
    source: SourceId,
    assembler: &mut Assembler,
    sink: &mut dyn EventSink,
) -> io::Result<TraceReadStats> {
    let mut text = Vec::new();
    input.read_to_end(&mut text)?;
    let at = |byte: u64| Location {
        source,
        line: 1 + text
            .iter()
            .take(byte as usize)
            .filter(|&&b| b == b'\n')
            .count() as u64,
        byte,
    };
    let mut records = 0;
    if format == TraceFormat::JaegerJson {
        records = 1;
        match jaeger::parse(&text) {
            Ok(export) => jaeger::push(export, at(0), assembler, sink),
            Err(message) => {
                assembler.count_malformed();
                sink.malformed(InputError {
                    location: at(0),
                    message,
                });
            }
        }
    } else {
        let (arrays, error) = zipkin::parse_arrays(&text);
        for array in arrays {
            records += 1;
            zipkin::push(array, at(0), assembler, sink);
        }
        if let Some((byte, message)) = error {
            assembler.count_malformed();
            sink.malformed(InputError {
                location: at(byte),
                message,
            });
        }
    }
    Ok(TraceReadStats {
        bytes: text.len() as u64,
        records,
        assembly: AssemblyStats::default(),
    })
}

/// Length-prefixed binary messages. `line` in locations is the message's ordinal.
fn read_proto_stream(
    format: TraceFormat,
    input: &mut dyn BufRead,
    source: SourceId,
    assembler: &mut Assembler,
    sink: &mut dyn EventSink,
) -> io::Result<TraceReadStats> {
    let mut stats = TraceReadStats::default();
    let mut message = Vec::new();
    loop {
        let location = Location {
            source,
            line: stats.records + 1,
            byte: stats.bytes,
        };
        let Some((len, prefix)) = read_length(format, input)? else {
            break;
        };
        stats.bytes += prefix as u64;
        stats.records += 1;
        if len > MAX_MESSAGE_BYTES as u64 {
            assembler.count_malformed();
            sink.malformed(InputError {
                location,
                message: format!(
                    "message of {len} bytes is over the limit of {MAX_MESSAGE_BYTES}: the \
                     rest of the file cannot be framed and is not read"
                ),
            });
            break;
        }
        message.clear();
        let got = input.take(len).read_to_end(&mut message)?;
        stats.bytes += got as u64;
        if (got as u64) < len {
            assembler.count_malformed();
            sink.malformed(InputError {
                location,
                message: format!("message cut short: {got} of {len} bytes"),
            });
            break;
        }
        match otlp::parse_proto(&message) {
            Ok(request) => otlp::push_proto(request, location, assembler, sink),
            Err(text) => {
                assembler.count_malformed();
                sink.malformed(InputError {
                    location,
                    message: text,
                });
            }
        }
        assembler.advance(stats.records, sink);
    }
    Ok(stats)
}

/// The next message's length and the prefix's size; `None` at a clean end of input.
fn read_length(format: TraceFormat, input: &mut dyn BufRead) -> io::Result<Option<(u64, usize)>> {
    if input.fill_buf()?.is_empty() {
        return Ok(None);
    }
    if format == TraceFormat::OtlpProto {
        let mut prefix = [0u8; 4];
        input.read_exact(&mut prefix)?;
        return Ok(Some((u64::from(u32::from_be_bytes(prefix)), 4)));
    }
    let mut value = 0u64;
    for i in 0..10 {
        let mut byte = [0u8; 1];
        input.read_exact(&mut byte)?;
        value |= u64::from(byte[0] & 0x7f) << (7 * i);
        if byte[0] & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "message length is not a varint",
    ))
}

//! PostgreSQL 15+ `log_destination=jsonlog`: one JSON object per line.
//!
//! Strings are borrowed from the line where JSON escaping allows (`Cow`), so most records
//! cost no allocation. Keys PostgreSQL had no value for are simply absent.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, BufRead};

use querycomb_core::{EventSink, InputError, Location, SourceId};
use serde::Deserialize;

use super::assemble::{Assembler, Record, Severity};
use super::lines::{Line, LineReader, MAX_LINE};
use super::time;
use crate::{ReadOptions, ReadStats};

/// The jsonlog keys querycomb uses; the others are ignored.
#[derive(Debug, Deserialize)]
struct JsonRecord<'a> {
    #[serde(borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow)]
    user: Option<Cow<'a, str>>,
    #[serde(borrow)]
    dbname: Option<Cow<'a, str>>,
    pid: Option<i64>,
    #[serde(borrow)]
    session_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    error_severity: Option<Cow<'a, str>>,
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
    #[serde(borrow)]
    detail: Option<Cow<'a, str>>,
    #[serde(borrow)]
    statement: Option<Cow<'a, str>>,
    #[serde(borrow)]
    application_name: Option<Cow<'a, str>>,
}

/// Reads a jsonlog file into `sink`. Only I/O errors are `Err`.
pub fn read(
    input: &mut dyn BufRead,
    source: SourceId,
    _opts: &ReadOptions,
    sink: &mut dyn EventSink,
) -> io::Result<ReadStats> {
    let mut lines = LineReader::new(input);
    let mut assembler = Assembler::new();
    let mut stats = ReadStats::default();
    let mut pid_text = String::new();
    let mut zone_reported = false;
    while let Some(line) = lines.next_line()? {
        let (bytes, location, complete) = match line {
            Line::Text {
                bytes,
                line,
                byte,
                complete,
            } => (bytes, location(source, line, byte), complete),
            Line::TooLong { line, byte, len } => {
                let message = format!("line longer than {MAX_LINE} bytes ({len} bytes) skipped");
                report(sink, &mut stats, location(source, line, byte), message);
                continue;
            }
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed: JsonRecord<'_> = match serde_json::from_slice(bytes) {
            Ok(parsed) => parsed,
            Err(e) => {
                let what = if complete {
                    "invalid JSON"
                } else {
                    "truncated final line"
                };
                report(sink, &mut stats, location, format!("{what}: {e}"));
                continue;
            }
        };
        stats.records += 1;
        let time = parsed.timestamp.as_deref().and_then(|t| {
            let parsed = time::parse_timestamp(t.as_bytes())?;
            if !parsed.zone_known && !zone_reported {
                zone_reported = true;
                sink.malformed(InputError {
                    location,
                    message: format!("unknown time zone in '{t}'; times are read as UTC"),
                });
            }
            Some(parsed.micros)
        });
        pid_text.clear();
        if let (None, Some(pid)) = (&parsed.session_id, parsed.pid) {
            let _ = write!(pid_text, "{pid}");
        }
        let record = Record {
            location,
            time,
            session: parsed.session_id.as_deref().unwrap_or(&pid_text),
            user: parsed.user.as_deref(),
            database: parsed.dbname.as_deref(),
            application: parsed.application_name.as_deref().filter(|a| !a.is_empty()),
            severity: Severity::from_name(
                parsed
                    .error_severity
                    .as_deref()
                    .unwrap_or_default()
                    .as_bytes(),
            ),
            message: parsed.message.as_deref().unwrap_or_default(),
            detail: parsed.detail.as_deref(),
            statement: parsed.statement.as_deref(),
        };
        assembler.record(&record, sink);
    }
    assembler.finish(sink);
    stats.bytes = lines.bytes_read();
    stats.events = assembler.events();
    Ok(stats)
}

fn location(source: SourceId, line: u64, byte: u64) -> Location {
    Location { source, line, byte }
}

fn report(sink: &mut dyn EventSink, stats: &mut ReadStats, location: Location, message: String) {
    stats.malformed += 1;
    sink.malformed(InputError { location, message });
}

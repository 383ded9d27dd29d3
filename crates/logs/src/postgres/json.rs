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
use super::time;
use crate::lines::{Line, LineReader, MAX_LINE};
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
            Line::TooLong {
                line, byte, len, ..
            } => {
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
                sink.warning(InputError {
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

#[cfg(test)]
mod tests {
    use super::*;

    use querycomb_core::Collected as Collect;

    fn read_bytes(input: &[u8]) -> (Collect, ReadStats) {
        let mut sink = Collect::default();
        let mut reader: &[u8] = input;
        let stats = read(&mut reader, SourceId(0), &ReadOptions::default(), &mut sink).unwrap();
        (sink, stats)
    }

    #[test]
    fn statements_parameters_errors_and_escapes() {
        let log = br#"{"timestamp":"2026-11-21 20:17:16.242 UTC","user":"app","dbname":"shop","pid":12742,"session_id":"6b.1","error_severity":"LOG","message":"execute <unnamed>: SELECT \"a\"\n FROM t WHERE id = $1","detail":"parameters: $1 = '30'","application_name":"web"}
{"timestamp":"2026-11-21 20:17:16.243 UTC","pid":12742,"session_id":"6b.1","error_severity":"LOG","message":"duration: 0.065 ms"}
{"timestamp":"2026-11-21 20:17:16.244 UTC","pid":77,"error_severity":"ERROR","state_code":"42P01","message":"relation \"x\" does not exist","statement":"SELECT * FROM x"}
"#;
        let (sink, stats) = read_bytes(log);
        let got: Vec<_> = sink
            .events
            .iter()
            .map(|e| {
                (
                    e.sql.as_str(),
                    e.params.as_deref(),
                    e.duration_us,
                    e.error.as_deref(),
                    e.session.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "SELECT \"a\"\n FROM t WHERE id = $1",
                    Some("$1 = '30'"),
                    Some(65),
                    None,
                    "6b.1"
                ),
                (
                    "SELECT * FROM x",
                    None,
                    None,
                    Some("relation \"x\" does not exist"),
                    "77"
                ),
            ]
        );
        assert_eq!(sink.events[0].time, Some(1_795_292_236_242_000));
        assert_eq!(sink.events[0].application.as_deref(), Some("web"));
        assert_eq!((stats.records, stats.events, stats.malformed), (3, 2, 0));
    }

    #[test]
    fn bad_lines_are_reported_and_skipped() {
        let mut log =
            b"{\"error_severity\":\"LOG\",\"message\":\"statement: SELECT 1\"}\n".to_vec();
        log.extend(b"{not json}\n");
        log.extend(b"{\"error_severity\":\"LOG\",\"message\":\"statement: \xff\"}\n");
        log.extend(b"\n{\"error_severity\":\"LOG\",\"message\":\"statement: SELECT 2\"}\n");
        log.extend(b"{\"error_severity\":\"LOG\",\"mess");
        let (sink, stats) = read_bytes(&log);
        let sqls: Vec<_> = sink.events.iter().map(|e| e.sql.as_str()).collect();
        assert_eq!(sqls, ["SELECT 1", "SELECT 2"]);
        let lines: Vec<_> = sink.errors.iter().map(|e| e.location.line).collect();
        assert_eq!(lines, [2, 3, 6]);
        assert!(sink.errors[0].message.starts_with("invalid JSON"));
        assert!(sink.errors[2].message.starts_with("truncated final line"));
        assert_eq!(stats.malformed, 3);
    }
}

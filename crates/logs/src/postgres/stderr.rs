//! PostgreSQL `log_destination=stderr` logs, with any `log_line_prefix`.
//!
//! A record is a prefixed line plus the TAB-led continuation lines after it (PostgreSQL
//! writes each embedded newline of a message as `\n\t`). The reader looks one byte past
//! each line: a record with no continuation (nearly all of them) goes to the shared
//! assembler straight out of the read buffer; only multi-line records are gathered into
//! reused buffers first. The assembler pairs statements with their `DETAIL`, `duration` and
//! `ERROR`/`STATEMENT` records.

use std::io::{self, BufRead};

use querycomb_core::{EventSink, InputError, Location, SourceId, Timestamp};

use super::assemble::{Assembler, Record, Severity, Text};
use super::prefix::{self, Matched, Prefix};
use super::time;
use crate::lines::{Block, LineReader, MAX_LINE};
use crate::{ReadOptions, ReadStats};

/// How much of the input prefix detection looks at.
const DETECT_BYTES: usize = 64 * 1024;

/// The prefix PostgreSQL packages on Debian/Ubuntu use; assumed when detection finds none.
const FALLBACK_PREFIX: &str = "%m [%p] %q%u@%d ";

/// Reads a stderr log into `sink`. Only I/O errors are `Err`.
pub fn read(
    input: &mut dyn BufRead,
    source: SourceId,
    opts: &ReadOptions,
    sink: &mut dyn EventSink,
) -> io::Result<ReadStats> {
    let mut lines = LineReader::new(input);
    let (prefix, guessed) = match &opts.log_line_prefix {
        Some(text) => (Prefix::compile(text), false),
        None => {
            let head = lines.peek(DETECT_BYTES)?;
            let complete = head.len() < DETECT_BYTES;
            match prefix::detect(head, complete) {
                Some(found) => (found, false),
                None => (Prefix::compile(FALLBACK_PREFIX), true),
            }
        }
    };
    let mut reader = StderrReader::new(source, prefix);
    if guessed {
        reader.mismatch_hint = " (no known prefix fits this log: give its log_line_prefix)";
    }
    loop {
        match lines.block()? {
            Block::End => break,
            Block::TooLong { line, byte, len } => reader.too_long(line, byte, len, sink),
            Block::Data {
                data,
                eof,
                line,
                byte,
            } => {
                let (used, count) = reader.block(data, eof, line, byte, sink);
                lines.consume(used, count);
                if used == 0 {
                    lines.fill_more()?;
                }
            }
        }
    }
    reader.finish(sink);
    reader.stats.bytes = lines.bytes_read();
    reader.stats.events = reader.assembler.events();
    Ok(reader.stats)
}

/// A multi-line record being gathered, in reused buffers.
#[derive(Default)]
struct Current {
    active: bool,
    location: Location,
    time: Option<Timestamp>,
    severity: Option<Severity>,
    session: String,
    user: Text,
    database: Text,
    application: Text,
    message: String,
}

impl Current {
    fn store(&mut self, rec: &Record<'_>) {
        self.active = true;
        self.location = rec.location;
        self.time = rec.time;
        self.severity = Some(rec.severity);
        self.session.clear();
        self.session.push_str(rec.session);
        self.user.set(rec.user);
        self.database.set(rec.database);
        self.application.set(rec.application);
        self.message.clear();
        self.message.push_str(rec.message);
    }
}

struct StderrReader {
    source: SourceId,
    prefix: Prefix,
    assembler: Assembler,
    current: Current,
    /// Continuation lines of a record that was reported and dropped are dropped too.
    skipping: bool,
    zone_reported: bool,
    /// Appended to prefix mismatch reports when the prefix was a last-resort guess.
    mismatch_hint: &'static str,
    /// The previous timestamp text and its value.
    last_stamp: Vec<u8>,
    last_time: Option<Timestamp>,
    stats: ReadStats,
}

impl StderrReader {
    fn new(source: SourceId, prefix: Prefix) -> Self {
        StderrReader {
            source,
            prefix,
            assembler: Assembler::new(),
            current: Current::default(),
            skipping: false,
            zone_reported: false,
            mismatch_hint: "",
            last_stamp: Vec::new(),
            last_time: None,
            stats: ReadStats::default(),
        }
    }

    /// Handles the whole lines of `data` whose next byte is known (or that end the input).
    /// Returns the bytes and lines used.
    fn block(
        &mut self,
        data: &[u8],
        eof: bool,
        first_line: u64,
        first_byte: u64,
        sink: &mut dyn EventSink,
    ) -> (usize, u64) {
        // Validating UTF-8 once per block is far cheaper than once per line.
        let valid = valid_utf8_prefix(data);
        let mut pos = 0;
        let mut count = 0;
        while pos < data.len() {
            let rest = data.get(pos..).unwrap_or_default();
            let (len, next, complete) = match memchr::memchr(b'\n', rest) {
                Some(nl) => (nl, pos + nl + 1, true),
                None if eof => (rest.len(), data.len(), false),
                None => break,
            };
            let lookahead = data.get(next).copied();
            if complete && lookahead.is_none() && !eof {
                break;
            }
            let bytes = rest.get(..len).unwrap_or(rest);
            let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
            let line = Utf8Line {
                bytes,
                text: valid.get(pos..pos + bytes.len()),
            };
            let (line_no, byte) = (first_line + count, first_byte + pos as u64);
            if !complete {
                self.flush(sink);
                self.report(sink, line_no, byte, "truncated final line skipped".into());
            } else {
                self.line(line, line_no, byte, lookahead == Some(b'\t'), sink);
            }
            pos = next;
            count += 1;
        }
        (pos, count)
    }

    fn too_long(&mut self, line: u64, byte: u64, len: u64, sink: &mut dyn EventSink) {
        let what = if self.current.active {
            "record with a line"
        } else {
            "line"
        };
        self.current.active = false;
        let message = format!("{what} longer than {MAX_LINE} bytes ({len} bytes) skipped");
        self.report(sink, line, byte, message);
        self.skipping = true;
    }

    /// One whole line; `continued` says the next line continues its record.
    fn line(
        &mut self,
        text: Utf8Line<'_>,
        line: u64,
        byte: u64,
        continued: bool,
        sink: &mut dyn EventSink,
    ) {
        if let Some(rest) = text.bytes.strip_prefix(b"\t") {
            self.continuation(rest, line, byte, sink);
        } else if !text.bytes.is_empty() {
            self.flush(sink);
            self.start(text, line, byte, continued, sink);
        }
    }

    fn continuation(&mut self, rest: &[u8], line: u64, byte: u64, sink: &mut dyn EventSink) {
        if self.skipping {
            return;
        }
        if !self.current.active {
            self.report(
                sink,
                line,
                byte,
                "continuation line without a record".into(),
            );
            return;
        }
        match std::str::from_utf8(rest) {
            Ok(text) => {
                self.current.message.push('\n');
                self.current.message.push_str(text);
            }
            Err(e) => {
                self.current.active = false;
                let at = e.valid_up_to() + 1;
                let message =
                    format!("invalid UTF-8 at byte {at} of a continuation line; record skipped");
                self.report(sink, line, byte, message);
                self.skipping = true;
            }
        }
    }

    /// A prefixed line: handed on at once, or kept when continuation lines follow.
    fn start(
        &mut self,
        text: Utf8Line<'_>,
        line: u64,
        byte: u64,
        continued: bool,
        sink: &mut dyn EventSink,
    ) {
        self.skipping = false;
        let Some(found) = self.prefix.parse(text.bytes) else {
            let message = format!(
                "line does not match log_line_prefix '{}'{}",
                self.prefix.text(),
                self.mismatch_hint
            );
            self.report(sink, line, byte, message);
            self.skipping = true;
            return;
        };
        let Some(message) = text.str_of(found.message) else {
            let message = "invalid UTF-8 in the message; record skipped".into();
            self.report(sink, line, byte, message);
            self.skipping = true;
            return;
        };
        let location = Location {
            source: self.source,
            line,
            byte,
        };
        let time = self.time_of(&found, location, sink);
        let record = Record {
            location,
            time,
            session: text
                .field(found.session_id.or(found.pid))
                .unwrap_or_default(),
            user: text.field(found.user),
            database: text.field(found.database),
            application: text.field(found.application),
            severity: Severity::from_name(found.severity),
            message,
            detail: None,
            statement: None,
        };
        if continued {
            self.current.store(&record);
        } else {
            self.stats.records += 1;
            self.assembler.record(&record, sink);
        }
    }

    fn time_of(
        &mut self,
        found: &Matched<'_>,
        location: Location,
        sink: &mut dyn EventSink,
    ) -> Option<Timestamp> {
        let Some(stamp) = found.timestamp else {
            return found.epoch.and_then(time::parse_epoch);
        };
        // Busy logs repeat the same millisecond line after line.
        if self.last_stamp.as_slice() == stamp {
            return self.last_time;
        }
        let parsed = time::parse_timestamp(stamp);
        self.last_stamp.clear();
        self.last_stamp.extend_from_slice(stamp);
        self.last_time = parsed.map(|p| p.micros);
        let parsed = parsed?;
        if !parsed.zone_known && !self.zone_reported {
            self.zone_reported = true;
            let stamp = String::from_utf8_lossy(stamp);
            let zone = stamp.rsplit(' ').next().unwrap_or_default();
            sink.warning(InputError {
                location,
                message: format!("unknown time zone '{zone}' in timestamps; read as UTC"),
            });
        }
        Some(parsed.micros)
    }

    /// Hands a gathered multi-line record to the assembler.
    fn flush(&mut self, sink: &mut dyn EventSink) {
        let cur = &mut self.current;
        if !cur.active {
            return;
        }
        cur.active = false;
        let Some(severity) = cur.severity else { return };
        self.stats.records += 1;
        let record = Record {
            location: cur.location,
            time: cur.time,
            session: &cur.session,
            user: cur.user.get(),
            database: cur.database.get(),
            application: cur.application.get(),
            severity,
            message: &cur.message,
            detail: None,
            statement: None,
        };
        self.assembler.record(&record, sink);
    }

    fn report(&mut self, sink: &mut dyn EventSink, line: u64, byte: u64, message: String) {
        self.stats.malformed += 1;
        sink.malformed(InputError {
            location: Location {
                source: self.source,
                line,
                byte,
            },
            message,
        });
    }

    fn finish(&mut self, sink: &mut dyn EventSink) {
        self.flush(sink);
        self.assembler.finish(sink);
    }
}

/// The longest valid UTF-8 start of `data`.
fn valid_utf8_prefix(data: &[u8]) -> &str {
    match std::str::from_utf8(data) {
        Ok(text) => text,
        Err(e) => data
            .get(..e.valid_up_to())
            .and_then(|valid| std::str::from_utf8(valid).ok())
            .unwrap_or_default(),
    }
}

/// A line, and the same line as text when its block was valid UTF-8 that far.
#[derive(Clone, Copy)]
struct Utf8Line<'a> {
    bytes: &'a [u8],
    text: Option<&'a str>,
}

impl<'a> Utf8Line<'a> {
    /// `part` (a slice of `bytes`) as text, or `None` when it is not UTF-8.
    fn str_of(&self, part: &'a [u8]) -> Option<&'a str> {
        let Some(text) = self.text else {
            return std::str::from_utf8(part).ok();
        };
        let start = (part.as_ptr() as usize).checked_sub(self.bytes.as_ptr() as usize)?;
        text.get(start..start + part.len())
    }

    /// A prefix field as text; values that are not UTF-8 are dropped.
    fn field(&self, value: Option<&'a [u8]>) -> Option<&'a str> {
        value.and_then(|part| self.str_of(part))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use querycomb_core::Collected as Collect;

    fn read_with(input: &[u8], prefix: Option<&str>) -> (Collect, ReadStats) {
        let mut sink = Collect::default();
        let opts = ReadOptions {
            log_line_prefix: prefix.map(str::to_owned),
        };
        let mut reader: &[u8] = input;
        let stats = read(&mut reader, SourceId(3), &opts, &mut sink).unwrap();
        (sink, stats)
    }

    fn read_str(input: &str) -> (Collect, ReadStats) {
        read_with(input.as_bytes(), None)
    }

    fn sqls(sink: &Collect) -> Vec<&str> {
        sink.events.iter().map(|e| e.sql.as_str()).collect()
    }

    const T: &str = "2026-11-21 18:00:17.633 UTC";

    #[test]
    fn simple_statements_multi_line_and_application_from_connection_line() {
        let log = format!(
            "{T} [8755] app@shop LOG:  connection authorized: user=app database=shop application_name=web\n\
             {T} [8755] app@shop LOG:  statement: SELECT *\n\
             \t  FROM orders\n\
             \tWHERE id = 1; SELECT 2\n\
             {T} [8755] app@shop LOG:  statement: COMMIT\n\
             {T} [8755] app@shop LOG:  disconnection: session time: 0:00:00.045 user=app database=shop host=127.0.0.1 port=53886\n"
        );
        let (sink, stats) = read_str(&log);
        assert_eq!(
            sqls(&sink),
            ["SELECT *\n  FROM orders\nWHERE id = 1; SELECT 2", "COMMIT"]
        );
        let first = &sink.events[0];
        assert_eq!(first.session, "8755");
        assert_eq!(first.application.as_deref(), Some("web"));
        assert_eq!(
            (first.user.as_deref(), first.database.as_deref()),
            (Some("app"), Some("shop"))
        );
        assert_eq!(first.time, Some(1_795_284_017_633_000));
        assert_eq!(
            (
                first.location.source,
                first.location.line,
                first.location.byte
            ),
            (SourceId(3), 2, 117)
        );
        assert_eq!(first.duration_us, None);
        assert_eq!(stats.records, 4);
        assert_eq!(stats.events, 2);
        assert_eq!(stats.bytes, log.len() as u64);
        assert!(sink.errors.is_empty());
    }

    #[test]
    fn extended_protocol_with_parameters_spanning_lines() {
        let log = format!(
            "{T} [1] app@shop LOG:  execute <unnamed>: SELECT * FROM customers WHERE id = $1\n\
             {T} [1] app@shop DETAIL:  parameters: $1 = '8'\n\
             {T} [1] app@shop LOG:  execute P_0: INSERT INTO notes VALUES ($1, $2)\n\
             {T} [1] app@shop DETAIL:  parameters: $1 = '1', $2 = 'two\n\
             \tlines'\n\
             {T} [1] app@shop LOG:  execute _pg3_0: SELECT 1\n"
        );
        let (sink, _) = read_str(&log);
        let got: Vec<_> = sink
            .events
            .iter()
            .map(|e| {
                (
                    e.sql.as_str(),
                    e.params.as_deref(),
                    e.prepared_name.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "SELECT * FROM customers WHERE id = $1",
                    Some("$1 = '8'"),
                    None
                ),
                (
                    "INSERT INTO notes VALUES ($1, $2)",
                    Some("$1 = '1', $2 = 'two\nlines'"),
                    Some("P_0")
                ),
                ("SELECT 1", None, Some("_pg3_0")),
            ]
        );
    }

    #[test]
    fn duration_only_counts_execute_not_parse_or_bind() {
        let log = format!(
            "{T} [7] app@shop LOG:  duration: 0.572 ms  parse <unnamed>: SELECT $1\n\
             {T} [7] app@shop LOG:  duration: 0.261 ms  bind <unnamed>: SELECT $1\n\
             {T} [7] app@shop DETAIL:  parameters: $1 = '30'\n\
             {T} [7] app@shop LOG:  duration: 0.065 ms  execute <unnamed>: SELECT $1\n\
             {T} [7] app@shop DETAIL:  parameters: $1 = '30'\n\
             {T} [7] app@shop LOG:  duration: 1.500 ms  statement: SELECT 2\n"
        );
        let (sink, _) = read_str(&log);
        let got: Vec<_> = sink
            .events
            .iter()
            .map(|e| (e.sql.as_str(), e.params.as_deref(), e.duration_us, e.time))
            .collect();
        let logged = 1_795_284_017_633_000;
        assert_eq!(
            got,
            [
                ("SELECT $1", Some("$1 = '30'"), Some(65), Some(logged - 65)),
                ("SELECT 2", None, Some(1_500), Some(logged - 1_500)),
            ]
        );
    }

    #[test]
    fn bare_duration_pairs_by_pid_and_events_keep_log_order() {
        let log = format!(
            "{T} [1] a@db LOG:  statement: SELECT 'one'\n\
             {T} [2] a@db LOG:  execute <unnamed>: SELECT 'two'\n\
             {T} [2] a@db DETAIL:  parameters: $1 = 'x'\n\
             {T} [2] a@db LOG:  duration: 0.020 ms\n\
             {T} [1] a@db LOG:  duration: 3.000 ms\n\
             {T} [2] a@db LOG:  statement: SELECT 'three'\n"
        );
        let (sink, _) = read_str(&log);
        let got: Vec<_> = sink
            .events
            .iter()
            .map(|e| (e.sql.as_str(), e.session.as_str(), e.duration_us))
            .collect();
        assert_eq!(
            got,
            [
                ("SELECT 'one'", "1", Some(3_000)),
                ("SELECT 'two'", "2", Some(20)),
                ("SELECT 'three'", "2", None),
            ]
        );
    }

    #[test]
    fn errors_mark_the_pending_statement_or_become_events() {
        let log = format!(
            "{T} [5] a@db LOG:  statement: SELECT * FROM x\n\
             {T} [5] a@db ERROR:  relation \"x\" does not exist at character 15\n\
             {T} [5] a@db STATEMENT:  SELECT * FROM x\n\
             {T} [5] a@db ERROR:  syntax error at or near \"SELEC\" at character 1\n\
             {T} [5] a@db STATEMENT:  SELEC 1\n\
             {T} [5] a@db LOG:  statement: SELECT 1\n\
             {T} [5] a@db WARNING:  there is no transaction in progress\n"
        );
        let (sink, _) = read_str(&log);
        let got: Vec<_> = sink
            .events
            .iter()
            .map(|e| (e.sql.as_str(), e.error.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("SELECT * FROM x", Some("relation \"x\" does not exist")),
                ("SELEC 1", Some("syntax error at or near \"SELEC\"")),
                ("SELECT 1", None),
            ]
        );
    }

    #[test]
    fn auto_explain_plans_do_not_steal_the_duration() {
        let log = format!(
            "{T} [3] a@db LOG:  statement: SELECT 1\n\
             {T} [3] a@db LOG:  duration: 1.000 ms  plan:\n\
             \tQuery Text: SELECT 1\n\
             \tResult  (cost=0.00..0.01 rows=1 width=4)\n\
             {T} [3] a@db LOG:  duration: 1.200 ms\n"
        );
        let (sink, _) = read_str(&log);
        let got: Vec<_> = sink
            .events
            .iter()
            .map(|e| (e.sql.as_str(), e.duration_us))
            .collect();
        assert_eq!(got, [("SELECT 1", Some(1_200))]);
    }

    #[test]
    fn given_prefix_with_application_and_no_session_key() {
        let log = "2026-11-21 18:00:17 UTC app=my app LOG:  statement: SELECT 1\n";
        let (sink, _) = read_with(log.as_bytes(), Some("%t app=%a "));
        assert_eq!(sqls(&sink), ["SELECT 1"]);
        assert_eq!(sink.events[0].application.as_deref(), Some("my app"));
        assert_eq!(sink.events[0].session, "");
    }

    #[test]
    fn fetch_from_a_portal_is_not_a_new_statement() {
        let log = format!(
            "{T} [9] a@db LOG:  execute S_1/C_2: SELECT * FROM big\n\
             {T} [9] a@db LOG:  execute fetch from S_1/C_2: SELECT * FROM big\n"
        );
        let (sink, _) = read_str(&log);
        assert_eq!(sqls(&sink), ["SELECT * FROM big"]);
    }

    #[test]
    fn bad_lines_are_reported_and_skipped() {
        let mut log = Vec::new();
        log.extend(b"\tcontinuation before any record\n");
        log.extend(format!("{T} [1] a@db LOG:  statement: SELECT 1\n").as_bytes());
        log.extend(b"this is not a log line\n");
        log.extend(b"\tpart of the bad line\n");
        log.extend(format!("{T} [1] a@db LOG:  statement: SELECT '").as_bytes());
        log.extend(b"\xff'\n");
        log.extend(format!("{T} [1] a@db LOG:  statement: SELECT 2\n").as_bytes());
        log.extend(format!("{T} [1] a@db LOG:  statement: SELECT 3 -- cut").as_bytes());
        let (sink, stats) = read_with(&log, Some("%m [%p] %q%u@%d "));
        assert_eq!(sqls(&sink), ["SELECT 1", "SELECT 2"]);
        let lines: Vec<_> = sink
            .errors
            .iter()
            .map(|e| (e.location.line, e.message.as_str()))
            .collect();
        assert_eq!(
            lines,
            [
                (1, "continuation line without a record"),
                (3, "line does not match log_line_prefix '%m [%p] %q%u@%d '"),
                (5, "invalid UTF-8 in the message; record skipped"),
                (7, "truncated final line skipped"),
            ]
        );
        assert_eq!(stats.malformed, 4);
    }

    #[test]
    fn giant_line_is_skipped_without_losing_the_rest() {
        let mut log = format!("{T} [1] a@db LOG:  statement: SELECT ").into_bytes();
        log.resize(log.len() + MAX_LINE + 10, b'9');
        log.extend(format!("\n{T} [1] a@db LOG:  statement: SELECT 2\n").as_bytes());
        let (sink, stats) = read_with(&log, None);
        assert_eq!(sqls(&sink), ["SELECT 2"]);
        assert_eq!(sink.errors.len(), 1);
        assert!(sink.errors[0].message.starts_with("line longer than"));
        assert_eq!(sink.events[0].location.line, 2);
        assert_eq!(stats.malformed, 1);
    }

    #[test]
    fn unknown_zone_is_read_as_utc_and_noted_once() {
        let log = "2026-11-21 18:00:17.633 XYZT [1] LOG:  statement: SELECT 1\n\
                   2026-11-21 18:00:18.633 XYZT [1] LOG:  statement: SELECT 2\n";
        let (sink, stats) = read_with(log.as_bytes(), Some("%m [%p] "));
        assert_eq!(sink.events[0].time, Some(1_795_284_017_633_000));
        assert!(sink.errors.is_empty(), "{:?}", sink.errors);
        assert_eq!(sink.warnings.len(), 1);
        assert!(sink.warnings[0].message.contains("XYZT"));
        assert_eq!(stats.malformed, 0);
    }

    #[test]
    fn an_unknown_prefix_is_reported_with_a_hint() {
        let log = "<2026/11/21> pid=4 LOG:  statement: SELECT 1\n";
        let (sink, _) = read_str(log);
        assert!(sink.events.is_empty());
        assert!(sink.errors[0]
            .message
            .ends_with("give its log_line_prefix)"));
        let (sink, _) = read_with(log.as_bytes(), Some("<%%2026/11/21> pid=%p "));
        assert!(sink.events.is_empty(), "a given prefix that does not fit");
        let (sink, _) = read_with(log.as_bytes(), Some("<2026/11/21> pid=%p "));
        assert_eq!(sqls(&sink), ["SELECT 1"]);
        assert_eq!(sink.events[0].session, "4");
    }

    #[test]
    fn empty_and_binary_input_never_panic() {
        let (sink, stats) = read_with(b"", None);
        assert!(sink.events.is_empty() && sink.errors.is_empty());
        assert_eq!(stats, ReadStats::default());
        let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
        let (sink, _) = read_with(&garbage, None);
        assert!(sink.events.is_empty());
        assert!(!sink.errors.is_empty());
    }
}

//! PostgreSQL `log_destination=csvlog`.
//!
//! Records are parsed by the `csv` crate (quoted fields hold raw newlines, `""` escapes a
//! quote) into one reused `ByteRecord`. PostgreSQL 12 writes 23 columns, 13 adds
//! `backend_type`, 14+ add `leader_pid` and `query_id` (26); the columns querycomb reads sit
//! at the same positions in all of them, so any count from 23 to 26 is accepted.
//!
//! The `csv` crate holds a whole record in memory, so the input passes through
//! `CappedRecords`, which cuts a record longer than 16 MiB short (the cut record
//! then has too few columns and is reported) and skips the rest of it unread.

use std::io::{self, BufRead, Read};

use querycomb_core::{EventSink, InputError, Location, SourceId};

use super::assemble::{Assembler, Record, Severity};
use super::time;
use crate::lines::MAX_LINE;
use crate::{ReadOptions, ReadStats};

const LOG_TIME: usize = 0;
const USER_NAME: usize = 1;
const DATABASE_NAME: usize = 2;
const PROCESS_ID: usize = 3;
const SESSION_ID: usize = 5;
const ERROR_SEVERITY: usize = 11;
const MESSAGE: usize = 13;
const DETAIL: usize = 14;
const QUERY: usize = 19;
const APPLICATION_NAME: usize = 22;
const MIN_COLUMNS: usize = 23;
const MAX_COLUMNS: usize = 26;

/// Reads a csvlog file into `sink`. Only I/O errors are `Err`.
pub fn read(
    input: &mut dyn BufRead,
    source: SourceId,
    _opts: &ReadOptions,
    sink: &mut dyn EventSink,
) -> io::Result<ReadStats> {
    read_capped(input, source, sink, MAX_LINE)
}

fn read_capped(
    input: &mut dyn BufRead,
    source: SourceId,
    sink: &mut dyn EventSink,
    cap: usize,
) -> io::Result<ReadStats> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(CappedRecords::new(input, cap));
    let mut record = csv::ByteRecord::new();
    let mut assembler = Assembler::new();
    let mut stats = ReadStats::default();
    let mut zone_reported = false;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => match e.into_kind() {
                csv::ErrorKind::Io(io) => return Err(io),
                other => {
                    // Not produced by a flexible byte reader; reported rather than trusted.
                    let location = Location {
                        source,
                        ..Location::default()
                    };
                    report(
                        sink,
                        &mut stats,
                        location,
                        format!("unreadable CSV: {other:?}"),
                    );
                    continue;
                }
            },
        }
        let location = match record.position() {
            Some(pos) => reader.get_ref().input_location(source, pos),
            None => Location {
                source,
                ..Location::default()
            },
        };
        if record.len() == 1 && record.get(0).is_some_and(|f| f.trim_ascii().is_empty()) {
            continue; // a blank line
        }
        match to_record(&record, location) {
            Ok(fields) => {
                stats.records += 1;
                let time = fields.time.map(|parsed| {
                    if !parsed.zone_known && !zone_reported {
                        zone_reported = true;
                        sink.warning(InputError {
                            location,
                            message: "unknown time zone in log_time; times are read as UTC".into(),
                        });
                    }
                    parsed.micros
                });
                assembler.record(
                    &Record {
                        time,
                        ..fields.record
                    },
                    sink,
                );
            }
            Err(message) => report(sink, &mut stats, location, message),
        }
    }
    assembler.finish(sink);
    stats.bytes = reader.get_ref().consumed;
    stats.events = assembler.events();
    Ok(stats)
}

struct Fields<'a> {
    record: Record<'a>,
    time: Option<time::Parsed>,
}

/// Picks the used columns out of a CSV record, or says what is wrong with it.
fn to_record(record: &csv::ByteRecord, location: Location) -> Result<Fields<'_>, String> {
    if !(MIN_COLUMNS..=MAX_COLUMNS).contains(&record.len()) {
        return Err(format!(
            "CSV record with {} columns; csvlog has {MIN_COLUMNS} to {MAX_COLUMNS}",
            record.len()
        ));
    }
    let text = |index: usize| -> Result<Option<&str>, String> {
        let bytes = record.get(index).unwrap_or_default();
        match std::str::from_utf8(bytes) {
            Ok("") => Ok(None),
            Ok(value) => Ok(Some(value)),
            Err(e) => Err(format!(
                "invalid UTF-8 at byte {} of column {}; record skipped",
                e.valid_up_to() + 1,
                index + 1
            )),
        }
    };
    let session = text(SESSION_ID)?.or(text(PROCESS_ID)?).unwrap_or_default();
    let time = text(LOG_TIME)?.and_then(|t| time::parse_timestamp(t.as_bytes()));
    let record = Record {
        location,
        time: None,
        session,
        user: text(USER_NAME)?,
        database: text(DATABASE_NAME)?,
        application: text(APPLICATION_NAME)?,
        severity: Severity::from_name(record.get(ERROR_SEVERITY).unwrap_or_default()),
        message: text(MESSAGE)?.unwrap_or_default(),
        detail: text(DETAIL)?,
        statement: text(QUERY)?,
    };
    Ok(Fields { record, time })
}

fn report(sink: &mut dyn EventSink, stats: &mut ReadStats, location: Location, message: String) {
    stats.malformed += 1;
    sink.malformed(InputError { location, message });
}

/// Passes CSV input through, cutting any record longer than `cap` bytes: the rest of such a
/// record is skipped unread and the cut record closed (quote, newline) so the parser sees a
/// short record. Keeps what it skipped so positions can be mapped back to the input.
struct CappedRecords<'r> {
    input: &'r mut dyn BufRead,
    cut: CutState,
    /// Bytes taken from the input.
    consumed: u64,
    /// Bytes handed to the parser (input minus skipped plus injected).
    passed: u64,
    /// `(passed, input bytes minus passed, input lines minus parser lines)` after each cut.
    shifts: Vec<(u64, i64, i64)>,
}

/// Where the input stands relative to CSV records.
struct CutState {
    cap: usize,
    in_quotes: bool,
    /// Bytes of the current record handed on so far.
    record_len: usize,
    skipping: bool,
    /// Bytes to hand the parser before more input (the closing of a cut record).
    inject: &'static [u8],
    /// Input lines skipped minus lines injected.
    skipped_lines: i64,
}

impl<'r> CappedRecords<'r> {
    fn new(input: &'r mut dyn BufRead, cap: usize) -> Self {
        CappedRecords {
            input,
            cut: CutState {
                cap,
                in_quotes: false,
                record_len: 0,
                skipping: false,
                inject: b"",
                skipped_lines: 0,
            },
            consumed: 0,
            passed: 0,
            shifts: Vec::new(),
        }
    }

    /// Maps a parser position back to the input's line and byte.
    fn input_location(&self, source: SourceId, pos: &csv::Position) -> Location {
        let (bytes, lines) = self
            .shifts
            .iter()
            .rev()
            .find(|(at, _, _)| *at <= pos.byte())
            .map_or((0, 0), |(_, bytes, lines)| (*bytes, *lines));
        Location {
            source,
            line: pos.line().saturating_add_signed(lines),
            byte: pos.byte().saturating_add_signed(bytes),
        }
    }
}

impl CutState {
    /// Skips input up to the end of the cut record; returns the bytes used and whether the
    /// end was found.
    fn skip_rest(&mut self, chunk: &[u8]) -> (usize, bool) {
        for pos in memchr::memchr2_iter(b'"', b'\n', chunk) {
            if chunk.get(pos) == Some(&b'"') {
                self.in_quotes = !self.in_quotes;
            } else {
                self.skipped_lines += 1;
                if !self.in_quotes {
                    self.skipping = false;
                    self.record_len = 0;
                    return (pos + 1, true);
                }
            }
        }
        (chunk.len(), false)
    }

    /// Copies as much of `chunk` as fits the record cap, tracking quotes and record ends.
    fn pass(&mut self, chunk: &[u8], out: &mut [u8]) -> usize {
        let limit = out.len().min(self.cap - self.record_len);
        let piece = chunk.get(..limit).unwrap_or(chunk);
        let n = piece.len();
        // `n <= out.len()`: the `get` always succeeds.
        if let Some(to) = out.get_mut(..n) {
            to.copy_from_slice(piece);
        }
        let mut since_end = self.record_len + n;
        for pos in memchr::memchr2_iter(b'"', b'\n', piece) {
            if piece.get(pos) == Some(&b'"') {
                self.in_quotes = !self.in_quotes;
            } else if !self.in_quotes {
                since_end = n - pos - 1;
            }
        }
        self.record_len = since_end;
        n
    }

    fn cut_record(&mut self) {
        self.skipping = true;
        self.inject = if self.in_quotes { b"\"\n" } else { b"\n" };
        self.skipped_lines -= 1; // the injected newline stands for one input line end
    }
}

impl Read for CappedRecords<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.cut.inject.is_empty() {
                let mut n = 0;
                for (to, from) in out.iter_mut().zip(self.cut.inject) {
                    *to = *from;
                    n += 1;
                }
                self.cut.inject = self.cut.inject.get(n..).unwrap_or_default();
                self.passed += n as u64;
                return Ok(n);
            }
            let chunk = self.input.fill_buf()?;
            if chunk.is_empty() {
                return Ok(0);
            }
            if self.cut.skipping {
                let (used, found) = self.cut.skip_rest(chunk);
                self.input.consume(used);
                self.consumed += used as u64;
                if found {
                    let shift = to_i64(self.consumed) - to_i64(self.passed);
                    self.shifts
                        .push((self.passed, shift, self.cut.skipped_lines));
                }
                continue;
            }
            if self.cut.record_len >= self.cut.cap {
                self.cut.cut_record();
                continue;
            }
            let n = self.cut.pass(chunk, out);
            self.input.consume(n);
            self.consumed += n as u64;
            self.passed += n as u64;
            return Ok(n);
        }
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    use querycomb_core::Collected as Collect;

    /// A PG 15 csvlog record (26 columns) with the given message, detail and query.
    fn row(session: &str, severity: &str, message: &str, detail: &str, query: &str) -> String {
        let q = |s: &str| {
            if s.is_empty() {
                String::new()
            } else {
                format!("\"{}\"", s.replace('"', "\"\""))
            }
        };
        format!(
            "2026-11-21 20:17:16.242 UTC,\"app\",\"shop\",12742,\"127.0.0.1:53908\",{session},5,\"SELECT\",2026-11-21 20:17:16 UTC,3/91,0,{severity},00000,{},{},,,,,{},,,\"web\",\"client backend\",,0\n",
            q(message),
            q(detail),
            q(query)
        )
    }

    fn read_bytes(input: &[u8], cap: usize) -> (Collect, ReadStats) {
        let mut sink = Collect::default();
        let mut reader: &[u8] = input;
        let stats = read_capped(&mut reader, SourceId(0), &mut sink, cap).unwrap();
        (sink, stats)
    }

    #[test]
    fn multi_line_statements_parameters_and_errors() {
        let log = [
            row("s.1", "LOG", "statement: SELECT \"a\",\n  2", "", ""),
            row("s.1", "LOG", "duration: 0.050 ms", "", ""),
            row(
                "s.2",
                "LOG",
                "execute P_1: SELECT $1",
                "parameters: $1 = 'x'",
                "",
            ),
            row("s.2", "ERROR", "division by zero", "", "SELECT 1/0"),
        ]
        .concat();
        let (sink, stats) = read_bytes(log.as_bytes(), MAX_LINE);
        let got: Vec<_> = sink
            .events
            .iter()
            .map(|e| {
                (
                    e.sql.as_str(),
                    e.params.as_deref(),
                    e.duration_us,
                    e.error.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("SELECT \"a\",\n  2", None, Some(50), None),
                ("SELECT $1", Some("$1 = 'x'"), None, None),
                ("SELECT 1/0", None, None, Some("division by zero")),
            ]
        );
        assert_eq!(sink.events[1].session, "s.2");
        assert_eq!(sink.events[1].application.as_deref(), Some("web"));
        assert_eq!(sink.events[1].prepared_name.as_deref(), Some("P_1"));
        assert_eq!(sink.events[1].location.line, 4);
        assert_eq!((stats.records, stats.events, stats.malformed), (4, 3, 0));
        assert!(sink.errors.is_empty());
    }

    #[test]
    fn older_column_counts_are_accepted() {
        let pg12 = row("s.1", "LOG", "statement: SELECT 1", "", "")
            .replace(",\"client backend\",,0\n", "\n");
        let (sink, _) = read_bytes(pg12.as_bytes(), MAX_LINE);
        assert_eq!(sink.events.len(), 1);
        assert!(sink.errors.is_empty());
    }

    #[test]
    fn broken_records_are_reported_and_skipped() {
        let mut log = row("s.1", "LOG", "statement: SELECT 1", "", "").into_bytes();
        log.extend(b"not,a,csvlog,record\n");
        let mut bad = row("s.1", "LOG", "statement: SELECT 'QQ'", "", "").into_bytes();
        if let Some(at) = bad.windows(2).position(|w| w == b"QQ") {
            bad[at] = 0xff;
        }
        log.extend(bad);
        log.extend(row("s.1", "LOG", "statement: SELECT 2", "", "").as_bytes());
        let (sink, stats) = read_bytes(&log, MAX_LINE);
        let sqls: Vec<_> = sink.events.iter().map(|e| e.sql.as_str()).collect();
        assert_eq!(sqls, ["SELECT 1", "SELECT 2"]);
        let errors: Vec<_> = sink
            .errors
            .iter()
            .map(|e| (e.location.line, e.message.as_str()))
            .collect();
        assert_eq!(
            errors[0],
            (2, "CSV record with 4 columns; csvlog has 23 to 26")
        );
        assert_eq!(errors[1].0, 3);
        assert!(errors[1].1.starts_with("invalid UTF-8"), "{errors:?}");
        assert_eq!(stats.malformed, 2);
    }

    #[test]
    fn an_over_long_record_is_cut_reported_and_the_rest_read() {
        let long = format!(
            "statement: SELECT '{}\n{}'",
            "y".repeat(300),
            "z".repeat(300)
        );
        let log = [
            row("s.1", "LOG", &long, "", ""),
            row("s.1", "LOG", "statement: SELECT 2", "", ""),
        ]
        .concat();
        let (sink, stats) = read_bytes(log.as_bytes(), 200);
        let sqls: Vec<_> = sink.events.iter().map(|e| e.sql.as_str()).collect();
        assert_eq!(sqls, ["SELECT 2"]);
        assert_eq!(sink.events[0].location.line, 3);
        assert_eq!(sink.errors.len(), 1);
        assert_eq!(sink.errors[0].location.line, 1);
        assert_eq!(stats.bytes, log.len() as u64);
    }
}

//! PostgreSQL `log_destination=stderr` logs, with any `log_line_prefix`.
//!
//! A record is a prefixed line plus the TAB-led continuation lines after it (PostgreSQL
//! writes each embedded newline of a message as `\n\t`). Records are gathered into reused
//! buffers and handed to the shared [`Assembler`], which pairs statements with their
//! `DETAIL`, `duration` and `ERROR`/`STATEMENT` records.

use std::io::{self, BufRead};

use querycomb_core::{EventSink, InputError, Location, SourceId, Timestamp};

use super::assemble::{Assembler, Record, Severity, Text};
use super::lines::{Line, LineReader, MAX_LINE};
use super::prefix::{self, Prefix};
use super::time;
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
    let prefix = match &opts.log_line_prefix {
        Some(text) => Prefix::compile(text),
        None => {
            let head = lines.peek(DETECT_BYTES)?;
            let complete = head.len() < DETECT_BYTES;
            prefix::detect(head, complete).unwrap_or_else(|| Prefix::compile(FALLBACK_PREFIX))
        }
    };
    let mut reader = StderrReader::new(source, prefix);
    while let Some(line) = lines.next_line()? {
        reader.line(line, sink);
    }
    reader.finish(sink);
    reader.stats.bytes = lines.bytes_read();
    reader.stats.events = reader.assembler.events();
    Ok(reader.stats)
}

/// A record being gathered, in reused buffers.
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

struct StderrReader {
    source: SourceId,
    prefix: Prefix,
    assembler: Assembler,
    current: Current,
    /// Continuation lines of a record that was reported and dropped are dropped too.
    skipping: bool,
    zone_reported: bool,
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
            stats: ReadStats::default(),
        }
    }

    fn line(&mut self, line: Line<'_>, sink: &mut dyn EventSink) {
        match line {
            Line::TooLong { line, byte, len } => {
                let was_continuation = self.current.active;
                self.drop_current();
                let what = if was_continuation {
                    "record with a line"
                } else {
                    "line"
                };
                self.report(
                    sink,
                    line,
                    byte,
                    format!("{what} longer than {MAX_LINE} bytes ({len} bytes) skipped"),
                );
                self.skipping = true;
            }
            Line::Text {
                bytes,
                line,
                byte,
                complete,
            } => {
                if !complete {
                    self.flush(sink);
                    self.report(sink, line, byte, "truncated final line skipped".into());
                } else if let Some(rest) = bytes.strip_prefix(b"\t") {
                    self.continuation(rest, line, byte, sink);
                } else if !bytes.is_empty() {
                    self.flush(sink);
                    self.start(bytes, line, byte, sink);
                }
            }
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
                self.drop_current();
                let at = e.valid_up_to() + 1;
                self.report(
                    sink,
                    line,
                    byte,
                    format!("invalid UTF-8 at byte {at} of a continuation line; record skipped"),
                );
                self.skipping = true;
            }
        }
    }

    fn start(&mut self, bytes: &[u8], line: u64, byte: u64, sink: &mut dyn EventSink) {
        self.skipping = false;
        let Some(found) = self.prefix.parse(bytes) else {
            let message = format!(
                "line does not match log_line_prefix '{}'",
                self.prefix.text()
            );
            self.report(sink, line, byte, message);
            self.skipping = true;
            return;
        };
        let Ok(message) = std::str::from_utf8(found.message) else {
            self.report(
                sink,
                line,
                byte,
                "invalid UTF-8 in the message; record skipped".into(),
            );
            self.skipping = true;
            return;
        };
        let location = Location {
            source: self.source,
            line,
            byte,
        };
        let time = self.time_of(found.timestamp, found.epoch, location, sink);
        let cur = &mut self.current;
        cur.active = true;
        cur.location = location;
        cur.time = time;
        cur.severity = Some(Severity::from_name(found.severity));
        cur.session.clear();
        if let Some(key) = found.session_id.or(found.pid) {
            cur.session.push_str(&String::from_utf8_lossy(key));
        }
        set_field(&mut cur.user, found.user);
        set_field(&mut cur.database, found.database);
        set_field(&mut cur.application, found.application);
        cur.message.clear();
        cur.message.push_str(message);
    }

    fn time_of(
        &mut self,
        timestamp: Option<&[u8]>,
        epoch: Option<&[u8]>,
        location: Location,
        sink: &mut dyn EventSink,
    ) -> Option<Timestamp> {
        if let Some(text) = timestamp {
            let parsed = time::parse_timestamp(text)?;
            if !parsed.zone_known && !self.zone_reported {
                self.zone_reported = true;
                let text = String::from_utf8_lossy(text);
                let zone = text.rsplit(' ').next().unwrap_or_default();
                sink.malformed(InputError {
                    location,
                    message: format!("unknown time zone '{zone}' in timestamps; read as UTC"),
                });
            }
            return Some(parsed.micros);
        }
        epoch.and_then(time::parse_epoch)
    }

    /// Hands the gathered record to the assembler.
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

    fn drop_current(&mut self) {
        self.current.active = false;
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

/// Stores an optional prefix field, reusing the previous allocation.
fn set_field(slot: &mut Text, value: Option<&[u8]>) {
    slot.set(value.map(String::from_utf8_lossy).as_deref());
}

//! The log tables: with `log_output = TABLE` MySQL and MariaDB write the general and the slow
//! query log as rows of `mysql.general_log` and `mysql.slow_log` (Amazon RDS for MySQL and
//! MariaDB offer it, and their tables are all a user can read there). Their times have
//! microseconds where MariaDB's log *files* have whole seconds: what grouping needs to see
//! the pauses between requests and to put a fan-out over several connections back together.
//!
//! Two forms of a table are read, told apart by their first line:
//! - **the CSV storage engine's own file**, `<datadir>/mysql/general_log.CSV` (or
//!   `slow_log.CSV`): one row per line, columns in the table's order, strings in double
//!   quotes with `\"`, `\\`, `\n` and `\r` escaped (a tab is written as it is);
//! - **an export by the command-line client**, `mysql --batch -e 'SELECT * FROM
//!   mysql.general_log'`: tab-separated, with `\t`, `\n`, `\\` and `\0` escaped and `NULL`
//!   for a null. With its header line the columns are found by name (any order, any extra
//!   columns); without it (`--skip-column-names`) they are the table's order. A BLOB the
//!   client printed in hex (`--binary-as-hex`, MySQL 8's default in interactive use) is
//!   decoded.
//!
//! A `general_log` row is a general log record and goes through that reader
//! ([`super::general`]): one session per connection, opened by `Connect`, ended by `Quit`,
//! the database from `Connect` and `Init DB`. A `slow_log` row is one statement with its
//! start time, duration, rows, user and database; its session is the `thread_id` (the table
//! shows no server restart, after which ids start again from 1).

use std::fmt::Write as _;
use std::io::{self, BufRead};

use querycomb_core::{EventSink, InputError, Location, QueryEvent, SourceId, Timestamp};

use super::general::{GeneralReader, RecordHead, COMMANDS};
use super::slow::{rows_sent_or_affected, statement_text};
use super::{parse_seconds_micros, parse_sql_time, read_lines, split_user_host, LineRecords};
use crate::{LogFormat, ReadOptions, ReadStats};

/// Reads rows of `mysql.general_log` into `sink`. Only I/O errors are `Err`.
pub fn read_general(
    input: &mut dyn BufRead,
    source: SourceId,
    _opts: &ReadOptions,
    sink: &mut dyn EventSink,
) -> io::Result<ReadStats> {
    read_general_with_limit(input, source, sink, super::MAX_LINE)
}

/// Reads rows of `mysql.slow_log` into `sink`. Only I/O errors are `Err`.
pub fn read_slow(
    input: &mut dyn BufRead,
    source: SourceId,
    _opts: &ReadOptions,
    sink: &mut dyn EventSink,
) -> io::Result<ReadStats> {
    read_slow_with_limit(input, source, sink, super::MAX_LINE)
}

pub(crate) fn read_general_with_limit(
    input: &mut dyn BufRead,
    source: SourceId,
    sink: &mut dyn EventSink,
    max_line: usize,
) -> io::Result<ReadStats> {
    let mut reader = GeneralTable {
        rows: Rows::new(Table::General),
        general: GeneralReader::new(sink),
    };
    read_lines(input, source, max_line, &mut reader)
}

pub(crate) fn read_slow_with_limit(
    input: &mut dyn BufRead,
    source: SourceId,
    sink: &mut dyn EventSink,
    max_line: usize,
) -> io::Result<ReadStats> {
    let mut reader = SlowTable {
        rows: Rows::new(Table::Slow),
        sink,
        session: String::new(),
        stats: ReadStats::default(),
    };
    read_lines(input, source, max_line, &mut reader)
}

/// Which table a line of a log table is a row (or the header) of, if it is one: for
/// [`super::sniff`].
pub(crate) fn sniff_line(line: &str) -> Option<LogFormat> {
    let mut row = Row::default();
    if line.starts_with('"') {
        split_csv(line, &mut row).ok()?;
    } else {
        split_batch(line, &mut row);
        if let Some(table) = header_of(&row) {
            return Some(table.format());
        }
    }
    // A row in the table's own column order.
    let time = row.get(0)?;
    parse_sql_time(time).filter(|&(_, used)| used == time.len())?;
    let third = row.get(2)?;
    let table = if Columns::fixed(Table::General, row.len()).is_some()
        && third.parse::<u64>().is_ok()
    {
        Table::General
    } else if Columns::fixed(Table::Slow, row.len()).is_some() && parse_time_of_day(third).is_some()
    {
        Table::Slow
    } else {
        return None;
    };
    Some(table.format())
}

/// The table whose columns a header line names.
fn header_of(header: &Row) -> Option<Table> {
    let has = |name: &str| header.position(name).is_some();
    if has("event_time") && has("command_type") {
        Some(Table::General)
    } else if has("start_time") && has("sql_text") {
        Some(Table::Slow)
    } else {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    General,
    Slow,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::General => "mysql.general_log",
            Table::Slow => "mysql.slow_log",
        }
    }

    fn format(self) -> LogFormat {
        match self {
            Table::General => LogFormat::MySqlGeneralTable,
            Table::Slow => LogFormat::MySqlSlowTable,
        }
    }
}

/// Where each column the readers use is in a row. Columns a form may leave out are options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Columns {
    /// `event_time` (general) or `start_time` (slow).
    time: usize,
    /// `argument` (general) or `sql_text` (slow).
    text: usize,
    /// `command_type`: general only, so 0 (unused) for slow.
    command: usize,
    thread: Option<usize>,
    user_host: Option<usize>,
    query_time: Option<usize>,
    rows_sent: Option<usize>,
    rows_affected: Option<usize>,
    db: Option<usize>,
    /// The row has exactly this many fields.
    width: usize,
}

impl Columns {
    /// The table's own column order (the CSV file, and `SELECT *` without a header):
    /// `general_log` has 6 columns; `slow_log` has 12 in MySQL and 13 in MariaDB, which adds
    /// `rows_affected`.
    fn fixed(table: Table, width: usize) -> Option<Columns> {
        match (table, width) {
            (Table::General, 6) => Some(Columns {
                time: 0,
                user_host: Some(1),
                thread: Some(2),
                command: 4,
                text: 5,
                width,
                ..Columns::default()
            }),
            (Table::Slow, 12 | 13) => Some(Columns {
                time: 0,
                user_host: Some(1),
                query_time: Some(2),
                rows_sent: Some(4),
                db: Some(6),
                text: 10,
                thread: Some(11),
                rows_affected: (width == 13).then_some(12),
                width,
                ..Columns::default()
            }),
            _ => None,
        }
    }

    /// The columns a header line names; an error names a required column it lacks.
    fn named(table: Table, header: &Row) -> Result<Columns, String> {
        let find = |name: &str| header.position(name);
        let require =
            |name: &str| find(name).ok_or_else(|| format!("the header names no `{name}` column"));
        let mut columns = Columns {
            thread: find("thread_id"),
            user_host: find("user_host"),
            width: header.len(),
            ..Columns::default()
        };
        match table {
            Table::General => {
                columns.time = require("event_time")?;
                columns.command = require("command_type")?;
                columns.text = require("argument")?;
                columns.thread = Some(require("thread_id")?);
            }
            Table::Slow => {
                columns.time = require("start_time")?;
                columns.text = require("sql_text")?;
                columns.query_time = find("query_time");
                columns.rows_sent = find("rows_sent");
                columns.rows_affected = find("rows_affected");
                columns.db = find("db");
            }
        }
        Ok(columns)
    }
}

/// How the table's rows are written, learned from the first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// Nothing read yet.
    Unknown,
    /// The CSV engine's file.
    Csv,
    /// `mysql --batch`, with the columns its header named (`None`: no header, the table's
    /// order).
    Batch(Option<Columns>),
}

/// One row's fields, unescaped, in one buffer reused from row to row.
#[derive(Debug, Default)]
struct Row {
    text: String,
    /// Where each field ends in `text`.
    ends: Vec<usize>,
}

impl Row {
    fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
    }

    fn end_field(&mut self) {
        self.ends.push(self.text.len());
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, i: usize) -> Option<&str> {
        let start = match i.checked_sub(1) {
            Some(before) => *self.ends.get(before)?,
            None => 0,
        };
        self.text.get(start..*self.ends.get(i)?)
    }

    /// The index of the field that is exactly `name` (a header's column).
    fn position(&self, name: &str) -> Option<usize> {
        (0..self.len()).find(|&i| self.get(i) == Some(name))
    }
}

/// Splits a line of the CSV engine's file into `row`.
fn split_csv(line: &str, row: &mut Row) -> Result<(), &'static str> {
    row.clear();
    let mut rest = line;
    loop {
        rest = match rest.strip_prefix('"') {
            Some(quoted) => csv_quoted(quoted, &mut row.text)?,
            None => {
                let end = rest.find(',').unwrap_or(rest.len());
                row.text.push_str(rest.get(..end).unwrap_or_default());
                rest.get(end..).unwrap_or_default()
            }
        };
        row.end_field();
        match rest.strip_prefix(',') {
            Some(next) => rest = next,
            None if rest.is_empty() => return Ok(()),
            None => return Err("a quoted value is followed by something other than `,`"),
        }
    }
}

/// Unescapes a quoted CSV value into `out`; returns what follows its closing quote. The
/// engine escapes `"`, `\`, CR and LF with a backslash; any other backslash is kept as it is,
/// as the engine reads it.
fn csv_quoted<'a>(mut rest: &'a str, out: &mut String) -> Result<&'a str, &'static str> {
    loop {
        let at = memchr::memchr2(b'"', b'\\', rest.as_bytes())
            .ok_or("a quoted value has no closing quote")?;
        out.push_str(rest.get(..at).unwrap_or_default());
        let special = rest.get(at..).unwrap_or_default();
        if let Some(after) = special.strip_prefix('"') {
            return Ok(after);
        }
        let mut chars = special.get(1..).unwrap_or_default().chars();
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(c @ ('"' | '\\')) => out.push(c),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => return Err("a quoted value has no closing quote"),
        }
        rest = chars.as_str();
    }
}

/// Splits a line of `mysql --batch` output into `row`: tab-separated, `\t`, `\n`, `\r`,
/// `\\` and `\0` escaped, `NULL` for a null (read as empty: no column used here is
/// nullable).
fn split_batch(line: &str, row: &mut Row) {
    row.clear();
    for field in line.split('\t') {
        if let Some(hex) = hex_blob(field) {
            decode_hex(hex, &mut row.text);
        } else if field != "NULL" {
            unescape_batch(field, &mut row.text);
        }
        row.end_field();
    }
}

/// The digits of a binary value the client printed in hex (`0x53454C454354`): MySQL 8's
/// client does so for `BLOB` columns (`general_log.argument`, `slow_log.sql_text`) when
/// `--binary-as-hex` is on, its default in interactive use. No SQL statement and no other
/// column of the log tables looks like that.
fn hex_blob(field: &str) -> Option<&str> {
    let digits = field.strip_prefix("0x")?;
    (!digits.is_empty() && digits.len() % 2 == 0 && digits.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some(digits)
}

fn decode_hex(digits: &str, out: &mut String) {
    // `hex_blob` checked every digit, so `to_digit` never falls back.
    let value = |b: u8| char::from(b).to_digit(16).unwrap_or(0);
    let bytes: Vec<u8> = digits
        .as_bytes()
        .chunks_exact(2)
        .map(|pair| match pair {
            [high, low] => (value(*high) << 4 | value(*low)) as u8,
            _ => 0,
        })
        .collect();
    out.push_str(&String::from_utf8_lossy(&bytes));
}

fn unescape_batch(field: &str, out: &mut String) {
    let mut rest = field;
    while let Some(at) = rest.find('\\') {
        out.push_str(rest.get(..at).unwrap_or_default());
        let mut chars = rest.get(at + 1..).unwrap_or_default().chars();
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
        rest = chars.as_str();
    }
    out.push_str(rest);
}

/// A `TIME` value, `HH:MM:SS[.ffffff]` (hours may pass 24), as microseconds.
fn parse_time_of_day(s: &str) -> Option<u64> {
    let (hours, rest) = s.split_once(':')?;
    let (minutes, seconds) = rest.split_once(':')?;
    if hours.is_empty() || !hours.bytes().all(|b| b.is_ascii_digit()) || minutes.len() != 2 {
        return None;
    }
    let hours: u64 = hours.parse().ok()?;
    let minutes: u64 = minutes.parse().ok()?;
    let whole_minutes = hours.checked_mul(60)?.checked_add(minutes)?;
    whole_minutes
        .checked_mul(60_000_000)?
        .checked_add(parse_seconds_micros(seconds)?)
}

/// What both table readers share: the form, the current row, and the columns.
struct Rows {
    table: Table,
    form: Form,
    row: Row,
}

/// A line that is not a row: the message says what was wrong.
type Bad = String;

impl Rows {
    fn new(table: Table) -> Rows {
        Rows {
            table,
            form: Form::Unknown,
            row: Row::default(),
        }
    }

    /// Reads one line: `Ok(Some(columns))` when it is a row (in `self.row`), `Ok(None)` when
    /// it is the header or blank.
    fn read(&mut self, line: &str) -> Result<Option<Columns>, Bad> {
        if line.is_empty() {
            return Ok(None);
        }
        let named = match self.form {
            Form::Csv => {
                split_csv(line, &mut self.row)
                    .map_err(|why| format!("not a row of {}: {why}", self.table.name()))?;
                None
            }
            Form::Batch(named) => {
                split_batch(line, &mut self.row);
                named
            }
            Form::Unknown => {
                self.form = if line.starts_with('"') {
                    Form::Csv
                } else if line.starts_with(|c: char| c.is_ascii_digit()) {
                    Form::Batch(None)
                } else {
                    split_batch(line, &mut self.row);
                    let columns = Columns::named(self.table, &self.row)
                        .map_err(|why| format!("not a header of {}: {why}", self.table.name()))?;
                    Form::Batch(Some(columns))
                };
                // A header is no row; a first row is read in the form it showed.
                return match self.form {
                    Form::Batch(Some(_)) => Ok(None),
                    _ => self.read(line),
                };
            }
        };
        let width = self.row.len();
        let columns = named
            .or_else(|| Columns::fixed(self.table, width))
            .filter(|c| c.width == width)
            .ok_or_else(|| {
                format!(
                    "not a row of {}: {width} columns where {} are expected",
                    self.table.name(),
                    match (named, self.table) {
                        (Some(columns), _) => columns.width.to_string(),
                        (None, Table::General) => "6".to_owned(),
                        (None, Table::Slow) => "12 or 13".to_owned(),
                    }
                )
            })?;
        Ok(Some(columns))
    }

    fn field(&self, column: usize) -> &str {
        self.row.get(column).unwrap_or_default()
    }

    fn optional(&self, column: Option<usize>) -> Option<&str> {
        column.and_then(|c| self.row.get(c))
    }

    fn time(&self, columns: &Columns) -> Result<Timestamp, Bad> {
        let value = self.field(columns.time);
        match parse_sql_time(value) {
            Some((at, used)) if used == value.len() => Ok(at),
            _ => Err(format!(
                "{}: `{}` is not a date and time",
                match self.table {
                    Table::General => "event_time",
                    Table::Slow => "start_time",
                },
                preview(value)
            )),
        }
    }

    fn thread(&self, columns: &Columns) -> Result<Option<u64>, Bad> {
        let Some(value) = self.optional(columns.thread) else {
            return Ok(None);
        };
        value
            .parse()
            .map(Some)
            .map_err(|_| format!("thread_id: `{}` is not a number", preview(value)))
    }

    fn user(&self, columns: &Columns) -> &str {
        self.optional(columns.user_host)
            .map_or("", |who| split_user_host(who).0)
    }
}

/// The start of a bad value, for an error message.
fn preview(value: &str) -> &str {
    let end = value
        .char_indices()
        .nth(40)
        .map_or(value.len(), |(at, _)| at);
    value.get(..end).unwrap_or_default()
}

struct GeneralTable<'s> {
    rows: Rows,
    general: GeneralReader<'s>,
}

impl GeneralTable<'_> {
    fn row(&mut self, line: &str, location: Location) -> Result<(), Bad> {
        let Some(columns) = self.rows.read(line)? else {
            return Ok(());
        };
        let time = self.rows.time(&columns)?;
        let thread = self.rows.thread(&columns)?.unwrap_or_default();
        let command = self.rows.field(columns.command);
        let Some(command) = COMMANDS.iter().copied().find(|&c| c == command) else {
            return Err(format!(
                "command_type: `{}` is not a command the server logs",
                preview(command)
            ));
        };
        let head = RecordHead {
            time: Some(time),
            thread,
            command,
            argument: self.rows.field(columns.text),
        };
        let rows = &self.rows;
        self.general
            .whole_record(head, || rows.user(&columns), location);
        Ok(())
    }
}

impl LineRecords for GeneralTable<'_> {
    fn sink(&mut self) -> &mut dyn EventSink {
        self.general.sink()
    }
    fn stats(&mut self) -> &mut ReadStats {
        self.general.stats()
    }
    fn overlong(&mut self, _head: &str, _location: Location) {
        self.general.skipped_record();
    }
    fn line(&mut self, text: &str, location: Location) {
        if let Err(message) = self.row(text, location) {
            let general = &mut self.general;
            general.skipped_record();
            general.stats().malformed += 1;
            general.sink().malformed(InputError { location, message });
        }
    }
    fn finish(&mut self) {
        self.general.finish();
    }
}

struct SlowTable<'s> {
    rows: Rows,
    sink: &'s mut dyn EventSink,
    /// The session key of the current row, reused.
    session: String,
    stats: ReadStats,
}

impl SlowTable<'_> {
    fn row(&mut self, line: &str, location: Location) -> Result<(), Bad> {
        let read = self.rows.read(line);
        if !matches!(read, Ok(None)) {
            self.stats.records += 1;
        }
        let Some(columns) = read? else {
            return Ok(());
        };
        let rows = &self.rows;
        let time = rows.time(&columns)?;
        let thread = rows.thread(&columns)?;
        let duration_us = match rows.optional(columns.query_time) {
            Some(value) => Some(
                parse_time_of_day(value)
                    .ok_or_else(|| format!("query_time: `{}` is not a time", preview(value)))?,
            ),
            None => None,
        };
        let count = |column| rows.optional(column).and_then(|v| v.parse().ok());
        let sql = statement_text(rows.field(columns.text));
        if sql.is_empty() {
            return Ok(());
        }
        let user = rows.user(&columns);
        self.session.clear();
        match thread {
            Some(thread) => {
                let _ = write!(self.session, "{thread}");
            }
            None => {
                let host = rows
                    .optional(columns.user_host)
                    .map_or("", |who| split_user_host(who).1);
                let _ = write!(self.session, "{user}@{host}");
            }
        }
        let event = QueryEvent {
            location,
            time: Some(time),
            duration_us,
            session: &self.session,
            user: (!user.is_empty()).then_some(user),
            database: rows.optional(columns.db).filter(|db| !db.is_empty()),
            sql,
            rows: rows_sent_or_affected(count(columns.rows_sent), count(columns.rows_affected)),
            ..QueryEvent::default()
        };
        self.sink.event(&event);
        self.stats.events += 1;
        Ok(())
    }
}

impl LineRecords for SlowTable<'_> {
    fn sink(&mut self) -> &mut dyn EventSink {
        self.sink
    }
    fn stats(&mut self) -> &mut ReadStats {
        &mut self.stats
    }
    fn overlong(&mut self, _head: &str, _location: Location) {
        self.stats.records += 1;
    }
    fn line(&mut self, text: &str, location: Location) {
        if let Err(message) = self.row(text, location) {
            self.stats.malformed += 1;
            self.sink.malformed(InputError { location, message });
        }
    }
    fn finish(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use querycomb_core::Collected;

    fn general(log: &str) -> (Collected, ReadStats) {
        let mut sink = Collected::default();
        let stats =
            read_general_with_limit(&mut log.as_bytes(), SourceId(1), &mut sink, 1 << 20).unwrap();
        (sink, stats)
    }

    fn slow(log: &str) -> (Collected, ReadStats) {
        let mut sink = Collected::default();
        let stats =
            read_slow_with_limit(&mut log.as_bytes(), SourceId(1), &mut sink, 1 << 20).unwrap();
        (sink, stats)
    }

    /// Rows as MariaDB 10.11's CSV engine wrote them (general_log.CSV), escapes included.
    const GENERAL_CSV: &str = r#""2026-12-07 21:00:43.673209","[app] @ localhost []",3,1,"Connect","app@localhost on shop using TCP/IP"
"2026-12-07 21:00:43.677888","app[app] @ localhost [127.0.0.1]",3,1,"Query","insert into t values (1,'a \"quoted\", comma'),(2,'line1\nline2\\\\back')"
"2026-12-07 21:00:43.678901","app[app] @ localhost [127.0.0.1]",3,1,"Query","select * from t where id = 1"
"2026-12-07 21:00:43.679355","app[app] @ localhost [127.0.0.1]",3,1,"Query","select 'tab	x', NULL"
"2026-12-07 21:00:43.680000","app[app] @ localhost [127.0.0.1]",3,1,"Init DB","other"
"2026-12-07 21:00:43.680100","app[app] @ localhost [127.0.0.1]",3,1,"Query","select 2"
"2026-12-07 21:00:43.680200","app[app] @ localhost [127.0.0.1]",3,1,"Quit",""
"2026-12-07 21:00:44.000001","root[root] @ localhost []",7,1,"Query","select 3"
"#;

    #[test]
    fn general_csv_rows_are_records_with_microseconds() {
        let (sink, stats) = general(GENERAL_CSV);
        assert!(sink.errors.is_empty(), "{:?}", sink.errors);
        assert_eq!((stats.records, stats.events, stats.malformed), (8, 5, 0));
        let events = &sink.events;
        assert_eq!(
            events[0].sql,
            "insert into t values (1,'a \"quoted\", comma'),(2,'line1\nline2\\\\back')"
        );
        assert_eq!(events[2].sql, "select 'tab\tx', NULL");
        assert_eq!(events[1].time, Some(1_796_677_243_678_901));
        assert_eq!(events[0].session, "3");
        assert_eq!(events[0].user.as_deref(), Some("app"));
        assert_eq!(events[0].database.as_deref(), Some("shop"));
        assert_eq!(events[3].database.as_deref(), Some("other"));
        assert_eq!(events[1].location.line, 3);
        // A connection opened before the log began: its user from `user_host`.
        assert_eq!(events[4].session, "7");
        assert_eq!(events[4].user.as_deref(), Some("root"));
    }

    #[test]
    fn a_thread_id_reused_after_quit_is_a_new_session() {
        let log = r#""2026-12-07 21:00:43.000001","app[app] @ localhost []",3,1,"Query","select 1"
"2026-12-07 21:00:43.000002","app[app] @ localhost []",3,1,"Quit",""
"2026-12-07 21:00:43.000003","[app] @ localhost []",3,1,"Connect","app@localhost on shop using TCP/IP"
"2026-12-07 21:00:43.000004","app[app] @ localhost []",3,1,"Query","select 2"
"#;
        let (sink, _) = general(log);
        let sessions: Vec<&str> = sink.events.iter().map(|e| e.session.as_str()).collect();
        assert_eq!(sessions, ["3", "3#2"]);
    }

    #[test]
    fn general_batch_export_with_a_header_finds_columns_by_name() {
        let log = "thread_id\tcommand_type\targument\tevent_time\n\
                   5\tQuery\tselect 'a\\tb\\nc\\\\d'\t2026-12-07 21:00:43.100000\n\
                   5\tExecute\tselect * from t where id = 2\t2026-12-07 21:00:43.200000\n";
        let (sink, stats) = general(log);
        assert!(sink.errors.is_empty(), "{:?}", sink.errors);
        assert_eq!(stats.events, 2);
        assert_eq!(sink.events[0].sql, "select 'a\tb\nc\\d'");
        assert_eq!(sink.events[1].time, Some(1_796_677_243_200_000));
    }

    #[test]
    fn blobs_the_client_printed_in_hex_are_decoded() {
        // `SELECT 1` and `Query` as MySQL 8's client prints BLOBs with --binary-as-hex.
        let log = "event_time\tthread_id\tcommand_type\targument\n\
                   2026-12-07 21:00:43.100000\t5\tQuery\t0x53454C4543542031\n";
        let (sink, _) = general(log);
        assert!(sink.errors.is_empty(), "{:?}", sink.errors);
        assert_eq!(sink.events[0].sql, "SELECT 1");
        assert_eq!(hex_blob("0x5"), None);
        assert_eq!(hex_blob("0xzz"), None);
        assert_eq!(hex_blob("0x"), None);
    }

    #[test]
    fn general_batch_export_without_a_header_is_in_table_order() {
        let log = "2026-12-07 21:00:43.100000\tapp[app] @ localhost []\t5\t1\tQuery\tselect 1\n";
        let (sink, _) = general(log);
        assert_eq!(sink.events.len(), 1);
        assert_eq!(sink.events[0].session, "5");
    }

    #[test]
    fn slow_csv_rows_of_mariadb_and_mysql() {
        // MariaDB: 13 columns (rows_affected last); MySQL 8: 12.
        let log = r#""2026-12-07 21:00:43.677886","app[app] @ localhost []","00:00:00.000725","00:00:00.000408",0,0,"shop",0,0,1,"insert into t values (1,'x')",3,2
"2026-12-07 21:00:43.678899","app[app] @ localhost []","00:00:00.000203","00:00:00.000066",1,1,"shop",0,0,1,"select * from t where id = 1",3,0
"2026-12-07 21:00:43.679354","root[root] @ localhost []","00:00:00.000039","00:00:00.000000",1,0,"",0,0,1,"select 1;",3,0
"#;
        let (sink, stats) = slow(log);
        assert!(sink.errors.is_empty(), "{:?}", sink.errors);
        assert_eq!((stats.records, stats.events), (3, 3));
        let e = &sink.events;
        assert_eq!(e[0].rows, Some(2));
        assert_eq!(e[0].duration_us, Some(725));
        assert_eq!(e[1].rows, Some(1));
        assert_eq!(e[1].time, Some(1_796_677_243_678_899));
        assert_eq!(e[1].database.as_deref(), Some("shop"));
        assert_eq!(e[2].database, None);
        assert_eq!(e[2].sql, "select 1");
        assert_eq!(e[2].user.as_deref(), Some("root"));
        let mysql = r#""2026-12-07 21:00:43.678899","app[app] @ localhost []","01:02:03.000004","00:00:00.000066",4,1,"shop",0,0,1,"select * from t",12
"#;
        let (sink, _) = slow(mysql);
        assert_eq!(sink.events[0].duration_us, Some(3_723_000_004));
        assert_eq!(sink.events[0].session, "12");
    }

    #[test]
    fn bad_rows_are_reported_with_what_was_wrong_and_skipped() {
        let log = r#""2026-12-07 21:00:43.000001","app[app] @ localhost []",3,1,"Query","select 1"
"2026-13-07 21:00:43.000002","app[app] @ localhost []",3,1,"Query","select 2"
"2026-12-07 21:00:43.000003","app[app] @ localhost []",x,1,"Query","select 3"
"2026-12-07 21:00:43.000004","app[app] @ localhost []",3,1,"Frobnicate","select 4"
"2026-12-07 21:00:43.000005","app[app] @ localhost []",3,1,"Query","select 5
"2026-12-07 21:00:43.000006","app[app] @ localhost []",3,1,"Query"
"2026-12-07 21:00:43.000007","app[app] @ localhost []",3,1,"Query","select 7"
"#;
        let (sink, stats) = general(log);
        let sqls: Vec<&str> = sink.events.iter().map(|e| e.sql.as_str()).collect();
        assert_eq!(sqls, ["select 1", "select 7"]);
        assert_eq!(stats.malformed, 5);
        assert_eq!(stats.records, 7);
        let messages: Vec<(u64, &str)> = sink
            .errors
            .iter()
            .map(|e| (e.location.line, e.message.as_str()))
            .collect();
        assert_eq!(
            messages,
            [
                (
                    2,
                    "event_time: `2026-13-07 21:00:43.000002` is not a date and time"
                ),
                (3, "thread_id: `x` is not a number"),
                (
                    4,
                    "command_type: `Frobnicate` is not a command the server logs"
                ),
                (
                    5,
                    "not a row of mysql.general_log: a quoted value has no closing quote"
                ),
                (
                    6,
                    "not a row of mysql.general_log: 5 columns where 6 are expected"
                ),
            ]
        );
    }

    #[test]
    fn a_header_without_the_needed_columns_is_an_error() {
        let (sink, _) = slow("user_host\tquery_time\nx\ty\n");
        assert_eq!(
            sink.errors[0].message,
            "not a header of mysql.slow_log: the header names no `start_time` column"
        );
    }

    #[test]
    fn sniffs_both_tables_in_both_forms() {
        let general_row = GENERAL_CSV.lines().next().unwrap();
        assert_eq!(sniff_line(general_row), Some(LogFormat::MySqlGeneralTable));
        let slow_row = r#""2026-12-07 21:00:43.678899","app[app] @ localhost []","00:00:00.000203","00:00:00.000066",1,1,"shop",0,0,1,"select 1",3,0"#;
        assert_eq!(sniff_line(slow_row), Some(LogFormat::MySqlSlowTable));
        assert_eq!(
            sniff_line("event_time\tuser_host\tthread_id\tserver_id\tcommand_type\targument"),
            Some(LogFormat::MySqlGeneralTable)
        );
        assert_eq!(
            sniff_line("start_time\tuser_host\tquery_time\tsql_text"),
            Some(LogFormat::MySqlSlowTable)
        );
        assert_eq!(sniff_line("\"a\",\"b\""), None);
        assert_eq!(
            sniff_line("2026-11-21 18:00:17.633 UTC,\"app\",\"shop\",8755"),
            None
        );
    }

    #[test]
    fn times_of_day() {
        assert_eq!(parse_time_of_day("00:00:00.000164"), Some(164));
        assert_eq!(parse_time_of_day("838:59:59"), Some(3_020_399_000_000));
        assert_eq!(parse_time_of_day("0:0"), None);
        assert_eq!(parse_time_of_day("-1:00:00"), None);
    }
}

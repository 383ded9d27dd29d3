//! MySQL and MariaDB slow query log reader.
//!
//! A record is a block of `#` header lines, optional `use db;` and `SET timestamp=…;`
//! lines, then the statement (possibly several lines, `;`-terminated):
//! ```text
//! # Time: 2021-04-06T16:44:12.098414Z                  (MariaDB: `# Time: 261121 20:16:14`, often omitted)
//! # User@Host: root[root] @ localhost []  Id:   129    (MariaDB: no Id here, but
//! # Thread_id: 8  Schema: shop  QC_hit: No              this line instead)
//! # Query_time: 0.781388  Lock_time: 0.000256 Rows_sent: 9  Rows_examined: 663215
//! use employees;
//! SET timestamp=1617727451;
//! SELECT …;
//! ```
//! Each record gives one event with its duration and rows. Its time is the statement's
//! start: `Start:` when MySQL 8's `log_slow_extra` gives it, else `# Time:` minus
//! `Query_time` when `# Time:` has microseconds (MySQL 5.7+), else `SET timestamp`, else the
//! last `# Time:` seen (MariaDB writes it once per second).

use std::fmt::Write as _;
use std::io::{self, BufRead};

use querycomb_core::{EventSink, InputError, Location, QueryEvent, SourceId, Timestamp};

use super::{
    banner_line, parse_iso_time, parse_seconds_micros, parse_short_time, read_lines,
    split_user_host, unquote_ident, Banner, LineRecords, MAX_LINE,
};
use crate::{ReadOptions, ReadStats};

/// Reads a slow query log into `sink`. Only I/O errors are `Err`.
pub fn read(
    input: &mut dyn BufRead,
    source: SourceId,
    _opts: &ReadOptions,
    sink: &mut dyn EventSink,
) -> io::Result<ReadStats> {
    read_with_limit(input, source, sink, MAX_LINE)
}

pub(crate) fn read_with_limit(
    input: &mut dyn BufRead,
    source: SourceId,
    sink: &mut dyn EventSink,
    max_line: usize,
) -> io::Result<ReadStats> {
    read_lines(input, source, max_line, &mut SlowReader::new(sink))
}

/// True for the header lines only a slow log has (used by `sniff`).
pub(crate) fn is_slow_header(line: &str) -> bool {
    line.starts_with("# User@Host: ")
        || line.starts_with("# Query_time: ")
        || line.starts_with("# Thread_id: ")
        || line
            .strip_prefix("# Time: ")
            .is_some_and(|t| parse_time_header(t).is_some())
}

/// Where the reader is within a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first record, or after the banner.
    Idle,
    /// Reading `#` lines, `use`, `SET timestamp`.
    Header,
    /// Reading the statement.
    Statement,
    /// A record that had an overlong line: its remaining lines are dropped.
    Discard,
}

/// What the headers of one record said. Reset per record except where noted.
#[derive(Debug, Default)]
struct Record {
    location: Location,
    thread: Option<u64>,
    user: String,
    host: String,
    /// `Schema:` (MariaDB, Percona), when `has_schema`; empty means "no database".
    schema: String,
    has_schema: bool,
    query_time_us: Option<u64>,
    rows_sent: Option<u64>,
    rows_affected: Option<u64>,
    set_timestamp: Option<i64>,
    /// `Start:` of MySQL 8 `log_slow_extra`: the exact start time.
    start: Option<Timestamp>,
    /// `# administrator command: Quit;` — not a statement.
    admin: bool,
}

impl Record {
    /// Starts over for the record at `location`, keeping the buffers' memory.
    fn reset(&mut self, location: Location) {
        self.location = location;
        self.thread = None;
        self.user.clear();
        self.host.clear();
        self.schema.clear();
        self.has_schema = false;
        self.query_time_us = None;
        self.rows_sent = None;
        self.rows_affected = None;
        self.set_timestamp = None;
        self.start = None;
        self.admin = false;
    }
}

struct SlowReader<'s> {
    sink: &'s mut dyn EventSink,
    state: State,
    record: Record,
    sql: String,
    /// Last `# Time:`, and whether it had microseconds; MariaDB omits it within a second.
    clock: Option<(Timestamp, bool)>,
    /// Last `use db;`: MySQL writes it only when the database differs from the last one
    /// written, so it holds for the following records.
    use_database: Option<String>,
    /// Server starts seen after the first; thread ids start again from 1 after each.
    restarts: u32,
    records_seen: bool,
    session: String,
    stats: ReadStats,
}

impl LineRecords for SlowReader<'_> {
    fn sink(&mut self) -> &mut dyn EventSink {
        self.sink
    }
    fn stats(&mut self) -> &mut ReadStats {
        &mut self.stats
    }
    fn overlong(&mut self, head: &str, location: Location) {
        SlowReader::overlong(self, head, location);
    }
    fn line(&mut self, text: &str, location: Location) {
        SlowReader::line(self, text, location);
    }
    fn finish(&mut self) {
        self.finish_record();
    }
}

impl<'s> SlowReader<'s> {
    fn new(sink: &'s mut dyn EventSink) -> Self {
        SlowReader {
            sink,
            state: State::Idle,
            record: Record::default(),
            sql: String::new(),
            clock: None,
            use_database: None,
            restarts: 0,
            records_seen: false,
            session: String::new(),
            stats: ReadStats::default(),
        }
    }

    fn line(&mut self, text: &str, location: Location) {
        if let Some(banner) = banner_line(text) {
            self.finish_record();
            self.state = State::Idle;
            if banner == Banner::Version && self.records_seen {
                self.restarts += 1;
            }
            return;
        }
        if text.starts_with('#') {
            self.hash_line(text, location);
            return;
        }
        match self.state {
            State::Idle | State::Header => self.header_or_statement(text, location),
            State::Statement => {
                if set_timestamp(text).is_some() && !self.sql.is_empty() {
                    self.next_record_without_headers(location);
                    self.header_or_statement(text, location);
                } else {
                    self.push_sql(text);
                }
            }
            State::Discard => {}
        }
    }

    /// A `#` line: a header (which starts a new record after a statement), the statement's
    /// `# administrator command:`, or a `#` comment inside a multi-line statement.
    fn hash_line(&mut self, text: &str, location: Location) {
        if self.state == State::Statement {
            if self.sql.is_empty() && text.starts_with("# administrator command:") {
                self.record.admin = true;
                return;
            }
            if !self.sql.is_empty() && !looks_like_header(text) {
                self.push_sql(text);
                return;
            }
        }
        if self.state != State::Header {
            self.finish_record();
            self.begin_record(location);
        }
        self.header(text, location);
    }

    /// `use db;`, `SET timestamp=…;`, or the first line of the statement.
    fn header_or_statement(&mut self, text: &str, location: Location) {
        if self.state == State::Idle {
            if text.trim().is_empty() {
                return;
            }
            // A log cut in the middle of a record: its headers are lost.
            self.malformed(location, "slow log statement without its `#` header");
            self.begin_record(location);
            self.state = State::Discard;
            return;
        }
        if let Some(seconds) = set_timestamp(text) {
            self.record.set_timestamp = seconds.or(self.record.set_timestamp);
            self.state = State::Statement;
            return;
        }
        if let Some(database) = use_statement(text) {
            self.use_database = Some(database.to_owned());
            return;
        }
        self.state = State::Statement;
        self.push_sql(text);
    }

    fn push_sql(&mut self, text: &str) {
        if !self.sql.is_empty() {
            self.sql.push('\n');
        }
        self.sql.push_str(text);
    }

    fn begin_record(&mut self, location: Location) {
        self.record.reset(location);
        self.sql.clear();
        self.state = State::Header;
        self.records_seen = true;
    }

    /// `SET timestamp` after a statement with no `#` lines between: a new statement of the
    /// same connection; it keeps who ran it, but the timing belonged to the previous one.
    fn next_record_without_headers(&mut self, location: Location) {
        self.finish_record();
        let thread = self.record.thread;
        let has_schema = self.record.has_schema;
        let (user, host, schema) = (
            std::mem::take(&mut self.record.user),
            std::mem::take(&mut self.record.host),
            std::mem::take(&mut self.record.schema),
        );
        self.begin_record(location);
        self.record.thread = thread;
        self.record.has_schema = has_schema;
        (self.record.user, self.record.host, self.record.schema) = (user, host, schema);
    }

    /// A line too long to keep (`head` is its start): the record it belongs to is dropped.
    fn overlong(&mut self, head: &str, location: Location) {
        if head.starts_with('#') && self.state != State::Header {
            self.finish_record();
            self.begin_record(location);
        }
        self.sql.clear();
        self.finish_record();
        self.state = State::Discard;
    }

    fn malformed(&mut self, location: Location, message: &str) {
        self.stats.malformed += 1;
        self.sink.malformed(InputError {
            location,
            message: message.to_owned(),
        });
    }

    fn header(&mut self, text: &str, location: Location) {
        if let Some(time) = text.strip_prefix("# Time:") {
            match parse_time_header(time.trim()) {
                Some(clock) => self.clock = Some(clock),
                None => self.malformed(location, "unreadable `# Time:` header"),
            }
        } else if let Some(who) = text.strip_prefix("# User@Host:") {
            self.user_host(who);
        } else {
            self.key_values(text);
        }
    }

    /// `root[root] @ localhost []  Id:   129` (MySQL), `app[app] @ localhost [127.0.0.1]`.
    fn user_host(&mut self, who: &str) {
        let (user, host) = split_user_host(who);
        self.record.user.clear();
        self.record.user.push_str(user);
        self.record.host.clear();
        self.record.host.push_str(host);
        if let Some((_, id)) = who.split_once("Id:") {
            self.record.thread = id.trim().parse().ok();
        }
    }

    /// `# Key: value  Key: value` lines: Thread_id, Schema, Query_time, Rows_sent,
    /// Rows_affected; other keys (Lock_time, QC_hit, Bytes_sent, Full_scan, …) are ignored.
    fn key_values(&mut self, text: &str) {
        let mut tokens = text
            .trim_start_matches('#')
            .split_ascii_whitespace()
            .peekable();
        while let Some(token) = tokens.next() {
            let Some(key) = token.strip_suffix(':') else {
                continue;
            };
            let value = match tokens.peek() {
                Some(next) if !next.ends_with(':') => tokens.next().unwrap_or_default(),
                _ => "",
            };
            match key {
                "Thread_id" | "Id" => self.record.thread = value.parse().ok(),
                "Schema" => {
                    self.record.schema.clear();
                    self.record.schema.push_str(value);
                    self.record.has_schema = true;
                }
                "Query_time" => self.record.query_time_us = parse_seconds_micros(value),
                "Rows_sent" => self.record.rows_sent = value.parse().ok(),
                "Rows_affected" => self.record.rows_affected = value.parse().ok(),
                "Start" => self.record.start = parse_iso_time(value).map(|(at, _)| at),
                _ => {}
            }
        }
    }

    /// Ends the current record: emits its statement, if it has one.
    fn finish_record(&mut self) {
        if !matches!(self.state, State::Header | State::Statement) {
            return;
        }
        self.state = State::Idle;
        self.stats.records += 1;
        let sql = statement_text(&self.sql);
        if sql.is_empty() || self.record.admin {
            return;
        }
        let record = &self.record;
        self.session.clear();
        match record.thread {
            Some(thread) => {
                let _ = write!(self.session, "{thread}");
                if self.restarts > 0 {
                    let _ = write!(self.session, "#{}", self.restarts + 1);
                }
            }
            None => {
                let _ = write!(self.session, "{}@{}", record.user, record.host);
            }
        }
        let database = if record.has_schema {
            Some(record.schema.as_str())
        } else {
            self.use_database.as_deref()
        };
        let event = QueryEvent {
            location: record.location,
            time: record
                .start
                .or_else(|| start_time(self.clock, record.set_timestamp, record.query_time_us)),
            duration_us: record.query_time_us,
            session: &self.session,
            user: (!record.user.is_empty()).then_some(record.user.as_str()),
            database: database.filter(|d| !d.is_empty()),
            sql,
            rows: rows(record),
            ..QueryEvent::default()
        };
        self.sink.event(&event);
        self.stats.events += 1;
    }
}

/// When the statement started; see the module comment for the order of preference.
fn start_time(
    clock: Option<(Timestamp, bool)>,
    set_timestamp: Option<i64>,
    duration_us: Option<u64>,
) -> Option<Timestamp> {
    if let (Some((logged, true)), Some(duration)) = (clock, duration_us) {
        return Some(logged.saturating_sub(i64::try_from(duration).unwrap_or(i64::MAX)));
    }
    if let Some(seconds) = set_timestamp {
        return seconds.checked_mul(1_000_000);
    }
    clock.map(|(logged, _)| logged)
}

/// Rows returned, or affected for writes (MariaDB, Percona and `log_slow_extra` say so).
fn rows(record: &Record) -> Option<u64> {
    rows_sent_or_affected(record.rows_sent, record.rows_affected)
}

/// A statement's rows: those sent, or those it changed when it sent none.
pub(super) fn rows_sent_or_affected(sent: Option<u64>, affected: Option<u64>) -> Option<u64> {
    match (sent, affected) {
        (Some(0), Some(affected)) => Some(affected),
        (sent, affected) => sent.or(affected),
    }
}

/// The statement without trailing whitespace and the `;` the server appends.
pub(super) fn statement_text(sql: &str) -> &str {
    let sql = sql.trim_end();
    sql.strip_suffix(';').unwrap_or(sql).trim()
}

/// `2021-04-06T16:44:12.098414Z` (MySQL 5.7+) or `261121 20:16:14` (MariaDB, MySQL ≤ 5.6);
/// the flag says whether it has microseconds.
fn parse_time_header(text: &str) -> Option<(Timestamp, bool)> {
    if let Some((at, used)) = parse_iso_time(text) {
        let fractional = text.get(19..20) == Some(".");
        return (used == text.len()).then_some((at, fractional));
    }
    let (at, used) = parse_short_time(text)?;
    (used == text.len()).then_some((at, false))
}

/// A `# Key: …` line as the server writes it, as opposed to a `#` comment inside SQL.
fn looks_like_header(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("# ") else {
        return false;
    };
    let key_len = rest
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'@' | b' '))
        .count();
    key_len > 0 && rest.as_bytes().get(key_len) == Some(&b':')
}

/// `SET timestamp=1617727451;`, also `SET last_insert_id=5,insert_id=6,timestamp=…;`.
/// Returns `Some(None)` for such a line without a readable timestamp.
fn set_timestamp(text: &str) -> Option<Option<i64>> {
    let body = text.strip_prefix("SET ")?.strip_suffix(';')?;
    let mut timestamp = None;
    for assignment in body.split(',') {
        let (name, value) = assignment.split_once('=')?;
        match name.trim() {
            "timestamp" => timestamp = value.trim().parse().ok(),
            "last_insert_id" | "insert_id" => {}
            _ => return None,
        }
    }
    Some(timestamp)
}

/// `use shop;` or ``use `shop`;``.
fn use_statement(text: &str) -> Option<&str> {
    let name = text.strip_prefix("use ")?.strip_suffix(';')?.trim();
    let name = unquote_ident(name);
    (!name.is_empty() && !name.contains(char::is_whitespace)).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    use querycomb_core::Collected as Collect;

    fn read_bytes(mut log: &[u8], max_line: usize) -> (Collect, ReadStats) {
        let mut sink = Collect::default();
        let stats = read_with_limit(&mut log, SourceId(1), &mut sink, max_line).unwrap();
        (sink, stats)
    }

    fn read_str(log: &str) -> (Collect, ReadStats) {
        read_bytes(log.as_bytes(), MAX_LINE)
    }

    /// Records from real MySQL 8 slow logs (public examples; see FIELD-NOTES).
    const MYSQL8: &str =
        "/usr/sbin/mysqld, Version: 8.0.23 (MySQL Community Server - GPL). started with:
Tcp port: 3306  Unix socket: /var/run/mysqld/mysqld.sock
Time                 Id Command    Argument
# Time: 2021-04-06T16:44:12.098414Z
# User@Host: root[root] @ localhost []  Id:   129
# Query_time: 0.781388  Lock_time: 0.000256 Rows_sent: 9  Rows_examined: 663215
use employees;
SET timestamp=1617727451;
SELECT departments.dept_no
      ,MIN(dept_name)
FROM employees
# a comment line inside the statement
GROUP BY dept_emp.dept_no;
# Time: 2017-08-04T19:24:50.630232Z
# User@Host: app[app] @ web1 [10.0.0.7]  Id:   236
# Schema:   Last_errno: 0  Killed: 0
# Query_time: 11.003017  Lock_time: 0.000000  Rows_sent: 0  Rows_examined: 0  Rows_affected: 3
# Bytes_sent: 57
SET last_insert_id=12,insert_id=13,timestamp=1501874690;
INSERT INTO t VALUES (1), (2), (3);
# Time: 2017-08-04T19:24:51.000001Z
# User@Host: app[app] @ web1 [10.0.0.7]  Id:   236
# Query_time: 0.000001  Lock_time: 0.000000 Rows_sent: 0  Rows_examined: 0
SET timestamp=1501874691;
# administrator command: Quit;
";

    #[test]
    fn mysql8_records() {
        let (sink, stats) = read_str(MYSQL8);
        assert!(sink.errors.is_empty(), "{:?}", sink.errors);
        assert_eq!(sink.events.len(), 2);
        let first = &sink.events[0];
        assert_eq!(
            first.sql,
            "SELECT departments.dept_no\n      ,MIN(dept_name)\nFROM employees\n# a comment line inside the statement\nGROUP BY dept_emp.dept_no"
        );
        assert_eq!(first.session, "129");
        assert_eq!(first.user.as_deref(), Some("root"));
        assert_eq!(first.database.as_deref(), Some("employees"));
        assert_eq!(first.duration_us, Some(781_388));
        assert_eq!(first.rows, Some(9));
        // # Time (end, with microseconds) minus Query_time.
        assert_eq!(first.time, Some(1_617_727_452_098_414 - 781_388));
        assert_eq!(first.location.line, 4);
        let second = &sink.events[1];
        assert_eq!(second.sql, "INSERT INTO t VALUES (1), (2), (3)");
        assert_eq!(second.session, "236");
        assert_eq!(second.user.as_deref(), Some("app"));
        // `Schema:` empty says "no database", overriding the sticky `use`.
        assert_eq!(second.database, None);
        assert_eq!(second.rows, Some(3));
        assert_eq!(second.duration_us, Some(11_003_017));
        assert_eq!(stats.records, 3);
        assert_eq!(stats.events, 2);
    }

    /// As MariaDB 10.11 wrote it (see examples/mariadb-slow.log).
    const MARIADB: &str =
        "mariadbd, Version: 10.11.19-MariaDB-0+deb12u1-log (Debian 12). started with:
Tcp port: 33999  Unix socket: /tmp/mdbx/sock
Time\t\t    Id Command\tArgument
# Time: 261121 20:16:11
# User@Host: root[root] @ localhost []
# Thread_id: 3  Schema:   QC_hit: No
# Query_time: 0.000108  Lock_time: 0.000000  Rows_sent: 1  Rows_examined: 0
# Rows_affected: 0  Bytes_sent: 58
SET timestamp=1795292171;
select 1;
# User@Host: root[root] @ localhost []
# Thread_id: 5  Schema: shop  QC_hit: No
# Query_time: 0.006155  Lock_time: 0.000721  Rows_sent: 0  Rows_examined: 0
# Rows_affected: 2  Bytes_sent: 50
use `shop`;
SET timestamp=1795292174;
INSERT INTO c VALUES (1,'a'),(2,'b');
# User@Host: app[app] @ localhost [127.0.0.1]
# Thread_id: 6  Schema: shop  QC_hit: No
# Query_time: 0.000238  Lock_time: 0.000074  Rows_sent: 1  Rows_examined: 1
# Rows_affected: 0  Bytes_sent: 110
SET timestamp=1795292174;
SELECT *
  FROM c
 WHERE id = 1;
";

    #[test]
    fn mariadb_records() {
        let (sink, stats) = read_str(MARIADB);
        assert!(sink.errors.is_empty(), "{:?}", sink.errors);
        let got: Vec<_> = sink
            .events
            .iter()
            .map(|e| {
                (
                    e.session.as_str(),
                    e.sql.as_str(),
                    e.user.as_deref(),
                    e.database.as_deref(),
                    e.duration_us,
                    e.rows,
                    e.time,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "3",
                    "select 1",
                    Some("root"),
                    None,
                    Some(108),
                    Some(1),
                    Some(1_795_292_171_000_000)
                ),
                (
                    "5",
                    "INSERT INTO c VALUES (1,'a'),(2,'b')",
                    Some("root"),
                    Some("shop"),
                    Some(6155),
                    Some(2),
                    Some(1_795_292_174_000_000)
                ),
                (
                    "6",
                    "SELECT *\n  FROM c\n WHERE id = 1",
                    Some("app"),
                    Some("shop"),
                    Some(238),
                    Some(1),
                    Some(1_795_292_174_000_000)
                ),
            ]
        );
        assert_eq!(sink.events[1].location.line, 11);
        assert_eq!(stats.records, 3);
    }

    #[test]
    fn mysql8_log_slow_extra() {
        let log = "# Time: 2019-04-15T10:04:57.108553Z
# User@Host: root[root] @ localhost []  Id:     8
# Query_time: 0.000179  Lock_time: 0.000000 Rows_sent: 0  Rows_examined: 0 Thread_id: 8 Errno: 0 Killed: 0 Bytes_received: 0 Bytes_sent: 57 Read_first: 0 Rows_affected: 1 Start: 2019-04-15T10:04:57.108374Z End: 2019-04-15T10:04:57.108553Z
SET timestamp=1555322697;
UPDATE t SET a = 1 WHERE id = 2;
";
        let (sink, _) = read_str(log);
        let e = &sink.events[0];
        assert_eq!(e.time, Some(1_555_322_697_108_374));
        assert_eq!((e.rows, e.duration_us), (Some(1), Some(179)));
        assert_eq!(e.session, "8");
    }

    #[test]
    fn inherits_time_when_set_timestamp_missing() {
        let log = "# Time: 261121 20:16:11\n# User@Host: a[a] @ h []\n# Thread_id: 3  Schema: s\n# Query_time: 0.1\nSELECT 1;\n# User@Host: a[a] @ h []\n# Thread_id: 3  Schema: s\n# Query_time: 0.2\nSELECT 2;\n";
        let (sink, _) = read_str(log);
        let times: Vec<_> = sink.events.iter().map(|e| e.time).collect();
        assert_eq!(times, [Some(1_795_292_171_000_000); 2]);
        assert_eq!(sink.events[1].duration_us, Some(200_000));
    }

    #[test]
    fn restart_and_missing_thread_id() {
        let log = "# User@Host: a[a] @ h []  Id: 4\n# Query_time: 0.1\nSET timestamp=1;\nSELECT 1;\nmariadbd, Version: 10.11.19-MariaDB (Debian 12). started with:\n# User@Host: a[a] @ h []  Id: 4\n# Query_time: 0.1\nSET timestamp=2;\nSELECT 2;\n# User@Host: b[b] @ web []\n# Query_time: 0.1\nSET timestamp=3;\nSELECT 3;\n";
        let (sink, _) = read_str(log);
        let sessions: Vec<_> = sink.events.iter().map(|e| e.session.as_str()).collect();
        assert_eq!(sessions, ["4", "4#2", "b@web"]);
    }

    #[test]
    fn set_timestamp_without_headers_starts_a_statement() {
        let log = "# User@Host: a[a] @ h []  Id: 4\n# Query_time: 0.1\nSET timestamp=1;\nSELECT 1;\nSET timestamp=2;\nSELECT 2;\n";
        let (sink, stats) = read_str(log);
        let got: Vec<_> = sink
            .events
            .iter()
            .map(|e| (e.sql.as_str(), e.session.as_str(), e.duration_us, e.time))
            .collect();
        assert_eq!(
            got,
            [
                ("SELECT 1", "4", Some(100_000), Some(1_000_000)),
                ("SELECT 2", "4", None, Some(2_000_000))
            ]
        );
        assert_eq!(stats.records, 2);
    }

    #[test]
    fn bad_input_is_reported_and_skipped() {
        let log = b"stray statement;\nmore\n# Time: 26112x 20:16:11\n# User@Host: a[a] @ h []  Id: 4\n# Query_time: 0.1\nSET timestamp=1;\nSELECT '\xff';\n";
        let (sink, stats) = read_bytes(log, MAX_LINE);
        let messages: Vec<_> = sink
            .errors
            .iter()
            .map(|e| (e.location.line, e.message.as_str()))
            .collect();
        assert_eq!(messages.len(), 3);
        assert_eq!(
            messages[0],
            (1, "slow log statement without its `#` header")
        );
        assert_eq!(messages[1], (3, "unreadable `# Time:` header"));
        assert_eq!(messages[2].0, 7);
        assert_eq!(sink.events.len(), 1);
        assert_eq!(sink.events[0].sql, "SELECT '\u{fffd}'");
        assert_eq!(stats.malformed, 3);
    }

    #[test]
    fn overlong_line_drops_its_record() {
        let long = "y".repeat(200);
        let log = format!("# User@Host: a[a] @ h []  Id: 4\nSET timestamp=1;\nSELECT '{long}'\nAND 1;\n# User@Host: a[a] @ h []  Id: 4\nSET timestamp=1;\nSELECT 2;\n");
        let (sink, stats) = read_bytes(log.as_bytes(), 100);
        let sqls: Vec<_> = sink.events.iter().map(|e| e.sql.as_str()).collect();
        assert_eq!(sqls, ["SELECT 2"]);
        assert_eq!(sink.errors.len(), 1);
        assert_eq!(stats.malformed, 1);
    }

    #[test]
    fn overlong_statement_line_after_sql_drops_the_whole_statement() {
        let long = "y".repeat(200);
        let log = format!("# User@Host: a[a] @ h []  Id: 4\nSET timestamp=1;\nSELECT 1\nFROM t WHERE a = '{long}';\nSELECT 'still dropped';\n# User@Host: a[a] @ h []  Id: 4\nSET timestamp=1;\nSELECT 2;\n");
        let (sink, stats) = read_bytes(log.as_bytes(), 100);
        let sqls: Vec<_> = sink.events.iter().map(|e| e.sql.as_str()).collect();
        assert_eq!(sqls, ["SELECT 2"]);
        assert_eq!((stats.records, stats.malformed), (2, 1));
    }

    #[test]
    fn never_panics_on_prefixes() {
        for log in [MYSQL8, MARIADB] {
            for end in 0..=log.len() {
                if let Some(prefix) = log.get(..end) {
                    let _ = read_str(prefix);
                }
            }
        }
    }
}

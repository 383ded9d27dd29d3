//! MySQL 8 and MariaDB server logs: the general query log ([`general`]) and the slow query
//! log ([`slow`]), plus what both need: format sniffing, a bounded line reader, timestamp
//! parsing and the server banner that opens every log file (and reappears after a restart).

pub mod general;
pub mod slow;
pub mod table;

use std::io::{self, BufRead};

use querycomb_core::{EventSink, InputError, Location, SourceId, Timestamp};

use crate::lines::{Line, LineReader};
use crate::{LogFormat, ReadStats};

/// Longest line kept (the line reader's cap). Longer lines are reported and skipped without
/// being buffered whole, so a 100 MB single-line file costs at most this much memory.
pub(crate) const MAX_LINE: usize = crate::lines::MAX_LINE;

/// How many lines of the head [`sniff`] looks at.
const SNIFF_LINES: usize = 200;

/// Recognises a MySQL/MariaDB general or slow log from its first few KiB.
///
/// A slow log is recognised by its `# User@Host:`/`# Query_time:`/`# Thread_id:` headers; a
/// general log by a record line with a known command (`Query`, `Connect`, ...) behind a
/// MySQL 8 or MariaDB timestamp, or by the `Time  Id Command  Argument` banner. PostgreSQL
/// lines never match: their timestamps have a space where MySQL 8 has a `T`, and a
/// MariaDB record needs `YYMMDD HH:MM:SS` followed by a thread id and a command name.
pub fn sniff(head: &[u8]) -> Option<LogFormat> {
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        // A multi-byte character cut at the end of the head, or binary junk further on.
        Err(e) => std::str::from_utf8(head.get(..e.valid_up_to())?).ok()?,
    };
    if let Some(table) = text
        .lines()
        .find(|line| !line.is_empty())
        .and_then(table::sniff_line)
    {
        return Some(table);
    }
    let mut general = false;
    let mut banner = false;
    for line in text.lines().take(SNIFF_LINES) {
        if slow::is_slow_header(line) {
            return Some(LogFormat::MySqlSlow);
        }
        if general::parse_record(line).is_some() {
            general = true;
        } else if matches!(banner_line(line), Some(Banner::Columns)) {
            banner = true;
        }
    }
    // A log holding nothing but the banner has no records either way; call it general.
    (general || banner).then_some(LogFormat::MySqlGeneral)
}

/// The lines a server writes at the top of a general or slow log file when it opens it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Banner {
    /// `/usr/sbin/mysqld, Version: 8.0.36 (...). started with:` — the server (re)started, so
    /// thread ids start again from 1.
    Version,
    /// `Tcp port: 3306  Unix socket: /run/mysqld/mysqld.sock`
    Port,
    /// `Time                 Id Command    Argument`
    Columns,
}

pub(crate) fn banner_line(line: &str) -> Option<Banner> {
    // Suffix and prefix tests first: this runs on every line of a log.
    if line.ends_with("started with:") && line.contains(", Version: ") {
        Some(Banner::Version)
    } else if line.starts_with("Tcp port: ") {
        Some(Banner::Port)
    } else if line.starts_with("Time")
        && line.contains("Id Command")
        && line.trim_end().ends_with("Argument")
    {
        Some(Banner::Columns)
    } else {
        None
    }
}

/// A log format's record parser, fed line by line by [`read_lines`].
pub(crate) trait LineRecords {
    fn sink(&mut self) -> &mut dyn EventSink;
    fn stats(&mut self) -> &mut ReadStats;
    /// A line too long to keep: `head` is its first bytes, enough to tell whether it
    /// starts a record (whose statement must then be dropped).
    fn overlong(&mut self, head: &str, location: Location);
    fn line(&mut self, text: &str, location: Location);
    /// End of input: emit what is still pending.
    fn finish(&mut self);
}

/// The read loop both MySQL readers share, over the crate's one line reader: line-level
/// problems reported the same way (an over-long line skipped, invalid UTF-8 replaced), every
/// line handed to `records`. Only I/O errors are `Err`.
pub(crate) fn read_lines(
    input: &mut dyn BufRead,
    source: SourceId,
    max_line: usize,
    records: &mut dyn LineRecords,
) -> io::Result<ReadStats> {
    let mut lines = LineReader::with_cap(input, max_line);
    let mut lossy = String::new();
    while let Some(line) = lines.next_line()? {
        match line {
            Line::Text {
                bytes, line, byte, ..
            } => {
                let location = Location { source, line, byte };
                let text = match std::str::from_utf8(bytes) {
                    Ok(text) => text,
                    Err(e) => {
                        records.stats().malformed += 1;
                        records.sink().malformed(InputError {
                            location,
                            message: format!(
                                "invalid UTF-8 at byte {} of the line (replaced by U+FFFD)",
                                byte + e.valid_up_to() as u64
                            ),
                        });
                        lossy.clear();
                        lossy.push_str(&String::from_utf8_lossy(bytes));
                        &lossy
                    }
                };
                records.line(text, location);
            }
            Line::TooLong {
                line, byte, head, ..
            } => {
                let location = Location { source, line, byte };
                records.stats().malformed += 1;
                records.sink().malformed(InputError {
                    location,
                    message: format!("line longer than {} MiB skipped", max_line >> 20),
                });
                records.overlong(&String::from_utf8_lossy(head), location);
            }
        }
    }
    records.finish();
    records.stats().bytes = lines.bytes_read();
    Ok(*records.stats())
}

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn epoch_micros(date: (i64, u32, u32), time: (u32, u32, u32), micros: u32) -> Option<Timestamp> {
    let (year, month, day) = date;
    let (hour, minute, second) = time;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // 60 allows a leap second as written.
    if second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Some(seconds * 1_000_000 + i64::from(micros))
}

/// Parses exactly `n` ASCII digits at the start of `s`.
fn digits(s: &str, n: usize) -> Option<u32> {
    let part = s.get(..n)?;
    if !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

/// MySQL 5.7+/8 timestamp: `2016-06-07T19:07:02.558713Z`, fraction optional, `Z` or
/// `±HH:MM` (log_timestamps=SYSTEM) or nothing. Returns microseconds since the epoch, UTC,
/// and the bytes used.
pub(crate) fn parse_iso_time(s: &str) -> Option<(Timestamp, usize)> {
    parse_date_time(s, b'T')
}

/// A `DATETIME`/`TIMESTAMP` value as the server prints it: `2026-12-07 21:00:43.673209`,
/// fraction optional (the log tables' `event_time` and `start_time`). Server time, taken as
/// UTC like [`parse_short_time`]. Returns the time and the bytes used.
pub(crate) fn parse_sql_time(s: &str) -> Option<(Timestamp, usize)> {
    parse_date_time(s, b' ')
}

/// `YYYY-MM-DD<between>HH:MM:SS[.fraction][Z|±HH:MM]`.
fn parse_date_time(s: &str, between: u8) -> Option<(Timestamp, usize)> {
    let b = s.as_bytes();
    let separators = [(4, b'-'), (7, b'-'), (10, between), (13, b':'), (16, b':')];
    if separators.iter().any(|&(at, c)| b.get(at) != Some(&c)) {
        return None;
    }
    let date = (
        i64::from(digits(s, 4)?),
        digits(s.get(5..)?, 2)?,
        digits(s.get(8..)?, 2)?,
    );
    let time = (
        digits(s.get(11..)?, 2)?,
        digits(s.get(14..)?, 2)?,
        digits(s.get(17..)?, 2)?,
    );
    let mut used = 19;
    let mut micros = 0u32;
    if b.get(used) == Some(&b'.') {
        let frac_len = b
            .get(used + 1..)?
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if frac_len == 0 {
            return None;
        }
        micros = fraction_micros(s.get(used + 1..used + 1 + frac_len)?);
        used += 1 + frac_len;
    }
    let mut at = epoch_micros(date, time, micros)?;
    match b.get(used) {
        Some(b'Z') => used += 1,
        Some(&sign @ (b'+' | b'-')) => {
            let hours = digits(s.get(used + 1..)?, 2)?;
            let minutes = if b.get(used + 3) == Some(&b':') {
                digits(s.get(used + 4..)?, 2)?
            } else {
                return None;
            };
            let offset = i64::from(hours * 3600 + minutes * 60) * 1_000_000;
            at = if sign == b'+' {
                at - offset
            } else {
                at + offset
            };
            used += 6;
        }
        _ => {}
    }
    Some((at, used))
}

/// Microseconds from the digits after a decimal point (`558713`, `5`, `123456789`).
fn fraction_micros(frac: &str) -> u32 {
    let mut micros = 0u32;
    for i in 0..6 {
        let digit = frac.as_bytes().get(i).map_or(0, |d| u32::from(d - b'0'));
        micros = micros * 10 + digit;
    }
    micros
}

/// MariaDB (and MySQL ≤ 5.6) timestamp: `260916 18:49:29`, or `260916  9:05:03` with the
/// hour padded by a space. Local server time, taken as UTC: the log does not say the zone.
pub(crate) fn parse_short_time(s: &str) -> Option<(Timestamp, usize)> {
    let b = s.as_bytes();
    let year = 2000 + i64::from(digits(s, 2)?);
    let month = digits(s.get(2..)?, 2)?;
    let day = digits(s.get(4..)?, 2)?;
    if b.get(6) != Some(&b' ') {
        return None;
    }
    let hour_text = s.get(7..9)?;
    let hour = hour_text.trim_start().parse::<u32>().ok()?;
    if hour_text.starts_with("  ") || b.get(9) != Some(&b':') || b.get(12) != Some(&b':') {
        return None;
    }
    let minute = digits(s.get(10..)?, 2)?;
    let second = digits(s.get(13..)?, 2)?;
    let at = epoch_micros((year, month, day), (hour, minute, second), 0)?;
    Some((at, 15))
}

/// Seconds with up to six decimals (`0.000123`, `12.5`) as whole microseconds, without
/// going through floating point.
pub(crate) fn parse_seconds_micros(s: &str) -> Option<u64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    whole
        .checked_mul(1_000_000)?
        .checked_add(u64::from(fraction_micros(frac)))
}

/// The account and host of a `user_host` value: `app[app] @ localhost [127.0.0.1]` →
/// (`app`, `localhost`); `[root] @ localhost []` (a `Connect` row's) → (``, `localhost`);
/// MySQL's slow-log header adds `  Id:   129` after the host, which is left out.
pub(crate) fn split_user_host(who: &str) -> (&str, &str) {
    let (account, rest) = who.split_once(" @ ").unwrap_or((who, ""));
    let user = account.trim();
    let user = user.split_once('[').map_or(user, |(name, _)| name).trim();
    let host = rest.trim_start();
    let host = host
        .split_once(['[', ' '])
        .map_or(host, |(name, _)| name)
        .trim();
    (user, host)
}

/// Removes one pair of backticks around an identifier (`` `shop` `` → `shop`).
pub(crate) fn unquote_ident(name: &str) -> &str {
    name.strip_prefix('`')
        .and_then(|n| n.strip_suffix('`'))
        .unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_times() {
        let (at, used) = parse_iso_time("2016-06-07T19:07:02.558713Z\t 4").unwrap();
        assert_eq!(at, 1_465_326_422_558_713);
        assert_eq!(used, 27);
        let (at, _) = parse_iso_time("2020-08-05T13:03:41.5+02:00").unwrap();
        assert_eq!(at, 1_596_625_421_500_000);
        assert!(parse_iso_time("2016-06-07 19:07:02.558713Z").is_none());
        assert!(parse_iso_time("2016-13-07T19:07:02Z").is_none());
        assert!(parse_iso_time("2016-06-07T19:07:0").is_none());
        let (at, used) = parse_sql_time("2016-06-07 19:07:02.558713").unwrap();
        assert_eq!((at, used), (1_465_326_422_558_713, 26));
        assert_eq!(parse_sql_time("2016-06-07 19:07:02").unwrap().1, 19);
        assert!(parse_sql_time("2016-06-07T19:07:02").is_none());
    }

    #[test]
    fn user_hosts() {
        assert_eq!(
            split_user_host("app[app] @ localhost [127.0.0.1]"),
            ("app", "localhost")
        );
        assert_eq!(split_user_host("[root] @ localhost []"), ("", "localhost"));
        assert_eq!(
            split_user_host("root[root] @ localhost []  Id:   129"),
            ("root", "localhost")
        );
        assert_eq!(split_user_host("app[app] @  [10.0.0.7]"), ("app", ""));
    }

    #[test]
    fn short_times() {
        assert_eq!(
            parse_short_time("260916 18:49:29\t").unwrap(),
            (1_789_584_569_000_000, 15)
        );
        let (nine, _) = parse_short_time("261121  9:05:03").unwrap();
        let (nine_padded, _) = parse_short_time("261121 09:05:03").unwrap();
        assert_eq!(nine, nine_padded);
        assert!(parse_short_time("2611219:05:03").is_none());
        assert!(parse_short_time("261121   :05:03").is_none());
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds_micros("0.000123"), Some(123));
        assert_eq!(parse_seconds_micros("11.003017"), Some(11_003_017));
        assert_eq!(parse_seconds_micros("2"), Some(2_000_000));
        assert_eq!(parse_seconds_micros("0.1234567"), Some(123_456));
        assert_eq!(parse_seconds_micros("-1"), None);
        assert_eq!(parse_seconds_micros(""), None);
        assert_eq!(parse_seconds_micros("99999999999999999999"), None);
    }

    #[test]
    fn sniffs_both_formats_and_not_postgres() {
        let mysql8 = b"/usr/sbin/mysqld, Version: 8.0.36 (MySQL Community Server - GPL). started with:\nTcp port: 3306  Unix socket: /var/run/mysqld/mysqld.sock\nTime                 Id Command    Argument\n2020-07-25T14:35:56.331972Z\t    6 Query\tshow databases\n";
        assert_eq!(sniff(mysql8), Some(LogFormat::MySqlGeneral));
        let maria = b"260916 18:49:29\t     3 Query\tSELECT 1\n\t\t     3 Quit\t\n";
        assert_eq!(sniff(maria), Some(LogFormat::MySqlGeneral));
        let slow = b"/usr/sbin/mysqld, Version: 8.0.23 (MySQL Community Server - GPL). started with:\nTcp port: 3306  Unix socket: /var/run/mysqld/mysqld.sock\nTime                 Id Command    Argument\n# Time: 2021-04-06T16:44:12.098414Z\n# User@Host: root[root] @ localhost []  Id:   129\n";
        assert_eq!(sniff(slow), Some(LogFormat::MySqlSlow));
        let pg_stderr = b"2026-11-21 18:00:17.633 UTC [8755] app@shop LOG:  statement: SELECT 1\n";
        assert_eq!(sniff(pg_stderr), None);
        let pg_csv = b"2026-11-21 18:00:17.633 UTC,\"app\",\"shop\",8755,\"[local]\",1,\"idle\",2026-11-21 18:00:17 UTC,3/4,0,LOG,00000,\"statement: SELECT 1\",,,,,,,,,\"psql\",\"client backend\",,0\n";
        assert_eq!(sniff(pg_csv), None);
        let pg_json = b"{\"timestamp\":\"2026-11-21 18:00:17.633 UTC\",\"user\":\"app\",\"message\":\"statement: SELECT 1\"}\n";
        assert_eq!(sniff(pg_json), None);
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"\xff\xfe\x00garbage"), None);
    }
}

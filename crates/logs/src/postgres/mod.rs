//! PostgreSQL server logs: `stderr` with any `log_line_prefix` ([`stderr`]), `csvlog`
//! ([`csv`]) and `jsonlog` ([`json`]). The formats differ in framing only; all three feed the
//! same record assembler, which pairs statements with their parameters, durations and
//! errors.

mod assemble;
pub mod csv;
pub mod json;
mod prefix;
pub mod stderr;
mod time;

use crate::LogFormat;

/// Recognises a PostgreSQL log from its first few KiB (a partial last line is ignored).
pub fn sniff(head: &[u8]) -> Option<LogFormat> {
    let first = head
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .find(|l| !l.is_empty())?;
    if first.starts_with(b"{\"timestamp\":\"") {
        return Some(LogFormat::PgJson);
    }
    if let Some((field, _)) = memchr::memchr(b',', first).and_then(|c| first.split_at_checked(c)) {
        if time::parse_timestamp(field).is_some() {
            return Some(LogFormat::PgCsv);
        }
    }
    prefix::detect(head, false).map(|_| LogFormat::PgStderr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_the_three_formats() {
        let stderr = b"2026-11-21 18:00:17.633 UTC [8755] app@shop LOG:  statement: SELECT 1\n";
        assert_eq!(sniff(stderr), Some(LogFormat::PgStderr));
        let csv = b"2026-11-21 20:17:16.004 UTC,\"app\",\"shop\",12736,\"127.0.0.1:53880\",6b01fc4c.31c0,2,\"idle\",2026-11-21 20:17:16 UTC,3/1,0,LOG,00000,\"statement: SELECT 1\",,,,,,,,,\"psql\",\"client backend\",,0\n";
        assert_eq!(sniff(csv), Some(LogFormat::PgCsv));
        let json = b"{\"timestamp\":\"2026-11-21 20:17:16.226 UTC\",\"user\":\"app\"}\n";
        assert_eq!(sniff(json), Some(LogFormat::PgJson));
        assert_eq!(
            sniff(b"2016-06-07T19:07:02.558713Z    4 Query\tSELECT 1\n"),
            None
        );
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"\xff\xfe\x00\x01"), None);
    }
}

//! The MySQL/MariaDB log tables read from a live server: `querycomb analyze
//! mysql://user:password@host:3306/mysql.general_log` (or `/mysql.slow_log`, or `mariadb://`).
//! On Amazon RDS, and wherever the server's files are out of reach, the tables are all there
//! is of the logs (`log_output = TABLE`).
//!
//! The rows are read in a read-only session with time limits
//! ([`querycomb_explain::ReadOnlySession`]), on a thread of their own, and handed over as
//! what `mysql --batch` prints (a header of column names, then tab-separated rows with `\t`,
//! `\n`, `\r`, `\\` and `\0` escaped and `NULL` for a null) through a bounded channel: memory
//! stays a few chunks whatever the table holds, and the log-table reader
//! (`querycomb_logs::LogFormat::MySqlGeneralTable`) reads them as it reads an export. The
//! session's own statements are left out (`thread_id <> CONNECTION_ID()`).

use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use querycomb_explain::mysql_client::prelude::Queryable;
use querycomb_explain::mysql_client::Value;
use querycomb_explain::{redact, ReadOnlySession};

/// What to say when a table gave no rows.
pub const WHEN_EMPTY: &str = "the table has no rows: the server writes its logs there only \
    with general_log = 1 (or slow_query_log = 1) and log_output = TABLE (or FILE,TABLE)";

/// The time limit of the one statement that reads the table: a big table takes a while to
/// send, and the session is read-only whatever it runs.
const READ_TIMEOUT_MS: u64 = 10 * 60 * 1000;
/// How long the read may wait for a lock (MySQL's log tables take none for reading).
const LOCK_TIMEOUT_MS: u64 = 1000;
/// Bytes per chunk handed over, and chunks in flight.
const CHUNK: usize = 256 << 10;
const CHUNKS_IN_FLIGHT: usize = 4;

/// A log table named by a URL: the server to read it from, and which table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableUrl {
    /// The URL as given, its password hidden: what reports show.
    pub name: String,
    /// The URL without the table: what the session connects to.
    dsn: String,
    /// `general_log` or `slow_log`.
    table: &'static str,
}

impl TableUrl {
    /// `mysql://…/mysql.general_log` and the like; `None` for anything else (a file path).
    /// An URL of another table is an error, naming what is read.
    pub fn parse(arg: &str) -> Option<Result<TableUrl, String>> {
        let (scheme, rest) = arg.split_once("://")?;
        if !matches!(scheme, "mysql" | "mariadb") {
            return None;
        }
        // The table follows the first `/` after the host (a password's `/` is escaped).
        let host_at = rest.rfind('@').map_or(0, |at| at + 1);
        let slash = rest.get(host_at..)?.find('/').map(|at| at + host_at);
        let (authority, path) = match slash {
            Some(at) => (rest.get(..at)?, rest.get(at + 1..)?),
            None => (rest, ""),
        };
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let table = match path.strip_prefix("mysql.").unwrap_or(path) {
            "general_log" => "general_log",
            "slow_log" => "slow_log",
            _ => {
                return Some(Err(format!(
                    "{}: name the log table to read, mysql.general_log or mysql.slow_log \
                     (as the URL's path)",
                    redact(arg)
                )))
            }
        };
        let mut dsn = format!("{scheme}://{authority}/");
        if !query.is_empty() {
            dsn.push('?');
            dsn.push_str(query);
        }
        Some(Ok(TableUrl {
            name: redact(arg),
            dsn,
            table,
        }))
    }

    /// Connects, starts reading on a thread of its own, and returns the rows as a stream.
    pub fn open(&self) -> Result<Box<dyn Read + Send>, String> {
        let session = ReadOnlySession::open(&self.dsn, READ_TIMEOUT_MS, LOCK_TIMEOUT_MS)?;
        let (sender, receiver) = sync_channel(CHUNKS_IN_FLIGHT);
        let table = self.table;
        std::thread::Builder::new()
            .name(format!("read mysql.{table}"))
            .spawn(move || {
                if let Err(e) = send_rows(session, table, &sender) {
                    let _ = sender.send(Err(io::Error::other(e)));
                }
            })
            .map_err(|e| format!("cannot start reading mysql.{table}: {e}"))?;
        Ok(Box::new(Chunks {
            receiver,
            chunk: Vec::new(),
            at: 0,
        }))
    }
}

/// Reads the table and sends it in chunks; returns when the reader hangs up too.
fn send_rows(
    mut session: ReadOnlySession,
    table: &str,
    sender: &SyncSender<io::Result<Vec<u8>>>,
) -> Result<(), String> {
    let query = format!("SELECT * FROM mysql.{table} WHERE thread_id <> CONNECTION_ID()");
    let mut rows = session
        .conn
        .query_iter(&query)
        .map_err(|e| format!("{query}: {e}"))?;
    let mut chunk = Vec::with_capacity(CHUNK);
    let names: Vec<String> = rows
        .columns()
        .as_ref()
        .iter()
        .map(|c| c.name_str().into_owned())
        .collect();
    chunk.extend_from_slice(names.join("\t").as_bytes());
    chunk.push(b'\n');
    for row in rows.by_ref() {
        let row = row.map_err(|e| format!("reading mysql.{table}: {e}"))?;
        for (i, value) in row.unwrap().iter().enumerate() {
            if i > 0 {
                chunk.push(b'\t');
            }
            write_value(value, &mut chunk);
        }
        chunk.push(b'\n');
        if chunk.len() >= CHUNK {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
            if sender.send(Ok(full)).is_err() {
                return Ok(());
            }
        }
    }
    let _ = sender.send(Ok(chunk));
    Ok(())
}

/// One value as `mysql --batch` prints it.
fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::NULL => out.extend_from_slice(b"NULL"),
        Value::Bytes(bytes) => {
            for &b in bytes {
                match b {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    0 => out.extend_from_slice(b"\\0"),
                    _ => out.push(b),
                }
            }
        }
        Value::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::UInt(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::Float(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::Double(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::Date(year, month, day, hour, minute, second, micros) => out.extend_from_slice(
            format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}.{micros:06}")
                .as_bytes(),
        ),
        Value::Time(negative, days, hours, minutes, seconds, micros) => {
            let hours = u64::from(*days) * 24 + u64::from(*hours);
            let sign = if *negative { "-" } else { "" };
            out.extend_from_slice(
                format!("{sign}{hours:02}:{minutes:02}:{seconds:02}.{micros:06}").as_bytes(),
            );
        }
    }
}

/// The receiving end, as a byte stream; an error from the reading thread is a read error
/// (the input then ends there, and the report says the table broke off).
struct Chunks {
    receiver: Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at >= self.chunk.len() {
            match self.receiver.recv() {
                Ok(Ok(chunk)) => {
                    self.chunk = chunk;
                    self.at = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let rest = self.chunk.get(self.at..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_of_the_log_tables() {
        let url = TableUrl::parse("mysql://reader:s3cret@db:3306/mysql.general_log")
            .unwrap()
            .unwrap();
        assert_eq!(url.dsn, "mysql://reader:s3cret@db:3306/");
        assert_eq!(url.table, "general_log");
        assert_eq!(url.name, "mysql://reader:***@db:3306/mysql.general_log");
        let slow = TableUrl::parse("mariadb://r@db/slow_log?prefer_socket=false")
            .unwrap()
            .unwrap();
        assert_eq!(slow.dsn, "mariadb://r@db/?prefer_socket=false");
        assert_eq!(slow.name, "mariadb://r@db/slow_log?prefer_socket=false");
        assert_eq!(slow.table, "slow_log");
        let other = TableUrl::parse("mysql://r:pw@db/shop.orders").unwrap();
        assert!(other.as_ref().unwrap_err().contains("mysql.general_log"));
        assert!(!other.unwrap_err().contains(":pw@"));
        assert_eq!(TableUrl::parse("/var/log/mysql/general.log"), None);
        assert_eq!(TableUrl::parse("postgres://db/x"), None);
    }

    #[test]
    fn values_as_the_client_prints_them() {
        let mut out = Vec::new();
        write_value(&Value::Bytes(b"a\tb\nc\\d\0".to_vec()), &mut out);
        out.push(b' ');
        write_value(&Value::NULL, &mut out);
        out.push(b' ');
        write_value(&Value::Time(false, 1, 2, 3, 4, 5), &mut out);
        assert_eq!(out, b"a\\tb\\nc\\\\d\\0 NULL 26:03:04.000005");
    }
}

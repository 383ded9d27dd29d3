//! Hostile input for the MySQL/MariaDB readers through the public API: mutated real logs,
//! random splices of real record fragments, a line far over the length cap, an empty input.
//! Nothing may panic, every byte must be accounted for, and events must be well-formed.

mod common;

use std::path::PathBuf;

use querycomb_core::{EventSink, InputError, QueryEvent};
use querycomb_logs::{sniff, LogFormat, ReadStats};

#[derive(Default)]
struct Check {
    events: u64,
    malformed: u64,
    last_line: u64,
}

impl EventSink for Check {
    fn event(&mut self, event: &QueryEvent<'_>) {
        assert!(!event.sql.trim().is_empty(), "{event:?}");
        assert!(event.location.line >= 1);
        self.last_line = event.location.line;
        self.events += 1;
    }
    fn malformed(&mut self, error: InputError) {
        assert!(!error.message.is_empty());
        assert!(error.location.line >= 1);
        self.malformed += 1;
    }
}

fn read_all(data: &[u8], format: LogFormat) -> (Check, ReadStats) {
    let mut input = data;
    let mut sink = Check::default();
    let stats = common::read(format, &mut input, &mut sink);
    assert_eq!(stats.bytes, data.len() as u64, "{format:?}");
    assert_eq!(stats.events, sink.events);
    assert_eq!(stats.malformed, sink.malformed);
    (sink, stats)
}

fn read_both(data: &[u8]) {
    let _ = sniff(data);
    read_all(data, LogFormat::MySqlGeneral);
    read_all(data, LogFormat::MySqlSlow);
    read_all(data, LogFormat::MySqlGeneralTable);
    read_all(data, LogFormat::MySqlSlowTable);
}

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn example(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    std::fs::read(path).expect("example log")
}

#[test]
fn mutated_real_logs() {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    for name in ["mariadb-general.log", "mariadb-slow.log"] {
        let original = example(name);
        for _ in 0..300 {
            let mut data = original.clone();
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(data.len());
                match rng.below(4) {
                    0 => data[at] = rng.next() as u8,
                    1 => data.truncate(at),
                    2 => {
                        let len = rng.below(64).min(data.len() - at);
                        data.drain(at..at + len);
                    }
                    _ => {
                        let from = rng.below(original.len());
                        let len = rng.below(200).min(original.len() - from);
                        let piece = original[from..from + len].to_vec();
                        data.splice(at..at, piece);
                    }
                }
                if data.is_empty() {
                    break;
                }
            }
            read_both(&data);
        }
    }
}

#[test]
fn random_splices_of_record_fragments() {
    const FRAGMENTS: &[&str] = &[
        "/usr/sbin/mysqld, Version: 8.0.36 (MySQL Community Server - GPL). started with:\n",
        "Tcp port: 3306  Unix socket: /run/mysqld/mysqld.sock\n",
        "Time                 Id Command    Argument\n",
        "2016-06-07T19:07:02.558713Z\t    4 Query\tSELECT 1\n",
        "2016-06-07T19:07:02.558713+02:00\t    4 Connect\tapp@localhost on shop using Socket\n",
        "261121 20:16:14\t     5 Query\tEXECUTE s USING @x\n",
        "\t\t     5 Execute\tSELECT name FROM c WHERE id = 2\n",
        "\t\t     5 Quit\t\n",
        "\t\t     5 Init DB\t\n",
        "\t\t     5 Query\t\n",
        "\t\t     5 Query\tuse `\n",
        "  FROM c WHERE x = '\n",
        "\n",
        "# Time: 261121 20:16:11\n",
        "# Time: 2021-04-06T16:44:12.098414Z\n",
        "# User@Host: app[app] @ localhost [127.0.0.1]\n",
        "# User@Host: @ []  Id:\n",
        "# Thread_id: 18446744073709551615  Schema:   QC_hit: No\n",
        "# Query_time: 99999999999999.999999  Lock_time: 0.000000  Rows_sent: 1  Rows_examined: 0\n",
        "# Rows_affected: 2  Bytes_sent: 50\n",
        "# administrator command: Quit;\n",
        "use `shop`;\n",
        "SET timestamp=1795292174;\n",
        "SET timestamp=-99999999999999999;\n",
        "SELECT 1;\n",
        ";\n",
        "\u{fffd}\0\x01garbage",
    ];
    let mut rng = Rng(0xC0FF_EE00_0000_0042);
    for _ in 0..3000 {
        let mut data = Vec::new();
        for _ in 0..rng.below(24) {
            let fragment = FRAGMENTS[rng.below(FRAGMENTS.len())].as_bytes();
            let cut = if rng.below(6) == 0 {
                rng.below(fragment.len())
            } else {
                fragment.len()
            };
            data.extend_from_slice(&fragment[..cut]);
        }
        read_both(&data);
    }
}

#[test]
fn line_over_the_cap_is_one_malformed_record() {
    let mut log = b"\t\t     3 Query\tSELECT 1\n\t\t     3 Query\tSELECT '".to_vec();
    log.resize(log.len() + (17 << 20), b'x');
    log.extend_from_slice(b"'\n\t\t     3 Query\tSELECT 2\n");
    let (sink, stats) = read_all(&log, LogFormat::MySqlGeneral);
    assert_eq!((stats.events, stats.malformed, sink.last_line), (2, 1, 3));
    let mut slow = b"# User@Host: a[a] @ h []  Id: 4\nSET timestamp=1;\nSELECT '".to_vec();
    slow.resize(slow.len() + (17 << 20), b'y');
    slow.extend_from_slice(b"';\n# User@Host: a[a] @ h []  Id: 4\nSET timestamp=1;\nSELECT 2;\n");
    let (_, stats) = read_all(&slow, LogFormat::MySqlSlow);
    assert_eq!((stats.events, stats.malformed), (1, 1));
}

#[test]
fn empty_input_reads_nothing() {
    for format in [LogFormat::MySqlGeneral, LogFormat::MySqlSlow] {
        let (_, stats) = read_all(b"", format);
        assert_eq!(stats, ReadStats::default());
    }
    assert_eq!(sniff(b""), None);
}

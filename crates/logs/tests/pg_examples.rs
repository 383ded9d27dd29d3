//! The sample logs shipped in `examples/` (written by a real PostgreSQL 15 run of
//! `examples/generate.sh`, which logs one workload to stderr, csvlog and jsonlog at once):
//! all three readers must see the same statements, and damaged copies of the logs must
//! never make a reader panic or lose track of the input.

mod common;

use std::path::PathBuf;

use querycomb_core::OwnedEvent;
use querycomb_logs::{sniff, LogFormat, ReadStats};

use querycomb_core::Collected as Collect;

const SAMPLES: [(&str, LogFormat); 3] = [
    ("postgresql-stderr.log", LogFormat::PgStderr),
    ("postgresql.csv", LogFormat::PgCsv),
    ("postgresql.json", LogFormat::PgJson),
];

fn sample(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read(bytes: &[u8], format: LogFormat) -> (Collect, ReadStats) {
    let mut sink = Collect::default();
    let mut input: &[u8] = bytes;
    let stats = common::read(format, &mut input, &mut sink);
    (sink, stats)
}

/// Everything but the position and the session key (pid in stderr, session id elsewhere).
fn comparable(e: &OwnedEvent) -> OwnedEvent {
    OwnedEvent {
        location: Default::default(),
        session: String::new(),
        ..e.clone()
    }
}

#[test]
fn the_three_formats_of_one_run_agree() {
    let mut seen = Vec::new();
    for (name, format) in SAMPLES {
        let bytes = sample(name);
        assert_eq!(
            sniff(&bytes[..bytes.len().min(64 * 1024)]),
            Some(format),
            "{name}"
        );
        let (sink, stats) = read(&bytes, format);
        assert!(sink.errors.is_empty(), "{name}: {:?}", sink.errors);
        assert_eq!(stats.bytes, bytes.len() as u64);
        seen.push(sink.events.iter().map(comparable).collect::<Vec<_>>());
    }
    assert_eq!(seen[0], seen[1], "stderr vs csvlog");
    assert_eq!(seen[1], seen[2], "csvlog vs jsonlog");
}

#[test]
fn the_workload_is_all_there() {
    let (sink, _) = read(&sample("postgresql-stderr.log"), LogFormat::PgStderr);
    let events = &sink.events;
    let lookups = events
        .iter()
        .filter(|e| {
            e.sql.starts_with("SELECT * FROM customers WHERE id = ")
                && e.sql.contains("route='%2Forders'")
        })
        .count();
    assert_eq!(lookups, 25, "the N+1 loop");
    let failed: Vec<_> = events.iter().filter(|e| e.error.is_some()).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].sql, "SELECT * FROM no_such_table WHERE id = 1;");
    let named = events
        .iter()
        .filter(|e| e.prepared_name.as_deref() == Some("P_0"))
        .count();
    let with_params = events.iter().filter(|e| e.params.is_some()).count();
    assert_eq!(
        (named, with_params),
        (6, 12),
        "pgbench -M prepared and -M extended, 6 each"
    );
    let untimed = events
        .iter()
        .filter(|e| e.error.is_none() && e.duration_us.is_none())
        .count();
    assert_eq!(
        untimed, 0,
        "log_min_duration_statement = 0 times every statement"
    );
    assert!(events
        .iter()
        .all(|e| e.time.is_some() && !e.session.is_empty()));
    assert!(events
        .iter()
        .any(|e| e.application.as_deref() == Some("shop-web")));
}

/// A small deterministic generator, so failures reproduce.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Flips, inserts and deletes bytes (favouring the ones that matter to the parsers) and
/// sometimes cuts the log short.
fn damage(bytes: &[u8], rng: &mut XorShift) -> Vec<u8> {
    const SPECIAL: &[u8] = b"\n\t\"\\,{}:  \r\xff\xc3";
    let mut out = bytes.to_vec();
    for _ in 0..1 + rng.below(40) {
        let at = rng.below(out.len());
        match rng.below(4) {
            0 => out[at] = SPECIAL[rng.below(SPECIAL.len())],
            1 => out.insert(at, SPECIAL[rng.below(SPECIAL.len())]),
            2 => {
                out.remove(at);
            }
            _ => out[at] = rng.next() as u8,
        }
    }
    if rng.below(4) == 0 {
        out.truncate(rng.below(out.len()));
    }
    out
}

#[test]
fn damaged_logs_never_panic_and_are_read_to_the_end() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for (name, format) in SAMPLES {
        let bytes = sample(name);
        for round in 0..60 {
            let damaged = damage(&bytes, &mut rng);
            for reader in [LogFormat::PgStderr, LogFormat::PgCsv, LogFormat::PgJson] {
                let (sink, stats) = read(&damaged, reader);
                assert_eq!(
                    stats.bytes,
                    damaged.len() as u64,
                    "{name} round {round} as {reader:?}"
                );
                assert_eq!(stats.events, sink.events.len() as u64);
                if reader == format && damaged.len() >= bytes.len() / 2 {
                    assert!(
                        stats.events > 0,
                        "{name} round {round}: damage spread to everything"
                    );
                }
            }
        }
    }
}

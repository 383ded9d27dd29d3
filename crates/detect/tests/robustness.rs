//! Hostile and odd input never panics: garbage SQL, clocks going backwards, missing times,
//! extreme numbers, empty sessions, tags that lie.

use querycomb_core::{EventSink, InputError, Location, OwnedEvent, SourceId};
use querycomb_detect::{Config, Pipeline};
use querycomb_sql::Dialect;

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const PIECES: &[&str] = &[
    "SELECT",
    " * ",
    "FROM",
    " t",
    " WHERE",
    " id = ",
    "$1",
    "?",
    "'x''y'",
    "IN (1, 2",
    ")",
    "/*",
    "*/",
    "/*traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/",
    "/*route='%2F",
    "%ZZ",
    "'*/",
    "BEGIN",
    "COMMIT",
    "ROLLBACK TO",
    "SAVEPOINT",
    ";",
    "\0",
    "é",
    "\u{202e}",
    "$$",
    "$tag$",
    "--",
    "\n",
    "E'\\",
    "VALUES (1),(2)",
    "COUNT(*)",
    "INSERT INTO",
    "UPDATE",
    "DELETE",
    "querycomb:allow",
    "{1,2,3}",
    "FETCH 10 FROM c",
];

fn garbage(rng: &mut Rng) -> String {
    (0..rng.below(12))
        .map(|_| PIECES[rng.below(PIECES.len() as u64) as usize])
        .collect()
}

fn odd_event(rng: &mut Rng, n: u64) -> OwnedEvent {
    let time = match rng.below(5) {
        0 => None,
        1 => Some(i64::MIN),
        2 => Some(i64::MAX),
        3 => Some(1_700_000_000_000_000 - rng.below(10_000_000) as i64),
        _ => Some(1_700_000_000_000_000 + n as i64 * 1000),
    };
    let extreme = |rng: &mut Rng| match rng.below(4) {
        0 => None,
        1 => Some(u64::MAX),
        _ => Some(rng.below(1000)),
    };
    OwnedEvent {
        location: Location {
            source: SourceId(0),
            line: n,
            byte: u64::MAX - n,
        },
        time,
        duration_us: extreme(rng),
        session: ["", "1", "2", "é", "\0"][rng.below(5) as usize].to_owned(),
        sql: garbage(rng),
        params: (rng.below(2) == 0).then(|| garbage(rng)),
        prepared_name: (rng.below(4) == 0).then(|| "_pg3_0".to_owned()),
        rows: extreme(rng),
        ..OwnedEvent::default()
    }
}

#[test]
fn random_garbage_never_panics() {
    for seed in 1..=20u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let config = Config {
            max_statements_per_unit: 1 + rng.below(50) as u32,
            idle_gap_ms: rng.below(3) * 1000,
            show_params: rng.below(2) == 0,
            ..Config::default()
        };
        let mut pipeline = Pipeline::new(config, Dialect::Postgres);
        for n in 0..3_000 {
            let e = odd_event(&mut rng, n);
            pipeline.event(&e.as_event());
            if n % 97 == 0 {
                pipeline.tick(e.time.unwrap_or(0));
                pipeline.take_updates();
            }
            if n % 501 == 0 {
                pipeline.malformed(InputError {
                    location: e.location,
                    message: "bad".into(),
                });
            }
        }
        let analysis = pipeline.finish();
        assert!(analysis.summary.statements <= 3_000);
        assert_eq!(analysis.summary.malformed, 6);
        for f in &analysis.findings {
            assert_eq!(f.signature.len(), 16);
            assert!(f.occurrences >= 1);
            assert!(f.waterfall.len() <= 400);
        }
    }
}

#[test]
fn mysql_dialect_and_empty_input() {
    let pipeline = Pipeline::new(Config::default(), Dialect::MySql);
    let analysis = pipeline.finish();
    assert!(analysis.findings.is_empty());
    assert_eq!(analysis.summary.statements, 0);
    assert_eq!(analysis.summary.requests, 0);
    assert!(analysis.summary.routes.is_empty());
}

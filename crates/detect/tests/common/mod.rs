//! Event-stream builders shared by the integration tests.
#![allow(dead_code)]

use querycomb_core::CollectedFindings as Analysis;
use querycomb_core::{EventSink, Finding, FindingKind, Location, OwnedEvent, SourceId};
use querycomb_detect::{Config, Pipeline};
use querycomb_sql::Dialect;

/// 2023-11-14T22:13:20Z, in microseconds.
pub const T0: i64 = 1_700_000_000_000_000;

pub const ORDERS: &str = "SELECT id, customer_id FROM orders WHERE status = $1";
pub const CUSTOMER: &str = "SELECT * FROM customers WHERE id = $1";
pub const CUSTOMER_NORMALIZED: &str = "SELECT * FROM customers WHERE id = $1";
pub const ORDERS_NORMALIZED: &str = "SELECT id, customer_id FROM orders WHERE status = $1";

/// A log being written: every statement 100 µs after the previous one unless told otherwise.
pub struct Log {
    pub events: Vec<OwnedEvent>,
    pub clock: i64,
    line: u64,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            events: Vec::new(),
            clock: T0,
            line: 0,
        }
    }
}

impl Log {
    pub fn new() -> Log {
        Log::default()
    }

    pub fn wait_ms(&mut self, ms: i64) -> &mut Log {
        self.clock += ms * 1000;
        self
    }

    /// One statement on `session`.
    pub fn q(&mut self, session: &str, sql: &str) -> &mut OwnedEvent {
        self.clock += 100;
        self.line += 1;
        self.events.push(OwnedEvent {
            location: Location {
                source: SourceId(0),
                line: self.line,
                byte: self.line * 100,
            },
            time: Some(self.clock),
            session: session.to_owned(),
            sql: sql.to_owned(),
            ..OwnedEvent::default()
        });
        self.events.last_mut().expect("just pushed")
    }

    /// One statement with bind parameters.
    pub fn p(&mut self, session: &str, sql: &str, params: &str) -> &mut OwnedEvent {
        let e = self.q(session, sql);
        e.params = Some(params.to_owned());
        e
    }

    /// The orders query, then `n` customer lookups with distinct ids.
    pub fn orders_loop(&mut self, session: &str, n: u32) -> &mut Log {
        self.p(session, ORDERS, "$1 = 'open'").rows = Some(u64::from(n));
        for i in 0..n {
            self.p(session, CUSTOMER, &format!("$1 = '{}'", 100 + i))
                .rows = Some(1);
        }
        self
    }

    /// `n` rows saved one by one, each in a transaction of its own (ORMs wrap each save so).
    pub fn saves(&mut self, session: &str, n: u32) -> &mut Log {
        for i in 0..n {
            self.q(session, "BEGIN");
            self.p(
                session,
                "INSERT INTO events (kind, n) VALUES ($1, $2)",
                &format!("$1 = 'a', $2 = '{i}'"),
            );
            self.q(session, "COMMIT");
        }
        self
    }

    /// One read of `rows` rows in a transaction of its own that the pool rolls back (a
    /// SQLAlchemy `Session` on psycopg).
    pub fn rolled_back_read(&mut self, session: &str, sql: &str, id: u32, rows: u64) -> &mut Log {
        self.q(session, "BEGIN");
        self.p(session, sql, &format!("$1 = '{id}'")).rows = Some(rows);
        self.q(session, "ROLLBACK");
        self
    }

    /// `n` keyset pages of 50 orders within a filter, a millisecond apart.
    pub fn keyset_pages(&mut self, session: &str, n: u32) -> &mut Log {
        for page in 0..n {
            self.p(
                session,
                "SELECT * FROM orders WHERE (status = $1 AND id > $2) ORDER BY id LIMIT 50",
                &format!("$1 = 'open', $2 = '{}'", page * 75),
            )
            .rows = Some(50);
            self.wait_ms(1);
        }
        self
    }

    /// The same, with a sqlcommenter comment on every statement.
    pub fn tagged_orders_loop(&mut self, session: &str, n: u32, comment: &str) -> &mut Log {
        self.p(session, &format!("{ORDERS} {comment}"), "$1 = 'open'");
        for i in 0..n {
            self.p(
                session,
                &format!("{CUSTOMER} {comment}"),
                &format!("$1 = '{}'", 100 + i),
            );
        }
        self
    }
}

pub fn analyse_with(config: Config, events: &[OwnedEvent]) -> Analysis {
    let mut pipeline = Pipeline::new(config, Dialect::Postgres);
    for e in events {
        pipeline.event(&e.as_event());
    }
    pipeline.finish()
}

pub fn analyse(events: &[OwnedEvent]) -> Analysis {
    analyse_with(Config::default(), events)
}

/// `(kind, count)` of every finding, in order.
pub fn kinds(analysis: &Analysis) -> Vec<(FindingKind, u32)> {
    analysis
        .findings
        .iter()
        .map(|f| (f.kind, f.count))
        .collect()
}

pub fn only(analysis: &Analysis) -> &Finding {
    assert_eq!(
        analysis.findings.len(),
        1,
        "expected exactly one finding, got {:#?}",
        kinds(analysis)
    );
    &analysis.findings[0]
}

pub fn config(edit: impl FnOnce(&mut Config)) -> Config {
    let mut c = Config::default();
    edit(&mut c);
    c
}

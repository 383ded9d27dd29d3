//! Realistic hand-built findings for the sinks' unit tests: what the detection stage
//! produces for a Django-style N+1 on a PostgreSQL stderr log.

use querycomb_core::{
    BarRole, Finding, FindingSink, FingerprintStat, Location, Proof, QueryRef, RequestKind,
    RequestRef, RouteCount, RouteStat, RunSummary, SeenIn, Severity, SourceId, SourceTable,
    WaterfallBar,
};
use querycomb_detect::detectors::{n_plus_one, over_budget, repeated_identical};

/// 2026-11-21 18:00:17.633 UTC.
pub(crate) const START: i64 = 1_795_284_017_633_000;

pub(crate) fn sources() -> SourceTable {
    let mut table = SourceTable::default();
    table.add("logs/postgresql-15-main.log");
    table.add("/var/log/postgresql/csv log.csv");
    table
}

fn at(line: u64) -> Location {
    Location {
        source: SourceId(0),
        line,
        byte: line * 120,
    }
}

fn query(fingerprint: &str, normalized: &str, table: &str, line: u64) -> QueryRef {
    QueryRef {
        fingerprint: fingerprint.to_owned(),
        normalized: normalized.to_owned(),
        table: Some(table.to_owned()),
        location: at(line),
        example_params: Vec::new(),
        source_location: None,
        stack_tags: Default::default(),
    }
}

/// An N+1 on `orders` under a tagged route: 50 children after one parent, 12 requests.
pub(crate) fn n_plus_one() -> Finding {
    Finding {
        kind: n_plus_one::KIND,
        severity: Severity::Error,
        signature: "9f2c4e1a7b3d5c60".to_owned(),
        request: RequestRef {
            kind: RequestKind::Trace,
            id: "4bf92f3577b34da6a3ce929d0e0e4736".to_owned(),
            route: Some("GET /customers/:id/orders".to_owned()),
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".to_owned()),
            session: "8755".to_owned(),
            start: Some(START),
            end: Some(START + 279_000),
            statements: 52,
            location: at(1_204),
        },
        parent: Some(query(
            "1a2b3c4d5e6f7081",
            "SELECT \"shop_customer\".\"id\", \"shop_customer\".\"name\" FROM \"shop_customer\" WHERE \"shop_customer\".\"active\" = $1",
            "shop_customer",
            1_205,
        )),
        children: vec![QueryRef {
            // As google-cloud-sqlcommenter's Django middleware tags it.
            stack_tags: [("framework".to_owned(), "django:5.2.19".to_owned())].into(),
            ..query(
                "0f1e2d3c4b5a6978",
                "SELECT \"shop_order\".\"id\", \"shop_order\".\"customer_id\", \"shop_order\".\"total\", \"shop_order\".\"created_at\" FROM \"shop_order\" WHERE \"shop_order\".\"customer_id\" = $1 ORDER BY \"shop_order\".\"created_at\" DESC LIMIT $2",
                "shop_order",
                1_207,
            )
        }],
        count: 50,
        distinct_params: 50,
        total_duration_us: Some(12_400),
        occurrences: 12,
        total_count: 600,
        seen_in: SeenIn {
            routes: vec![RouteCount {
                route: "GET /customers/:id/orders".to_owned(),
                requests: 12,
            }],
            other_requests: 0,
        },
        suggestion: Some(
            "SELECT \"shop_order\".\"id\", \"shop_order\".\"customer_id\", \"shop_order\".\"total\", \"shop_order\".\"created_at\" FROM \"shop_order\" WHERE \"shop_order\".\"customer_id\" = ANY($1) ORDER BY \"shop_order\".\"created_at\" DESC\n-- One query for all keys instead of one per key: bind the keys as one array, then group the rows by `customer_id` in the application.".to_owned(),
        ),
        message: "shop_order was read once per shop_customer row: 50 queries where 1 would do."
            .to_owned(),
        proof: Proof::Proven { matched: 50 },
        waterfall: vec![
            WaterfallBar {
                offset_us: 0,
                duration_us: Some(310),
                fingerprint: "1a2b3c4d5e6f7081".to_owned(),
                role: BarRole::Parent,
            },
            WaterfallBar {
                offset_us: 400,
                duration_us: Some(250),
                fingerprint: "0f1e2d3c4b5a6978".to_owned(),
                role: BarRole::Child,
            },
        ],
        concurrency: None,
        fix: Default::default(),
    }
}

/// A repeated identical lookup in an untagged burst, no durations, only a warning.
pub(crate) fn repeated_identical() -> Finding {
    Finding {
        kind: repeated_identical::KIND,
        severity: Severity::Warning,
        signature: "77aa00bb11cc22dd".to_owned(),
        request: RequestRef {
            kind: RequestKind::Burst,
            id: "9120@1795284020000000".to_owned(),
            route: None,
            trace_id: None,
            session: "9120".to_owned(),
            start: Some(START + 2_367_000),
            end: Some(START + 2_480_000),
            statements: 31,
            location: at(2_310),
        },
        parent: None,
        children: vec![query(
            "5566778899aabbcc",
            "SELECT * FROM settings WHERE key = $1 LIMIT $2",
            "settings",
            2_311,
        )],
        count: 30,
        distinct_params: 1,
        total_duration_us: None,
        occurrences: 1,
        total_count: 30,
        seen_in: Default::default(),
        suggestion: Some("Read the setting once per request and reuse it (memoize).".to_owned()),
        message: "The same settings row was read 30 times with the same parameters.".to_owned(),
        proof: Proof::Suspected,
        waterfall: Vec::new(),
        concurrency: None,
        fix: Default::default(),
    }
}

/// A request over its budget: no parent, no child, only the request.
pub(crate) fn over_budget_without_children() -> Finding {
    let mut finding = n_plus_one();
    finding.kind = over_budget::KIND;
    finding.severity = Severity::Error;
    finding.signature = "0123456789abcdef".to_owned();
    finding.parent = None;
    finding.children = Vec::new();
    finding.count = 52;
    finding.suggestion = None;
    finding.proof = Proof::Suspected;
    finding.message = "GET /customers/:id/orders ran 52 statements; its budget is 10.".to_owned();
    finding
}

pub(crate) fn summary() -> RunSummary {
    RunSummary {
        inputs: vec!["logs/postgresql-15-main.log".to_owned()],
        bytes: 4_200_000,
        records: 12_500,
        statements: 12_345,
        requests: 321,
        malformed: 3,
        warnings: 0,
        damaged: Vec::new(),
        findings: 2,
        findings_by_kind: vec![(n_plus_one::KIND, 1), (repeated_identical::KIND, 1)],
        wasted_us: 148_800,
        elapsed_ms: 120,
        fingerprints: vec![FingerprintStat {
            fingerprint: "0f1e2d3c4b5a6978".to_owned(),
            normalized: "SELECT * FROM shop_order WHERE customer_id = $1".to_owned(),
            table: Some("shop_order".to_owned()),
            calls: 600,
            total_us: 148_800,
            timed_calls: 600,
            rows: 1_800,
            requests: 12,
        }],
        routes: vec![
            RouteStat {
                route: "GET /customers/:id/orders".to_owned(),
                requests: 12,
                min: 40,
                max: 61,
                p50: 52,
                p95: 60,
                mean: 51.5,
                histogram: vec![(40, 2), (52, 8), (61, 2)],
                window: None,
            },
            RouteStat {
                route: "GET /health".to_owned(),
                requests: 200,
                min: 1,
                max: 1,
                p50: 1,
                p95: 1,
                mean: 1.0,
                histogram: vec![(1, 200)],
                window: None,
            },
            RouteStat {
                route: String::new(),
                requests: 109,
                min: 1,
                max: 31,
                p50: 3,
                p95: 20,
                mean: 4.2,
                histogram: vec![(3, 100), (31, 9)],
                window: None,
            },
        ],
        ..RunSummary::default()
    }
}

/// Drives a sink through the whole [`FindingSink`] contract.
pub(crate) fn run(sink: &mut dyn FindingSink, findings: &[Finding]) {
    sink.begin(&sources()).expect("begin");
    for finding in findings {
        sink.finding(finding).expect("finding");
    }
    sink.finish(&summary()).expect("finish");
}

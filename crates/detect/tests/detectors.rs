//! Every detector on event streams built like a log source would emit them, and every
//! "not a finding" case next to its look-alike.

mod common;

use common::*;
use querycomb_core::{BarRole, RequestKind, Severity};
use querycomb_detect::detectors::{
    count_in_loop, mn_plus_one, n_plus_one, n_plus_one_write, repeated_identical,
};

#[test]
fn n_plus_one_with_evidence() {
    let mut log = Log::new();
    log.orders_loop("s1", 8);
    let analysis = analyse(&log.events);
    let f = only(&analysis);
    assert_eq!(f.kind, n_plus_one::KIND);
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.count, 8);
    assert_eq!(f.distinct_params, 8);
    assert_eq!(f.occurrences, 1);
    assert_eq!(f.total_count, 8);
    let parent = f.parent.as_ref().expect("parent");
    assert_eq!(parent.normalized, ORDERS_NORMALIZED);
    assert_eq!(parent.table.as_deref(), Some("orders"));
    assert_eq!(parent.location.line, 1);
    assert_eq!(f.children.len(), 1);
    assert_eq!(f.children[0].normalized, CUSTOMER_NORMALIZED);
    assert_eq!(f.children[0].location.line, 2);
    assert!(f.children[0].example_params.is_empty());
    assert_eq!(f.signature.len(), 16);
    assert!(f.signature.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        f.message,
        "orders loop: 8 × SELECT * FROM customers WHERE id = $1 after SELECT id, customer_id FROM orders WHERE status = $1 (one query per row)"
    );
    let suggestion = f.suggestion.as_deref().expect("suggestion");
    assert!(suggestion.contains("WHERE id = ANY($1)"), "{suggestion}");
    assert_eq!(f.request.kind, RequestKind::Burst);
    assert_eq!(f.request.session, "s1");
    assert_eq!(f.request.statements, 9);
    assert_eq!(f.request.start, Some(T0 + 100));
    // Waterfall: parent then 8 children, on the request's time axis.
    assert_eq!(f.waterfall.len(), 9);
    assert_eq!(f.waterfall[0].role, BarRole::Parent);
    assert_eq!(f.waterfall[0].offset_us, 0);
    assert!(f.waterfall[1..].iter().all(|b| b.role == BarRole::Child));
    assert_eq!(f.waterfall[8].offset_us, 800);
    assert_eq!(analysis.summary.statements, 9);
    assert_eq!(analysis.summary.requests, 1);
    assert_eq!(analysis.summary.findings, 1);
    assert_eq!(
        analysis.summary.findings_by_kind,
        vec![(n_plus_one::KIND, 1)]
    );
}

#[test]
fn threshold_is_five_by_default() {
    let mut below = Log::new();
    below.orders_loop("s1", 4);
    assert!(analyse(&below.events).findings.is_empty());
    let mut at = Log::new();
    at.orders_loop("s1", 5);
    assert_eq!(kinds(&analyse(&at.events)), [(n_plus_one::KIND, 5)]);
}

#[test]
fn big_loops_are_errors() {
    let mut log = Log::new();
    log.orders_loop("s1", 25);
    assert_eq!(only(&analyse(&log.events)).severity, Severity::Error);
}

#[test]
fn literal_values_make_a_loop_too() {
    let mut log = Log::new();
    log.q("s1", "SELECT * FROM posts WHERE published");
    for i in 0..6 {
        log.q("s1", &format!("SELECT * FROM authors WHERE id = {i}"));
    }
    let analysis = analyse(&log.events);
    let f = only(&analysis);
    assert_eq!(f.kind, n_plus_one::KIND);
    assert_eq!(f.distinct_params, 6);
    assert_eq!(
        f.children[0].normalized,
        "SELECT * FROM authors WHERE id = $1"
    );
    assert_eq!(
        f.parent.as_ref().map(|p| p.normalized.as_str()),
        Some("SELECT * FROM posts WHERE published")
    );
}

#[test]
fn parentless_read_loops_need_a_delimited_request() {
    // A burst of lookups with no driving query: a worker or benchmark client handling one
    // item per iteration looks like this. Not reported by default.
    let mut burst = Log::new();
    for i in 0..6 {
        burst.p("s1", CUSTOMER, &format!("$1 = '{i}'"));
    }
    assert_eq!(kinds(&analyse(&burst.events)), []);
    let lenient = config(|c| c.thresholds.burst_loops_need_parent = false);
    let f = only(&analyse_with(lenient, &burst.events)).clone();
    assert!(f.parent.is_none());
    assert!(
        f.message.starts_with("loop: 6 × SELECT * FROM customers"),
        "{}",
        f.message
    );

    // Inside a transaction (or a traced / routed request) the loop is reported.
    let mut tx = Log::new();
    tx.q("s1", "BEGIN");
    for i in 0..6 {
        tx.p("s1", CUSTOMER, &format!("$1 = '{i}'"));
    }
    tx.q("s1", "COMMIT");
    let analysis = analyse(&tx.events);
    let f = only(&analysis);
    assert_eq!((f.kind, f.count), (n_plus_one::KIND, 6));
    assert!(f.parent.is_none());
}

#[test]
fn write_loops_need_no_parent() {
    let mut log = Log::new();
    for i in 0..6 {
        log.p(
            "s1",
            "DELETE FROM sessions WHERE id = $1",
            &format!("$1 = '{i}'"),
        );
    }
    assert_eq!(kinds(&analyse(&log.events)), [(n_plus_one_write::KIND, 6)]);
}

#[test]
fn per_save_transactions_chain_into_one_write_loop() {
    // ORMs wrap each save in its own transaction.
    let mut log = Log::new();
    log.saves("s1", 6);
    let analysis = analyse(&log.events);
    let f = only(&analysis);
    assert_eq!((f.kind, f.count), (n_plus_one_write::KIND, 6));
    assert_eq!(analysis.summary.requests, 1);
}

#[test]
fn parent_prefers_the_query_that_returned_enough_rows() {
    let mut log = Log::new();
    log.p("s1", ORDERS, "$1 = 'open'").rows = Some(6);
    log.p("s1", "SELECT * FROM settings WHERE key = $1", "$1 = 'tz'")
        .rows = Some(1);
    for i in 0..6 {
        log.p("s1", CUSTOMER, &format!("$1 = '{i}'")).rows = Some(1);
    }
    let f = only(&analyse(&log.events)).clone();
    assert_eq!(f.parent.expect("parent").normalized, ORDERS_NORMALIZED);

    // Without row counts the nearest earlier SELECT is the parent.
    for e in &mut log.events {
        e.rows = None;
    }
    let f = only(&analyse(&log.events)).clone();
    assert_eq!(
        f.parent.expect("parent").normalized,
        "SELECT * FROM settings WHERE key = $1"
    );
}

#[test]
fn count_in_loop_for_count_and_exists() {
    for child in [
        "SELECT COUNT(*) FROM comments WHERE post_id = $1",
        "SELECT EXISTS(SELECT 1 FROM comments WHERE post_id = $1)",
    ] {
        let mut log = Log::new();
        log.q("s1", "SELECT * FROM posts ORDER BY id DESC LIMIT 20")
            .rows = Some(7);
        for i in 0..7 {
            log.p("s1", child, &format!("$1 = '{i}'"));
        }
        let analysis = analyse(&log.events);
        let f = only(&analysis);
        assert_eq!(f.kind, count_in_loop::KIND, "{child}");
        assert_eq!(f.count, 7);
        assert_eq!(f.children[0].table.as_deref(), Some("comments"));
        assert!(f.message.contains("(one count per row)"), "{}", f.message);
    }
}

#[test]
fn count_in_loop_suggests_group_by() {
    let mut log = Log::new();
    log.q("s1", "SELECT * FROM posts");
    for i in 0..5 {
        log.q(
            "s1",
            &format!("SELECT COUNT(*) FROM comments WHERE post_id = {i}"),
        );
    }
    let f = only(&analyse(&log.events)).clone();
    assert!(f
        .suggestion
        .expect("suggestion")
        .contains("GROUP BY post_id"));
}

#[test]
fn n_plus_one_write_single_row_inserts_and_updates() {
    let mut log = Log::new();
    log.q("s1", "SELECT * FROM carts WHERE id = 1");
    for i in 0..6 {
        log.q(
            "s1",
            &format!("INSERT INTO order_lines (order_id, sku) VALUES (1, 'sku-{i}')"),
        );
    }
    for i in 0..6 {
        log.p(
            "s1",
            "UPDATE stock SET reserved = reserved + 1 WHERE id = $1",
            &format!("$1 = '{i}'"),
        );
    }
    let analysis = analyse(&log.events);
    assert_eq!(
        kinds(&analysis),
        [(n_plus_one_write::KIND, 6), (n_plus_one_write::KIND, 6)]
    );
    let insert = &analysis.findings[0];
    let normalized = &insert.children[0].normalized;
    assert!(
        normalized.starts_with("INSERT INTO order_lines"),
        "{normalized}"
    );
    assert!(normalized.ends_with("VALUES ($1, $2)"), "{normalized}");
    assert!(insert
        .suggestion
        .as_deref()
        .unwrap_or("")
        .contains("INSERT"));
    let update = &analysis.findings[1];
    assert_eq!(update.children[0].table.as_deref(), Some("stock"));
}

#[test]
fn batched_writes_repeated_are_not_per_row_writes() {
    // Django's permission creation: one `INSERT … SELECT FROM UNNEST` of arrays per model.
    let mut log = Log::new();
    for i in 0..6 {
        log.p(
            "s1",
            "INSERT INTO auth_permission (name, codename) SELECT * FROM UNNEST(($1)::varchar[], ($2)::varchar[])",
            &format!("$1 = '{{#a{i},#b{i},#c{i},#d{i}}}', $2 = '{{#e,#f,#g,#h}}'"),
        )
        .rows = Some(4);
    }
    // The server's row count says each UPDATE touched several rows, with no list in sight.
    for i in 0..6 {
        log.p(
            "s1",
            "UPDATE stock SET reserved = 0 WHERE warehouse_id = $1",
            &format!("$1 = '{i}'"),
        )
        .rows = Some(3);
    }
    // One row each, as counted by the server: still a per-row loop.
    for i in 0..6 {
        log.p(
            "s1",
            "DELETE FROM carts WHERE id = $1",
            &format!("$1 = '{i}'"),
        )
        .rows = Some(1);
    }
    let analysis = analyse(&log.events);
    assert_eq!(kinds(&analysis), [(n_plus_one_write::KIND, 6)]);
    assert_eq!(
        analysis.findings[0].children[0].table.as_deref(),
        Some("carts")
    );
}

#[test]
fn multi_row_inserts_are_the_fix_not_a_finding() {
    let mut log = Log::new();
    for chunk in 0..6 {
        let rows: Vec<String> = (0..20).map(|i| format!("({chunk}, {i})")).collect();
        log.q(
            "s1",
            &format!(
                "INSERT INTO order_lines (order_id, n) VALUES {}",
                rows.join(", ")
            ),
        );
    }
    assert_eq!(kinds(&analyse(&log.events)), []);
}

#[test]
fn repeated_identical_is_not_an_n_plus_one() {
    let mut log = Log::new();
    for _ in 0..6 {
        log.p("s1", "SELECT * FROM users WHERE id = $1", "$1 = '42'");
    }
    let analysis = analyse(&log.events);
    let f = only(&analysis);
    assert_eq!(f.kind, repeated_identical::KIND);
    assert_eq!(f.severity, Severity::Info);
    assert_eq!(f.count, 6);
    assert_eq!(f.distinct_params, 1);
    assert!(f.parent.is_none());
    assert!(
        f.message
            .starts_with("6 × the identical SELECT * FROM users"),
        "{}",
        f.message
    );
}

#[test]
fn repeated_identical_next_to_a_loop() {
    // Per order: the current user (same every time) and the customer (different).
    let mut log = Log::new();
    log.p("s1", ORDERS, "$1 = 'open'");
    for i in 0..8 {
        log.p("s1", "SELECT * FROM users WHERE id = $1", "$1 = '42'");
        log.p("s1", CUSTOMER, &format!("$1 = '{i}'"));
    }
    let analysis = analyse(&log.events);
    assert_eq!(
        kinds(&analysis),
        [(n_plus_one::KIND, 8), (repeated_identical::KIND, 8)]
    );
    let n1 = &analysis.findings[0];
    assert_eq!(n1.children[0].normalized, CUSTOMER_NORMALIZED);
    assert_eq!(
        n1.parent.as_ref().map(|p| p.normalized.as_str()),
        Some(ORDERS_NORMALIZED)
    );
}

#[test]
fn below_repeat_threshold_is_nothing() {
    let mut log = Log::new();
    for _ in 0..4 {
        log.p("s1", "SELECT * FROM users WHERE id = $1", "$1 = '42'");
    }
    assert!(analyse(&log.events).findings.is_empty());
}

#[test]
fn mn_plus_one_is_one_finding_with_all_children() {
    let mut log = Log::new();
    log.p("s1", ORDERS, "$1 = 'open'").rows = Some(7);
    for i in 0..7 {
        log.p("s1", CUSTOMER, &format!("$1 = '{i}'"));
        log.p(
            "s1",
            "SELECT * FROM addresses WHERE order_id = $1",
            &format!("$1 = '{i}'"),
        );
        log.p(
            "s1",
            "SELECT COUNT(*) FROM items WHERE order_id = $1",
            &format!("$1 = '{i}'"),
        );
    }
    let analysis = analyse(&log.events);
    let f = only(&analysis);
    assert_eq!(f.kind, mn_plus_one::KIND);
    assert_eq!(f.count, 7);
    assert_eq!(f.total_count, 7);
    let children: Vec<&str> = f.children.iter().map(|c| c.normalized.as_str()).collect();
    assert_eq!(
        children,
        [
            CUSTOMER_NORMALIZED,
            "SELECT * FROM addresses WHERE order_id = $1",
            "SELECT COUNT(*) FROM items WHERE order_id = $1"
        ]
    );
    assert_eq!(
        f.parent.as_ref().map(|p| p.normalized.as_str()),
        Some(ORDERS_NORMALIZED)
    );
    assert!(
        f.message
            .starts_with("orders loop: 7 iterations of 3 queries"),
        "{}",
        f.message
    );
    assert!(f.message.contains("21 statements"), "{}", f.message);
    // 21 repeated statements in one request: raised to error.
    assert_eq!(f.severity, Severity::Error);
}

#[test]
fn nested_loops_are_two_n_plus_ones_with_their_own_parents() {
    let mut log = Log::new();
    log.p("s1", ORDERS, "$1 = 'open'");
    let mut product = 0;
    for order in 0..5 {
        log.p(
            "s1",
            "SELECT * FROM items WHERE order_id = $1",
            &format!("$1 = '{order}'"),
        );
        for _ in 0..2 {
            product += 1;
            log.p(
                "s1",
                "SELECT * FROM products WHERE id = $1",
                &format!("$1 = '{product}'"),
            );
        }
    }
    let analysis = analyse(&log.events);
    assert_eq!(
        kinds(&analysis),
        [(n_plus_one::KIND, 5), (n_plus_one::KIND, 10)]
    );
    let parents: Vec<Option<&str>> = analysis
        .findings
        .iter()
        .map(|f| f.parent.as_ref().map(|p| p.normalized.as_str()))
        .collect();
    assert_eq!(
        parents,
        [
            Some(ORDERS_NORMALIZED),
            Some("SELECT * FROM items WHERE order_id = $1")
        ]
    );
}

#[test]
fn long_in_lists_and_chunked_batches_are_not_findings() {
    let mut log = Log::new();
    log.p("s1", ORDERS, "$1 = 'open'");
    // Six chunks of 20 ids, as Hibernate @BatchSize or prefetch chunking sends them.
    for chunk in 0..6 {
        let ids: Vec<String> = (0..20).map(|i| (chunk * 20 + i).to_string()).collect();
        log.q(
            "s1",
            &format!("SELECT * FROM customers WHERE id IN ({})", ids.join(", ")),
        );
    }
    // Six `= ANY($1)` with 50-element arrays.
    for chunk in 0..6 {
        let ids: Vec<String> = (0..50).map(|i| (chunk * 50 + i).to_string()).collect();
        log.p(
            "s1",
            "SELECT * FROM addresses WHERE customer_id = ANY($1)",
            &format!("$1 = '{{{}}}'", ids.join(",")),
        );
    }
    assert_eq!(kinds(&analyse(&log.events)), []);
}

#[test]
fn short_in_lists_repeated_are_still_a_loop() {
    let mut log = Log::new();
    log.p("s1", ORDERS, "$1 = 'open'");
    for i in 0..6 {
        log.q(
            "s1",
            &format!(
                "SELECT * FROM customers WHERE id IN ({}, {})",
                2 * i,
                2 * i + 1
            ),
        );
    }
    assert_eq!(kinds(&analyse(&log.events)), [(n_plus_one::KIND, 6)]);
}

#[test]
fn cursor_paging_savepoints_and_bookkeeping_are_not_findings() {
    let mut log = Log::new();
    log.q("s1", "BEGIN");
    log.q("s1", "DECLARE c1 CURSOR FOR SELECT * FROM events");
    for _ in 0..20 {
        log.q("s1", "FETCH 100 FROM c1");
    }
    log.q("s1", "CLOSE c1");
    for i in 0..10 {
        log.q("s1", &format!("SAVEPOINT s{i}"));
        log.q("s1", &format!("RELEASE SAVEPOINT s{i}"));
        log.q("s1", "SAVEPOINT x");
        log.q("s1", "ROLLBACK TO SAVEPOINT x");
        log.q("s1", "SET LOCAL statement_timeout = 5000");
        log.q("s1", "SHOW work_mem");
    }
    log.q("s1", "COMMIT");
    for _ in 0..10 {
        log.q("s1", "DEALLOCATE ALL");
        log.q("s1", "BEGIN");
        log.q("s1", "COMMIT");
    }
    let analysis = analyse(&log.events);
    assert_eq!(kinds(&analysis), []);
    assert_eq!(analysis.summary.statements, 0, "bookkeeping is not counted");
    assert_eq!(analysis.summary.requests, 0);
}

#[test]
fn offset_and_keyset_paging_are_not_findings() {
    let mut log = Log::new();
    for page in 0..10 {
        log.q(
            "s1",
            &format!(
                "SELECT * FROM events ORDER BY id LIMIT 100 OFFSET {}",
                page * 100
            ),
        );
    }
    for page in 0..10 {
        log.p(
            "s1",
            "SELECT * FROM events WHERE id > $1 ORDER BY id LIMIT 100",
            &format!("$1 = '{}'", page * 100),
        );
    }
    assert_eq!(kinds(&analyse(&log.events)), []);
}

/// Rails' `find_each` on a scope: a first page, then pages that carry a cursor on the
/// ordered key beside the scope's own filter. The first page is no parent of a loop.
#[test]
fn keyset_pages_within_a_filter_are_not_findings() {
    let mut log = Log::new();
    log.p(
        "s1",
        r#"SELECT "orders".* FROM "orders" WHERE "orders"."status" = $1 ORDER BY "orders"."id" ASC LIMIT $2"#,
        "$1 = 'open', $2 = '50'",
    );
    for page in 1..6 {
        log.p(
            "s1",
            r#"SELECT "orders".* FROM "orders" WHERE "orders"."status" = $1 AND "orders"."id" > $2 ORDER BY "orders"."id" ASC LIMIT $3"#,
            &format!("$1 = 'open', $2 = '{}', $3 = '50'", page * 75),
        );
    }
    assert_eq!(kinds(&analyse(&log.events)), []);
}

#[test]
fn psycopg_auto_prepared_executions_count_under_their_sql() {
    let mut log = Log::new();
    log.p("s1", ORDERS, "$1 = 'open'");
    for i in 0..8 {
        let e = log.p("s1", CUSTOMER, &format!("$1 = '{i}'"));
        if i >= 5 {
            e.prepared_name = Some("_pg3_0".to_owned());
        }
    }
    let analysis = analyse(&log.events);
    let f = only(&analysis);
    assert_eq!((f.kind, f.count), (n_plus_one::KIND, 8));
    assert_eq!(
        analysis.summary.fingerprints[0].normalized,
        CUSTOMER_NORMALIZED
    );
    assert_eq!(analysis.summary.fingerprints[0].calls, 8);
}

#[test]
fn slow_loops_need_fewer_iterations_when_asked() {
    let mut log = Log::new();
    log.p("s1", ORDERS, "$1 = 'open'");
    for i in 0..3 {
        log.p("s1", CUSTOMER, &format!("$1 = '{i}'")).duration_us = Some(40_000);
    }
    assert_eq!(
        kinds(&analyse(&log.events)),
        [],
        "by default the machine's speed never decides whether a loop is a finding"
    );
    let slow = || config(|c| c.thresholds.slow_loop_total_ms = Some(100));
    let analysis = analyse_with(slow(), &log.events);
    let f = only(&analysis);
    assert_eq!((f.kind, f.count), (n_plus_one::KIND, 3));
    assert_eq!(f.total_duration_us, Some(120_000));
    assert_eq!(
        f.severity,
        Severity::Warning,
        "time does not raise a severity unless severity.escalate_total_ms is set"
    );
    assert_eq!(analysis.summary.wasted_us, 120_000);

    for e in &mut log.events {
        e.duration_us = e.duration_us.map(|_| 1_000);
    }
    assert_eq!(kinds(&analyse_with(slow(), &log.events)), []);
}

#[test]
fn time_floor_drops_fast_loops_when_set() {
    let mut log = Log::new();
    log.p("s1", ORDERS, "$1 = 'open'");
    for i in 0..10 {
        log.p("s1", CUSTOMER, &format!("$1 = '{i}'")).duration_us = Some(100);
    }
    assert_eq!(kinds(&analyse(&log.events)), [(n_plus_one::KIND, 10)]);
    let floor = config(|c| c.thresholds.min_loop_total_ms = 5);
    assert_eq!(kinds(&analyse_with(floor, &log.events)), []);
}

#[test]
fn findings_never_carry_literal_values_or_params() {
    let mut log = Log::new();
    log.q("s1", "SELECT * FROM accounts WHERE owner = 'secret-owner'");
    for i in 0..6 {
        log.p(
            "s1",
            "SELECT * FROM tokens WHERE account_id = $1 AND note = 'hunter2'",
            &format!("$1 = 'secret-{i}'"),
        );
    }
    let analysis = analyse(&log.events);
    assert_eq!(kinds(&analysis), [(n_plus_one::KIND, 6)]);
    let text = format!("{:?}", analysis);
    for secret in ["hunter2", "secret-", "secret-owner"] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
}

#[test]
fn show_params_adds_examples() {
    let mut log = Log::new();
    log.orders_loop("s1", 6);
    let analysis = analyse_with(config(|c| c.show_params = true), &log.events);
    let f = only(&analysis);
    assert_eq!(
        f.children[0].example_params,
        ["$1 = '100'", "$1 = '101'", "$1 = '102'"]
    );
    assert_eq!(
        f.parent.as_ref().map(|p| p.example_params.clone()),
        Some(vec!["$1 = 'open'".to_owned()])
    );
}

#[test]
fn caps_on_waterfall_and_statistics() {
    let mut log = Log::new();
    log.orders_loop("s1", 600);
    for i in 0..30 {
        log.q("s1", &format!("SELECT * FROM t{i} WHERE a = 1"));
    }
    let capped = config(|c| {
        c.max_waterfall_bars = 50;
        c.max_fingerprint_stats = 3;
    });
    let analysis = analyse_with(capped, &log.events);
    let f = only(&analysis);
    assert_eq!(f.count, 600);
    assert_eq!(f.waterfall.len(), 50);
    assert_eq!(f.waterfall[0].role, BarRole::Parent);
    let stats = &analysis.summary.fingerprints;
    assert_eq!(stats.len(), 3);
    assert_eq!(
        (stats[0].normalized.as_str(), stats[0].calls),
        (CUSTOMER_NORMALIZED, 600)
    );
    assert_eq!(stats[0].requests, 1);
    assert_eq!(stats[1].calls, 1);
}

#[test]
fn show_params_uses_the_statement_when_it_had_no_bind_parameters() {
    let mut log = Log::new();
    log.q("s1", "SELECT * FROM posts");
    for i in 0..5 {
        log.q("s1", &format!("SELECT * FROM authors WHERE id = {i}"));
    }
    let analysis = analyse_with(config(|c| c.show_params = true), &log.events);
    let f = only(&analysis);
    assert_eq!(
        f.children[0].example_params,
        [
            "SELECT * FROM authors WHERE id = 0",
            "SELECT * FROM authors WHERE id = 1",
            "SELECT * FROM authors WHERE id = 2"
        ]
    );
}

#[test]
fn durations_and_rows_feed_the_shape_statistics() {
    let mut log = Log::new();
    log.p("s1", ORDERS, "$1 = 'open'").rows = Some(5);
    for i in 0..5 {
        let e = log.p("s1", CUSTOMER, &format!("$1 = '{i}'"));
        e.rows = Some(1);
        e.duration_us = (i < 3).then_some(200);
    }
    let analysis = analyse(&log.events);
    let customers = analysis
        .summary
        .fingerprints
        .iter()
        .find(|s| s.normalized == CUSTOMER_NORMALIZED)
        .expect("stats");
    assert_eq!(
        (
            customers.calls,
            customers.timed_calls,
            customers.total_us,
            customers.rows
        ),
        (5, 3, 600, 5)
    );
    assert_eq!(only(&analysis).total_duration_us, Some(600));
}

//! Units of work: every grouping rule, live ticks, de-duplication across requests and the
//! memory caps.

mod common;

use common::*;
use querycomb_core::{EventSink, RequestKind};
use querycomb_detect::detectors::{count_in_loop, n_plus_one};
use querycomb_detect::{Config, Pipeline};
use querycomb_sql::Dialect;

const TRACE_A: &str = "0af7651916cd43dd8448eb211c80319c";

const ITEMS: &str = "SELECT sku, qty FROM order_items WHERE order_id = $1";

fn traceparent(trace: &str) -> String {
    format!("/*traceparent='00-{trace}-b7ad6b7169203331-01'*/")
}

#[test]
fn trace_id_groups_across_sessions() {
    // One request fans out over two pooled connections: 3 + 3 lookups, one trace.
    let tag = traceparent(TRACE_A);
    let mut log = Log::new();
    log.p("s1", &format!("{ORDERS} {tag}"), "$1 = 'open'");
    for i in 0..6 {
        let session = if i % 2 == 0 { "s1" } else { "s2" };
        log.p(
            session,
            &format!("{CUSTOMER} {tag}"),
            &format!("$1 = '{i}'"),
        );
    }
    let analysis = analyse(&log.events);
    let f = only(&analysis);
    assert_eq!((f.kind, f.count), (n_plus_one::KIND, 6));
    assert_eq!(f.request.kind, RequestKind::Trace);
    assert_eq!(f.request.id, TRACE_A);
    assert_eq!(f.request.trace_id.as_deref(), Some(TRACE_A));
    assert_eq!(f.request.statements, 7);
    assert_eq!(analysis.summary.requests, 1);

    // Without the trace, the two sessions' pieces overlap in time with one shape and
    // differing parameters: reassembled as one concurrent fan-out (issue 9, item 5), with
    // the full N, though nothing about pauses was learned yet.
    let untagged: Vec<_> = log
        .events
        .iter()
        .cloned()
        .map(|mut e| {
            e.sql = e.sql.replace(&tag, "");
            e
        })
        .collect();
    let analysis = analyse(&untagged);
    assert_eq!(kinds(&analysis), [(n_plus_one::KIND, 6)]);
    assert_eq!(analysis.summary.requests, 1);
}

#[test]
fn a_new_trace_on_a_session_closes_the_previous_request() {
    let mut log = Log::new();
    let a = traceparent(TRACE_A);
    let b = traceparent("1af7651916cd43dd8448eb211c80319c");
    for i in 0..3 {
        log.p("s1", &format!("{CUSTOMER} {a}"), &format!("$1 = '{i}'"));
    }
    for i in 3..6 {
        log.p("s1", &format!("{CUSTOMER} {b}"), &format!("$1 = '{i}'"));
    }
    let analysis = analyse(&log.events);
    assert_eq!(kinds(&analysis), []);
    assert_eq!(analysis.summary.requests, 2);
}

#[test]
fn untagged_begin_joins_the_tagged_request() {
    // Drivers send BEGIN/COMMIT untagged; the statements between carry the trace.
    let tag = traceparent(TRACE_A);
    let mut log = Log::new();
    log.q("s1", "BEGIN");
    log.tagged_orders_loop("s1", 5, &tag);
    log.q("s1", "COMMIT");
    let analysis = analyse(&log.events);
    let f = only(&analysis);
    assert_eq!(f.request.kind, RequestKind::Trace);
    assert_eq!(f.request.id, TRACE_A);
    assert_eq!(
        f.request.start,
        Some(T0 + 100),
        "the request starts at BEGIN"
    );
    assert_eq!(analysis.summary.requests, 1);
}

#[test]
fn routes_split_requests_on_one_session() {
    let mut log = Log::new();
    for i in 0..3 {
        log.p(
            "s1",
            &format!("{CUSTOMER} /*route='%2Forders'*/"),
            &format!("$1 = '{i}'"),
        );
    }
    for i in 3..6 {
        log.p(
            "s1",
            &format!("{CUSTOMER} /*route='%2Finvoices'*/"),
            &format!("$1 = '{i}'"),
        );
    }
    let analysis = analyse(&log.events);
    assert_eq!(kinds(&analysis), []);
    let routes: Vec<(&str, u64, u32)> = analysis
        .summary
        .routes
        .iter()
        .map(|r| (r.route.as_str(), r.requests, r.max))
        .collect();
    assert_eq!(routes, [("/invoices", 1, 3), ("/orders", 1, 3)]);

    // The same statements untagged are one burst with one loop.
    let mut plain = Log::new();
    plain.p("s1", ORDERS, "$1 = 'open'");
    for i in 0..6 {
        plain.p("s1", CUSTOMER, &format!("$1 = '{i}'"));
    }
    assert_eq!(kinds(&analyse(&plain.events)), [(n_plus_one::KIND, 6)]);
}

#[test]
fn controller_and_action_name_the_route() {
    let mut log = Log::new();
    log.tagged_orders_loop("s1", 5, "/*action='index',controller='orders'*/");
    let analysis = analyse(&log.events);
    let f = only(&analysis);
    assert_eq!(f.request.kind, RequestKind::Route);
    let route = f.request.route.as_deref().unwrap_or("");
    assert!(
        route.contains("orders") && route.contains("index"),
        "{route}"
    );
}

#[test]
fn route_requests_are_counted_per_route() {
    let mut log = Log::new();
    for request in 0..4u32 {
        log.tagged_orders_loop("s1", 5 + request, "/*route='/orders'*/");
        log.wait_ms(5_000);
    }
    let analysis = analyse(&log.events);
    let f = only(&analysis);
    assert_eq!(f.occurrences, 4);
    assert_eq!(f.count, 5, "evidence is from the first request");
    assert_eq!(f.total_count, 5 + 6 + 7 + 8);
    assert_eq!(f.request.route.as_deref(), Some("/orders"));
    let orders = &analysis.summary.routes[0];
    assert_eq!(orders.route, "/orders");
    assert_eq!(orders.requests, 4);
    assert_eq!((orders.min, orders.max), (6, 9));
    assert_eq!(orders.histogram, [(6, 1), (7, 1), (8, 1), (9, 1)]);
}

#[test]
fn transactions_are_units() {
    let mut log = Log::new();
    for t in 0..2 {
        log.q("s1", "BEGIN");
        for i in 0..3 {
            log.p("s1", CUSTOMER, &format!("$1 = '{}'", t * 3 + i));
        }
        log.q("s1", "COMMIT");
    }
    let analysis = analyse(&log.events);
    assert_eq!(
        kinds(&analysis),
        [],
        "two transactions of 3, not one loop of 6"
    );
    assert_eq!(analysis.summary.requests, 2);
}

#[test]
fn a_multi_statement_transaction_ends_a_chain_of_single_ones() {
    let mut log = Log::new();
    log.q("s1", "BEGIN");
    log.p("s1", CUSTOMER, "$1 = '1'");
    log.q("s1", "COMMIT");
    for t in 0..2 {
        log.q("s1", "BEGIN");
        for i in 0..3 {
            log.p("s1", CUSTOMER, &format!("$1 = '{}'", 10 * t + i));
        }
        log.q("s1", "COMMIT");
    }
    let analysis = analyse(&log.events);
    assert_eq!(kinds(&analysis), []);
    let sizes: Vec<(u32, u64)> = analysis.summary.routes[0].histogram.clone();
    assert_eq!(
        sizes,
        [(3, 1), (4, 1)],
        "chain of 1 + 3, then a transaction of 3"
    );
}

#[test]
fn untagged_work_after_a_tagged_request_is_a_new_unit() {
    let tag = traceparent(TRACE_A);
    let mut log = Log::new();
    // The tagged request ran more statements than the transaction that follows.
    log.tagged_orders_loop("s1", 12, &tag);
    log.q("s1", "BEGIN");
    log.q("s1", "SELECT id, title FROM posts");
    for i in 0..5 {
        log.q(
            "s1",
            &format!("SELECT COUNT(*) FROM comments WHERE post_id = {i}"),
        );
    }
    log.q("s1", "COMMIT");
    let analysis = analyse(&log.events);
    assert_eq!(
        kinds(&analysis),
        [(count_in_loop::KIND, 5), (n_plus_one::KIND, 12)],
        "the transaction closes at COMMIT, the trace when idle or at the end"
    );
    assert_eq!(analysis.findings[1].request.kind, RequestKind::Trace);
    let f = &analysis.findings[0];
    assert_eq!(f.request.kind, RequestKind::Transaction);
    assert_eq!(f.request.statements, 6);
    assert_eq!(
        f.request.location.line, 14,
        "the request starts at its BEGIN"
    );
    assert_eq!(f.request.start, Some(T0 + 1_400));
    assert_eq!(analysis.summary.requests, 2);
}

#[test]
fn untagged_statements_inside_a_tagged_request_stay_in_it() {
    // Server-side PREPARE/EXECUTE as a slow log shows it: the executed text is untagged.
    let mut log = Log::new();
    log.q(
        "s1",
        "SELECT id FROM orders WHERE customer_id = 1 /*route='%2Finvoices'*/",
    );
    for i in 0..6 {
        log.q("s1", &format!("SET @order_id = {i}"));
        log.q(
            "s1",
            &format!("SELECT sku, qty FROM order_items WHERE order_id = {i}"),
        );
    }
    let analysis = analyse(&log.events);
    let f = only(&analysis);
    assert_eq!((f.kind, f.count), (n_plus_one::KIND, 6));
    assert_eq!(f.request.route.as_deref(), Some("/invoices"));
    assert_eq!(
        f.parent.as_ref().map(|p| p.normalized.as_str()),
        Some("SELECT id FROM orders WHERE customer_id = $1")
    );
}

#[test]
fn untagged_work_is_not_adopted_by_a_later_tag() {
    let mut log = Log::new();
    log.orders_loop("s1", 3);
    log.q(
        "s1",
        "INSERT INTO audit (note) VALUES ('x') /*route='/checkout'*/",
    );
    let analysis = analyse(&log.events);
    let routes: Vec<(&str, u32)> = analysis
        .summary
        .routes
        .iter()
        .map(|r| (r.route.as_str(), r.max))
        .collect();
    assert_eq!(routes, [("", 4), ("/checkout", 1)]);
}

#[test]
fn untagged_named_prepared_statements_stay_in_the_tagged_request() {
    let tag = traceparent(TRACE_A);
    let mut log = Log::new();
    log.p("s1", &format!("{ORDERS} {tag}"), "$1 = 'open'");
    for i in 0..6 {
        log.p("s1", CUSTOMER, &format!("$1 = '{i}'")).prepared_name = Some("S_1".to_owned());
    }
    let analysis = analyse(&log.events);
    let f = only(&analysis);
    assert_eq!((f.kind, f.count), (n_plus_one::KIND, 6));
    assert_eq!(f.request.kind, RequestKind::Trace);
    assert_eq!(analysis.summary.requests, 1);
}

#[test]
fn named_statements_in_a_transaction_after_a_tagged_request_are_new_work() {
    // tokio-postgres and pgx name every statement they run (s0, s1, …): a BEGIN after a
    // tagged request starts other work even when its statements are named.
    let tag = traceparent(TRACE_A);
    let mut log = Log::new();
    log.tagged_orders_loop("s1", 12, &tag);
    log.q("s1", "BEGIN");
    log.p("s1", "SELECT id FROM orders ORDER BY id LIMIT 15", "")
        .prepared_name = Some("s14".to_owned());
    for i in 0..15 {
        log.p("s1", ITEMS, &format!("$1 = '{i}'")).prepared_name = Some("s15".to_owned());
    }
    log.q("s1", "COMMIT");
    log.q("s1", "BEGIN");
    for i in 0..3 {
        log.p("s1", ITEMS, &format!("$1 = '{i}'")).prepared_name = Some("s15".to_owned());
    }
    log.q("s1", "COMMIT");
    let analysis = analyse(&log.events);
    let items = analysis
        .findings
        .iter()
        .find(|f| f.children[0].normalized == ITEMS)
        .expect("the items loop");
    assert_eq!(
        items.count, 15,
        "the later 3-lookup transaction is not part of it"
    );
    assert_eq!(items.request.kind, RequestKind::Transaction);
}

#[test]
fn interleaved_traces_on_one_connection_stay_whole() {
    // A transaction-mode pooler interleaves two requests on one server connection.
    let a = traceparent(TRACE_A);
    let b = traceparent("1af7651916cd43dd8448eb211c80319c");
    let mut log = Log::new();
    log.p("s1", &format!("{ORDERS} {a}"), "$1 = 'open'");
    for i in 0..6 {
        let tag = if i % 2 == 0 { &a } else { &b };
        log.p("s1", &format!("{CUSTOMER} {tag}"), &format!("$1 = '{i}'"));
        log.p(
            "s1",
            &format!("{CUSTOMER} {a}"),
            &format!("$1 = '{}'", 100 + i),
        );
    }
    let analysis = analyse(&log.events);
    let f = only(&analysis);
    assert_eq!(f.request.id, TRACE_A);
    assert_eq!(f.count, 9);
    assert_eq!(analysis.summary.requests, 2);
}

#[test]
fn savepoints_stay_inside_their_transaction() {
    let mut log = Log::new();
    log.q("s1", "BEGIN");
    log.p("s1", ORDERS, "$1 = 'open'");
    log.q("s1", "SAVEPOINT a");
    for i in 0..3 {
        log.p("s1", CUSTOMER, &format!("$1 = '{i}'"));
    }
    log.q("s1", "RELEASE SAVEPOINT a");
    log.q("s1", "SAVEPOINT b");
    log.q("s1", "ROLLBACK TO SAVEPOINT b");
    for i in 3..6 {
        log.p("s1", CUSTOMER, &format!("$1 = '{i}'"));
    }
    log.q("s1", "ROLLBACK");
    let analysis = analyse(&log.events);
    let f = only(&analysis);
    assert_eq!((f.kind, f.count), (n_plus_one::KIND, 6));
    assert_eq!(f.request.kind, RequestKind::Transaction);
    assert_eq!(f.request.statements, 7);
}

#[test]
fn idle_gap_splits_bursts() {
    let build = |pause_ms: i64| {
        let mut log = Log::new();
        log.p("s1", ORDERS, "$1 = 'open'");
        for i in 0..3 {
            log.p("s1", CUSTOMER, &format!("$1 = '{i}'"));
        }
        log.wait_ms(pause_ms);
        for i in 3..6 {
            log.p("s1", CUSTOMER, &format!("$1 = '{i}'"));
        }
        log.events
    };
    assert_eq!(kinds(&analyse(&build(500))), [(n_plus_one::KIND, 6)]);
    let split = analyse(&build(1_500));
    assert_eq!(kinds(&split), []);
    assert_eq!(split.summary.requests, 2);
    let longer_gap = config(|c| c.idle_gap_ms = 2_000);
    assert_eq!(
        kinds(&analyse_with(longer_gap, &build(1_500))),
        [(n_plus_one::KIND, 6)]
    );
}

#[test]
fn sessions_are_separate_units() {
    let mut log = Log::new();
    log.p("s1", ORDERS, "$1 = 'open'");
    log.p("s2", ORDERS, "$1 = 'open'");
    for i in 0..6 {
        let session = if i % 2 == 0 { "s1" } else { "s2" };
        log.p(session, CUSTOMER, &format!("$1 = '{i}'"));
    }
    assert_eq!(kinds(&analyse(&log.events)), []);
}

#[test]
fn tick_closes_idle_units_for_live_updates() {
    let mut log = Log::new();
    log.orders_loop("s1", 6);
    let mut pipeline = Pipeline::new(Config::default(), Dialect::Postgres);
    for e in &log.events {
        pipeline.event(&e.as_event());
    }
    assert!(
        pipeline.take_updates().is_empty(),
        "the request may still go on"
    );
    pipeline.tick(log.clock + 500_000);
    assert!(
        pipeline.take_updates().is_empty(),
        "not idle long enough yet"
    );
    pipeline.tick(log.clock + 1_600_000);
    let updates = pipeline.take_updates();
    assert_eq!(updates.len(), 1);
    assert_eq!(
        (updates[0].kind, updates[0].occurrences),
        (n_plus_one::KIND, 1)
    );
    assert!(pipeline.take_updates().is_empty(), "nothing new since");

    // The same loop again: the finding comes back as an update with a higher count.
    let mut again = Log::new();
    again.clock = log.clock + 3_000_000;
    again.orders_loop("s9", 6);
    for e in &again.events {
        pipeline.event(&e.as_event());
    }
    pipeline.tick(again.clock + 2_000_000);
    let updates = pipeline.take_updates();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].occurrences, 2);
    assert_eq!(updates[0].total_count, 12);
    let analysis = pipeline.finish();
    assert_eq!(analysis.findings.len(), 1);
    assert_eq!(analysis.summary.requests, 2);
}

#[test]
fn later_events_close_idle_units_of_other_sessions() {
    let mut log = Log::new();
    log.orders_loop("s1", 6);
    log.wait_ms(3_000);
    log.q("s2", "SELECT name FROM settings WHERE id = 1");
    let mut pipeline = Pipeline::new(Config::default(), Dialect::Postgres);
    for e in &log.events {
        pipeline.event(&e.as_event());
    }
    assert_eq!(pipeline.take_updates().len(), 1);
    assert_eq!(pipeline.open_units(), 1, "only s2's unit is open");
}

#[test]
fn dedup_across_requests_keeps_the_first_evidence() {
    let mut log = Log::new();
    for (n, session) in [(6, "s1"), (9, "s2"), (7, "s1")] {
        log.q(session, "BEGIN");
        log.orders_loop(session, n);
        log.q(session, "COMMIT");
    }
    let analysis = analyse(&log.events);
    let f = only(&analysis);
    assert_eq!(f.occurrences, 3);
    assert_eq!(f.count, 6);
    assert_eq!(f.total_count, 22);
    assert_eq!(f.request.session, "s1");
    assert_eq!(f.request.kind, RequestKind::Transaction);
    assert_eq!(analysis.summary.requests, 3);
    let customers = analysis
        .summary
        .fingerprints
        .iter()
        .find(|s| s.normalized == CUSTOMER_NORMALIZED)
        .expect("customer stats");
    assert_eq!((customers.calls, customers.requests), (22, 3));
    assert_eq!(customers.table.as_deref(), Some("customers"));
}

#[test]
fn different_parents_are_different_findings() {
    let mut log = Log::new();
    log.orders_loop("s1", 6);
    log.wait_ms(2_000);
    log.q("s1", "SELECT * FROM invoices");
    for i in 0..6 {
        log.p("s1", CUSTOMER, &format!("$1 = '{i}'"));
    }
    let analysis = analyse(&log.events);
    assert_eq!(analysis.findings.len(), 2);
    assert_ne!(
        analysis.findings[0].signature,
        analysis.findings[1].signature
    );
}

#[test]
fn long_units_are_analysed_in_batches_and_keep_their_parent() {
    let mut log = Log::new();
    log.orders_loop("s1", 1_000);
    let capped = config(|c| c.max_statements_per_unit = 100);
    let analysis = analyse_with(capped, &log.events);
    let f = only(&analysis);
    assert_eq!(f.kind, n_plus_one::KIND);
    assert_eq!(f.occurrences, 1, "one request, analysed in batches");
    assert_eq!(f.total_count, 1_000);
    assert_eq!(f.request.statements, 100, "evidence from the first batch");
    assert_eq!(analysis.summary.requests, 1);
    assert_eq!(analysis.summary.statements, 1_001);
    assert_eq!(analysis.summary.routes[0].max, 1_001);
}

#[test]
fn memory_stays_flat_over_many_sessions_and_requests() {
    // 20 000 short requests on 5 000 different sessions, a second apart in groups.
    let mut pipeline = Pipeline::new(Config::default(), Dialect::Postgres);
    let mut log = Log::new();
    let mut peak_units = 0;
    let mut peak_sessions = 0;
    for request in 0..20_000u32 {
        let session = format!("pid{}", request % 5_000);
        log.events.clear();
        log.orders_loop(&session, 2);
        if request % 10 == 0 {
            log.wait_ms(2_000);
        }
        for e in &log.events {
            pipeline.event(&e.as_event());
        }
        peak_units = peak_units.max(pipeline.open_units());
        peak_sessions = peak_sessions.max(pipeline.tracked_sessions());
    }
    assert!(peak_units <= 20, "open units peaked at {peak_units}");
    assert!(peak_sessions <= 20, "sessions peaked at {peak_sessions}");
    assert_eq!(pipeline.shapes(), 2);
    let analysis = pipeline.finish();
    assert_eq!(analysis.summary.statements, 60_000);
    assert!(analysis.findings.is_empty());
}

#[test]
fn ever_changing_savepoint_and_statement_names_do_not_grow_the_shape_table() {
    let mut pipeline = Pipeline::new(Config::default(), Dialect::Postgres);
    let mut log = Log::new();
    for i in 0..20_000 {
        log.events.clear();
        log.q("s1", "BEGIN");
        log.q("s1", &format!("SAVEPOINT \"s140234_x{i}\""));
        log.p("s1", CUSTOMER, &format!("$1 = '{i}'"));
        log.q("s1", &format!("RELEASE SAVEPOINT \"s140234_x{i}\""));
        log.q("s1", &format!("DEALLOCATE S_{i}"));
        log.q("s1", "COMMIT");
        for e in &log.events {
            pipeline.event(&e.as_event());
        }
    }
    assert_eq!(pipeline.shapes(), 1, "only the query is a shape");
    let analysis = pipeline.finish();
    assert_eq!(analysis.summary.statements, 20_000);
}

#[test]
fn empty_transactions_do_not_start_a_chain() {
    let mut log = Log::new();
    log.q("s1", "BEGIN");
    log.q("s1", "COMMIT");
    // Autocommit work, then a transaction: two units. (Had the empty transaction started a
    // chain, both would have joined it and shown one loop of six.)
    log.p("s1", ORDERS, "$1 = 'open'");
    for i in 0..3 {
        log.p("s1", CUSTOMER, &format!("$1 = '{i}'"));
    }
    log.q("s1", "BEGIN");
    for i in 3..6 {
        log.p("s1", CUSTOMER, &format!("$1 = '{i}'"));
    }
    log.q("s1", "COMMIT");
    let analysis = analyse(&log.events);
    assert_eq!(kinds(&analysis), []);
    assert_eq!(analysis.summary.requests, 2);
}

/// The same loop in one test's fixture and in another test's own work (`querycomb run`'s
/// routes): two findings, so that neither's severity depends on which ran first.
#[test]
fn a_loop_in_fixtures_and_in_tests_is_two_findings_whatever_the_order() {
    let ordered = |first: &str, second: &str| {
        let mut log = Log::new();
        for route in [first, second] {
            let start = log.events.len();
            log.orders_loop("s1", 6);
            for event in &mut log.events[start..] {
                event.route = Some(route.to_owned());
            }
            log.wait_ms(5_000);
        }
        let mut found: Vec<(Option<String>, u32)> = analyse(&log.events)
            .findings
            .into_iter()
            .map(|f| (f.request.route, f.occurrences))
            .collect();
        found.sort();
        found
    };
    let expected = vec![
        (Some("t.py::test_a".to_owned()), 1),
        (Some("t.py::test_b (setup)".to_owned()), 1),
    ];
    assert_eq!(ordered("t.py::test_a", "t.py::test_b (setup)"), expected);
    assert_eq!(ordered("t.py::test_b (setup)", "t.py::test_a"), expected);
    // Two tests' own work on the same loop stay one finding.
    assert_eq!(
        ordered("t.py::test_a", "t.py::test_c"),
        vec![(Some("t.py::test_a".to_owned()), 2)]
    );
}

/// A finding keeps every route it was seen in, with its requests, in the same form whatever
/// the order the requests came in (pytest-xdist's workers).
#[test]
fn a_finding_keeps_the_routes_it_was_seen_in_whatever_the_order() {
    let seen_in = |routes: &[&str]| {
        let mut log = Log::new();
        for route in routes {
            let start = log.events.len();
            log.orders_loop("s1", 6);
            for event in &mut log.events[start..] {
                event.route = Some((*route).to_owned());
            }
            log.wait_ms(5_000);
        }
        let analysis = analyse(&log.events);
        let f = only(&analysis);
        assert_eq!(f.occurrences as usize, routes.len());
        f.seen_in.clone()
    };
    let forward = seen_in(&["t.py::b[2]", "t.py::a[1]", "t.py::b[2]", "t.py::c"]);
    let backward = seen_in(&["t.py::c", "t.py::b[2]", "t.py::a[1]", "t.py::b[2]"]);
    assert_eq!(forward, backward);
    let listed: Vec<(&str, u32)> = forward
        .routes
        .iter()
        .map(|r| (r.route.as_str(), r.requests))
        .collect();
    assert_eq!(
        listed,
        [("t.py::a[1]", 1), ("t.py::b[2]", 2), ("t.py::c", 1)]
    );
    assert_eq!(forward.other_requests, 0);
}

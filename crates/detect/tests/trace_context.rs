//! Events that carry their context as data (trace sources): the trace id groups across
//! sessions and wins over tags in the text, the route comes from the data, the code location
//! and the GraphQL resolver span reach the finding, unknown parameter values make a loop
//! rather than an identical repeat, the parent is looked for under the loop's own handler
//! span first, and overlapping children are reported as a concurrent fan-out.

mod common;

use common::*;
use querycomb_core::{OwnedContext, OwnedEvent, RequestKind};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn traced<'a>(log: &'a mut Log, sql: &str, span: u64, parent: u64) -> &'a mut OwnedEvent {
    // Sessions alternate: a trace spans connections.
    let session = if span.is_multiple_of(2) {
        "svc-a"
    } else {
        "svc-b"
    };
    let event = log.q(session, sql);
    event.duration_us = Some(50);
    event.context = OwnedContext {
        trace_id: Some(TRACE.to_owned()),
        span_id: Some(format!("{span:016x}")),
        parent_span_id: Some(format!("{parent:016x}")),
        route: Some("/orders".to_owned()),
        service: Some("shop".to_owned()),
        params_unknown: sql.contains('$'),
        ..OwnedContext::default()
    };
    event
}

#[test]
fn trace_context_groups_routes_and_locates() {
    let mut log = Log::new();
    traced(&mut log, ORDERS, 1, 100);
    for span in 2..8 {
        let event = traced(
            &mut log,
            // Tags in the text name another trace: the data wins.
            "SELECT * FROM customers WHERE id = $1 /*traceparent='00-ffffffffffffffffffffffffffffffff-0000000000000001-01'*/",
            span,
            100,
        );
        event.context.code_file = Some("app/orders.py".to_owned());
        event.context.code_line = Some(42);
        event.context.code_function = Some("list_orders".to_owned());
        // The resolver span the trace source found above each lookup.
        event.context.resolver = Some("orders.*.customer".to_owned());
    }
    let analysis = analyse(&log.events);
    let finding = only(&analysis);
    assert_eq!(
        finding.kind.id(),
        "n_plus_one",
        "unknown values are a loop, not a repeat"
    );
    assert_eq!(finding.count, 6);
    assert_eq!(finding.distinct_params, 6);
    assert_eq!(finding.request.kind, RequestKind::Trace);
    assert_eq!(finding.request.trace_id.as_deref(), Some(TRACE));
    assert_eq!(finding.request.route.as_deref(), Some("/orders"));
    assert_eq!(finding.request.statements, 7);
    assert_eq!(
        finding.children[0].source_location.as_deref(),
        Some("app/orders.py:42 in list_orders")
    );
    assert_eq!(
        finding.children[0]
            .stack_tags
            .get(querycomb_core::RESOLVER_SPAN_TAG),
        Some(&"orders.*.customer".to_owned()),
        "the resolver span is kept with the stack tags"
    );
    assert!(finding.parent.as_ref().unwrap().stack_tags.is_empty());
    assert_eq!(
        finding.parent.as_ref().unwrap().normalized,
        ORDERS_NORMALIZED
    );
    assert_eq!(finding.concurrency, None, "one after the other");
}

#[test]
fn the_parent_is_looked_for_under_the_loops_own_handler_first() {
    let mut log = Log::new();
    // Handler 100 lists orders; handler 200 reads something else; then handler 100 loops.
    traced(&mut log, ORDERS, 1, 100);
    traced(
        &mut log,
        "SELECT * FROM settings WHERE key = 'theme'",
        2,
        200,
    );
    for span in 3..9 {
        traced(&mut log, CUSTOMER, span, 100);
    }
    let analysis = analyse(&log.events);
    let finding = only(&analysis);
    assert_eq!(
        finding.parent.as_ref().unwrap().normalized,
        ORDERS_NORMALIZED
    );
}

#[test]
fn overlapping_children_are_a_concurrent_fan_out() {
    let mut log = Log::new();
    traced(&mut log, ORDERS, 1, 100);
    log.wait_ms(1);
    for span in 2..8 {
        let event = traced(&mut log, CUSTOMER, span, 100);
        // All six start within 600 µs and run for 5 ms: all six overlap.
        event.duration_us = Some(5_000);
    }
    let analysis = analyse(&log.events);
    let finding = only(&analysis);
    assert_eq!(finding.concurrency, Some(6));
    assert!(
        finding.message.contains("up to 6 ran at once"),
        "{}",
        finding.message
    );
}

/// N+1 across services: the frontend's trace, the loop in the users service.
#[test]
fn a_loop_in_a_downstream_service_names_it() {
    let mut log = Log::new();
    traced(&mut log, ORDERS, 1, 100).context.service = Some("frontend".to_owned());
    for span in 2..8 {
        let event = traced(&mut log, CUSTOMER, span, 100 + span);
        event.session = "users".to_owned();
        event.context.service = Some("users".to_owned());
    }
    log.events[0].session = "frontend".to_owned();
    let analysis = analyse(&log.events);
    let finding = only(&analysis);
    assert_eq!(finding.request.route.as_deref(), Some("/orders"));
    assert_eq!(finding.request.session, "frontend");
    assert!(
        finding.message.ends_with("; run by service users"),
        "{}",
        finding.message
    );
}

//! The layer: request spans, routes, findings as events, callbacks and the JSON lines file.

mod common;

use querycomb_detect::detectors::{n_plus_one, over_budget};
use std::sync::{Arc, Mutex};

use common::{books_joined, books_n_plus_one, sqlx_statement};
use querycomb_guard::{Budget, Budgets, Guard};
use tracing_subscriber::layer::SubscriberExt;

/// Runs `f` with a subscriber made of `guard`'s layer only.
fn with_guard(guard: &Guard, f: impl FnOnce()) {
    let subscriber = tracing_subscriber::registry().with(guard.layer());
    tracing::subscriber::with_default(subscriber, f);
}

#[test]
fn n_plus_one_in_a_tower_http_request_span_is_found_with_its_route() {
    let guard = Guard::builder().warn_events(false).build().unwrap();
    with_guard(&guard, || {
        // tower-http's default span: name `request`, fields method, uri, version.
        let span =
            tracing::info_span!("request", method = %"GET", uri = %"/books?page=2", version = ?1.1);
        span.in_scope(|| books_n_plus_one(8));
    });
    let findings = guard.findings();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!(f.kind, n_plus_one::KIND);
    assert_eq!(f.count, 8);
    assert_eq!(f.distinct_params, 8);
    assert_eq!(f.request.route.as_deref(), Some("GET /books"));
    let parent = f.parent.as_ref().expect("a parent");
    assert_eq!(parent.table.as_deref(), Some("books"));
    assert_eq!(f.children[0].table.as_deref(), Some("authors"));
    assert!(
        f.suggestion.as_deref().unwrap_or_default().contains("ANY("),
        "{f:#?}"
    );
    assert_eq!(guard.summary().statements, 9);
    assert_eq!(guard.summary().requests, 1);
    assert_eq!(guard.open_requests(), 0);
}

#[test]
fn the_joined_twin_has_no_findings() {
    let guard = Guard::new();
    with_guard(&guard, || {
        tracing::info_span!("request", http.route = "/books", method = "GET")
            .in_scope(|| books_joined(8));
    });
    assert!(guard.findings().is_empty(), "{:#?}", guard.findings());
    assert_eq!(guard.summary().requests, 1);
}

#[test]
fn requests_are_separate_units_even_back_to_back() {
    // Four lookups per request: below the threshold of 5 in each, 16 if merged.
    let guard = Guard::new();
    with_guard(&guard, || {
        for _ in 0..4 {
            tracing::info_span!("request", route = "GET /small").in_scope(|| books_n_plus_one(4));
        }
    });
    assert!(guard.findings().is_empty(), "{:#?}", guard.findings());
    assert_eq!(guard.summary().requests, 4);
}

#[test]
fn statements_outside_request_spans_are_not_analysed() {
    let guard = Guard::new();
    with_guard(&guard, || {
        tracing::info_span!("job").in_scope(|| books_n_plus_one(8));
        books_n_plus_one(8);
    });
    assert!(guard.findings().is_empty());
    assert_eq!(guard.summary().statements, 0);
}

#[test]
fn nested_request_spans_are_one_request_of_the_outermost() {
    let guard = Guard::builder().warn_events(false).build().unwrap();
    let (outer_count, inner_count) = {
        let mut counts = (0, 0);
        with_guard(&guard, || {
            let (outer, outer_handle) = guard.request_span("outer");
            outer.in_scope(|| {
                sqlx_statement("SELECT id, title, author_id FROM books ORDER BY id", 8);
                // async-graphql's request span inside tower-http's, or a middleware's.
                let (inner, inner_handle) = guard.request_span("inner");
                inner.in_scope(|| {
                    for id in 1..=8 {
                        sqlx_statement(&format!("SELECT name FROM authors WHERE id = {id}"), 1);
                    }
                });
                counts.1 = inner_handle.statements();
                let inner_report = inner_handle.finish().expect("observed");
                assert_eq!(
                    (inner_report.statements, inner_report.findings.len()),
                    (8, 0)
                );
            });
            counts.0 = outer_handle.statements();
            let report = outer_handle.finish().expect("observed");
            assert_eq!(report.route.as_deref(), Some("outer"));
            assert_eq!(report.findings.len(), 1, "{report:#?}");
            assert!(report.findings[0].parent.is_some(), "{report:#?}");
        });
        counts
    };
    assert_eq!((outer_count, inner_count), (9, 8));
}

#[test]
fn transaction_control_is_not_counted() {
    let guard = Guard::new();
    with_guard(&guard, || {
        let (span, handle) = guard.request_span("tx");
        span.in_scope(|| {
            sqlx_statement("BEGIN", 0);
            // A real query: `SELECT 1` is a liveness probe, which is not counted either.
            sqlx_statement("SELECT title FROM books WHERE id = $1", 1);
            sqlx_statement("COMMIT", 0);
        });
        assert_eq!(handle.statements(), 1);
    });
}

#[test]
fn a_handle_knows_when_the_layer_did_not_see_its_span() {
    let guard = Guard::new();
    let (_span, handle) = guard.request_span("unseen");
    assert!(!handle.observed());
    assert!(handle.finish().is_none());
}

#[test]
fn route_recorded_after_the_span_was_made_is_used() {
    let guard = Guard::builder().warn_events(false).build().unwrap();
    with_guard(&guard, || {
        let span = tracing::info_span!(
            "request",
            method = "GET",
            http.route = tracing::field::Empty
        );
        span.record("http.route", "/books/{id}");
        span.in_scope(|| books_n_plus_one(6));
    });
    let findings = guard.findings();
    assert_eq!(
        findings[0].request.route.as_deref(),
        Some("GET /books/{id}")
    );
}

#[test]
fn custom_request_span_names_and_route_fields() {
    let guard = Guard::builder()
        .request_span("job")
        .route_field("job.name")
        .warn_events(false)
        .build()
        .unwrap();
    with_guard(&guard, || {
        tracing::info_span!("job", job.name = "nightly-report").in_scope(|| books_n_plus_one(6));
    });
    let findings = guard.findings();
    assert_eq!(findings[0].request.route.as_deref(), Some("nightly-report"));
}

#[test]
fn findings_go_to_warn_events_and_callbacks() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen_by_callback = Arc::clone(&seen);
    let guard = Guard::builder()
        .on_finding(move |f| seen_by_callback.lock().unwrap().push(f.kind))
        .build()
        .unwrap();
    let warnings = Arc::new(Mutex::new(Vec::new()));
    let recorder = WarnRecorder(Arc::clone(&warnings));
    let subscriber = tracing_subscriber::registry()
        .with(guard.layer())
        .with(recorder);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("request", route = "GET /books").in_scope(|| books_n_plus_one(7));
    });
    assert_eq!(*seen.lock().unwrap(), vec![n_plus_one::KIND]);
    let warnings = warnings.lock().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("kind=n_plus_one"), "{warnings:?}");
    assert!(warnings[0].contains("count=7"), "{warnings:?}");
    assert!(warnings[0].contains("route=GET /books"), "{warnings:?}");
}

/// Records `querycomb_guard` warn events as `field=value` text.
struct WarnRecorder(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for WarnRecorder {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "querycomb_guard"
            || *event.metadata().level() != tracing::Level::WARN
        {
            return;
        }
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={value:?} ", field.name()));
            }
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                self.0.push_str(&format!("{}={value} ", field.name()));
            }
        }
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
}

#[test]
fn findings_file_is_querycomb_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("findings.jsonl");
    let guard = Guard::builder()
        .findings_file(&path)
        .warn_events(false)
        .build()
        .unwrap();
    with_guard(&guard, || {
        for _ in 0..2 {
            tracing::info_span!("request", route = "GET /books").in_scope(|| books_n_plus_one(6));
        }
    });
    guard.finish().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<_> = text
        .lines()
        .map(|l| querycomb_report::json::parse_line(l).unwrap_or_else(|e| panic!("{l}: {e:?}")))
        .collect();
    use querycomb_report::json::Line;
    assert!(matches!(&lines[0], Line::Sources(s) if s == &["querycomb-guard".to_owned()]));
    let findings: Vec<_> = lines
        .iter()
        .filter_map(|l| match l {
            Line::Finding(f) => Some(f),
            _ => None,
        })
        .collect();
    // The second request is an update of the same signature.
    assert_eq!(findings.len(), 2);
    assert_eq!(findings[0].signature, findings[1].signature);
    assert_eq!(findings[1].occurrences, 2);
    assert!(
        matches!(lines.last(), Some(Line::Summary(s)) if s.requests == 2 && s.statements == 14)
    );
}

#[test]
fn budgets_give_over_budget_findings() {
    let budgets = Budgets {
        default: Budget {
            max_statements: Some(3),
            ..Budget::default()
        },
        routes: Vec::new(),
    };
    let guard = Guard::builder()
        .budgets(budgets)
        .warn_events(false)
        .build()
        .unwrap();
    with_guard(&guard, || {
        tracing::info_span!("request", route = "GET /joined").in_scope(|| books_joined(3));
        tracing::info_span!("request", route = "GET /books").in_scope(|| books_n_plus_one(4));
    });
    let kinds: Vec<_> = guard
        .findings()
        .iter()
        .map(|f| (f.kind, f.request.route.clone().unwrap_or_default()))
        .collect();
    assert_eq!(kinds, vec![(over_budget::KIND, "GET /books".to_owned())]);
}

#[test]
fn concurrent_requests_on_many_threads_stay_apart() {
    let guard = Guard::builder().warn_events(false).build().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(guard.layer()));
    std::thread::scope(|scope| {
        for thread in 0..4 {
            let dispatch = dispatch.clone();
            scope.spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    for _ in 0..25 {
                        let span = tracing::info_span!("request", route = "GET /mixed");
                        span.in_scope(|| {
                            if thread == 0 {
                                books_n_plus_one(6);
                            } else {
                                books_n_plus_one(3);
                            }
                        });
                    }
                });
            });
        }
    });
    let findings = guard.findings();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0].occurrences, 25);
    assert_eq!(findings[0].count, 6);
    assert_eq!(guard.summary().requests, 100);
    assert_eq!(guard.open_requests(), 0);
}

#[test]
fn bound_parameters_unseen_by_sqlx_still_make_a_loop_and_array_chunks_do_not() {
    let guard = Guard::builder().warn_events(false).build().unwrap();
    with_guard(&guard, || {
        tracing::info_span!("request", route = "GET /bound").in_scope(|| {
            sqlx_statement("SELECT id, title, author_id FROM books ORDER BY id", 6);
            for _ in 0..6 {
                // sqlx's event has the text only: every execution looks the same.
                sqlx_statement("SELECT id, name FROM authors WHERE id = $1", 1);
            }
        });
        tracing::info_span!("request", route = "GET /chunks").in_scope(|| {
            sqlx_statement(
                "SELECT id, title, author_id FROM books ORDER BY id LIMIT 6000",
                6000,
            );
            for _ in 0..12 {
                sqlx_statement("SELECT id, name FROM authors WHERE id = ANY($1)", 500);
            }
        });
    });
    let findings = guard.findings();
    let kinds: Vec<_> = findings
        .iter()
        .map(|f| (f.kind, f.request.route.clone().unwrap_or_default(), f.count))
        .collect();
    assert_eq!(
        kinds,
        vec![(n_plus_one::KIND, "GET /bound".to_owned(), 6)],
        "{findings:#?}"
    );
}

#[test]
fn other_drivers_report_statements_with_record_statement() {
    let guard = Guard::builder().warn_events(false).build().unwrap();
    with_guard(&guard, || {
        let (span, handle) = guard.request_span("GET /diesel");
        span.in_scope(|| {
            let ms = std::time::Duration::from_millis(1);
            querycomb_guard::record_statement(
                "SELECT id, title, author_id FROM books",
                Some(6),
                ms,
            );
            for _ in 0..6 {
                querycomb_guard::record_statement(
                    "SELECT name FROM authors WHERE id = $1",
                    Some(1),
                    ms,
                );
            }
        });
        assert_eq!(handle.statements(), 7);
    });
    let findings = guard.findings();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0].total_duration_us, Some(6000));
}

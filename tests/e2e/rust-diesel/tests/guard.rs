//! querycomb-guard sees Diesel's statements through its `Instrumentation` hook, on a real
//! PostgreSQL (`DATABASE_URL`, a throwaway server started by crates/guard/tests/diesel.rs).

use std::sync::Once;

use diesel::connection::set_default_instrumentation;
use diesel::prelude::*;
use querycomb_e2e_diesel::{
    author_per_book_batched, author_per_book_loop, book_count_per_author_grouped,
    book_count_per_author_loop, books_per_author_batched, books_per_author_loop,
    same_author_repeatedly, seed, AUTHORS, BOOKS_PER_AUTHOR,
};
use querycomb_guard::diesel::{default_instrumentation, GuardInstrumentation};
use querycomb_guard::{assert_max_queries, assert_no_n_plus_one, Guard, RequestReport};
use tracing_subscriber::layer::SubscriberExt;

fn url() -> String {
    std::env::var("DATABASE_URL").expect("DATABASE_URL: run by crates/guard/tests/diesel.rs")
}

/// A connection to the seeded database (seeded once per test binary), reporting to the
/// guard's layer.
fn connect() -> PgConnection {
    static SEED: Once = Once::new();
    SEED.call_once(|| {
        let mut conn = PgConnection::establish(&url()).expect("connect to DATABASE_URL");
        seed(&mut conn).expect("seed");
    });
    let mut conn = PgConnection::establish(&url()).expect("connect to DATABASE_URL");
    conn.set_instrumentation(GuardInstrumentation::new());
    conn
}

/// Runs `f` as one request `route` of a fresh guard, and returns the request's report.
fn request(route: &str, f: impl FnOnce()) -> RequestReport {
    let guard = Guard::builder().warn_events(false).build().unwrap();
    let subscriber = tracing_subscriber::registry().with(guard.layer());
    tracing::subscriber::with_default(subscriber, || {
        let (span, handle) = guard.request_span(route);
        span.in_scope(f);
        drop(span);
        handle.finish().expect("the guard saw the request")
    })
}

#[test]
fn an_n_plus_one_through_diesel_is_found_with_its_parent_child_and_n() {
    let mut conn = connect();
    let report = request("GET /authors", || {
        let rows = books_per_author_loop(&mut conn).unwrap();
        assert_eq!(rows.len(), AUTHORS);
        assert!(rows
            .iter()
            .all(|(_, books)| books.len() == BOOKS_PER_AUTHOR));
    });
    assert_eq!(report.statements as usize, 1 + AUTHORS, "{report:#?}");
    assert_eq!(report.route.as_deref(), Some("GET /authors"));
    assert_eq!(report.findings.len(), 1, "{report:#?}");
    let f = &report.findings[0];
    assert_eq!(f.kind.id(), "n_plus_one", "{f:#?}");
    assert_eq!(f.count as usize, AUTHORS, "{f:#?}");
    assert_eq!(f.distinct_params as usize, AUTHORS, "{f:#?}");
    let parent = f.parent.as_ref().expect("a parent");
    assert_eq!(parent.table.as_deref(), Some("authors"), "{f:#?}");
    assert_eq!(
        parent.normalized,
        r#"SELECT "authors"."id", "authors"."name" FROM "authors" ORDER BY "authors"."id""#,
        "{f:#?}"
    );
    assert_eq!(f.children.len(), 1, "{f:#?}");
    assert_eq!(f.children[0].table.as_deref(), Some("books"), "{f:#?}");
    assert_eq!(
        f.children[0].normalized,
        r#"SELECT "books"."id", "books"."author_id", "books"."title" FROM "books" WHERE ("books"."author_id" = $1) ORDER BY "books"."id""#,
        "{f:#?}"
    );
    // The fix is the same statement for every author at once.
    assert!(
        f.suggestion
            .as_deref()
            .unwrap_or_default()
            .contains(r#"WHERE ("books"."author_id" = ANY($1))"#),
        "{f:#?}"
    );
    // The bind values never reach the findings.
    let text = format!("{f:?}");
    assert!(!text.contains("binds"), "{text}");
}

#[test]
fn the_eq_any_twin_is_clean_and_transaction_control_is_not_counted() {
    let mut conn = connect();
    let report = request("GET /authors", || {
        let rows = conn.transaction(books_per_author_batched).unwrap();
        assert_eq!(rows.len(), AUTHORS);
        assert!(rows
            .iter()
            .all(|(_, books)| books.len() == BOOKS_PER_AUTHOR));
    });
    assert_eq!(report.statements, 2, "{report:#?}");
    assert!(report.findings.is_empty(), "{report:#?}");
}

#[test]
fn a_loop_over_one_id_is_a_repeat_because_diesel_shows_the_values() {
    let mut conn = connect();
    let report = request("GET /author/1", || {
        assert_eq!(
            same_author_repeatedly(&mut conn, 6).unwrap(),
            6 * BOOKS_PER_AUTHOR
        );
    });
    assert_eq!(report.statements, 6, "{report:#?}");
    let kinds: Vec<_> = report.findings.iter().map(|f| f.kind.id()).collect();
    assert_eq!(kinds, ["repeated_identical"], "{report:#?}");
}

#[test]
fn statements_outside_a_request_span_belong_to_no_request() {
    let mut conn = connect();
    let guard = Guard::builder().warn_events(false).build().unwrap();
    let subscriber = tracing_subscriber::registry().with(guard.layer());
    tracing::subscriber::with_default(subscriber, || {
        books_per_author_loop(&mut conn).unwrap();
    });
    assert_eq!(guard.summary().statements, 0);
    assert!(guard.findings().is_empty());
}

#[test]
fn the_default_instrumentation_reaches_connections_made_later() {
    set_default_instrumentation(default_instrumentation).unwrap();
    connect(); // seeded before the plain connection below
    let mut conn = PgConnection::establish(&url()).unwrap();
    let report = request("GET /authors", || {
        books_per_author_loop(&mut conn).unwrap();
    });
    assert_eq!(report.statements as usize, 1 + AUTHORS, "{report:#?}");
    assert_eq!(report.findings.len(), 1, "{report:#?}");
}

#[tokio::test]
async fn assert_max_queries_and_assert_no_n_plus_one_work_with_diesel() {
    let mut conn = connect();
    let rows = assert_max_queries!(2, async { books_per_author_batched(&mut conn).unwrap() });
    assert_eq!(rows.len(), AUTHORS);
    let rows = assert_no_n_plus_one!(async { books_per_author_batched(&mut conn).unwrap() });
    assert_eq!(rows.len(), AUTHORS);

    let failed = tokio::spawn(async move {
        assert_max_queries!(2, async { books_per_author_loop(&mut conn).unwrap() });
    })
    .await
    .expect_err("the N+1 must fail assert_max_queries!");
    let payload = failed.into_panic();
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.contains("expected at most 2 statements"),
        "{message}"
    );
    assert!(
        message.contains(&format!("ran {}", 1 + AUTHORS)),
        "{message}"
    );
    assert!(message.contains("n_plus_one"), "{message}");
    assert!(message.contains(&format!("N = {AUTHORS}")), "{message}");
    assert!(
        message.contains(r#"child:  SELECT "books"."id""#),
        "{message}"
    );
    assert!(
        message.contains(r#"fix:    SELECT "books"."id""#),
        "{message}"
    );
    assert!(message.contains("= ANY($1)"), "{message}");
}

/// Each book's author by its id is a to-one N+1; its `eq_any` twin is clean.
#[test]
fn an_author_per_book_is_an_n_plus_one_and_its_eq_any_twin_is_clean() {
    let mut conn = connect();
    let report = request("GET /books", || {
        let rows = author_per_book_loop(&mut conn).unwrap();
        assert_eq!(rows.len(), AUTHORS * BOOKS_PER_AUTHOR);
    });
    let kinds: Vec<_> = report.findings.iter().map(|f| f.kind.id()).collect();
    assert_eq!(kinds, ["n_plus_one"], "{report:#?}");
    let report = request("GET /books", || {
        let rows = author_per_book_batched(&mut conn).unwrap();
        assert_eq!(rows.len(), AUTHORS * BOOKS_PER_AUTHOR);
    });
    assert_eq!(report.statements, 2, "{report:#?}");
    assert!(report.findings.is_empty(), "{report:#?}");
}

/// Each author's books counted is a count per parent; the grouped twin is clean.
#[test]
fn a_count_per_author_is_a_finding_and_its_grouped_twin_is_clean() {
    let mut conn = connect();
    let want: Vec<(i32, i64)> = (1..=AUTHORS as i32)
        .map(|id| (id, BOOKS_PER_AUTHOR as i64))
        .collect();
    let report = request("GET /authors/counts", || {
        assert_eq!(book_count_per_author_loop(&mut conn).unwrap(), want);
    });
    assert_eq!(report.findings.len(), 1, "{report:#?}");
    let report = request("GET /authors/counts", || {
        assert_eq!(book_count_per_author_grouped(&mut conn).unwrap(), want);
    });
    assert_eq!(report.statements, 2, "{report:#?}");
    assert!(report.findings.is_empty(), "{report:#?}");
}

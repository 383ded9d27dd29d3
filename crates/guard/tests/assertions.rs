//! The test helpers fail on loops and pass on their batched twins.

mod common;

use std::future::Future;
use std::panic::AssertUnwindSafe;

use common::{books_joined, books_n_plus_one};
use futures_util::FutureExt;
use querycomb_guard::testing::{assert_flat_scaling, observe, QueryGuard};
use querycomb_guard::{assert_max_queries, assert_no_n_plus_one};

/// The panic message of `future`, which must panic.
async fn panic_of(future: impl Future<Output = ()>) -> String {
    match AssertUnwindSafe(future).catch_unwind().await {
        Ok(()) => panic!("expected a panic"),
        Err(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default(),
    }
}

/// Something async around the statements, as a handler has.
async fn page(n: u64, joined: bool) -> u64 {
    tokio::task::yield_now().await;
    if joined {
        books_joined(n);
    } else {
        books_n_plus_one(n);
    }
    tokio::task::yield_now().await;
    n
}

#[tokio::test]
async fn assert_max_queries_fails_on_the_loop_with_parent_child_n_and_the_fix() {
    let message = panic_of(async {
        assert_max_queries!(3, page(8, false));
    })
    .await;
    assert!(
        message.contains("expected at most 3 statements"),
        "{message}"
    );
    assert!(message.contains("ran 9"), "{message}");
    assert!(
        message.contains("parent: SELECT id, title, author_id FROM books ORDER BY id"),
        "{message}"
    );
    assert!(
        message.contains("child:  SELECT id, name FROM authors WHERE id = $1"),
        "{message}"
    );
    assert!(message.contains("N = 8"), "{message}");
    assert!(message.contains("fix:"), "{message}");
    assert!(message.contains("tests/assertions.rs:"), "{message}");
}

#[tokio::test]
async fn assert_max_queries_passes_on_the_twin_and_returns_the_output() {
    let n = assert_max_queries!(1, page(8, true));
    assert_eq!(n, 8);
}

#[tokio::test]
async fn assert_no_n_plus_one_fails_on_the_loop_only() {
    let message = panic_of(async {
        assert_no_n_plus_one!(page(6, false));
    })
    .await;
    assert!(message.contains("N+1 at"), "{message}");
    assert!(message.contains("N = 6"), "{message}");
    assert_eq!(assert_no_n_plus_one!(page(6, true)), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_assertions_do_not_see_each_other() {
    let loops = tokio::spawn(async { observe("loops", page(9, false)).await.1 });
    let joined = tokio::spawn(async { observe("joined", page(9, true)).await.1 });
    let (loops, joined) = (loops.await.unwrap(), joined.await.unwrap());
    assert_eq!((loops.statements, joined.statements), (10, 1));
    assert_eq!(loops.findings.len(), 1);
    assert!(joined.findings.is_empty());
}

#[tokio::test]
async fn query_guard_fails_when_dropped_after_a_loop() {
    let message = panic_of(async {
        let guard = QueryGuard::new("books page").max_statements(4);
        guard.watch(page(3, true)).await;
        guard.watch(page(7, false)).await;
    })
    .await;
    assert!(message.contains("books page"), "{message}");
    assert!(
        message.contains("run 2: 8 statements, more than 4"),
        "{message}"
    );
    assert!(message.contains("N = 7"), "{message}");
    assert!(!message.contains("run 1"), "{message}");

    let guard = QueryGuard::new("clean").max_statements(1);
    guard.watch(page(7, true)).await;
    assert_eq!(guard.problems(), "");
}

#[tokio::test]
async fn query_guard_with_a_budget_fails_when_it_saw_nothing() {
    let guard = QueryGuard::new("silent").max_statements(3);
    guard.watch(async {}).await;
    assert!(
        guard.problems().contains("no statement was seen"),
        "{}",
        guard.problems()
    );
    std::mem::forget(guard);
}

#[tokio::test]
async fn flat_scaling_fails_when_the_count_grows_and_passes_when_flat() {
    let message = panic_of(async {
        assert_flat_scaling(2, 10, |n| page(n as u64, false)).await;
    })
    .await;
    assert!(
        message.contains("grows with the size: 3 at 2, 11 at 10"),
        "{message}"
    );
    assert_eq!(
        assert_flat_scaling(2, 10, |n| page(n as u64, true)).await,
        (1, 1)
    );

    let message = panic_of(async {
        assert_flat_scaling(2, 10, |_| async {}).await;
    })
    .await;
    assert!(message.contains("no statement was seen"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loader_batches_count_for_the_request_that_asked() {
    use querycomb_guard::dataloader::{Batch, Loader, LoaderConfig};
    let (results, report) = observe("loader", async {
        let config = LoaderConfig {
            max_batch: 3,
            ..LoaderConfig::default()
        };
        let loader = Loader::with_config(
            |keys: Vec<u32>| async move {
                // Runs in the loader's own task: still this request's statement.
                common::sqlx_statement(
                    "SELECT id, name FROM authors WHERE id = ANY($1)",
                    keys.len() as u64,
                );
                Ok::<_, String>(keys.into_iter().map(|k| (k, k)).collect::<Batch<_, _, _>>())
            },
            config,
        );
        loader.load_many((0..10).chain(0..10)).await
    })
    .await;
    assert_eq!(results.len(), 20);
    // ⌈10 distinct keys / 3⌉
    assert_eq!(report.statements, 4);
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
}

//! Run by crates/cli/tests/run_rust.rs under `querycomb run`, against a database that
//! already has the bookshop's tables.

use querycomb_e2e_sqlx::{books_clean, books_n_plus_one, connect};

#[tokio::test]
async fn books_n_plus_one_page() {
    let pool = connect().await.expect("connect");
    let lines = books_n_plus_one(&pool, "books_n_plus_one_page").await.expect("query");
    assert_eq!(lines.last().map(String::as_str), Some("book 8 by author 8"));
}

#[tokio::test]
async fn books_clean_page() {
    let pool = connect().await.expect("connect");
    let lines = books_clean(&pool, "books_clean_page").await.expect("query");
    assert_eq!(lines.last().map(String::as_str), Some("book 8 by author 8"));
}

#[tokio::test]
#[ignore = "fails on purpose: querycomb's pass-through test runs it with --include-ignored"]
async fn fails_when_asked() {
    let pool = connect().await.expect("connect");
    let lines = books_clean(&pool, "fails_when_asked").await.expect("query");
    assert_eq!(lines.len(), 42, "failing on purpose (QC_E2E_FAIL)");
}

//! Run by crates/cli/tests/run_cargo.rs under `querycomb run`, against a database that
//! already has the bookshop's tables. Nothing here names a test to querycomb.

use querycomb_e2e_untagged::{books_clean, books_n_plus_one, connect};

#[tokio::test]
async fn books_n_plus_one_page() {
    let pool = connect().await.expect("connect");
    let lines = books_n_plus_one(&pool).await.expect("query");
    assert_eq!(lines.last().map(String::as_str), Some("book 8 by author 8"));
}

#[tokio::test]
async fn books_clean_page() {
    let pool = connect().await.expect("connect");
    let lines = books_clean(&pool).await.expect("query");
    assert_eq!(lines.last().map(String::as_str), Some("book 8 by author 8"));
}

/// The loop runs in a helper process the test starts (psql, with the libpq variables the
/// environment has): its statements are still this test's. (Its own query shape, so that
/// its finding is not the other loop's.)
#[test]
fn books_n_plus_one_in_a_helper() {
    let mut script = String::from("SELECT id, title, author_id FROM books ORDER BY id;\n");
    for id in 1..=8 {
        script.push_str(&format!("SELECT id, name FROM authors WHERE id = {id};\n"));
    }
    // Read from standard input, psql sends each statement on its own, as a loop would.
    let mut psql = std::process::Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run psql");
    std::io::Write::write_all(&mut psql.stdin.take().expect("stdin"), script.as_bytes())
        .expect("write to psql");
    let output = psql.wait_with_output().expect("psql");
    assert!(output.status.success(), "{output:?}");
}

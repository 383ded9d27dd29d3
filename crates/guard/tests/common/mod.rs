//! sqlx's statement event, reproduced field for field (sqlx-core 0.8.6 `QueryLogger::finish`),
//! for tests of the layer that need no database. The real thing is exercised by the example
//! application (examples/rust-axum-graphql) against PostgreSQL.
#![allow(dead_code)]

use std::time::Duration;

/// What sqlx's logger emits for one statement that returned `rows` rows.
pub fn sqlx_statement(sql: &str, rows: u64) {
    let mut summary = sql.split_whitespace().take(4).collect::<Vec<_>>().join(" ");
    let statement = if summary != sql {
        summary.push_str(" …");
        format!("\n\n{sql}\n")
    } else {
        String::new()
    };
    let elapsed = Duration::from_micros(40);
    tracing::debug!(
        target: "sqlx::query",
        summary,
        db.statement = statement,
        rows_affected = 0u64,
        rows_returned = rows,
        ?elapsed,
        elapsed_secs = elapsed.as_secs_f64(),
    );
}

/// A page of `n` books, then each book's author one at a time.
pub fn books_n_plus_one(n: u64) {
    sqlx_statement("SELECT id, title, author_id FROM books ORDER BY id", n);
    for id in 1..=n {
        sqlx_statement(&format!("SELECT id, name FROM authors WHERE id = {id}"), 1);
    }
}

/// The same page with one join.
pub fn books_joined(n: u64) {
    sqlx_statement(
        "SELECT b.title, a.name FROM books b JOIN authors a ON a.id = b.author_id ORDER BY b.id",
        n,
    );
}

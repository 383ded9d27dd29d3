//! The bookshop's data access for querycomb's Rust end-to-end test, with sqlx (no macros).
//!
//! Every statement goes through [`tagged`], which appends the sqlcommenter comment naming
//! the current test (`/*route='books_n_plus_one'*/`): the recipe from docs/ci.md for
//! counting queries per test.

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::Row;

/// `sql` with the route comment for `route` (URL-encoded as sqlcommenter wants).
pub fn tagged(sql: &str, route: &str) -> String {
    let encoded: String = route
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("{sql} /*route='{encoded}'*/")
}

/// One connection, so that a test's statements share a session.
pub async fn connect() -> Result<PgPool, sqlx::Error> {
    let url = std::env::var("DATABASE_URL").map_err(|e| sqlx::Error::Configuration(e.into()))?;
    PgPoolOptions::new().max_connections(1).connect(&url).await
}

/// "title by author" for every book, one author lookup per book: the N+1.
pub async fn books_n_plus_one(pool: &PgPool, route: &str) -> Result<Vec<String>, sqlx::Error> {
    let books = sqlx::query(&tagged("SELECT id, title, author_id FROM books ORDER BY id", route))
        .fetch_all(pool)
        .await?;
    let mut lines = Vec::new();
    for book in books {
        let author_id: i32 = book.try_get("author_id")?;
        let author = sqlx::query(&tagged("SELECT name FROM authors WHERE id = $1", route))
            .bind(author_id)
            .fetch_one(pool)
            .await?;
        let title: String = book.try_get("title")?;
        let name: String = author.try_get("name")?;
        lines.push(format!("{title} by {name}"));
    }
    Ok(lines)
}

/// The same list with a join.
pub async fn books_clean(pool: &PgPool, route: &str) -> Result<Vec<String>, sqlx::Error> {
    let sql = "SELECT b.title, a.name FROM books b JOIN authors a ON a.id = b.author_id ORDER BY b.id";
    let rows = sqlx::query(&tagged(sql, route)).fetch_all(pool).await?;
    rows.iter()
        .map(|r| Ok(format!("{} by {}", r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?)))
        .collect()
}

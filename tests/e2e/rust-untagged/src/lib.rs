//! The bookshop's data access for querycomb's cargo end-to-end test, with sqlx (no macros)
//! and no tags: `querycomb run` names the test behind each statement from the test runner.

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::Row;

/// One connection, so that a test's statements share a session.
pub async fn connect() -> Result<PgPool, sqlx::Error> {
    let url = std::env::var("DATABASE_URL").map_err(|e| sqlx::Error::Configuration(e.into()))?;
    PgPoolOptions::new().max_connections(1).connect(&url).await
}

/// "title by author" for every book, one author lookup per book: the N+1.
pub async fn books_n_plus_one(pool: &PgPool) -> Result<Vec<String>, sqlx::Error> {
    let books = sqlx::query("SELECT id, title, author_id FROM books ORDER BY id")
        .fetch_all(pool)
        .await?;
    let mut lines = Vec::new();
    for book in books {
        let author_id: i32 = book.try_get("author_id")?;
        let author = sqlx::query("SELECT name FROM authors WHERE id = $1")
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
pub async fn books_clean(pool: &PgPool) -> Result<Vec<String>, sqlx::Error> {
    let sql = "SELECT b.title, a.name FROM books b JOIN authors a ON a.id = b.author_id ORDER BY b.id";
    let rows = sqlx::query(sql).fetch_all(pool).await?;
    rows.iter()
        .map(|r| Ok(format!("{} by {}", r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn authors_counted_once() {
        let pool = super::connect().await.expect("connect");
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM authors")
            .fetch_one(&pool)
            .await
            .expect("count");
        assert_eq!(count, 8);
    }
}

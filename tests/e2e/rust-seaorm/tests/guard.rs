//! querycomb-guard's tracing layer sees SeaORM's statements (through sqlx's `sqlx::query`
//! events) on a real PostgreSQL (`DATABASE_URL`, a throwaway server started by
//! crates/guard/tests/seaorm.rs).

use querycomb_e2e_seaorm::{
    authors_lazily, authors_loaded, book_counts_grouped, book_counts_lazily, books_lazily,
    books_loaded, books_with_related, seed, AuthorBooks, BookAuthors, AUTHORS, BOOKS_PER_AUTHOR,
};
use querycomb_guard::testing::observe;
use querycomb_guard::{assert_max_queries, assert_no_n_plus_one};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use tokio::sync::OnceCell;

/// A connection pool to the seeded database (seeded once per test binary).
async fn connect() -> DatabaseConnection {
    static SEEDED: OnceCell<()> = OnceCell::const_new();
    let url =
        std::env::var("DATABASE_URL").expect("DATABASE_URL: run by crates/guard/tests/seaorm.rs");
    // One connection: under `querycomb run` (crates/cli/tests/advice_orms.rs) each test's
    // statements are one session, so one request, whatever the pool would have spread.
    let mut options = ConnectOptions::new(url);
    options.max_connections(1);
    let db = Database::connect(options)
        .await
        .expect("connect to DATABASE_URL");
    SEEDED
        .get_or_init(|| async { seed(&db).await.expect("seed") })
        .await;
    db
}

fn assert_complete(rows: &AuthorBooks) {
    assert_eq!(rows.len(), AUTHORS);
    assert!(
        rows.iter()
            .all(|(_, books)| books.len() == BOOKS_PER_AUTHOR),
        "{rows:#?}"
    );
}

#[tokio::test]
async fn lazy_loading_per_row_is_an_n_plus_one_with_its_parent_child_and_n() {
    let db = connect().await;
    let (rows, report) = observe("GET /authors", books_lazily(&db)).await;
    assert_complete(&rows.unwrap());
    assert_eq!(report.statements as usize, 1 + AUTHORS, "{report:#?}");
    assert_eq!(report.findings.len(), 1, "{report:#?}");
    let f = &report.findings[0];
    assert_eq!(f.kind.id(), "n_plus_one", "{f:#?}");
    assert_eq!(f.count as usize, AUTHORS, "{f:#?}");
    assert_eq!(f.request.route.as_deref(), Some("GET /authors"), "{f:#?}");
    let parent = f.parent.as_ref().expect("a parent");
    assert_eq!(
        parent.normalized,
        r#"SELECT "authors"."id", "authors"."name" FROM "authors" ORDER BY "authors"."id" ASC"#,
        "{f:#?}"
    );
    assert_eq!(f.children.len(), 1, "{f:#?}");
    let child = &f.children[0].normalized;
    assert!(
        child.starts_with(
            r#"SELECT "books"."id", "books"."author_id", "books"."title" FROM "books""#
        ) && child.contains("$1"),
        "{f:#?}"
    );
}

#[tokio::test]
async fn find_with_related_is_one_statement_and_clean() {
    let db = connect().await;
    let (rows, report) = observe("GET /authors", books_with_related(&db)).await;
    assert_complete(&rows.unwrap());
    assert_eq!(report.statements, 1, "{report:#?}");
    assert!(report.findings.is_empty(), "{report:#?}");
}

#[tokio::test]
async fn the_loader_is_two_statements_and_clean() {
    let db = connect().await;
    let (rows, report) = observe("GET /authors", books_loaded(&db)).await;
    assert_complete(&rows.unwrap());
    assert_eq!(report.statements, 2, "{report:#?}");
    assert!(report.findings.is_empty(), "{report:#?}");
}

#[tokio::test]
async fn the_assertions_pass_on_the_fixes_and_fail_on_lazy_loading() {
    let db = connect().await;
    assert_complete(&assert_max_queries!(2, books_loaded(&db)).unwrap());
    assert_complete(&assert_no_n_plus_one!(books_with_related(&db)).unwrap());
    let failed = tokio::spawn(async move {
        assert_no_n_plus_one!(books_lazily(&db)).unwrap();
    })
    .await
    .expect_err("lazy loading must fail assert_no_n_plus_one!");
    let payload = failed.into_panic();
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("N+1 at"), "{message}");
    assert!(message.contains(&format!("N = {AUTHORS}")), "{message}");
}

fn assert_authors(rows: &BookAuthors) {
    assert_eq!(rows.len(), AUTHORS * BOOKS_PER_AUTHOR);
    assert!(
        rows.iter()
            .all(|(book, author)| author.as_ref().map(|a| a.id) == Some(book.author_id)),
        "{rows:#?}"
    );
}

/// Each book's author through `find_related` (a belongs-to: the author's table joined to the
/// book's, by the book's id) is a to-one N+1; the loader's `load_one` is its fix.
#[tokio::test]
async fn a_belongs_to_find_related_per_row_is_an_n_plus_one_and_load_one_is_clean() {
    let db = connect().await;
    let (rows, report) = observe("GET /books", authors_lazily(&db)).await;
    assert_authors(&rows.unwrap());
    assert_eq!(report.findings.len(), 1, "{report:#?}");
    assert_eq!(report.findings[0].kind.id(), "n_plus_one", "{report:#?}");
    let (rows, report) = observe("GET /books", authors_loaded(&db)).await;
    assert_authors(&rows.unwrap());
    assert_eq!(report.statements, 2, "{report:#?}");
    assert!(report.findings.is_empty(), "{report:#?}");
}

/// Each author's books counted through `find_related(..).count(db)` is a count per parent;
/// one grouped query is its fix.
#[tokio::test]
async fn a_count_per_author_is_a_finding_and_one_grouped_count_is_clean() {
    let db = connect().await;
    let want: Vec<(i32, u64)> = (1..=AUTHORS as i32)
        .map(|id| (id, BOOKS_PER_AUTHOR as u64))
        .collect();
    let (counts, report) = observe("GET /authors/counts", book_counts_lazily(&db)).await;
    assert_eq!(counts.unwrap(), want);
    assert_eq!(report.findings.len(), 1, "{report:#?}");
    let (counts, report) = observe("GET /authors/counts", book_counts_grouped(&db)).await;
    assert_eq!(counts.unwrap(), want);
    assert_eq!(report.statements, 2, "{report:#?}");
    assert!(report.findings.is_empty(), "{report:#?}");
}

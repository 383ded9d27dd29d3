//! A small bookshop API with the two classic N+1s and their fixes, guarded in-process by
//! querycomb-guard:
//!
//! - GraphQL `{ books { title author { name } } }`: the `author` resolver runs one query per
//!   book (the N+1); `authorBatched` asks the request's [`Loader`] instead (one query per
//!   batch).
//! - REST `GET /authors/book-counts-loop`: one `COUNT(*)` per author (a count in a loop);
//!   `GET /authors/book-counts` is its `GROUP BY` twin.
//!
//! Requests run inside tower-http's `request` span (with the matched route as `http.route`),
//! which the guard's layer groups statements by, and inside the guard's budget middleware.

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, EmptyMutation, EmptySubscription, Object, Schema, SimpleObject};
use axum::extract::{MatchedPath, State};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use querycomb_guard::dataloader::{by_key, Batch, BatchFn, Loader, LoaderConfig, LoaderFactory};
use querycomb_guard::middleware::BudgetLayer;
use querycomb_guard::{Budgets, Guard};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::Row;
use tower_http::trace::TraceLayer;

/// Authors 1..=AUTHORS, each with one book: a page of books is an N+1 of this size.
pub const AUTHORS: i32 = 10;

/// The schema and its rows; idempotent.
pub async fn create_schema(pool: &PgPool) -> Result<(), sqlx::Error> {
    let statements = [
        "CREATE TABLE IF NOT EXISTS authors (id integer PRIMARY KEY, name text NOT NULL)",
        "CREATE TABLE IF NOT EXISTS books (id integer PRIMARY KEY, title text NOT NULL, \
         author_id integer NOT NULL REFERENCES authors)",
        "INSERT INTO authors SELECT i, 'author ' || i FROM generate_series(1, 10) i \
         ON CONFLICT DO NOTHING",
        "INSERT INTO books SELECT i, 'book ' || i, i FROM generate_series(1, 10) i \
         ON CONFLICT DO NOTHING",
    ];
    for sql in statements {
        sqlx::raw_sql(sql).execute(pool).await?;
    }
    Ok(())
}

/// One connection: the proxy comparison needs every statement on one session.
pub async fn connect(url: &str) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new().max_connections(1).connect(url).await
}

#[derive(Clone, SimpleObject)]
pub struct Author {
    pub id: i32,
    pub name: String,
}

#[derive(Clone, SimpleObject)]
#[graphql(complex)]
pub struct Book {
    pub id: i32,
    pub title: String,
    #[graphql(skip)]
    pub author_id: i32,
}

/// Loads authors by primary key: `WHERE id = ANY($1)`.
pub struct AuthorsById {
    pub pool: PgPool,
}

impl BatchFn<i32, Author> for AuthorsById {
    type Error = sqlx::Error;

    async fn load(&self, ids: Vec<i32>) -> Result<Batch<i32, Author, sqlx::Error>, sqlx::Error> {
        let rows = sqlx::query("SELECT id, name FROM authors WHERE id = ANY($1)")
            .bind(&ids)
            .fetch_all(&self.pool)
            .await?;
        let authors = rows
            .iter()
            .map(|r| Ok(Author { id: r.try_get(0)?, name: r.try_get(1)? }))
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(by_key(authors, |a| a.id))
    }
}

pub type AuthorLoader = Loader<i32, Author, AuthorsById>;

pub struct Query;

#[Object]
impl Query {
    async fn books(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Book>> {
        let pool = ctx.data::<PgPool>()?;
        let rows = sqlx::query("SELECT id, title, author_id FROM books ORDER BY id")
            .fetch_all(pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Book {
                    id: r.try_get(0)?,
                    title: r.try_get(1)?,
                    author_id: r.try_get(2)?,
                })
            })
            .collect()
    }
}

#[ComplexObject]
impl Book {
    /// One query per book: the N+1.
    async fn author(&self, ctx: &Context<'_>) -> async_graphql::Result<Author> {
        let pool = ctx.data::<PgPool>()?;
        let row = sqlx::query("SELECT id, name FROM authors WHERE id = $1")
            .bind(self.author_id)
            .fetch_one(pool)
            .await?;
        Ok(Author {
            id: row.try_get(0)?,
            name: row.try_get(1)?,
        })
    }

    /// Through the request's loader: one query per batch of books.
    async fn author_batched(&self, ctx: &Context<'_>) -> async_graphql::Result<Author> {
        let loader = ctx.data::<AuthorLoader>()?;
        Ok(loader.load(self.author_id).await?)
    }
}

pub type BookSchema = Schema<Query, EmptyMutation, EmptySubscription>;

#[derive(Clone)]
pub struct App {
    pub pool: PgPool,
    pub schema: BookSchema,
    /// Makes each request's loader: loaders are never shared between requests.
    pub authors: Arc<LoaderFactory<AuthorsById>>,
}

impl App {
    pub fn new(pool: PgPool, loader: LoaderConfig) -> App {
        let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
            .data(pool.clone())
            .finish();
        let authors = LoaderFactory::new(AuthorsById { pool: pool.clone() }, loader);
        App {
            pool,
            schema,
            authors: Arc::new(authors),
        }
    }
}

async fn graphql(State(app): State<App>, Json(request): Json<async_graphql::Request>) -> Json<async_graphql::Response> {
    let loader: AuthorLoader = app.authors.loader();
    Json(app.schema.execute(request.data(loader)).await)
}

struct AppError(sqlx::Error);

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError(e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, self.0.to_string()).into_response()
    }
}

/// Each author's number of books, one `COUNT(*)` per author: a count in a loop.
async fn book_counts_loop(State(app): State<App>) -> Result<Json<Vec<(String, i64)>>, AppError> {
    let authors = sqlx::query("SELECT id, name FROM authors ORDER BY id")
        .fetch_all(&app.pool)
        .await?;
    let mut counts = Vec::with_capacity(authors.len());
    for author in authors {
        let id: i32 = author.try_get(0)?;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM books WHERE author_id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await?;
        counts.push((author.try_get(1)?, count));
    }
    Ok(Json(counts))
}

/// The same with one `GROUP BY`.
async fn book_counts(State(app): State<App>) -> Result<Json<Vec<(String, i64)>>, AppError> {
    let rows = sqlx::query(
        "SELECT a.name, COUNT(b.id) FROM authors a LEFT JOIN books b ON b.author_id = a.id \
         GROUP BY a.id, a.name ORDER BY a.id",
    )
    .fetch_all(&app.pool)
    .await?;
    let counts = rows
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Json(counts))
}

/// `GET /authors/book-counts`: the method and the route axum matched.
fn route_of<B>(request: &Request<B>) -> String {
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(request.uri().path(), |p| p.as_str());
    format!("{} {path}", request.method())
}

/// The application: routes, the guard's budget middleware, tower-http's request span.
pub fn router(app: App, guard: Guard, budgets: Budgets, over_budget: Option<StatusCode>) -> Router {
    let mut budget = BudgetLayer::new(guard, budgets).route_with(|req| {
        let path = req
            .extensions
            .get::<MatchedPath>()
            .map_or(req.uri.path(), |p| p.as_str());
        format!("{} {path}", req.method)
    });
    if let Some(status) = over_budget {
        budget = budget.respond_with(status);
    }
    Router::new()
        .route("/graphql", post(graphql))
        .route("/authors/book-counts", get(book_counts))
        .route("/authors/book-counts-loop", get(book_counts_loop))
        .layer(budget)
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            tracing::info_span!("request", http.route = %route_of(request))
        }))
        .with_state(app)
}

//! The bookshop under querycomb-guard, on a real PostgreSQL (`DATABASE_URL`, given by
//! crates/guard/tests/example_app.rs, which starts a throwaway server).

use std::future::Future;
use std::panic::AssertUnwindSafe;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use futures_util::FutureExt;
use http_body_util::BodyExt;
use querycomb_example_axum_graphql::{connect, create_schema, router, App, AUTHORS};
use querycomb_guard::dataloader::LoaderConfig;
use querycomb_guard::{assert_max_queries, load_budgets, Budgets, Finding, FindingKind, Guard};
use sqlx::PgPool;
use tokio::sync::OnceCell;
use tower::ServiceExt;
use tracing::instrument::WithSubscriber;
use tracing_subscriber::layer::SubscriberExt;

const N_PLUS_ONE: &str = "{ books { title author { name } } }";
const BATCHED: &str = "{ books { title authorBatched { name } } }";

async fn pool() -> PgPool {
    static SCHEMA: OnceCell<()> = OnceCell::const_new();
    let url = std::env::var("DATABASE_URL")
        .expect("DATABASE_URL (crates/guard/tests/example_app.rs runs these tests)");
    let pool = connect(&url).await.expect("connect to PostgreSQL");
    SCHEMA
        .get_or_init(|| async { create_schema(&pool).await.expect("create the schema") })
        .await;
    pool
}

async fn app(loader: LoaderConfig, guard: &Guard, budgets: Budgets, over_budget: Option<StatusCode>) -> Router {
    router(App::new(pool().await, loader), guard.clone(), budgets, over_budget)
}

fn graphql(query: &str) -> Request<Body> {
    let body = serde_json::json!({ "query": query }).to_string();
    Request::post("/graphql")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap()
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

/// Status and body of one request.
async fn call(app: &Router, request: Request<Body>) -> (StatusCode, String) {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// One request with `guard`'s layer as the subscriber; the guard's findings afterwards.
async fn guarded(guard: &Guard, app: &Router, request: Request<Body>) -> (StatusCode, String) {
    let subscriber = tracing_subscriber::registry().with(guard.layer());
    let out = call(app, request).with_subscriber(subscriber).await;
    assert_eq!(guard.open_requests(), 0, "the request span did not close");
    out
}

fn quiet_guard() -> Guard {
    Guard::builder().warn_events(false).build().unwrap()
}

fn only(findings: &[Finding]) -> &Finding {
    assert_eq!(findings.len(), 1, "{findings:#?}");
    &findings[0]
}

#[tokio::test]
async fn resolver_n_plus_one_is_found_with_parent_child_and_n() {
    let guard = quiet_guard();
    let app = app(LoaderConfig::default(), &guard, Budgets::default(), None).await;
    let (status, body) = guarded(&guard, &app, graphql(N_PLUS_ONE)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("author 10"), "{body}");
    let findings = guard.findings();
    let f = only(&findings);
    assert_eq!(f.kind, FindingKind::new("n_plus_one"));
    assert_eq!(f.count, AUTHORS as u32);
    assert_eq!(f.request.route.as_deref(), Some("POST /graphql"));
    let parent = f.parent.as_ref().expect("a parent");
    assert_eq!(parent.normalized, "SELECT id, title, author_id FROM books ORDER BY id");
    assert_eq!(f.children[0].normalized, "SELECT id, name FROM authors WHERE id = $1");
    assert_eq!(f.children[0].table.as_deref(), Some("authors"));
    assert_eq!(guard.summary().statements, 1 + AUTHORS as u64);
}

#[tokio::test]
async fn dataloader_twin_is_clean_and_makes_ceil_n_over_max_batch_queries() {
    for max_batch in [3usize, 4, 500] {
        let guard = quiet_guard();
        let loader = LoaderConfig {
            max_batch,
            ..LoaderConfig::default()
        };
        let app = app(loader, &guard, Budgets::default(), None).await;
        let (status, body) = guarded(&guard, &app, graphql(BATCHED)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("author 10"), "{body}");
        assert!(!body.contains("errors"), "{body}");
        assert!(guard.findings().is_empty(), "{:#?}", guard.findings());
        let batches = (AUTHORS as usize).div_ceil(max_batch) as u64;
        let summary = guard.summary();
        assert_eq!(summary.statements, 1 + batches, "max batch {max_batch}");
        let batch_shape = summary
            .fingerprints
            .iter()
            .find(|s| s.normalized == "SELECT id, name FROM authors WHERE id = ANY($1)")
            .expect("the batch statement");
        assert_eq!(batch_shape.calls, batches, "max batch {max_batch}");
    }
}

#[tokio::test]
async fn rest_count_in_loop_is_found_and_its_group_by_twin_is_clean() {
    let guard = quiet_guard();
    let app = app(LoaderConfig::default(), &guard, Budgets::default(), None).await;
    let (status, looped) = guarded(&guard, &app, get("/authors/book-counts-loop")).await;
    assert_eq!(status, StatusCode::OK, "{looped}");
    let (status, grouped) = guarded(&guard, &app, get("/authors/book-counts")).await;
    assert_eq!(status, StatusCode::OK, "{grouped}");
    assert_eq!(looped, grouped, "the twins answer the same");
    let findings = guard.findings();
    let f = only(&findings);
    assert_eq!(f.kind, FindingKind::new("count_in_loop"));
    assert_eq!(f.count, AUTHORS as u32);
    assert_eq!(f.request.route.as_deref(), Some("GET /authors/book-counts-loop"));
    assert_eq!(
        f.parent.as_ref().map(|p| p.normalized.as_str()),
        Some("SELECT id, name FROM authors ORDER BY id")
    );
    assert_eq!(f.children[0].normalized, "SELECT COUNT(*) FROM books WHERE author_id = $1");
}

/// The panic message of `future`, or `None` when it did not panic.
async fn panic_of(future: impl Future<Output = ()>) -> Option<String> {
    let payload = AssertUnwindSafe(future).catch_unwind().await.err()?;
    Some(
        payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| "(not a string)".to_owned()),
    )
}

#[tokio::test]
async fn assert_max_queries_fails_on_the_n_plus_one_route_and_passes_on_the_twin() {
    let guard = quiet_guard();
    let app = app(LoaderConfig::default(), &guard, Budgets::default(), None).await;
    let message = panic_of(async {
        assert_max_queries!(2, call(&app, graphql(N_PLUS_ONE)));
    })
    .await
    .expect("the N+1 route must fail the assertion");
    assert!(message.contains("expected at most 2 statements"), "{message}");
    assert!(message.contains(&format!("ran {}", AUTHORS + 1)), "{message}");
    assert!(message.contains("parent: SELECT id, title, author_id FROM books ORDER BY id"), "{message}");
    assert!(message.contains("child:  SELECT id, name FROM authors WHERE id = $1"), "{message}");
    assert!(message.contains(&format!("N = {AUTHORS}")), "{message}");
    assert!(message.contains("fix:    SELECT id, name FROM authors WHERE id = ANY($1)"), "{message}");

    let (status, body) = assert_max_queries!(2, call(&app, graphql(BATCHED)));
    assert_eq!(status, StatusCode::OK, "{body}");
    let message = panic_of(async {
        assert_max_queries!(1, call(&app, graphql(BATCHED)));
    })
    .await
    .expect("two statements are more than one: the loader's batch is counted");
    assert!(message.contains("ran 2"), "{message}");
}

#[tokio::test]
async fn budget_middleware_answers_500_over_the_budget_file() {
    let budgets_file = concat!(env!("CARGO_MANIFEST_DIR"), "/budgets.toml");
    let budgets = load_budgets(budgets_file).expect("budgets.toml");
    let guard = quiet_guard();
    let app = app(LoaderConfig::default(), &guard, budgets, Some(StatusCode::INTERNAL_SERVER_ERROR)).await;
    for (request, expected) in [
        (graphql(N_PLUS_ONE), StatusCode::INTERNAL_SERVER_ERROR),
        (graphql(BATCHED), StatusCode::OK),
        (get("/authors/book-counts-loop"), StatusCode::INTERNAL_SERVER_ERROR),
        (get("/authors/book-counts"), StatusCode::OK),
    ] {
        let what = format!("{} {}", request.method(), request.uri());
        let (status, body) = guarded(&guard, &app, request).await;
        assert_eq!(status, expected, "{what}: {body}");
    }
}

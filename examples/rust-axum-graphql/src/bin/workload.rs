//! The example's four requests, one after the other, with the guard's findings written to
//! `QUERYCOMB_FINDINGS` (JSON lines): crates/guard/tests/example_app.rs runs it with
//! `DATABASE_URL` pointing at `querycomb proxy`, to compare what the proxy finds on the wire
//! with what the guard finds in-process. `PAUSE_MS` between requests lets the proxy, which
//! sees no request boundaries, tell them apart by their idle gap.

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use querycomb_example_axum_graphql::{connect, create_schema, router, App};
use querycomb_guard::dataloader::LoaderConfig;
use querycomb_guard::{Budgets, Guard};
use tower::ServiceExt;
use tracing_subscriber::prelude::*;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let findings = std::env::var_os("QUERYCOMB_FINDINGS").ok_or("set QUERYCOMB_FINDINGS")?;
    let url = std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL")?;
    let pause = Duration::from_millis(std::env::var("PAUSE_MS")?.parse()?);
    let guard = Guard::builder().findings_file(findings).build()?;
    tracing_subscriber::registry().with(guard.layer()).init();

    let pool = connect(&url).await?;
    create_schema(&pool).await?;
    let app = router(App::new(pool, LoaderConfig::default()), guard.clone(), Budgets::default(), None);
    let graphql = |query: &str| {
        let body = format!("{{\"query\": \"{query}\"}}");
        Request::post("/graphql")
            .header("content-type", "application/json")
            .body(Body::from(body))
    };
    let requests = [
        graphql("{ books { title author { name } } }")?,
        graphql("{ books { title authorBatched { name } } }")?,
        Request::get("/authors/book-counts-loop").body(Body::empty())?,
        Request::get("/authors/book-counts").body(Body::empty())?,
    ];
    for request in requests {
        tokio::time::sleep(pause).await;
        let uri = request.uri().clone();
        let response = app.clone().oneshot(request).await?;
        if !response.status().is_success() {
            return Err(format!("{uri}: {}", response.status()).into());
        }
    }
    tokio::time::sleep(pause).await;
    guard.finish()?;
    Ok(())
}

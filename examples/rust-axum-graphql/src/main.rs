//! Serves the bookshop: `DATABASE_URL=postgres://… cargo run` (listens on 127.0.0.1:3000, or
//! `LISTEN`), with querycomb-guard's findings printed as warnings and, when
//! `QUERYCOMB_FINDINGS` names a file, written there as JSON lines; `BUDGETS` names a budgets
//! file.

use querycomb_example_axum_graphql::{connect, create_schema, router, App};
use querycomb_guard::dataloader::LoaderConfig;
use querycomb_guard::{load_budgets, Budgets, Guard};
use tracing_subscriber::prelude::*;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut builder = Guard::builder();
    if let Some(path) = std::env::var_os("QUERYCOMB_FINDINGS") {
        builder = builder.findings_file(path);
    }
    let guard = builder.build()?;
    let budgets = match std::env::var_os("BUDGETS") {
        Some(path) => load_budgets(path)?,
        None => Budgets::default(),
    };
    let fmt = tracing_subscriber::fmt::layer().with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    tracing_subscriber::registry().with(guard.layer()).with(fmt).init();

    let url = std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL")?;
    let pool = connect(&url).await?;
    create_schema(&pool).await?;
    let app = router(App::new(pool, LoaderConfig::default()), guard.clone(), budgets, None);
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!("listening on {listen}");
    axum::serve(listener, app).await?;
    guard.finish()?;
    Ok(())
}

//! The budget middleware answers or logs by the route's `max_statements`.

mod common;

use querycomb_detect::detectors::n_plus_one;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use common::{books_joined, books_n_plus_one};
use http::{Request, Response, StatusCode};
use querycomb_guard::middleware::BudgetLayer;
use querycomb_guard::{parse_budgets, Guard};
use tower_layer::Layer;
use tower_service::Service;
use tracing::instrument::WithSubscriber;
use tracing_subscriber::layer::SubscriberExt;

/// A handler: `/books` loops, anything else joins.
#[derive(Clone)]
struct Books;

impl Service<Request<()>> for Books {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<String>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        let looped = request.uri().path() == "/books";
        Box::pin(async move {
            tokio::task::yield_now().await;
            if looped {
                books_n_plus_one(8);
            } else {
                books_joined(8);
            }
            Ok(Response::new("page".to_owned()))
        })
    }
}

const BUDGETS: &str = "[budgets.default]\nmax_statements = 40\n\n\
                       [[budgets.route]]\nroute = \"GET /books*\"\nmax_statements = 5\n";

async fn get(
    service: &mut impl Service<Request<()>, Response = Response<String>, Error = Infallible>,
    path: &str,
) -> Response<String> {
    let request = Request::get(path).body(()).unwrap();
    service.call(request).await.unwrap()
}

#[tokio::test]
async fn over_budget_requests_get_the_configured_status() {
    let budgets = parse_budgets(BUDGETS, "budgets.toml".as_ref()).unwrap();
    let guard = Guard::builder().warn_events(false).build().unwrap();
    let subscriber = tracing_subscriber::registry().with(guard.layer());
    let mut service = BudgetLayer::new(guard.clone(), budgets)
        .respond_with(StatusCode::INTERNAL_SERVER_ERROR)
        .layer(Books);
    async {
        let looped = get(&mut service, "/books").await;
        assert_eq!(looped.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(looped.headers()["x-querycomb-budget"], "exceeded");
        let joined = get(&mut service, "/books-joined").await;
        assert_eq!(joined.status(), StatusCode::OK);
        assert_eq!(joined.body(), "page");
    }
    .with_subscriber(subscriber)
    .await;
    // The request spans closed: the loop is also a finding, on its route.
    let findings = guard.findings();
    assert!(
        findings
            .iter()
            .any(|f| f.kind == n_plus_one::KIND
                && f.request.route.as_deref() == Some("GET /books")),
        "{findings:#?}"
    );
}

#[tokio::test]
async fn logging_budgets_let_the_response_through_and_warn() {
    let budgets = parse_budgets(BUDGETS, "budgets.toml".as_ref()).unwrap();
    let guard = Guard::builder().warn_events(false).build().unwrap();
    let warnings = Arc::new(Mutex::new(Vec::new()));
    let subscriber = tracing_subscriber::registry()
        .with(guard.layer())
        .with(Warnings(Arc::clone(&warnings)));
    let mut service = BudgetLayer::new(guard, budgets).layer(Books);
    async {
        assert_eq!(get(&mut service, "/books").await.status(), StatusCode::OK);
        assert_eq!(
            get(&mut service, "/books-joined").await.status(),
            StatusCode::OK
        );
    }
    .with_subscriber(subscriber)
    .await;
    let warnings = warnings.lock().unwrap();
    assert_eq!(
        *warnings,
        vec!["query budget exceeded: GET /books ran 9 statements, its budget is 5".to_owned()]
    );
}

/// Messages of `WARN` events.
struct Warnings(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Warnings {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        if *event.metadata().level() == tracing::Level::WARN {
            let mut message = Message(String::new());
            event.record(&mut message);
            self.0.lock().unwrap().push(message.0);
        }
    }
}

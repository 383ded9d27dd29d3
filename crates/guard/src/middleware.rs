//! A per-route statement budget as tower middleware (axum, tonic, hyper): each request runs
//! inside a [`Guard::request_span`] named by its route; when the inner service answers, a
//! request that ran more statements than its route's `max_statements` is logged, or its
//! response replaced by an empty one with a configured status.
//!
//! ```ignore
//! let budgets = querycomb_guard::load_budgets("budgets.toml")?;
//! let app = Router::new()
//!     .route("/books", get(books))
//!     .layer(BudgetLayer::new(guard.clone(), budgets)
//!         .respond_with(StatusCode::INTERNAL_SERVER_ERROR)
//!         .route_with(|req| {
//!             let path = req.extensions.get::<MatchedPath>().map_or(req.uri.path(), |p| p.as_str());
//!             format!("{} {path}", req.method)
//!         }));
//! ```
//!
//! `max_repeats` and `max_total_ms` are judged when the request's span ends (an
//! `over_budget` finding); only `max_statements` is enforced on the response, as statements
//! are counted while they run.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Extensions, Method, Request, Response, StatusCode, Uri};
use querycomb_detect::detectors::over_budget::Budgets;
use tower_layer::Layer;
use tower_service::Service;
use tracing::instrument::Instrumented;
use tracing::Instrument;

use crate::guard::{Guard, RequestHandle};

/// What the route function sees of a request.
pub struct RouteInput<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub extensions: &'a Extensions,
}

type RouteFn = Arc<dyn Fn(&RouteInput<'_>) -> String + Send + Sync>;

/// What happens to a request over its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverBudgetAction {
    /// A `WARN` event on target `querycomb_guard`; the response goes out unchanged.
    Log,
    /// Also replace the response by an empty one with this status.
    Respond(StatusCode),
}

/// The middleware's layer.
#[derive(Clone)]
pub struct BudgetLayer {
    guard: Guard,
    budgets: Arc<Budgets>,
    action: OverBudgetAction,
    route: RouteFn,
}

impl BudgetLayer {
    /// Logs requests over budget; routes are `METHOD /path`.
    pub fn new(guard: Guard, budgets: Budgets) -> Self {
        BudgetLayer {
            guard,
            budgets: Arc::new(budgets),
            action: OverBudgetAction::Log,
            route: Arc::new(|req| format!("{} {}", req.method, req.uri.path())),
        }
    }

    /// Answer requests over budget with `status` (a 500 in tests makes the failure loud).
    pub fn respond_with(mut self, status: StatusCode) -> Self {
        self.action = OverBudgetAction::Respond(status);
        self
    }

    /// How a request's route is named, as budgets match it (axum: the `MatchedPath`
    /// extension, so that `/books/7` is `GET /books/{id}`).
    pub fn route_with(
        mut self,
        route: impl Fn(&RouteInput<'_>) -> String + Send + Sync + 'static,
    ) -> Self {
        self.route = Arc::new(route);
        self
    }
}

impl<S> Layer<S> for BudgetLayer {
    type Service = BudgetService<S>;

    fn layer(&self, inner: S) -> BudgetService<S> {
        BudgetService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The middleware's service.
#[derive(Clone)]
pub struct BudgetService<S> {
    inner: S,
    layer: BudgetLayer,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for BudgetService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BudgetFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let route = (self.layer.route)(&RouteInput {
            method: request.method(),
            uri: request.uri(),
            extensions: request.extensions(),
        });
        let max = self.layer.budgets.for_route(Some(&route)).max_statements;
        let (span, handle) = self.layer.guard.request_span(&route);
        BudgetFuture {
            inner: self.inner.call(request).instrument(span),
            check: Some(Check {
                handle,
                route,
                max,
                action: self.layer.action,
            }),
        }
    }
}

struct Check {
    handle: RequestHandle,
    route: String,
    max: Option<u32>,
    action: OverBudgetAction,
}

pin_project_lite::pin_project! {
    /// The response future of [`BudgetService`].
    pub struct BudgetFuture<F> {
        #[pin]
        inner: Instrumented<F>,
        check: Option<Check>,
    }
}

impl<F, ResBody, E> Future for BudgetFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: Default,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = match this.inner.poll(cx) {
            Poll::Ready(result) => result,
            Poll::Pending => return Poll::Pending,
        };
        let Some(check) = this.check.take() else {
            return Poll::Ready(result);
        };
        let statements = check.handle.statements();
        let over = check.max.filter(|&max| statements > max);
        let (Some(max), Ok(response)) = (over, result.as_ref()) else {
            return Poll::Ready(result);
        };
        tracing::warn!(
            target: "querycomb_guard",
            route = %check.route,
            statements,
            max_statements = max,
            status = response.status().as_u16(),
            "query budget exceeded: {} ran {statements} statements, its budget is {max}",
            check.route
        );
        match check.action {
            OverBudgetAction::Log => Poll::Ready(result),
            OverBudgetAction::Respond(status) => {
                let mut replaced = Response::new(ResBody::default());
                *replaced.status_mut() = status;
                replaced.headers_mut().insert(
                    "x-querycomb-budget",
                    http::HeaderValue::from_static("exceeded"),
                );
                Poll::Ready(Ok(replaced))
            }
        }
    }
}

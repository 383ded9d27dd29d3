//! Live query budgets: count each unit of work's statements as the client sends them, and
//! warn or reject once a budget is passed (`--enforce observe|warn|reject`).
//!
//! A unit of work is what the client's SQL says it is, per connection: consecutive
//! statements with the same sqlcommenter `route` (or trace id) are one request; untagged
//! statements join the open request, and a request ends when the key changes, when the
//! connection was idle longer than the idle gap, or (untagged) when an explicit transaction
//! ends. Untagged requests get the default budget. A request whose statements carry a trace
//! id is counted in [`SharedUnits`], once for every connection that runs part of it.
//!
//! Counting is what the server executes: one per statement of a simple query, one per
//! `Execute` of the extended protocol (not per Parse, Describe or Bind, and not again when a
//! suspended portal is fetched further).
//!
//! What the client sees (see docs/production.md):
//! - `warn`: one `NoticeResponse` (severity WARNING, SQLSTATE [`WARN_SQLSTATE`]) per request,
//!   placed before the `ReadyForQuery` that ends the statement which passed the budget.
//! - `reject`: every statement over budget gets an `ErrorResponse` with SQLSTATE
//!   [`REJECT_SQLSTATE`] naming the route, the limit and the count, produced by the server
//!   itself from a substitute message, so the session is left exactly as after any error:
//!   an explicit transaction is aborted until ROLLBACK, a pipeline skips to its next Sync.

// This module reads untrusted wire bytes: no input may panic it (tests may).
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use querycomb_sql::comment;

use crate::metrics::Metrics;

/// SQLSTATE of a statement rejected for its budget (class 54, "program limit exceeded").
pub const REJECT_SQLSTATE: &str = "54Q01";
/// SQLSTATE of the warning notice (class 01, "warning").
pub const WARN_SQLSTATE: &str = "01Q01";

/// What happens to a statement over budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EnforceMode {
    /// Count and report only (findings, metrics).
    #[default]
    Observe,
    /// A NoticeResponse to the client once per request.
    Warn,
    /// An ErrorResponse instead of running the statement.
    Reject,
}

impl std::str::FromStr for EnforceMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "observe" => Ok(EnforceMode::Observe),
            "warn" => Ok(EnforceMode::Warn),
            "reject" => Ok(EnforceMode::Reject),
            _ => Err(format!(
                "unknown enforcement mode {s:?} (expected observe, warn or reject)"
            )),
        }
    }
}

/// Limits enforced live; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveLimits {
    /// Statements in one request.
    pub max_statements: Option<u32>,
    /// Statements in one explicit transaction.
    pub max_transaction_statements: Option<u32>,
    /// Rows returned (or affected) in one request; the statement that passes it completes,
    /// later ones are over budget.
    pub max_rows: Option<u64>,
}

impl LiveLimits {
    pub fn is_unlimited(&self) -> bool {
        self.max_statements.is_none()
            && self.max_transaction_statements.is_none()
            && self.max_rows.is_none()
    }

    /// Each limit of `self`, else the one of `fallback`.
    pub fn or(self, fallback: LiveLimits) -> LiveLimits {
        LiveLimits {
            max_statements: self.max_statements.or(fallback.max_statements),
            max_transaction_statements: self
                .max_transaction_statements
                .or(fallback.max_transaction_statements),
            max_rows: self.max_rows.or(fallback.max_rows),
        }
    }
}

/// Whether a route matches a budget entry (a glob or regex compiled by the caller).
pub type RouteMatcher = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// One budget entry for routes.
#[derive(Clone)]
pub struct RouteBudget {
    /// The pattern as written, for messages.
    pub pattern: String,
    pub matches: RouteMatcher,
    pub limits: LiveLimits,
    /// Overrides the global mode for this entry.
    pub mode: Option<EnforceMode>,
}

impl std::fmt::Debug for RouteBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteBudget")
            .field("pattern", &self.pattern)
            .field("limits", &self.limits)
            .field("mode", &self.mode)
            .finish()
    }
}

/// Every budget the proxy enforces; replaced whole on reload.
#[derive(Debug, Clone)]
pub struct Enforcement {
    pub mode: EnforceMode,
    /// Untagged requests and routes no entry matches.
    pub default: LiveLimits,
    /// First matching entry wins; its unset limits come from `default`.
    pub routes: Vec<RouteBudget>,
    /// Gap after which an idle connection's request is over.
    pub idle_gap: Duration,
}

impl Default for Enforcement {
    fn default() -> Self {
        Enforcement {
            mode: EnforceMode::Observe,
            default: LiveLimits::default(),
            routes: Vec::new(),
            idle_gap: Duration::from_secs(1),
        }
    }
}

impl Enforcement {
    /// Nothing to do per statement: no limits, or observe mode everywhere.
    pub fn is_inactive(&self) -> bool {
        let default_active = self.mode != EnforceMode::Observe && !self.default.is_unlimited();
        let route_active = self
            .routes
            .iter()
            .any(|r| r.mode.unwrap_or(self.mode) != EnforceMode::Observe);
        !default_active && !route_active
    }

    /// Whether any statement may be rejected (the client pump then holds back partial
    /// statements so that it can replace them whole).
    pub fn may_reject(&self) -> bool {
        self.mode == EnforceMode::Reject
            || self
                .routes
                .iter()
                .any(|r| r.mode == Some(EnforceMode::Reject))
    }

    fn budget_for(&self, route: Option<&str>) -> (LiveLimits, EnforceMode, Option<&str>) {
        let rule = route.and_then(|route| self.routes.iter().find(|r| (r.matches)(route)));
        match rule {
            Some(rule) => (
                rule.limits.or(self.default),
                rule.mode.unwrap_or(self.mode),
                Some(&rule.pattern),
            ),
            None => (self.default, self.mode, None),
        }
    }
}

/// What to do with one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdmitVerdict {
    Allow,
    /// Run it, and tell the client (once per request).
    Warn(Breach),
    /// Do not run it: answer with an error.
    Reject(Breach),
}

/// A budget passed: which limit, for which request, by how much.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breach {
    pub route: Option<String>,
    /// The budget entry's pattern, `default` for the default budget.
    pub budget: String,
    pub limit: &'static str,
    pub max: u64,
    pub count: u64,
}

impl Breach {
    pub fn message(&self) -> String {
        let route = self.route.as_deref().unwrap_or("(untagged request)");
        format!(
            "querycomb: query budget exceeded on route {route}: {} = {}, this request is at {} \
             (budget {})",
            self.limit, self.max, self.count, self.budget
        )
    }
}

/// A backend message with error fields (`E` ErrorResponse, `N` NoticeResponse): severity,
/// SQLSTATE, message, then `extra` fields (`D` detail, `H` hint).
pub(crate) fn response(
    tag: u8,
    severity: &str,
    sqlstate: &str,
    text: &str,
    extra: &[(u8, &str)],
) -> Vec<u8> {
    let mut body = Vec::new();
    let fields = [
        (b'S', severity),
        (b'V', severity),
        (b'C', sqlstate),
        (b'M', text),
    ];
    for (field, value) in fields.iter().chain(extra) {
        body.push(*field);
        body.extend_from_slice(value.replace('\0', "").as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut msg = vec![tag];
    msg.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    msg.extend_from_slice(&body);
    msg
}

/// The ErrorResponse a rejected statement gets.
pub(crate) fn rejection(breach: &Breach) -> Vec<u8> {
    response(
        b'E',
        "ERROR",
        REJECT_SQLSTATE,
        &breach.message(),
        &[
            (b'D', "The statement was not run: querycomb's proxy enforces per-request query budgets (--enforce reject)."),
            (b'H', "Batch the repeated statements, or raise the budget in the budgets file."),
        ],
    )
}

/// What the server gets instead of a rejected simple query: text that fails in the parser
/// (no catalog access, no side effect), so the server itself answers with an error and
/// ReadyForQuery, and aborts an open transaction exactly as for any failed statement.
pub(crate) fn substitute_query() -> Vec<u8> {
    let mut msg = vec![b'Q'];
    let text = b"querycomb_budget_exceeded\0";
    msg.extend_from_slice(&(text.len() as u32 + 4).to_be_bytes());
    msg.extend_from_slice(text);
    msg
}

/// What the server gets instead of a rejected `Execute`: an Execute of a portal that does
/// not exist, which fails without running anything; the server then skips to the next
/// Sync and aborts an open transaction, as for any failed statement.
pub(crate) fn substitute_execute() -> Vec<u8> {
    let mut body = b"querycomb: budget exceeded\0".to_vec();
    body.extend_from_slice(&0i32.to_be_bytes());
    let mut msg = vec![b'E'];
    msg.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    msg.extend_from_slice(&body);
    msg
}

/// One connection's open request.
#[derive(Debug)]
pub(crate) struct Budgeter {
    enforcement: Arc<Enforcement>,
    /// Where requests with a trace id are counted, whichever connection runs them.
    units: Arc<SharedUnits>,
    open: Option<Request>,
    /// Statements since the explicit transaction began.
    transaction_statements: u64,
    in_transaction: bool,
}

#[derive(Debug)]
struct Request {
    key: Option<String>,
    route: Option<String>,
    last: Instant,
    counts: Counts,
}

/// What a request has used so far.
#[derive(Debug, Clone, Copy)]
struct Usage {
    statements: u64,
    rows: u64,
    warned: bool,
    /// The last statement admitted, on any connection (shared requests expire by it).
    last: Instant,
}

impl Usage {
    fn new(now: Instant) -> Usage {
        Usage {
            statements: 0,
            rows: 0,
            warned: false,
            last: now,
        }
    }
}

/// A request's usage: its connection's own, or one shared by every connection that runs
/// statements with its trace id.
#[derive(Debug)]
enum Counts {
    Own(Usage),
    Shared(Arc<Mutex<Usage>>),
}

impl Counts {
    fn with<R>(&mut self, f: impl FnOnce(&mut Usage) -> R) -> R {
        match self {
            Counts::Own(usage) => f(usage),
            Counts::Shared(shared) => f(&mut lock(shared)),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Requests that may span connections: those whose statements carry a trace id
/// (sqlcommenter `traceparent`). A request fanned out over a pool (`Promise.all`, parallel
/// workers) is one unit of work whichever connections run it, so it is counted here, once.
/// Bounded: past [`MAX_SHARED_UNITS`] open requests, those idle longer than the idle gap are
/// forgotten (all of them if none is), and the forgotten are counted.
#[derive(Default)]
pub struct SharedUnits {
    units: Mutex<HashMap<String, Arc<Mutex<Usage>>>>,
    metrics: Option<Arc<Metrics>>,
}

impl std::fmt::Debug for SharedUnits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedUnits")
            .field("units", &self.len())
            .finish()
    }
}

/// Requests with a trace id tracked at once (see [`SharedUnits`]).
pub const MAX_SHARED_UNITS: usize = 10_000;

impl SharedUnits {
    /// Evictions are counted in `metrics` (`evictions_total{table="shared_budgets"}`).
    pub fn new(metrics: Option<Arc<Metrics>>) -> SharedUnits {
        SharedUnits {
            units: Mutex::default(),
            metrics,
        }
    }

    /// Requests tracked right now.
    pub fn len(&self) -> usize {
        lock(&self.units).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The usage of trace `id`'s request; a new one when it is unknown or was idle longer
    /// than `gap` (the same trace id later is a new request, as on one connection).
    fn usage(&self, id: &str, now: Instant, gap: Duration) -> Arc<Mutex<Usage>> {
        let mut units = lock(&self.units);
        if let Some(unit) = units.get(id) {
            if now.saturating_duration_since(lock(unit).last) <= gap {
                return unit.clone();
            }
        } else if units.len() >= MAX_SHARED_UNITS {
            let before = units.len();
            units.retain(|_, unit| now.saturating_duration_since(lock(unit).last) <= gap);
            if units.len() >= MAX_SHARED_UNITS {
                units.clear();
            }
            if let Some(metrics) = &self.metrics {
                metrics.evicted("shared_budgets", (before - units.len()) as u64);
            }
        }
        let unit = Arc::new(Mutex::new(Usage::new(now)));
        units.insert(id.to_owned(), unit.clone());
        if let Some(metrics) = &self.metrics {
            metrics.table_size("shared_budgets", units.len());
        }
        unit
    }
}

impl Budgeter {
    /// A connection's budgets, its traced requests counted in `units` with every other
    /// connection's.
    pub fn new(enforcement: Arc<Enforcement>, units: Arc<SharedUnits>) -> Self {
        Budgeter {
            enforcement,
            units,
            open: None,
            transaction_statements: 0,
            in_transaction: false,
        }
    }

    /// A statement (or a simple query of `count` statements) about to be sent.
    pub fn admit(&mut self, sql: &str, count: u64, now: Instant) -> AdmitVerdict {
        // Transaction control is neither counted nor refused: a client must always be
        // able to roll back (the detection stage does not count it either).
        if self.track_transaction(sql, count) {
            return AdmitVerdict::Allow;
        }
        // Nor is session bookkeeping (pgjdbc's `SET extra_float_digits` on connect, a
        // pool's `DISCARD ALL`): not the application's work, as for detection.
        if is_session_bookkeeping(first_word(sql)) {
            return AdmitVerdict::Allow;
        }
        let tags = comment::tags(sql);
        let (route, trace) = tags.route_and_trace_id();
        let route = route.map(|r| r.into_owned());
        let key = trace.map(str::to_owned).or_else(|| route.clone());
        let gap = self.enforcement.idle_gap;
        let continues = self.open.as_ref().is_some_and(|open| {
            let other_key = key.is_some() && open.key.is_some() && key != open.key;
            !other_key && now.saturating_duration_since(open.last) <= gap
        });
        if !continues {
            self.open = Some(Request {
                key: None,
                route: None,
                last: now,
                counts: Counts::Own(Usage::new(now)),
            });
        }
        let Some(open) = self.open.as_mut() else {
            return AdmitVerdict::Allow;
        };
        if open.key.is_none() && key.is_some() {
            open.key = key;
            open.route = route;
            if let Some(trace) = trace {
                // From now on counted with the trace's statements on other connections
                // (what this connection ran of it untagged so far included).
                let shared = self.units.usage(trace, now, gap);
                let own = open.counts.with(|usage| *usage);
                {
                    let mut usage = lock(&shared);
                    usage.statements += own.statements;
                    usage.rows += own.rows;
                }
                open.counts = Counts::Shared(shared);
            }
        }
        open.last = now;
        let usage = open.counts.with(|usage| {
            usage.statements += count;
            usage.last = now;
            *usage
        });
        let (limits, mode, pattern) = self.enforcement.budget_for(open.route.as_deref());
        if mode == EnforceMode::Observe {
            return AdmitVerdict::Allow;
        }
        let breach = |limit: &'static str, max: u64, count: u64| Breach {
            route: open.route.clone(),
            budget: pattern.unwrap_or("default").to_owned(),
            limit,
            max,
            count,
        };
        let over = [
            limits
                .max_statements
                .map(u64::from)
                .filter(|&max| usage.statements > max)
                .map(|max| breach("max_statements", max, usage.statements)),
            limits
                .max_transaction_statements
                .map(u64::from)
                .filter(|&max| self.in_transaction && self.transaction_statements > max)
                .map(|max| {
                    breach(
                        "max_transaction_statements",
                        max,
                        self.transaction_statements,
                    )
                }),
            limits
                .max_rows
                .filter(|&max| usage.rows > max)
                .map(|max| breach("max_rows", max, usage.rows)),
        ]
        .into_iter()
        .flatten()
        .next();
        let Some(breach) = over else {
            return AdmitVerdict::Allow;
        };
        match mode {
            EnforceMode::Reject => {
                // Not run: it does not count against what follows.
                open.counts.with(|usage| {
                    usage.statements = usage.statements.saturating_sub(count);
                });
                if self.in_transaction {
                    self.transaction_statements = self.transaction_statements.saturating_sub(count);
                }
                AdmitVerdict::Reject(breach)
            }
            EnforceMode::Warn => {
                let first = open
                    .counts
                    .with(|usage| !std::mem::replace(&mut usage.warned, true));
                if first {
                    AdmitVerdict::Warn(breach)
                } else {
                    AdmitVerdict::Allow
                }
            }
            EnforceMode::Observe => AdmitVerdict::Allow,
        }
    }

    /// Rows a statement of the open request returned or changed.
    pub fn rows(&mut self, rows: u64) {
        if let Some(open) = self.open.as_mut() {
            open.counts.with(|usage| usage.rows += rows);
        }
    }

    /// The server's transaction status from ReadyForQuery.
    pub fn ready(&mut self, in_transaction: bool) {
        if self.in_transaction && !in_transaction {
            self.transaction_ended();
        }
        self.in_transaction = in_transaction;
    }

    fn transaction_ended(&mut self) {
        self.transaction_statements = 0;
        // An untagged request ends with its transaction.
        if self.open.as_ref().is_some_and(|o| o.key.is_none()) {
            self.open = None;
        }
    }

    /// BEGIN / COMMIT seen before the server's ReadyForQuery says so (pipelines). True for
    /// transaction control (BEGIN, COMMIT, ROLLBACK, savepoints).
    fn track_transaction(&mut self, sql: &str, count: u64) -> bool {
        let first = first_word(sql);
        let is = |word: &str| first.eq_ignore_ascii_case(word);
        if is("begin") || is("start") {
            self.in_transaction = true;
            self.transaction_statements = 0;
            return true;
        }
        if is("savepoint") || is("release") {
            return true;
        }
        let ends = ["commit", "end", "rollback", "abort"]
            .iter()
            .any(|w| first.eq_ignore_ascii_case(w))
            && !sql.to_ascii_lowercase().contains(" to ");
        if ends {
            self.in_transaction = false;
            self.transaction_statements = 0;
            return true;
        }
        if self.in_transaction {
            self.transaction_statements += count;
        }
        false
    }
}

/// `SET`, `RESET`, `SHOW`, `DISCARD`, `DEALLOCATE`: session settings, not queries.
fn is_session_bookkeeping(first: &str) -> bool {
    ["set", "reset", "show", "discard", "deallocate"]
        .iter()
        .any(|w| first.eq_ignore_ascii_case(w))
}

/// The first word, after leading comments and blanks.
fn first_word(sql: &str) -> &str {
    let mut rest = sql.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, r)| r).trim_start();
        } else if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, r)| r).trim_start();
        } else {
            break;
        }
    }
    let end = rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    rest.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enforcement(mode: EnforceMode) -> Arc<Enforcement> {
        Arc::new(Enforcement {
            mode,
            default: LiveLimits {
                max_statements: Some(3),
                ..LiveLimits::default()
            },
            routes: vec![RouteBudget {
                pattern: "/orders".into(),
                matches: Arc::new(|r| r == "/orders"),
                limits: LiveLimits {
                    max_statements: Some(2),
                    ..LiveLimits::default()
                },
                mode: None,
            }],
            idle_gap: Duration::from_secs(1),
        })
    }

    #[test]
    fn rejects_every_statement_over_the_route_budget_until_the_next_request() {
        let mut b = Budgeter::new(enforcement(EnforceMode::Reject), Arc::default());
        let now = Instant::now();
        let tagged = "SELECT 1 /*route='%2Forders'*/";
        assert_eq!(b.admit(tagged, 1, now), AdmitVerdict::Allow);
        assert_eq!(b.admit(tagged, 1, now), AdmitVerdict::Allow);
        let AdmitVerdict::Reject(breach) = b.admit(tagged, 1, now) else {
            panic!("third statement passes");
        };
        assert_eq!(
            breach.message(),
            "querycomb: query budget exceeded on route /orders: max_statements = 2, this \
             request is at 3 (budget /orders)"
        );
        assert!(matches!(b.admit(tagged, 1, now), AdmitVerdict::Reject(_)));
        // Another route is another request.
        assert_eq!(
            b.admit("SELECT 1 /*route='x'*/", 1, now),
            AdmitVerdict::Allow
        );
        // After the idle gap, the same route starts a new request.
        let later = now + Duration::from_secs(2);
        assert_eq!(b.admit(tagged, 1, later), AdmitVerdict::Allow);
    }

    #[test]
    fn warns_once_and_untagged_requests_end_with_their_transaction() {
        let mut b = Budgeter::new(enforcement(EnforceMode::Warn), Arc::default());
        let now = Instant::now();
        assert_eq!(b.admit("BEGIN", 1, now), AdmitVerdict::Allow);
        for _ in 0..3 {
            assert_eq!(b.admit("SELECT 1", 1, now), AdmitVerdict::Allow);
        }
        assert_eq!(
            b.admit("SET application_name = 'x'", 1, now),
            AdmitVerdict::Allow
        );
        assert_eq!(b.admit("DISCARD ALL", 1, now), AdmitVerdict::Allow);
        assert!(matches!(b.admit("SELECT 1", 1, now), AdmitVerdict::Warn(_)));
        assert_eq!(b.admit("SELECT 1", 1, now), AdmitVerdict::Allow, "once");
        assert_eq!(b.admit("COMMIT", 1, now), AdmitVerdict::Allow);
        b.ready(false);
        assert_eq!(b.admit("SELECT 1", 1, now), AdmitVerdict::Allow);
    }

    #[test]
    fn transaction_and_row_ceilings() {
        let limits = LiveLimits {
            max_transaction_statements: Some(2),
            max_rows: Some(100),
            ..LiveLimits::default()
        };
        let mut b = Budgeter::new(
            Arc::new(Enforcement {
                mode: EnforceMode::Reject,
                default: limits,
                routes: Vec::new(),
                idle_gap: Duration::from_secs(1),
            }),
            Arc::default(),
        );
        let now = Instant::now();
        assert_eq!(b.admit("BEGIN", 1, now), AdmitVerdict::Allow);
        assert_eq!(b.admit("UPDATE t SET a = 1", 1, now), AdmitVerdict::Allow);
        assert_eq!(b.admit("UPDATE t SET a = 2", 1, now), AdmitVerdict::Allow);
        let AdmitVerdict::Reject(breach) = b.admit("UPDATE t SET a = 3", 1, now) else {
            panic!("over the transaction ceiling");
        };
        assert_eq!(breach.limit, "max_transaction_statements");
        assert_eq!(b.admit("ROLLBACK", 1, now), AdmitVerdict::Allow);
        b.ready(false);
        assert_eq!(
            b.admit("SELECT * FROM t /*route='r'*/", 1, now),
            AdmitVerdict::Allow
        );
        b.rows(150);
        let AdmitVerdict::Reject(breach) = b.admit("SELECT 2 /*route='r'*/", 1, now) else {
            panic!("over the row ceiling");
        };
        assert_eq!((breach.limit, breach.count), ("max_rows", 150));
    }

    #[test]
    fn a_traced_request_spread_over_connections_counts_against_one_budget() {
        let units: Arc<SharedUnits> = Arc::default();
        let enforcement = enforcement(EnforceMode::Reject);
        let mut pool: Vec<Budgeter> = (0..3)
            .map(|_| Budgeter::new(enforcement.clone(), units.clone()))
            .collect();
        let now = Instant::now();
        let traced = "SELECT 1 /*route='%2Forders',traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/";
        // Budget 2 for /orders: one statement on each of two connections, then the third
        // connection's statement is the request's third.
        assert_eq!(pool[0].admit(traced, 1, now), AdmitVerdict::Allow);
        assert_eq!(pool[1].admit(traced, 1, now), AdmitVerdict::Allow);
        let AdmitVerdict::Reject(breach) = pool[2].admit(traced, 1, now) else {
            panic!("the request's third statement, on a third connection");
        };
        assert_eq!((breach.limit, breach.count), ("max_statements", 3));
        assert_eq!(units.len(), 1);
        // Another trace is another request, on the same connections.
        let other = traced.replace(
            "0af7651916cd43dd8448eb211c80319c",
            "1af7651916cd43dd8448eb211c80319c",
        );
        assert_eq!(pool[2].admit(&other, 1, now), AdmitVerdict::Allow);
        // A route without a trace id is not a request identity: per connection.
        let untraced = "SELECT 1 /*route='%2Forders'*/";
        assert_eq!(pool[0].admit(untraced, 1, now), AdmitVerdict::Allow);
        assert_eq!(pool[1].admit(untraced, 1, now), AdmitVerdict::Allow);
        assert_eq!(pool[2].admit(untraced, 1, now), AdmitVerdict::Allow);
        // The same trace after the idle gap starts over.
        let later = now + Duration::from_secs(2);
        assert_eq!(pool[2].admit(traced, 1, later), AdmitVerdict::Allow);
    }

    #[test]
    fn shared_requests_are_bounded_and_evictions_counted() {
        let metrics = Arc::new(Metrics::new());
        let units = SharedUnits::new(Some(metrics.clone()));
        let now = Instant::now();
        let gap = Duration::from_secs(1);
        for i in 0..MAX_SHARED_UNITS + 10 {
            units.usage(&format!("{i:032x}"), now, gap);
        }
        assert!(units.len() <= MAX_SHARED_UNITS, "{}", units.len());
        assert_eq!(
            metrics.evicted_total("shared_budgets"),
            MAX_SHARED_UNITS as u64
        );
    }

    #[test]
    fn first_words_skip_comments() {
        assert_eq!(first_word("/* a */ -- b\n begin;"), "begin");
        assert_eq!(first_word("COMMIT"), "COMMIT");
        assert_eq!(first_word(""), "");
    }
}

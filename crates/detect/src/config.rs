//! What the detection stage decides with: thresholds, the idle gap, memory caps, allow-lists
//! and severity rules. Read from the `[detect]` table of `querycomb.toml`; unknown keys are
//! errors so that a typo never silently does nothing. Every default is explained on its field.
//!
//! Every key, with its default (all optional):
//! ```toml
//! [detect]
//! # dialect = "postgres"          # or "mysql"; default: from the log format
//! idle_gap_ms = 1000
//! max_statements_per_unit = 10000
//! max_fingerprint_stats = 500
//! max_routes = 1000
//! max_waterfall_bars = 400
//! show_params = false
//! include_tooling = false         # housekeeping and tooling statements as application work
//! allow_sql = []                  # regexes over normalised (or first raw) SQL
//! allow_tables = []               # globs: "audit_*"
//! allow_routes = []               # globs ("/health*") or "re:<regex>"
//!
//! [detect.thresholds]
//! n_plus_one = 5
//! slow_loop_count = 3
//! # slow_loop_total_ms = 100    (unset: time never lowers the count)
//! min_loop_total_ms = 0
//! repeated_identical = 5
//! batch_min_list = 10
//! burst_loops_need_parent = true
//! unbounded_rows = 1000
//! cartesian_rows = 100
//!
//! [detect.limits]               # limits declared by detectors: docs/finding-kinds.md
//! # over_fetch_row_bytes = 2048   (for example)
//!
//! [detect.severity]
//! loops = "warning"
//! repeated = "info"
//! escalate_count = 20
//! # escalate_total_ms = 100     (unset: time never changes a severity)
//!
//! [[detect.routes]]               # first match wins; any threshold may be overridden
//! route = "/admin/*"
//! n_plus_one = 20
//! ```

use querycomb_core::{BaseSeverity, FindingKind, Severity};
use serde::Deserialize;

use std::collections::BTreeMap;

use crate::budget::{Budget, Budgets};
use crate::detectors::{self, Limit};
use crate::pattern::{NamePattern, SqlRegex};

/// Detection settings. `Config::default()` is what `querycomb analyze` uses without a file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// SQL dialect for fingerprinting. When unset the caller's choice wins (the CLI derives
    /// it from the log format); set it for logs whose format does not say (e.g. a proxy in
    /// front of a MySQL-compatible server).
    pub dialect: Option<DialectSetting>,

    /// Loop thresholds (`[detect.thresholds]`) that apply everywhere unless a
    /// `[[detect.routes]]` entry overrides them for a route.
    pub thresholds: Thresholds,

    /// Idle time after which a session's (or a trace's) unit of work is considered over.
    /// Default 1000 ms: statements of one web request or job step follow each other within
    /// milliseconds; a loop that pauses more than a second per iteration spends its time
    /// elsewhere, so one extra round trip (well under a millisecond on a LAN) is not what
    /// makes it slow. Larger gaps merge consecutive requests on a busy pooled connection.
    pub idle_gap_ms: u64,

    /// Statements kept in memory per open unit of work. When a unit reaches it, the kept
    /// statements are analysed and dropped, and the unit goes on (its statement count is
    /// exact; a loop straddling the cut is seen as two). Default 10 000: about 1 MB per open
    /// unit, above any real request, and large enough for a 5 000-row N+1 to be seen whole.
    pub max_statements_per_unit: u32,

    /// Fingerprints kept in the run summary, busiest first. Default 500: a report reader
    /// looks at the top few dozen; more only bloats the JSON.
    pub max_fingerprint_stats: usize,

    /// Routes kept in per-route statistics; further routes are counted under `"<other>"`.
    /// Default 1000 guards against route tags that embed ids (`/orders/123`).
    pub max_routes: usize,

    /// Statements of the first request kept as a waterfall per finding. Default 400: enough
    /// to draw a loop of a few hundred iterations, small enough for an HTML report with
    /// hundreds of findings.
    pub max_waterfall_bars: usize,

    /// Add example bind-parameter values to findings. Default false: parameters may hold
    /// personal data or secrets, so they are shown only when asked for (`--show-params`).
    pub show_params: bool,

    /// Treat housekeeping (pool resets, liveness probes) and tooling (system-catalog
    /// introspection, migration history) as application statements. Default false: drivers,
    /// pools and tools send them on their own, so they are never the application's N+1;
    /// they are counted in the summary instead (see docs/configuration.md for each entry
    /// and why). Turn on to see them in statistics and findings.
    pub include_tooling: bool,
    /// Keep the values each child ran with (`Finding::fix.captured_keys`), for a plan
    /// check against the database. Not read from `[detect]`: the CLI sets it for `--dsn` and
    /// `--keep-keys`, since the values are raw data.
    #[serde(skip)]
    pub capture_keys: bool,

    /// Regular expressions (Rust `regex` syntax) matched against each statement shape's
    /// normalised text and against the first raw text seen for it. A match means the shape
    /// is never reported as a repeated child. Use `(?i-u)` for case-insensitive patterns.
    pub allow_sql: Vec<SqlRegex>,

    /// Table names (globs: `*`, `?`; ASCII case-insensitive; schema prefix optional). A
    /// repeated child touching one of them is not reported.
    pub allow_tables: Vec<NamePattern>,

    /// Routes (globs, or `re:<regex>`). Requests on these routes are counted in statistics
    /// but never produce findings.
    pub allow_routes: Vec<NamePattern>,

    /// How severe each finding is.
    pub severity: SeverityRules,

    /// `[detect.limits]`: the numbers detectors declare in their own files (key, default
    /// and reason are generated into docs/finding-kinds.md). Unknown keys are errors.
    pub limits: KindLimits,

    /// Per-route threshold overrides, first match wins. Budgets build on this table.
    pub routes: Vec<RouteRule>,

    /// Query budgets per request (`over_budget` findings). Not read from `[detect]`: the
    /// CLI fills it from `[budget]`/`[[budgets]]` so that it can report their lines. Empty
    /// (no findings) by default.
    #[serde(skip)]
    pub budgets: Budgets,

    /// Keep every per-request occurrence of every finding, with the locations of its
    /// repeated statements ([`crate::Pipeline::finish_with_occurrences`]): for accuracy measurements,
    /// which must know each request a de-duplicated finding was found in. Not read from the
    /// file; off by default (it grows with the input).
    #[serde(skip)]
    pub keep_occurrences: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dialect: None,
            thresholds: Thresholds::default(),
            idle_gap_ms: 1000,
            max_statements_per_unit: 10_000,
            max_fingerprint_stats: 500,
            max_routes: 1000,
            max_waterfall_bars: 400,
            show_params: false,
            include_tooling: false,
            capture_keys: false,
            allow_sql: Vec::new(),
            allow_tables: Vec::new(),
            allow_routes: Vec::new(),
            severity: SeverityRules::default(),
            limits: KindLimits::default(),
            routes: Vec::new(),
            budgets: Budgets::default(),
            keep_occurrences: false,
        }
    }
}

impl Config {
    /// The thresholds for a request on `route`: the first matching `routes` entry's
    /// overrides on top of the global ones.
    pub fn thresholds_for(&self, route: Option<&str>) -> Thresholds {
        let base = Thresholds {
            budget: self.budgets.for_route(route),
            ..self.thresholds
        };
        let Some(route) = route else {
            return base;
        };
        match self.routes.iter().find(|rule| rule.route.matches(route)) {
            Some(rule) => rule.apply(base),
            None => base,
        }
    }

    /// True when requests on `route` must not produce findings.
    pub fn route_allowed(&self, route: Option<&str>) -> bool {
        route.is_some_and(|r| self.allow_routes.iter().any(|p| p.matches(r)))
    }

    /// `idle_gap_ms` in microseconds, the unit of event times.
    pub fn idle_gap_us(&self) -> i64 {
        i64::try_from(self.idle_gap_ms.saturating_mul(1000)).unwrap_or(i64::MAX)
    }
}

/// `postgres` or `mysql` in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DialectSetting {
    Postgres,
    Mysql,
}

impl DialectSetting {
    pub fn dialect(self) -> querycomb_sql::Dialect {
        match self {
            DialectSetting::Postgres => querycomb_sql::Dialect::Postgres,
            DialectSetting::Mysql => querycomb_sql::Dialect::MySql,
        }
    }
}

/// When repetition inside one request becomes a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// Executions of one child shape (with differing parameters) in one request that make a
    /// loop. Default 5, as Sentry: Prosopite and django-zeal report at 2, which flags every
    /// "load the two related rows" page and is the false-positive complaint users repeat; a
    /// loop of 2–4 costs a few round trips at most, while real N+1s grow with the data.
    pub n_plus_one: u32,

    /// A lower count that is enough when the loop's children took at least
    /// `slow_loop_total_ms` together (durations known). Default 3: three slow lookups that
    /// one query could replace are worth a look even below the normal count.
    pub slow_loop_count: u32,

    /// Total child time that makes `slow_loop_count` apply. Unset by default, so that
    /// whether a loop is a finding never depends on how fast the machine was: the same
    /// test suite on a loaded CI runner and on a quiet laptop gives the same findings, and
    /// budgets and baselines do not flap. Set it (100 ms is a delay users notice in a web
    /// request) to have slow short loops reported too.
    pub slow_loop_total_ms: Option<u64>,

    /// When durations are known, loops whose children took less than this in total are
    /// ignored. Default 0 (off): server-side durations leave out the network and driver
    /// round trip that is the real cost of an N+1, so a time floor (Sentry uses 50 ms of
    /// client-side span time) would hide most real N+1s in server logs. Raise it to report
    /// only loops that cost measurable server time.
    pub min_loop_total_ms: u64,

    /// Executions of one shape with the *same* parameters in one request that make a
    /// `repeated_identical` finding. Default 5, like loops: fetching the current user twice
    /// is common and cheap; five times is a missing memo.
    pub repeated_identical: u32,

    /// A child whose collapsed `IN`/`ANY`/`VALUES` list reached this many items is a batched
    /// load (Hibernate `@BatchSize`, Django `prefetch_related` chunks, multi-row INSERTs),
    /// not a loop. Default 10: batch sizes in the wild are 10–1000; two or three items per
    /// statement repeated many times is still a loop.
    pub batch_min_list: u32,

    /// In a burst (a session's statements with no trace, route or transaction to delimit
    /// them), report a read loop only when an earlier query of another shape drove it.
    /// Default true: a burst may be a worker handling one job per iteration, or a benchmark
    /// client, whose lookups are separate units of work the log cannot tell apart; with a
    /// parent the loop iterates over a result. Write loops need no parent (an import writing
    /// row by row is waste whatever drove it).
    pub burst_loops_need_parent: bool,

    /// Rows one SELECT without LIMIT may return; more is an `unbounded_result`.
    /// Default 1000: a page shows tens of rows and an API page a few hundred; a thousand rows
    /// with nothing bounding them is a whole table on its way to the application, and it
    /// grows with the table. 0 turns the check off. Needs rows per statement (the proxy, the
    /// MySQL slow log).
    pub unbounded_rows: u64,

    /// Rows a SELECT joining two or more to-many relations may return; more is a
    /// `cartesian_explosion`. Default 100: with two to-many joins each parent comes back
    /// (children of one) × (children of the other) times, so even ten parents with ten of
    /// each pass 100 rows where a separate query per relation returns 10 + 100 + 100.
    /// 0 turns the check off. Needs rows per statement (the proxy, the MySQL slow log).
    pub cartesian_rows: u64,

    /// The request's query budget, from [`Config::budgets`] (set by `thresholds_for`).
    #[serde(skip)]
    pub budget: Budget,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            n_plus_one: 5,
            slow_loop_count: 3,
            slow_loop_total_ms: None,
            min_loop_total_ms: 0,
            repeated_identical: 5,
            batch_min_list: 10,
            burst_loops_need_parent: true,
            unbounded_rows: 1000,
            cartesian_rows: 100,
            budget: Budget::default(),
        }
    }
}

/// Overrides for requests whose route matches `route`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRule {
    /// Glob (`/admin/*`) or `re:<regex>`.
    pub route: NamePattern,
    pub n_plus_one: Option<u32>,
    pub slow_loop_count: Option<u32>,
    pub slow_loop_total_ms: Option<u64>,
    pub min_loop_total_ms: Option<u64>,
    pub repeated_identical: Option<u32>,
    pub batch_min_list: Option<u32>,
}

impl RouteRule {
    fn apply(&self, base: Thresholds) -> Thresholds {
        Thresholds {
            n_plus_one: self.n_plus_one.unwrap_or(base.n_plus_one),
            slow_loop_count: self.slow_loop_count.unwrap_or(base.slow_loop_count),
            slow_loop_total_ms: self.slow_loop_total_ms.or(base.slow_loop_total_ms),
            min_loop_total_ms: self.min_loop_total_ms.unwrap_or(base.min_loop_total_ms),
            repeated_identical: self.repeated_identical.unwrap_or(base.repeated_identical),
            batch_min_list: self.batch_min_list.unwrap_or(base.batch_min_list),
            burst_loops_need_parent: base.burst_loops_need_parent,
            unbounded_rows: base.unbounded_rows,
            cartesian_rows: base.cartesian_rows,
            budget: base.budget,
        }
    }
}

/// Severity: a base level per kind, raised one level for big or slow patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeverityRules {
    /// Base level of loops (`n_plus_one`, `n_plus_one_write`, `count_in_loop`,
    /// `mn_plus_one`). Default warning: a loop is a defect, but small ones rarely hurt yet.
    pub loops: Severity,
    /// Base level of `repeated_identical`. Default info: a repeated identical read is often
    /// served from the server's cache and is cheap to fix but rarely urgent.
    pub repeated: Severity,
    /// Repeated statements in one request that raise a finding one level. Default 20: a
    /// 20-iteration loop already adds tens of milliseconds over a network, and grows with
    /// the data.
    pub escalate_count: u32,
    /// Total child time in one request that raises a finding one level, when set (100 ms is
    /// the point where users notice a delay). Unset by default: time varies from run to run
    /// (a loaded CI machine, a cold cache), so the same statements would be a warning in one
    /// run and an error in the next; the time is still shown as evidence.
    pub escalate_total_ms: Option<u64>,
}

impl Default for SeverityRules {
    fn default() -> Self {
        SeverityRules {
            loops: Severity::Warning,
            repeated: Severity::Info,
            escalate_count: 20,
            escalate_total_ms: None,
        }
    }
}

impl SeverityRules {
    /// The severity of one occurrence of a pattern: from its kind and how many statements
    /// it repeated, and from its time only when `escalate_total_ms` is set.
    pub fn severity(&self, kind: FindingKind, count: u32, total_us: Option<u64>) -> Severity {
        let base = match crate::kinds::info(kind).severity {
            BaseSeverity::Loop => self.loops,
            BaseSeverity::Repeated => self.repeated,
            BaseSeverity::Fixed(severity) => return severity,
        };
        let slow = self
            .escalate_total_ms
            .zip(total_us)
            .is_some_and(|(ms, us)| us >= ms.saturating_mul(1000));
        if count >= self.escalate_count || slow {
            raise(base)
        } else {
            base
        }
    }
}

fn raise(severity: Severity) -> Severity {
    match severity {
        Severity::Info => Severity::Warning,
        Severity::Warning | Severity::Error => Severity::Error,
    }
}

/// Values set under `[detect.limits]`, each for a [`Limit`] some detector declares; a limit
/// not set here keeps its declared default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindLimits(BTreeMap<String, u64>);

impl KindLimits {
    /// The value of `limit`: as set, else its default.
    pub fn get(&self, limit: &Limit) -> u64 {
        self.0.get(limit.key).copied().unwrap_or(limit.default)
    }

    /// Sets `key`, which must be a limit some detector declares.
    pub fn set(&mut self, key: &str, value: u64) -> Result<(), String> {
        if !detectors::limits().any(|l| l.key == key) {
            let known: Vec<&str> = detectors::limits().map(|l| l.key).collect();
            return Err(format!(
                "unknown limit `{key}` (known: {})",
                known.join(", ")
            ));
        }
        self.0.insert(key.to_owned(), value);
        Ok(())
    }
}

impl<'de> Deserialize<'de> for KindLimits {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let set = BTreeMap::<String, u64>::deserialize(deserializer)?;
        let mut limits = KindLimits::default();
        for (key, value) in set {
            limits.set(&key, value).map_err(serde::de::Error::custom)?;
        }
        Ok(limits)
    }
}

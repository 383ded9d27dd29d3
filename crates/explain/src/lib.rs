//! Proving a finding's fix before it ships.
//!
//! - [`check_findings`]: the plan check. For each loop finding whose child is a SELECT,
//!   `EXPLAIN (FORMAT JSON)` of one child execution with a captured key and of the batched
//!   rewrite with all captured keys as one array, in a read-only, time-limited transaction
//!   that is always rolled back (`postgres.rs`); compared into a [`Verdict`]
//!   (`safe`, `plan_changes`, `needs_index`, `skipped`).
//! - `batch.rs` builds the two statements and their values; `plan.rs` reads EXPLAIN's JSON.

mod advice;
mod batch;
mod impact;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "mysql")]
pub use crate::mysql::ReadOnlySession;
/// The MySQL client the plan check and the log-table source use.
#[cfg(feature = "mysql")]
pub use ::mysql as mysql_client;
mod plan;
mod postgres;
mod verdict;

use querycomb_core::{BaseSeverity, Finding, PlanCheck, Verdict};
use querycomb_detect::detectors as kinds;

pub use crate::advice::{advise, framework};
pub use crate::impact::{apply_route_rates, impact, per_route, RouteImpact};
pub use crate::postgres::{redact, PgExplainer};

/// Pool size the impact arithmetic assumes when none is given: the default of many pools
/// (HikariCP, node-postgres, SQLAlchemy's 5 + 5 overflow).
pub const DEFAULT_POOL_SIZE: u32 = 10;

/// Everything that proves the fixes: the plan check when there is a DSN, then for every
/// loop finding the fix for its stack and its impact. Captured keys are dropped unless
/// `keep_keys`.
pub fn prove(
    findings: &mut [Finding],
    dsn: Option<&str>,
    options: &Options,
    pool_size: u32,
    keep_keys: bool,
) -> Result<Option<Tally>, String> {
    let tally = match dsn {
        Some(dsn) => Some(check_findings(dsn, findings, options, keep_keys)?),
        None => None,
    };
    for finding in findings.iter_mut() {
        // A loop's (or a repeated statement's) fix is one batch, which advice and impact
        // describe; the other kinds (budgets, result sizes, over-fetch) bring their own fix.
        let batched_fix = matches!(
            querycomb_detect::kinds::info(finding.kind).severity,
            BaseSeverity::Loop | BaseSeverity::Repeated
        );
        if !batched_fix {
            continue;
        }
        finding.fix.advice = advise(finding);
        finding.fix.impact = impact(finding, pool_size);
    }
    Ok(tally)
}

/// How plans are checked.
#[derive(Debug, Clone)]
pub struct Options {
    /// Also run `EXPLAIN (ANALYZE, BUFFERS)`: executes the child and the batch (read-only).
    pub analyze: bool,
    /// `SET LOCAL statement_timeout` for each finding's transaction. Default 5 s: planning
    /// takes milliseconds; only `--analyze` of a slow batch comes near it.
    pub statement_timeout_ms: u64,
    /// `SET LOCAL lock_timeout`. Default 1 s: a read waits for a lock only behind DDL, and
    /// the check must never queue behind (or in front of) a migration.
    pub lock_timeout_ms: u64,
    /// Tables of at most this many 8 kB pages may be read by a sequential scan without a
    /// `plan_changes` verdict. Default 128 (1 MB): each index probe reads 3–4 pages (the
    /// B-tree's levels and the heap page), so a few dozen keys cost as many page reads as
    /// scanning the whole table, and PostgreSQL rightly switches.
    pub small_table_pages: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            analyze: false,
            statement_timeout_ms: 5_000,
            lock_timeout_ms: 1_000,
            small_table_pages: 128,
        }
    }
}

/// A connection to the server a DSN names.
enum Explainer {
    Postgres(Box<PgExplainer>),
    #[cfg(feature = "mysql")]
    MySql(crate::mysql::MyExplainer),
}

impl Explainer {
    fn connect(dsn: &str, options: &Options) -> Result<Explainer, String> {
        let mysql = dsn.starts_with("mysql://") || dsn.starts_with("mariadb://");
        if !mysql {
            return PgExplainer::connect(dsn, options.clone())
                .map(|pg| Explainer::Postgres(Box::new(pg)));
        }
        #[cfg(feature = "mysql")]
        return crate::mysql::MyExplainer::connect(dsn, options.clone()).map(Explainer::MySql);
        #[cfg(not(feature = "mysql"))]
        Err("this querycomb was built without MySQL/MariaDB plan checks (cargo feature `mysql`): give a postgres:// DSN".into())
    }

    fn check(&mut self, finding: &Finding) -> PlanCheck {
        match self {
            Explainer::Postgres(pg) => pg.check(finding),
            #[cfg(feature = "mysql")]
            Explainer::MySql(my) => my.check(finding),
        }
    }
}

/// Counts of what a run of plan checks decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub checked: u32,
    pub safe: u32,
    pub plan_changes: u32,
    pub needs_index: u32,
    pub skipped: u32,
}

/// Sets `plan_check` on every finding a plan check applies to (loops: `n_plus_one`,
/// `count_in_loop`, `mn_plus_one`, `n_plus_one_write`, the last always `skipped`).
/// Captured keys are dropped afterwards unless `keep_keys`. Errs only when the database
/// cannot be reached; a finding that cannot be explained gets a `skipped` verdict.
pub fn check_findings(
    dsn: &str,
    findings: &mut [Finding],
    options: &Options,
    keep_keys: bool,
) -> Result<Tally, String> {
    let mut explainer = Explainer::connect(dsn, options)?;
    let mut tally = Tally::default();
    for finding in findings.iter_mut() {
        let check = match finding.kind {
            kinds::n_plus_one::KIND | kinds::count_in_loop::KIND | kinds::mn_plus_one::KIND => {
                explainer.check(finding)
            }
            kinds::n_plus_one_write::KIND => PlanCheck::skipped(
                "the child writes: never explained; the batched write is in the suggestion",
            ),
            _ => {
                if !keep_keys {
                    finding.fix.captured_keys.clear();
                }
                continue;
            }
        };
        tally.checked += 1;
        match check.verdict {
            Verdict::Safe => tally.safe += 1,
            Verdict::PlanChanges => tally.plan_changes += 1,
            Verdict::NeedsIndex => tally.needs_index += 1,
            Verdict::Skipped => tally.skipped += 1,
        }
        finding.fix.plan_check = Some(check);
        if !keep_keys {
            finding.fix.captured_keys.clear();
        }
    }
    Ok(tally)
}

#[cfg(test)]
pub(crate) mod tests {
    use querycomb_core::{
        Finding, FixEvidence, Location, Proof, QueryRef, RequestKind, RequestRef, Severity,
    };

    pub fn finding(child: &str) -> Finding {
        let query = |sql: &str| QueryRef {
            fingerprint: "0".repeat(16),
            normalized: sql.to_owned(),
            table: None,
            location: Location::default(),
            example_params: Vec::new(),
            source_location: None,
            stack_tags: Default::default(),
        };
        Finding {
            kind: super::kinds::n_plus_one::KIND,
            severity: Severity::Warning,
            signature: "1".repeat(16),
            request: RequestRef {
                kind: RequestKind::Burst,
                id: "r".into(),
                route: None,
                trace_id: None,
                session: "1".into(),
                start: None,
                end: None,
                statements: 11,
                location: Location::default(),
            },
            parent: None,
            children: vec![query(child)],
            count: 10,
            distinct_params: 10,
            total_duration_us: None,
            occurrences: 1,
            total_count: 10,
            seen_in: Default::default(),
            suggestion: None,
            message: String::new(),
            proof: Proof::Suspected,
            waterfall: Vec::new(),
            concurrency: None,
            fix: FixEvidence::default(),
        }
    }
}

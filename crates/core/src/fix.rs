//! What querycomb adds to a finding to prove its fix: the plan check against the user's
//! database, the fix named for the stack, and the impact in statements, time and pool
//! capacity. All optional: a finding without a DSN or durations simply carries less.

use serde::{Deserialize, Serialize};

/// The values of one execution of a statement, in normalised `$n` order (`None` is SQL
/// NULL): what detection captures and the plan check binds.
pub type Keys = Vec<Option<String>>;

/// The evidence behind a finding's fix. Flattened into the finding's JSON object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FixEvidence {
    /// The parameter values of the child's executions in the first request, one array per
    /// execution in normalised `$n` order (`null` for SQL NULL). Raw values: kept only for an
    /// inline plan check, and written only when the user asked (`--keep-keys`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub captured_keys: Vec<Keys>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_check: Option<PlanCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advice: Option<Advice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact: Option<Impact>,
}

impl FixEvidence {
    pub fn is_empty(&self) -> bool {
        self == &FixEvidence::default()
    }
}

/// The verdict of comparing the loop's plan with the batched statement's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The batched statement reads the table the way the loop did (or better).
    Safe,
    /// The batched statement reads the table by a sequential scan where the loop used an
    /// index: chunk the key list below the count where it flips.
    PlanChanges,
    /// No index leads with the lookup column: both the loop and the batch scan the table.
    NeedsIndex,
    /// Not checked; `reason` says why.
    Skipped,
}

impl Verdict {
    pub fn id(self) -> &'static str {
        match self {
            Verdict::Safe => "safe",
            Verdict::PlanChanges => "plan_changes",
            Verdict::NeedsIndex => "needs_index",
            Verdict::Skipped => "skipped",
        }
    }
}

/// Where the values the plans were made with came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    /// The values the source captured (proxy bind values, log `DETAIL: parameters:`).
    Captured,
    /// None captured: generic plans, which do not depend on values.
    Generic,
}

/// How a plan reads the looked-up table, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Index Scan, Index Only Scan (MySQL: ref, eq_ref, const, range).
    Index,
    /// Bitmap Index + Bitmap Heap Scan: the same index, many keys at once.
    Bitmap,
    /// Sequential scan of the whole table (MySQL: ALL).
    Seq,
    /// The table is not read by a scan node of its own (e.g. a function scan).
    Other,
}

/// One plan, reduced to what the verdict needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanSummary {
    /// The scan node of the looked-up table as EXPLAIN names it:
    /// `Index Scan using books_author_id_idx on books`.
    pub node: String,
    pub access: Access,
    /// The planner's total cost estimate of the whole statement.
    pub cost: f64,
    /// The planner's row estimate of the whole statement.
    pub rows: f64,
    /// With `--analyze`: measured execution time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_us: Option<u64>,
    /// With `--analyze`: actual rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_rows: Option<u64>,
    /// With `--analyze` (PostgreSQL): shared buffers hit + read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffers: Option<u64>,
}

/// The plan check of one finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanCheck {
    pub verdict: Verdict,
    /// One sentence: why this verdict (or why skipped).
    pub reason: String,
    /// `PostgreSQL 15.8`, `MariaDB 10.11.6`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_source: Option<KeySource>,
    /// Keys bound in the batched statement.
    #[serde(default)]
    pub keys: u32,
    /// The statement that was explained for the batch (normalised, `$n` placeholders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batched_sql: Option<String>,
    /// One child execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child: Option<PlanSummary>,
    /// The batched statement with all keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batched: Option<PlanSummary>,
    /// The loop's estimated cost: count × child cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loop_cost: Option<f64>,
    /// The table the key is looked up in, its estimated rows and size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup_column: Option<String>,
    /// What the catalogs say the lookup column is: `primary key`, `unique key`,
    /// `foreign key to public.authors (id)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_rows: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_bytes: Option<u64>,
    /// `plan_changes`: the smallest key count whose batch flipped to the worse access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flipped_at: Option<u32>,
    /// `plan_changes`: keys per chunk that kept the loop's access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_size: Option<u32>,
    /// `needs_index`: the statement that adds the missing index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_index: Option<String>,
}

impl PlanCheck {
    pub fn skipped(reason: impl Into<String>) -> PlanCheck {
        PlanCheck {
            verdict: Verdict::Skipped,
            reason: reason.into(),
            server: None,
            key_source: None,
            keys: 0,
            batched_sql: None,
            child: None,
            batched: None,
            loop_cost: None,
            table: None,
            lookup_column: None,
            lookup_key: None,
            table_rows: None,
            table_bytes: None,
            flipped_at: None,
            chunk_size: None,
            create_index: None,
        }
    }
}

/// How the child relates to the parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// The child is looked up by its primary key (or a unique key): at most one row each.
    ToOne,
    /// The child is looked up by a foreign key to the parent: many rows each.
    ToMany,
    /// The child is read through a join table.
    ManyToMany,
    /// One aggregate (`COUNT(*)`, `EXISTS`) per parent row.
    Aggregate,
    /// One INSERT/UPDATE/DELETE per row.
    Write,
    /// Not enough evidence to say.
    Unknown,
}

/// The fix, in the words of the stack that issued the SQL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advice {
    pub relation: Relation,
    /// What the relation was read from (`child looked up by "books"."author_id"`,
    /// `foreign key books.author_id → authors.id`).
    pub relation_evidence: String,
    /// The framework named, only when there was evidence of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework_evidence: Option<String>,
    /// The fix in that framework's terms (or in SQL terms without a framework).
    pub fix: String,
    /// Traps of this fix (cartesian explosion, long IN lists, denormalisation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// What fixing the finding saves, per request and over the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Impact {
    /// Statements saved per request (count − 1 batched statement).
    pub statements_saved: u64,
    /// Statements saved over all occurrences.
    pub statements_saved_total: u64,
    /// Database round trips saved per request (one per statement saved).
    pub round_trips_saved: u64,
    /// Time of the repeated statements minus one average statement, per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_time_saved_us: Option<u64>,
    /// The pool the arithmetic assumes (`--pool-size`).
    pub pool_size: u32,
    /// How long the first request held its connection (first statement's start to the end
    /// of its last).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_us: Option<u64>,
    /// The hold time once the loop is one statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_after_us: Option<u64>,
    /// Requests/s a pool of `pool_size` connections sustains at `hold_us`, and after the fix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_rps_now: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_rps_after: Option<f64>,
    /// Requests/s of this route observed in the input, when the requests were timed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_rps: Option<f64>,
    /// The hold time at which `pool_size` connections saturate at `observed_rps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saturating_hold_us: Option<u64>,
}

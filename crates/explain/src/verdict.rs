//! The verdict of a plan check, from the two plans and the catalog facts; one decision for
//! every server (PostgreSQL, MySQL, MariaDB), so they agree on what `safe`, `needs_index`
//! and `plan_changes` mean.

use querycomb_core::{Access, KeySource, PlanCheck, PlanSummary, Verdict};

/// What the catalogs say about the looked-up table.
pub struct TableFacts {
    /// `public.books`, `shop.books`.
    pub table: String,
    pub rows: u64,
    pub bytes: u64,
    /// Small enough that a sequential scan of it costs about as much as a few index probes
    /// (see `Options::small_table_pages`).
    pub small: bool,
    /// An index whose first column is the lookup column.
    pub leading_index: Option<String>,
    /// `primary key`, `unique key`, `foreign key to public.authors (id)`.
    pub key: Option<String>,
    /// The statement that creates the missing index.
    pub create_index: String,
}

/// Everything a verdict is decided from.
pub struct Explained<'a> {
    pub child: PlanSummary,
    pub batched: PlanSummary,
    pub facts: Option<TableFacts>,
    pub source: KeySource,
    /// Distinct keys bound in the batch.
    pub keys: u32,
    pub batched_sql: String,
    /// Executions of the child in the loop.
    pub count: u32,
    pub key_column: &'a str,
    /// The looked-up table as the statement names it.
    pub table: Option<&'a str>,
}

/// Decides the verdict. `flip_point` finds the smallest key count whose batch scans the
/// table; it is asked only for a `plan_changes` verdict with more than one key.
pub fn decide(
    e: Explained<'_>,
    flip_point: impl FnOnce() -> Result<Option<u32>, String>,
) -> Result<PlanCheck, String> {
    let (child, batched) = (&e.child, &e.batched);
    let mut check = PlanCheck::skipped(String::new());
    check.key_source = Some(e.source);
    check.keys = e.keys;
    check.batched_sql = Some(e.batched_sql.clone());
    let loop_cost = child.cost * f64::from(e.count.max(1));
    check.loop_cost = Some(loop_cost);
    check.lookup_column = Some(e.key_column.to_owned());
    if let Some(facts) = &e.facts {
        check.table = Some(facts.table.clone());
        check.table_rows = Some(facts.rows);
        check.table_bytes = Some(facts.bytes);
        check.lookup_key = facts.key.clone();
    }
    let table = e.table.unwrap_or("the table");
    let scans = child.access == Access::Seq || batched.access == Access::Seq;
    let generic = if e.source == KeySource::Generic {
        "no keys were captured, so these are generic plans: "
    } else {
        ""
    };
    match &e.facts {
        Some(facts) if facts.leading_index.is_none() && scans => {
            check.verdict = Verdict::NeedsIndex;
            check.create_index = Some(facts.create_index.clone());
            check.reason = format!(
                "{generic}no index on {} starts with {}: the loop reads it by {} and the batch by {} ({} rows)",
                facts.table, e.key_column, child.node, batched.node, facts.rows
            );
        }
        _ if child.access < Access::Seq
            && batched.access == Access::Seq
            && e.facts.as_ref().is_none_or(|f| !f.small) =>
        {
            check.verdict = Verdict::PlanChanges;
            let flipped = if e.keys > 1 { flip_point()? } else { None };
            check.flipped_at = flipped;
            check.chunk_size = flipped.map(|f| f.saturating_sub(1).max(1));
            let at = match flipped {
                Some(f) => format!(
                    " from {f} keys on; chunk the keys into lists of at most {}",
                    f.saturating_sub(1).max(1)
                ),
                None => String::new(),
            };
            let cheaper = if batched.cost > 0.0 && batched.cost < loop_cost {
                format!(
                    " (the planner still estimates the batch cheaper than the loop: {:.1} vs {loop_cost:.1}, but a scan grows with the table, not with the keys)",
                    batched.cost
                )
            } else {
                String::new()
            };
            check.reason = format!(
                "{generic}the loop reads {table} by {}, the batch of {} keys by {}{at}{cheaper}",
                child.node, e.keys, batched.node
            );
        }
        _ => {
            check.verdict = Verdict::Safe;
            // MariaDB before 11 gives no cost in its JSON plan: compare rows read instead.
            let estimate = if batched.cost > 0.0 || child.cost > 0.0 {
                format!(
                    "estimated cost {:.1} for the batch vs {loop_cost:.1}",
                    batched.cost
                )
            } else {
                format!(
                    "estimated rows {} for the batch vs {}",
                    batched.rows,
                    child.rows * f64::from(e.count.max(1))
                )
            };
            check.reason = format!(
                "{generic}the batch reads {table} by {} (the loop: {}); {estimate} for {} × the child",
                batched.node, child.node, e.count
            );
        }
    }
    check.child = Some(e.child);
    check.batched = Some(e.batched);
    Ok(check)
}

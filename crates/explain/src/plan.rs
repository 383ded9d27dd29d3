//! PostgreSQL `EXPLAIN (FORMAT JSON)` output, reduced to what a verdict needs: how the
//! looked-up table is read, the statement's cost and rows, and with ANALYZE what it took.

use querycomb_core::{Access, PlanSummary};
use serde_json::Value;

/// A plan tree as EXPLAIN returned it.
pub struct Plan {
    root: Value,
    /// `Execution Time` (ANALYZE), milliseconds.
    execution_ms: Option<f64>,
}

impl Plan {
    /// Reads the one-element array EXPLAIN (FORMAT JSON) returns.
    pub fn parse(text: &str) -> Result<Plan, String> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("EXPLAIN output is not JSON: {e}"))?;
        let top = value
            .get(0)
            .ok_or_else(|| "EXPLAIN output is not a one-plan array".to_owned())?;
        let root = top
            .get("Plan")
            .cloned()
            .ok_or_else(|| "EXPLAIN output has no \"Plan\"".to_owned())?;
        Ok(Plan {
            root,
            execution_ms: top.get("Execution Time").and_then(Value::as_f64),
        })
    }

    /// The plan of `table` (matched by alias or relation name; any scan when `None`).
    pub fn summary(&self, table: Option<&str>) -> PlanSummary {
        let scan = scan_of(&self.root, table);
        let (node, access) = match scan {
            Some(node) => (describe(node), access(node)),
            None => (str_of(&self.root, "Node Type").to_owned(), Access::Other),
        };
        let number = |key: &str| self.root.get(key).and_then(Value::as_f64);
        let analyzed = self.execution_ms.is_some();
        PlanSummary {
            node,
            access,
            cost: number("Total Cost").unwrap_or(0.0),
            rows: number("Plan Rows").unwrap_or(0.0),
            actual_us: self.execution_ms.map(|ms| (ms * 1000.0).round() as u64),
            actual_rows: number("Actual Rows")
                .filter(|_| analyzed)
                .map(|r| r.round() as u64),
            buffers: analyzed.then(|| buffers(&self.root)),
        }
    }

    /// The relation name behind `table` (an alias such as `t1_0` or the name itself).
    pub fn relation(&self, table: Option<&str>) -> Option<String> {
        scan_of(&self.root, table)
            .and_then(|n| n.get("Relation Name"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    }
}

fn str_of<'v>(node: &'v Value, key: &str) -> &'v str {
    node.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn children(node: &Value) -> impl Iterator<Item = &Value> {
    node.get("Plans")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// The first node (depth first) that reads `table` from a relation.
fn scan_of<'v>(node: &'v Value, table: Option<&str>) -> Option<&'v Value> {
    let relation = str_of(node, "Relation Name");
    let alias = str_of(node, "Alias");
    let matches = !relation.is_empty()
        && table.is_none_or(|t| t.eq_ignore_ascii_case(alias) || t.eq_ignore_ascii_case(relation));
    if matches {
        return Some(node);
    }
    children(node).find_map(|c| scan_of(c, table))
}

fn access(node: &Value) -> Access {
    match str_of(node, "Node Type") {
        "Index Scan" | "Index Only Scan" => Access::Index,
        "Bitmap Heap Scan" => Access::Bitmap,
        "Seq Scan" => Access::Seq,
        _ => Access::Other,
    }
}

/// `Index Scan using books_author_id_idx on books`, `Bitmap Heap Scan on books (Bitmap
/// Index Scan using books_author_id_idx)`, `Seq Scan on books`.
fn describe(node: &Value) -> String {
    let kind = str_of(node, "Node Type");
    let relation = str_of(node, "Relation Name");
    let index = str_of(node, "Index Name");
    let mut text = if index.is_empty() {
        format!("{kind} on {relation}")
    } else {
        format!("{kind} using {index} on {relation}")
    };
    if kind == "Bitmap Heap Scan" {
        let inner: Vec<&str> = bitmap_indexes(node);
        if !inner.is_empty() {
            text.push_str(&format!(" (Bitmap Index Scan using {})", inner.join(", ")));
        }
    }
    text
}

fn bitmap_indexes(node: &Value) -> Vec<&str> {
    let mut out = Vec::new();
    for child in children(node) {
        let index = str_of(child, "Index Name");
        if !index.is_empty() {
            out.push(index);
        }
        out.extend(bitmap_indexes(child));
    }
    out
}

/// Shared buffers hit and read by the top node (which includes its children's).
fn buffers(node: &Value) -> u64 {
    ["Shared Hit Blocks", "Shared Read Blocks"]
        .iter()
        .filter_map(|k| node.get(*k).and_then(Value::as_u64))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BITMAP: &str = r#"[{"Plan": {"Node Type": "Bitmap Heap Scan", "Relation Name": "books",
        "Alias": "books", "Total Cost": 52.5, "Plan Rows": 300,
        "Plans": [{"Node Type": "Bitmap Index Scan", "Index Name": "books_author_id_idx",
                   "Total Cost": 4.5, "Plan Rows": 300}]}}]"#;

    #[test]
    fn bitmap_scans_name_their_index() {
        let plan = Plan::parse(BITMAP).unwrap();
        let s = plan.summary(Some("books"));
        assert_eq!(s.access, Access::Bitmap);
        assert_eq!(
            s.node,
            "Bitmap Heap Scan on books (Bitmap Index Scan using books_author_id_idx)"
        );
        assert_eq!((s.cost, s.rows, s.actual_us), (52.5, 300.0, None));
        assert_eq!(plan.relation(None).as_deref(), Some("books"));
    }

    #[test]
    fn not_a_plan_is_an_error() {
        assert!(Plan::parse("[]").is_err());
        assert!(Plan::parse("nope").is_err());
    }
}

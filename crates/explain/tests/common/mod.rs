//! What the plan-check tests against real servers share.

use querycomb_core::{
    Finding, FindingKind, FixEvidence, Keys, Location, Proof, QueryRef, RequestKind, RequestRef,
    Severity,
};

/// A loop finding after `SELECT * FROM authors` over `child`, with one captured key set
/// per execution, as detection would hand it to the plan check.
pub fn finding(kind: FindingKind, child: &str, keys: Vec<Keys>) -> Finding {
    let query = |sql: &str| QueryRef {
        fingerprint: "0".repeat(16),
        normalized: sql.to_owned(),
        table: None,
        location: Location::default(),
        example_params: Vec::new(),
        source_location: None,
        stack_tags: Default::default(),
    };
    let n = keys.len();
    Finding {
        kind,
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
            statements: n as u32 + 1,
            location: Location::default(),
        },
        parent: Some(query("SELECT * FROM authors")),
        children: vec![query(child)],
        count: n.max(1) as u32,
        distinct_params: n as u32,
        total_duration_us: None,
        occurrences: 1,
        total_count: n as u64,
        seen_in: Default::default(),
        suggestion: None,
        message: String::new(),
        proof: Proof::Suspected,
        waterfall: Vec::new(),
        concurrency: None,
        fix: FixEvidence {
            captured_keys: keys,
            ..FixEvidence::default()
        },
    }
}

/// One single-value key set per value.
pub fn keys_of(values: &[String]) -> Vec<Keys> {
    values.iter().map(|v| vec![Some(v.clone())]).collect()
}

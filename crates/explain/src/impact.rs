//! What fixing a finding buys: statements and round trips saved, database time saved, and
//! the pool arithmetic of the seeds: a request that holds its connection for `h` seconds
//! lets a pool of `P` connections serve at most `P / h` requests per second.

use querycomb_core::{Finding, Impact};
use querycomb_detect::detectors as kinds;

/// The impact of batching (or, for `repeated_identical`, of reusing) the loop.
pub fn impact(finding: &Finding, pool_size: u32) -> Option<Impact> {
    let shapes = finding.children.len().max(1) as u64;
    let per_request = match finding.kind {
        kinds::mn_plus_one::KIND => u64::from(finding.count) * shapes,
        kinds::over_budget::KIND => return None,
        _ => u64::from(finding.count),
    };
    // The loop becomes one statement per child shape.
    let statements_saved = per_request.saturating_sub(shapes);
    let statements_saved_total = finding
        .total_count
        .saturating_sub(u64::from(finding.occurrences) * shapes);
    let batch_us = finding
        .fix
        .plan_check
        .as_ref()
        .and_then(|c| c.batched.as_ref())
        .and_then(|b| b.actual_us);
    let db_time_saved_us = finding.total_duration_us.map(|total| {
        let one = total / per_request.max(1);
        // Measured batch time when `--explain-analyze` ran it, else one average child.
        total.saturating_sub(batch_us.unwrap_or(one) * shapes)
    });
    let hold_us = match (finding.request.start, finding.request.end) {
        (Some(start), Some(end)) if end > start => Some((end - start) as u64),
        _ => None,
    };
    let hold_after_us = match (hold_us, db_time_saved_us) {
        (Some(hold), Some(saved)) => Some(hold.saturating_sub(saved).max(1)),
        _ => None,
    };
    let rps = |hold: u64| f64::from(pool_size) * 1e6 / hold.max(1) as f64;
    Some(Impact {
        statements_saved,
        statements_saved_total,
        round_trips_saved: statements_saved,
        db_time_saved_us,
        pool_size,
        hold_us,
        hold_after_us,
        pool_rps_now: hold_us.map(rps),
        pool_rps_after: hold_after_us.map(rps),
        observed_rps: None,
        saturating_hold_us: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_arithmetic() {
        // 50 statements of 2 ms in a 100 ms request, pool of 25: 250 req/s; batched, the
        // 49 saved statements (98 ms) leave 2 ms held: 12,500 req/s.
        let mut f = crate::tests::finding("SELECT * FROM books WHERE author_id = $1");
        f.count = 50;
        f.total_count = 150;
        f.occurrences = 3;
        f.total_duration_us = Some(100_000);
        f.request.start = Some(1_000_000);
        f.request.end = Some(1_100_000);
        let i = impact(&f, 25).unwrap();
        assert_eq!((i.statements_saved, i.statements_saved_total), (49, 147));
        assert_eq!(i.db_time_saved_us, Some(98_000));
        assert_eq!((i.hold_us, i.hold_after_us), (Some(100_000), Some(2_000)));
        assert_eq!(i.pool_rps_now, Some(250.0));
        assert_eq!(i.pool_rps_after, Some(12_500.0));
    }
}

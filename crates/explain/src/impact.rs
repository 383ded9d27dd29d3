//! What fixing a finding buys: statements and round trips saved, database time saved, and
//! the pool arithmetic of the seeds: a request that takes `h` seconds of connection time
//! lets a pool of `P` connections serve at most `P / h` requests per second.
//!
//! The connection time of a request is its span (first statement's start to the end of its
//! last: one connection held throughout) or, when longer, the sum of its statements'
//! durations (a fan-out holds several connections at once). After the fix it is that time
//! minus what the fix saves, but never less than what the request still does: the
//! statements other than the loop's, and one batch per repeated shape (measured with
//! `--explain-analyze`, else one average child). An unmeasured batch of many keys costs
//! more than one child of one key, so without a measured batch the saving claimed is also
//! at most the statements removed at the request's average time per statement: the rate
//! after the fix is at most `statements / statements left` times today's. A number that
//! cannot be measured (no timestamps, no durations, a request that is nothing but instants)
//! is left out, never guessed: a pool never serves a request in no time.

use querycomb_core::{BarRole, Finding, Impact, RouteStat};
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
    let measured_batch_us = finding
        .fix
        .plan_check
        .as_ref()
        .and_then(|c| c.batched.as_ref())
        .and_then(|b| b.actual_us);
    // What the batches still cost: the measured batch when `--explain-analyze` ran it,
    // else one average child per shape.
    let batches_us = finding
        .total_duration_us
        .map(|total| measured_batch_us.unwrap_or(total / per_request.max(1)) * shapes);
    let db_time_saved_us = finding
        .total_duration_us
        .zip(batches_us)
        .map(|(total, batches)| total.saturating_sub(batches));
    let hold_us = connection_time(finding).filter(|&us| us > 0);
    let hold_after_us = match (hold_us, db_time_saved_us, batches_us) {
        (Some(hold), Some(saved), Some(batches)) => {
            let mut still_done = other_statements_us(finding) + batches;
            if measured_batch_us.is_none() {
                // An unmeasured batch of many keys is estimated by one child of one key:
                // claim no more than the statements removed, at the request's average.
                still_done = still_done.max(proportional_share(finding, hold, statements_saved));
            }
            Some(hold.saturating_sub(saved).max(still_done)).filter(|&us| us > 0)
        }
        _ => None,
    };
    let rps = |hold: u64| f64::from(pool_size) * 1e6 / hold as f64;
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

/// The connection time of the first request: its span, or the sum of its statements'
/// durations when they overlapped for longer than that (a concurrent fan-out). `None`
/// without timestamps.
fn connection_time(finding: &Finding) -> Option<u64> {
    let span = match (finding.request.start, finding.request.end) {
        (Some(start), Some(end)) if end >= start => (end - start) as u64,
        _ => return None,
    };
    let busy: u64 = finding
        .waterfall
        .iter()
        .filter_map(|bar| bar.duration_us)
        .sum();
    Some(span.max(busy))
}

/// The part of `hold` that the request's statements left after the fix take at the
/// request's average per statement (`hold × remaining / statements`).
fn proportional_share(finding: &Finding, hold: u64, statements_saved: u64) -> u64 {
    let statements = u64::from(finding.request.statements);
    let remaining = statements.saturating_sub(statements_saved);
    match statements {
        0 => 0,
        n => (u128::from(hold) * u128::from(remaining)).div_ceil(u128::from(n)) as u64,
    }
}

/// The measured time of the first request's statements that are not the loop's (the
/// parent and the rest of the request, as far as its waterfall goes): what the request
/// still does after the fix. Untimed statements count for nothing, so this is a lower bound.
fn other_statements_us(finding: &Finding) -> u64 {
    finding
        .waterfall
        .iter()
        .filter(|bar| bar.role != BarRole::Child)
        .filter_map(|bar| bar.duration_us)
        .sum()
}

/// Sets each finding's `observed_rps` (its route's requests per second over the traffic
/// window the input covered) and `saturating_hold_us` (the hold time at which its pool is
/// busy all the time at that rate: `pool_size / rps`). Findings without an impact, or on a
/// route with fewer than two timed requests, are left as they are.
pub fn apply_route_rates(findings: &mut [Finding], routes: &[RouteStat]) {
    for finding in findings {
        let route = finding.request.route.as_deref().unwrap_or("");
        let rate = routes
            .iter()
            .find(|r| r.route == route)
            .and_then(RouteStat::requests_per_second);
        let (Some(impact), Some(rps)) = (finding.fix.impact.as_mut(), rate) else {
            continue;
        };
        impact.observed_rps = Some(rps);
        impact.saturating_hold_us = Some((f64::from(impact.pool_size) * 1e6 / rps).round() as u64);
    }
}

/// What fixing every finding of one route saves over the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteImpact {
    /// The route (`""` for requests without one).
    pub route: String,
    pub findings: u32,
    pub statements_saved: u64,
    /// Known only when every finding of the route had durations.
    pub db_time_saved_us: Option<u64>,
}

/// Sums each route's findings' impact over the run (per occurrence times occurrences),
/// biggest saving first.
pub fn per_route(findings: &[Finding]) -> Vec<RouteImpact> {
    let mut routes: Vec<RouteImpact> = Vec::new();
    for finding in findings {
        let Some(impact) = &finding.fix.impact else {
            continue;
        };
        let route = finding.request.route.clone().unwrap_or_default();
        let index = match routes.iter().position(|r| r.route == route) {
            Some(i) => i,
            None => {
                routes.push(RouteImpact {
                    route,
                    findings: 0,
                    statements_saved: 0,
                    db_time_saved_us: Some(0),
                });
                routes.len() - 1
            }
        };
        let Some(entry) = routes.get_mut(index) else {
            continue;
        };
        entry.findings += 1;
        entry.statements_saved += impact.statements_saved_total;
        let time = impact
            .db_time_saved_us
            .map(|us| us * u64::from(finding.occurrences.max(1)));
        entry.db_time_saved_us = entry.db_time_saved_us.zip(time).map(|(a, b)| a + b);
    }
    routes.sort_by_key(|r| std::cmp::Reverse(r.statements_saved));
    routes
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

    /// One bar of the first request's waterfall.
    fn bar(
        role: BarRole,
        offset_us: i64,
        duration_us: Option<u64>,
    ) -> querycomb_core::WaterfallBar {
        querycomb_core::WaterfallBar {
            offset_us,
            duration_us,
            fingerprint: "0".repeat(16),
            role,
        }
    }

    /// A parent of 1 ms, then 8 children of 2 ms each sent at once (a resolver per row):
    /// the span is 3 ms but the children alone took 16 ms of connections.
    fn fan_out() -> Finding {
        let mut f = crate::tests::finding("SELECT id, title FROM books WHERE author_id = $1");
        f.count = 8;
        f.total_count = 8;
        f.total_duration_us = Some(16_000);
        f.concurrency = Some(8);
        f.request.statements = 9;
        f.request.start = Some(1_000_000);
        f.request.end = Some(1_003_000);
        f.waterfall = std::iter::once(bar(BarRole::Parent, 0, Some(1_000)))
            .chain((0..8).map(|_| bar(BarRole::Child, 1_000, Some(2_000))))
            .collect();
        f
    }

    #[test]
    fn a_fan_out_takes_the_time_of_its_statements_not_of_its_span() {
        // Subtracting 14 ms saved from a 3 ms span once left 1 µs: 10,000,000 requests/s.
        let i = impact(&fan_out(), 10).unwrap();
        assert_eq!(i.db_time_saved_us, Some(14_000));
        assert_eq!(i.hold_us, Some(17_000), "1 ms parent + 8 × 2 ms children");
        // The parent and one child's 3 ms remain, but an unmeasured batch is claimed to
        // save no more than 7 of 9 statements at the request's average: 2/9 of 17 ms.
        assert_eq!(i.hold_after_us, Some(3_778));
        let (now, after) = (i.pool_rps_now.unwrap(), i.pool_rps_after.unwrap());
        assert!(after.is_finite() && after > now, "{now} → {after}");
        assert!(
            after / now <= 9.0 / 2.0,
            "9 statements become 2: {now} → {after}"
        );
    }

    #[test]
    fn a_measured_batch_is_the_floor_itself() {
        // `--explain-analyze` timed the batch at 1.5 ms: the request keeps its 1 ms parent
        // and that batch, with no estimate by statement counts on top.
        let mut f = fan_out();
        f.fix.plan_check = Some(querycomb_core::PlanCheck {
            batched: Some(querycomb_core::PlanSummary {
                node: "Index Scan using books_author_id_idx on books".into(),
                access: querycomb_core::Access::Index,
                cost: 10.0,
                rows: 8.0,
                actual_us: Some(1_500),
                actual_rows: Some(8),
                buffers: None,
            }),
            ..querycomb_core::PlanCheck::skipped("test")
        });
        let i = impact(&f, 10).unwrap();
        assert_eq!(i.db_time_saved_us, Some(14_500));
        assert_eq!((i.hold_us, i.hold_after_us), (Some(17_000), Some(2_500)));
    }

    #[test]
    fn the_request_still_runs_its_other_statements_after_the_fix() {
        // A sequential loop inside a request whose other statements take 40 ms: the 14 ms
        // the fix saves (16 ms of loop, 2 ms of batch) from a 60 ms span leave 46 ms.
        let mut f = fan_out();
        f.concurrency = None;
        f.request.end = Some(1_060_000);
        f.waterfall.push(bar(BarRole::Other, 20_000, Some(39_000)));
        let i = impact(&f, 10).unwrap();
        assert_eq!((i.hold_us, i.hold_after_us), (Some(60_000), Some(46_000)));
        // With a span too short for what was measured (clocks of two hosts), the
        // statements still left are the floor.
        f.request.end = Some(1_001_000);
        let i = impact(&f, 10).unwrap();
        assert_eq!(i.hold_us, Some(56_000), "the statements' own durations");
        assert_eq!(
            i.hold_after_us,
            Some(42_000),
            "parent 1 + other 39 + batch 2 ms"
        );
    }

    #[test]
    fn a_request_that_is_nothing_but_the_loop_keeps_one_batch() {
        let mut f = fan_out();
        f.waterfall.retain(|b| b.role == BarRole::Child);
        f.request.statements = 8;
        let i = impact(&f, 10).unwrap();
        assert_eq!((i.hold_us, i.hold_after_us), (Some(16_000), Some(2_000)));
        assert_eq!(i.pool_rps_after, Some(5_000.0));
    }

    #[test]
    fn zero_durations_save_no_time_and_no_capacity() {
        // A log that rounds durations to 0 ms: nothing measured is saved.
        let mut f = fan_out();
        f.total_duration_us = Some(0);
        for b in &mut f.waterfall {
            b.duration_us = Some(0);
        }
        let i = impact(&f, 10).unwrap();
        assert_eq!(i.db_time_saved_us, Some(0));
        assert_eq!((i.hold_us, i.hold_after_us), (Some(3_000), Some(3_000)));
        assert_eq!(i.pool_rps_now, i.pool_rps_after);
    }

    #[test]
    fn unknown_durations_or_times_leave_the_numbers_out() {
        // No durations: the rate now, none after.
        let mut f = fan_out();
        f.total_duration_us = None;
        for b in &mut f.waterfall {
            b.duration_us = None;
        }
        let i = impact(&f, 10).unwrap();
        assert_eq!((i.db_time_saved_us, i.hold_us), (None, Some(3_000)));
        assert_eq!((i.hold_after_us, i.pool_rps_after), (None, None));
        // A request of instants (start = end, no durations): no rate at all, not 1 µs.
        f.request.end = f.request.start;
        let i = impact(&f, 10).unwrap();
        assert_eq!(
            (i.hold_us, i.pool_rps_now, i.pool_rps_after),
            (None, None, None)
        );
        // No timestamps: nothing about the pool.
        let mut f = fan_out();
        f.request.start = None;
        let i = impact(&f, 10).unwrap();
        assert_eq!((i.hold_us, i.hold_after_us), (None, None));
        assert_eq!(i.statements_saved, 7, "counts need no clock");
    }

    #[test]
    fn the_observed_rate_gives_the_saturating_hold() {
        // 50 requests of /books over 10 s: 5 req/s; a pool of 10 is saturated when each
        // request holds its connection 2 s.
        let mut f = crate::tests::finding("SELECT * FROM books WHERE author_id = $1");
        f.request.route = Some("/books".into());
        f.fix.impact = impact(&f, 10);
        let mut other = f.clone();
        other.request.route = Some("/once".into());
        let route = |name: &str, requests, window| RouteStat {
            route: name.into(),
            requests,
            min: 1,
            max: 1,
            p50: 1,
            p95: 1,
            mean: 1.0,
            histogram: vec![(1, requests)],
            window,
        };
        let routes = [
            route(
                "/books",
                50,
                Some(querycomb_core::RouteWindow {
                    start: 0,
                    end: 10_000_000,
                }),
            ),
            route(
                "/once",
                1,
                Some(querycomb_core::RouteWindow {
                    start: 0,
                    end: 5_000,
                }),
            ),
        ];
        let mut findings = [f, other];
        apply_route_rates(&mut findings, &routes);
        let i = findings[0].fix.impact.as_ref().unwrap();
        assert_eq!(
            (i.observed_rps, i.saturating_hold_us),
            (Some(5.0), Some(2_000_000))
        );
        let once = findings[1].fix.impact.as_ref().unwrap();
        assert_eq!(once.observed_rps, None, "one request is no rate");
    }

    #[test]
    fn routes_sum_their_findings() {
        let mut a = crate::tests::finding("SELECT * FROM books WHERE author_id = $1");
        a.request.route = Some("/books".into());
        a.occurrences = 2;
        a.total_count = 20;
        a.total_duration_us = Some(1_000);
        let mut b = a.clone();
        b.total_duration_us = None;
        let mut c = a.clone();
        c.request.route = None;
        let mut findings = vec![a, b, c];
        for f in &mut findings {
            f.fix.impact = impact(f, 10);
        }
        let routes = per_route(&findings);
        assert_eq!(routes.len(), 2);
        assert_eq!(routes[0].route, "/books");
        assert_eq!((routes[0].findings, routes[0].statements_saved), (2, 36));
        assert_eq!(
            routes[0].db_time_saved_us, None,
            "one finding had no durations"
        );
        assert_eq!(routes[1].db_time_saved_us, Some(1_800));
    }
}

//! What fixing a finding buys: statements and round trips saved, database time saved, and
//! the pool arithmetic of the seeds: a request that holds its connection for `h` seconds
//! lets a pool of `P` connections serve at most `P / h` requests per second.

use querycomb_core::{Finding, Impact, RouteStat};
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

//! Statements-per-request distributions per route, the numbers budgets and baselines are
//! made of. A histogram per route (statements → requests) keeps memory bounded by the
//! largest request, whatever the number of requests.

use std::collections::BTreeMap;

use querycomb_core::{RouteStat, RouteWindow, Timestamp};

use crate::hash::FastMap;

/// Route under which requests beyond `max_routes` distinct routes are counted.
pub const OTHER_ROUTES: &str = "<other>";

#[derive(Debug, Default)]
pub struct RouteStats {
    routes: FastMap<String, BTreeMap<u32, u64>>,
    /// The traffic window of each route whose requests were timed.
    windows: FastMap<String, RouteWindow>,
    max_routes: usize,
}

impl RouteStats {
    pub fn new(max_routes: usize) -> RouteStats {
        RouteStats {
            routes: FastMap::default(),
            windows: FastMap::default(),
            max_routes,
        }
    }

    /// One finished request on `route` (`None`: untagged, counted under `""`).
    pub fn record(&mut self, route: Option<&str>, statements: u32) {
        self.record_timed(route, statements, None);
    }

    /// One finished request that ran from `span.0` to `span.1`, when it was timed: the
    /// route's window (first start to last end) gives its observed request rate.
    pub fn record_timed(
        &mut self,
        route: Option<&str>,
        statements: u32,
        span: Option<(Timestamp, Timestamp)>,
    ) {
        let route = route.unwrap_or("");
        let name = if self.routes.contains_key(route) || self.routes.len() < self.max_routes {
            route
        } else {
            OTHER_ROUTES
        };
        let histogram = match self.routes.get_mut(name) {
            Some(h) => h,
            None => self.routes.entry(name.to_owned()).or_default(),
        };
        *histogram.entry(statements).or_default() += 1;
        if let Some((start, end)) = span {
            let window = self
                .windows
                .entry(name.to_owned())
                .or_insert(RouteWindow { start, end });
            window.start = window.start.min(start);
            window.end = window.end.max(end);
        }
    }

    /// One entry per route, sorted by route.
    pub fn to_stats(&self) -> Vec<RouteStat> {
        let mut stats: Vec<RouteStat> = self
            .routes
            .iter()
            .map(|(route, histogram)| RouteStat {
                window: self.windows.get(route).copied(),
                ..route_stat(route, histogram)
            })
            .collect();
        stats.sort_by(|a, b| a.route.cmp(&b.route));
        stats
    }
}

/// The statistics of one route from its histogram of statements per request (also what
/// `querycomb merge` recomputes from merged histograms).
pub fn route_stat(route: &str, histogram: &BTreeMap<u32, u64>) -> RouteStat {
    let requests: u64 = histogram.values().sum();
    let total: f64 = histogram
        .iter()
        .map(|(&n, &count)| f64::from(n) * count as f64)
        .sum();
    RouteStat {
        route: route.to_owned(),
        requests,
        min: histogram.keys().next().copied().unwrap_or(0),
        max: histogram.keys().next_back().copied().unwrap_or(0),
        p50: percentile(histogram, requests, 50),
        p95: percentile(histogram, requests, 95),
        mean: if requests == 0 {
            0.0
        } else {
            total / requests as f64
        },
        histogram: histogram.iter().map(|(&n, &c)| (n, c)).collect(),
        window: None,
    }
}

/// Nearest-rank percentile: the smallest value with at least `pct`% of requests at or below.
fn percentile(histogram: &BTreeMap<u32, u64>, requests: u64, pct: u64) -> u32 {
    let rank = (requests * pct).div_ceil(100).max(1);
    let mut seen = 0;
    for (&n, &count) in histogram {
        seen += count;
        if seen >= rank {
            return n;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distribution_of_one_route() {
        let mut stats = RouteStats::new(10);
        for n in 1..=20 {
            stats.record(Some("/orders"), n);
        }
        stats.record(None, 3);
        let all = stats.to_stats();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].route, "");
        let orders = &all[1];
        assert_eq!(orders.requests, 20);
        assert_eq!((orders.min, orders.max), (1, 20));
        assert_eq!(orders.p50, 10);
        assert_eq!(orders.p95, 19);
        assert!((orders.mean - 10.5).abs() < 1e-9);
        assert_eq!(orders.histogram.len(), 20);
    }

    #[test]
    fn routes_beyond_the_cap_are_grouped() {
        let mut stats = RouteStats::new(2);
        stats.record(Some("/a"), 1);
        stats.record(Some("/b"), 1);
        stats.record(Some("/c"), 1);
        stats.record(Some("/d"), 2);
        let names: Vec<String> = stats.to_stats().into_iter().map(|s| s.route).collect();
        assert_eq!(names, ["/a", "/b", OTHER_ROUTES]);
    }
}

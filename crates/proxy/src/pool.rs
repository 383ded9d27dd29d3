//! Pool saturation: how many server connections the observed requests keep busy.
//!
//! By Little's law, the connections a workload holds on average are the sum of its
//! requests' hold times divided by the time observed. When that demand approaches the
//! application's pool size, requests start to queue for connections; the warning names the
//! routes that hold connections longest and how many statements they run per request, the
//! usual culprits being N+1 loops.

use std::collections::HashMap;

use querycomb_core::Timestamp;

/// Demand at or above this share of the pool is worth a warning.
const WARN_SHARE: f64 = 0.8;
/// Demand is measured over windows of this length (µs).
const WINDOW_US: Timestamp = 10_000_000;
/// One warning at most per this interval (µs).
const WARN_EVERY_US: Timestamp = 60_000_000;
/// Routes named in a warning.
const TOP_ROUTES: usize = 3;
/// Distinct routes kept per window; the rest are summed under "other".
const MAX_ROUTES: usize = 1_000;

#[derive(Debug, Default, Clone, Copy)]
struct RouteLoad {
    requests: u64,
    hold_us: u64,
    statements: u64,
}

/// Requests' connection hold times over the current window.
#[derive(Debug)]
pub struct PoolWatch {
    pool_size: u32,
    window_start: Option<Timestamp>,
    routes: HashMap<String, RouteLoad>,
    last_warning: Option<Timestamp>,
    /// Average connections held in the last complete window.
    pub demand: f64,
}

impl PoolWatch {
    pub fn new(pool_size: u32) -> Self {
        PoolWatch {
            pool_size: pool_size.max(1),
            window_start: None,
            routes: HashMap::new(),
            last_warning: None,
            demand: 0.0,
        }
    }

    /// A request that held its connection `hold_us` and ran `statements` statements.
    pub fn request(&mut self, route: Option<&str>, hold_us: u64, statements: u32, now: Timestamp) {
        self.window_start.get_or_insert(now);
        let mut key = route.unwrap_or("(untagged)");
        if !self.routes.contains_key(key) && self.routes.len() >= MAX_ROUTES {
            key = "other";
        }
        let load = self.routes.entry(key.to_owned()).or_default();
        load.requests += 1;
        load.hold_us += hold_us;
        load.statements += u64::from(statements);
    }

    /// Closes the window when it is over; returns the pressure when the demand of the
    /// window neared the pool size (at most once per minute).
    pub fn tick(&mut self, now: Timestamp) -> Option<PoolPressure> {
        let start = self.window_start?;
        let elapsed = now.saturating_sub(start);
        if elapsed < WINDOW_US {
            return None;
        }
        let total_hold: u64 = self.routes.values().map(|l| l.hold_us).sum();
        self.demand = total_hold as f64 / elapsed as f64;
        let routes = std::mem::take(&mut self.routes);
        self.window_start = Some(now);
        let pool = f64::from(self.pool_size);
        let quiet = self
            .last_warning
            .is_some_and(|at| now.saturating_sub(at) < WARN_EVERY_US);
        if self.demand < WARN_SHARE * pool || quiet {
            return None;
        }
        self.last_warning = Some(now);
        let mut ranked: Vec<(String, RouteLoad)> = routes.into_iter().collect();
        ranked.sort_by(|a, b| b.1.hold_us.cmp(&a.1.hold_us).then(a.0.cmp(&b.0)));
        let routes = ranked
            .into_iter()
            .take(TOP_ROUTES)
            .map(|(route, load)| {
                let requests = load.requests.max(1) as f64;
                RouteHold {
                    route,
                    hold_ms_per_request: load.hold_us as f64 / requests / 1000.0,
                    statements_per_request: load.statements as f64 / requests,
                    share_of_hold: load.hold_us as f64 / total_hold.max(1) as f64,
                }
            })
            .collect();
        Some(PoolPressure {
            demand: self.demand,
            window_s: elapsed / 1_000_000,
            pool_size: self.pool_size,
            routes,
        })
    }
}

/// A window whose demand neared the pool: data for the log line's fields, and its text.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolPressure {
    /// Server connections kept busy on average over the window.
    pub demand: f64,
    pub window_s: i64,
    pub pool_size: u32,
    /// The routes that held connections longest, longest first.
    pub routes: Vec<RouteHold>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RouteHold {
    /// The route tag, `(untagged)` or `other`.
    pub route: String,
    pub hold_ms_per_request: f64,
    pub statements_per_request: f64,
    /// Share of the window's hold time, 0 to 1.
    pub share_of_hold: f64,
}

impl PoolPressure {
    /// The structured fields of the `pool_pressure` log line (JSON logs keep them apart).
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let routes: Vec<String> = self.routes.iter().map(|r| r.route.clone()).collect();
        vec![
            ("demand_connections", format!("{:.1}", self.demand)),
            ("pool_size", self.pool_size.to_string()),
            ("window_s", self.window_s.to_string()),
            ("routes", routes.join(",")),
        ]
    }
}

impl std::fmt::Display for PoolPressure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pool pressure: requests kept {:.1} server connections busy on average over the last {} s, {:.0}% of a pool of {}",
            self.demand,
            self.window_s,
            100.0 * self.demand / f64::from(self.pool_size.max(1)),
            self.pool_size,
        )?;
        for r in &self.routes {
            write!(
                f,
                "; {} holds a connection {:.1} ms per request and runs {:.1} statements per request ({:.0}% of the hold time)",
                r.route,
                r.hold_ms_per_request,
                r.statements_per_request,
                100.0 * r.share_of_hold
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_when_hold_time_times_rate_nears_the_pool() {
        let mut watch = PoolWatch::new(10);
        // 10 s of traffic: /orders holds 80 ms per request at 100 requests/s (8 busy
        // connections), /health 1 ms at 10/s.
        for i in 0..1000i64 {
            watch.request(Some("/orders"), 80_000, 26, i * 10_000);
        }
        for i in 0..100i64 {
            watch.request(Some("/health"), 1_000, 1, i * 100_000);
        }
        let pressure = watch.tick(WINDOW_US).expect("8 of 10 connections busy");
        assert!((watch.demand - 8.01).abs() < 0.01, "{}", watch.demand);
        assert_eq!(pressure.pool_size, 10);
        assert_eq!(pressure.routes[0].route, "/orders");
        assert_eq!(pressure.routes[0].statements_per_request, 26.0);
        let warning = pressure.to_string();
        assert!(
            warning.starts_with("pool pressure: requests kept 8.0 server connections busy on average over the last 10 s, 80% of a pool of 10; /orders holds a connection 80.0 ms per request and runs 26.0 statements per request"),
            "{warning}"
        );
        // The same load again within a minute: no second warning.
        for i in 0..1000i64 {
            watch.request(Some("/orders"), 80_000, 26, WINDOW_US + i * 10_000);
        }
        assert_eq!(watch.tick(2 * WINDOW_US), None);
    }

    #[test]
    fn light_load_is_quiet() {
        let mut watch = PoolWatch::new(10);
        for i in 0..100i64 {
            watch.request(None, 5_000, 3, i * 100_000);
        }
        assert_eq!(watch.tick(WINDOW_US), None);
        assert!(watch.demand < 0.1);
    }
}

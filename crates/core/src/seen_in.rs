//! The routes a finding was seen in, bounded and independent of the order requests came in.
//!
//! A finding keeps its first request's evidence, but a reader (and the grouping of findings
//! into causes) also needs *where else* the pattern ran: under `querycomb run` a route is a
//! test phase, and a fixture loop shared by a hundred tests is one finding seen in a hundred
//! routes. Which request comes first depends on scheduling (pytest-xdist workers, a pool's
//! connections), so the set is kept in a form that does not: the [`SeenIn::MAX_ROUTES`]
//! routes smallest by name, each with its request count, and one count of the requests in
//! every other route. Merging two sets gives the same result in any order.

use serde::{Deserialize, Serialize};

/// One route and how many of the finding's requests ran under it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteCount {
    pub route: String,
    pub requests: u32,
}

/// The routes of a finding's requests: the first [`SeenIn::MAX_ROUTES`] by name, with their
/// request counts, and the requests of the routes past that bound. Requests without a
/// route are in neither (the finding's `occurrences` counts them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenIn {
    /// Sorted by route, distinct, at most [`SeenIn::MAX_ROUTES`].
    pub routes: Vec<RouteCount>,
    /// Requests under routes not listed (past the bound).
    #[serde(default)]
    pub other_requests: u32,
}

impl SeenIn {
    /// Routes listed per finding: enough for one parametrised test over a dozen models in
    /// its phases, small enough that a finding met by every test of a large suite stays a
    /// few kilobytes.
    pub const MAX_ROUTES: usize = 32;

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty() && self.other_requests == 0
    }

    /// The set of one request's route.
    pub fn of(route: Option<&str>) -> SeenIn {
        let mut seen = SeenIn::default();
        if let Some(route) = route {
            seen.add(route, 1);
        }
        seen
    }

    /// Some routes were not listed: the list is a part of the routes.
    pub fn is_partial(&self) -> bool {
        self.other_requests > 0
    }

    /// Counts `requests` more requests under `route`.
    pub fn add(&mut self, route: &str, requests: u32) {
        match self
            .routes
            .binary_search_by(|r| r.route.as_str().cmp(route))
        {
            Ok(at) => {
                if let Some(known) = self.routes.get_mut(at) {
                    known.requests = known.requests.saturating_add(requests);
                }
            }
            Err(at) if at < Self::MAX_ROUTES => {
                self.routes.insert(
                    at,
                    RouteCount {
                        route: route.to_owned(),
                        requests,
                    },
                );
                if self.routes.len() > Self::MAX_ROUTES {
                    if let Some(last) = self.routes.pop() {
                        self.other_requests = self.other_requests.saturating_add(last.requests);
                    }
                }
            }
            Err(_) => self.other_requests = self.other_requests.saturating_add(requests),
        }
    }

    /// Adds another set of the same finding (another part of a run, another report).
    pub fn merge(&mut self, other: &SeenIn) {
        for r in &other.routes {
            self.add(&r.route, r.requests);
        }
        self.other_requests = self.other_requests.saturating_add(other.other_requests);
    }

    /// The routes listed, in order.
    pub fn route_names(&self) -> impl Iterator<Item = &str> {
        self.routes.iter().map(|r| r.route.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(seen: &SeenIn) -> Vec<&str> {
        seen.route_names().collect()
    }

    #[test]
    fn keeps_the_smallest_routes_whatever_the_order() {
        let routes: Vec<String> = (0..50).map(|i| format!("t.py::test[{i:02}]")).collect();
        let mut forward = SeenIn::default();
        for r in &routes {
            forward.add(r, 1);
            forward.add(r, 1);
        }
        let mut backward = SeenIn::default();
        for r in routes.iter().rev() {
            backward.add(r, 2);
        }
        assert_eq!(forward, backward);
        assert_eq!(forward.routes.len(), SeenIn::MAX_ROUTES);
        assert_eq!(names(&forward)[0], "t.py::test[00]");
        assert_eq!(names(&forward)[31], "t.py::test[31]");
        assert!(forward.routes.iter().all(|r| r.requests == 2));
        assert_eq!(forward.other_requests, 2 * 18);
        assert!(forward.is_partial());
    }

    #[test]
    fn merging_parts_in_any_order_gives_the_same_set() {
        let mut parts: Vec<SeenIn> = (0..4).map(|_| SeenIn::default()).collect();
        for i in 0..60 {
            parts[i % 4].add(&format!("r{:02}", (i * 7) % 40), 1);
        }
        let mut ab = SeenIn::default();
        for p in &parts {
            ab.merge(p);
        }
        let mut ba = SeenIn::default();
        for p in parts.iter().rev() {
            ba.merge(p);
        }
        assert_eq!(ab, ba);
        let total: u32 = ab.routes.iter().map(|r| r.requests).sum::<u32>() + ab.other_requests;
        assert_eq!(total, 60);
        assert_eq!(SeenIn::of(None), SeenIn::default());
        assert_eq!(names(&SeenIn::of(Some("GET /a"))), ["GET /a"]);
    }
}

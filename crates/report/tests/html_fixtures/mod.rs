//! Realistic findings and run totals for the HTML report tests: the shapes an ORM-backed web
//! app produces (Rails/Django-style SQL, routes, durations), plus the awkward cases real logs
//! give (no durations, no waterfall, no route) and one hostile finding whose SQL, table and
//! route carry markup.

use querycomb_core::{
    BarRole, Finding, FindingKind, FingerprintStat, Location, Proof, QueryRef, RequestKind,
    RequestRef, RouteStat, RunSummary, Severity, WaterfallBar,
};
use querycomb_detect::detectors::{
    count_in_loop, mn_plus_one, n_plus_one, n_plus_one_write, over_budget, repeated_identical,
};

/// The N+1 the browser test expands: 12 orders queries, one per customer.
pub const NPLUS1_SIGNATURE: &str = "9f1c2a7b3d4e5f60";
pub const NPLUS1_N: u32 = 12;
/// The finding whose SQL tries to script the page.
pub const XSS_SIGNATURE: &str = "0bad0bad0bad0bad";
pub const XSS_SQL: &str =
    "SELECT * FROM \"</script><script>window.__pwned=true;alert(1)</script>\" \
     WHERE note = $1 /* <!-- \u{2028} --> <img src=x onerror=\"window.__pwned=true\"> */";
pub const XSS_ROUTE: &str = "GET /search?q=<img src=x onerror=\"window.__pwned=true\">";
/// The M×N+1 finding: two child shapes interleaved, so the fix sketch shows two batches.
pub const MN_SIGNATURE: &str = "3c3c3c3c3c3c3c3c";
/// How many `count_in_loop` findings [`findings`] returns.
pub const COUNT_IN_LOOP_FINDINGS: usize = 8;

const ROUTES: [&str; 6] = [
    "GET /customers",
    "GET /orders/:id",
    "POST /checkout",
    "GET /dashboard",
    "GET /posts",
    "GET /api/v1/products",
];
const TABLES: [&str; 8] = [
    "orders",
    "order_items",
    "products",
    "comments",
    "authors",
    "tags",
    "addresses",
    "invoices",
];

/// A tiny deterministic generator so fixtures vary without being random between runs.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below.max(1)
    }
}

fn fp(seed: u64) -> String {
    format!("{:016x}", seed.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

fn query(fingerprint: String, sql: String, table: &str, line: u64) -> QueryRef {
    QueryRef {
        fingerprint,
        normalized: sql,
        table: Some(table.to_string()),
        location: Location {
            line,
            ..Location::default()
        },
        example_params: Vec::new(),
        source_location: None,
        stack_tags: Default::default(),
    }
}

fn request(kind: RequestKind, route: Option<&str>, statements: u32, line: u64) -> RequestRef {
    let start = 1_763_750_000_000_000 + line as i64 * 1_000;
    RequestRef {
        kind,
        id: route.map_or_else(|| format!("12345@{start}"), str::to_string),
        route: route.map(str::to_string),
        trace_id: (kind == RequestKind::Trace).then(|| "4bf92f3577b34da6a3ce929d0e0e4736".into()),
        session: "12345".to_string(),
        start: Some(start),
        end: Some(start + 40_000),
        statements,
        location: Location {
            line,
            ..Location::default()
        },
    }
}

/// Bars of a request: a few unrelated statements, the parent, the children, a tail.
fn waterfall(parent: &str, child: &str, n: u32, timed: bool, rng: &mut Lcg) -> Vec<WaterfallBar> {
    let mut bars = Vec::new();
    let mut at = 0i64;
    let mut push = |fingerprint: &str, role: BarRole, dur: u64, rng: &mut Lcg| {
        bars.push(WaterfallBar {
            offset_us: at,
            duration_us: timed.then_some(dur),
            fingerprint: fingerprint.to_string(),
            role,
        });
        at += dur as i64 + 40 + rng.next(60) as i64;
    };
    push(&fp(900), BarRole::Other, 120, rng);
    push(&fp(901), BarRole::Other, 310, rng);
    push(parent, BarRole::Parent, 850, rng);
    for _ in 0..n {
        let dur = 160 + rng.next(140);
        push(child, BarRole::Child, dur, rng);
    }
    push(&fp(902), BarRole::Other, 420, rng);
    bars
}

#[allow(clippy::too_many_arguments)]
fn loop_finding(
    kind: FindingKind,
    signature: String,
    route: Option<&str>,
    table: &str,
    parent_sql: Option<String>,
    child_sql: String,
    n: u32,
    timed: bool,
    rng: &mut Lcg,
) -> Finding {
    let line = 1_000 + rng.next(200_000);
    let parent = parent_sql.map(|sql| {
        let table = sql
            .split_once(" FROM ")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .unwrap_or("customers")
            .to_string();
        query(fp(line), sql, &table, line)
    });
    let child = query(fp(line + 1), child_sql, table, line + 1);
    let bars = match &parent {
        Some(p) => waterfall(&p.fingerprint, &child.fingerprint, n, timed, rng),
        None => waterfall(&fp(903), &child.fingerprint, n, timed, rng),
    };
    let child_time: u64 = bars
        .iter()
        .filter(|b| b.role == BarRole::Child)
        .filter_map(|b| b.duration_us)
        .sum();
    let occurrences = 1 + rng.next(40) as u32;
    let request_kind = if route.is_some() {
        RequestKind::Route
    } else {
        RequestKind::Burst
    };
    Finding {
        kind,
        severity: match n {
            30.. => Severity::Error,
            10..=29 => Severity::Warning,
            _ => Severity::Info,
        },
        signature,
        request: request(request_kind, route, bars.len() as u32, line),
        message: format!("{n} queries on {table} in one request, one per row of the parent"),
        suggestion: Some(format!(
            "SELECT {table}.* FROM {table} WHERE {table}.customer_id = ANY($1)  -- one query for all parent rows"
        )),
        parent,
        children: vec![child],
        count: n,
        distinct_params: n,
        total_duration_us: timed.then_some(child_time),
        occurrences,
        total_count: u64::from(n) * u64::from(occurrences),
        seen_in: Default::default(),
        proof: Proof::Suspected,
        waterfall: bars,
        concurrency: None,
        fix: Default::default(),
    }
}

/// Findings of a busy app: the named ones the tests look for, then ~230 ordinary N+1s.
pub fn findings() -> Vec<Finding> {
    let mut rng = Lcg(7);
    let mut first = loop_finding(
            n_plus_one::KIND,
            NPLUS1_SIGNATURE.into(),
            Some("GET /customers"),
            "orders",
            Some("SELECT customers.* FROM customers WHERE customers.active = $1 ORDER BY customers.id LIMIT $2".into()),
            "SELECT orders.* FROM orders WHERE orders.customer_id = $1".into(),
            NPLUS1_N,
            true,
            &mut rng,
        );
    // The costliest error, so it leads the default order and the tests find it on page 1.
    first.severity = Severity::Error;
    first.occurrences = 4_810;
    first.total_count = u64::from(NPLUS1_N) * 4_810;
    let mut out = vec![
        first,
        hostile(&mut rng),
        mn_plus_one(&mut rng),
        repeated_without_waterfall(),
        over_budget(),
    ];
    let mut write = loop_finding(
        n_plus_one_write::KIND,
        fp(77),
        Some("POST /checkout"),
        "order_items",
        Some("INSERT INTO orders (customer_id, total) VALUES ($1, $2) RETURNING id".into()),
        "INSERT INTO order_items (order_id, product_id, quantity) VALUES ($1, $2, $3)".into(),
        40,
        true,
        &mut rng,
    );
    write.suggestion = Some("INSERT INTO order_items (order_id, product_id, quantity) VALUES ($1, $2, $3), ($4, $5, $6), …  -- one multi-row INSERT".into());
    write.proof = Proof::Proven { matched: 40 };
    out.push(write);
    for i in 0..COUNT_IN_LOOP_FINDINGS as u64 {
        // Logs with log_statement=all and no durations: ticks instead of bars.
        out.push(loop_finding(
            count_in_loop::KIND,
            fp(100 + i),
            Some(ROUTES[(i % 6) as usize]),
            "comments",
            Some("SELECT posts.* FROM posts ORDER BY posts.created_at DESC LIMIT $1".into()),
            "SELECT COUNT(*) FROM comments WHERE comments.post_id = $1".into(),
            10 + rng.next(30) as u32,
            false,
            &mut rng,
        ));
    }
    for i in 0..230u64 {
        let table = TABLES[(i % 8) as usize];
        let route = (i % 7 != 0).then(|| ROUTES[(i % 6) as usize]);
        out.push(loop_finding(
            n_plus_one::KIND,
            fp(1_000 + i),
            route,
            table,
            Some(format!("SELECT customers.* FROM customers WHERE customers.region_id = $1 /* batch {i} */")),
            format!("SELECT {table}.* FROM {table} WHERE {table}.customer_id = $1 AND {table}.deleted_at IS NULL"),
            5 + rng.next(25) as u32,
            i % 3 != 0,
            &mut rng,
        ));
    }
    out
}

fn hostile(rng: &mut Lcg) -> Finding {
    let mut f = loop_finding(
        n_plus_one::KIND,
        XSS_SIGNATURE.into(),
        Some(XSS_ROUTE),
        "</script><img src=x onerror=alert(1)>",
        Some("SELECT * FROM notes WHERE author = '<b>bold</b>' -- & more".into()),
        XSS_SQL.into(),
        6,
        true,
        rng,
    );
    f.message = "6 queries on <script>alert(1)</script> per note".into();
    f.severity = Severity::Error;
    f.occurrences = 3_000;
    f.total_count = 6 * 3_000;
    f.suggestion = Some("</pre></td></tr></table><script>window.__pwned=true</script>".into());
    f
}

/// An M×N+1: per order, its items then its payments (A B A B …), 8 times.
fn mn_plus_one(rng: &mut Lcg) -> Finding {
    let mut f = loop_finding(
        mn_plus_one::KIND,
        MN_SIGNATURE.into(),
        Some("GET /orders/:id"),
        "order_items",
        Some("SELECT orders.* FROM orders WHERE orders.account_id = $1".into()),
        "SELECT order_items.* FROM order_items WHERE order_items.order_id = $1".into(),
        16,
        true,
        rng,
    );
    let payments = query(
        fp(88),
        "SELECT payments.* FROM payments WHERE payments.order_id = $1".into(),
        "payments",
        f.children[0].location.line + 1,
    );
    let children = f.waterfall.iter_mut().filter(|b| b.role == BarRole::Child);
    for bar in children.skip(1).step_by(2) {
        bar.fingerprint = payments.fingerprint.clone();
    }
    f.children.push(payments);
    f.count = 8;
    f.distinct_params = 8;
    f.severity = Severity::Error;
    f.occurrences = 900;
    f.message = "8 × (order_items, payments) per order".into();
    f
}

/// What a burst-grouped log without durations and without bars gives.
fn repeated_without_waterfall() -> Finding {
    Finding {
        kind: repeated_identical::KIND,
        severity: Severity::Error,
        signature: fp(55),
        request: RequestRef {
            start: None,
            end: None,
            ..request(RequestKind::Burst, None, 64, 8_812)
        },
        parent: None,
        children: vec![query(
            fp(56),
            "SELECT settings.* FROM settings WHERE settings.key = $1 LIMIT $2".into(),
            "settings",
            8_813,
        )],
        count: 30,
        distinct_params: 1,
        total_duration_us: None,
        occurrences: 212,
        total_count: 6_360,
        seen_in: Default::default(),
        suggestion: None,
        message: "the same settings lookup ran 30 times with the same parameters".into(),
        proof: Proof::Suspected,
        waterfall: Vec::new(),
        concurrency: None,
        fix: Default::default(),
    }
}

fn over_budget() -> Finding {
    Finding {
        kind: over_budget::KIND,
        severity: Severity::Error,
        signature: fp(66),
        request: request(RequestKind::Trace, Some("GET /dashboard"), 183, 40_100),
        parent: None,
        children: Vec::new(),
        count: 183,
        distinct_params: 0,
        total_duration_us: Some(48_200),
        occurrences: 3,
        total_count: 549,
        seen_in: Default::default(),
        suggestion: None,
        message: "GET /dashboard ran 183 statements, over its budget of 40".into(),
        proof: Proof::Suspected,
        waterfall: Vec::new(),
        concurrency: None,
        fix: Default::default(),
    }
}

/// Run totals to go with [`findings`].
pub fn summary(findings: &[Finding]) -> RunSummary {
    let mut rng = Lcg(11);
    let mut by_kind: Vec<(FindingKind, u64)> = querycomb_detect::kinds::all()
        .map(|info| {
            let k = info.kind;
            (k, findings.iter().filter(|f| f.kind == k).count() as u64)
        })
        .collect();
    by_kind.retain(|(_, n)| *n > 0);
    let mut fingerprints: Vec<FingerprintStat> = findings
        .iter()
        .flat_map(|f| f.parent.iter().chain(f.children.iter()))
        .take(120)
        .map(|q| {
            let calls = 10 + rng.next(20_000);
            FingerprintStat {
                fingerprint: q.fingerprint.clone(),
                normalized: q.normalized.clone(),
                table: q.table.clone(),
                calls,
                total_us: calls * (80 + rng.next(400)),
                timed_calls: calls,
                rows: calls * rng.next(20),
                requests: 1 + calls / (1 + rng.next(12)),
            }
        })
        .collect();
    fingerprints.sort_by_key(|s| std::cmp::Reverse(s.total_us));
    let mut routes: Vec<RouteStat> = ROUTES.iter().map(|r| route_stat(r, &mut rng)).collect();
    routes.push(route_stat("", &mut rng));
    RunSummary {
        inputs: vec!["postgresql-15-main.log".into()],
        bytes: 184_320_512,
        records: 402_118,
        statements: 398_770,
        requests: 21_940,
        malformed: 3,
        warnings: 0,
        damaged: Vec::new(),
        findings: findings.len() as u64,
        findings_by_kind: by_kind,
        wasted_us: findings
            .iter()
            .filter_map(|f| f.total_duration_us.map(|d| d * u64::from(f.occurrences)))
            .sum(),
        elapsed_ms: 1_870,
        fingerprints,
        routes,
        ..RunSummary::default()
    }
}

/// A route's statements-per-request distribution: mostly near its base, with a loop tail.
fn route_stat(route: &str, rng: &mut Lcg) -> RouteStat {
    let base = 3 + rng.next(25) as u32;
    let mut histogram = Vec::new();
    let mut requests = 0;
    let mut weighted = 0u64;
    for s in base.saturating_sub(2)..base + 3 + rng.next(60) as u32 {
        let near = u64::from(s.abs_diff(base));
        let n = (400 / (1 + near * near)).max(1) + rng.next(5);
        histogram.push((s, n));
        requests += n;
        weighted += u64::from(s) * n;
    }
    let quantile = |q: f64| {
        let mut seen = 0;
        for &(s, n) in &histogram {
            seen += n;
            if seen as f64 >= q * requests as f64 {
                return s;
            }
        }
        0
    };
    RouteStat {
        route: route.to_string(),
        requests,
        min: histogram.first().map_or(0, |h| h.0),
        max: histogram.last().map_or(0, |h| h.0),
        p50: quantile(0.5),
        p95: quantile(0.95),
        mean: weighted as f64 / requests.max(1) as f64,
        histogram,
        window: None,
    }
}

/// `n` low-severity N+1 findings with `children` children each, for the size caps.
#[allow(dead_code)] // used by one of the two test binaries that include this module
pub fn many_findings(n: u64, children: u32) -> Vec<Finding> {
    let mut rng = Lcg(23);
    (0..n)
        .map(|i| {
            let table = TABLES[(i % 8) as usize];
            let mut f = loop_finding(
                n_plus_one::KIND,
                fp(50_000 + i),
                Some(ROUTES[(i % 6) as usize]),
                table,
                Some(format!(
                    "SELECT customers.* FROM customers WHERE customers.segment = $1 /* job {i} */"
                )),
                format!("SELECT {table}.* FROM {table} WHERE {table}.owner_id = $1"),
                children,
                true,
                &mut rng,
            );
            f.severity = Severity::Info;
            f
        })
        .collect()
}

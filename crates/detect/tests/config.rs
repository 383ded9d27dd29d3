//! The configuration as users write it (TOML), its defaults, and the allow-lists.

mod common;

use common::*;
use querycomb_core::Severity;
use querycomb_detect::detectors::n_plus_one;
use querycomb_detect::{Config, DialectSetting};

fn parse(text: &str) -> Result<Config, String> {
    toml::from_str(text).map_err(|e| e.to_string())
}

#[test]
fn documented_defaults() {
    let c = Config::default();
    assert_eq!(c.thresholds.n_plus_one, 5);
    assert_eq!(c.thresholds.slow_loop_count, 3);
    assert_eq!(
        c.thresholds.slow_loop_total_ms, None,
        "time never lowers the count by default"
    );
    assert_eq!(c.thresholds.min_loop_total_ms, 0);
    assert_eq!(c.thresholds.repeated_identical, 5);
    assert_eq!(c.thresholds.batch_min_list, 10);
    assert!(c.thresholds.burst_loops_need_parent);
    assert_eq!(c.idle_gap_ms, 1000);
    assert_eq!(c.max_statements_per_unit, 10_000);
    assert_eq!(c.max_fingerprint_stats, 500);
    assert_eq!(c.max_waterfall_bars, 400);
    assert!(!c.show_params);
    assert_eq!(c.severity.loops, Severity::Warning);
    assert_eq!(c.severity.repeated, Severity::Info);
    assert_eq!(c.severity.escalate_count, 20);
    assert_eq!(
        c.severity.escalate_total_ms, None,
        "time never raises by default"
    );
    // An empty table is the default.
    let empty = parse("").expect("empty config");
    assert_eq!(empty.thresholds, c.thresholds);
    assert_eq!(empty.idle_gap_ms, 1000);
}

#[test]
fn reads_every_section() {
    let c = parse(
        r#"
dialect = "mysql"
idle_gap_ms = 250
max_statements_per_unit = 2000
show_params = true
allow_sql = ["pg_catalog", "(?i-u)^select 1$"]
allow_tables = ["audit_*"]
allow_routes = ["/health*", "re:^/internal/"]
[thresholds]
n_plus_one = 3
repeated_identical = 10
[severity]
loops = "error"
escalate_count = 50
[[routes]]
route = "/admin/*"
n_plus_one = 50
"#,
    )
    .expect("valid config");
    assert_eq!(c.dialect, Some(DialectSetting::Mysql));
    assert_eq!(c.idle_gap_ms, 250);
    assert_eq!(c.max_statements_per_unit, 2000);
    assert!(c.show_params);
    assert_eq!(c.allow_sql.len(), 2);
    assert!(c.allow_sql[1].is_match("SELECT 1"));
    assert_eq!(c.thresholds.n_plus_one, 3);
    assert_eq!(c.thresholds.repeated_identical, 10);
    assert_eq!(
        c.thresholds.batch_min_list, 10,
        "unset keys keep their default"
    );
    assert_eq!(c.severity.loops, Severity::Error);
    assert_eq!(c.severity.escalate_count, 50);
    assert_eq!(c.thresholds_for(Some("/admin/users")).n_plus_one, 50);
    assert_eq!(c.thresholds_for(Some("/orders")).n_plus_one, 3);
    assert_eq!(c.thresholds_for(None).n_plus_one, 3);
    assert!(c.route_allowed(Some("/healthz")));
    assert!(c.route_allowed(Some("/internal/jobs")));
    assert!(!c.route_allowed(Some("/orders")));
    assert!(!c.route_allowed(None));
}

#[test]
fn unknown_keys_are_errors() {
    let err = parse("idle_gap = 5").expect_err("unknown key");
    assert!(err.contains("idle_gap"), "{err}");
    let err = parse("[thresholds]\nn_plus_1 = 5").expect_err("unknown nested key");
    assert!(err.contains("n_plus_1"), "{err}");
    let err = parse("[[routes]]\nroute = \"/a\"\nmax_queries = 5").expect_err("unknown route key");
    assert!(err.contains("max_queries"), "{err}");
}

#[test]
fn bad_patterns_are_config_errors() {
    let err = parse("allow_sql = [\"(unclosed\"]").expect_err("bad regex");
    assert!(err.contains("bad regex"), "{err}");
    assert!(err.contains("line 1"), "{err}");
    let err = parse("allow_routes = [\"re:[\"]").expect_err("bad route regex");
    assert!(err.contains("bad pattern"), "{err}");
    let err = parse("idle_gap_ms = \"1s\"").expect_err("wrong type");
    assert!(err.contains("idle_gap_ms"), "{err}");
}

#[test]
fn route_overrides_change_thresholds() {
    let c = parse("[[routes]]\nroute = \"/admin/*\"\nn_plus_one = 50\n").expect("config");
    let mut admin = Log::new();
    admin.tagged_orders_loop("s1", 10, "/*route='/admin/report'*/");
    assert_eq!(kinds(&analyse_with(c.clone(), &admin.events)), []);
    let mut orders = Log::new();
    orders.tagged_orders_loop("s1", 10, "/*route='/orders'*/");
    assert_eq!(
        kinds(&analyse_with(c, &orders.events)),
        [(n_plus_one::KIND, 10)]
    );
}

#[test]
fn allow_sql_matches_normalized_or_raw_text() {
    let mut log = Log::new();
    log.orders_loop("s1", 6);
    let by_normalized = parse(r#"allow_sql = ["FROM customers WHERE id = \\$1"]"#).expect("config");
    assert_eq!(kinds(&analyse_with(by_normalized, &log.events)), []);
    let unrelated = parse(r#"allow_sql = ["FROM invoices"]"#).expect("config");
    assert_eq!(
        kinds(&analyse_with(unrelated, &log.events)),
        [(n_plus_one::KIND, 6)]
    );

    let mut literal = Log::new();
    literal.q("s1", "SELECT * FROM posts");
    for i in 0..6 {
        literal.q("s1", &format!("select * from Authors where id = {i}"));
    }
    let by_raw = parse(r#"allow_sql = ["from Authors"]"#).expect("config");
    assert_eq!(kinds(&analyse_with(by_raw, &literal.events)), []);
}

#[test]
fn allow_tables_and_routes() {
    let mut log = Log::new();
    log.orders_loop("s1", 6);
    let tables = config(|c| c.allow_tables = vec![pattern("CUSTOMER*")]);
    assert_eq!(kinds(&analyse_with(tables, &log.events)), []);

    let mut tagged = Log::new();
    tagged.tagged_orders_loop("s1", 6, "/*route='/health'*/");
    let routes = config(|c| c.allow_routes = vec![pattern("/health")]);
    let analysis = analyse_with(routes, &tagged.events);
    assert_eq!(kinds(&analysis), []);
    assert_eq!(analysis.summary.requests, 1, "still counted in statistics");
    assert_eq!(analysis.summary.routes[0].route, "/health");
}

#[test]
fn inline_marker_suppresses_the_loop() {
    let mut log = Log::new();
    log.p("s1", ORDERS, "$1 = 'open'");
    for i in 0..6 {
        log.p(
            "s1",
            &format!("{CUSTOMER} /* querycomb:allow */"),
            &format!("$1 = '{i}'"),
        );
    }
    assert_eq!(kinds(&analyse(&log.events)), []);
    // The marker on the parent does not hide its children's loop.
    let mut parent_marked = Log::new();
    parent_marked.p(
        "s1",
        &format!("{ORDERS} /* querycomb:allow */"),
        "$1 = 'open'",
    );
    for i in 0..6 {
        parent_marked.p("s1", CUSTOMER, &format!("$1 = '{i}'"));
    }
    assert_eq!(
        kinds(&analyse(&parent_marked.events)),
        [(n_plus_one::KIND, 6)]
    );
}

#[test]
fn severity_rules_are_configurable() {
    let mut log = Log::new();
    log.orders_loop("s1", 6);
    let strict = config(|c| c.severity.loops = Severity::Error);
    assert_eq!(
        only(&analyse_with(strict, &log.events)).severity,
        Severity::Error
    );
    let lenient = config(|c| c.severity.escalate_count = 1000);
    let mut big = Log::new();
    big.orders_loop("s1", 100);
    assert_eq!(
        only(&analyse_with(lenient, &big.events)).severity,
        Severity::Warning
    );
}

/// The same loop, its statements fast in one run and slow in another (a loaded CI machine):
/// the same severity, unless a time threshold is configured.
#[test]
fn severity_does_not_depend_on_timing_unless_a_time_threshold_is_set() {
    let timed = |us: u64| {
        let mut log = Log::new();
        log.orders_loop("s1", 6);
        for event in &mut log.events {
            event.duration_us = Some(us);
        }
        log.events
    };
    let (fast, slow) = (timed(50), timed(60_000));
    let severity =
        |config: querycomb_detect::Config, events| only(&analyse_with(config, events)).severity;
    assert_eq!(severity(Config::default(), &fast), Severity::Warning);
    assert_eq!(severity(Config::default(), &slow), Severity::Warning);
    let by_time = config(|c| c.severity.escalate_total_ms = Some(100));
    assert_eq!(severity(by_time.clone(), &fast), Severity::Warning);
    assert_eq!(severity(by_time, &slow), Severity::Error);
    // The time stays in the finding as evidence.
    let finding = analyse(&slow)
        .findings
        .into_iter()
        .next()
        .expect("a finding");
    assert_eq!(finding.total_duration_us, Some(6 * 60_000));
}

fn pattern(text: &str) -> querycomb_detect::NamePattern {
    querycomb_detect::NamePattern::new(text).expect("pattern")
}

#[test]
fn the_documented_example_is_the_default() {
    // The TOML block in `config.rs`'s module docs, minus the route entry.
    let source = include_str!("../src/config.rs");
    let toml_block: String = source
        .lines()
        .skip_while(|l| !l.starts_with("//! ```toml"))
        .skip(1)
        .take_while(|l| !l.starts_with("//! ```"))
        .map(|l| l.trim_start_matches("//!").trim_start_matches(' '))
        .take_while(|l| !l.starts_with("[[detect.routes]]"))
        .collect::<Vec<_>>()
        .join("\n");
    #[derive(serde::Deserialize)]
    struct File {
        detect: Config,
    }
    let parsed: File = toml::from_str(&toml_block).expect("documented example parses");
    let default = Config::default();
    assert_eq!(parsed.detect.thresholds, default.thresholds);
    assert_eq!(parsed.detect.severity, default.severity);
    assert_eq!(parsed.detect.idle_gap_ms, default.idle_gap_ms);
    assert_eq!(
        parsed.detect.max_statements_per_unit,
        default.max_statements_per_unit
    );
    assert_eq!(parsed.detect.max_routes, default.max_routes);
    assert_eq!(parsed.detect.max_waterfall_bars, default.max_waterfall_bars);
    assert_eq!(parsed.detect.show_params, default.show_params);
}

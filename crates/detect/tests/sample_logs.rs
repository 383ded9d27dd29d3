//! The sample logs in `examples/`, produced by real PostgreSQL 15 and MariaDB runs of
//! `examples/workload.sql` / `mariadb-workload.sql` (see `examples/generate*.sh`): every
//! wasteful pattern of the workload is found once, with its parent, and none of the clean
//! twins (JOIN, IN list, GROUP BY, multi-row INSERT, dashboard, cursor paging, pgbench's
//! independent lookups) is.

use querycomb_detect::detectors::{
    count_in_loop, mn_plus_one, n_plus_one, n_plus_one_write, repeated_identical,
};
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use querycomb_core::CollectedFindings as Analysis;
use querycomb_core::{FindingKind, RequestKind, SourceId};
use querycomb_detect::{Config, Pipeline};
use querycomb_logs::{read_log, LogFormat, ReadOptions};
use querycomb_sql::Dialect;

fn analyse_sample(name: &str, format: LogFormat, dialect: Dialect) -> Analysis {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut pipeline = Pipeline::new(Config::default(), dialect);
    let stats = read_log(
        format,
        &mut BufReader::new(file),
        SourceId(0),
        &ReadOptions::default(),
        &mut pipeline,
    )
    .expect("read sample log");
    assert!(stats.events > 50, "{name}: {} events", stats.events);
    pipeline.finish()
}

/// `(kind, count, child table, parent normalised text)` of every finding.
fn summary(analysis: &Analysis) -> Vec<(FindingKind, u32, String, Option<String>)> {
    analysis
        .findings
        .iter()
        .map(|f| {
            (
                f.kind,
                f.count,
                f.children[0].table.clone().unwrap_or_default(),
                f.parent.as_ref().map(|p| p.normalized.clone()),
            )
        })
        .collect()
}

fn some(text: &str) -> Option<String> {
    Some(text.to_owned())
}

fn expected_postgres() -> Vec<(FindingKind, u32, String, Option<String>)> {
    vec![
        (
            count_in_loop::KIND,
            10,
            "comments".into(),
            some("SELECT id, title FROM posts ORDER BY id LIMIT $1"),
        ),
        (
            mn_plus_one::KIND,
            8,
            "order_items".into(),
            some("SELECT id, customer_id FROM orders WHERE total > $1 ORDER BY id LIMIT $2"),
        ),
        (
            n_plus_one::KIND,
            25,
            "customers".into(),
            some("SELECT id, customer_id, total FROM orders ORDER BY id LIMIT $1"),
        ),
        (n_plus_one_write::KIND, 20, "order_items".into(), None),
        (repeated_identical::KIND, 12, "customers".into(), None),
    ]
}

fn sorted(
    mut v: Vec<(FindingKind, u32, String, Option<String>)>,
) -> Vec<(FindingKind, u32, String, Option<String>)> {
    v.sort();
    v
}

#[test]
fn postgres_stderr_csv_and_json_logs_agree() {
    for (name, format) in [
        ("postgresql-stderr.log", LogFormat::PgStderr),
        ("postgresql.csv", LogFormat::PgCsv),
        ("postgresql.json", LogFormat::PgJson),
    ] {
        let analysis = analyse_sample(name, format, Dialect::Postgres);
        assert_eq!(
            sorted(summary(&analysis)),
            sorted(expected_postgres()),
            "{name}"
        );
        let n1 = analysis
            .findings
            .iter()
            .find(|f| f.kind == n_plus_one::KIND)
            .expect("n+1");
        assert_eq!(n1.request.kind, RequestKind::Trace, "{name}");
        assert_eq!(n1.request.route.as_deref(), Some("/orders"), "{name}");
        assert_eq!(n1.distinct_params, 25, "{name}");
        assert!(
            n1.total_duration_us.is_some(),
            "{name}: durations are logged"
        );
        let mn = analysis
            .findings
            .iter()
            .find(|f| f.kind == mn_plus_one::KIND)
            .expect("mn+1");
        assert_eq!(mn.children.len(), 2, "{name}");
        assert_eq!(mn.request.kind, RequestKind::Transaction, "{name}");
    }
}

#[test]
fn mariadb_general_and_slow_logs_agree() {
    // The general log has no row counts: the order lookup before the items loop is the best
    // guess at its parent. The slow log says it returned one row, so it is not what the
    // six-step loop iterates, and no parent is shown.
    for (name, format, items_parent) in [
        (
            "mariadb-general.log",
            LogFormat::MySqlGeneral,
            some("SELECT id FROM orders WHERE customer_id = ?"),
        ),
        ("mariadb-slow.log", LogFormat::MySqlSlow, None),
    ] {
        let analysis = analyse_sample(name, format, Dialect::MySql);
        assert_eq!(
            sorted(summary(&analysis)),
            sorted(vec![
                (
                    count_in_loop::KIND,
                    6,
                    "comments".into(),
                    some("SELECT id, title FROM posts ORDER BY id LIMIT ?")
                ),
                (n_plus_one::KIND, 6, "order_items".into(), items_parent),
                (
                    n_plus_one::KIND,
                    8,
                    "customers".into(),
                    some("SELECT id, customer_id, total FROM orders ORDER BY id LIMIT ?")
                ),
                (n_plus_one_write::KIND, 6, "order_items".into(), None),
                (repeated_identical::KIND, 6, "customers".into(), None),
            ]),
            "{name}"
        );
    }
}

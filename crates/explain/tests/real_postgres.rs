//! Plan checks against a throwaway PostgreSQL with a real schema, 100,000 rows and indexes.

mod common;

use common::{finding, keys_of};
use querycomb_core::{Access, Finding, KeySource, Verdict};
use querycomb_detect::detectors as kinds;
use querycomb_explain::{check_findings, Options};
use querycomb_testkit::{PgOptions, PgServer};

const SCHEMA: &str = "
CREATE TABLE authors (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE categories (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE books (id int PRIMARY KEY, author_id int NOT NULL REFERENCES authors (id),
                    category_id int NOT NULL REFERENCES categories (id),
                    title text NOT NULL, body text NOT NULL);
INSERT INTO authors SELECT g, 'author ' || g FROM generate_series(1, 1000) g;
INSERT INTO categories SELECT g, 'category ' || g FROM generate_series(1, 50) g;
INSERT INTO books SELECT g, 1 + g % 1000, 1 + (g * 7919) % 50, 'title ' || g, repeat('x', 100)
  FROM generate_series(1, 100000) g;
CREATE INDEX books_author_id_idx ON books (author_id);
CREATE INDEX books_category_id_idx ON books (category_id);
CREATE TABLE audit_log (id int);
CREATE FUNCTION audited(v int) RETURNS int LANGUAGE sql
  AS 'INSERT INTO audit_log VALUES (v) RETURNING v';
CREATE ROLE reader LOGIN PASSWORD 'reader-secret';
GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader;
ANALYZE;
";

fn shop() -> PgServer {
    let pg = PgServer::start(PgOptions::default()).expect("PostgreSQL starts");
    pg.createdb("shop").unwrap();
    pg.psql("shop", SCHEMA).expect("schema");
    pg
}

fn ids(range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range.map(|i| i.to_string()).collect()
}

fn check(pg: &PgServer, findings: &mut [Finding], analyze: bool) {
    let options = Options {
        analyze,
        ..Options::default()
    };
    check_findings(&pg.url("shop"), findings, &options, false).expect("plan check runs");
}

/// Everything a plan check could change: rows, the schema, the sequence-free audit table.
fn state(pg: &PgServer) -> String {
    pg.psql(
        "shop",
        "SELECT (SELECT count(*) FROM books), (SELECT sum(author_id) FROM books),
                (SELECT count(*) FROM audit_log), (SELECT count(*) FROM pg_class),
                (SELECT count(*) FROM pg_prepared_xacts),
                (SELECT md5(string_agg(title, ',' ORDER BY id)) FROM books WHERE id <= 1000)",
    )
    .unwrap()
}

#[test]
fn verdicts_on_a_real_schema() {
    let pg = shop();
    let before = state(&pg);
    let twenty = ids(1..=20);
    let spread: Vec<String> = (1..=20).map(|i| (i * 4999).to_string()).collect();
    let categories = ids(1..=30);
    let titles: Vec<String> = (1..=20).map(|i| format!("title {i}")).collect();
    let mut findings = vec![
        finding(
            kinds::n_plus_one::KIND,
            r#"SELECT "authors"."id", "authors"."name" FROM "authors" WHERE "authors"."id" = $1 LIMIT $2"#,
            twenty
                .iter()
                .map(|v| vec![Some(v.clone()), Some("21".to_owned())])
                .collect(),
        ),
        finding(
            kinds::n_plus_one::KIND,
            "SELECT id, author_id FROM books WHERE title = $1",
            keys_of(&titles),
        ),
        finding(
            kinds::n_plus_one::KIND,
            "SELECT * FROM books WHERE category_id = $1",
            keys_of(&categories),
        ),
        finding(
            kinds::n_plus_one::KIND,
            "SELECT * FROM books WHERE author_id = $1",
            Vec::new(),
        ),
        finding(
            kinds::n_plus_one::KIND,
            "SELECT * FROM books WHERE id = $1",
            keys_of(&spread),
        ),
    ];
    check(&pg, &mut findings, false);
    let checks: Vec<_> = findings
        .iter()
        .map(|f| f.fix.plan_check.clone().expect("checked"))
        .collect();

    // 20 authors of 1,000 (15 pages): PostgreSQL scans the small table, rightly.
    let small = &checks[0];
    assert_eq!(small.verdict, Verdict::Safe, "{small:?}");
    assert_eq!(small.key_source, Some(KeySource::Captured));
    assert_eq!(small.keys, 20);
    assert_eq!(small.table.as_deref(), Some("public.authors"));
    assert!(small.server.as_deref().unwrap().starts_with("PostgreSQL "));
    let child = small.child.as_ref().unwrap();
    assert_eq!(child.node, "Index Scan using authors_pkey on authors");

    let safe = &checks[4];
    assert_eq!(safe.verdict, Verdict::Safe, "{safe:?}");
    assert_eq!(safe.child.as_ref().unwrap().access, Access::Index);
    assert!(
        safe.batched.as_ref().unwrap().access < Access::Seq,
        "{safe:?}"
    );
    assert!(safe.batched.as_ref().unwrap().cost < safe.loop_cost.unwrap());

    let index = &checks[1];
    assert_eq!(index.verdict, Verdict::NeedsIndex, "{index:?}");
    assert_eq!(
        index.create_index.as_deref(),
        Some("CREATE INDEX CONCURRENTLY books_title_idx ON public.books (title);")
    );
    assert_eq!(index.child.as_ref().unwrap().access, Access::Seq);
    assert_eq!(index.table_rows, Some(100_000));

    let flips = &checks[2];
    assert_eq!(flips.verdict, Verdict::PlanChanges, "{flips:?}");
    assert!(flips.child.as_ref().unwrap().access < Access::Seq);
    assert_eq!(flips.batched.as_ref().unwrap().access, Access::Seq);
    let at = flips.flipped_at.expect("the flip is found");
    assert!(at > 1 && at <= 30, "{at}");
    assert_eq!(flips.chunk_size, Some(at - 1));
    assert!(
        flips.reason.contains(&format!("from {at} keys on")),
        "{}",
        flips.reason
    );

    let generic = &checks[3];
    assert_eq!(generic.key_source, Some(KeySource::Generic), "{generic:?}");
    assert_ne!(generic.verdict, Verdict::Skipped, "{generic:?}");
    assert!(generic.reason.starts_with("no keys were captured"));

    assert!(findings.iter().all(|f| f.fix.captured_keys.is_empty()));
    assert_eq!(state(&pg), before, "explain changed nothing");
}

/// Checking the flip point by hand: the batch of `flipped_at - 1` keys keeps the index and
/// the batch of `flipped_at` keys does not, as PostgreSQL itself says.
#[test]
fn the_flip_point_is_where_postgres_flips() {
    let pg = shop();
    let keys = ids(1..=30);
    let mut findings = vec![finding(
        kinds::n_plus_one::KIND,
        "SELECT * FROM books WHERE category_id = $1",
        keys_of(&keys),
    )];
    check(&pg, &mut findings, false);
    let check = findings[0].fix.plan_check.as_ref().unwrap();
    let at = check.flipped_at.unwrap_or_else(|| panic!("{check:?}"));
    let plan = |n: u32| {
        let list = (1..=n).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
        pg.psql(
            "shop",
            &format!("EXPLAIN SELECT * FROM books WHERE category_id = ANY('{{{list}}}')"),
        )
        .unwrap()
    };
    assert!(plan(at).starts_with("Seq Scan on books"), "{}", plan(at));
    assert!(!plan(at - 1).contains("Seq Scan"), "{}", plan(at - 1));
}

#[test]
fn explain_changes_nothing() {
    let pg = shop();
    let before = state(&pg);
    let ten = ids(1..=10);
    let mut findings = vec![
        // A write child is never explained, not even planned.
        finding(
            kinds::n_plus_one_write::KIND,
            "UPDATE books SET title = $1 WHERE id = $2",
            vec![
                vec![Some("x".into()), Some("1".into())],
                vec![Some("y".into()), Some("2".into())],
            ],
        ),
        // A read that writes through a function: ANALYZE would run it; read-only stops it.
        finding(
            kinds::n_plus_one::KIND,
            "SELECT audited(id) FROM books WHERE id = $1",
            keys_of(&ten),
        ),
        // A read that takes row locks.
        finding(
            kinds::n_plus_one::KIND,
            "SELECT * FROM books WHERE id = $1 FOR UPDATE",
            keys_of(&ten),
        ),
    ];
    check(&pg, &mut findings, true);
    let checks: Vec<_> = findings
        .iter()
        .map(|f| f.fix.plan_check.clone().unwrap())
        .collect();
    assert_eq!(checks[0].verdict, Verdict::Skipped);
    assert!(checks[0].reason.contains("never explained"));
    for check in &checks[1..] {
        assert_eq!(check.verdict, Verdict::Skipped, "{check:?}");
        assert!(
            check.reason.contains("read-only transaction"),
            "{}",
            check.reason
        );
    }
    assert_eq!(state(&pg), before);
}

#[test]
fn a_read_only_user_is_enough_and_analyze_measures() {
    let pg = shop();
    let before = state(&pg);
    let keys = ids(1..=30);
    let mut findings = vec![finding(
        kinds::n_plus_one::KIND,
        "SELECT * FROM books WHERE author_id = $1",
        keys_of(&keys),
    )];
    let dsn = format!(
        "postgres://reader:reader-secret@127.0.0.1:{}/shop",
        pg.port()
    );
    let options = Options {
        analyze: true,
        ..Options::default()
    };
    let tally = check_findings(&dsn, &mut findings, &options, false).unwrap();
    assert_eq!((tally.checked, tally.safe), (1, 1), "{findings:?}");
    let check = findings[0].fix.plan_check.as_ref().unwrap();
    let batched = check.batched.as_ref().unwrap();
    assert_eq!(batched.actual_rows, Some(3_000));
    assert!(batched.actual_us.is_some() && batched.buffers.is_some());
    assert_eq!(state(&pg), before);
}

#[test]
fn an_unreachable_database_is_an_error_without_its_password() {
    let mut findings = vec![finding(kinds::n_plus_one::KIND, "SELECT 1", Vec::new())];
    let error = check_findings(
        "postgres://qc:hunter2@127.0.0.1:1/none",
        &mut findings,
        &Options::default(),
        false,
    )
    .unwrap_err();
    assert!(
        error.contains("cannot connect") && !error.contains("hunter2"),
        "{error}"
    );
}

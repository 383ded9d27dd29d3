//! `querycomb run` around a real third-party Node suite, unchanged: pg-cursor's own Mocha
//! tests, as its npm tarball ships them (node_modules/pg-cursor/test; pg-cursor, pg and
//! Mocha locked by tests/e2e/pg-cursor, installed into target/e2e/pg-cursor by
//! `scripts/setup-test-deps.sh pg-cursor`). The tests connect with `new pg.Client()`, which
//! reads the libpq variables `querycomb run` sets. The whole suite (37 tests) runs.

mod run_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use querycomb_core::test_route::Phase;
use querycomb_testkit::PgServer;
use run_support::*;

/// The test the fork adds a loop to, as querycomb names it.
const FORKED_TEST: &str = "test/index.js > cursor > fetch 6 when asking for 10";

fn package() -> PathBuf {
    querycomb_testkit::deps::node();
    let package = e2e_cache().join("pg-cursor/node_modules/pg-cursor");
    querycomb_testkit::deps::require(
        "pg-cursor's test suite (scripts/setup-test-deps.sh pg-cursor)",
        package.join("test/index.js"),
    );
    package
}

fn mocha() -> PathBuf {
    e2e_cache().join("pg-cursor/node_modules/mocha/bin/mocha.js")
}

/// Mocha over the package's test directory, its JSON reporter writing to `report`.
fn mocha_words(report: &Path) -> Vec<String> {
    vec![
        "node".to_owned(),
        mocha().display().to_string(),
        "--reporter".to_owned(),
        "json".to_owned(),
        "--reporter-option".to_owned(),
        format!("output={}", report.display()),
    ]
}

fn direct(pg: &PgServer, dir: &Path, report: &Path) -> Ran {
    let words = mocha_words(report);
    run(Command::new(&words[0])
        .args(&words[1..])
        .current_dir(dir)
        .env_remove("NODE_OPTIONS")
        .env("PGHOST", pg.host())
        .env("PGPORT", pg.port().to_string())
        .env("PGUSER", pg.user())
        .env("PGPASSWORD", pg.password())
        .env("PGDATABASE", "shop"))
}

/// Under `querycomb run`; a copy of the package outside node_modules finds `pg` and Mocha's
/// own modules through `NODE_PATH`.
fn wrapped(pg: &PgServer, dir: &Path, report: &Path, json: &Path) -> Ran {
    run(querycomb(Some(pg))
        .current_dir(dir)
        .env("NODE_PATH", e2e_cache().join("pg-cursor/node_modules"))
        .env_remove("NODE_OPTIONS")
        .args(["run", "--fail-on", "never", "--format", "json", "--output"])
        .arg(json)
        .arg("--")
        .args(mocha_words(report)))
}

/// `full title → outcome` from Mocha's JSON report.
fn outcomes(report: &Path) -> BTreeMap<String, &'static str> {
    let text = std::fs::read_to_string(report).expect("Mocha's JSON report");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let mut out = BTreeMap::new();
    for (list, outcome) in [
        ("passes", "passed"),
        ("failures", "failed"),
        ("pending", "pending"),
    ] {
        for test in doc[list].as_array().into_iter().flatten() {
            let title = test["fullTitle"].as_str().unwrap_or_default().to_owned();
            out.insert(title, outcome);
        }
    }
    out
}

/// A querycomb test id (`<file> > <describe…> > <test>`) as Mocha's full title.
fn full_title(test: &str) -> Option<String> {
    let (_file, titles) = test.split_once(" > ")?;
    Some(titles.replace(" > ", " "))
}

#[test]
fn pg_cursor_suite_keeps_its_outcomes_and_every_finding_names_its_test() {
    let dir = package();
    let pg = start_pg(false);
    let tmp = tempfile::tempdir().unwrap();
    let (plain, under_run) = (tmp.path().join("direct.json"), tmp.path().join("run.json"));
    let json = tmp.path().join("report.json");
    let alone = direct(&pg, &dir, &plain);
    assert_eq!(alone.code, Some(0), "{alone:?}");
    let expected = outcomes(&plain);
    assert_eq!(expected.len(), 37, "{alone:?}");
    let under = wrapped(&pg, &dir, &under_run, &json);
    assert_eq!(under.code, alone.code, "{under:?}");
    assert_eq!(outcomes(&under_run), expected, "{under:?}");

    let findings = findings_of(&json);
    assert!(!findings.is_empty(), "{under:?}");
    // A test, or a suite whose hooks ran the statement.
    tests_and_phases(&findings, |test| {
        full_title(test).is_some_and(|title| {
            expected.contains_key(&title) || expected.keys().any(|t| t.starts_with(&title))
        })
    });
}

/// A copy of the package whose test reads, after its cursor, one row per number: the loop is
/// found and named after that test.
#[test]
fn a_loop_added_to_one_pg_cursor_test_is_found_in_that_test() {
    let dir = package();
    let pg = start_pg(false);
    let copy = tempfile::tempdir().unwrap();
    copy_dir(&dir, copy.path());
    let file = copy.path().join("test/index.js");
    let source = std::fs::read_to_string(&file).expect("test/index.js");
    let original = "      assert.strictEqual(res.length, 6)\n      done()\n";
    assert_eq!(source.matches(original).count(), 1, "the test to fork");
    let forked = source.replacen(
        original,
        "      assert.strictEqual(res.length, 6)\n      \
         // The fork: one lookup per number, after the cursor.\n      \
         const pg = require('pg')\n      \
         const client = new pg.Client()\n      \
         client.connect()\n        \
         .then(() => client.query('SELECT generate_series AS num FROM generate_series(1, 8)'))\n        \
         .then((parents) => parents.rows.reduce((prev, row) => prev.then(() =>\n          \
           client.query('SELECT $1::int AS num, md5($1::text) AS tag', [row.num])), Promise.resolve()))\n        \
         .then(() => client.end())\n        \
         .then(() => done(), done)\n",
        1,
    );
    std::fs::write(&file, forked).expect("write the fork");

    let tmp = tempfile::tempdir().unwrap();
    let (report, json) = (tmp.path().join("run.json"), tmp.path().join("report.json"));
    let under = wrapped(&pg, copy.path(), &report, &json);
    assert_eq!(under.code, Some(0), "{under:?}");
    assert_eq!(outcomes(&report).len(), 37, "{under:?}");
    let findings = findings_of(&json);
    let added = findings_with_child(&findings, |sql| sql.contains("md5"));
    assert_eq!(added.len(), 1, "the added loop is found: {findings:#?}");
    let finding = added[0];
    assert_eq!(finding["kind"], "n_plus_one", "{finding:#}");
    assert_eq!(finding["count"], 8, "{finding:#}");
    let route = finding["request"]["route"].as_str().unwrap_or_default();
    assert_eq!(
        querycomb_core::test_route::test_of_route(route),
        (FORKED_TEST, Phase::Call),
        "{finding:#}"
    );
}

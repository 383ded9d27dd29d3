//! `querycomb run` around a real Rust test suite that tags nothing (tests/e2e/rust-untagged:
//! sqlx, its own workspace, built once into the shared target/e2e/rust by
//! `scripts/setup-test-deps.sh rust-untagged`): cargo-nextest's process per test names every
//! statement's test, and so do libtest's lines under `cargo test -- --test-threads=1`; with tests on threads, only the
//! test binary is named. One test loads each book's author in a loop, one runs the same
//! loop in a psql it starts (its statements are still the test's), one uses a join, and the
//! library's unit test counts authors.

mod run_support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use run_support::*;

const BOOKS: &str = "querycomb-e2e-untagged::books";
const LIB: &str = "querycomb-e2e-untagged";

fn manifest() -> PathBuf {
    repo_root().join("tests/e2e/rust-untagged/Cargo.toml")
}

/// The target dir the project was built into, once its tools are there.
fn ready() -> PathBuf {
    querycomb_testkit::deps::require_program("cargo-nextest");
    querycomb_testkit::deps::require_program("psql");
    querycomb_testkit::deps::rust_target("rust-untagged")
}

/// The project's test command, with this test's own nextest variables removed (querycomb's
/// suite may itself run under nextest, whose settings must not leak into the inner run).
fn cargo(command: &mut Command, args: &[&str]) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("NEXTEST") {
            command.env_remove(name);
        }
    }
    command
        .env_remove("RUST_TEST_THREADS")
        .env("CARGO_TARGET_DIR", ready())
        .env("CARGO_TERM_COLOR", "never")
        .args(args)
        .args(["--offline", "--locked", "--manifest-path"])
        .arg(manifest());
}

/// The command alone, then under `querycomb run` with a JSON report: both runs' outputs and
/// the report's findings and routes.
struct Runs {
    direct: Ran,
    wrapped: Ran,
    findings: Vec<serde_json::Value>,
    routes: Vec<String>,
}

fn run_both(pg: &querycomb_testkit::PgServer, args: &[&str], harness: &[&str]) -> Runs {
    let mut direct = Command::new("cargo");
    cargo(&mut direct, args);
    let direct = run(direct
        .args(harness)
        .env("DATABASE_URL", pg.url("shop"))
        .env("PGHOST", pg.host())
        .env("PGPORT", pg.port().to_string())
        .env("PGUSER", pg.user())
        .env("PGPASSWORD", pg.password())
        .env("PGDATABASE", "shop"));
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let mut wrapped = querycomb(Some(pg));
    wrapped
        .args(["run", "--fail-on", "never", "--format", "json", "--output"])
        .arg(&json)
        .args(["--", "cargo"]);
    cargo(&mut wrapped, args);
    let wrapped = run(wrapped.args(harness));
    assert_eq!(wrapped.code, direct.code, "{wrapped:?}");
    let text = std::fs::read_to_string(&json).expect("JSON report");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let mut routes: Vec<String> = doc["summary"]["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .filter_map(|r| r["route"].as_str())
        .filter(|route| !route.is_empty())
        .map(str::to_owned)
        .collect();
    routes.sort_unstable();
    Runs {
        direct,
        wrapped,
        findings: findings_of(&json),
        routes,
    }
}

/// `test id → outcome` from nextest's `PASS [ 0.012s] (1/4) <binary id> <test>` lines.
fn nextest_outcomes(stderr: &str) -> BTreeMap<String, String> {
    stderr
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let outcome = *words.first()?;
            if !matches!(outcome, "PASS" | "FAIL" | "SKIP") || words.len() < 3 {
                return None;
            }
            let test = words.get(words.len() - 2..)?.join(" ");
            Some((test, outcome.to_owned()))
        })
        .collect()
}

/// `test name → outcome` from libtest's `test <name> ... ok` lines (several binaries' tests
/// by name: the names in this project are distinct).
fn libtest_outcomes(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|line| {
            let (name, result) = line.strip_prefix("test ")?.split_once(" ... ")?;
            let result = result.split_whitespace().last()?;
            Some((name.to_owned(), result.to_owned()))
        })
        .collect()
}

/// Every statement belongs to its test; the two loops are found and named; nothing else.
fn assert_named_per_test(runs: &Runs) {
    let mut expected_routes = [
        format!("{BOOKS} books_clean_page"),
        format!("{BOOKS} books_n_plus_one_in_a_helper"),
        format!("{BOOKS} books_n_plus_one_page"),
        format!("{LIB} tests::authors_counted_once"),
    ];
    expected_routes.sort_unstable();
    assert_eq!(
        runs.routes, expected_routes,
        "every statement belongs to its test: {:?}",
        runs.wrapped
    );
    assert_eq!(
        kinds_and_routes(&runs.findings),
        vec![
            (
                "n_plus_one".to_owned(),
                format!("{BOOKS} books_n_plus_one_in_a_helper")
            ),
            (
                "n_plus_one".to_owned(),
                format!("{BOOKS} books_n_plus_one_page")
            ),
        ],
        "{:#?}",
        runs.findings
    );
    for finding in &runs.findings {
        assert_eq!(finding["count"], 8, "{finding:#}");
        assert_eq!(finding["children"][0]["table"], "authors", "{finding:#}");
    }
    assert!(
        !runs.wrapped.stderr.contains("no test runner reported"),
        "{:?}",
        runs.wrapped
    );
}

#[test]
fn nextest_names_the_test_of_every_statement_by_its_process() {
    ready();
    let pg = start_pg(true);
    let runs = run_both(&pg, &["nextest", "run", "--no-fail-fast"], &[]);
    assert_eq!(runs.direct.code, Some(0), "{:?}", runs.direct);
    let outcomes = nextest_outcomes(&runs.direct.stderr);
    assert_eq!(outcomes.len(), 4, "{:?}", runs.direct);
    assert_eq!(
        nextest_outcomes(&runs.wrapped.stderr),
        outcomes,
        "{:?}",
        runs.wrapped
    );
    assert_named_per_test(&runs);
}

#[test]
fn cargo_test_on_one_thread_names_every_test_from_libtest_output() {
    ready();
    let pg = start_pg(true);
    let runs = run_both(&pg, &["test"], &["--", "--test-threads=1"]);
    assert_eq!(runs.direct.code, Some(0), "{:?}", runs.direct);
    let outcomes = libtest_outcomes(&runs.direct.stdout);
    assert_eq!(outcomes.len(), 4, "{:?}", runs.direct);
    assert_eq!(
        libtest_outcomes(&runs.wrapped.stdout),
        outcomes,
        "relayed unchanged: {:?}",
        runs.wrapped
    );
    assert_named_per_test(&runs);
}

#[test]
fn cargo_test_on_threads_names_the_test_binary_only_and_says_so_once() {
    ready();
    let pg = start_pg(true);
    let runs = run_both(&pg, &["test"], &[]);
    assert_eq!(runs.direct.code, Some(0), "{:?}", runs.direct);
    assert_eq!(
        libtest_outcomes(&runs.wrapped.stdout),
        libtest_outcomes(&runs.direct.stdout),
        "{:?}",
        runs.wrapped
    );
    assert_eq!(
        runs.wrapped
            .stderr
            .matches("attributed to their test binary only")
            .count(),
        1,
        "{:?}",
        runs.wrapped
    );
    assert!(
        runs.routes.is_empty(),
        "no test is named: {:?}",
        runs.routes
    );
    let loops: Vec<&serde_json::Value> = runs
        .findings
        .iter()
        .filter(|f| f["kind"] == "n_plus_one")
        .collect();
    assert!(!loops.is_empty(), "{:#?}", runs.findings);
    for finding in loops {
        let session = finding["request"]["session"].as_str().unwrap_or_default();
        assert!(
            session.ends_with(&format!("(test binary {BOOKS})")),
            "{finding:#}"
        );
    }
}

//! `querycomb run` around a real Node test suite (tests/e2e/node: Sequelize over
//! node-postgres from npm, node's built-in test runner): one test loads each book's author
//! in a loop, one uses a join; each test tags its SQL with its name.

mod run_support;

use std::path::PathBuf;
use std::process::Command;

use run_support::*;

const N_PLUS_ONE_TEST: &str = "books page n+1";
const CLEAN_TEST: &str = "books page clean";

fn project() -> PathBuf {
    repo_root().join("tests/e2e/node")
}

/// `querycomb run` with the project's budgets, in the project's directory.
fn querycomb_node(pg: &querycomb_testkit::PgServer, extra: &[&str]) -> Command {
    let mut command = querycomb(Some(pg));
    command
        .current_dir(project())
        .env("NODE_PATH", e2e_cache().join("node/node_modules"))
        .args(["--config", "querycomb.toml", "run"])
        .args(extra)
        .args(["--", "node", "--test", "test/books.test.js"]);
    command
}

fn ready() {
    require_toolchain("node");
}

#[test]
fn node_suite_n_plus_one_fails_the_budget_and_junit_shows_it() {
    ready();
    let pg = start_pg(false);
    assert_n_plus_one_fails_the_budget(&Suite {
        command: &|extra| querycomb_node(&pg, extra),
        runner_summary: &["# pass 2", "# fail 0", "# skipped 0"],
        n_plus_one_test: N_PLUS_ONE_TEST,
        clean_test: CLEAN_TEST,
        child_table: "authors",
        children: 8,
    });
}

#[test]
fn node_suite_failure_passes_through() {
    ready();
    let pg = start_pg(false);
    assert_failure_passes_through(
        &mut querycomb_node(&pg, &["--fail-on", "never"]),
        1,
        Some("# fail 1"),
    );
}

/// The project's `before` hook runs untagged SQL (schema sync, fixtures); querycomb's
/// node:test preload attributes it to the test file's setup, in the process node --test
/// starts for the file. The tests' own results are the same with and without querycomb.
#[test]
fn node_test_hook_names_the_setup_phase_and_changes_no_outcome() {
    ready();
    let pg = start_pg(false);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("querycomb.json");
    let wrapped = run(querycomb_node(
        &pg,
        &[
            "--fail-on",
            "never",
            "--format",
            "json",
            "--output",
            json.to_str().unwrap(),
        ],
    )
    .env("QC_E2E_FAIL", "1"));
    assert!(
        !wrapped.stderr.contains("no test runner reported"),
        "{wrapped:?}"
    );
    let direct = run(Command::new("node")
        .current_dir(project())
        .env("NODE_PATH", e2e_cache().join("node/node_modules"))
        .env("DATABASE_URL", pg.url("shop"))
        .env("QC_E2E_FAIL", "1")
        .args(["--test", "test/books.test.js"]));
    assert_eq!(wrapped.code, direct.code, "{wrapped:?}\n{direct:?}");
    let results = |out: &Ran| {
        out.stdout
            .lines()
            .filter(|l| {
                let l = l.trim_start();
                l.starts_with("ok ")
                    || l.starts_with("not ok ")
                    || l.starts_with("# pass")
                    || l.starts_with("# fail")
                    || l.starts_with("# skipped")
            })
            .map(|l| l.split(" # ").next().unwrap_or(l).trim().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        results(&wrapped),
        results(&direct),
        "{wrapped:?}\n{direct:?}"
    );
    assert!(
        results(&direct).iter().any(|l| l.starts_with("not ok")),
        "{direct:?}"
    );

    let text = std::fs::read_to_string(&json).expect("JSON report");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let routes: Vec<&str> = doc["summary"]["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .filter_map(|r| r["route"].as_str())
        .collect();
    assert!(
        routes.contains(&"test/books.test.js (setup)"),
        "the before hook's statements are not its setup: {routes:?}"
    );
    for finding in doc["findings"].as_array().expect("findings") {
        assert!(finding["request"]["route"].is_string(), "{finding:#}");
    }
}

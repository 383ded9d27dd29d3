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

fn ready() -> bool {
    toolchain_ready("node", "Node")
}

#[test]
fn node_suite_n_plus_one_fails_the_budget_and_junit_shows_it() {
    if !ready() {
        return;
    }
    let pg = start_pg(false);
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("querycomb.xml");
    let json = dir.path().join("querycomb.json");

    let out = run(&mut querycomb_node(
        &pg,
        &["--format", "junit", "--output", junit.to_str().unwrap()],
    ));
    assert_eq!(out.code, Some(1), "{out:?}");
    // The test runner's own report passes through: two passed, one skipped.
    assert!(out.stdout.contains("# pass 2"), "{out:?}");
    assert!(out.stdout.contains("# skipped 1"), "{out:?}");
    assert!(!out.stderr.contains("the command failed"), "{out:?}");
    assert!(out.stderr.contains("query budget exceeded"), "{out:?}");

    let cases = junit_cases(&junit);
    let case = |name: &str| {
        cases
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no test case {name} in {cases:#?}"))
    };
    let looped = case(N_PLUS_ONE_TEST);
    assert!(
        looped.failures.contains(&"n_plus_one".to_owned()),
        "{cases:#?}"
    );
    assert!(
        looped.failures.contains(&"over_budget".to_owned()),
        "{cases:#?}"
    );
    assert!(case(CLEAN_TEST).failures.is_empty(), "{cases:#?}");

    let out = run(&mut querycomb_node(
        &pg,
        &["--format", "json", "--output", json.to_str().unwrap()],
    ));
    assert_eq!(out.code, Some(1), "{out:?}");
    let findings = findings_of(&json);
    let kinds = kinds_and_routes(&findings);
    assert!(
        kinds.contains(&("n_plus_one".to_owned(), N_PLUS_ONE_TEST.to_owned())),
        "{findings:#?}"
    );
    assert!(
        kinds.contains(&("over_budget".to_owned(), N_PLUS_ONE_TEST.to_owned())),
        "{findings:#?}"
    );
    assert!(
        kinds.iter().all(|(_, route)| route != CLEAN_TEST),
        "the clean test has findings: {findings:#?}"
    );
    let n_plus_one = findings
        .iter()
        .find(|f| f["kind"] == "n_plus_one")
        .expect("n_plus_one finding");
    assert_eq!(n_plus_one["count"], 8, "{n_plus_one:#}");
    assert_eq!(
        n_plus_one["children"][0]["table"], "authors",
        "{n_plus_one:#}"
    );
}

#[test]
fn node_suite_failure_passes_through() {
    if !ready() {
        return;
    }
    let pg = start_pg(false);
    let out = run(querycomb_node(&pg, &["--fail-on", "never"]).env("QC_E2E_FAIL", "1"));
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stdout.contains("# fail 1"), "{out:?}");
    assert!(
        out.stdout.contains("failing on purpose (QC_E2E_FAIL)"),
        "{out:?}"
    );
    assert!(
        out.stderr.contains("the command failed (exit status 1)"),
        "{out:?}"
    );
}

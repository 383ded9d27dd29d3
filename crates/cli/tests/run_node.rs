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
        runner_summary: &["# pass 2", "# skipped 1"],
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

//! `querycomb run` around a real Rust test suite using sqlx (tests/e2e/rust-sqlx, its own
//! workspace and target dir, built once by `scripts/setup-test-deps.sh rust`): one test
//! loads each book's author in a loop, one uses a join; each tags its SQL with its name.

mod run_support;

use std::path::PathBuf;
use std::process::Command;

use run_support::*;

const N_PLUS_ONE_TEST: &str = "books_n_plus_one_page";
const CLEAN_TEST: &str = "books_clean_page";

fn manifest() -> PathBuf {
    repo_root().join("tests/e2e/rust-sqlx/Cargo.toml")
}

/// `querycomb run` with the budgets of tests/e2e/rust-sqlx around its `cargo test`.
fn querycomb_cargo(pg: &querycomb_testkit::PgServer, extra: &[&str]) -> Command {
    let mut command = querycomb(Some(pg));
    command
        .env(
            "CARGO_TARGET_DIR",
            querycomb_testkit::deps::rust_target("rust-sqlx"),
        )
        .arg("run")
        .arg("--budgets")
        .arg(repo_root().join("tests/e2e/rust-sqlx/budgets.toml"))
        .args(extra)
        .args(["--", "cargo", "test", "--quiet", "--offline", "--locked"])
        .arg("--manifest-path")
        .arg(manifest());
    command
}

fn ready() {
    require_toolchain("rust");
}

#[test]
fn sqlx_suite_n_plus_one_fails_the_budget_and_junit_shows_it() {
    ready();
    let pg = start_pg(true);
    assert_n_plus_one_fails_the_budget(&Suite {
        command: &|extra| querycomb_cargo(&pg, extra),
        runner_summary: &["test result: ok. 2 passed; 0 failed; 1 ignored"],
        n_plus_one_test: N_PLUS_ONE_TEST,
        clean_test: CLEAN_TEST,
        child_table: "authors",
        children: 8,
    });
}

#[test]
fn sqlx_suite_failure_passes_through() {
    ready();
    let pg = start_pg(true);
    assert_failure_passes_through(
        // The fail-on-purpose test is `#[ignore]`d in ordinary runs.
        querycomb_cargo(&pg, &["--fail-on", "never"]).args(["--", "--include-ignored"]),
        101, // cargo test's status for a failed test
        None,
    );
}

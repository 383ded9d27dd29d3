//! `querycomb run` around a real pytest-django suite (tests/e2e/django, packages from PyPI
//! in a cached venv): one test hits an N+1 page, one a clean page; each test tags its SQL
//! with its node id, and `querycomb.toml` gives both a budget.

mod run_support;

use std::path::PathBuf;
use std::process::Command;

use run_support::*;

const N_PLUS_ONE_TEST: &str = "tests/test_books.py::test_books_page_n_plus_one";
const CLEAN_TEST: &str = "tests/test_books.py::test_books_page_clean";

fn project() -> PathBuf {
    repo_root().join("tests/e2e/django")
}

fn pytest() -> PathBuf {
    e2e_cache().join("django-venv/bin/pytest")
}

/// `querycomb run` with the project's budgets, in the project's directory.
fn querycomb_pytest(pg: &querycomb_testkit::PgServer, extra: &[&str]) -> Command {
    let mut command = querycomb(Some(pg));
    command
        .current_dir(project())
        .args(["--config", "querycomb.toml", "run"])
        .args(extra)
        .arg("--")
        .arg(pytest())
        .arg("-q");
    command
}

fn ready() {
    require_toolchain("python");
}

#[test]
fn django_suite_n_plus_one_fails_the_budget_and_junit_shows_it() {
    ready();
    let pg = start_pg(false);
    assert_n_plus_one_fails_the_budget(&Suite {
        command: &|extra| querycomb_pytest(&pg, extra),
        runner_summary: &["2 passed, 1 skipped"],
        n_plus_one_test: N_PLUS_ONE_TEST,
        clean_test: CLEAN_TEST,
        child_table: "shop_author",
        children: 8,
    });
}

#[test]
fn django_suite_failure_and_exit_status_pass_through() {
    ready();
    let pg = start_pg(false);
    assert_failure_passes_through(
        &mut querycomb_pytest(&pg, &["--fail-on", "never"]),
        1,
        Some("1 failed, 2 passed"),
    );

    // pytest's "no tests ran" status (5) comes back as is.
    let out = run(querycomb_pytest(&pg, &["--fail-on", "never"]).args(["-k", "no_such_test"]));
    assert_eq!(out.code, Some(5), "{out:?}");
    assert!(
        out.stderr.contains("the command failed (exit status 5)"),
        "{out:?}"
    );
}

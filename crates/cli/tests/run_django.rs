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

fn ready() -> bool {
    toolchain_ready("python", "Django")
}

#[test]
fn django_suite_n_plus_one_fails_the_budget_and_junit_shows_it() {
    if !ready() {
        return;
    }
    let pg = start_pg(false);
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("querycomb.xml");
    let json = dir.path().join("querycomb.json");

    let out = run(&mut querycomb_pytest(
        &pg,
        &["--format", "junit", "--output", junit.to_str().unwrap()],
    ));
    assert_eq!(out.code, Some(1), "{out:?}");
    // pytest's own report passes through untouched: both tests passed.
    assert!(out.stdout.contains("2 passed, 1 skipped"), "{out:?}");
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

    let out = run(&mut querycomb_pytest(
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
        n_plus_one["children"][0]["table"], "shop_author",
        "{n_plus_one:#}"
    );
}

#[test]
fn django_suite_failure_and_exit_status_pass_through() {
    if !ready() {
        return;
    }
    let pg = start_pg(false);
    let out = run(querycomb_pytest(&pg, &["--fail-on", "never"]).env("QC_E2E_FAIL", "1"));
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stdout.contains("1 failed, 2 passed"), "{out:?}");
    assert!(
        out.stdout.contains("failing on purpose (QC_E2E_FAIL)"),
        "{out:?}"
    );
    assert!(
        out.stderr.contains("the command failed (exit status 1)"),
        "{out:?}"
    );

    // pytest's "no tests ran" status (5) comes back as is.
    let out = run(querycomb_pytest(&pg, &["--fail-on", "never"]).args(["-k", "no_such_test"]));
    assert_eq!(out.code, Some(5), "{out:?}");
    assert!(
        out.stderr.contains("the command failed (exit status 5)"),
        "{out:?}"
    );
}

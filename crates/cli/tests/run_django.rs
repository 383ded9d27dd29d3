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

/// The same suite without its tagging conftest (`--noconftest`): the project as it is,
/// every statement attributed to its test by querycomb's pytest plugin alone.
fn untagged_pytest(
    pg: &querycomb_testkit::PgServer,
    pytest_args: &[&str],
    extra: &[&str],
) -> Command {
    let mut command = querycomb_pytest(pg, extra);
    command.arg("--noconftest").args(pytest_args);
    command
}

fn assert_untagged_suite_names_its_tests(pytest_args: &[&str]) {
    ready();
    let pg = start_pg(false);
    assert_n_plus_one_fails_the_budget(&Suite {
        command: &|extra| untagged_pytest(&pg, pytest_args, extra),
        runner_summary: &["2 passed, 1 skipped"],
        n_plus_one_test: N_PLUS_ONE_TEST,
        clean_test: CLEAN_TEST,
        child_table: "shop_author",
        children: 8,
    });

    // Every finding names its test and phase; the fixture's inserts are its setup.
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("all.json");
    let out = run(untagged_pytest(
        &pg,
        pytest_args,
        &[
            "--fail-on",
            "never",
            "--format",
            "json",
            "--output",
            json.to_str().unwrap(),
        ],
    )
    .args(["-k", "n_plus_one"]));
    // The budget of the N+1 test still fails the run.
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(!out.stderr.contains("no test runner reported"), "{out:?}");
    let findings = findings_of(&json);
    assert!(!findings.is_empty(), "{out:?}");
    // The terminal report says where by test and phase, not by the command line.
    let text = dir.path().join("report.txt");
    let out = run(untagged_pytest(
        &pg,
        pytest_args,
        &["--fail-on", "never", "--output", text.to_str().unwrap()],
    )
    .args(["-k", "n_plus_one"]));
    let report = std::fs::read_to_string(&text).expect("terminal report");
    assert!(
        report.contains(&format!("test {N_PLUS_ONE_TEST}, phase call")),
        "{report}\n{out:?}"
    );
    assert!(
        report
            .lines()
            .filter(|l| l.trim_start().starts_with("where:"))
            .all(|l| l.contains("phase") && !l.contains("pytest")),
        "{report}"
    );
    for finding in &findings {
        let route = finding["request"]["route"].as_str().unwrap_or_default();
        assert!(
            route.starts_with(N_PLUS_ONE_TEST),
            "a finding not named by its test: {finding:#}"
        );
    }
}

#[test]
fn untagged_django_suite_is_attributed_to_tests_by_the_pytest_plugin() {
    assert_untagged_suite_names_its_tests(&["-p", "no:xdist"]);
}

#[test]
fn untagged_django_suite_under_xdist_is_attributed_to_tests() {
    assert_untagged_suite_names_its_tests(&["-n", "2"]);
}

#[test]
fn the_suite_gives_the_same_outcomes_with_and_without_querycomb() {
    ready();
    let pg = start_pg(false);
    let outcome = |text: &str| {
        text.lines()
            .find(|l| l.contains(" passed") || l.contains(" failed"))
            .map(|l| l.split(" in ").next().unwrap_or(l).trim().to_owned())
    };
    for pytest_args in [&["-p", "no:xdist"][..], &["-n", "2"][..]] {
        let direct = run(Command::new(pytest())
            .current_dir(project())
            .env("DATABASE_URL", pg.url("shop"))
            .env("QC_E2E_FAIL", "1")
            .args(["-q", "-rA", "--noconftest"])
            .args(pytest_args));
        let wrapped = run(untagged_pytest(&pg, pytest_args, &["--fail-on", "never"])
            .env("QC_E2E_FAIL", "1")
            .arg("-rA"));
        assert_eq!(direct.code, Some(1), "{direct:?}");
        assert_eq!(wrapped.code, direct.code, "{wrapped:?}");
        let results = |out: &Ran| {
            let mut lines: Vec<String> = out
                .stdout
                .lines()
                .filter(|l| {
                    l.starts_with("PASSED ")
                        || l.starts_with("FAILED ")
                        || l.starts_with("SKIPPED ")
                })
                .map(|l| l.split(" - ").next().unwrap_or(l).to_owned())
                .collect();
            lines.sort();
            lines
        };
        assert_eq!(
            results(&wrapped),
            results(&direct),
            "{wrapped:?}\n{direct:?}"
        );
        assert_eq!(results(&direct).len(), 3, "{direct:?}");
        assert_eq!(outcome(&wrapped.stdout), outcome(&direct.stdout));
    }
}

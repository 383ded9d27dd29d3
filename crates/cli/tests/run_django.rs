//! `querycomb run` around a real pytest-django suite (tests/e2e/django, packages from PyPI
//! in a cached venv): one test hits an N+1 page, one a clean page; each test tags its SQL
//! with its node id, and `querycomb.toml` gives both a budget.

mod run_support;

use std::path::PathBuf;
use std::process::Command;

use run_support::*;

const N_PLUS_ONE_TEST: &str = "tests/test_books.py::test_books_page_n_plus_one";
const CLEAN_TEST: &str = "tests/test_books.py::test_books_page_clean";

/// The outcome words of pytest's `-rA` summary lines for the wrapped suite's tests.
const PYTEST_OUTCOMES: [&str; 2] = ["PASSED", "FAILED"];

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
        runner_summary: &["2 passed in "],
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
        runner_summary: &["2 passed in "],
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
fn no_test_hooks_leaves_the_environment_and_grouping_alone() {
    ready();
    let pg = start_pg(false);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("plain.json");
    let out = run(&mut untagged_pytest(
        &pg,
        &["-p", "no:xdist", "-k", "n_plus_one"],
        &[
            "--no-test-hooks",
            "--fail-on",
            "never",
            "--format",
            "json",
            "--output",
            json.to_str().unwrap(),
        ],
    ));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(!out.stderr.contains("no test runner reported"), "{out:?}");
    let findings = findings_of(&json);
    assert!(
        findings.iter().any(|f| f["kind"] == "n_plus_one"),
        "{findings:#?}"
    );
    assert!(
        findings.iter().all(|f| f["request"]["route"].is_null()),
        "{findings:#?}"
    );
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
        // The Django project's own per-test outcomes as `pytest -rA` lists them: they must
        // not change under querycomb.
        let results = |out: &Ran| {
            let mut lines: Vec<String> = out
                .stdout
                .lines()
                .filter(|l| {
                    l.split_once(' ')
                        .is_some_and(|(word, _)| PYTEST_OUTCOMES.contains(&word))
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

/// A fork of the project (copied to a temp dir) with one test whose fixture saves authors
/// one by one: an N+1 write in the test's setup, reported in the fixtures section at info
/// by default, and at its own severity with `--include-fixtures`.
#[test]
fn an_n_plus_one_in_a_fixture_is_a_fixture_finding_unless_asked() {
    ready();
    let pg = start_pg(false);
    let fork = tempfile::tempdir().unwrap();
    copy_tree(&project(), fork.path());
    std::fs::write(
        fork.path().join("tests/test_fork.py"),
        "import pytest\n\
         from shop.models import Author\n\n\
         @pytest.fixture\n\
         def authors_one_by_one(db):\n    \
             return [Author.objects.create(name=f\"a{i}\") for i in range(8)]\n\n\
         def test_fixture_loop(authors_one_by_one):\n    \
             assert Author.objects.count() == 8\n",
    )
    .unwrap();
    const FORK_TEST: &str = "tests/test_fork.py::test_fixture_loop";
    let report = fork.path().join("report.json");
    let run_fork = |extra: &[&str]| {
        let mut command = querycomb(Some(&pg));
        command
            .current_dir(fork.path())
            .args([
                "--config",
                "querycomb.toml",
                "run",
                "--format",
                "json",
                "--output",
            ])
            .arg(&report)
            .args(extra)
            .arg("--")
            .arg(pytest())
            .args(["-q", "--noconftest", "-p", "no:xdist", "tests/test_fork.py"]);
        run(&mut command)
    };
    let write_loop = |findings: &[serde_json::Value]| {
        findings
            .iter()
            .find(|f| f["kind"] == "n_plus_one_write")
            .cloned()
            .unwrap_or_else(|| panic!("no n_plus_one_write in {findings:#?}"))
    };

    let out = run_fork(&[]);
    assert_eq!(
        out.code,
        Some(0),
        "a fixture's loop does not fail the run: {out:?}"
    );
    assert!(out.stdout.contains("1 passed"), "{out:?}");
    let finding = write_loop(&findings_of(&report));
    assert_eq!(finding["request"]["route"], format!("{FORK_TEST} (setup)"));
    assert_eq!(finding["severity"], "info");
    assert_eq!(finding["children"][0]["table"], "shop_author");
    assert!(out.stderr.contains("fixtures: 1 cause"), "{out:?}");

    let out = run_fork(&["--include-fixtures"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    let finding = write_loop(&findings_of(&report));
    assert_eq!(finding["severity"], "warning");
    assert!(out.stderr.contains("top causes:"), "{out:?}");
    // Under `run` a route is the test the pytest plugin named, and says so.
    assert!(
        out.stderr.contains(&format!("test: {FORK_TEST}")),
        "{out:?}"
    );
}

/// Copies a project's sources (not caches) into `to`.
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "__pycache__" || name == ".pytest_cache" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

//! `querycomb run` around real Jest, Vitest and Mocha suites (tests/e2e/node-runners, pinned
//! by its package-lock.json, installed by scripts/setup-test-deps.sh) that tag nothing: the
//! Node preload's runner hooks name the test behind every statement, in the runners' worker
//! processes (Jest workers, Vitest forks and threads, Mocha `--parallel`) too. One test of
//! each suite loads each book's author in a loop; a `beforeAll`/`before` hook counts books;
//! a second file opens its own short-lived connection inside its test.

mod run_support;

use std::path::Path;
use std::process::Command;

use run_support::*;

/// The project copied to a temp dir, its `node_modules` linked to the installed packages.
fn project() -> tempfile::TempDir {
    require_toolchain("node");
    let modules = querycomb_testkit::deps::require(
        "Jest, Vitest and Mocha (tests/e2e/node-runners)",
        e2e_cache().join("node-runners/node_modules"),
    );
    querycomb_testkit::deps::require("Jest", modules.join(".bin/jest"));
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&repo_root().join("tests/e2e/node-runners"), dir.path());
    std::os::unix::fs::symlink(&modules, dir.path().join("node_modules")).unwrap();
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Runs `runner` directly and under `querycomb run`: the same exit status and summary
/// line, and every statement of the suite attributed to its test (or its suite's setup),
/// the N+1 named by its test.
fn assert_runner_names_its_tests(dir: &str, runner: &[&str], summary: &str) {
    let project = project();
    let pg = start_pg(true);
    let command = |program: &mut Command| {
        program
            .current_dir(project.path())
            .arg(project.path().join("node_modules/.bin").join(runner[0]))
            .args(&runner[1..])
            .env("DATABASE_URL", pg.url("shop"))
            .env_remove("NODE_OPTIONS")
            .env_remove("QUERYCOMB_TESTS");
    };
    let mut direct = Command::new("node");
    command(&mut direct);
    let direct = run(&mut direct);
    assert_eq!(direct.code, Some(0), "{direct:?}");

    let json = project.path().join("report.json");
    let mut wrapped = querycomb(Some(&pg));
    wrapped
        .current_dir(project.path())
        .args(["run", "--fail-on", "never", "--format", "json", "--output"])
        .arg(&json)
        .args(["--", "node"]);
    command(&mut wrapped);
    let wrapped = run(&mut wrapped);
    assert_eq!(wrapped.code, direct.code, "{wrapped:?}");
    let both = |out: &Ran| format!("{}{}", out.stdout, out.stderr);
    assert!(both(&direct).contains(summary), "{direct:?}");
    assert!(both(&wrapped).contains(summary), "{wrapped:?}");
    assert!(
        !wrapped.stderr.contains("no test runner reported"),
        "{wrapped:?}"
    );

    let text = std::fs::read_to_string(&json).expect("JSON report");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let mut routes: Vec<String> = doc["summary"]["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .map(|r| r["route"].as_str().unwrap_or_default().to_owned())
        .collect();
    routes.sort();
    let books = format!("{dir}/books.test.js > books page");
    assert_eq!(
        routes,
        vec![
            format!("{dir}/authors.test.js > authors > count"),
            format!("{books} (setup)"),
            format!("{books} > clean"),
            format!("{books} > n+1"),
        ],
        "every statement belongs to its test: {wrapped:?}"
    );
    let findings = findings_of(&json);
    assert_eq!(
        kinds_and_routes(&findings),
        vec![("n_plus_one".to_owned(), format!("{books} > n+1"))],
        "{findings:#?}"
    );
    assert_eq!(findings[0]["count"], 8, "{:#}", findings[0]);
    assert_eq!(findings[0]["children"][0]["table"], "authors");
}

#[test]
fn jest_workers_name_their_tests() {
    // A fresh cache directory: Jest keeps no timings, so it runs the two files in two
    // worker processes rather than in band.
    let cache = tempfile::tempdir().unwrap();
    let cache = format!("--cacheDirectory={}", cache.path().display());
    assert_runner_names_its_tests(
        "jest",
        &["jest", "--rootDir", "jest", "--maxWorkers=2", &cache],
        "Tests:       3 passed, 3 total",
    );
}

#[test]
fn vitest_forks_name_their_tests() {
    assert_runner_names_its_tests(
        "vitest",
        &["vitest", "run", "--root", "vitest", "--pool=forks"],
        "3 passed",
    );
}

/// Worker threads share their process: one file at a time, so that the process's latest
/// boundary is its test's (two threads' tests at once cannot be told apart by process).
#[test]
fn vitest_threads_name_their_tests() {
    assert_runner_names_its_tests(
        "vitest",
        &[
            "vitest",
            "run",
            "--root",
            "vitest",
            "--pool=threads",
            "--no-file-parallelism",
        ],
        "3 passed",
    );
}

#[test]
fn mocha_names_its_tests() {
    assert_runner_names_its_tests("mocha", &["mocha", "mocha/*.test.js"], "3 passing");
}

#[test]
fn mocha_parallel_workers_name_their_tests() {
    assert_runner_names_its_tests(
        "mocha",
        &["mocha", "--parallel", "--jobs", "2", "mocha/*.test.js"],
        "3 passing",
    );
}

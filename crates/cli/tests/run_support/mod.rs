//! Shared by the `querycomb run` end-to-end tests: running the binary, a throwaway
//! PostgreSQL with a small bookshop schema, the JUnit reader, and the cached third-party
//! toolchains (Python venv, npm packages, a Rust project) set up by
//! `scripts/setup-test-deps.sh`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use querycomb_testkit::{PgOptions, PgServer};

/// Books 1–8, each by its own author: a loop over them is an 8-iteration N+1.
pub const SCHEMA: &str = "\
CREATE TABLE authors (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE books (id integer PRIMARY KEY, title text NOT NULL, author_id integer NOT NULL REFERENCES authors);
INSERT INTO authors SELECT i, 'author ' || i FROM generate_series(1, 8) i;
INSERT INTO books SELECT i, 'book ' || i, i FROM generate_series(1, 8) i;";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A PostgreSQL with database `shop` (empty unless `schema`).
pub fn start_pg(schema: bool) -> PgServer {
    let pg = PgServer::start(PgOptions::default()).expect("start PostgreSQL");
    pg.createdb("shop").expect("createdb shop");
    if schema {
        pg.psql("shop", SCHEMA).expect("create the bookshop schema");
    }
    pg
}

/// `querycomb` with DATABASE_URL pointing at `pg` and libpq variables for psql.
pub fn querycomb(pg: Option<&PgServer>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_querycomb"));
    command
        .env("NO_COLOR", "1")
        .env_remove("PGHOST")
        .env_remove("PGPORT");
    if let Some(pg) = pg {
        command
            .env("DATABASE_URL", pg.url("shop"))
            .env("PGUSER", pg.user())
            .env("PGPASSWORD", pg.password())
            .env("PGDATABASE", "shop");
    }
    command
}

/// The finished command, printable on failure.
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub fn ran(output: Output) -> Ran {
    Ran {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

pub fn run(command: &mut Command) -> Ran {
    ran(command.output().expect("run querycomb"))
}

/// One `<testcase>` of a JUnit file.
#[derive(Debug)]
pub struct Case {
    pub name: String,
    /// `type` attribute of each `<failure>`.
    pub failures: Vec<String>,
    pub failure_messages: Vec<String>,
    /// Text of its `<system-out>`, empty when it has none.
    pub system_out: String,
}

pub fn junit_cases(path: &Path) -> Vec<Case> {
    let text = std::fs::read_to_string(path).expect("read the JUnit file");
    let doc = roxmltree::Document::parse(&text).expect("JUnit file is XML");
    doc.descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|case| {
            let failures: Vec<_> = case
                .children()
                .filter(|n| n.has_tag_name("failure"))
                .collect();
            Case {
                name: case.attribute("name").unwrap_or_default().to_owned(),
                failures: failures
                    .iter()
                    .map(|f| f.attribute("type").unwrap_or_default().to_owned())
                    .collect(),
                failure_messages: failures
                    .iter()
                    .map(|f| f.attribute("message").unwrap_or_default().to_owned())
                    .collect(),
                system_out: case
                    .children()
                    .find(|n| n.has_tag_name("system-out"))
                    .and_then(|n| n.text())
                    .unwrap_or_default()
                    .to_owned(),
            }
        })
        .collect()
}

pub fn findings_of(json: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(json).expect("read the JSON report");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON report");
    doc["findings"].as_array().cloned().unwrap_or_default()
}

/// The findings with a child whose normalised SQL satisfies `matches`.
pub fn findings_with_child(
    findings: &[serde_json::Value],
    matches: impl Fn(&str) -> bool,
) -> Vec<&serde_json::Value> {
    findings
        .iter()
        .filter(|f| {
            f["children"].as_array().is_some_and(|children| {
                children
                    .iter()
                    .any(|c| matches(c["normalized"].as_str().unwrap_or_default()))
            })
        })
        .collect()
}

/// `(kind, route)` of every finding.
pub fn kinds_and_routes(findings: &[serde_json::Value]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = findings
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap_or_default().to_owned(),
                f["request"]["route"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Fails the test unless `what`'s toolchain was set up by `scripts/setup-test-deps.sh`
/// (tests never install anything, and a test that cannot run must not pass).
pub fn require_toolchain(what: &str) {
    use querycomb_testkit::deps;
    match what {
        "python" => {
            deps::venv_bin("pytest");
        }
        "node" => {
            deps::node();
            deps::node_modules();
        }
        "rust" => {
            deps::rust_target("rust-sqlx");
        }
        other => panic!("unknown toolchain {other}"),
    }
}

/// Where the setup script caches installed toolchains.
pub fn e2e_cache() -> PathBuf {
    querycomb_testkit::deps::e2e_dir()
}

/// One language's test suite under `querycomb run`: a test with an N+1 (tagged with its
/// name), a clean one, and the lines of the runner's own summary.
pub struct Suite<'a> {
    /// `querycomb … run <extra> -- <the suite's test command>`.
    pub command: &'a dyn Fn(&[&str]) -> Command,
    /// Lines of the test runner's report that must come through unchanged.
    pub runner_summary: &'a [&'a str],
    pub n_plus_one_test: &'a str,
    pub clean_test: &'a str,
    pub child_table: &'a str,
    pub children: u64,
}

/// The N+1 test fails its budget and shows in JUnit and JSON; the clean test does not; the
/// runner's own output passes through.
pub fn assert_n_plus_one_fails_the_budget(suite: &Suite<'_>) {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("querycomb.xml");
    let json = dir.path().join("querycomb.json");

    let out = run(&mut (suite.command)(&[
        "--format",
        "junit",
        "--output",
        junit.to_str().unwrap(),
    ]));
    assert_eq!(out.code, Some(1), "{out:?}");
    for line in suite.runner_summary {
        assert!(out.stdout.contains(line), "{line:?} missing: {out:?}");
    }
    assert!(!out.stderr.contains("the command failed"), "{out:?}");
    assert!(out.stderr.contains("query budget exceeded"), "{out:?}");
    let cases = junit_cases(&junit);
    let case = |name: &str| {
        cases
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no test case {name} in {cases:#?}"))
    };
    let looped = case(suite.n_plus_one_test);
    for kind in ["n_plus_one", "over_budget"] {
        assert!(looped.failures.contains(&kind.to_owned()), "{cases:#?}");
    }
    assert!(case(suite.clean_test).failures.is_empty(), "{cases:#?}");

    let out = run(&mut (suite.command)(&[
        "--format",
        "json",
        "--output",
        json.to_str().unwrap(),
    ]));
    assert_eq!(out.code, Some(1), "{out:?}");
    let findings = findings_of(&json);
    let kinds = kinds_and_routes(&findings);
    for kind in ["n_plus_one", "over_budget"] {
        let wanted = (kind.to_owned(), suite.n_plus_one_test.to_owned());
        assert!(kinds.contains(&wanted), "{findings:#?}");
    }
    assert!(
        kinds.iter().all(|(_, route)| route != suite.clean_test),
        "the clean test has findings: {findings:#?}"
    );
    let n_plus_one = findings
        .iter()
        .find(|f| f["kind"] == "n_plus_one")
        .expect("n_plus_one finding");
    assert_eq!(n_plus_one["count"], suite.children, "{n_plus_one:#}");
    assert_eq!(n_plus_one["children"][0]["table"], suite.child_table);
}

/// A suite run with `QC_E2E_FAIL=1` fails one test on purpose: the runner's own report
/// (`runner_line`, when it has a fixed one) and its exit status come back unchanged, and
/// querycomb says the command failed.
pub fn assert_failure_passes_through(command: &mut Command, code: i32, runner_line: Option<&str>) {
    let out = run(command.env("QC_E2E_FAIL", "1"));
    assert_eq!(out.code, Some(code), "{out:?}");
    if let Some(line) = runner_line {
        assert!(out.stdout.contains(line), "{line:?} missing: {out:?}");
    }
    let both = format!("{}{}", out.stdout, out.stderr);
    assert!(both.contains("failing on purpose (QC_E2E_FAIL)"), "{out:?}");
    let said = format!("the command failed (exit status {code})");
    assert!(out.stderr.contains(&said), "{out:?}");
}

/// The test and phase every finding's request names (`querycomb run`'s test routes): fails
/// when a finding names no test, or a test `known` does not know (a test or suite id of the
/// runner's own report).
pub fn tests_and_phases(
    findings: &[serde_json::Value],
    known: impl Fn(&str) -> bool,
) -> Vec<(String, querycomb_core::test_route::Phase)> {
    findings
        .iter()
        .map(|finding| {
            let route = finding["request"]["route"].as_str().unwrap_or_default();
            assert!(!route.is_empty(), "a finding names no test: {finding:#}");
            let (test, phase) = querycomb_core::test_route::test_of_route(route);
            assert!(
                known(test),
                "{test:?} is none of the suite's tests: {finding:#}"
            );
            (test.to_owned(), phase)
        })
        .collect()
}

/// Copies the directory tree `from` into `to` (which exists): a third-party suite copied to
/// be changed (a loop added to one test) without touching the set-up cache.
pub fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read the directory") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

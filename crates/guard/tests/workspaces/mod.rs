//! Test suites of ORM projects kept in cargo workspaces of their own (tests/e2e/rust-*,
//! built by `scripts/setup-test-deps.sh PART` into target/e2e/), run against a throwaway
//! PostgreSQL.

use std::path::{Path, PathBuf};
use std::process::Command;

use querycomb_testkit::{PgOptions, PgServer};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the tests of `project` (built by the set-up script), with
/// `DATABASE_URL` pointing at a fresh database; fails unless exactly `passed` tests pass.
pub fn run_suite(project: &str, passed: usize) {
    let root = repo_root();
    // Built by `scripts/setup-test-deps.sh PART` before the tests; never here.
    let target = querycomb_testkit::deps::rust_target(project);
    let pg = PgServer::start(PgOptions::default()).expect("start PostgreSQL");
    pg.createdb("shop").expect("createdb shop");
    let out = Command::new("cargo")
        .env("CARGO_TARGET_DIR", target)
        .env("DATABASE_URL", pg.url("shop"))
        .args(["test", "--offline", "--locked", "--manifest-path"])
        .arg(root.join("tests/e2e").join(project).join("Cargo.toml"))
        .output()
        .expect("run cargo test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("test result: ok. {passed} passed; 0 failed")),
        "{stdout}\n{stderr}"
    );
}

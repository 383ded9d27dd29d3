//! What the test suite needs from outside the workspace, where `scripts/setup-test-deps.sh`
//! put it, and a loud failure when it is not there.
//!
//! Tests never install anything and never skip quietly: a missing dependency fails the test
//! with the command that installs it. (A lane that truly cannot run on a machine is marked
//! `#[ignore = "…"]` in the test itself, which the runner reports.)

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where the set-up script caches third-party test projects: `target/e2e`, or
/// `$QUERYCOMB_E2E_DIR` when set.
pub fn e2e_dir() -> PathBuf {
    match std::env::var_os("QUERYCOMB_E2E_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => repo_root().join("target/e2e"),
    }
}

/// `path`, which the set-up script makes; panics naming `what` and the fix when it is absent.
pub fn require(what: &str, path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "{what} is missing ({}): run scripts/setup-test-deps.sh before the tests",
        path.display()
    );
    path
}

/// The target dir that the set-up script builds every Rust project under tests/e2e and
/// examples/ into (shared, so their common dependencies build once), after checking that
/// `project`'s build (`target/e2e/PROJECT.built`, written when it succeeded) is there;
/// panics naming the fix when it is not.
pub fn rust_target(project: &str) -> PathBuf {
    require(
        &format!("the {project} build"),
        e2e_dir().join(format!("{project}.built")),
    );
    e2e_dir().join("rust")
}

/// A program on `PATH` (or at an absolute path); panics with the fix when it is absent.
pub fn require_program(name: &str) -> PathBuf {
    let found = if Path::new(name).is_absolute() {
        Some(PathBuf::from(name))
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|candidate| candidate.is_file())
        })
    };
    match found {
        Some(path) if path.is_file() => path,
        _ => panic!("{name} is not installed: run scripts/setup-test-deps.sh before the tests"),
    }
}

/// Compiles Java `sources` against `classpath` with the JDK's javac into `out`; panics with
/// javac's errors when they do not compile.
pub fn compile_java<P: AsRef<Path>>(classpath: &[PathBuf], sources: &[P], out: &Path) {
    let compiled = Command::new(require_program("javac"))
        .arg("-cp")
        .arg(std::env::join_paths(classpath).expect("a class path"))
        .arg("-d")
        .arg(out)
        .args(sources.iter().map(AsRef::as_ref))
        .output()
        .expect("run javac");
    assert!(
        compiled.status.success(),
        "javac: {}",
        String::from_utf8_lossy(&compiled.stderr)
    );
}

/// pgjdbc, Debian's `libpostgresql-jdbc-java` (the set-up script's `pgjdbc` part).
pub fn pgjdbc_jar() -> PathBuf {
    require(
        "pgjdbc (libpostgresql-jdbc-java)",
        PathBuf::from("/usr/share/java/postgresql.jar"),
    )
}

/// Hibernate 3.6 from Debian's `libhibernate3-java`, the jars it needs at run time
/// (javassist for its lazy proxies, slf4j-nop to keep its logging quiet) and pgjdbc: the
/// class path of tests/e2e/hibernate (the set-up script's `hibernate` part).
pub fn hibernate_classpath() -> Vec<PathBuf> {
    [
        "hibernate3.jar",
        "antlr.jar",
        "commons-collections3.jar",
        "dom4j.jar",
        "hibernate-commons-annotations.jar",
        "geronimo-jpa_2.0_spec.jar",
        "geronimo-jta-1.2-spec.jar",
        "javassist.jar",
        "slf4j-api.jar",
        "slf4j-nop.jar",
        "postgresql.jar",
    ]
    .into_iter()
    .map(|jar| {
        require(
            "Hibernate 3.6 and its jars (libhibernate3-java, libjavassist-java)",
            Path::new("/usr/share/java").join(jar),
        )
    })
    .collect()
}

/// The Python of the test venv (Django, pytest, psycopg; tests/e2e/django/requirements.txt).
pub fn python() -> PathBuf {
    require(
        "the Python test venv",
        e2e_dir().join("django-venv/bin/python"),
    )
}

/// A console script of the test venv (`pytest`, …).
pub fn venv_bin(name: &str) -> PathBuf {
    require(
        &format!("{name} in the Python test venv"),
        e2e_dir().join("django-venv/bin").join(name),
    )
}

/// `node_modules` of tests/e2e/node (pg, sequelize; pinned by its package-lock.json).
pub fn node_modules() -> PathBuf {
    let modules = e2e_dir().join("node/node_modules");
    require("node-postgres (npm package pg)", modules.join("pg"));
    modules
}

/// Headless Chromium for the HTML report's browser tests.
pub fn chromium() -> PathBuf {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| require_program("chromium"))
}

/// Node.js, which drives the browser and runs the Node test projects.
pub fn node() -> PathBuf {
    let node = require_program("node");
    let works = Command::new(&node)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(works, "{} --version failed", node.display());
    node
}

//! `querycomb run` around a real JUnit 5 suite (tests/e2e/junit: JDBC with PostgreSQL's
//! driver, run by the JUnit Platform console launcher; both from Debian's packages,
//! installed by scripts/setup-test-deps.sh) that tags nothing: the listener jar querycomb
//! builds with the JDK and puts on the JVM's class path names the test behind every
//! statement. The class's @BeforeAll counts books (its setup); one test loads each book's
//! author in a loop, one uses a join.

mod run_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use run_support::*;

const JAVA: &str = "/usr/share/java";

fn jar(name: &str) -> PathBuf {
    querycomb_testkit::deps::require(
        &format!("{name} (scripts/setup-test-deps.sh junit)"),
        Path::new(JAVA).join(name),
    )
}

/// The suite compiled into `out`.
fn compile(out: &Path) {
    querycomb_testkit::deps::require_program("javac");
    let classpath = format!(
        "{}:{}",
        jar("junit-jupiter-api.jar").display(),
        jar("apiguardian-api.jar").display()
    );
    let status = Command::new("javac")
        .args(["-cp", &classpath, "-d"])
        .arg(out)
        .arg(repo_root().join("tests/e2e/junit/src/shop/BooksTest.java"))
        .status()
        .expect("run javac");
    assert!(status.success(), "javac failed");
}

fn launcher(classes: &Path) -> Vec<String> {
    vec![
        "java".to_owned(),
        "-jar".to_owned(),
        jar("junit-platform-console-standalone.jar")
            .display()
            .to_string(),
        "-cp".to_owned(),
        format!("{}:{}", classes.display(), jar("postgresql.jar").display()),
        "--select-class".to_owned(),
        "shop.BooksTest".to_owned(),
        "--disable-banner".to_owned(),
        "--details=tree".to_owned(),
    ]
}

#[test]
fn junit_listener_names_the_tests_and_the_class_setup() {
    let dir = tempfile::tempdir().unwrap();
    let classes = dir.path().join("classes");
    compile(&classes);
    let command = launcher(&classes);
    let pg = start_pg(true);

    let direct = run(Command::new(&command[0])
        .args(&command[1..])
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", pg.port().to_string())
        .env("PGUSER", pg.user())
        .env("PGPASSWORD", pg.password())
        .env("PGDATABASE", "shop")
        .env_remove("JAVA_TOOL_OPTIONS"));
    assert_eq!(direct.code, Some(0), "{direct:?}");
    let summary = "[         2 tests successful      ]";
    assert!(direct.stdout.contains(summary), "{direct:?}");

    let json = dir.path().join("report.json");
    let wrapped = run(querycomb(Some(&pg))
        // A fresh cache: the listener jar is built with the JDK in this run.
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .env_remove("JAVA_TOOL_OPTIONS")
        .args(["run", "--fail-on", "never", "--format", "json", "--output"])
        .arg(&json)
        .arg("--")
        .args(&command));
    assert_eq!(wrapped.code, direct.code, "{wrapped:?}");
    assert!(wrapped.stdout.contains(summary), "{wrapped:?}");
    assert!(
        !wrapped.stderr.contains("no JUnit hook"),
        "the listener jar was not built: {wrapped:?}"
    );

    let text = std::fs::read_to_string(&json).expect("JSON report");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let mut routes: Vec<&str> = doc["summary"]["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .map(|r| r["route"].as_str().unwrap_or_default())
        .collect();
    routes.sort_unstable();
    assert_eq!(
        routes,
        [
            "shop.BooksTest (setup)",
            "shop.BooksTest#clean()",
            "shop.BooksTest#nPlusOne()"
        ],
        "every statement belongs to its test: {wrapped:?}"
    );
    let findings = findings_of(&json);
    assert_eq!(
        kinds_and_routes(&findings),
        vec![(
            "n_plus_one".to_owned(),
            "shop.BooksTest#nPlusOne()".to_owned()
        )],
        "{findings:#?}"
    );
    assert_eq!(findings[0]["count"], 8, "{:#}", findings[0]);
}

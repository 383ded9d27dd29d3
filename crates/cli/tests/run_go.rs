//! `querycomb run -- go test -json` around a real Go suite (tests/e2e/go: database/sql with
//! lib/pq, both from Debian's packages, built in GOPATH mode): querycomb relays the JSON
//! output unchanged and names the test behind every statement from its events. One test
//! loads each book's author in a loop, one uses a join.

mod run_support;

use std::process::Command;

use run_support::*;

/// `(Action, Test)` of the events that end a test, sorted.
fn results(stdout: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|e| matches!(e["Action"].as_str(), Some("pass" | "fail" | "skip")))
        .map(|e| {
            (
                e["Action"].as_str().unwrap_or_default().to_owned(),
                e["Test"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn go_test_json_names_its_tests() {
    querycomb_testkit::deps::require_program("go");
    querycomb_testkit::deps::require(
        "lib/pq (scripts/setup-test-deps.sh go)",
        "/usr/share/gocode/src/github.com/lib/pq".into(),
    );
    let pg = start_pg(true);
    let dir = tempfile::tempdir().unwrap();
    let gopath = format!(
        "{}:/usr/share/gocode",
        repo_root().join("tests/e2e/go").display()
    );
    let go = |command: &mut Command| {
        command
            .current_dir(repo_root().join("tests/e2e/go/src/shop"))
            .env("GO111MODULE", "off")
            .env("GOPATH", &gopath)
            .env("GOCACHE", dir.path().join("gocache"))
            .env("GOFLAGS", "")
            .env(
                "DATABASE_URL",
                format!("{}?sslmode=disable", pg.url("shop")),
            );
    };
    let go_test = ["go", "test", "-count=1", "-json", "shop"];
    let mut direct = Command::new(go_test[0]);
    go(direct.args(&go_test[1..]));
    let direct = run(&mut direct);
    assert_eq!(direct.code, Some(0), "{direct:?}");

    let json = dir.path().join("report.json");
    let mut wrapped = querycomb(Some(&pg));
    wrapped
        .args(["run", "--fail-on", "never", "--format", "json", "--output"])
        .arg(&json)
        .arg("--")
        .args(go_test);
    go(&mut wrapped);
    let wrapped = run(&mut wrapped);
    assert_eq!(wrapped.code, direct.code, "{wrapped:?}");
    let expected = vec![
        ("pass".to_owned(), String::new()),
        ("pass".to_owned(), "TestBooksPageClean".to_owned()),
        ("pass".to_owned(), "TestBooksPageNPlusOne".to_owned()),
    ];
    assert_eq!(results(&direct.stdout), expected, "{direct:?}");
    assert_eq!(
        results(&wrapped.stdout),
        expected,
        "relayed unchanged: {wrapped:?}"
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
        ["shop.TestBooksPageClean", "shop.TestBooksPageNPlusOne"],
        "every statement belongs to its test: {wrapped:?}"
    );
    let findings = findings_of(&json);
    assert_eq!(
        kinds_and_routes(&findings),
        vec![(
            "n_plus_one".to_owned(),
            "shop.TestBooksPageNPlusOne".to_owned()
        )],
        "{findings:#?}"
    );
}

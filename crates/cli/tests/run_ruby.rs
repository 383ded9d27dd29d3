//! `querycomb run` around real RSpec and minitest suites (tests/e2e/ruby; Ruby, RSpec,
//! minitest and the pg gem from Debian's packages, installed by scripts/setup-test-deps.sh)
//! that tag nothing: the Ruby hook loaded through RUBYOPT names the test behind every
//! statement. One test loads each book's author in a loop, one uses a join; the group's
//! before(:all) (RSpec) or each test's setup (minitest) counts books.

mod run_support;

use std::process::Command;

use run_support::*;

fn ruby_ready() {
    for program in ["ruby", "rspec"] {
        querycomb_testkit::deps::require_program(program);
    }
    for library in ["pg", "minitest"] {
        let loads = Command::new("ruby")
            .args(["-e", &format!("require '{library}'")])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            loads,
            "Ruby library {library} is missing: run scripts/setup-test-deps.sh ruby"
        );
    }
}

/// Runs `runner` in tests/e2e/ruby directly and under `querycomb run`: the same exit
/// status and summary line; every statement attributed to its test or its setup
/// (`routes`), the N+1 named by `n_plus_one_test`.
fn assert_runner_names_its_tests(
    runner: &[&str],
    summary: &str,
    routes: &[&str],
    n_plus_one_test: &str,
) {
    ruby_ready();
    let pg = start_pg(true);
    let project = repo_root().join("tests/e2e/ruby");
    let direct = run(Command::new(runner[0])
        .args(&runner[1..])
        .current_dir(&project)
        .env("DATABASE_URL", pg.url("shop"))
        .env_remove("RUBYOPT"));
    assert_eq!(direct.code, Some(0), "{direct:?}");
    assert!(direct.stdout.contains(summary), "{direct:?}");

    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let wrapped = run(querycomb(Some(&pg))
        .current_dir(&project)
        .env_remove("RUBYOPT")
        .args(["run", "--fail-on", "never", "--format", "json", "--output"])
        .arg(&json)
        .arg("--")
        .args(runner));
    assert_eq!(wrapped.code, direct.code, "{wrapped:?}");
    assert!(wrapped.stdout.contains(summary), "{wrapped:?}");

    let text = std::fs::read_to_string(&json).expect("JSON report");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let mut seen: Vec<&str> = doc["summary"]["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .map(|r| r["route"].as_str().unwrap_or_default())
        .collect();
    seen.sort_unstable();
    assert_eq!(
        seen, routes,
        "every statement belongs to its test: {wrapped:?}"
    );
    let findings = findings_of(&json);
    assert_eq!(
        kinds_and_routes(&findings),
        vec![("n_plus_one".to_owned(), n_plus_one_test.to_owned())],
        "{findings:#?}"
    );
    assert_eq!(findings[0]["count"], 8, "{:#}", findings[0]);
    assert_eq!(findings[0]["children"][0]["table"], "authors");
}

#[test]
fn rspec_names_its_examples() {
    assert_runner_names_its_tests(
        &["rspec", "spec"],
        "2 examples, 0 failures",
        &[
            "spec/books_spec.rb > books page (setup)",
            "spec/books_spec.rb > books page clean",
            "spec/books_spec.rb > books page n+1",
        ],
        "spec/books_spec.rb > books page n+1",
    );
}

#[test]
fn minitest_names_its_tests_and_their_setup() {
    assert_runner_names_its_tests(
        &["ruby", "test/books_test.rb"],
        "2 runs, 2 assertions, 0 failures, 0 errors, 0 skips",
        &[
            "test/books_test.rb > BooksPageTest#test_clean",
            "test/books_test.rb > BooksPageTest#test_clean (setup)",
            "test/books_test.rb > BooksPageTest#test_n_plus_one",
            "test/books_test.rb > BooksPageTest#test_n_plus_one (setup)",
        ],
        "test/books_test.rb > BooksPageTest#test_n_plus_one",
    );
}

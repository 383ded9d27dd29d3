//! The scaling check on a real app: the pytest-django suite of tests/e2e/django at two data
//! scales. Its N+1 page runs one author query per book, so its statement count grows with
//! the data; its `select_related` page stays constant.

mod run_support;

use std::path::PathBuf;
use std::process::Command;

use run_support::*;

const N_PLUS_ONE_TEST: &str = "tests/test_books.py::test_books_page_n_plus_one";
const CLEAN_TEST: &str = "tests/test_books.py::test_books_page_clean";

fn pytest() -> PathBuf {
    let pytest = e2e_cache().join("django-venv/bin/pytest");
    assert!(
        pytest.is_file(),
        "{} is missing: run scripts/setup-test-deps.sh first",
        pytest.display()
    );
    pytest
}

fn querycomb_pytest(pg: &querycomb_testkit::PgServer, args: &[&str]) -> Command {
    let mut command = querycomb(Some(pg));
    command
        .current_dir(repo_root().join("tests/e2e/django"))
        .args(args)
        .arg("--")
        .arg(pytest())
        .arg("-q");
    command
}

#[test]
fn run_at_two_scales_fails_the_growing_test_and_passes_the_fixed_one() {
    let pg = start_pg(false);
    let ran = run(&mut querycomb_pytest(&pg, &["run", "--scale", "10,40"]));
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(
        ran.stdout.contains(&format!("FAIL  {N_PLUS_ONE_TEST}: "))
            && ran.stdout.contains("(grows with the data)"),
        "{ran:?}"
    );
    assert!(
        ran.stdout.contains(&format!("ok    {CLEAN_TEST}: ")),
        "{ran:?}"
    );
    assert!(
        ran.stdout.contains("shop_author"),
        "the author lookup grew: {ran:?}"
    );
    assert!(ran.stderr.contains("QUERYCOMB_SCALE=10") && ran.stderr.contains("QUERYCOMB_SCALE=40"));

    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("scale.json");
    let ran = run(&mut querycomb_pytest(
        &pg,
        &[
            "run",
            "--scale",
            "10,40",
            "--format",
            "json",
            "-o",
            json.to_str().unwrap(),
        ],
    ));
    assert_eq!(ran.code, Some(1), "{ran:?}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let route = |name: &str| {
        report["routes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["route"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {report:#}"))
    };
    let grown = route(N_PLUS_ONE_TEST);
    assert_eq!(grown["grows"], true);
    // 30 more books, 30 more author lookups.
    assert_eq!(
        grown["larger"].as_u64().unwrap() - grown["smaller"].as_u64().unwrap(),
        30,
        "{grown}"
    );
    assert_eq!(
        grown["grown_shapes"][0]["larger_calls"].as_u64().unwrap()
            - grown["grown_shapes"][0]["smaller_calls"].as_u64().unwrap(),
        30
    );
    let fixed = route(CLEAN_TEST);
    assert_eq!(
        (fixed["grows"].clone(), fixed["smaller"].clone()),
        (false.into(), fixed["larger"].clone())
    );
}

#[test]
fn scale_compares_two_existing_reports() {
    let pg = start_pg(false);
    let dir = tempfile::tempdir().unwrap();
    let report = |scale: &str| {
        let path = dir.path().join(format!("at-{scale}.json"));
        let ran = run(querycomb_pytest(
            &pg,
            &[
                "run",
                "--format",
                "json",
                "--fail-on",
                "never",
                "-o",
                path.to_str().unwrap(),
            ],
        )
        .env("QUERYCOMB_SCALE", scale));
        // The N+1 test is over its budget in querycomb.toml at any scale above 5.
        assert_eq!(ran.code, Some(1), "{ran:?}");
        path
    };
    let (small, large) = (report("10"), report("20"));
    let ran =
        run(querycomb(None).args(["scale", small.to_str().unwrap(), large.to_str().unwrap()]));
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(
        ran.stdout.contains(&format!("FAIL  {N_PLUS_ONE_TEST}")),
        "{ran:?}"
    );
    let same =
        run(querycomb(None).args(["scale", small.to_str().unwrap(), small.to_str().unwrap()]));
    assert_eq!(same.code, Some(0), "{same:?}");
    assert!(same.stdout.contains("0 of"), "{same:?}");
}

//! `over_fetch` on SQL a real ORM wrote, through `querycomb run`'s proxy (which counts the
//! bytes of every row it returns): SQLAlchemy's default select of every column loads ten
//! articles with 8 KB bodies only to look their comments up by article id; the same page
//! with `load_only(id, title)` is not reported.

mod run_support;

use run_support::*;
use serde_json::Value;

#[test]
fn sqlalchemy_default_select_of_wide_rows_is_reported_and_load_only_is_not() {
    let pg = start_pg(false);
    let python = e2e_cache().join("sqlalchemy-venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/setup-test-deps.sh first",
        python.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let ran = run(querycomb(Some(&pg))
        .args(["run", "--format", "json", "--fail-on", "never", "-o"])
        .arg(&json)
        .args(["--dsn", &pg.url("shop"), "--"])
        .arg(&python)
        .arg(repo_root().join("tests/e2e/sqlalchemy/over_fetch.py")));
    assert!(ran.stdout.contains("over-fetch app done"), "{ran:?}");
    let text = std::fs::read_to_string(&json).unwrap_or_else(|e| panic!("{e}: {ran:?}"));
    let report: Value = serde_json::from_str(&text).unwrap();
    let findings: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "over_fetch")
        .collect();
    assert_eq!(
        findings.len(),
        1,
        "only the page without load_only: {report:#}"
    );
    let finding = findings[0];
    assert_eq!(finding["severity"], "info");
    let wide = finding["children"][0]["normalized"].as_str().unwrap();
    assert!(
        wide.starts_with("SELECT articles.id, articles.title, articles.body FROM articles"),
        "{finding:#}"
    );
    let user = finding["children"][1]["normalized"].as_str().unwrap();
    assert!(
        user.contains("FROM comments WHERE comments.article_id IN"),
        "{finding:#}"
    );
    let message = finding["message"].as_str().unwrap();
    assert!(
        message.starts_with("SELECT … FROM articles sent 10 rows of 7.")
            && message.contains(" KB each"),
        "{message}"
    );
    assert!(
        message.contains("used only their keys (SELECT"),
        "{message}"
    );
    // Its fix is its own (narrower columns), not a batch: no loop advice, impact or plan.
    assert!(
        finding["advice"].is_null() && finding["impact"].is_null(),
        "{finding:#}"
    );
    assert!(finding["plan_check"].is_null(), "{finding:#}");
    assert!(finding["suggestion"]
        .as_str()
        .unwrap()
        .contains("Select only the columns"));
}

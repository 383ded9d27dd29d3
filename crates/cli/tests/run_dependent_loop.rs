//! A dependent chain through the proxy, with a real driver (psycopg 3 from the test venv)
//! and a real PostgreSQL: each row's `parent_id` is the id the previous `INSERT …
//! RETURNING` returned. Its advice must not be a batched insert; the same loop of
//! independent rows keeps the batched rewrite. Neither loop iterates a query's rows, so no
//! parent is shown, and the report says so.

mod run_support;

use run_support::*;

const CHAIN: &str = r#"
import os, sys, psycopg
with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
    conn.execute("CREATE TABLE IF NOT EXISTS node (id serial PRIMARY KEY, parent_id int REFERENCES node, name text)")
    conn.execute("SELECT set_config('application_name', 'chain', false)")
    parent = None
    for i in range(8):
        row = conn.execute(
            "INSERT INTO node (parent_id, name) VALUES (%s, %s) RETURNING id",
            (parent if sys.argv[1] == "chain" else None, f"n{i}"),
        ).fetchone()
        parent = row[0]
"#;

fn run_loop(mode: &str) -> (serde_json::Value, String) {
    require_toolchain("python");
    let python = querycomb_testkit::deps::venv_bin("python");
    let pg = start_pg(false);
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("chain.py");
    std::fs::write(&script, CHAIN).unwrap();
    let json = dir.path().join("report.json");
    let out = run(querycomb(Some(&pg))
        .args(["run", "--fail-on", "never", "--format", "json", "--output"])
        .arg(&json)
        .arg("--")
        .arg(&python)
        .arg(&script)
        .arg(mode));
    assert_eq!(out.code, Some(0), "{out:?}");
    let findings = findings_of(&json);
    let writes: Vec<_> = findings
        .iter()
        .filter(|f| f["kind"] == "n_plus_one_write")
        .cloned()
        .collect();
    assert_eq!(writes.len(), 1, "{findings:#?}");
    let terminal = run(querycomb(Some(&pg))
        .args(["run", "--fail-on", "never", "--"])
        .arg(&python)
        .arg(dir.path().join("chain.py"))
        .arg(mode));
    (writes[0].clone(), terminal.stdout)
}

#[test]
fn a_chain_of_inserts_is_a_dependent_chain_not_a_batch() {
    let (finding, terminal) = run_loop("chain");
    assert!(
        terminal.contains("parent:     none shown"),
        "the report does not say why no parent is shown: {terminal}"
    );
    assert_eq!(finding["count"], 8, "{finding:#}");
    let message = finding["message"].as_str().unwrap();
    assert!(message.contains("a dependent chain"), "{finding:#}");
    let advice = finding["suggestion"].as_str().unwrap();
    assert!(advice.starts_with("-- A dependent chain"), "{advice}");
    assert!(advice.contains("recursive CTE"), "{advice}");
    assert!(
        !advice.contains("SELECT * FROM unnest"),
        "a batched insert is offered: {advice}"
    );
    assert!(finding["parent"].is_null(), "{finding:#}");
}

#[test]
fn independent_inserts_keep_the_batched_rewrite() {
    let (finding, _) = run_loop("independent");
    assert!(
        !finding["message"].as_str().unwrap().contains("dependent"),
        "{finding:#}"
    );
    let advice = finding["suggestion"].as_str().unwrap();
    assert!(advice.contains("SELECT * FROM unnest"), "{advice}");
    // set_config returned one row: not what an 8-row loop iterates.
    assert!(finding["parent"].is_null(), "{finding:#}");
}

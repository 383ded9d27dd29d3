//! `unbounded_result` on real traffic: psql through `querycomb run`'s proxy, which counts the
//! rows each statement returned. Only the SELECT without LIMIT that sent more than
//! `unbounded_rows` (1000) rows is reported; bounded, small and aggregate reads are not.

mod run_support;

use run_support::*;

#[test]
fn only_the_unbounded_big_read_is_reported() {
    let pg = start_pg(false);
    pg.psql(
        "shop",
        "CREATE TABLE events (id int PRIMARY KEY, payload text NOT NULL);
         INSERT INTO events SELECT g, 'event ' || g FROM generate_series(1, 5000) g;",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let script = dir.path().join("reads.sql");
    std::fs::write(
        &script,
        "SELECT id, payload FROM events;\n\
         SELECT id, payload FROM events ORDER BY id LIMIT 5000;\n\
         SELECT count(*) FROM events;\n\
         SELECT id FROM events WHERE id <= 1000;\n",
    )
    .unwrap();
    let out = run(querycomb(Some(&pg))
        .args(["run", "--format", "json", "-o"])
        .arg(&json)
        .args([
            "--",
            "psql",
            "-X",
            "-q",
            "-o",
            "/dev/null",
            "-v",
            "ON_ERROR_STOP=1",
            "-f",
        ])
        .arg(&script));
    assert_eq!(out.code, Some(1), "a warning fails the run: {out:?}");
    let findings = findings_of(&json);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let finding = &findings[0];
    assert_eq!(finding["kind"], "unbounded_result");
    assert_eq!(finding["severity"], "warning");
    assert_eq!(
        finding["children"][0]["normalized"],
        "SELECT id, payload FROM events"
    );
    assert_eq!(
        finding["message"],
        "SELECT id, payload FROM events returned 5000 rows to the application without a LIMIT"
    );
    assert!(finding["suggestion"]
        .as_str()
        .unwrap()
        .contains("keyset paging"));
}

//! Result-size findings on real traffic: psql through `querycomb run`'s proxy, which counts
//! the rows each statement returned.
//! - `unbounded_result`: only the SELECT without LIMIT that sent more than `unbounded_rows`
//!   (1000) rows; bounded, small and aggregate reads are not reported.
//! - `cartesian_explosion`: only the SELECT joining two to-many relations whose rows
//!   multiplied; to-one joins and one query per relation are not reported.

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

#[test]
fn only_the_join_of_two_to_many_relations_is_reported() {
    let pg = start_pg(false);
    pg.psql(
        "shop",
        "CREATE TABLE posts (id int PRIMARY KEY, title text NOT NULL);
         CREATE TABLE comments (id int PRIMARY KEY, post_id int NOT NULL REFERENCES posts (id));
         CREATE TABLE tags (id int PRIMARY KEY, post_id int NOT NULL REFERENCES posts (id));
         INSERT INTO posts SELECT g, 'post ' || g FROM generate_series(1, 10) g;
         INSERT INTO comments SELECT g, 1 + g % 10 FROM generate_series(1, 50) g;
         INSERT INTO tags SELECT g, 1 + g % 10 FROM generate_series(1, 50) g;",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let script = dir.path().join("joins.sql");
    std::fs::write(
        &script,
        "SELECT p.id, c.id, t.id FROM posts p \
           LEFT OUTER JOIN comments c ON c.post_id = p.id \
           LEFT OUTER JOIN tags t ON t.post_id = p.id;\n\
         SELECT c.id, p.title FROM comments c JOIN posts p ON p.id = c.post_id;\n\
         SELECT p.id FROM posts p;\n\
         SELECT id, post_id FROM comments WHERE post_id = ANY('{1,2,3,4,5,6,7,8,9,10}');\n\
         SELECT id, post_id FROM tags WHERE post_id = ANY('{1,2,3,4,5,6,7,8,9,10}');\n",
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
    assert_eq!(finding["kind"], "cartesian_explosion");
    // 10 posts × 5 comments × 5 tags.
    assert!(
        finding["message"]
            .as_str()
            .unwrap()
            .contains("returned 250 rows"),
        "{finding:#}"
    );
    assert!(finding["children"][0]["normalized"]
        .as_str()
        .unwrap()
        .contains("LEFT OUTER JOIN tags"));
}

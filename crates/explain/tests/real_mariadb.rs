//! Plan checks against a throwaway MariaDB with a real schema, 100,000 rows and indexes:
//! verdicts checked against MariaDB's own EXPLAIN, and a check that changes nothing.
//! (Built with the `mysql` feature, which the workspace's default build turns on.)

mod common;

use common::{finding, keys_of};
use querycomb_core::Verdict;
use querycomb_detect::detectors as kinds;
use querycomb_explain::{check_findings, Options};
use querycomb_testkit::{MariaDb, MariaOptions};

const SCHEMA: &str = "
CREATE DATABASE shop;
USE shop;
CREATE TABLE authors (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL) ENGINE=InnoDB;
CREATE TABLE books (id INT PRIMARY KEY, author_id INT NOT NULL, title VARCHAR(100) NOT NULL,
                    isbn VARCHAR(20) NOT NULL, body VARCHAR(200) NOT NULL,
                    KEY books_author_id_idx (author_id),
                    CONSTRAINT books_author_fk FOREIGN KEY (author_id) REFERENCES authors (id))
  ENGINE=InnoDB;
INSERT INTO authors SELECT seq, CONCAT('author ', seq) FROM seq_1_to_1000;
INSERT INTO books SELECT seq, 1 + seq % 1000, CONCAT('title ', seq), CONCAT('isbn-', seq),
                         REPEAT('x', 100) FROM seq_1_to_100000;
CREATE TABLE audit_log (id INT) ENGINE=InnoDB;
CREATE FUNCTION audited(v INT) RETURNS INT MODIFIES SQL DATA
  BEGIN INSERT INTO audit_log VALUES (v); RETURN v; END;
ANALYZE TABLE authors, books;
CREATE USER 'qc'@'%' IDENTIFIED BY 'qc-secret';
GRANT ALL ON shop.* TO 'qc'@'%';
CREATE USER 'reader'@'%' IDENTIFIED BY 'reader-secret';
GRANT SELECT ON shop.* TO 'reader'@'%';
";

fn shop() -> MariaDb {
    let db = MariaDb::start(MariaOptions::default()).expect("MariaDB starts");
    db.client(
        "",
        &SCHEMA
            .replace("END;\n", "END|\n")
            .replace("CREATE FUNCTION", "DELIMITER |\nCREATE FUNCTION")
            .replace("END|\n", "END|\nDELIMITER ;\n"),
    )
    .expect("schema");
    db
}

fn dsn(db: &MariaDb, user: &str, password: &str) -> String {
    format!("mysql://{user}:{password}@127.0.0.1:{}/shop", db.port())
}

fn values(prefix: &str, range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i}")).collect()
}

/// MariaDB's own tabular EXPLAIN of `sql`: `(type, key)` of the row for `table`.
fn mariadb_explain(db: &MariaDb, sql: &str, table: &str) -> (String, String) {
    let out = db.client("shop", &format!("EXPLAIN {sql}")).unwrap();
    let row = out
        .lines()
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|cols| cols.get(2) == Some(&table))
        .unwrap_or_else(|| panic!("no row for {table}: {out}"));
    (row[3].to_owned(), row[5].to_owned())
}

/// Everything a plan check could change.
fn state(db: &MariaDb) -> String {
    db.client(
        "shop",
        "SELECT (SELECT COUNT(*) FROM books), (SELECT SUM(author_id) FROM books),
                (SELECT COUNT(*) FROM audit_log),
                (SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = 'shop'),
                (SELECT MD5(GROUP_CONCAT(title ORDER BY id)) FROM books WHERE id <= 1000)",
    )
    .unwrap()
}

#[test]
fn verdicts_match_mariadbs_own_plans() {
    let db = shop();
    let authors = values("", 1..=30);
    let isbns = values("isbn-", 1..=10);
    let mut findings = vec![
        finding(
            kinds::n_plus_one::KIND,
            "SELECT id, title FROM books WHERE author_id = ?",
            keys_of(&authors),
        ),
        finding(
            kinds::n_plus_one::KIND,
            "SELECT id, name FROM authors WHERE id = ?",
            keys_of(&authors),
        ),
        finding(
            kinds::n_plus_one::KIND,
            "SELECT id FROM books WHERE isbn = ?",
            keys_of(&isbns),
        ),
    ];
    let tally = check_findings(
        &dsn(&db, "qc", "qc-secret"),
        &mut findings,
        &Options::default(),
        false,
    )
    .expect("plan check runs");
    assert_eq!(
        (tally.checked, tally.safe, tally.needs_index),
        (3, 2, 1),
        "{findings:#?}"
    );

    let by_author = findings[0].fix.plan_check.as_ref().unwrap();
    assert_eq!(by_author.verdict, Verdict::Safe, "{by_author:#?}");
    assert!(by_author
        .server
        .as_deref()
        .unwrap()
        .starts_with("MariaDB 10."));
    assert_eq!(by_author.keys, 30);
    assert_eq!(
        by_author.lookup_key.as_deref(),
        Some("foreign key to shop.authors (id)")
    );
    assert_eq!(by_author.table.as_deref(), Some("shop.books"));
    let batch: Vec<String> = authors.iter().map(|a| format!("'{a}'")).collect();
    let batch_sql = format!(
        "SELECT author_id, id, title FROM books WHERE author_id IN ({})",
        batch.join(", ")
    );
    let (access, key) = mariadb_explain(&db, &batch_sql, "books");
    let batched = by_author.batched.as_ref().unwrap();
    assert_eq!(batched.node, format!("{access} using {key} on books"));
    assert_eq!(key, "books_author_id_idx");
    let (access, key) = mariadb_explain(
        &db,
        "SELECT id, title FROM books WHERE author_id = '1'",
        "books",
    );
    assert_eq!(
        by_author.child.as_ref().unwrap().node,
        format!("{access} using {key} on books")
    );

    let by_id = findings[1].fix.plan_check.as_ref().unwrap();
    assert_eq!(by_id.verdict, Verdict::Safe, "{by_id:#?}");
    assert_eq!(by_id.lookup_key.as_deref(), Some("primary key"));

    let by_isbn = findings[2].fix.plan_check.as_ref().unwrap();
    assert_eq!(by_isbn.verdict, Verdict::NeedsIndex, "{by_isbn:#?}");
    let (access, key) = mariadb_explain(&db, "SELECT id FROM books WHERE isbn = 'isbn-1'", "books");
    assert_eq!((access.as_str(), key.as_str()), ("ALL", "NULL"));
    assert_eq!(
        by_isbn.child.as_ref().unwrap().node,
        "ALL (full table scan) on books"
    );
    assert_eq!(
        by_isbn.create_index.as_deref(),
        Some("ALTER TABLE `shop`.`books` ADD INDEX `books_isbn_idx` (`isbn`), ALGORITHM=INPLACE, LOCK=NONE;")
    );
    assert!(
        by_isbn
            .reason
            .contains("no index on shop.books starts with isbn"),
        "{}",
        by_isbn.reason
    );
}

#[test]
fn explain_changes_nothing_and_runs_read_only() {
    let db = shop();
    let before = state(&db);
    let ten = values("", 1..=10);
    let mut findings = vec![
        // A write child is never explained, not even planned.
        finding(
            kinds::n_plus_one_write::KIND,
            "UPDATE books SET title = ? WHERE id = ?",
            keys_of(&ten),
        ),
        // A read that writes through a function: ANALYZE runs it; the read-only guard stops it.
        finding(
            kinds::n_plus_one::KIND,
            "SELECT audited(id) FROM books WHERE id = ?",
            keys_of(&ten),
        ),
    ];
    let options = Options {
        analyze: true,
        ..Options::default()
    };
    check_findings(&dsn(&db, "qc", "qc-secret"), &mut findings, &options, false).unwrap();
    let write = findings[0].fix.plan_check.as_ref().unwrap();
    assert_eq!(write.verdict, Verdict::Skipped);
    assert!(write.reason.contains("never explained"), "{}", write.reason);
    let audited = findings[1].fix.plan_check.as_ref().unwrap();
    assert_eq!(audited.verdict, Verdict::Skipped, "{audited:#?}");
    assert!(
        audited
            .reason
            .contains("Cannot execute statement in a READ ONLY transaction (25006)"),
        "{}",
        audited.reason
    );
    assert_eq!(state(&db), before);
}

#[test]
fn a_read_only_user_is_enough_and_analyze_measures() {
    let db = shop();
    let before = state(&db);
    let authors = values("", 1..=30);
    let mut findings = vec![finding(
        kinds::n_plus_one::KIND,
        "SELECT * FROM books WHERE author_id = ?",
        keys_of(&authors),
    )];
    let options = Options {
        analyze: true,
        ..Options::default()
    };
    let tally = check_findings(
        &dsn(&db, "reader", "reader-secret"),
        &mut findings,
        &options,
        false,
    )
    .unwrap();
    assert_eq!((tally.checked, tally.safe), (1, 1), "{findings:#?}");
    let batched = findings[0]
        .fix
        .plan_check
        .as_ref()
        .unwrap()
        .batched
        .clone()
        .unwrap();
    assert_eq!(batched.actual_rows, Some(3_000), "{batched:?}");
    assert!(batched.actual_us.is_some());
    assert_eq!(state(&db), before);
}

#[test]
fn an_unreachable_server_is_an_error_without_its_password() {
    let mut findings = vec![finding(kinds::n_plus_one::KIND, "SELECT 1", Vec::new())];
    let error = check_findings(
        "mysql://qc:hunter2@127.0.0.1:1/none",
        &mut findings,
        &Options::default(),
        false,
    )
    .unwrap_err();
    assert!(
        error.contains("cannot connect") && !error.contains("hunter2"),
        "{error}"
    );
}

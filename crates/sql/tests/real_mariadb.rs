//! The MySQL-dialect lexing rules the fingerprinter assumes, confirmed by a real MariaDB
//! server: each statement runs, gives the expected answer, and normalises as the rule says.

use querycomb_sql::{Dialect, Fingerprinter};
use querycomb_testkit::{MariaDb, MariaOptions};

#[test]
fn mysql_dialect_assumptions_hold() {
    let server = match MariaDb::start(MariaOptions::default()) {
        Ok(s) => s,
        Err(e) => panic!("cannot start MariaDB: {e}"),
    };
    let cases = [
        // `--` needs a space after it to start a comment: `5--3` is 5 minus -3.
        ("SELECT 5--3", "8", "SELECT ? - ?"),
        ("SELECT 5 -- 3", "5", "SELECT ?"),
        // `#` starts a comment.
        ("SELECT 6 # 3", "6", "SELECT ?"),
        // Double quotes make strings; backslash escapes apply.
        ("SELECT \"bob\"", "bob", "SELECT ?"),
        (
            "SELECT 'it\\'s', \"say \"\"hi\"\"\"",
            "it's\tsay \"hi\"",
            "SELECT ?, ?",
        ),
        // Executable comments are SQL.
        ("SELECT /*! 1 + */ 2", "3", "SELECT ? + ?"),
        ("SELECT /*!50001 10 + */ 2", "12", "SELECT ? + ?"),
        // Block comments do not nest: the first `*/` closes.
        ("SELECT /* a /* b */ 4", "4", "SELECT ?"),
        // Hex and bit literals in both spellings.
        (
            "SELECT 0x41, x'42', b'1000011'",
            "A\tB\tC",
            "SELECT ?, ?, ?",
        ),
        // User variables are names, not placeholders.
        ("SELECT @x := 5, @x", "5\t5", "SELECT @x := ?, @x"),
        // Backticks quote identifiers and keep their case.
        ("SELECT 1 AS `MixedCase`", "1", "SELECT ? AS `MixedCase`"),
        // `LIMIT offset, count`.
        (
            "SELECT 7 FROM DUAL LIMIT 0, 1",
            "7",
            "SELECT ? FROM DUAL LIMIT ?, ?",
        ),
    ];
    let mut fp = Fingerprinter::new(Dialect::MySql);
    for (sql, answer, normalized) in cases {
        let out = match server.client("", sql) {
            Ok(out) => out,
            Err(e) => panic!("{sql}: {e}"),
        };
        assert_eq!(
            out.trim_end_matches('\n'),
            answer,
            "server answer for {sql}"
        );
        assert_eq!(fp.describe(sql).normalized, normalized, "normalised {sql}");
    }
}

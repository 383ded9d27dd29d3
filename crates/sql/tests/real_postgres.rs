//! Rewrites checked on a real PostgreSQL server: the batched statement returns (or writes)
//! exactly what the loop of original statements did.

use querycomb_sql::rewrite::batched;
use querycomb_sql::{Dialect, Fingerprinter};
use querycomb_testkit::{PgOptions, PgServer};

const SCHEMA: &str = "
CREATE TABLE users (id int PRIMARY KEY, name text);
INSERT INTO users VALUES (1, 'ann'), (2, 'bob'), (3, 'cy');
CREATE TABLE comments (id int PRIMARY KEY, post_id int, body text);
INSERT INTO comments VALUES (1, 1, 'a'), (2, 1, 'b'), (3, 2, 'c'), (4, 3, 'd'), (5, 3, 'e'), (6, 3, 'f');
CREATE TABLE addresses (id int PRIMARY KEY, user_id int, created_at int, city text);
INSERT INTO addresses VALUES (1, 1, 10, 'x'), (2, 1, 20, 'y'), (3, 2, 5, 'z'), (4, 3, 7, 'w'), (5, 3, 9, 'v');
CREATE TABLE products_a (id int PRIMARY KEY, stock int, note text);
INSERT INTO products_a VALUES (1, 0, 'p'), (2, 0, 'q'), (3, 0, 'r'), (4, 0, 's');
CREATE TABLE products_b (LIKE products_a);
INSERT INTO products_b SELECT * FROM products_a;
CREATE TABLE items_a (order_id int, sku text);
CREATE TABLE items_b (LIKE items_a);
CREATE TABLE sessions_a (user_id int, token text);
INSERT INTO sessions_a VALUES (1, 't1'), (1, 't2'), (2, 't3'), (3, 't4');
CREATE TABLE sessions_b (LIKE sessions_a);
INSERT INTO sessions_b SELECT * FROM sessions_a;
";

/// Replaces `$n` placeholders with SQL literals (`$10` before `$1`).
fn bind(sql: &str, values: &[String]) -> String {
    let mut out = sql.to_owned();
    for (i, v) in values.iter().enumerate().rev() {
        out = out.replace(&format!("${}", i + 1), v);
    }
    out
}

fn rewritten(sql: &str) -> String {
    let shape = Fingerprinter::new(Dialect::Postgres).describe(sql);
    match batched(&shape) {
        Some(r) => r.sql,
        None => panic!("no rewrite for {sql}"),
    }
}

fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// Equal and not vacuously so.
#[track_caller]
fn assert_same_rows(batch: Vec<String>, looped: Vec<String>) {
    assert!(!looped.is_empty(), "the loop returned nothing to compare");
    assert_eq!(batch, looped);
}

fn array(keys: &[i32]) -> String {
    let items: Vec<String> = keys.iter().map(i32::to_string).collect();
    format!("ARRAY[{}]::int[]", items.join(","))
}

struct Db(PgServer);

impl Db {
    fn run(&self, sql: &str) -> String {
        match self.0.psql("postgres", sql) {
            Ok(out) => out,
            Err(e) => panic!("{sql}: {e}"),
        }
    }

    /// The loop: one execution per key, results concatenated.
    fn per_key(&self, sql: &str, keys: &[i32]) -> Vec<String> {
        let out: String = keys
            .iter()
            .map(|k| self.run(&bind(sql, &[k.to_string()])))
            .collect();
        sorted_lines(&out)
    }
}

#[test]
fn rewrites_match_the_loops_they_replace() {
    let server = match PgServer::start(PgOptions::default()) {
        Ok(s) => s,
        Err(e) => panic!("cannot start PostgreSQL: {e}"),
    };
    let db = Db(server);
    db.run(SCHEMA);
    dialect_assumptions_hold(&db);
    let keys = [1, 2, 3, 4];

    // Rows per key: same rows.
    let original = "SELECT * FROM comments WHERE post_id = $1";
    let batch = db.run(&bind(&rewritten(original), &[array(&keys)]));
    assert_same_rows(sorted_lines(&batch), db.per_key(original, &keys));

    // Lookup by id with a bound LIMIT (Rails find): same rows.
    let original = "SELECT \"users\".* FROM \"users\" WHERE \"users\".\"id\" = $1 LIMIT 1";
    let batch = db.run(&bind(&rewritten(original), &[array(&keys)]));
    assert_same_rows(sorted_lines(&batch), db.per_key(original, &keys));

    // COUNT per key: GROUP BY gives key|count; missing keys are 0.
    let original = "SELECT COUNT(*) FROM comments WHERE post_id = $1";
    let batch = db.run(&bind(&rewritten(original), &[array(&keys)]));
    let counts: Vec<String> = keys
        .iter()
        .map(|k| {
            let found = batch
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{k}|")).map(str::to_owned));
            found.unwrap_or_else(|| "0".to_owned())
        })
        .collect();
    let looped: Vec<String> = keys
        .iter()
        .map(|k| db.run(&bind(original, &[k.to_string()])).trim().to_owned())
        .collect();
    assert_eq!(looped, ["2", "1", "3", "0"]);
    assert_eq!(counts, looped);

    // EXISTS per key: DISTINCT keys are exactly those where the EXISTS is true.
    let original = "SELECT EXISTS(SELECT 1 FROM comments WHERE post_id = $1)";
    let batch = sorted_lines(&db.run(&bind(&rewritten(original), &["1".to_owned(), array(&keys)])));
    let looped: Vec<String> = keys
        .iter()
        .filter(|k| db.run(&bind(original, &[k.to_string()])).trim() == "t")
        .map(i32::to_string)
        .collect();
    assert_same_rows(batch, looped);

    // First row per key (has-one): DISTINCT ON picks the same row.
    let original = "SELECT * FROM addresses WHERE user_id = $1 ORDER BY created_at DESC LIMIT 1";
    let shape = Fingerprinter::new(Dialect::Postgres).describe(original);
    let rewrite = batched(&shape).map(|r| r.sql).unwrap_or_default();
    let batch = db.run(&bind(&rewrite, &[array(&keys)]));
    assert_same_rows(sorted_lines(&batch), db.per_key(original, &keys));

    // Single-row INSERTs: unnest writes the same rows.
    let rows = [(1, "a"), (1, "b"), (2, "c")];
    for (order, sku) in rows {
        db.run(&format!(
            "INSERT INTO items_a (order_id, sku) VALUES ({order}, '{sku}')"
        ));
    }
    let insert = rewritten("INSERT INTO items_b (order_id, sku) VALUES ($1, $2)");
    let orders = array(&rows.map(|r| r.0));
    let skus = format!("ARRAY[{}]", rows.map(|r| format!("'{}'", r.1)).join(","));
    db.run(&bind(&insert, &[orders, skus]));
    assert_same_rows(
        sorted_lines(&db.run("SELECT * FROM items_b")),
        sorted_lines(&db.run("SELECT * FROM items_a")),
    );

    // Per-row UPDATEs with different values: the unnest join writes the same values.
    let updates = [(1, 5), (3, 7), (4, 9)];
    for (id, stock) in updates {
        db.run(&format!(
            "UPDATE products_a SET stock = {stock} WHERE id = {id}"
        ));
    }
    let update = rewritten("UPDATE products_b SET stock = $1 WHERE id = $2");
    db.run(&bind(
        &update,
        &[array(&updates.map(|u| u.1)), array(&updates.map(|u| u.0))],
    ));
    assert_same_rows(
        sorted_lines(&db.run("SELECT * FROM products_b")),
        sorted_lines(&db.run("SELECT * FROM products_a")),
    );

    // DELETE per key.
    for k in [1, 3] {
        db.run(&format!("DELETE FROM sessions_a WHERE user_id = {k}"));
    }
    let delete = rewritten("DELETE FROM sessions_b WHERE user_id = $1");
    db.run(&bind(&delete, &[array(&[1, 3])]));
    assert_same_rows(
        sorted_lines(&db.run("SELECT * FROM sessions_b")),
        sorted_lines(&db.run("SELECT * FROM sessions_a")),
    );
}

/// The PostgreSQL lexing rules the fingerprinter assumes, confirmed by the server: each
/// statement runs, gives the expected answer, and normalises as the rule says.
fn dialect_assumptions_hold(db: &Db) {
    let cases = [
        // `--` starts a comment even right after an operand.
        ("SELECT 5--3", "5", "SELECT $1"),
        // Nested block comments.
        ("SELECT /* a /* b */ c */ 7", "7", "SELECT $1"),
        // `?` after an operand and before a string is the jsonb operator.
        (
            "SELECT '{\"a\":1}'::jsonb ? 'a'",
            "t",
            "SELECT $1::jsonb ? $2",
        ),
        (
            "SELECT '{\"a\":1}'::jsonb ?| ARRAY['a', 'b']",
            "t",
            "SELECT $1::jsonb ?| ARRAY[$2, ...]",
        ),
        // `#` is xor, not a comment; `#>>` a jsonb path operator.
        (
            "SELECT 5 # 3, '{\"a\":{\"b\":2}}'::jsonb #>> '{a,b}'",
            "6|2",
            "SELECT $1 # $2, $3::jsonb #>> $4",
        ),
        // Escapes: doubled quotes, E-strings, dollar quoting with a tag and a `$$` inside.
        (
            "SELECT 'it''s', E'a\\'b', $q$x $$ y$q$",
            "it's|a'b|x $$ y",
            "SELECT $1, $2, $3",
        ),
        // A unary minus after an operator belongs to the number; `=-` splits.
        (
            "SELECT 2*-3, 4 - -1, 1=-1",
            "-6|5|f",
            "SELECT $1 * $2, $3 - $4, $5 = $6",
        ),
        // Numbers in the spellings PostgreSQL 15 has (hex literals arrived in 16).
        (
            "SELECT 1e2, 1.5e-3, .5",
            "100|0.0015|0.5",
            "SELECT $1, $2, $3",
        ),
        // Quoted identifiers keep their case.
        (
            "SELECT 1 AS \"MixedCase\"",
            "1",
            "SELECT $1 AS \"MixedCase\"",
        ),
    ];
    let mut fp = Fingerprinter::new(Dialect::Postgres);
    for (sql, answer, normalized) in cases {
        assert_eq!(db.run(sql).trim(), answer, "server answer for {sql}");
        assert_eq!(fp.describe(sql).normalized, normalized, "normalised {sql}");
    }
}

//! Pseudo-random input never panics, and `scan` and `describe` always agree.
//!
//! A xorshift generator (fixed seeds, so failures reproduce) builds statements from SQL
//! fragments that stress the lexer (unterminated quotes, comments and dollar tags, operators
//! next to placeholders) and from raw bytes made into valid UTF-8.

use querycomb_sql::comment::tags;
use querycomb_sql::rewrite::batched;
use querycomb_sql::{Dialect, Fingerprinter};

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const FRAGMENTS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "IN",
    "(",
    ")",
    "[",
    "]",
    ",",
    ";",
    "ARRAY",
    "VALUES",
    "ANY",
    "::",
    "int",
    "=",
    "-",
    "+",
    "?",
    "?|",
    "?&",
    "#>",
    "#>>",
    "@>",
    "$1",
    "$$",
    "$t$",
    "$",
    ":name",
    ":",
    "%s",
    "%(n)s",
    "%",
    "@p1",
    "@",
    "'",
    "''",
    "'a'",
    "E'",
    "E'\\'",
    "U&'",
    "B'",
    "X'",
    "N'",
    "\"",
    "\"Users\"",
    "`",
    "`t`",
    "\\",
    "--",
    "#",
    "/*",
    "*/",
    "/*!",
    "/*!50001",
    "querycomb:allow",
    "1",
    "-5",
    "1e5",
    "1.5e-3",
    ".5",
    "0x1F",
    "0b",
    "1_0",
    "NULL",
    "TRUE",
    "users_2009",
    "INSERT INTO",
    "t",
    "LIMIT",
    "1",
    "EXISTS",
    "COUNT(*)",
    "WITH",
    "AS",
    "\n",
    " ",
    "\t",
    "é",
    "日本",
    "\u{0}",
    "\u{7f}",
    "/*a='b',c:d*/",
    "traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'",
    "UPDATE",
    "SET",
    "DELETE",
    "GROUP BY",
    "OR",
];

fn fragment_soup(rng: &mut XorShift) -> String {
    let n = rng.below(40);
    let mut s = String::new();
    for _ in 0..n {
        s.push_str(FRAGMENTS[rng.below(FRAGMENTS.len())]);
        if rng.below(3) == 0 {
            s.push(' ');
        }
    }
    s
}

fn byte_soup(rng: &mut XorShift) -> String {
    let n = rng.below(64);
    // Bias towards the ASCII bytes the lexer treats specially.
    let specials: &[u8] = b"'\"`$?:%@#-/*()[],;.\\eEuUbBxXnN0123456789&|<>=!~ \n";
    let bytes: Vec<u8> = (0..n)
        .map(|_| match rng.below(4) {
            0 => specials[rng.below(specials.len())],
            _ => rng.next() as u8,
        })
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn check(fp: &mut Fingerprinter, sql: &str) {
    let scan = fp.scan(sql);
    let shape = fp.describe(sql);
    assert_eq!(
        scan.fingerprint, shape.fingerprint,
        "scan/describe disagree on {sql:?}"
    );
    // Normalising is idempotent in shape: the normalised text has no literals left to remove
    // (only checked where the text has no collapsed-list marker, which is not valid SQL).
    let again = fp.describe(&shape.normalized);
    if !shape.normalized.contains("...") {
        assert_eq!(
            again.normalized,
            fp.describe(&again.normalized).normalized,
            "{sql:?}"
        );
    }
    let _ = batched(&shape);
    let t = tags(sql);
    let _ = (t.trace_id(), t.route(), t.is_empty(), t.iter().count());
}

#[test]
fn random_fragments_never_panic() {
    for (seed, dialect) in [
        (0x9e37_79b9_7f4a_7c15u64, Dialect::Postgres),
        (0xdead_beef_cafe_f00d, Dialect::MySql),
    ] {
        let mut rng = XorShift(seed);
        let mut fp = Fingerprinter::new(dialect);
        for _ in 0..4000 {
            check(&mut fp, &fragment_soup(&mut rng));
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    for (seed, dialect) in [
        (0x1234_5678_9abc_def1u64, Dialect::Postgres),
        (0x0fed_cba9_8765_4321, Dialect::MySql),
    ] {
        let mut rng = XorShift(seed);
        let mut fp = Fingerprinter::new(dialect);
        for _ in 0..4000 {
            check(&mut fp, &byte_soup(&mut rng));
        }
    }
}

#[test]
fn every_prefix_of_tricky_statements() {
    let statements = [
        "SELECT $tag$ it's $$ -- $tag$, E'a\\'b', U&'x', \"Q\"\"x\" FROM t /* a /* b */ c */ WHERE x IN (1, -2, '3'::int) AND d ?| ARRAY['a'] -- end",
        "INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y') ON CONFLICT (a) DO UPDATE SET b = EXCLUDED.b RETURNING id; /*traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/",
        "SELECT /*! STRAIGHT_JOIN */ `a` FROM t WHERE s = \"x\\\"y\" AND n IN (?, ?) # tail",
        "WITH x AS (SELECT COUNT(*) FROM c WHERE p = :p) SELECT EXISTS(SELECT 1 FROM x WHERE %(k)s = @p1 LIMIT 1)",
    ];
    for dialect in [Dialect::Postgres, Dialect::MySql] {
        let mut fp = Fingerprinter::new(dialect);
        for sql in statements {
            for end in (0..=sql.len()).filter(|&e| sql.is_char_boundary(e)) {
                check(&mut fp, &sql[..end]);
                check(&mut fp, &sql[end..]);
            }
        }
    }
}

#[test]
fn deep_nesting_is_bounded() {
    let mut fp = Fingerprinter::new(Dialect::Postgres);
    let deep_values = "INSERT INTO t VALUES (".repeat(2000) + &")".repeat(2000);
    let deep_tuple = format!(
        "SELECT * FROM t WHERE x IN {}1{}",
        "(".repeat(5000),
        ")".repeat(5000)
    );
    let deep_array = format!("SELECT {}1{}", "ARRAY[".repeat(3000), "]".repeat(3000));
    for sql in [deep_values, deep_tuple, deep_array] {
        check(&mut fp, &sql);
    }
}

#[test]
fn huge_lists_and_statements() {
    let mut fp = Fingerprinter::new(Dialect::Postgres);
    let ids: Vec<String> = (0..100_000).map(|i| i.to_string()).collect();
    let sql = format!("SELECT * FROM t WHERE id IN ({})", ids.join(","));
    assert_eq!(fp.scan(&sql).max_list, 100_000);
    check(&mut fp, &sql);
    // Shapes that made fact extraction quadratic once: many comparisons, many FROMs. (Their
    // speed is the fingerprint benchmark's to watch; tests assert no timing.)
    let comparisons = format!("SELECT * FROM t WHERE {}", "a = 1 AND ".repeat(20_000));
    let froms = format!("SELECT extract({}", "x FROM y, ".repeat(20_000));
    for sql in [comparisons, froms] {
        check(&mut fp, &sql);
    }
}

#[test]
fn multi_megabyte_statement() {
    // Distinct names so nothing collapses: the normalised text stays as long as the input.
    let columns: String = (0..400_000).map(|i| format!("c{i}, ")).collect();
    let sql = format!("SELECT {columns}x FROM t WHERE id = 1 LIMIT 1");
    assert!(sql.len() > 3_000_000);
    let mut fp = Fingerprinter::new(Dialect::Postgres);
    let shape = fp.describe(&sql);
    assert_eq!(fp.scan(&sql).fingerprint, shape.fingerprint);
    assert_eq!(shape.verb, querycomb_sql::Verb::Select);
    assert!(
        shape.limit_one,
        "read from the statement itself, not the capped window"
    );
    assert!(
        batched(&shape).is_none(),
        "no rewrite past the facts window"
    );
}

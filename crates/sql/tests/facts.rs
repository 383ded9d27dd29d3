//! Facts read from a shape: verb, tables, aggregate, filter columns, LIMIT 1.

use querycomb_sql::{Dialect, Fingerprinter, Shape, Verb};

fn pg(sql: &str) -> Shape {
    Fingerprinter::new(Dialect::Postgres).describe(sql)
}

fn my(sql: &str) -> Shape {
    Fingerprinter::new(Dialect::MySql).describe(sql)
}

#[test]
fn verbs() {
    let cases = [
        ("SELECT 1", Verb::Select),
        ("(SELECT 1) UNION (SELECT 2)", Verb::Select),
        ("insert into t values (1)", Verb::Insert),
        ("REPLACE INTO t VALUES (1)", Verb::Insert),
        ("UPDATE t SET a = 1", Verb::Update),
        ("DELETE FROM t", Verb::Delete),
        (
            "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE",
            Verb::Merge,
        ),
        ("BEGIN", Verb::Begin),
        ("START TRANSACTION", Verb::Begin),
        ("COMMIT", Verb::Commit),
        ("ROLLBACK", Verb::Rollback),
        ("SAVEPOINT s1", Verb::Savepoint),
        ("RELEASE SAVEPOINT s1", Verb::Release),
        ("PREPARE p AS SELECT 1", Verb::Prepare),
        ("EXECUTE p(1)", Verb::Execute),
        ("DEALLOCATE ALL", Verb::Deallocate),
        ("DECLARE c CURSOR FOR SELECT 1", Verb::Declare),
        ("FETCH 100 FROM c", Verb::Fetch),
        ("CLOSE c", Verb::Close),
        ("SET search_path TO public", Verb::Set),
        ("SHOW work_mem", Verb::Show),
        ("COPY t FROM STDIN", Verb::Copy),
        ("CALL p(1)", Verb::Call),
        ("VACUUM t", Verb::Other),
        ("", Verb::Other),
        ("WITH x AS (SELECT 1) SELECT * FROM x", Verb::Select),
        (
            "WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM x) SELECT * FROM x",
            Verb::Select,
        ),
        (
            "WITH moved AS (DELETE FROM a RETURNING *) INSERT INTO b SELECT * FROM moved",
            Verb::Insert,
        ),
        (
            "WITH x AS MATERIALIZED (SELECT 1) UPDATE t SET a = 1",
            Verb::Update,
        ),
    ];
    for (sql, verb) in cases {
        assert_eq!(pg(sql).verb, verb, "{sql}");
    }
    assert!(Verb::Insert.is_write() && Verb::Merge.is_write() && !Verb::Select.is_write());
    assert!(Verb::Savepoint.is_transaction_control() && Verb::Begin.is_transaction_control());
    assert!(!Verb::Fetch.is_transaction_control() && !Verb::Deallocate.is_transaction_control());
}

#[test]
fn tables() {
    assert_eq!(
        pg("SELECT * FROM \"shop_order\" INNER JOIN \"customer\" ON x = y").tables,
        ["shop_order", "customer"]
    );
    assert_eq!(
        pg("SELECT * FROM public.orders o, items AS i WHERE o.id = i.order_id").tables,
        ["public.orders", "items"]
    );
    assert_eq!(pg("INSERT INTO t (a) VALUES (1)").tables, ["t"]);
    assert_eq!(
        pg("UPDATE ONLY t SET a = 1 FROM u WHERE t.id = u.id").tables,
        ["t", "u"]
    );
    assert_eq!(
        pg("DELETE FROM t WHERE id IN (SELECT id FROM u)").tables,
        ["t", "u"]
    );
    assert_eq!(
        pg("SELECT * FROM t WHERE id = 1 FOR UPDATE SKIP LOCKED").tables,
        ["t"]
    );
    assert_eq!(
        pg("SELECT extract(epoch FROM created_at) FROM t").tables,
        ["t"]
    );
    assert_eq!(
        pg("SELECT * FROM t WHERE a IS DISTINCT FROM b").tables,
        ["t"]
    );
    assert_eq!(
        pg("WITH x AS (SELECT * FROM a) SELECT * FROM x JOIN b ON true").tables,
        ["a", "b"]
    );
    assert_eq!(
        pg("SELECT * FROM unnest($1) AS u(id)").tables,
        Vec::<String>::new()
    );
    assert_eq!(
        pg("SELECT * FROM t AS a JOIN t AS b ON a.p = b.id").tables,
        ["t"]
    );
    assert_eq!(
        my("SELECT * FROM `Posts` AS `Post` WHERE `Post`.`authorId` = 1").tables,
        ["Posts"]
    );
    assert_eq!(
        my("INSERT INTO t (a) VALUES (1) ON DUPLICATE KEY UPDATE a = 2").tables,
        ["t"]
    );
    assert_eq!(
        pg("INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = 2").tables,
        ["t"]
    );
}

/// `(alias, table)` pairs: Hibernate's generated aliases, `AS`, quoted, joins, schema-qualified
/// tables; join keywords, `SET` and `FOR UPDATE` are not aliases.
#[test]
fn aliases() {
    let pairs = |shape: Shape| -> Vec<(String, String)> { shape.aliases };
    let owned = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, t)| (a.to_string(), t.to_string()))
            .collect()
    };
    assert_eq!(
        pairs(pg("SELECT tags0_.book_id AS book1_1_1_, tag1_.id AS id2_0_ FROM book_tags tags0_ INNER JOIN tags tag1_ ON tags0_.tag_id = tag1_.id WHERE tags0_.book_id = $1")),
        owned(&[("tags0_", "book_tags"), ("tag1_", "tags")])
    );
    assert_eq!(
        pairs(pg(
            "SELECT * FROM public.orders o, items AS i LEFT JOIN \"Users\" \"U\" ON true"
        )),
        owned(&[("o", "public.orders"), ("i", "items"), ("U", "Users")])
    );
    assert_eq!(
        pairs(pg(
            "SELECT * FROM books INNER JOIN authors ON books.author_id = authors.id"
        )),
        owned(&[])
    );
    assert_eq!(pairs(pg("UPDATE t SET a = 1 WHERE id = $1")), owned(&[]));
    assert_eq!(
        pairs(pg("SELECT * FROM t WHERE id = $1 FOR UPDATE")),
        owned(&[])
    );
    assert_eq!(
        pairs(pg(
            "WITH x AS (SELECT 1) SELECT * FROM x y JOIN unnest($1) AS u(id) ON true"
        )),
        owned(&[])
    );
}

#[test]
fn aggregates() {
    assert!(pg("SELECT COUNT(*) FROM comments WHERE post_id = 1").aggregate);
    assert!(
        pg("SELECT COUNT(*) AS \"__count\" FROM \"comments\" WHERE \"comments\".\"post_id\" = 1")
            .aggregate
    );
    assert!(pg("SELECT SUM(total), MAX(created_at) FROM orders WHERE customer_id = $1").aggregate);
    assert!(pg("SELECT EXISTS(SELECT 1 FROM comments WHERE post_id = $1) AS \"exists\"").aggregate);
    assert!(
        pg("SELECT 1 AS one FROM comments WHERE post_id = $1 LIMIT 1").aggregate,
        "existence probe"
    );
    assert!(my("SELECT COUNT(*) FROM comments WHERE post_id = ?").aggregate);
    assert!(!pg("SELECT post_id, COUNT(*) FROM comments GROUP BY post_id").aggregate);
    assert!(!pg("SELECT * FROM comments WHERE post_id = 1").aggregate);
    assert!(!pg("SELECT COUNT(*) + 1 FROM comments").aggregate);
    assert!(
        !pg("SELECT 1 AS one FROM comments WHERE post_id = $1").aggregate,
        "no LIMIT 1"
    );
    assert!(!pg("SELECT 1").aggregate);
    assert!(!pg("UPDATE t SET n = (SELECT COUNT(*) FROM u)").aggregate);
}

#[test]
fn filter_columns() {
    assert_eq!(
        pg("SELECT * FROM orders WHERE customer_id = $1 LIMIT $2").filter_columns,
        ["customer_id"]
    );
    assert_eq!(
        pg("SELECT * FROM \"orders\" WHERE (\"orders\".\"customer_id\" = 5 AND NOT archived)")
            .filter_columns,
        ["customer_id"]
    );
    assert_eq!(
        pg("SELECT * FROM t WHERE a = 1 AND b = $2 AND c > 3 AND d IN (1, 2) AND e = f")
            .filter_columns,
        ["a", "b"]
    );
    assert_eq!(pg("SELECT * FROM t WHERE $1 = a").filter_columns, ["a"]);
    assert_eq!(
        pg("SELECT * FROM t WHERE $1::INTEGER = t.a").filter_columns,
        ["a"]
    );
    assert_eq!(
        pg("UPDATE t SET a = $1 WHERE id = $2").filter_columns,
        ["id"]
    );
    assert_eq!(
        pg("SELECT * FROM t JOIN u ON u.id = 5 WHERE t.x = 1 ORDER BY y = 2").filter_columns,
        ["x"]
    );
    assert_eq!(
        my("SELECT * FROM t WHERE `t`.`user_id` = ?").filter_columns,
        ["user_id"]
    );
    assert_eq!(
        pg("SELECT EXISTS(SELECT 1 FROM c WHERE post_id = $1)").filter_columns,
        ["post_id"]
    );
    assert!(pg("SELECT * FROM t").filter_columns.is_empty());
    // No parameter in a WHERE clause: an inner join's condition filters.
    assert_eq!(
        pg("SELECT * FROM t INNER JOIN j ON t.id = j.t_id AND j.k_id = $1").filter_columns,
        ["k_id"]
    );
    assert!(
        pg("SELECT * FROM t LEFT JOIN j ON t.id = j.t_id AND j.k_id = $1")
            .filter_columns
            .is_empty()
    );
}

#[test]
fn limit_one() {
    assert!(pg("SELECT * FROM t WHERE id = $1 LIMIT 1").limit_one);
    assert!(my("SELECT * FROM t WHERE id = ? LIMIT 0, 1").limit_one);
    assert!(pg("SELECT * FROM t FETCH FIRST 1 ROWS ONLY").limit_one);
    assert!(pg("SELECT * FROM t FETCH FIRST ROW ONLY").limit_one);
    assert!(!pg("SELECT * FROM t LIMIT 21").limit_one);
    assert!(!pg("SELECT * FROM t LIMIT $1").limit_one);
    assert!(!pg("SELECT * FROM t WHERE id IN (SELECT id FROM u LIMIT 1)").limit_one);
}

#[test]
fn existence_probes() {
    assert!(
        pg("SELECT 1 AS one FROM \"comments\" WHERE \"comments\".\"post_id\" = $1 LIMIT $2")
            .aggregate,
        "Rails exists?"
    );
    assert!(pg("SELECT 1 AS \"a\" FROM \"blog_comment\" WHERE \"blog_comment\".\"post_id\" = 5 LIMIT 1").aggregate, "Django exists()");
    assert!(
        !pg("SELECT 1 AS one FROM comments WHERE post_id = $1").aggregate,
        "no LIMIT: returns every row"
    );
}

#[test]
fn row_locks() {
    for sql in [
        "SELECT * FROM t WHERE id = $1 LIMIT 1 FOR UPDATE",
        "SELECT * FROM t WHERE id = $1 FOR NO KEY UPDATE SKIP LOCKED",
        "SELECT * FROM t WHERE id = $1 FOR SHARE",
        "SELECT * FROM t WHERE id = $1 FOR KEY SHARE NOWAIT",
    ] {
        assert!(pg(sql).locks_rows(), "{sql}");
    }
    assert!(my("SELECT * FROM t WHERE id = ? LOCK IN SHARE MODE").locks_rows());
    for sql in [
        "SELECT * FROM t WHERE id = $1",
        "UPDATE t SET a = 1 WHERE id = $1",
        "INSERT INTO t (a) VALUES ($1) ON CONFLICT (a) DO UPDATE SET a = EXCLUDED.a",
        "SELECT substring(name FROM 1 FOR 3) FROM t",
    ] {
        assert!(!pg(sql).locks_rows(), "{sql}");
    }
}

#[test]
fn select_lists() {
    let cases: [(&str, &[&str]); 6] = [
        (
            r#"SELECT "t"."id", "t"."parent_id" FROM "t" WHERE "t"."id" = $1 LIMIT $2"#,
            &[r#""t"."id""#, r#""t"."parent_id""#],
        ),
        (
            r#"SELECT DISTINCT COUNT(*) AS "__count", max(a, b) FROM t"#,
            &[r#"COUNT(*) AS "__count""#, "MAX(a, b)"],
        ),
        (
            "WITH x AS (SELECT a FROM s) SELECT b, c FROM x",
            &["b", "c"],
        ),
        ("SELECT now()", &["NOW()"]),
        ("UPDATE t SET a = $1 WHERE id = $2", &[]),
        ("INSERT INTO t (a) SELECT a FROM s", &[]),
    ];
    for (sql, list) in cases {
        assert_eq!(pg(sql).select_list(), list, "{sql}");
    }
}

#[test]
fn forms() {
    let by_key = |table: &str, columns: &[&str]| {
        let list: Vec<String> = columns
            .iter()
            .map(|c| format!(r#""{table}"."{c}""#))
            .collect();
        pg(&format!(
            r#"SELECT {} FROM "{table}" WHERE "{table}"."id" = $1 LIMIT $2"#,
            list.join(", ")
        ))
        .form()
    };
    let narrow = by_key("al_node", &["id", "parent_id"]);
    assert_eq!(narrow, "SELECT … FROM ? WHERE ? . ? = $ LIMIT $");
    assert_eq!(
        narrow,
        by_key("mp_node", &["id", "path", "depth", "numchild"])
    );
    assert_ne!(
        narrow,
        pg(r#"SELECT "t"."id" FROM "t" WHERE ("t"."depth" = $1 AND "t"."path" BETWEEN $2 AND $3)"#)
            .form()
    );
    assert_eq!(
        pg("UPDATE t SET a = $1 WHERE id = $2").form(),
        "UPDATE ? SET ? = $ WHERE ? = $"
    );
    assert_eq!(
        pg("SELECT COUNT(*) FROM t WHERE nlevel(path) = $1").form(),
        "SELECT … FROM ? WHERE ? ( ? ) = $"
    );
}

#[test]
fn keyset_pages_are_paging_within_a_filter_too() {
    // Rails' `find_each` on a scope: the first page, then a cursor on the ordered key.
    let next = pg("SELECT \"orders\".* FROM \"orders\" WHERE \"orders\".\"status\" = $1 AND \"orders\".\"id\" > $2 ORDER BY \"orders\".\"id\" ASC LIMIT $3");
    assert!(next.keyset_cursor);
    assert!(next.is_paging());
    for paging in [
        "SELECT * FROM t WHERE id > $1 ORDER BY id LIMIT 50",
        "SELECT * FROM t WHERE tenant = $1 AND created_at <= $2 ORDER BY created_at DESC LIMIT 20",
        "SELECT * FROM t WHERE tenant = $1 AND $2 < t.id ORDER BY t.id LIMIT 20",
        "SELECT * FROM t WHERE tenant = 7 AND id >= 100 ORDER BY id LIMIT 20",
        // Django puts the conditions in parentheses.
        "SELECT \"o\".\"id\" FROM \"o\" WHERE (\"o\".\"status\" = $1 AND \"o\".\"id\" > $2) ORDER BY \"o\".\"id\" ASC LIMIT 50",
        "SELECT * FROM t WHERE tenant = $1 ORDER BY id LIMIT 20 OFFSET 40",
    ] {
        assert!(pg(paging).is_paging(), "{paging}");
    }
    for lookup in [
        // A child per parent: an equality filter, no cursor on the ordered key.
        "SELECT * FROM comments WHERE post_id = $1 ORDER BY id DESC LIMIT 3",
        // A range on another column than the order: a filter, not a cursor.
        "SELECT * FROM comments WHERE post_id = $1 AND score > $2 ORDER BY id LIMIT 3",
        // A cursor without a LIMIT reads to the end: no page.
        "SELECT * FROM comments WHERE post_id = $1 AND id > $2 ORDER BY id",
        // The range inside a subquery is not the main statement's cursor.
        "SELECT * FROM c WHERE post_id = $1 AND id IN (SELECT id FROM d WHERE id > $2 ORDER BY id LIMIT 5) ORDER BY id LIMIT 3",
        "SELECT * FROM customers WHERE id = $1 LIMIT 1",
    ] {
        assert!(!pg(lookup).is_paging(), "{lookup}");
    }
    assert!(
        !pg("SELECT * FROM comments WHERE post_id = $1 AND score > $2 ORDER BY id LIMIT 3")
            .keyset_cursor
    );
}

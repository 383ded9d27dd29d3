//! Batched rewrites for the loops detectors find.

use querycomb_sql::rewrite::batched;
use querycomb_sql::{Dialect, Fingerprinter};

fn rewrite(d: Dialect, sql: &str) -> Option<String> {
    batched(&Fingerprinter::new(d).describe(sql)).map(|r| {
        assert!(!r.explanation.is_empty());
        r.sql
    })
}

fn pg(sql: &str) -> Option<String> {
    rewrite(Dialect::Postgres, sql)
}

fn my(sql: &str) -> Option<String> {
    rewrite(Dialect::MySql, sql)
}

#[test]
fn select_by_key() {
    assert_eq!(
        pg("SELECT * FROM orders WHERE customer_id = $1").as_deref(),
        Some("SELECT * FROM orders WHERE customer_id = ANY($1)")
    );
    assert_eq!(
        my("SELECT * FROM orders WHERE customer_id = ?").as_deref(),
        Some("SELECT * FROM orders WHERE customer_id IN (?, ...)")
    );
    assert_eq!(
        pg("SELECT \"comments\".* FROM \"comments\" WHERE \"comments\".\"post_id\" = $1 AND \"comments\".\"deleted_at\" IS NULL ORDER BY \"comments\".\"created_at\" ASC").as_deref(),
        Some("SELECT \"comments\".* FROM \"comments\" WHERE \"comments\".\"post_id\" = ANY($1) AND \"comments\".\"deleted_at\" IS NULL ORDER BY \"comments\".\"created_at\" ASC")
    );
    // Diesel groups each filter in parentheses.
    assert_eq!(
        pg(r#"SELECT "books"."id", "books"."author_id" FROM "books" WHERE ("books"."author_id" = $1) ORDER BY "books"."id""#).as_deref(),
        Some(r#"SELECT "books"."id", "books"."author_id" FROM "books" WHERE ("books"."author_id" = ANY($1)) ORDER BY "books"."id""#)
    );
    assert_eq!(
        pg(r#"SELECT "books"."id" FROM "books" WHERE (("books"."author_id" = $1) AND ("books"."title" IS NOT NULL))"#).as_deref(),
        Some(r#"SELECT "books"."author_id", "books"."id" FROM "books" WHERE (("books"."author_id" = ANY($1)) AND ("books"."title" IS NOT NULL))"#)
    );
    // A group holding an OR, a negated one, or a function's arguments is not a conjunct.
    assert_eq!(
        pg("SELECT * FROM books WHERE (author_id = $1 OR editor_id = $2)"),
        None
    );
    assert_eq!(pg("SELECT * FROM books WHERE NOT (author_id = $1)"), None);
    assert_eq!(
        pg("SELECT * FROM books WHERE coalesce(author_id = $1, false)"),
        None
    );
    // The key column is added to the select list so rows can be matched back to keys.
    assert_eq!(
        pg("SELECT name, email FROM users WHERE team_id = 5").as_deref(),
        Some("SELECT team_id, name, email FROM users WHERE team_id = ANY($1)")
    );
    // A lookup by id with LIMIT 1 drops the LIMIT: one row per id anyway.
    assert_eq!(
        pg("SELECT * FROM users WHERE id = 5 LIMIT 1").as_deref(),
        Some("SELECT * FROM users WHERE id = ANY($1)")
    );
    // Two equality filters: the *_id one is the loop key.
    assert_eq!(
        pg("SELECT * FROM items WHERE order_id = $1 AND status = $2").as_deref(),
        Some("SELECT * FROM items WHERE order_id = ANY($1) AND status = $2")
    ); // A cast on the key (SQLAlchemy 2 with psycopg 3) becomes the array's cast.
    assert_eq!(
        pg("SELECT authors.id AS authors_id FROM authors WHERE authors.id = $1::INTEGER")
            .as_deref(),
        Some("SELECT authors.id AS authors_id FROM authors WHERE authors.id = ANY($1::INTEGER[])")
    );
}

#[test]
fn grouping_parentheses_around_the_key() {
    // TypeORM 0.3's findOneBy / findBy.
    assert_eq!(
        pg(r#"SELECT "Author"."id" AS "Author_id" FROM "author" "Author" WHERE (("Author"."id" = $1)) LIMIT $2"#).as_deref(),
        Some(r#"SELECT "Author"."id" AS "Author_id" FROM "author" "Author" WHERE (("Author"."id" = ANY($1)))"#)
    );
    assert_eq!(
        pg(
            r#"SELECT "Book"."id" AS "Book_id" FROM "book" "Book" WHERE (("Book"."authorId" = $1))"#
        )
        .as_deref(),
        Some(
            r#"SELECT "Book"."authorId", "Book"."id" AS "Book_id" FROM "book" "Book" WHERE (("Book"."authorId" = ANY($1)))"#
        )
    );
    // An OR beside the key, in its group or outside, still makes it unsure.
    assert_eq!(pg("SELECT * FROM t WHERE (post_id = $1 OR b = $2)"), None);
    assert_eq!(pg("SELECT * FROM t WHERE (post_id = $1) OR b = $2"), None);
    // A group with an OR beside a plain conjunct keeps the conjunct as the key.
    assert_eq!(
        pg("SELECT * FROM t WHERE post_id = $1 AND (b = $2 OR c = $3)").as_deref(),
        Some("SELECT * FROM t WHERE post_id = ANY($1) AND (b = $2 OR c = $3)")
    );
    // Not a grouping: a comparison inside a call or a subquery.
    assert_eq!(
        pg("SELECT * FROM t WHERE x IN (SELECT y FROM u WHERE u.post_id = $1)"),
        None
    );
}

#[test]
fn select_unsure_is_none() {
    assert_eq!(pg("SELECT * FROM t WHERE a = $1 OR b = $2"), None);
    assert_eq!(
        pg("SELECT * FROM t WHERE tenant_id = $1 AND post_id = $2"),
        None,
        "two candidate keys"
    );
    assert_eq!(
        pg("SELECT * FROM t WHERE post_id = $1 LIMIT 10"),
        None,
        "LIMIT per key"
    );
    assert_eq!(
        pg("SELECT * FROM t WHERE post_id = $1 LIMIT 1 FOR UPDATE"),
        None,
        "locking first row per key"
    );
    assert_eq!(pg("SELECT * FROM t"), None);
    assert_eq!(pg("SELECT * FROM t WHERE id > $1"), None);
    // A loop of lists (TypeORM's relation loader binds `IN ($1)` per row; the normalised
    // text cannot tell one key from many) is one list of every execution's keys.
    assert_eq!(
        pg("SELECT * FROM t WHERE id IN (1, 2)").as_deref(),
        Some("SELECT * FROM t WHERE id = ANY($1)")
    );
    assert_eq!(pg("BEGIN"), None);
}

#[test]
fn count_per_key_becomes_group_by() {
    assert_eq!(
        pg("SELECT COUNT(*) FROM comments WHERE post_id = $1").as_deref(),
        Some("SELECT post_id, COUNT(*) FROM comments WHERE post_id = ANY($1) GROUP BY post_id")
    );
    assert_eq!(
        pg("SELECT COUNT(*) AS \"__count\" FROM \"blog_comment\" WHERE \"blog_comment\".\"post_id\" = 99").as_deref(),
        Some("SELECT \"blog_comment\".\"post_id\", COUNT(*) AS \"__count\" FROM \"blog_comment\" WHERE \"blog_comment\".\"post_id\" = ANY($1) GROUP BY \"blog_comment\".\"post_id\"")
    );
    assert_eq!(
        my("SELECT SUM(total) FROM orders WHERE customer_id = ?").as_deref(),
        Some("SELECT customer_id, SUM(total) FROM orders WHERE customer_id IN (?, ...) GROUP BY customer_id")
    );
    assert_eq!(
        pg("SELECT COUNT(*) FROM c WHERE post_id = $1 GROUP BY kind"),
        None
    );
}

#[test]
fn exists_per_key_becomes_distinct_keys() {
    assert_eq!(
        pg("SELECT EXISTS(SELECT 1 FROM comments WHERE post_id = $1 LIMIT 1) AS \"exists\"")
            .as_deref(),
        Some("SELECT DISTINCT post_id FROM comments WHERE post_id = ANY($2)")
    );
    assert_eq!(
        pg("SELECT 1 AS one FROM \"comments\" WHERE \"comments\".\"post_id\" = $1 LIMIT 1").as_deref(),
        Some("SELECT DISTINCT \"comments\".\"post_id\" FROM \"comments\" WHERE \"comments\".\"post_id\" = ANY($2)")
    );
    assert_eq!(
        my("SELECT 1 AS one FROM comments WHERE post_id = ? LIMIT 1").as_deref(),
        Some("SELECT DISTINCT post_id FROM comments WHERE post_id IN (?, ...)")
    );
}

#[test]
fn single_row_insert_becomes_one_insert() {
    assert_eq!(
        pg("INSERT INTO line_items (order_id, sku) VALUES ($1, $2) RETURNING id").as_deref(),
        Some("INSERT INTO line_items (order_id, sku) SELECT * FROM unnest($1, $2) RETURNING id")
    );
    assert_eq!(
        pg("INSERT INTO t (a, created_at) VALUES (1, now())").as_deref(),
        Some("INSERT INTO t (a, created_at) VALUES ($1, NOW()), ($2, NOW()), ...")
    );
    assert_eq!(
        my("INSERT INTO t (a, b) VALUES (?, ?) ON DUPLICATE KEY UPDATE b = VALUES(b)").as_deref(),
        Some("INSERT INTO t (a, b) VALUES (?, ?), (?, ?), ... ON DUPLICATE KEY UPDATE b = VALUES (b)")
    );
    assert_eq!(pg("INSERT INTO t (a) SELECT a FROM u WHERE id = $1"), None);
    assert_eq!(pg("INSERT INTO t DEFAULT VALUES"), None);
}

#[test]
fn update_and_delete_by_key() {
    assert_eq!(
        pg("DELETE FROM sessions WHERE user_id = $1").as_deref(),
        Some("DELETE FROM sessions WHERE user_id = ANY($1)")
    );
    assert_eq!(
        pg("UPDATE items SET seen = true WHERE id = 7").as_deref(),
        Some("UPDATE items SET seen = v.seen FROM unnest($1, $2) AS v(seen, id) WHERE items.id = v.id")
    );
    assert_eq!(
        pg("UPDATE \"shop_product\" SET \"stock\" = $1, \"updated_at\" = $2 WHERE \"shop_product\".\"id\" = $3").as_deref(),
        Some("UPDATE \"shop_product\" SET \"stock\" = v.\"stock\", \"updated_at\" = v.\"updated_at\" FROM unnest($1, $2, $3) AS v(\"stock\", \"updated_at\", \"id\") WHERE \"shop_product\".\"id\" = v.\"id\"")
    );
    assert_eq!(
        pg("UPDATE items AS i SET n = n + 1 WHERE i.id = $1").as_deref(),
        Some("UPDATE items AS i SET n = n + $1 WHERE i.id = ANY($2)"),
        "not plain `col = $n`: the ANY form"
    );
    assert_eq!(
        pg("UPDATE items i SET a = $1 WHERE i.id = $2").as_deref(),
        Some("UPDATE items AS i SET a = v.a FROM unnest($1, $2) AS v(a, id) WHERE i.id = v.id")
    );
    assert_eq!(
        my("UPDATE items SET seen = 1 WHERE id = ?").as_deref(),
        Some("UPDATE items SET seen = ? WHERE id IN (?, ...)")
    );
    assert_eq!(my("DELETE FROM t WHERE id = ? LIMIT 1"), None);
    let r =
        batched(&Fingerprinter::new(Dialect::MySql).describe("UPDATE t SET a = ? WHERE id = ?"))
            .map(|r| r.explanation);
    assert!(r.is_some_and(|e| e.contains("same SET values")));
}

#[test]
fn orm_lookups_with_bound_limits() {
    // Rails `find`/belongs_to binds the limit; Django `get` writes LIMIT 21: by id, the LIMIT goes.
    assert_eq!(
        pg("SELECT \"users\".* FROM \"users\" WHERE \"users\".\"id\" = $1 LIMIT $2").as_deref(),
        Some("SELECT \"users\".* FROM \"users\" WHERE \"users\".\"id\" = ANY($1)")
    );
    assert_eq!(
        pg("SELECT * FROM users WHERE id = 5 LIMIT 21").as_deref(),
        Some("SELECT * FROM users WHERE id = ANY($1)")
    );
    assert_eq!(pg("SELECT * FROM t WHERE id = $1 LIMIT 10 OFFSET 5"), None);
    assert_eq!(pg("SELECT * FROM t WHERE email = $1 LIMIT $2"), None);
    // Rails `exists?`: the limit is a bind parameter too.
    assert_eq!(
        pg("SELECT 1 AS one FROM \"comments\" WHERE \"comments\".\"post_id\" = $1 LIMIT $2").as_deref(),
        Some("SELECT DISTINCT \"comments\".\"post_id\" FROM \"comments\" WHERE \"comments\".\"post_id\" = ANY($2)")
    );
}

#[test]
fn first_row_per_key_uses_distinct_on() {
    assert_eq!(
        pg("SELECT * FROM addresses WHERE user_id = $1 ORDER BY created_at DESC LIMIT 1").as_deref(),
        Some("SELECT DISTINCT ON (user_id) * FROM addresses WHERE user_id = ANY($1) ORDER BY user_id, created_at DESC")
    );
    assert_eq!(
        pg("SELECT a.* FROM addresses a WHERE a.user_id = 9 LIMIT 1").as_deref(),
        Some("SELECT DISTINCT ON (a.user_id) a.* FROM addresses a WHERE a.user_id = ANY($1) ORDER BY a.user_id")
    );
    assert_eq!(
        pg("SELECT * FROM addresses WHERE user_id = $1 LIMIT $2"),
        None,
        "bound limit: maybe top-N"
    );
    assert_eq!(
        pg("SELECT * FROM addresses WHERE user_id = $1 LIMIT 3"),
        None,
        "top-N per key"
    );
    assert_eq!(
        my("SELECT * FROM addresses WHERE user_id = ? LIMIT 1"),
        None
    );
}

#[test]
fn camel_case_keys() {
    assert_eq!(
        my("SELECT `id`, `title` FROM `Posts` AS `Post` WHERE `Post`.`authorId` = ? AND `Post`.`published` = true").as_deref(),
        Some("SELECT `Post`.`authorId`, `id`, `title` FROM `Posts` AS `Post` WHERE `Post`.`authorId` IN (?, ...) AND `Post`.`published` = ?")
    );
    assert_eq!(
        my("SELECT * FROM t WHERE paid = ? AND valid = ?"),
        None,
        "no key-like column"
    );
}

#[test]
fn ansi_shapes_keep_quoted_identifiers_and_batch_with_in_lists() {
    // SQLite / SQL Server / Oracle: `"x"` is an identifier (a string in MySQL) and there is
    // no array parameter: the batch is an IN list of placeholders.
    assert_eq!(
        rewrite(
            Dialect::Ansi,
            r#"SELECT "id", "title" FROM "books" WHERE "author_id" = ?"#
        )
        .as_deref(),
        Some(r#"SELECT "author_id", "id", "title" FROM "books" WHERE "author_id" IN (?, ...)"#)
    );
    assert_eq!(
        rewrite(Dialect::Ansi, "SELECT name FROM users WHERE id = @p1").as_deref(),
        Some("SELECT id, name FROM users WHERE id IN (?, ...)")
    );
}

/// An inner join's ON condition filters like the WHERE clause: a key there (with no
/// parameter in the WHERE clause) batches; an outer join's condition never does.
#[test]
fn key_in_an_inner_join_condition() {
    assert_eq!(
        pg("SELECT t.id, j.k_id FROM t INNER JOIN j ON t.id = j.t_id AND j.k_id = $1").as_deref(),
        Some("SELECT t.id, j.k_id FROM t INNER JOIN j ON t.id = j.t_id AND j.k_id = ANY($1)")
    );
    assert_eq!(
        pg("SELECT t.id FROM t JOIN j ON (t.id = j.t_id AND j.k_id = $1) ORDER BY t.id").as_deref(),
        Some("SELECT j.k_id, t.id FROM t JOIN j ON (t.id = j.t_id AND j.k_id = ANY($1)) ORDER BY t.id")
    );
    assert_eq!(
        pg("SELECT t.id FROM t LEFT OUTER JOIN j ON t.id = j.t_id AND j.k_id = $1"),
        None
    );
    assert_eq!(
        pg("SELECT t.id FROM t INNER JOIN j ON t.id = j.t_id OR j.k_id = $1"),
        None
    );
    // A parameter in the WHERE clause: the WHERE clause holds the key.
    assert_eq!(
        pg("SELECT t.id FROM t JOIN j ON j.k_id = $1 WHERE t.a_id = $2").as_deref(),
        Some("SELECT t.a_id, t.id FROM t JOIN j ON j.k_id = $1 WHERE t.a_id = ANY($2)")
    );
}

/// A many-to-many read through its join table must return the join table's key, or the rows
/// cannot be mapped back to their parents: a select list of the other table's columns (GORM
/// v1's `"tags".*`, SeaORM's belongs-to `"authors"."id"`) does not hold it, an unqualified `*`
/// does.
#[test]
fn the_key_of_a_joined_table_is_selected() {
    assert_eq!(
        pg(r#"SELECT "tags".* FROM "tags" INNER JOIN "book_tags" ON "book_tags"."tag_id" = "tags"."id" WHERE "tags"."deleted_at" IS NULL AND (("book_tags"."book_id" IN ($1)))"#).as_deref(),
        Some(r#"SELECT "book_tags"."book_id", "tags".* FROM "tags" INNER JOIN "book_tags" ON "book_tags"."tag_id" = "tags"."id" WHERE "tags"."deleted_at" IS NULL AND (("book_tags"."book_id" = ANY($1)))"#)
    );
    assert_eq!(
        pg(r#"SELECT "authors"."id", "authors"."name" FROM "authors" INNER JOIN "books" ON "books"."author_id" = "authors"."id" WHERE "books"."id" = $1"#).as_deref(),
        Some(r#"SELECT "books"."id", "authors"."id", "authors"."name" FROM "authors" INNER JOIN "books" ON "books"."author_id" = "authors"."id" WHERE "books"."id" = ANY($1)"#)
    );
    assert_eq!(
        pg("SELECT * FROM tags INNER JOIN book_tags ON book_tags.tag_id = tags.id WHERE book_tags.book_id = $1").as_deref(),
        Some("SELECT * FROM tags INNER JOIN book_tags ON book_tags.tag_id = tags.id WHERE book_tags.book_id = ANY($1)")
    );
    assert_eq!(
        pg("SELECT t.*, j.book_id FROM tags t JOIN book_tags j ON j.tag_id = t.id WHERE j.book_id = $1").as_deref(),
        Some("SELECT t.*, j.book_id FROM tags t JOIN book_tags j ON j.tag_id = t.id WHERE j.book_id = ANY($1)")
    );
}

/// A count of a derived table's rows (SeaORM's `count`: `SELECT COUNT(*) AS num_items FROM
/// (…) AS "sub_query"`) is the inner query's rows grouped by its key; not when the inner query
/// has a clause that changes its rows.
#[test]
fn a_count_of_a_derived_table_is_grouped_by_the_inner_key() {
    assert_eq!(
        pg(r#"SELECT COUNT(*) AS num_items FROM (SELECT "books"."id", "books"."author_id" FROM "books" INNER JOIN "authors" ON "authors"."id" = "books"."author_id" WHERE "authors"."id" = $1) AS "sub_query""#).as_deref(),
        Some(r#"SELECT "authors"."id", COUNT(*) AS num_items FROM "books" INNER JOIN "authors" ON "authors"."id" = "books"."author_id" WHERE "authors"."id" = ANY($1) GROUP BY "authors"."id""#)
    );
    assert_eq!(
        pg("SELECT COUNT(*) FROM (SELECT b.id FROM books b WHERE b.author_id = $1 ORDER BY b.id) s").as_deref(),
        Some("SELECT b.author_id, COUNT(*) FROM books b WHERE b.author_id = ANY($1) GROUP BY b.author_id")
    );
    for changed in [
        "SELECT COUNT(*) FROM (SELECT DISTINCT b.title FROM books b WHERE b.author_id = $1) s",
        "SELECT COUNT(*) FROM (SELECT b.id FROM books b WHERE b.author_id = $1 LIMIT 10) s",
        "SELECT COUNT(*) FROM (SELECT b.id FROM books b WHERE b.author_id = $1) s WHERE s.id > 3",
        "SELECT COUNT(x.id) FROM (SELECT b.id FROM books b WHERE b.author_id = $1) x",
    ] {
        assert_eq!(pg(changed), None, "{changed}");
    }
}

/// `$n = key` (with or without a cast on the placeholder) is the same key as `key = $n`;
/// the placeholder must start its conjunct and the name end it.
#[test]
fn reversed_key_comparison() {
    assert_eq!(
        pg("SELECT b.id AS b_id FROM b WHERE $1::INTEGER = b.a_id").as_deref(),
        Some("SELECT b.a_id, b.id AS b_id FROM b WHERE b.a_id = ANY($1::INTEGER[])")
    );
    assert_eq!(
        pg("SELECT t.id FROM t, j WHERE $1 = j.t_id AND t.id = j.k_id").as_deref(),
        Some("SELECT j.t_id, t.id FROM t, j WHERE j.t_id = ANY($1) AND t.id = j.k_id")
    );
    assert_eq!(pg("SELECT id FROM t WHERE x + $1 = a_id"), None);
    assert_eq!(pg("SELECT id FROM t WHERE $1 = a_id + 1"), None);
    assert_eq!(pg("SELECT id FROM t WHERE $1 = lower(a_id)"), None);
}

/// A loop of `k IN ($1)` lookups (TypeORM's relation loader, collapsed to `IN ($1, ...)` when
/// normalised) batches as one array of every execution's keys.
#[test]
fn in_list_key() {
    assert_eq!(
        pg("SELECT t.id FROM t INNER JOIN j ON j.t_id IN ($1, ...) AND j.k_id = t.id").as_deref(),
        Some("SELECT j.t_id, t.id FROM t INNER JOIN j ON j.t_id = ANY($1) AND j.k_id = t.id")
    );
    assert_eq!(
        pg("SELECT * FROM t WHERE a_id IN ($1)").as_deref(),
        Some("SELECT * FROM t WHERE a_id = ANY($1)")
    );
    assert_eq!(pg("SELECT * FROM t WHERE a_id NOT IN ($1, ...)"), None);
    assert_eq!(
        pg("SELECT * FROM t WHERE a_id IN (SELECT b FROM u WHERE c = $1)"),
        None
    );
}

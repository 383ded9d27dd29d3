//! The fix in the stack's own words, from SQL that real ORMs wrote: Django (pytest),
//! Sequelize (node:test), SQLAlchemy, TypeORM and Rails apps under `querycomb run --dsn`,
//! explained against the tables they left behind. Each app runs a to-one, a to-many, a
//! many-to-many, a count-per-parent and a write-per-row loop (Django and Sequelize also an
//! update and a delete per row), each with its fixed twin: every loop must get its relation,
//! the ORM's fix and the batched SQL, and no twin may be a finding (Hibernate:
//! advice_hibernate.rs). GORM v1 loops are named from their SQL too, and so are SeaORM's and
//! Diesel's to-one, to-many and count loops; SQLAlchemy and Django from the sqlcommenter tags google-cloud-sqlcommenter
//! writes; the GraphQL example's resolver loop gets a DataLoader.

mod run_support;

use std::path::PathBuf;

use run_support::*;
use serde_json::Value;

fn tool(path: &str) -> PathBuf {
    let tool = e2e_cache().join(path);
    assert!(
        tool.is_file(),
        "{} is missing: run scripts/setup-test-deps.sh first",
        tool.display()
    );
    tool
}

fn report_of(json: &std::path::Path, ran: &Ran) -> Value {
    let text = std::fs::read_to_string(json).unwrap_or_else(|e| panic!("{e}: {ran:?}"));
    serde_json::from_str(&text).unwrap()
}

/// One loop an app runs and what querycomb must say about it.
struct Loop {
    kind: &'static str,
    table: &'static str,
    relation: &'static str,
    /// The whole fix text.
    fix: &'static str,
    /// A part of the suggestion's batched SQL.
    batched: &'static str,
}

/// The report's findings (but budgets) are exactly `loops`, so no fixed twin is one; each is
/// named `framework`, with its relation, fix and batched SQL. Every `twins` entry (a part of a
/// fixed twin's SQL and its calls) is a shape in the statistics, so the twins ran. Returns the
/// findings in the order of `loops`.
fn assert_loops(
    report: &Value,
    framework: Option<&str>,
    loops: &[Loop],
    twins: &[(&str, u64)],
) -> Vec<Value> {
    let findings: Vec<&Value> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["kind"] != "over_budget")
        .collect();
    let key = |kind: &str, table: &str| format!("{kind} on {table}");
    let mut got: Vec<String> = findings
        .iter()
        .map(|f| {
            key(
                f["kind"].as_str().unwrap_or_default(),
                f["children"][0]["table"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<String> = loops.iter().map(|l| key(l.kind, l.table)).collect();
    want.sort();
    assert_eq!(got, want, "{report:#}");
    let shapes = report["summary"]["fingerprints"]
        .as_array()
        .expect("fingerprints");
    for &(needle, calls) in twins {
        let ran = shapes
            .iter()
            .find(|s| s["normalized"].as_str().is_some_and(|t| t.contains(needle)))
            .unwrap_or_else(|| panic!("no statement with {needle:?}: {report:#}"));
        assert_eq!(ran["calls"], calls, "{ran:#}");
    }
    loops
        .iter()
        .map(|l| {
            // A table may have two loops of a kind (an INSERT and a DELETE per row): each is
            // told by its batched SQL.
            let same = |f: &&&Value| f["kind"] == l.kind && f["children"][0]["table"] == l.table;
            let batched = |f: &&&Value| {
                f["suggestion"]
                    .as_str()
                    .is_some_and(|s| s.contains(l.batched))
            };
            let finding = findings
                .iter()
                .find(|f| same(f) && batched(f))
                .or_else(|| findings.iter().find(|f| same(f)))
                .expect("listed above");
            let advice = &finding["advice"];
            assert_eq!(advice["framework"].as_str(), framework, "{finding:#}");
            assert_eq!(advice["relation"], l.relation, "{finding:#}");
            assert_eq!(advice["fix"], l.fix, "{finding:#}");
            let suggestion = finding["suggestion"].as_str().unwrap_or_default();
            assert!(suggestion.contains(l.batched), "{}: {suggestion}", l.table);
            (*finding).clone()
        })
        .collect()
}

/// tests/e2e/django: the budgeted suite of tests/ (book → author) and relations/, the other
/// loops of every relation kind with their fixed twins, and `save()` and `delete()` per row
/// with `bulk_update` and `filter(pk__in=ids).delete()`.
#[test]
fn django_every_relation() {
    let pg = start_pg(false);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("django.json");
    // --reuse-db keeps pytest-django's test database, so the plan check sees its tables.
    let ran = run(querycomb(Some(&pg))
        .current_dir(repo_root().join("tests/e2e/django"))
        .args(["run", "--format", "json", "--fail-on", "never", "-o"])
        .arg(&json)
        .args(["--dsn", &pg.url("test_shop"), "--"])
        .arg(tool("django-venv/bin/pytest"))
        .args(["-q", "--reuse-db", "tests", "relations"]));
    assert!(ran.stdout.contains("14 passed"), "{ran:?}");
    let report = report_of(&json, &ran);
    let findings = assert_loops(
        &report,
        Some("Django"),
        &[
            Loop {
                kind: "n_plus_one",
                table: "shop_author",
                relation: "to_one",
                fix: "select_related(\"author\") on the parent queryset",
                batched: r#"FROM "shop_author" WHERE "shop_author"."id" = ANY($1)"#,
            },
            Loop {
                kind: "n_plus_one",
                table: "shop_book",
                relation: "to_many",
                fix: "prefetch_related(\"book_set\") (or the related_name) on the parent queryset",
                batched: r#"FROM "shop_book" WHERE "shop_book"."author_id" = ANY($1)"#,
            },
            Loop {
                kind: "n_plus_one",
                table: "shop_tag",
                relation: "many_to_many",
                fix: "prefetch_related(\"tags\") on the parent queryset",
                batched: r#"SELECT "shop_book_tags"."book_id", "shop_tag"."id", "shop_tag"."name" FROM "shop_tag" INNER JOIN "shop_book_tags" ON ("shop_tag"."id" = "shop_book_tags"."tag_id") WHERE "shop_book_tags"."book_id" = ANY($1)"#,
            },
            Loop {
                kind: "count_in_loop",
                table: "shop_book",
                relation: "aggregate",
                fix: "annotate(n=Count(\"book\")) on the parent queryset",
                batched: r#"SELECT "shop_book"."author_id", COUNT(*) AS "__count" FROM "shop_book" WHERE "shop_book"."author_id" = ANY($1) GROUP BY "shop_book"."author_id""#,
            },
            Loop {
                kind: "n_plus_one_write",
                table: "shop_review",
                relation: "write",
                fix: "bulk_create([...]) instead of create() or save() per row",
                batched: r#"INSERT INTO "shop_review" ("book_id", "stars") SELECT * FROM unnest($1, $2) RETURNING "shop_review"."id""#,
            },
            Loop {
                kind: "n_plus_one_write",
                table: "shop_book",
                relation: "write",
                fix: "bulk_update(objs, fields) (or QuerySet.update() when every row gets the \
                      same values) instead of save() per row",
                batched: r#"UPDATE "shop_book" SET "title" = v."title", "author_id" = v."author_id" FROM unnest($1, $2, $3) AS v("title", "author_id", "id") WHERE "shop_book"."id" = v."id""#,
            },
            Loop {
                kind: "n_plus_one_write",
                table: "shop_review",
                relation: "write",
                fix: "one filter(pk__in=ids).delete() instead of delete() per row",
                batched: r#"DELETE FROM "shop_review" WHERE "shop_review"."id" = ANY($1)"#,
            },
        ],
        &[
            (r#"FROM "shop_book" INNER JOIN "shop_author""#, 1),
            (r#"WHERE "shop_book"."author_id" IN ($1"#, 1),
            (r#"AS "_prefetch_related_val_book_id""#, 1),
            (r#"COUNT("shop_book"."id") AS "n""#, 1),
            // bulk_create in the write twin and before each delete loop.
            (
                r#"INSERT INTO "shop_review" ("book_id", "stars") SELECT * FROM UNNEST"#,
                3,
            ),
            (r#"SET "title" = (CASE WHEN ("shop_book"."id" = $1)"#, 1),
            // A delete per row and filter(pk__in=ids).delete() are one shape: `IN ($1, ...)`.
            (
                r#"DELETE FROM "shop_review" WHERE "shop_review"."id" IN ($1, ...)"#,
                9,
            ),
        ],
    );
    let finding = &findings[0];
    assert!(finding["advice"]["framework_evidence"]
        .as_str()
        .unwrap()
        .contains("app_model"));
    let check = &finding["plan_check"];
    assert_eq!(check["verdict"], "safe", "{check:#}");
    assert_eq!(check["key_source"], "captured");
    assert_eq!(check["keys"], 8);
    assert_eq!(finding["impact"]["statements_saved"], 7);
}

/// tests/e2e/node: the budgeted suite of test/books.test.js (book → author) and
/// test/relations.test.js, the other loops of every relation kind with their fixed twins, and
/// `save()` and `destroy()` per row with `bulkCreate(…, { updateOnDuplicate })` and
/// `destroy({ where: { id: ids } })`.
#[test]
fn sequelize_every_relation() {
    let pg = start_pg(false);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("node.json");
    let ran = run(querycomb(Some(&pg))
        .current_dir(repo_root().join("tests/e2e/node"))
        .env("NODE_PATH", e2e_cache().join("node/node_modules"))
        .args(["run", "--format", "json", "--fail-on", "never", "-o"])
        .arg(&json)
        .args(["--dsn", &pg.url("shop"), "--", "node", "--test", "test/"]));
    assert!(
        ran.stdout.contains("# pass 14") && ran.stdout.contains("# fail 0"),
        "{ran:?}"
    );
    let report = report_of(&json, &ran);
    let findings = assert_loops(
        &report,
        Some("Sequelize"),
        &[
            Loop {
                kind: "n_plus_one",
                table: "authors",
                relation: "to_one",
                fix: "include: [{ model: <the \"author\" model> }] in the parent findAll",
                batched: r#"FROM "authors" AS "author" WHERE "author"."id" = ANY($1)"#,
            },
            Loop {
                kind: "n_plus_one",
                table: "novels",
                relation: "to_many",
                fix: "include: [{ model: <the \"novel\" model>, separate: true }] in the parent \
                      findAll",
                batched: r#"FROM "novels" AS "novel" WHERE "novel"."writerId" = ANY($1)"#,
            },
            // Sequelize puts the key in the join condition: `INNER JOIN "novel_genres" AS
            // "novel_genres" ON "genre"."id" = "novel_genres"."genreId" AND
            // "novel_genres"."novelId" = $1`.
            Loop {
                kind: "n_plus_one",
                table: "genres",
                relation: "many_to_many",
                fix: "include: [{ model: <the \"genre\" model> }] in the parent findAll (a JOIN: \
                      belongsToMany cannot be separate: true; with many genre rows per parent, \
                      one findAll of the through model with where: { novelId: ids } instead)",
                batched: r#"AND "novel_genres"."novelId" = ANY($1)"#,
            },
            Loop {
                kind: "count_in_loop",
                table: "novels",
                relation: "aggregate",
                fix: "one findAll with attributes: [\"writerId\", [fn(\"COUNT\", col(\"id\")), \
                      \"n\"]], where: { writerId: ids }, group: [\"writerId\"] for all parents",
                batched: r#"SELECT "novel"."writerId", COUNT("novel"."id") AS "count" FROM "novels" AS "novel" WHERE "novel"."writerId" = ANY($1) GROUP BY "novel"."writerId""#,
            },
            Loop {
                kind: "n_plus_one_write",
                table: "ratings",
                relation: "write",
                fix: "bulkCreate instead of create per row",
                batched: r#"INSERT INTO "ratings" ("id", "stars", "novelId") VALUES (DEFAULT, $1, $2), (DEFAULT, $3, $4), ..."#,
            },
            Loop {
                kind: "n_plus_one_write",
                table: "novels",
                relation: "write",
                fix: "one Model.update(values, { where: { id: ids } }) when every row gets the \
                      same values, bulkCreate(rows, { updateOnDuplicate: [the changed fields] }) \
                      when they differ, instead of save() per row",
                batched: r#"UPDATE "novels" SET "title" = v."title" FROM unnest($1, $2) AS v("title", "id") WHERE "novels"."id" = v."id""#,
            },
            Loop {
                kind: "n_plus_one_write",
                table: "ratings",
                relation: "write",
                fix: "one Model.destroy({ where: { id: ids } }) instead of destroy() per row",
                batched: r#"DELETE FROM "ratings" WHERE "id" = ANY($1)"#,
            },
        ],
        &[
            (
                r#"FROM "books" AS "book" LEFT OUTER JOIN "authors" AS "author""#,
                1,
            ),
            (r#"WHERE "novel"."writerId" IN ($1"#, 1),
            (r#""genres->novel_genres"."novelId""#, 1),
            (r#"GROUP BY "writerId""#, 1),
            // 8 single-row INSERTs from the loop, one multi-row INSERT from bulkCreate.
            (r#"INSERT INTO "ratings""#, 9),
            (
                r#"ON CONFLICT ("id") DO UPDATE SET "title" = EXCLUDED."title""#,
                1,
            ),
            (r#"DELETE FROM "ratings" WHERE "id" IN ($1"#, 1),
        ],
    );
    assert_eq!(
        findings[0]["plan_check"]["verdict"], "safe",
        "{:#}",
        findings[0]
    );
    assert_eq!(
        findings[2]["plan_check"]["verdict"], "safe",
        "{:#}",
        findings[2]
    );
}

/// SQLAlchemy 2.0's default lazy loading (tests/e2e/sqlalchemy/app.py), every relation kind
/// with its fixed twin, and an update and a delete per row with theirs. psycopg 3 binds integers in binary and declares their type in Parse,
/// so the proxy reads them as numbers and the plans use the captured keys.
#[test]
fn sqlalchemy_every_relation() {
    let pg = start_pg(false);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("sqlalchemy.json");
    let ran = run(querycomb(Some(&pg))
        .args(["run", "--format", "json", "--fail-on", "never", "-o"])
        .arg(&json)
        .args(["--dsn", &pg.url("shop"), "--"])
        .arg(tool("sqlalchemy-venv/bin/python"))
        .arg(repo_root().join("tests/e2e/sqlalchemy/app.py")));
    assert!(ran.stdout.contains("sqlalchemy app done"), "{ran:?}");
    let mut report = report_of(&json, &ran);
    // Its UPDATE and DELETE per row (`UPDATE books SET title = $1::VARCHAR WHERE books.id =
    // $2::INTEGER`, `DELETE FROM reviews WHERE reviews.id = $1::INTEGER`), after a parent
    // without labels, show nothing only SQLAlchemy writes: named no ORM, the fix in SQL terms.
    let (unnamed, named): (Vec<Value>, Vec<Value>) = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .cloned()
        .partition(|f| {
            let child = f["children"][0]["normalized"].as_str().unwrap_or_default();
            child.starts_with("UPDATE") || child.starts_with("DELETE")
        });
    let mut unnamed_writes: Vec<(&str, &str, &str)> = unnamed
        .iter()
        .map(|f| {
            assert!(f["advice"].get("framework").is_none(), "{f:#}");
            assert_eq!(f["advice"]["relation"], "write", "{f:#}");
            assert_eq!(
                f["advice"]["fix"],
                "one multi-row statement (multi-row INSERT, UPDATE … FROM (VALUES …), COPY)"
            );
            (
                f["kind"].as_str().unwrap_or_default(),
                f["children"][0]["table"].as_str().unwrap_or_default(),
                f["suggestion"]
                    .as_str()
                    .and_then(|s| s.lines().next())
                    .unwrap_or_default(),
            )
        })
        .collect();
    unnamed_writes.sort_unstable();
    assert_eq!(
        unnamed_writes,
        [
            (
                "n_plus_one_write",
                "books",
                "UPDATE books SET title = $1::VARCHAR WHERE books.id = ANY($2::INTEGER[])"
            ),
            (
                "n_plus_one_write",
                "reviews",
                "DELETE FROM reviews WHERE reviews.id = ANY($1::INTEGER[])"
            ),
        ]
    );
    report["findings"] = Value::Array(named);
    let findings = assert_loops(
        &report,
        Some("SQLAlchemy"),
        &[
            Loop {
                kind: "n_plus_one",
                table: "authors",
                relation: "to_one",
                fix: "options(joinedload(Parent.author))",
                batched: "FROM authors WHERE authors.id = ANY($1::INTEGER[])",
            },
            // SQLAlchemy compares the other way round: `$1::INTEGER = books.author_id`.
            Loop {
                kind: "n_plus_one",
                table: "books",
                relation: "to_many",
                fix: "options(selectinload(Parent.books))",
                batched: "FROM books WHERE books.author_id = ANY($1::INTEGER[])",
            },
            Loop {
                kind: "n_plus_one",
                table: "tags",
                relation: "many_to_many",
                fix: "options(selectinload(Parent.tags))",
                batched: "SELECT book_tags.book_id, tags.id AS tags_id, tags.name AS tags_name \
                          FROM tags, book_tags WHERE book_tags.book_id = ANY($1::INTEGER[]) AND \
                          tags.id = book_tags.tag_id",
            },
            Loop {
                kind: "count_in_loop",
                table: "books",
                relation: "aggregate",
                fix: "one select(Child.author_id, func.count()).where(Child.author_id.in_(ids))\
                      .group_by(Child.author_id) for all parents",
                batched: "SELECT books.author_id, COUNT(books.id) AS count_1 FROM books WHERE \
                          books.author_id = ANY($1::INTEGER[]) GROUP BY books.author_id",
            },
            Loop {
                kind: "n_plus_one_write",
                table: "reviews",
                relation: "write",
                fix: "session.add_all(rows) with one flush (or session.execute(insert(Model), \
                      rows)), which SQLAlchemy 2.0 sends as one multi-row INSERT, instead of a \
                      flush per row",
                batched: "INSERT INTO reviews (book_id, stars) VALUES ($1::INTEGER, $2::INTEGER), \
                          ($3::INTEGER, $4::INTEGER), ... RETURNING reviews.id",
            },
        ],
        &[
            ("LEFT OUTER JOIN authors AS authors_1", 1),
            ("WHERE books.author_id IN ($1::INTEGER", 1),
            ("JOIN book_tags AS book_tags_1", 1),
            ("COUNT(books.id) AS n FROM authors LEFT OUTER JOIN books", 1),
            ("INSERT INTO reviews (book_id, stars) SELECT p0::INTEGER", 1),
            // session.execute(update(Book), rows), the ORM bulk UPDATE by primary key, is an
            // executemany: psycopg 3 sends the loop's statement once per row (12 + 12), in one
            // pipeline, and it is no finding.
            (
                "UPDATE books SET title = $1::VARCHAR WHERE books.id = $2::INTEGER",
                24,
            ),
            ("DELETE FROM reviews WHERE reviews.id IN ($1::INTEGER", 1),
        ],
    );
    let check = &findings[0]["plan_check"];
    assert_eq!(check["verdict"], "safe", "{check:#}");
    assert_eq!(check["key_source"], "captured", "{check:#}");
    assert_eq!(check["lookup_key"], "primary key");
    for finding in &findings[1..4] {
        assert_eq!(finding["plan_check"]["verdict"], "safe", "{finding:#}");
    }
}

/// TypeORM 0.3 (`tests/e2e/typeorm/app.js`): repository calls and the RelationQueryBuilder in
/// loops (also `update(id, …)` and `delete(id)` per row), each with its fixed twin.
#[test]
fn typeorm_every_relation() {
    let pg = start_pg(false);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("typeorm.json");
    let modules = tool("typeorm/node_modules/typeorm/package.json")
        .parent()
        .and_then(|p| p.parent())
        .unwrap()
        .to_path_buf();
    let ran = run(querycomb(Some(&pg))
        .env("NODE_PATH", &modules)
        .args(["run", "--format", "json", "--fail-on", "never", "-o"])
        .arg(&json)
        .args(["--dsn", &pg.url("shop"), "--", "node"])
        .arg(repo_root().join("tests/e2e/typeorm/app.js")));
    assert!(ran.stdout.contains("typeorm app done"), "{ran:?}");
    let report = report_of(&json, &ran);
    let findings = assert_loops(
        &report,
        Some("TypeORM"),
        &[
            Loop {
                kind: "n_plus_one",
                table: "author",
                relation: "to_one",
                fix: "relations: [\"author\"] (or leftJoinAndSelect) on the parent find",
                batched: r#"FROM "author" "Author" WHERE (("Author"."id" = ANY($1)))"#,
            },
            Loop {
                kind: "n_plus_one",
                table: "book",
                relation: "to_many",
                fix: "relations: [\"<the parent's Book relation>\"] with relationLoadStrategy: \
                      \"query\" (one more query by the parent ids, no JOIN)",
                batched: r#"FROM "book" "Book" WHERE (("Book"."authorId" = ANY($1)))"#,
            },
            // TypeORM's relation loader puts the key in the join condition as a list of one,
            // `ON "book_tags_tag"."bookId" IN ($1) AND …`, collapsed to `IN ($1, ...)` when
            // normalised: its plan cannot be checked (the values cannot be bound to a
            // collapsed list), the batch is one array of every book's id.
            Loop {
                kind: "n_plus_one",
                table: "tag",
                relation: "many_to_many",
                fix: "relations: [\"<the parent's tags relation>\"] with relationLoadStrategy: \
                      \"query\" (one more query by the parent ids, no JOIN)",
                batched: r#"SELECT "book_tags_tag"."bookId", "tags"."id" AS "tags_id", "tags"."name" AS "tags_name" FROM "tag" "tags" INNER JOIN "book_tags_tag" "book_tags_tag" ON "book_tags_tag"."bookId" = ANY($1) AND"#,
            },
            Loop {
                kind: "count_in_loop",
                table: "book",
                relation: "aggregate",
                fix: "one createQueryBuilder query: .select(\"authorId\").addSelect(\"COUNT(*)\", \
                      \"n\").where(\"authorId IN (:...ids)\").groupBy(\"authorId\") for all \
                      parents (or loadRelationCountAndMap on the parent query)",
                batched: r#"WHERE (("Book"."authorId" = ANY($2))) GROUP BY "Book"."authorId""#,
            },
            Loop {
                kind: "n_plus_one_write",
                table: "review",
                relation: "write",
                fix: "one save([...rows]) (or insert([...rows])), a multi-row INSERT, instead of \
                      save per row",
                batched: r#"INSERT INTO "review" ("bookId", "stars") SELECT * FROM unnest($1, $2) RETURNING "id""#,
            },
            Loop {
                kind: "n_plus_one_write",
                table: "book",
                relation: "write",
                fix: "one update(ids, values) when every row gets the same values, upsert(rows, \
                      [\"id\"]) when they differ, instead of save or update per row",
                // `update(id, …)` writes `WHERE "id" IN ($2)`, collapsed to a list once
                // normalised: the batch is the same-values form, and its explanation says to
                // join the values when they differ per row.
                batched: r#"UPDATE "book" SET "title" = $1 WHERE "id" = ANY($2)"#,
            },
            Loop {
                kind: "n_plus_one_write",
                table: "review",
                relation: "write",
                fix: "one delete(ids) (DELETE … WHERE id IN) instead of remove or delete per row",
                batched: r#"DELETE FROM "review" WHERE "id" = ANY($1)"#,
            },
        ],
        &[
            (r#"FROM "book" "Book" LEFT JOIN "author""#, 1),
            (r#"WHERE "Book"."authorId" IN ($1"#, 1),
            (
                r#"FROM "book_tags_tag" "book_tags_tag" WHERE "book_tags_tag"."bookId" IN ($1"#,
                1,
            ),
            (r#"GROUP BY "book"."authorId""#, 1),
            // 8 single-row INSERTs from the loop, one multi-row INSERT from save([...]).
            (r#"INSERT INTO "review""#, 9),
            (
                r#"ON CONFLICT ("id") DO UPDATE SET "id" = EXCLUDED."id""#,
                1,
            ),
            // `delete(id)` per row and `delete(ids)` are one shape: `IN ($1, ...)`.
            (r#"DELETE FROM "review" WHERE "id" IN ($1, ...)"#, 9),
        ],
    );
    assert!(findings[0]["advice"]["framework_evidence"]
        .as_str()
        .unwrap()
        .contains("\"Alias\".\"col\" AS \"Alias_col\""));
    assert_eq!(findings[0]["plan_check"]["key_source"], "captured");
    for finding in [&findings[0], &findings[1], &findings[3]] {
        assert_eq!(finding["plan_check"]["verdict"], "safe", "{finding:#}");
    }
    assert_eq!(
        findings[2]["plan_check"]["verdict"], "skipped",
        "{:#}",
        findings[2]
    );
}

/// Rails ActiveRecord 6.1 (Debian's ruby-activerecord; `tests/e2e/rails/app.rb`): lazy
/// associations (belongs_to, has_many, has_many :through), `count` and `create!` in loops,
/// each with its fixed twin.
#[test]
fn rails_every_relation() {
    let pg = start_pg(false);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("rails.json");
    let ran = run(querycomb(Some(&pg))
        .args(["run", "--format", "json", "--fail-on", "never", "-o"])
        .arg(&json)
        .args(["--dsn", &pg.url("shop"), "--", "ruby"])
        .arg(repo_root().join("tests/e2e/rails/app.rb")));
    assert!(ran.stdout.contains("rails app done"), "{ran:?}");
    let report = report_of(&json, &ran);
    let findings = assert_loops(
        &report,
        Some("Rails"),
        &[
            Loop {
                kind: "n_plus_one",
                table: "authors",
                relation: "to_one",
                fix: "preload(:author) (or includes) on the parent relation",
                batched: r#"SELECT "authors".* FROM "authors" WHERE "authors"."id" = ANY($1)"#,
            },
            Loop {
                kind: "n_plus_one",
                table: "books",
                relation: "to_many",
                fix: "preload(:books) (or includes) on the parent relation",
                batched: r#"SELECT "books".* FROM "books" WHERE "books"."author_id" = ANY($1)"#,
            },
            Loop {
                kind: "n_plus_one",
                table: "tags",
                relation: "many_to_many",
                fix: "preload(:tags) (or includes) on the parent relation",
                // The join table's key is selected, so the rows map back to their books.
                batched: r#"SELECT "taggings"."book_id", "tags".* FROM "tags" INNER JOIN "taggings" ON "tags"."id" = "taggings"."tag_id" WHERE "taggings"."book_id" = ANY($1)"#,
            },
            // The count names no ORM (`SELECT COUNT(*) FROM "books" WHERE …`): the parent
            // query, `SELECT "authors".* FROM "authors"`, does.
            Loop {
                kind: "count_in_loop",
                table: "books",
                relation: "aggregate",
                fix: "one where(author_id: ids).group(:author_id).count for all parents (or a \
                      counter_cache)",
                batched: r#"SELECT "books"."author_id", COUNT(*) FROM "books" WHERE "books"."author_id" = ANY($1) GROUP BY "books"."author_id""#,
            },
            Loop {
                kind: "n_plus_one_write",
                table: "reviews",
                relation: "write",
                fix: "insert_all(rows) (or upsert_all) instead of create or save per row",
                batched: r#"INSERT INTO "reviews" ("book_id", "stars") SELECT * FROM unnest($1, $2) RETURNING "id""#,
            },
        ],
        &[
            (
                r#"SELECT "authors".* FROM "authors" WHERE "authors"."id" IN ($1"#,
                1,
            ),
            (
                r#"SELECT "books".* FROM "books" WHERE "books"."author_id" IN ($1"#,
                1,
            ),
            (
                r#"SELECT "taggings".* FROM "taggings" WHERE "taggings"."book_id" IN ($1"#,
                1,
            ),
            (r#"GROUP BY "books"."author_id""#, 1),
            (
                r#"INSERT INTO "reviews" ("book_id", "stars") VALUES ($1, $2) ON CONFLICT"#,
                1,
            ),
        ],
    );
    for finding in &findings[..4] {
        assert_eq!(finding["plan_check"]["verdict"], "safe", "{finding:#}");
    }
}

/// google-cloud-sqlcommenter 2.0's SQLAlchemy listener (`tests/e2e/sqlcommenter/app.py`): a
/// column query per author whose SQL has no SQLAlchemy label is named SQLAlchemy from its
/// `db_framework` tag; the same app's untagged loop names no ORM. Each loop has its fixed
/// twin.
#[test]
fn sqlalchemy_named_by_sqlcommenter_tags() {
    let pg = start_pg(false);
    let dir = tempfile::tempdir().unwrap();
    let report = |page: &str| {
        let json = dir.path().join(format!("{page}.json"));
        let ran = run(querycomb(Some(&pg))
            .args(["run", "--format", "json", "--fail-on", "never", "-o"])
            .arg(&json)
            .args(["--dsn", &pg.url("shop"), "--"])
            .arg(tool("sqlcommenter-venv/bin/python"))
            .arg(repo_root().join("tests/e2e/sqlcommenter/app.py"))
            .arg(page));
        assert!(ran.stdout.contains("sqlcommenter app done"), "{ran:?}");
        report_of(&json, &ran)
    };
    let tagged = report("tagged");
    let findings = assert_loops(
        &tagged,
        Some("SQLAlchemy"),
        &[Loop {
            kind: "n_plus_one",
            table: "books",
            relation: "to_many",
            fix: "options(selectinload(Parent.books))",
            batched: "SELECT books.author_id, books.id, books.title FROM books WHERE books.author_id = ANY($1::INTEGER[])",
        }],
        &[("WHERE books.author_id IN ($1::INTEGER", 1)],
    );
    let child = &findings[0]["children"][0];
    assert_eq!(
        child["stack_tags"],
        serde_json::json!({"db_driver": "psycopg", "db_framework": "sqlalchemy:2.0.58"}),
        "{child:#}"
    );
    assert_eq!(
        findings[0]["advice"]["framework_evidence"],
        "sqlcommenter tag db_framework='sqlalchemy:2.0.58'"
    );
    let plain = report("plain");
    let findings = assert_loops(
        &plain,
        None,
        &[Loop {
            kind: "n_plus_one",
            table: "reviews",
            relation: "to_many",
            fix: "one separate query WHERE the foreign key = ANY(the parents' ids)",
            batched: "SELECT reviews.book_id, reviews.id, reviews.stars FROM reviews WHERE reviews.book_id = ANY($1::INTEGER[])",
        }],
        &[("WHERE reviews.book_id IN ($1::INTEGER", 1)],
    );
    let advice = &findings[0]["advice"];
    assert!(advice.get("framework_evidence").is_none(), "{advice:#}");
    assert!(findings[0]["children"][0].get("stack_tags").is_none());
}

/// The GraphQL example (examples/rust-axum-graphql: axum, async-graphql, sqlx; built by the
/// set-up part `guard`): its workload's guard writes each finding with its request's route,
/// and `querycomb explain` names a DataLoader for the resolver's loop (route `POST /graphql`),
/// not for the REST route's count loop. sqlx's plain SQL names no ORM, and none is named.
#[test]
fn graphql_resolver_loops_get_a_dataloader() {
    let pg = start_pg(false);
    let dir = tempfile::tempdir().unwrap();
    let guard = dir.path().join("guard.jsonl");
    let workload = querycomb_testkit::deps::rust_target("rust-guard").join("debug/workload");
    let ran = run(std::process::Command::new(&workload)
        .env("DATABASE_URL", pg.url("shop"))
        .env("QUERYCOMB_FINDINGS", &guard)
        .env("PAUSE_MS", "50"));
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let json = dir.path().join("explained.json");
    let ran = run(querycomb(None)
        .args(["explain", "--format", "json", "-o"])
        .arg(&json)
        .arg(&guard));
    let report = report_of(&json, &ran);
    let findings = report["findings"].as_array().expect("findings");
    let of = |kind: &str| {
        findings
            .iter()
            .find(|f| f["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind}: {report:#}"))
    };
    let resolver = of("n_plus_one");
    assert_eq!(
        resolver["request"]["route"], "POST /graphql",
        "{resolver:#}"
    );
    let advice = &resolver["advice"];
    assert_eq!(advice["relation"], "to_one", "{advice:#}");
    assert_eq!(advice["framework"], "GraphQL", "{advice:#}");
    assert_eq!(
        advice["framework_evidence"],
        "the request's route `POST /graphql`"
    );
    assert_eq!(
        advice["fix"],
        "a request-scoped DataLoader in the resolver (async-graphql's DataLoader in Rust, \
         graphql/dataloader in Node): one batch load of authors WHERE id = ANY(every key the \
         resolvers asked for) instead of a query per parent"
    );
    let rest = of("count_in_loop");
    assert_eq!(
        rest["request"]["route"], "GET /authors/book-counts-loop",
        "{rest:#}"
    );
    assert!(rest["advice"].get("framework").is_none(), "{rest:#}");
    assert_eq!(
        rest["advice"]["fix"],
        "one GROUP BY query for all parents' keys"
    );
}

/// `querycomb run --dsn` around the cargo test suite of a Rust ORM project under tests/e2e
/// (built by its set-up part), one test at a time so that each is named and is its own
/// request: the report, with the seed's statements, one INSERT per row of a hand-written
/// multi-statement string that names no ORM, checked and taken out.
fn rust_suite_report(pg: &querycomb_testkit::PgServer, project: &str, passed: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join(format!("{project}.json"));
    let ran = run(querycomb(Some(pg))
        .env(
            "CARGO_TARGET_DIR",
            querycomb_testkit::deps::rust_target(project),
        )
        .args(["run", "--format", "json", "--fail-on", "never", "-o"])
        .arg(&json)
        .args(["--dsn", &pg.url("shop"), "--"])
        .args(["cargo", "test", "--offline", "--locked", "--manifest-path"])
        .arg(
            repo_root()
                .join("tests/e2e")
                .join(project)
                .join("Cargo.toml"),
        )
        .args(["--", "--test-threads=1"]));
    assert!(ran.stdout.contains(passed), "{ran:?}");
    let mut report = report_of(&json, &ran);
    let (seed, rest): (Vec<Value>, Vec<Value>) = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .cloned()
        .partition(|f| f["kind"] == "n_plus_one_write");
    let mut seeded: Vec<&str> = seed
        .iter()
        .map(|f| f["children"][0]["table"].as_str().unwrap_or_default())
        .collect();
    seeded.sort_unstable();
    assert_eq!(seeded, ["authors", "books"], "{report:#}");
    for finding in &seed {
        assert!(finding["advice"].get("framework").is_none(), "{finding:#}");
    }
    report["findings"] = Value::Array(rest);
    report
}

/// SeaORM 2 (tests/e2e/rust-seaorm, set-up part `seaorm`): `find_related` per author (to
/// many: the parent's table joined and filtered by its key) and per book (belongs-to: the
/// parent's table read through the child's row, by the child's id), and
/// `find_related(..).count(db)` per author (a count of a derived table), named SeaORM from its
/// joins, with `find_with_related`, the loader's `load_many` and `load_one`, and one grouped
/// count as the fixed twins.
#[test]
fn seaorm_every_relation() {
    let pg = start_pg(false);
    let report = rust_suite_report(&pg, "rust-seaorm", "test result: ok. 6 passed; 0 failed");
    let findings = assert_loops(
        &report,
        Some("SeaORM"),
        &[
            Loop {
                kind: "n_plus_one",
                table: "books",
                relation: "to_many",
                fix: "parents.load_many(<the books Entity>, db) (one IN query); find_with_related \
                      on the parent query only when each parent has few books",
                batched: r#"INNER JOIN "authors" ON "authors"."id" = "books"."author_id" WHERE "authors"."id" = ANY($1)"#,
            },
            Loop {
                kind: "n_plus_one",
                table: "authors",
                relation: "to_one",
                fix: "parents.load_one(<the author Entity>, db) (one IN query), or \
                      find_also_related on the parent query",
                batched: r#"SELECT "books"."id", "authors"."id", "authors"."name" FROM "authors" INNER JOIN "books" ON "books"."author_id" = "authors"."id" WHERE "books"."id" = ANY($1)"#,
            },
            Loop {
                kind: "count_in_loop",
                table: "books",
                relation: "aggregate",
                fix: "one grouped query for all parents: <the books Entity>::find().select_only()\
                      .column(Column::AuthorId).column_as(Column::Id.count(), \"n\")\
                      .filter(Column::AuthorId.is_in(ids)).group_by(Column::AuthorId).into_tuple()",
                batched: r#"SELECT "authors"."id", COUNT(*) AS num_items FROM "books" INNER JOIN "authors" ON "authors"."id" = "books"."author_id" WHERE "authors"."id" = ANY($1) GROUP BY "authors"."id""#,
            },
        ],
        &[
            (r#""books"."author_id" AS "B_author_id""#, 2),
            (r#"WHERE ("books"."author_id") IN (($1)"#, 2),
            (r#"WHERE ("authors"."id") IN (($1)"#, 1),
            (r#"GROUP BY "books"."author_id""#, 1),
        ],
    );
    assert_eq!(
        findings[0]["advice"]["relation_evidence"],
        "books looked up by its foreign key author_id, joined to authors.id"
    );
    assert_eq!(
        findings[1]["advice"]["relation_evidence"],
        "authors read through books.author_id, books looked up by its id"
    );
    for finding in &findings {
        assert_eq!(finding["plan_check"]["verdict"], "safe", "{finding:#}");
    }
}

/// Diesel 2 (tests/e2e/rust-diesel, set-up part `diesel`): a filter per author, `find` per
/// book and `count` per author, named Diesel from its parenthesised filter on quoted,
/// qualified columns (the count from its parent query), with the `eq_any` and grouped twins;
/// the loop over one id is a repeat of the same shape.
#[test]
fn diesel_every_relation() {
    let pg = start_pg(false);
    let report = rust_suite_report(&pg, "rust-diesel", "test result: ok. 8 passed; 0 failed");
    let belonging_to = "Book::belonging_to(&parents) loaded once (#[diesel(belongs_to(Parent))] \
                        on Book), then .grouped_by(&parents)";
    let findings = assert_loops(
        &report,
        Some("Diesel"),
        &[
            Loop {
                kind: "n_plus_one",
                table: "books",
                relation: "to_many",
                fix: belonging_to,
                batched: r#"FROM "books" WHERE ("books"."author_id" = ANY($1)) ORDER BY "books"."id""#,
            },
            Loop {
                kind: "repeated_identical",
                table: "books",
                relation: "to_many",
                fix: belonging_to,
                batched: "Run the query once per request",
            },
            Loop {
                kind: "n_plus_one",
                table: "authors",
                relation: "to_one",
                fix: "one authors::table.filter(authors::id.eq_any(&keys)) for all parents (or an \
                      inner_join in the parents' query)",
                batched: r#"FROM "authors" WHERE ("authors"."id" = ANY($1))"#,
            },
            Loop {
                kind: "count_in_loop",
                table: "books",
                relation: "aggregate",
                fix: "one books::table.filter(books::author_id.eq_any(&ids))\
                      .group_by(books::author_id).select((books::author_id, count_star())) for \
                      all parents",
                batched: r#"SELECT "books"."author_id", COUNT(*) FROM "books" WHERE ("books"."author_id" = ANY($1)) GROUP BY "books"."author_id""#,
            },
        ],
        &[
            (r#"WHERE ("books"."author_id" = ANY($1)) ORDER BY"#, 3),
            (r#"FROM "authors" WHERE ("authors"."id" = ANY($1))"#, 1),
            (r#"GROUP BY "books"."author_id""#, 1),
        ],
    );
    assert!(findings[0]["advice"]["framework_evidence"]
        .as_str()
        .unwrap()
        .starts_with("Diesel's"));
}

/// GORM v1 (Debian's golang-github-jinzhu-gorm-dev 1.9.6, `tests/e2e/gorm`, built in GOPATH
/// mode; set-up part `gorm`): Related, Association().Find, Count and Create in loops, each
/// with its fixed twin.
#[test]
fn gorm_every_relation() {
    querycomb_testkit::deps::require_program("go");
    querycomb_testkit::deps::require(
        "GORM (scripts/setup-test-deps.sh gorm)",
        "/usr/share/gocode/src/github.com/jinzhu/gorm".into(),
    );
    let pg = start_pg(false);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("gorm.json");
    let ran = run(querycomb(Some(&pg))
        .current_dir(repo_root().join("tests/e2e/gorm/src/gormshop"))
        .env("GO111MODULE", "off")
        .env(
            "GOPATH",
            format!(
                "{}:/usr/share/gocode",
                repo_root().join("tests/e2e/gorm").display()
            ),
        )
        .env("GOCACHE", dir.path().join("gocache"))
        .env("GOFLAGS", "")
        .env(
            "DATABASE_URL",
            format!("{}?sslmode=disable", pg.url("shop")),
        )
        .args(["run", "--format", "json", "--fail-on", "never", "-o"])
        .arg(&json)
        .args(["--dsn", &pg.url("shop"), "--", "go", "run", "gormshop"]));
    assert!(ran.stdout.contains("gorm app done"), "{ran:?}");
    let report = report_of(&json, &ran);
    let findings = assert_loops(
        &report,
        Some("GORM"),
        &[
            Loop {
                kind: "n_plus_one",
                table: "authors",
                relation: "to_one",
                fix: "Preload(\"Author\") on the parent query",
                batched: r#"WHERE "authors"."deleted_at" IS NULL AND (("id" = ANY($1)))"#,
            },
            Loop {
                kind: "n_plus_one",
                table: "books",
                relation: "to_many",
                fix: "Preload(\"Books\") on the parent query",
                batched: r#"WHERE "books"."deleted_at" IS NULL AND (("author_id" = ANY($1)))"#,
            },
            Loop {
                kind: "n_plus_one",
                table: "tags",
                relation: "many_to_many",
                fix: "Preload(\"Tags\") on the parent query",
                batched: r#"SELECT "book_tags"."book_id", "tags".* FROM "tags" INNER JOIN "book_tags" ON "book_tags"."tag_id" = "tags"."id" WHERE "tags"."deleted_at" IS NULL AND (("book_tags"."book_id" = ANY($1)))"#,
            },
            Loop {
                kind: "count_in_loop",
                table: "books",
                relation: "aggregate",
                fix: "one db.Model(&Book{}).Select(\"author_id, count(*)\").Where(\"author_id IN \
                      (?)\", ids).Group(\"author_id\") query for all parents",
                batched: r#"SELECT author_id, COUNT(*) FROM "books" WHERE "books"."deleted_at" IS NULL AND ((author_id = ANY($1))) GROUP BY author_id"#,
            },
            Loop {
                kind: "n_plus_one_write",
                table: "reviews",
                relation: "write",
                fix: "one multi-row INSERT instead of Create per row: GORM v2's Create(&rows) \
                      with the whole slice (CreateInBatches for large ones); GORM v1 creates one \
                      row at a time, so one db.Exec of INSERT … SELECT unnest(?) there",
                batched: r#"INSERT INTO "reviews" ("created_at", "updated_at", "deleted_at", "book_id", "stars") SELECT * FROM unnest($1, $2, $3, $4, $5) RETURNING "reviews"."id""#,
            },
        ],
        &[
            (
                r#"WHERE "authors"."deleted_at" IS NULL AND (("id" IN ($1"#,
                1,
            ),
            (
                r#"WHERE "books"."deleted_at" IS NULL AND (("author_id" IN ($1"#,
                1,
            ),
            (r#"SELECT * FROM "tags" INNER JOIN "book_tags""#, 1),
            ("GROUP BY author_id", 1),
            ("UNNEST($1::bigint[])", 1),
        ],
    );
    let write = &findings[4]["advice"]["framework_evidence"];
    assert!(
        write.as_str().unwrap().ends_with("(in the parent query)"),
        "{write}"
    );
    for finding in [&findings[0], &findings[1], &findings[3]] {
        assert_eq!(finding["plan_check"]["verdict"], "safe", "{finding:#}");
    }
}

/// google-cloud-sqlcommenter 2.0's Django middleware (`tests/e2e/sqlcommenter/django_app.py`,
/// pages requested through Django's test client): the lazy author of each book is named Django
/// from the `framework` tag, before the SQL's own shape; the `route` tag is the request.
#[test]
fn django_named_by_sqlcommenter_middleware() {
    let pg = start_pg(false);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("django.json");
    let ran = run(querycomb(Some(&pg))
        .args(["run", "--format", "json", "--fail-on", "never", "-o"])
        .arg(&json)
        .args(["--dsn", &pg.url("shop"), "--"])
        .arg(tool("sqlcommenter-venv/bin/python"))
        .arg(repo_root().join("tests/e2e/sqlcommenter/django_app.py")));
    assert!(ran.stdout.contains("django app done"), "{ran:?}");
    let report = report_of(&json, &ran);
    let findings = assert_loops(
        &report,
        Some("Django"),
        &[Loop {
            kind: "n_plus_one",
            table: "djangoshop_author",
            relation: "to_one",
            fix: "select_related(\"author\") on the parent queryset",
            batched: r#"FROM "djangoshop_author" WHERE "djangoshop_author"."id" = ANY($1)"#,
        }],
        &[(
            r#"FROM "djangoshop_book" INNER JOIN "djangoshop_author""#,
            1,
        )],
    );
    let finding = &findings[0];
    assert_eq!(finding["request"]["route"], "books/", "{finding:#}");
    assert_eq!(
        finding["children"][0]["stack_tags"],
        serde_json::json!({
            "db_driver": "django.db.backends.postgresql",
            "framework": "django:5.2.19"
        })
    );
    assert_eq!(
        finding["advice"]["framework_evidence"],
        "sqlcommenter tag framework='django:5.2.19'"
    );
    assert_eq!(finding["plan_check"]["verdict"], "safe", "{finding:#}");
}

//! The fix in the stack's own words.
//!
//! The relation is read from the child's SQL (and the plan check's catalog facts when there
//! are any): looked up by `id` → to-one; by a `*_id` column of its own table → to-many;
//! by a foreign key of another table it joins → many-to-many through that table (a join to the
//! other side's table by a primary key is SeaORM's `find_related`: to-many or, read through
//! the child's row by its id, to-one); an aggregate per row; a write per row. The framework is named only on evidence: a sqlcommenter tag naming
//! it, or SQL only one ORM writes (see [`framework`]); without it the fix is given in SQL
//! terms, never guessed. A loop in a GraphQL request (a trace's resolver span, its route, a
//! `graphql` tag) is fixed by a DataLoader in the resolver.

use std::collections::BTreeMap;

use querycomb_core::{Advice, Finding, QueryRef, Relation, RESOLVER_SPAN_TAG, SDK_LANGUAGE_TAG};
use querycomb_detect::detectors as kinds;
use querycomb_sql::{Dialect, Fingerprinter, Verb};
use std::sync::OnceLock;

use regex::Regex;

/// A framework and the SQL shape that shows it.
struct Shape {
    name: &'static str,
    pattern: &'static str,
    /// Capture groups that must hold the same text: an alias shape names the same table or
    /// column on both sides.
    same: &'static [(usize, usize)],
    /// The capture group quoted as the evidence (0: the whole match).
    shown: usize,
    evidence: &'static str,
}

/// SQL shapes only one ORM writes, most specific first. Each was checked against SQL the
/// ORM produced (see the tests).
const SHAPES: &[Shape] = &[
    Shape {
        name: "Sequelize",
        pattern: r#""(\w+)"\."(\w+)" AS "(\w+)\.(\w+)""#,
        same: &[(1, 3)],
        shown: 0,
        evidence: r#"Sequelize's `"Model"."col" AS "Model.col"` aliases"#,
    },
    Shape {
        name: "Sequelize",
        pattern: r#"\bFROM "(\w+)" AS "(\w+)" (?:WHERE|ORDER BY|GROUP BY) "(\w+)"\."#,
        same: &[(2, 3)],
        shown: 0,
        evidence: r#"Sequelize's `FROM "table" AS "model" WHERE (or ORDER BY) "model".` lookups"#,
    },
    Shape {
        name: "TypeORM",
        pattern: r#""(\w+)"\."(\w+)" AS "(\w+)_(\w+)""#,
        same: &[(1, 3), (2, 4)],
        shown: 0,
        evidence: r#"TypeORM's `"Alias"."col" AS "Alias_col"` aliases"#,
    },
    // Hibernate 3 to 5 alias each table `<entity or collection role><n>_` and label each
    // column `<column prefix><n>_<m>_` (`author0_.id as id1_0_`); aggregates are labelled
    // `col_0_0_`, so a count keeps only the table alias, declared and used.
    Shape {
        name: "Hibernate",
        pattern: r"\b[a-z][a-z0-9_]*?\d+_\.\w+ (?:AS|as) [A-Za-z][A-Za-z0-9_]*?\d+_\b",
        same: &[],
        shown: 0,
        evidence: "Hibernate 3–5's `author0_.id as id1_0_` table aliases and column labels",
    },
    Shape {
        name: "Hibernate",
        pattern: r"\b([a-z][a-z0-9_]*?\d+_)\.\w+.*?\b((?:FROM|from|JOIN|join) [\w.]+ ([a-z][a-z0-9_]*?\d+_))(?:\s|$)",
        same: &[(1, 3)],
        shown: 2,
        evidence: "Hibernate 3–5's `from books book0_` table aliases",
    },
    Shape {
        name: "Hibernate",
        pattern: r"\b[a-z]+\d+_0\.\w+",
        same: &[],
        shown: 0,
        evidence: "Hibernate 6's `t1_0.col` aliases",
    },
    Shape {
        name: "Prisma",
        pattern: r#""public"\."\w+"\."\w+""#,
        same: &[],
        shown: 0,
        evidence: r#"Prisma's `"public"."Table"."col"` names"#,
    },
    Shape {
        name: "SQLAlchemy",
        pattern: r"\b(\w+)\.(\w+) AS (\w+)_(\w+)\b",
        same: &[(1, 3)],
        shown: 0,
        evidence: "SQLAlchemy's `table.col AS table_col` labels",
    },
    // `func.count()` and the other SQL functions get an anonymous `<name>_<n>` label.
    Shape {
        name: "SQLAlchemy",
        pattern: r"\b(?:COUNT|SUM|MIN|MAX|AVG|count|sum|min|max|avg)\([\w.*]*\) AS (?:count|sum|min|max|avg)_\d+\b",
        same: &[],
        shown: 0,
        evidence: "SQLAlchemy's `count(…) AS count_1` anonymous labels",
    },
    // An ORM INSERT on the psycopg 3 and asyncpg dialects: every value a placeholder cast to
    // its column's SQL type, the new id returned qualified by its (unquoted) table. The
    // normaliser upper-cases type names (`$1::int` → `$1::INT`), so the case is no evidence:
    // each cast must be a name SQLAlchemy's PostgreSQL type compiler writes for the types it
    // casts (`INTEGER`, never `INT` or `INT4`; `VARCHAR`; `TIMESTAMP WITHOUT TIME ZONE`).
    Shape {
        name: "SQLAlchemy",
        pattern: r"^INSERT INTO (\w+) \([\w, ]+\) VALUES \(\$\d+::(?:INTEGER|SMALLINT|BIGINT|BOOLEAN|VARCHAR|TEXT|DATE|INTERVAL|JSONB?|(?:TIMESTAMP|TIME) WITH(?:OUT)? TIME ZONE)(?:, \$\d+::(?:INTEGER|SMALLINT|BIGINT|BOOLEAN|VARCHAR|TEXT|DATE|INTERVAL|JSONB?|(?:TIMESTAMP|TIME) WITH(?:OUT)? TIME ZONE))*\) RETURNING (\w+)\.\w+$",
        same: &[(1, 2)],
        shown: 0,
        evidence: "SQLAlchemy's `INSERT INTO t (…) VALUES ($1::INTEGER, …) RETURNING t.id`",
    },
    Shape {
        name: "Ecto",
        pattern: r#"\bFROM "\w+" AS [a-z]\d\b"#,
        same: &[],
        shown: 0,
        evidence: r#"Ecto's `FROM "table" AS t0` aliases"#,
    },
    // SeaORM's `find_related` joins the parent's table and filters it by its own key.
    Shape {
        name: "SeaORM",
        pattern: r#"\bFROM "(\w+)" INNER JOIN "(\w+)" ON "(\w+)"\."(\w+)" = "(\w+)"\."\w+" WHERE "(\w+)"\."(\w+)" = \$\d+"#,
        same: &[(2, 3), (1, 5), (2, 6), (4, 7)],
        shown: 0,
        evidence: r#"SeaORM's find_related: `FROM "child" INNER JOIN "parent" ON "parent"."id" = "child"."fk" WHERE "parent"."id" = $1`"#,
    },
    // Its belongs-to `find_related` joins the child's table and filters it by its own key.
    Shape {
        name: "SeaORM",
        pattern: r#"\bFROM "(\w+)" INNER JOIN "(\w+)" ON "(\w+)"\."\w+" = "(\w+)"\."(\w+)" WHERE "(\w+)"\."(\w+)" = \$\d+"#,
        same: &[(2, 3), (1, 4), (2, 6), (5, 7)],
        shown: 0,
        evidence: r#"SeaORM's find_related: `FROM "parent" INNER JOIN "child" ON "child"."fk" = "parent"."id" WHERE "child"."id" = $1`"#,
    },
    // SeaORM's `find_with_related` / `find_also_related` prefix each entity's columns.
    Shape {
        name: "SeaORM",
        pattern: r#""\w+"\."(\w+)" AS "[AB]_(\w+)""#,
        same: &[(1, 2)],
        shown: 0,
        evidence: r#"SeaORM's `"table"."col" AS "A_col"` select prefixes"#,
    },
    // Diesel qualifies and quotes every column and puts each filter in parentheses.
    Shape {
        name: "Diesel",
        pattern: r#"^SELECT "(\w+)"\."\w+"(?:, "\w+"\."\w+")* FROM "(\w+)" WHERE \("(\w+)"\."\w+" = \$\d+\)"#,
        same: &[(1, 2), (2, 3)],
        shown: 0,
        evidence: r#"Diesel's `SELECT "table"."col", … WHERE ("table"."col" = $1)` (each filter in parentheses)"#,
    },
    // Its count: `count()` on a filter, the filter in parentheses.
    Shape {
        name: "Diesel",
        pattern: r#"^SELECT COUNT\(\*\) FROM "(\w+)" WHERE \("(\w+)"\."\w+" = \$\d+\)"#,
        same: &[(1, 2)],
        shown: 0,
        evidence: r#"Diesel's `SELECT COUNT(*) FROM "table" WHERE ("table"."col" = $1)` (each filter in parentheses)"#,
    },
    // GORM v1's soft-delete scope (gorm.Model) before the query's own conditions, each
    // wrapped twice: `WHERE "books"."deleted_at" IS NULL AND (("author_id" = $1))`. GORM v2
    // writes `"books"."author_id" = $1 AND "books"."deleted_at" IS NULL`, as others could.
    Shape {
        name: "GORM",
        pattern: r#"\bFROM "(\w+)"(?: INNER JOIN "\w+" ON "\w+"\."\w+" = "\w+"\."\w+")? WHERE "(\w+)"\."deleted_at" IS NULL AND \(\("#,
        same: &[(1, 2)],
        shown: 0,
        evidence: r#"GORM v1's `WHERE "table"."deleted_at" IS NULL AND ((…))` (gorm.Model's soft-delete scope, then the conditions)"#,
    },
    Shape {
        name: "Rails",
        pattern: r#"^SELECT "\w+"\.\* FROM "\w+""#,
        same: &[],
        shown: 0,
        evidence: r#"ActiveRecord's `SELECT "table".* FROM "table"`"#,
    },
    Shape {
        name: "Django",
        pattern: r#"^SELECT( DISTINCT)? "[a-z0-9]+_[a-z0-9_]+"\."\w+", "#,
        same: &[],
        shown: 0,
        evidence: r#"Django's `"app_model"."col"` column lists"#,
    },
];

/// The tag values that name an ORM: the value's first word (before `:`, `/`, `.`, `@`, a
/// space or a `%`: google-cloud-sqlcommenter doubles the `%` of `%3A`, which only a driver
/// that interpolates parameters undoes; `django:5.2.19`, `django.db.backends.postgresql`,
/// `sqlalchemy:2.0.58`), lowercased.
const TAGGED: &[(&str, &str)] = &[
    ("django", "Django"),
    ("sqlalchemy", "SQLAlchemy"),
    ("rails", "Rails"),
    ("activerecord", "Rails"),
    ("active_record", "Rails"),
    ("sequelize", "Sequelize"),
    ("typeorm", "TypeORM"),
    ("prisma", "Prisma"),
    ("hibernate", "Hibernate"),
    // Spring's sqlcommenter tags say `framework='spring'`: Spring Data JPA runs on Hibernate.
    ("spring", "Hibernate"),
    ("ecto", "Ecto"),
    ("gorm", "GORM"),
    ("diesel", "Diesel"),
    ("sea-orm", "SeaORM"),
    ("sea_orm", "SeaORM"),
    ("sqlx", "sqlx"),
];

/// The tags read for an ORM, in the order they are trusted: the ORM's own tag, then the
/// framework's, then the driver's.
const ORM_TAGS: [&str; 3] = ["db_framework", "framework", "db_driver"];

/// The framework a finding's statements show, and the evidence: a sqlcommenter tag naming an
/// ORM (the child's, else the parent's), else a SQL shape only one ORM writes (the child's,
/// else the parent's), else stack tags that name no ORM querycomb knows (evidence without a
/// name, so the fix stays in SQL terms).
pub fn framework(finding: &Finding) -> Option<(Option<&'static str>, String)> {
    let child = finding.children.first()?;
    let parent = finding.parent.as_ref();
    let in_parent = |evidence: String| format!("{evidence} (in the parent query)");
    let named = |q: &QueryRef| {
        ORM_TAGS.iter().find_map(|key| {
            let value = q.stack_tags.get(*key)?;
            let name = tag_names(value)?;
            Some((
                Some(name),
                format!("sqlcommenter tag {key}='{}'", quote(value)),
            ))
        })
    };
    let shaped =
        |q: &QueryRef| sql_shape(&q.normalized).map(|(name, evidence)| (Some(name), evidence));
    named(child)
        .or_else(|| parent.and_then(named).map(|(n, e)| (n, in_parent(e))))
        .or_else(|| shaped(child))
        .or_else(|| parent.and_then(shaped).map(|(n, e)| (n, in_parent(e))))
        .or_else(|| unnamed(&child.stack_tags).map(|e| (None, e)))
        .or_else(|| {
            let e = unnamed(&parent?.stack_tags)?;
            Some((None, in_parent(e)))
        })
}

/// The ORM a tag value names.
fn tag_names(value: &str) -> Option<&'static str> {
    let word = value
        .split([':', '/', '.', '@', ' ', '%'])
        .next()?
        .to_ascii_lowercase();
    TAGGED
        .iter()
        .find(|(tagged, _)| *tagged == word)
        .map(|(_, name)| *name)
}

/// Stack tags that name no ORM, as evidence: what the stack said, and that no fix of an ORM
/// follows from it. GraphQL's and the trace's own (the resolver span, its SDK's language)
/// are evidence of their own.
fn unnamed(tags: &BTreeMap<String, String>) -> Option<String> {
    let said: Vec<String> = tags
        .iter()
        .filter(|(key, _)| !key.starts_with("graphql") && *key != SDK_LANGUAGE_TAG)
        .map(|(key, value)| format!("{key}='{}'", quote(value)))
        .collect();
    (!said.is_empty()).then(|| {
        format!(
            "sqlcommenter tags {} (no ORM querycomb knows)",
            said.join(", ")
        )
    })
}

/// What shows the loop ran in GraphQL resolvers: the resolver span a trace shows the child
/// (else the parent) ran under, the request's route, or a `graphql*` tag of the child or the
/// parent.
fn graphql(finding: &Finding) -> Option<String> {
    let child = finding.children.first();
    let parent = finding.parent.as_ref();
    let spanned = |q: &QueryRef| {
        let path = q.stack_tags.get(RESOLVER_SPAN_TAG)?;
        let mut said = format!(
            "GraphQL resolver span `{RESOLVER_SPAN_TAG} {}`",
            quote(path)
        );
        if let Some(language) = q.stack_tags.get(SDK_LANGUAGE_TAG) {
            said.push_str(&format!(
                " traced by a {0} SDK (resource attribute {SDK_LANGUAGE_TAG}='{0}')",
                quote(language)
            ));
        }
        Some(said)
    };
    if let Some(span) = child.and_then(spanned) {
        return Some(span);
    }
    if let Some(span) = parent.and_then(spanned) {
        return Some(format!("{span} (in the parent query)"));
    }
    if let Some(route) = finding.request.route.as_deref() {
        if route.to_ascii_lowercase().contains("graphql") {
            return Some(format!("the request's route `{}`", quote(route)));
        }
    }
    let tagged = |q: &QueryRef| {
        q.stack_tags
            .iter()
            .find(|(key, _)| key.starts_with("graphql") && *key != RESOLVER_SPAN_TAG)
            .map(|(key, value)| format!("sqlcommenter tag {key}='{}'", quote(value)))
    };
    child.and_then(tagged).or_else(|| parent.and_then(tagged))
}

/// The framework whose SQL shape `sql` has, with the evidence: the shape, and the text of
/// `sql` that has it.
fn sql_shape(sql: &str) -> Option<(&'static str, String)> {
    static COMPILED: OnceLock<Vec<Option<Regex>>> = OnceLock::new();
    let compiled =
        COMPILED.get_or_init(|| SHAPES.iter().map(|s| Regex::new(s.pattern).ok()).collect());
    SHAPES.iter().zip(compiled).find_map(|(shape, re)| {
        let caps = re.as_ref()?.captures(sql)?;
        let text = |i: usize| caps.get(i).map(|m| m.as_str());
        let consistent = shape.same.iter().all(|&(a, b)| text(a) == text(b));
        let quoted = quote(text(shape.shown)?);
        consistent.then(|| (shape.name, format!("{}: `{quoted}`", shape.evidence)))
    })
}

/// `text`, cut to 80 characters.
fn quote(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((at, _)) => format!("{}…", text.get(..at).unwrap_or(text)),
        None => text.to_owned(),
    }
}

/// The relation and the fix for one loop finding.
pub fn advise(finding: &Finding) -> Option<Advice> {
    let child = finding.children.first()?;
    let sql = &child.normalized;
    let shape = Fingerprinter::new(Dialect::Postgres).describe(sql);
    let Lookup {
        relation,
        evidence: relation_evidence,
        key,
        through,
    } = relation(finding, &shape);
    // The child's tags or SQL, else the parent's (a write loop's INSERT names no ORM; the
    // query whose rows it goes through does).
    let found = framework(finding);
    let orm = found.as_ref().and_then(|f| f.0);
    let qualifier = crate::batch::key(sql).and_then(|(qualifier, _)| qualifier);
    let parent_sql = finding.parent.as_ref().map(|p| p.normalized.as_str());
    let role = qualifier
        .as_deref()
        .filter(|_| orm == Some("Hibernate"))
        .and_then(hibernate_role);
    let name = match role {
        // Hibernate 3–5 name the alias of a collection load after the collection itself.
        Some(role) if matches!(relation, Relation::ToMany | Relation::ManyToMany) => role,
        Some(entity) => field_name(&key, Some(&entity), relation, parent_sql),
        None => {
            // A many-to-many names the model it reads, not the join table it looks up.
            let read = match (relation, shape.tables.first()) {
                (Relation::ManyToMany, Some(main)) => Some(
                    shape
                        .aliases
                        .iter()
                        .find(|(_, table)| table == main)
                        .map_or(main.as_str(), |(alias, _)| alias.as_str()),
                ),
                // A lookup through the other side's table (SeaORM's find_related) names the
                // table it reads.
                (Relation::ToMany | Relation::ToOne, Some(main))
                    if qualifier
                        .as_deref()
                        .is_some_and(|q| table_of(&shape, q) != main) =>
                {
                    Some(main.as_str())
                }
                _ => qualifier.as_deref(),
            };
            field_name(&key, model_name(&shape, read), relation, parent_sql)
        }
    };
    let names = Names {
        field: &name,
        table: shape.tables.first().map_or("", String::as_str),
        key: &key,
        through: through.as_deref(),
        verb: shape.verb,
    };
    let resolvers = graphql(finding).filter(|_| relation != Relation::Write);
    let fix = match &resolvers {
        Some(_) => dataloader_fix(orm, traced_language(finding), &names),
        None => fix_text(orm, relation, &names),
    };
    let mut warnings = Vec::new();
    if relation == Relation::ToMany || relation == Relation::ManyToMany {
        warnings.push(
            "a JOIN eager load of a to-many relation repeats each parent row once per child \
             (cartesian explosion): prefer the separate IN query"
                .to_owned(),
        );
    }
    if let Some(chunk) = finding.fix.plan_check.as_ref().and_then(|c| c.chunk_size) {
        warnings.push(format!(
            "the plan flips to a sequential scan past {chunk} keys: load in chunks of at most {chunk}"
        ));
    }
    if relation != Relation::Write {
        warnings.push(
            "an IN list of one placeholder per key meets driver limits (65,535 bind \
             parameters per statement): bind one array (`= ANY($1)`) or chunk"
                .to_owned(),
        );
    }
    if relation == Relation::Aggregate {
        warnings.push(
            "a counter cache or materialised view pays off only when the count is read far \
             more often than the table is written: compare the count's calls with the \
             table's writes (pg_stat_user_tables n_tup_ins + n_tup_upd + n_tup_del) first"
                .to_owned(),
        );
    }
    // GraphQL names the fix (a DataLoader) with the ORM's evidence kept beside it.
    let (framework, framework_evidence) = match (found, resolvers) {
        (Some((name, evidence)), Some(resolvers)) => (
            Some(name.unwrap_or("GraphQL")),
            Some(format!("{evidence}; GraphQL resolvers: {resolvers}")),
        ),
        (None, Some(resolvers)) => (Some("GraphQL"), Some(resolvers)),
        (Some((name, evidence)), None) => (name, Some(evidence)),
        (None, None) => (None, None),
    };
    Some(Advice {
        relation,
        relation_evidence,
        framework: framework.map(str::to_owned),
        framework_evidence,
        fix,
        warnings,
    })
}

/// The relation of a loop's child to its parent.
struct Lookup {
    relation: Relation,
    /// What shows it.
    evidence: String,
    /// The key column.
    key: String,
    /// Many-to-many: the join table the key is looked up in.
    through: Option<String>,
}

impl Lookup {
    fn new(relation: Relation, evidence: impl Into<String>, key: String) -> Lookup {
        Lookup {
            relation,
            evidence: evidence.into(),
            key,
            through: None,
        }
    }
}

/// The relation, what shows it, and the key column.
fn relation(finding: &Finding, shape: &querycomb_sql::Shape) -> Lookup {
    let key = shape.filter_columns.first().cloned().unwrap_or_default();
    if finding.kind == kinds::n_plus_one_write::KIND
        || matches!(shape.verb, Verb::Insert | Verb::Update | Verb::Delete)
    {
        return Lookup::new(Relation::Write, "one write statement per row", key);
    }
    let (qualifier, column) =
        crate::batch::key(&finding.children[0].normalized).unwrap_or((None, key.clone()));
    let main = shape.tables.first().cloned().unwrap_or_default();
    let key_table = qualifier
        .as_deref()
        .map_or(main.as_str(), |q| table_of(shape, q));
    if finding.kind == kinds::count_in_loop::KIND || shape.aggregate {
        // A count through the parent's table (SeaORM's `find_related(..).count(db)`) counts
        // the child's rows by its foreign key.
        let key = match key_table != main {
            true => joined_column(shape, key_table, &column, &main).unwrap_or(key),
            false => key,
        };
        return Lookup::new(
            Relation::Aggregate,
            "an aggregate (COUNT/EXISTS) per parent row",
            key,
        );
    }
    // SeaORM's find_related: `FROM books INNER JOIN authors ON authors.id = books.author_id
    // WHERE authors.id = $1`: the parent's table is joined only to be filtered by its key, on
    // which the child's foreign key is joined.
    if key_table != main {
        if let Some(fk) = joined_column(shape, key_table, &column, &main) {
            return Lookup::new(
                Relation::ToMany,
                format!("{main} looked up by its foreign key {fk}, joined to {key_table}.{column}"),
                fk,
            );
        }
        // Its belongs-to: `FROM authors INNER JOIN books ON books.author_id = authors.id WHERE
        // books.id = $1`: the child's row, by its primary key, names the parent by its own.
        if column.eq_ignore_ascii_case("id") {
            if let Some(fk) = joined_column(shape, &main, "id", key_table) {
                return Lookup::new(
                    Relation::ToOne,
                    format!(
                        "{main} read through {key_table}.{fk}, {key_table} looked up by its id"
                    ),
                    column,
                );
            }
        }
    }
    let other_table = shape
        .tables
        .iter()
        .find(|t| *t != key_table)
        .filter(|_| shape.tables.iter().any(|t| t == key_table));
    // A join table is looked up by one of its foreign keys, never by its own id.
    let foreign_key = column.ends_with("_id") || (column.ends_with("Id") && column != "Id");
    match other_table {
        // Django: `FROM tag INNER JOIN book_tags … WHERE book_tags.book_id = $1`.
        Some(_) if key_table != main && foreign_key => {
            return Lookup {
                through: Some(key_table.to_owned()),
                ..Lookup::new(
                    Relation::ManyToMany,
                    format!(
                        "{main} is read through {key_table}, looked up by {key_table}.{column}"
                    ),
                    column,
                )
            };
        }
        // Hibernate: `FROM book_tags tags0_ INNER JOIN tags tag1_ … WHERE tags0_.book_id = $1`.
        Some(read) if is_join_table(shape, key_table) => {
            return Lookup {
                through: Some(key_table.to_owned()),
                ..Lookup::new(
                    Relation::ManyToMany,
                    format!(
                        "{read} is read through {key_table}, looked up by {key_table}.{column} \
                         ({key_table}'s columns are all foreign keys)"
                    ),
                    column,
                )
            };
        }
        // Another table's key that is no foreign key: what the join means is not shown.
        Some(_) if key_table != main => {
            return Lookup::new(
                Relation::Unknown,
                format!("{main} joined to {key_table}, looked up by {key_table}.{column}"),
                column,
            );
        }
        _ => {}
    }
    // With a DSN, the catalogs say what the lookup column is.
    let catalog = finding
        .fix
        .plan_check
        .as_ref()
        .and_then(|c| c.lookup_key.as_deref());
    match catalog {
        Some(k) if k == "primary key" || k == "unique key" => {
            return Lookup::new(
                Relation::ToOne,
                format!("{main} looked up by {column}, its {k} (catalogs)"),
                column,
            )
        }
        Some(k) if k.starts_with("foreign key") => {
            return Lookup::new(
                Relation::ToMany,
                format!("{main} looked up by {column}, a {k} (catalogs)"),
                column,
            )
        }
        _ => {}
    }
    let unique = finding
        .fix
        .plan_check
        .as_ref()
        .and_then(|c| c.child.as_ref())
        .is_some_and(|c| c.rows <= 1.0);
    if column.eq_ignore_ascii_case("id") {
        return Lookup::new(
            Relation::ToOne,
            format!("{main} looked up by its id"),
            column,
        );
    }
    if column.ends_with("_id") || column.ends_with("Id") {
        return Lookup::new(
            Relation::ToMany,
            format!("{main} looked up by its foreign key {column}"),
            column,
        );
    }
    if unique {
        return Lookup::new(
            Relation::ToOne,
            format!("{main} looked up by {column}, at most one row per key (plan estimate)"),
            column,
        );
    }
    Lookup::new(
        Relation::Unknown,
        format!("{main} looked up by {column}"),
        column,
    )
}

/// The table `qualifier` names: itself, or the table it aliases.
fn table_of<'s>(shape: &'s querycomb_sql::Shape, qualifier: &'s str) -> &'s str {
    shape
        .aliases
        .iter()
        .find(|(alias, _)| alias == qualifier)
        .map_or(qualifier, |(_, table)| table.as_str())
}

/// The column of `other` that the statement joins to `table`.`column` (`a.x = b.y`, either
/// way round).
fn joined_column(
    shape: &querycomb_sql::Shape,
    table: &str,
    column: &str,
    other: &str,
) -> Option<String> {
    static EQUALS: OnceLock<Option<Regex>> = OnceLock::new();
    let re = EQUALS
        .get_or_init(|| Regex::new(r#"("?\w+"?)\.("?\w+"?) = ("?\w+"?)\.("?\w+"?)"#).ok())
        .as_ref()?;
    let unquote = |p: &str| p.trim_matches('"').to_owned();
    re.captures_iter(&shape.normalized).find_map(|c| {
        let part = |i: usize| c.get(i).map(|m| unquote(m.as_str()));
        let (a, b) = ((part(1)?, part(2)?), (part(3)?, part(4)?));
        let joins = |key: &(String, String), joined: &(String, String)| {
            table_of(shape, &key.0) == table
                && key.1 == column
                && table_of(shape, &joined.0) == other
        };
        if joins(&a, &b) {
            Some(b.1)
        } else if joins(&b, &a) {
            Some(a.1)
        } else {
            None
        }
    })
}

/// A table whose every column the statement names (qualified) is a foreign key (`book_id`,
/// `tag_id`, never `id`), at least two of them: a many-to-many join table. A table with
/// columns of its own (`books0_.title`) is an entity's table joined to another.
fn is_join_table(shape: &querycomb_sql::Shape, table: &str) -> bool {
    static QUALIFIED: OnceLock<Option<Regex>> = OnceLock::new();
    let Some(re) = QUALIFIED
        .get_or_init(|| Regex::new(r#"("?\w+"?)\.("?\w+"?)"#).ok())
        .as_ref()
    else {
        return false;
    };
    let unquote = |p: &str| p.trim_matches('"').to_owned();
    let mut columns: Vec<String> = re
        .captures_iter(&shape.normalized)
        .filter_map(|c| Some((unquote(c.get(1)?.as_str()), unquote(c.get(2)?.as_str()))))
        .filter(|(qualifier, _)| table_of(shape, qualifier) == table)
        .map(|(_, column)| column)
        .collect();
    columns.sort_unstable();
    columns.dedup();
    columns.len() >= 2
        && columns
            .iter()
            .all(|c| c.ends_with("_id") || (c.ends_with("Id") && c != "Id"))
}

/// The entity or collection a Hibernate 3–5 alias is named after: `books0_` → `books`
/// (Hibernate cuts the name to 10 characters, shown with `…`).
fn hibernate_role(alias: &str) -> Option<String> {
    let stem = alias
        .strip_suffix('_')?
        .trim_end_matches(|c: char| c.is_ascii_digit());
    let generated = stem.len() < alias.len() - 1
        && stem.starts_with(|c: char| c.is_ascii_lowercase())
        && stem
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    generated.then(|| match stem.len() {
        10.. => format!("{stem}…"),
        _ => stem.to_owned(),
    })
}

/// The model a lookup names: an alias that is the model's name (Sequelize's `AS "author"`,
/// TypeORM's `"Author"`), else the table (also behind a generated alias such as Hibernate 6's
/// `a1_0` or Ecto's `a0`).
fn model_name<'s>(shape: &'s querycomb_sql::Shape, qualifier: Option<&'s str>) -> Option<&'s str> {
    let Some(q) = qualifier else {
        return shape.tables.first().map(String::as_str);
    };
    let generated = q.starts_with(|c: char| c.is_ascii_lowercase())
        && q.len() <= 6
        && q.bytes().skip(1).all(|b| b.is_ascii_digit() || b == b'_');
    if generated || shape.tables.iter().any(|t| t == q) {
        Some(table_of(shape, q))
    } else {
        Some(q)
    }
}

/// The ORM field name the fix names: `author` for `author_id`, else the table's last word.
fn field_name(key: &str, table: Option<&str>, relation: Relation, parent: Option<&str>) -> String {
    let table = table.unwrap_or("related");
    let table_word = table.rsplit('_').next().unwrap_or(table).to_owned();
    // The parent's own foreign key names the to-one field: `books.author_id` → `author`,
    // TypeORM's `"Book"."authorId"` (its default join column is `<property>Id`) → `author`.
    let singular = table_word.strip_suffix('s').unwrap_or(&table_word);
    let from_parent = [table_word.as_str(), singular]
        .into_iter()
        .flat_map(|stem| [stem.to_owned(), lower_first(stem)])
        .find(|stem| {
            parent.is_some_and(|p| {
                p.contains(&format!("{stem}_id")) || p.contains(&format!("\"{stem}Id\""))
            })
        });
    if let (Relation::ToOne, Some(stem)) = (relation, from_parent) {
        return stem;
    }
    match relation {
        // A to-one field is singular in every ORM (`belongs_to :author` on `authors`).
        Relation::ToOne => key
            .strip_suffix("_id")
            .filter(|_| key != "id")
            .map_or_else(|| singular_of(&table_word), str::to_owned),
        _ => table_word,
    }
}

/// `authors` → `author`, `categories` → `category`, `addresses` → `address`.
fn singular_of(word: &str) -> String {
    if let Some(stem) = word.strip_suffix("ies") {
        return format!("{stem}y");
    }
    if let Some(stem) = word.strip_suffix("sses") {
        return format!("{stem}ss");
    }
    match word.strip_suffix('s') {
        Some(stem) if !stem.ends_with('s') => stem.to_owned(),
        _ => word.to_owned(),
    }
}

/// `Author` → `author`.
fn lower_first(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or(String::new(), |first| {
        first.to_lowercase().chain(chars).collect()
    })
}

/// What a fix text names: the ORM field, the looked-up table and key column, the join table
/// of a many-to-many, the verb.
struct Names<'a> {
    field: &'a str,
    table: &'a str,
    key: &'a str,
    through: Option<&'a str>,
    verb: Verb,
}

fn fix_text(framework: Option<&str>, relation: Relation, names: &Names<'_>) -> String {
    use Relation::*;
    let name = names.field;
    if framework == Some("Hibernate") {
        return hibernate_fix(relation, names);
    }
    let text = match (framework, relation) {
        (Some("Django"), ToOne) => format!("select_related(\"{name}\") on the parent queryset"),
        (Some("Django"), ToMany) => {
            format!("prefetch_related(\"{name}_set\") (or the related_name) on the parent queryset")
        }
        (Some("Django"), ManyToMany) => match django_m2m_field(names) {
            Some(field) => format!("prefetch_related(\"{field}\") on the parent queryset"),
            None => format!(
                "prefetch_related(\"{name}_set\") (or the related_name) on the parent queryset"
            ),
        },
        (Some("Django"), Aggregate) => {
            format!("annotate(n=Count(\"{name}\")) on the parent queryset")
        }
        (Some("Django"), Write) => match names.verb {
            Verb::Insert => "bulk_create([...]) instead of create() or save() per row".into(),
            Verb::Delete => {
                "one filter(pk__in=ids).delete() instead of delete() per row".into()
            }
            _ => "bulk_update(objs, fields) (or QuerySet.update() when every row gets the same \
                  values) instead of save() per row"
                .into(),
        },
        (Some("Rails"), ToOne | ToMany | ManyToMany) => {
            format!("preload(:{name}) (or includes) on the parent relation")
        }
        (Some("Rails"), Aggregate) => format!(
            "one where({key}: ids).group(:{key}).count for all parents (or a counter_cache)",
            key = names.key
        ),
        (Some("Rails"), Write) => match names.verb {
            Verb::Insert => "insert_all(rows) (or upsert_all) instead of create or save per row".into(),
            Verb::Delete => "one where(id: ids).delete_all instead of destroy per row".into(),
            _ => "update_all when every row gets the same values, upsert_all(rows) when they \
                  differ, instead of save per row"
                .into(),
        },
        (Some("SQLAlchemy"), ToOne) => format!("options(joinedload(Parent.{name}))"),
        (Some("SQLAlchemy"), ToMany | ManyToMany) => {
            format!("options(selectinload(Parent.{name}))")
        }
        (Some("SQLAlchemy"), Aggregate) => format!(
            "one select(Child.{key}, func.count()).where(Child.{key}.in_(ids)).group_by(Child.{key}) \
             for all parents",
            key = names.key
        ),
        (Some("SQLAlchemy"), Write) if names.verb == Verb::Insert => {
            "session.add_all(rows) with one flush (or session.execute(insert(Model), rows)), \
             which SQLAlchemy 2.0 sends as one multi-row INSERT, instead of a flush per row"
                .into()
        }
        (Some("SQLAlchemy"), Write) if names.verb == Verb::Delete => {
            "one session.execute(delete(Model).where(Model.id.in_(ids))) instead of \
             session.delete() and a flush per row"
                .into()
        }
        (Some("SQLAlchemy"), Write) => "one session.execute(update(Model), rows) (ORM bulk \
            UPDATE by primary key) instead of a flush per row"
            .into(),
        (Some("Sequelize"), ToOne) => {
            format!("include: [{{ model: <the \"{name}\" model> }}] in the parent findAll")
        }
        (Some("Sequelize"), ToMany) => {
            format!("include: [{{ model: <the \"{name}\" model>, separate: true }}] in the parent findAll")
        }
        // `separate` is for hasMany only: a belongsToMany include is a JOIN.
        (Some("Sequelize"), ManyToMany) => format!(
            "include: [{{ model: <the \"{name}\" model> }}] in the parent findAll (a JOIN: \
             belongsToMany cannot be separate: true; with many {name} rows per parent, one \
             findAll of the through model with where: {{ {key}: ids }} instead)",
            key = names.key
        ),
        (Some("Sequelize"), Aggregate) => format!(
            "one findAll with attributes: [\"{key}\", [fn(\"COUNT\", col(\"id\")), \"n\"]], \
             where: {{ {key}: ids }}, group: [\"{key}\"] for all parents",
            key = names.key
        ),
        (Some("Sequelize"), Write) => match names.verb {
            Verb::Insert => "bulkCreate instead of create per row".into(),
            Verb::Delete => {
                "one Model.destroy({ where: { id: ids } }) instead of destroy() per row".into()
            }
            _ => "one Model.update(values, { where: { id: ids } }) when every row gets the same \
                  values, bulkCreate(rows, { updateOnDuplicate: [the changed fields] }) when they \
                  differ, instead of save() per row"
                .into(),
        },
        (Some("TypeORM"), ToOne) => {
            format!("relations: [\"{name}\"] (or leftJoinAndSelect) on the parent find")
        }
        (Some("TypeORM"), ToMany | ManyToMany) => {
            format!("relations: [\"<the parent's {name} relation>\"] with relationLoadStrategy: \"query\" (one more query by the parent ids, no JOIN)")
        }
        (Some("TypeORM"), Aggregate) => format!(
            "one createQueryBuilder query: .select(\"{key}\").addSelect(\"COUNT(*)\", \"n\")\
             .where(\"{key} IN (:...ids)\").groupBy(\"{key}\") for all parents (or \
             loadRelationCountAndMap on the parent query)",
            key = names.key
        ),
        (Some("TypeORM"), Write) => match names.verb {
            Verb::Insert => "one save([...rows]) (or insert([...rows])), a multi-row INSERT, \
                             instead of save per row"
                .into(),
            Verb::Delete => "one delete(ids) (DELETE … WHERE id IN) instead of remove or \
                             delete per row"
                .into(),
            _ => "one update(ids, values) when every row gets the same values, upsert(rows, \
                  [\"id\"]) when they differ, instead of save or update per row"
                .into(),
        },
        (Some("Prisma"), ToOne | ToMany | ManyToMany) => {
            format!("include: {{ {name}: true }} on the parent query")
        }
        (Some("Prisma"), Write) => "createMany instead of create per row".into(),
        (Some("Ecto"), ToOne | ToMany | ManyToMany) => format!("Repo.preload(parents, :{name})"),
        (Some("Ecto"), Write) => "Repo.insert_all instead of Repo.insert per row".into(),
        (Some("GORM"), ToOne | ToMany | ManyToMany) => {
            format!("Preload(\"{}\") on the parent query", upper_first(name))
        }
        (Some("GORM"), Aggregate) => format!(
            "one db.Model(&{model}{{}}).Select(\"{key}, count(*)\").Where(\"{key} IN (?)\", \
             ids).Group(\"{key}\") query for all parents",
            model = upper_first(&singular_of(names.table.rsplit('_').next().unwrap_or(names.table))),
            key = names.key
        ),
        (Some("GORM"), Write) => {
            "one multi-row INSERT instead of Create per row: GORM v2's Create(&rows) with the \
             whole slice (CreateInBatches for large ones); GORM v1 creates one row at a time, \
             so one db.Exec of INSERT … SELECT unnest(?) there"
                .into()
        }
        (Some("Diesel"), ToOne) => format!(
            "one {table}::table.filter({table}::{key}.eq_any(&keys)) for all parents (or an \
             inner_join in the parents' query)",
            table = names.table,
            key = names.key
        ),
        (Some("Diesel"), ToMany | ManyToMany) => format!(
            "{model}::belonging_to(&parents) loaded once (#[diesel(belongs_to(Parent))] on \
             {model}), then .grouped_by(&parents)",
            model = upper_first(&singular_of(name))
        ),
        (Some("Diesel"), Aggregate) => format!(
            "one {table}::table.filter({table}::{key}.eq_any(&ids)).group_by({table}::{key})\
             .select(({table}::{key}, count_star())) for all parents",
            table = names.table,
            key = names.key
        ),
        (Some("Diesel"), Write) => format!(
            "one insert_into({}::table).values(&rows), a multi-row INSERT, instead of one per row",
            names.table
        ),
        (Some("SeaORM"), ToOne) => format!(
            "parents.load_one(<the {name} Entity>, db) (one IN query), or find_also_related on \
             the parent query"
        ),
        (Some("SeaORM"), ToMany | ManyToMany) => format!(
            "parents.load_many(<the {name} Entity>, db) (one IN query); find_with_related on \
             the parent query only when each parent has few {name}"
        ),
        (Some("SeaORM"), Aggregate) => format!(
            "one grouped query for all parents: <the {table} Entity>::find().select_only()\
             .column(Column::{key}).column_as(Column::Id.count(), \"n\")\
             .filter(Column::{key}.is_in(ids)).group_by(Column::{key}).into_tuple()",
            table = names.table,
            key = upper_camel(names.key)
        ),
        (Some("SeaORM"), Write) => {
            "one Entity::insert_many(rows) instead of insert per row".into()
        }
        (Some("sqlx"), ToOne | ToMany | ManyToMany | Unknown) => format!(
            "one query WHERE {key} = ANY($1) bound with all the keys (.bind(&keys)), the rows \
             grouped by {key} in Rust",
            key = names.key
        ),
        (_, ToOne) => {
            "one query for all parents' rows: join it, or WHERE the lookup column = ANY(all keys)"
                .into()
        }
        (_, ToMany) => "one separate query WHERE the foreign key = ANY(the parents' ids)".into(),
        (_, ManyToMany) => {
            "one query through the join table WHERE its key = ANY(the parents' ids)".into()
        }
        (_, Aggregate) => "one GROUP BY query for all parents' keys".into(),
        (_, Write) => {
            "one multi-row statement (multi-row INSERT, UPDATE … FROM (VALUES …), COPY)".into()
        }
        (_, Unknown) => "one query with the lookup column = ANY(all keys)".into(),
    };
    text
}

/// The language an ORM is written in, as OpenTelemetry's `telemetry.sdk.language` names it.
fn orm_language(orm: &str) -> Option<&'static str> {
    Some(match orm {
        "sqlx" | "Diesel" | "SeaORM" => "rust",
        "Sequelize" | "TypeORM" | "Prisma" => "nodejs",
        "Django" | "SQLAlchemy" => "python",
        "Rails" => "ruby",
        "Hibernate" => "java",
        "Ecto" => "erlang",
        "GORM" => "go",
        _ => return None,
    })
}

/// The DataLoader of a language (`telemetry.sdk.language`'s names).
fn language_dataloader(language: &str) -> Option<&'static str> {
    Some(match language.to_ascii_lowercase().as_str() {
        "rust" => "async-graphql's DataLoader, impl Loader<K>",
        "nodejs" | "webjs" => "graphql/dataloader's new DataLoader(keys => …)",
        "python" => "Strawberry's (or graphene's) DataLoader",
        "ruby" => "graphql-ruby's GraphQL::Dataloader",
        "java" => "java-dataloader; Spring for GraphQL: @BatchMapping",
        "erlang" | "elixir" => "Absinthe's Dataloader",
        "go" => "graph-gophers/dataloader",
        "dotnet" => "Hot Chocolate's BatchDataLoader<TKey, TValue>",
        _ => return None,
    })
}

/// The language of the SDK that traced the loop's resolver (the child's, else the
/// parent's: the query whose resolver span is the evidence).
fn traced_language(finding: &Finding) -> Option<&str> {
    let child = finding.children.first();
    let traced = match child.and_then(|c| c.stack_tags.get(RESOLVER_SPAN_TAG)) {
        Some(_) => child,
        None => finding.parent.as_ref(),
    };
    traced
        .and_then(|q| q.stack_tags.get(SDK_LANGUAGE_TAG))
        .map(String::as_str)
}

/// The fix of a loop in GraphQL resolvers: a request-scoped DataLoader, the one named for
/// the stack when its ORM is known, else for the language the trace's SDK named.
fn dataloader_fix(orm: Option<&str>, language: Option<&str>, names: &Names<'_>) -> String {
    let loader = orm
        .and_then(orm_language)
        .or(language)
        .and_then(language_dataloader)
        .unwrap_or("async-graphql's DataLoader in Rust, graphql/dataloader in Node");
    format!(
        "a request-scoped DataLoader in the resolver ({loader}): one batch load of {table} \
         WHERE {key} = ANY(every key the resolvers asked for) instead of a query per parent",
        table = names.table,
        key = names.key
    )
}

/// `author_id` → `AuthorId` (SeaORM's Column variants).
fn upper_camel(word: &str) -> String {
    word.split('_').map(upper_first).collect()
}

/// `author` → `Author`.
fn upper_first(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or(String::new(), |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// The field of a Django many-to-many lookup's parent model: the auto-created join table is
/// `<app>_<model>_<field>` and the parent's key `<model>_id` (`shop_book_tags` by `book_id`
/// → `tags`). `None` when the lookup goes the other way (`tag.book_set`) or through a model
/// of the user's.
fn django_m2m_field(names: &Names<'_>) -> Option<String> {
    let model = names.key.strip_suffix("_id")?;
    let (_, field) = names.through?.split_once(&format!("_{model}_"))?;
    (!field.is_empty()).then(|| field.to_owned())
}

/// The fix in Hibernate's (and Spring Data JPA's) words.
fn hibernate_fix(relation: Relation, names: &Names<'_>) -> String {
    let (field, table, key) = (names.field, names.table, names.key);
    match relation {
        Relation::ToOne => format!(
            "join fetch p.{field} in the query that loads the parents (Spring Data: \
             @EntityGraph(attributePaths = \"{field}\") on the repository method)"
        ),
        Relation::ToMany | Relation::ManyToMany => format!(
            "batch fetching: @BatchSize(size = 50) on the {field} collection, or \
             hibernate.default_batch_fetch_size = 50 (one IN query per 50 parents); join fetch \
             p.{field} (or @EntityGraph) only when each parent has few {field}"
        ),
        Relation::Aggregate => match key.strip_suffix("_id") {
            Some(parent) => format!(
                "one aggregate query for all parents: select c.{parent}.id, count(c) from \
                 <the {table} entity> c where c.{parent} in (:parents) group by c.{parent}.id; \
                 or @Formula(\"(select count(*) from {table} c where c.{key} = id)\") on the \
                 parent entity"
            ),
            None => format!(
                "one aggregate query for all parents, grouped by {key}; or @Formula(\"(select \
                 count(*) from {table} c where c.{key} = id)\") on the parent entity"
            ),
        },
        Relation::Write if names.verb == Verb::Insert => "JDBC batching: \
            hibernate.jdbc.batch_size = 50 with hibernate.order_inserts = true, ids from a \
            sequence (IDENTITY ids turn insert batching off), and on PostgreSQL \
            reWriteBatchedInserts=true on the pgjdbc URL, so that each batch is one multi-row \
            INSERT"
            .into(),
        Relation::Write => "one bulk HQL update or delete for all rows (… where e.id in \
            (:ids)); JDBC batching (hibernate.jdbc.batch_size with hibernate.order_updates = \
            true) saves the round trips but still runs one statement per row"
            .into(),
        Relation::Unknown => format!(
            "one query for all parents' rows: batch fetching (@BatchSize, \
             hibernate.default_batch_fetch_size) or a query with {key} in (:keys)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shapes' regexes against the forms their documentation shows, and near misses. The
    /// Django, Sequelize, SQLAlchemy, TypeORM, Rails and Hibernate 3 shapes are also proven on
    /// SQL those ORMs wrote (crates/cli/tests/advice_orms.rs, advice_hibernate.rs).
    #[test]
    fn shapes_name_their_framework() {
        let cases = [
            (r#"SELECT "shop_author"."id", "shop_author"."name" FROM "shop_author" WHERE "shop_author"."id" = $1 LIMIT $2"#, Some("Django")),
            (r#"SELECT "id", "name" FROM "authors" AS "author" WHERE "author"."id" = $1"#, Some("Sequelize")),
            (r#"SELECT "book"."id" AS "book.id" FROM "books" AS "book""#, Some("Sequelize")),
            (r#"SELECT "book"."id" AS "author.id" FROM "books""#, None),
            (r#"SELECT "id" FROM "books" AS "book" ORDER BY "book"."id" ASC"#, Some("Sequelize")),
            (r#"SELECT "id" FROM "books" AS "b" ORDER BY "book"."id" ASC"#, None),
            (r#"SELECT "Book"."id" AS "Book_id" FROM "book" "Book""#, Some("TypeORM")),
            ("SELECT b1_0.id, b1_0.title FROM book b1_0 WHERE b1_0.author_id = $1", Some("Hibernate")),
            // Hibernate 3.6 (tests/e2e/hibernate), as normalised.
            ("SELECT author0_.id AS id0_0_, author0_.name AS name0_0_ FROM authors author0_ WHERE author0_.id = $1", Some("Hibernate")),
            ("SELECT COUNT(book0_.id) AS col_0_0_ FROM books book0_ WHERE book0_.author_id = $1", Some("Hibernate")),
            // Hibernate 5's labels (`<column cut to 10><n>_<m>_<k>_`), unnormalised.
            ("select person0_.id as id1_0_0_, person0_.name as name2_0_0_ from person person0_ where person0_.id=?", Some("Hibernate")),
            ("SELECT COUNT(b.id) AS n FROM books b0_ WHERE b.author_id = $1", None),
            ("SELECT books.id AS books_id, books.title AS books_title FROM books WHERE books.author_id = $1", Some("SQLAlchemy")),
            ("SELECT count(books.id) AS count_1 FROM books WHERE books.author_id = $1", Some("SQLAlchemy")),
            ("SELECT COUNT(*) AS n FROM books WHERE author_id = $1", None),
            ("INSERT INTO reviews (book_id, stars) VALUES ($1::INTEGER, $2::INTEGER) RETURNING reviews.id", Some("SQLAlchemy")),
            ("INSERT INTO reviews (book_id, stars) VALUES ($1, $2) RETURNING reviews.id", None),
            ("INSERT INTO reviews (book_id) VALUES ($1::INTEGER) RETURNING books.id", None),
            (r#"SELECT "books".* FROM "books" WHERE "books"."id" = $1 LIMIT $2"#, Some("Rails")),
            (r#"SELECT b0."id", b0."title" FROM "books" AS b0 WHERE (b0."author_id" = $1)"#, Some("Ecto")),
            // SeaORM 2 (tests/e2e/rust-seaorm): find_related, find_with_related; its loader's
            // tuple IN names nothing.
            (r#"SELECT "books"."id", "books"."author_id", "books"."title" FROM "books" INNER JOIN "authors" ON "authors"."id" = "books"."author_id" WHERE "authors"."id" = $1"#, Some("SeaORM")),
            (r#"SELECT "authors"."id" AS "A_id", "authors"."name" AS "A_name", "books"."id" AS "B_id", "books"."author_id" AS "B_author_id", "books"."title" AS "B_title" FROM "authors" LEFT JOIN "books" ON "authors"."id" = "books"."author_id" ORDER BY "authors"."id""#, Some("SeaORM")),
            (r#"SELECT "books"."id", "books"."author_id", "books"."title" FROM "books" WHERE ("books"."author_id") IN (($1), ...) ORDER BY "books"."id" ASC"#, None),
            // SeaORM 2 (tests/e2e/rust-seaorm): the belongs-to find_related, and count().
            (r#"SELECT "authors"."id", "authors"."name" FROM "authors" INNER JOIN "books" ON "books"."author_id" = "authors"."id" WHERE "books"."id" = $1 LIMIT $2"#, Some("SeaORM")),
            (r#"SELECT COUNT(*) AS num_items FROM (SELECT "books"."id", "books"."author_id", "books"."title" FROM "books" INNER JOIN "authors" ON "authors"."id" = "books"."author_id" WHERE "authors"."id" = $1) AS "sub_query""#, Some("SeaORM")),
            (r#"SELECT "authors"."id" FROM "authors" INNER JOIN "books" ON "books"."author_id" = "authors"."id" WHERE "books"."title" = $1"#, None),
            // Rails' has_many :through joins the other way.
            (r#"SELECT "tags".* FROM "tags" INNER JOIN "taggings" ON "tags"."id" = "taggings"."tag_id" WHERE "taggings"."book_id" = $1"#, Some("Rails")),
            // Diesel 2 (tests/e2e/rust-diesel): a filter in a loop, and its eq_any twin.
            (r#"SELECT "books"."id", "books"."author_id", "books"."title" FROM "books" WHERE ("books"."author_id" = $1) ORDER BY "books"."id""#, Some("Diesel")),
            (r#"SELECT "books"."id", "books"."author_id", "books"."title" FROM "books" WHERE ("books"."author_id" = ANY($1)) ORDER BY "books"."id""#, None),
            (r#"SELECT COUNT(*) FROM "books" WHERE ("books"."author_id" = $1)"#, Some("Diesel")),
            (r#"SELECT COUNT(*) FROM "books" WHERE ("authors"."id" = $1)"#, None),
            // GORM v1 (tests/e2e/gorm): Related, Association("Tags").Find, Count.
            (r#"SELECT * FROM "books" WHERE "books"."deleted_at" IS NULL AND (("author_id" = $1))"#, Some("GORM")),
            (r#"SELECT "tags".* FROM "tags" INNER JOIN "book_tags" ON "book_tags"."tag_id" = "tags"."id" WHERE "tags"."deleted_at" IS NULL AND (("book_tags"."book_id" IN ($1, ...)))"#, Some("GORM")),
            (r#"SELECT COUNT(*) FROM "books" WHERE "books"."deleted_at" IS NULL AND ((author_id = $1))"#, Some("GORM")),
            (r#"SELECT * FROM "books" WHERE "books"."deleted_at" IS NULL ORDER BY "id""#, None),
            // Django parenthesises only compound filters.
            (r#"SELECT "shop_book"."id", "shop_book"."title" FROM "shop_book" WHERE ("shop_book"."author_id" = $1 AND "shop_book"."title" = $2)"#, Some("Django")),
            ("SELECT id, title FROM books WHERE author_id = $1", None),
            (r#"SELECT "id" FROM "books" WHERE "author_id" = $1"#, None),
        ];
        for (sql, want) in cases {
            assert_eq!(sql_shape(sql).map(|f| f.0), want, "{sql}");
        }
    }

    /// The normaliser upper-cases type names, so a cast's case is no evidence: a hand-written
    /// INSERT with casts and a qualified RETURNING is not SQLAlchemy's unless each cast is a
    /// name SQLAlchemy's type compiler writes (never guess a framework without evidence).
    #[test]
    fn a_hand_written_insert_is_not_named_sqlalchemy() {
        let normalised = |sql: &str| {
            Fingerprinter::new(Dialect::Postgres)
                .describe(sql)
                .normalized
        };
        for sql in [
            "INSERT INTO t (a) VALUES ($1::int) RETURNING t.id",
            "insert into reviews (book_id, stars) values ($1::int4, $2::int4) returning reviews.id",
            "INSERT INTO reviews (book_id, stars) VALUES ($1::INT, $2) RETURNING reviews.id",
            "INSERT INTO reviews (book_id, stars) VALUES ($1, $2) RETURNING id",
        ] {
            let mut f = crate::tests::finding(&normalised(sql));
            f.kind = kinds::n_plus_one_write::KIND;
            let advice = advise(&f).unwrap();
            assert_eq!(advice.framework, None, "{sql}: {advice:?}");
            assert!(advice.framework_evidence.is_none(), "{sql}: {advice:?}");
        }
        // What SQLAlchemy 2.0 on psycopg 3 sent (tests/e2e/sqlalchemy), as normalised.
        let mut f = crate::tests::finding(&normalised(
            "INSERT INTO reviews (book_id, stars) VALUES ($1::INTEGER, $2::INTEGER) RETURNING reviews.id",
        ));
        f.kind = kinds::n_plus_one_write::KIND;
        assert_eq!(advise(&f).unwrap().framework.as_deref(), Some("SQLAlchemy"));
    }

    fn tagged(f: &mut Finding, tags: &[(&str, &str)]) {
        f.children[0].stack_tags = tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
    }

    /// Tags as google-cloud-sqlcommenter 2.0 writes them (decoded): its Django middleware's
    /// `framework='django:5.2.19'` and `db_driver='django.db.backends.postgresql'`, Spring's
    /// `framework='spring'`. A tag naming an ORM wins over the SQL; one naming none is
    /// evidence without a name, after any SQL shape.
    #[test]
    fn sqlcommenter_tags_name_the_orm_before_the_sql() {
        let mut f = crate::tests::finding("SELECT id, name FROM authors WHERE id = $1");
        assert_eq!(advise(&f).unwrap().framework, None);
        tagged(
            &mut f,
            &[
                ("db_driver", "django.db.backends.postgresql"),
                ("framework", "django:5.2.19"),
            ],
        );
        let django = advise(&f).unwrap();
        assert_eq!(django.framework.as_deref(), Some("Django"));
        assert_eq!(
            django.framework_evidence.as_deref(),
            Some("sqlcommenter tag framework='django:5.2.19'")
        );
        assert_eq!(
            django.fix,
            "select_related(\"author\") on the parent queryset"
        );
        tagged(&mut f, &[("framework", "spring")]);
        let spring = advise(&f).unwrap();
        assert_eq!(spring.framework.as_deref(), Some("Hibernate"));
        assert!(spring.fix.starts_with("join fetch p.author"), "{spring:?}");
        // A Flask app's statement on SQLAlchemy: the tag names no ORM, the SQL does.
        tagged(
            &mut f,
            &[("framework", "flask:3.1.0"), ("db_driver", "psycopg")],
        );
        f.children[0].normalized =
            "SELECT authors.id AS authors_id FROM authors WHERE authors.id = $1".into();
        assert_eq!(advise(&f).unwrap().framework.as_deref(), Some("SQLAlchemy"));
        // Without the SQL shape, the tags are said and name nothing.
        f.children[0].normalized = "SELECT id FROM authors WHERE id = $1".into();
        let flask = advise(&f).unwrap();
        assert_eq!(flask.framework, None);
        assert_eq!(
            flask.framework_evidence.as_deref(),
            Some("sqlcommenter tags db_driver='psycopg', framework='flask:3.1.0' (no ORM querycomb knows)")
        );
        assert!(
            flask.fix.starts_with("one query for all parents' rows"),
            "{flask:?}"
        );
        // The parent's tags name a write loop's ORM.
        f.kind = kinds::n_plus_one_write::KIND;
        f.children[0].normalized = "INSERT INTO reviews (book_id, stars) VALUES ($1, $2)".into();
        f.children[0].stack_tags.clear();
        let mut parent = f.children[0].clone();
        parent.normalized = "SELECT id FROM books".into();
        parent.stack_tags = [("db_framework".to_owned(), "sqlalchemy:2.0.58".to_owned())].into();
        f.parent = Some(parent);
        let write = advise(&f).unwrap();
        assert_eq!(write.framework.as_deref(), Some("SQLAlchemy"));
        assert_eq!(
            write.framework_evidence.as_deref(),
            Some("sqlcommenter tag db_framework='sqlalchemy:2.0.58' (in the parent query)")
        );
    }

    #[test]
    fn tag_values_name_orms_by_their_first_word() {
        let cases = [
            ("django:5.2.19", Some("Django")),
            ("django.db.backends.postgresql", Some("Django")),
            // `django%%3A5.2.19` in a statement without parameters, decoded.
            ("django%:5.2.19", Some("Django")),
            ("sqlalchemy:2.0.58", Some("SQLAlchemy")),
            ("Sequelize@6.37.7", Some("Sequelize")),
            ("sea-orm:1.1", Some("SeaORM")),
            ("spring", Some("Hibernate")),
            ("spring-jdbc", None),
            ("flask:3.1.0", None),
            ("psycopg", None),
            ("database/sql:pq", None),
            ("", None),
        ];
        for (value, want) in cases {
            assert_eq!(tag_names(value), want, "{value}");
        }
    }

    /// A loop in a GraphQL request is fixed by a DataLoader, named for the stack when the
    /// ORM is known; a write loop (a mutation's) keeps its batched write. A trace's resolver
    /// span is the evidence that says which resolver.
    #[test]
    fn graphql_requests_get_a_dataloader() {
        let mut f = crate::tests::finding("SELECT id, name FROM authors WHERE id = $1");
        f.request.route = Some("POST /graphql".into());
        let plain = advise(&f).unwrap();
        assert_eq!(plain.framework.as_deref(), Some("GraphQL"));
        assert_eq!(
            plain.framework_evidence.as_deref(),
            Some("the request's route `POST /graphql`")
        );
        assert!(
            plain.fix.starts_with("a request-scoped DataLoader in the resolver (async-graphql's DataLoader in Rust, graphql/dataloader in Node): one batch load of authors WHERE id = ANY("),
            "{plain:?}"
        );
        f.request.route = None;
        tagged(
            &mut f,
            &[
                ("graphql_operation", "Books"),
                ("framework", "django:5.2.19"),
            ],
        );
        let django = advise(&f).unwrap();
        assert_eq!(django.framework.as_deref(), Some("Django"));
        assert_eq!(
            django.framework_evidence.as_deref(),
            Some("sqlcommenter tag framework='django:5.2.19'; GraphQL resolvers: sqlcommenter tag graphql_operation='Books'")
        );
        assert!(
            django
                .fix
                .contains("(Strawberry's (or graphene's) DataLoader)"),
            "{django:?}"
        );
        f.kind = kinds::n_plus_one_write::KIND;
        f.children[0].normalized = "INSERT INTO reviews (book_id) VALUES ($1)".into();
        let write = advise(&f).unwrap();
        assert_eq!(
            write.fix,
            "bulk_create([...]) instead of create() or save() per row"
        );
        // A trace's resolver span says which resolver, before the route or any tag.
        f.kind = kinds::n_plus_one::KIND;
        f.children[0].normalized = "SELECT id, title FROM books WHERE author_id = $1".into();
        f.request.route = Some("POST /graphql".into());
        f.children[0]
            .stack_tags
            .insert(RESOLVER_SPAN_TAG.to_owned(), "authors.*.books".to_owned());
        let spanned = advise(&f).unwrap();
        assert_eq!(
            spanned.framework_evidence.as_deref(),
            Some("sqlcommenter tag framework='django:5.2.19'; GraphQL resolvers: GraphQL resolver span `graphql.resolve authors.*.books`")
        );
        f.children[0].stack_tags.clear();
        f.request.route = Some("POST /api".into());
        let mut parent = f.children[0].clone();
        parent.normalized = "SELECT id, name FROM authors ORDER BY id".into();
        parent
            .stack_tags
            .insert(RESOLVER_SPAN_TAG.to_owned(), "authors".to_owned());
        f.parent = Some(parent);
        let in_parent = advise(&f).unwrap();
        assert_eq!(in_parent.framework.as_deref(), Some("GraphQL"));
        assert_eq!(
            in_parent.framework_evidence.as_deref(),
            Some("GraphQL resolver span `graphql.resolve authors` (in the parent query)")
        );
        assert!(
            in_parent
                .fix
                .starts_with("a request-scoped DataLoader in the resolver"),
            "{in_parent:?}"
        );
    }

    /// A trace's SDK language names the one DataLoader of that language when no ORM is
    /// known, and the evidence says so; an ORM's evidence still wins over the language.
    #[test]
    fn the_traced_language_names_the_dataloader() {
        let mut f = crate::tests::finding("SELECT id, title FROM books WHERE author_id = $1");
        let resolved = |f: &mut Finding, language: &str| {
            let tags = &mut f.children[0].stack_tags;
            tags.insert(RESOLVER_SPAN_TAG.to_owned(), "authors.*.books".to_owned());
            tags.insert(SDK_LANGUAGE_TAG.to_owned(), language.to_owned());
        };
        for (language, loader) in [
            ("nodejs", "(graphql/dataloader's new DataLoader(keys => …))"),
            ("python", "(Strawberry's (or graphene's) DataLoader)"),
            ("ruby", "(graphql-ruby's GraphQL::Dataloader)"),
            (
                "java",
                "(java-dataloader; Spring for GraphQL: @BatchMapping)",
            ),
            ("go", "(graph-gophers/dataloader)"),
            ("rust", "(async-graphql's DataLoader, impl Loader<K>)"),
            ("dotnet", "(Hot Chocolate's BatchDataLoader<TKey, TValue>)"),
        ] {
            resolved(&mut f, language);
            let advice = advise(&f).unwrap();
            assert!(advice.fix.contains(loader), "{language}: {advice:?}");
            assert_eq!(
                advice.framework_evidence.unwrap(),
                format!(
                    "GraphQL resolver span `graphql.resolve authors.*.books` traced by a \
                     {language} SDK (resource attribute telemetry.sdk.language='{language}')"
                )
            );
        }
        // A language querycomb knows no DataLoader of: the generic text, the evidence kept.
        resolved(&mut f, "cpp");
        let advice = advise(&f).unwrap();
        assert!(
            advice.fix.contains("graphql/dataloader in Node"),
            "{advice:?}"
        );
        // The ORM's stack before the SDK's language.
        tagged(&mut f, &[("framework", "django:5.2.19")]);
        resolved(&mut f, "nodejs");
        let advice = advise(&f).unwrap();
        assert!(advice.fix.contains("Strawberry"), "{advice:?}");
    }

    /// A pattern that does not compile would never match, silently (the workspace's regex
    /// has no `unicode-case`, so `(?i)` is one way to get there).
    #[test]
    fn every_shape_compiles() {
        for shape in SHAPES {
            assert!(Regex::new(shape.pattern).is_ok(), "{}", shape.pattern);
        }
    }

    #[test]
    fn relations_from_the_lookup() {
        let mut f = crate::tests::finding("SELECT * FROM books WHERE author_id = $1");
        assert_eq!(advise(&f).unwrap().relation, Relation::ToMany);
        f.children[0].normalized = "SELECT * FROM authors WHERE id = $1".into();
        assert_eq!(advise(&f).unwrap().relation, Relation::ToOne);
        f.children[0].normalized = r#"SELECT "tag"."id" FROM "tag" INNER JOIN "book_tags" ON ("tag"."id" = "book_tags"."tag_id") WHERE "book_tags"."book_id" = $1"#.into();
        let m2m = advise(&f).unwrap();
        assert_eq!(m2m.relation, Relation::ManyToMany, "{m2m:?}");
        // Hibernate reads a many-to-many from the join table, aliased after the collection.
        f.children[0].normalized = "SELECT tags0_.book_id AS book1_1_1_, tags0_.tag_id AS tag2_1_, tag1_.id AS id2_0_, tag1_.name AS name2_0_ FROM book_tags tags0_ INNER JOIN tags tag1_ ON tags0_.tag_id = tag1_.id WHERE tags0_.book_id = $1".into();
        let hibernate = advise(&f).unwrap();
        assert_eq!(hibernate.relation, Relation::ManyToMany, "{hibernate:?}");
        assert!(
            hibernate
                .fix
                .contains("@BatchSize(size = 50) on the tags collection"),
            "{hibernate:?}"
        );
        // A to-many load that joins an eager to-one is not a join table: books has a title.
        f.children[0].normalized = "SELECT books0_.id AS id1_0_, books0_.title AS title1_0_, author1_.id AS id0_1_ FROM books books0_ LEFT OUTER JOIN authors author1_ ON books0_.author_id = author1_.id WHERE books0_.shelf_id = $1".into();
        assert_eq!(advise(&f).unwrap().relation, Relation::ToMany);
        // SeaORM joins the parent's table to filter it by its key: to-many by books.author_id.
        f.children[0].normalized = r#"SELECT "books"."id", "books"."author_id", "books"."title" FROM "books" INNER JOIN "authors" ON "authors"."id" = "books"."author_id" WHERE "authors"."id" = $1"#.into();
        let seaorm = advise(&f).unwrap();
        assert_eq!(seaorm.relation, Relation::ToMany, "{seaorm:?}");
        assert!(seaorm.fix.contains("<the books Entity>"), "{seaorm:?}");
        assert_eq!(
            seaorm.relation_evidence,
            "books looked up by its foreign key author_id, joined to authors.id"
        );
        // Its belongs-to reads the parent's table through the child's row, by the child's id:
        // to-one, not a many-to-many (books is no join table).
        f.children[0].normalized = r#"SELECT "authors"."id", "authors"."name" FROM "authors" INNER JOIN "books" ON "books"."author_id" = "authors"."id" WHERE "books"."id" = $1 LIMIT $2"#.into();
        let mut parent = f.children[0].clone();
        parent.normalized =
            r#"SELECT "books"."id", "books"."author_id", "books"."title" FROM "books""#.into();
        f.parent = Some(parent);
        let belongs_to = advise(&f).unwrap();
        assert_eq!(belongs_to.relation, Relation::ToOne, "{belongs_to:?}");
        assert!(
            belongs_to
                .fix
                .starts_with("parents.load_one(<the author Entity>, db)"),
            "{belongs_to:?}"
        );
        // Another table joined and looked up by a column that is no foreign key: not shown.
        f.children[0].normalized = r#"SELECT "authors"."id" FROM "authors" INNER JOIN "books" ON "books"."author_id" = "authors"."id" WHERE "books"."title" = $1"#.into();
        assert_eq!(advise(&f).unwrap().relation, Relation::Unknown);
        f.children[0].normalized = "SELECT COUNT(*) FROM books WHERE author_id = $1".into();
        assert_eq!(advise(&f).unwrap().relation, Relation::Aggregate);
        f.kind = kinds::n_plus_one_write::KIND;
        f.children[0].normalized = "INSERT INTO books (title) VALUES ($1)".into();
        let write = advise(&f).unwrap();
        assert_eq!(write.relation, Relation::Write);
        assert!(write.framework.is_none() && write.fix.contains("multi-row"));
    }

    /// Django's auto-created join table `<app>_<model>_<field>` names the field on the side
    /// whose key is looked up; the other side is the reverse accessor.
    #[test]
    fn django_many_to_many_fields() {
        let names = |key, through| Names {
            field: "book",
            table: "shop_book",
            key,
            through: Some(through),
            verb: Verb::Select,
        };
        assert_eq!(
            django_m2m_field(&names("book_id", "shop_book_tags")).as_deref(),
            Some("tags")
        );
        assert_eq!(django_m2m_field(&names("tag_id", "shop_book_tags")), None);
        assert_eq!(
            django_m2m_field(&names("book_id", "shop_bookmembership")),
            None
        );
    }

    #[test]
    fn hibernate_aliases_name_the_entity_or_collection() {
        assert_eq!(hibernate_role("books0_").as_deref(), Some("books"));
        assert_eq!(hibernate_role("author12_").as_deref(), Some("author"));
        assert_eq!(
            hibernate_role("reviewcomm3_").as_deref(),
            Some("reviewcomm…")
        );
        assert_eq!(hibernate_role("books_").as_deref(), None);
        assert_eq!(hibernate_role("books0").as_deref(), None);
        assert_eq!(hibernate_role("Book0_").as_deref(), None);
    }

    /// Hibernate 6 aliases are table initials: the table names the field.
    #[test]
    fn hibernate_6_lookups_are_named_from_their_tables() {
        let mut f =
            crate::tests::finding("SELECT a1_0.id, a1_0.name FROM authors a1_0 WHERE a1_0.id = $1");
        let to_one = advise(&f).unwrap();
        assert_eq!(to_one.framework.as_deref(), Some("Hibernate"), "{to_one:?}");
        assert!(to_one.fix.starts_with("join fetch p.author "), "{to_one:?}");
        f.children[0].normalized =
            "SELECT b1_0.author_id, b1_0.id, b1_0.title FROM books b1_0 WHERE b1_0.author_id = $1"
                .into();
        let to_many = advise(&f).unwrap();
        assert_eq!(to_many.relation, Relation::ToMany);
        assert!(
            to_many.fix.contains("on the books collection"),
            "{to_many:?}"
        );
    }

    /// A write loop's hint follows its verb: inserts batch into multi-row INSERTs, updates
    /// stay one statement per row under JDBC batching.
    #[test]
    fn hibernate_write_hints_follow_the_verb() {
        let mut f =
            crate::tests::finding("INSERT INTO reviews (book_id, stars, id) VALUES ($1, $2, $3)");
        f.kind = kinds::n_plus_one_write::KIND;
        f.parent = Some(
            crate::tests::finding("SELECT book0_.id AS id1_ FROM books book0_").children[0].clone(),
        );
        let insert = advise(&f).unwrap();
        assert_eq!(insert.framework.as_deref(), Some("Hibernate"));
        let evidence = insert.framework_evidence.as_deref().unwrap_or_default();
        assert!(
            evidence.ends_with("`book0_.id AS id1_` (in the parent query)"),
            "{evidence}"
        );
        assert!(
            insert.fix.contains("reWriteBatchedInserts=true"),
            "{insert:?}"
        );
        f.children[0].normalized =
            "UPDATE books SET title = $1, author_id = $2 WHERE id = $3".into();
        let update = advise(&f).unwrap();
        assert!(
            update.fix.starts_with("one bulk HQL update or delete"),
            "{update:?}"
        );
    }
}

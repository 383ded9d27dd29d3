//! The fix in the stack's own words.
//!
//! The relation is read from the child's SQL (and the plan check's catalog facts when there
//! are any): looked up by `id` → to-one; by a `*_id` column of its own table → to-many;
//! by a column of another table it joins → many-to-many through that table; an aggregate per
//! row; a write per row. The framework is named only on evidence that one ORM writes that SQL
//! (see [`framework`]); without it the fix is given in SQL terms, never guessed.

use querycomb_core::{Advice, Finding, Relation};
use querycomb_detect::detectors as kinds;
use querycomb_sql::{Dialect, Fingerprinter, Verb};
use std::sync::OnceLock;

use regex::Regex;

/// A framework and the SQL shape that shows it.
struct Shape {
    name: &'static str,
    pattern: &'static str,
    evidence: &'static str,
}

/// SQL shapes only one ORM writes, most specific first. Each was checked against SQL the
/// ORM produced (see the tests).
const SHAPES: &[Shape] = &[
    Shape {
        name: "Sequelize",
        pattern: r#""(\w+)"\."(\w+)" AS "(\w+)\.(\w+)""#,
        evidence: r#"Sequelize's `"Model"."col" AS "Model.col"` aliases"#,
    },
    Shape {
        name: "Sequelize",
        pattern: r#"\bFROM "(\w+)" AS "(\w+)" WHERE "(\w+)"\."#,
        evidence: r#"Sequelize's `FROM "table" AS "model" WHERE "model".` lookups"#,
    },
    Shape {
        name: "TypeORM",
        pattern: r#""(\w+)"\."(\w+)" AS "(\w+)_(\w+)""#,
        evidence: r#"TypeORM's `"Alias"."col" AS "Alias_col"` aliases"#,
    },
    Shape {
        name: "Hibernate",
        pattern: r"\b[a-z]+\d+_0\.\w+",
        evidence: "Hibernate 6's `t1_0.col` aliases",
    },
    Shape {
        name: "Prisma",
        pattern: r#""public"\."\w+"\."\w+""#,
        evidence: r#"Prisma's `"public"."Table"."col"` names"#,
    },
    Shape {
        name: "SQLAlchemy",
        pattern: r"\b(\w+)\.(\w+) AS (\w+)_(\w+)\b",
        evidence: "SQLAlchemy's `table.col AS table_col` labels",
    },
    Shape {
        name: "Ecto",
        pattern: r#"\bFROM "\w+" AS [a-z]\d\b"#,
        evidence: r#"Ecto's `FROM "table" AS t0` aliases"#,
    },
    Shape {
        name: "Rails",
        pattern: r#"^SELECT "\w+"\.\* FROM "\w+""#,
        evidence: r#"ActiveRecord's `SELECT "table".* FROM "table"`"#,
    },
    Shape {
        name: "Django",
        pattern: r#"^SELECT( DISTINCT)? "[a-z0-9]+_[a-z0-9_]+"\."\w+", "#,
        evidence: r#"Django's `"app_model"."col"` column lists"#,
    },
];

/// The framework whose SQL shape `sql` has, with the evidence.
pub fn framework(sql: &str) -> Option<(&'static str, &'static str)> {
    static COMPILED: OnceLock<Vec<Option<Regex>>> = OnceLock::new();
    let compiled =
        COMPILED.get_or_init(|| SHAPES.iter().map(|s| Regex::new(s.pattern).ok()).collect());
    SHAPES.iter().zip(compiled).find_map(|(shape, re)| {
        let caps = re.as_ref()?.captures(sql)?;
        // Alias shapes must name the same table or column on both sides.
        let consistent = match shape.name {
            "Sequelize" if caps.len() == 4 => caps.get(2)?.as_str() == caps.get(3)?.as_str(),
            "Sequelize" | "SQLAlchemy" => caps.get(1)?.as_str() == caps.get(3)?.as_str(),
            "TypeORM" => {
                caps.get(1)?.as_str() == caps.get(3)?.as_str()
                    && caps.get(2)?.as_str() == caps.get(4)?.as_str()
            }
            _ => true,
        };
        consistent.then_some((shape.name, shape.evidence))
    })
}

/// The relation and the fix for one loop finding.
pub fn advise(finding: &Finding) -> Option<Advice> {
    let child = finding.children.first()?;
    let sql = &child.normalized;
    let shape = Fingerprinter::new(Dialect::Postgres).describe(sql);
    let (relation, relation_evidence, key) = relation(finding, &shape);
    let evidence = [
        Some(sql.as_str()),
        finding.parent.as_ref().map(|p| p.normalized.as_str()),
    ];
    let found = evidence.iter().flatten().find_map(|text| framework(text));
    // An alias that is not a table name is the model's name (Sequelize's `AS "author"`).
    let alias = crate::batch::statements(sql)
        .ok()
        .and_then(|s| s.key_qualifier)
        .filter(|q| !shape.tables.iter().any(|t| t == q));
    let table = alias
        .as_deref()
        .or(shape.tables.first().map(String::as_str));
    let parent_sql = finding.parent.as_ref().map(|p| p.normalized.as_str());
    let name = field_name(&key, table, relation, parent_sql);
    let fix = fix_text(found.map(|f| f.0), relation, &name);
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
    Some(Advice {
        relation,
        relation_evidence,
        framework: found.map(|f| f.0.to_owned()),
        framework_evidence: found.map(|f| f.1.to_owned()),
        fix,
        warnings,
    })
}

/// The relation, what shows it, and the key column.
fn relation(finding: &Finding, shape: &querycomb_sql::Shape) -> (Relation, String, String) {
    let key = shape.filter_columns.first().cloned().unwrap_or_default();
    if finding.kind == kinds::n_plus_one_write::KIND
        || matches!(shape.verb, Verb::Insert | Verb::Update | Verb::Delete)
    {
        return (Relation::Write, "one write statement per row".into(), key);
    }
    if finding.kind == kinds::count_in_loop::KIND || shape.aggregate {
        return (
            Relation::Aggregate,
            "an aggregate (COUNT/EXISTS) per parent row".into(),
            key,
        );
    }
    let statements = crate::batch::statements(&finding.children[0].normalized).ok();
    let (qualifier, column) = match &statements {
        Some(s) => (s.key_qualifier.clone(), s.key_column.clone()),
        None if !key.is_empty() => (None, key.clone()),
        None => reversed_key(&finding.children[0].normalized).unwrap_or_default(),
    };
    let main = shape.tables.first().cloned().unwrap_or_default();
    let other_table = qualifier
        .as_deref()
        .filter(|q| shape.tables.iter().any(|t| t == q) && *q != main);
    if let Some(through) = other_table {
        return (
            Relation::ManyToMany,
            format!("{main} is read through {through}, looked up by {through}.{column}"),
            column,
        );
    }
    // With a DSN, the catalogs say what the lookup column is.
    let catalog = finding
        .fix
        .plan_check
        .as_ref()
        .and_then(|c| c.lookup_key.as_deref());
    match catalog {
        Some(k) if k == "primary key" || k == "unique key" => {
            return (
                Relation::ToOne,
                format!("{main} looked up by {column}, its {k} (catalogs)"),
                column,
            )
        }
        Some(k) if k.starts_with("foreign key") => {
            return (
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
        return (
            Relation::ToOne,
            format!("{main} looked up by its id"),
            column,
        );
    }
    if column.ends_with("_id") || column.ends_with("Id") {
        return (
            Relation::ToMany,
            format!("{main} looked up by its foreign key {column}"),
            column,
        );
    }
    if unique {
        return (
            Relation::ToOne,
            format!("{main} looked up by {column}, at most one row per key (plan estimate)"),
            column,
        );
    }
    (
        Relation::Unknown,
        format!("{main} looked up by {column}"),
        column,
    )
}

/// The column of a reversed comparison, `$1::INTEGER = books.author_id` (SQLAlchemy's
/// one-to-many lazy load): its qualifier and name.
fn reversed_key(sql: &str) -> Option<(Option<String>, String)> {
    static REVERSED: OnceLock<Option<Regex>> = OnceLock::new();
    let re = REVERSED
        .get_or_init(|| Regex::new(r#"\$\d+(?:::\w+)? = ((?:"?\w+"?\.)?"?\w+"?)"#).ok())
        .as_ref()?;
    let expr = re.captures(sql)?.get(1)?.as_str();
    let unquote = |p: &str| p.trim_matches('"').to_owned();
    Some(match expr.rsplit_once('.') {
        Some((q, c)) => (Some(unquote(q)), unquote(c)),
        None => (None, unquote(expr)),
    })
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

fn fix_text(framework: Option<&str>, relation: Relation, name: &str) -> String {
    use Relation::*;
    let text = match (framework, relation) {
        (Some("Django"), ToOne) => format!("select_related(\"{name}\") on the parent queryset"),
        (Some("Django"), ToMany | ManyToMany) => {
            format!("prefetch_related(\"{name}_set\") (or the related_name) on the parent queryset")
        }
        (Some("Django"), Aggregate) => {
            format!("annotate(n=Count(\"{name}\")) on the parent queryset")
        }
        (Some("Django"), Write) => {
            "bulk_create / bulk_update (or QuerySet.update) instead of save() per row".into()
        }
        (Some("Rails"), ToOne | ToMany | ManyToMany) => {
            format!("preload(:{name}) (or includes) on the parent relation")
        }
        (Some("Rails"), Aggregate) => format!("a counter_cache, or group(:{name}_id).count once"),
        (Some("Rails"), Write) => "insert_all / upsert_all instead of save per row".into(),
        (Some("SQLAlchemy"), ToOne) => format!("options(joinedload(Parent.{name}))"),
        (Some("SQLAlchemy"), ToMany | ManyToMany) => {
            format!("options(selectinload(Parent.{name}))")
        }
        (Some("SQLAlchemy"), Aggregate) => {
            "one GROUP BY query with func.count() joined to the parents".into()
        }
        (Some("SQLAlchemy"), Write) => {
            "session.execute(insert(Table), rows) (executemany) instead of add() per row".into()
        }
        (Some("Sequelize"), ToOne) => {
            format!("include: [{{ model: <the \"{name}\" model> }}] in the parent findAll")
        }
        (Some("Sequelize"), ToMany | ManyToMany) => {
            format!("include: [{{ model: <the \"{name}\" model>, separate: true }}] in the parent findAll")
        }
        (Some("Sequelize"), Aggregate) => {
            "one findAll with attributes [fn('COUNT', …)] and group".into()
        }
        (Some("Sequelize"), Write) => "bulkCreate instead of create per row".into(),
        (Some("TypeORM"), ToOne) => {
            format!("relations: [\"{name}\"] (or leftJoinAndSelect) on the parent find")
        }
        (Some("TypeORM"), ToMany | ManyToMany) => {
            format!("relations: [\"<the parent's {name} relation>\"] with relationLoadStrategy: \"query\" (one more query by the parent ids, no JOIN)")
        }
        (Some("TypeORM"), Write) => "insert().values([...]) instead of save per row".into(),
        (Some("Hibernate"), ToOne) => format!("JOIN FETCH p.{name} (or an @EntityGraph)"),
        (Some("Hibernate"), ToMany | ManyToMany) => {
            format!("@BatchSize on {name} (or @Fetch(FetchMode.SUBSELECT))")
        }
        (Some("Hibernate"), Write) => {
            "hibernate.jdbc.batch_size with ordered inserts/updates".into()
        }
        (Some("Prisma"), ToOne | ToMany | ManyToMany) => {
            format!("include: {{ {name}: true }} on the parent query")
        }
        (Some("Prisma"), Write) => "createMany instead of create per row".into(),
        (Some("Ecto"), ToOne | ToMany | ManyToMany) => format!("Repo.preload(parents, :{name})"),
        (Some("Ecto"), Write) => "Repo.insert_all instead of Repo.insert per row".into(),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The shapes' regexes against the forms their documentation shows. Only the Django and
    /// Sequelize shapes are also proven on SQL those ORMs wrote (crates/cli/tests/advice_orms.rs).
    #[test]
    fn shapes_name_their_framework() {
        let cases = [
            (r#"SELECT "shop_author"."id", "shop_author"."name" FROM "shop_author" WHERE "shop_author"."id" = $1 LIMIT $2"#, Some("Django")),
            (r#"SELECT "id", "name" FROM "authors" AS "author" WHERE "author"."id" = $1"#, Some("Sequelize")),
            (r#"SELECT "book"."id" AS "book.id" FROM "books" AS "book""#, Some("Sequelize")),
            (r#"SELECT "book"."id" AS "author.id" FROM "books""#, None),
            (r#"SELECT "Book"."id" AS "Book_id" FROM "book" "Book""#, Some("TypeORM")),
            ("SELECT b1_0.id, b1_0.title FROM book b1_0 WHERE b1_0.author_id = $1", Some("Hibernate")),
            ("SELECT books.id AS books_id, books.title AS books_title FROM books WHERE books.author_id = $1", Some("SQLAlchemy")),
            (r#"SELECT "books".* FROM "books" WHERE "books"."id" = $1 LIMIT $2"#, Some("Rails")),
            (r#"SELECT b0."id", b0."title" FROM "books" AS b0 WHERE (b0."author_id" = $1)"#, Some("Ecto")),
            ("SELECT id, title FROM books WHERE author_id = $1", None),
            (r#"SELECT "id" FROM "books" WHERE "author_id" = $1"#, None),
        ];
        for (sql, want) in cases {
            assert_eq!(framework(sql).map(|f| f.0), want, "{sql}");
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
        f.children[0].normalized = "SELECT COUNT(*) FROM books WHERE author_id = $1".into();
        assert_eq!(advise(&f).unwrap().relation, Relation::Aggregate);
        f.kind = kinds::n_plus_one_write::KIND;
        f.children[0].normalized = "INSERT INTO books (title) VALUES ($1)".into();
        let write = advise(&f).unwrap();
        assert_eq!(write.relation, Relation::Write);
        assert!(write.framework.is_none() && write.fix.contains("multi-row"));
    }
}

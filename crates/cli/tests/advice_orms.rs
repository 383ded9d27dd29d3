//! The fix in the stack's own words, from SQL that real ORMs wrote: the Django (pytest) and
//! Sequelize (node:test) end-to-end suites under `querycomb run --dsn`, each with a book →
//! author N+1, explained against the tables the suite left behind.

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

fn n_plus_one(report: &Value, table: &str) -> Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "n_plus_one" && f["children"][0]["table"] == table)
        .cloned()
        .unwrap_or_else(|| panic!("no n_plus_one on {table}: {report:#}"))
}

fn report_of(json: &std::path::Path, ran: &Ran) -> Value {
    let text = std::fs::read_to_string(json).unwrap_or_else(|e| panic!("{e}: {ran:?}"));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn django_select_related() {
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
        .args(["-q", "--reuse-db"]));
    let report = report_of(&json, &ran);
    let finding = n_plus_one(&report, "shop_author");
    let advice = &finding["advice"];
    assert_eq!(advice["framework"], "Django", "{finding:#}");
    assert_eq!(advice["relation"], "to_one");
    assert_eq!(
        advice["fix"],
        "select_related(\"author\") on the parent queryset"
    );
    assert!(advice["framework_evidence"]
        .as_str()
        .unwrap()
        .contains("app_model"));
    let check = &finding["plan_check"];
    assert_eq!(check["verdict"], "safe", "{check:#}");
    assert_eq!(check["key_source"], "captured");
    assert_eq!(check["keys"], 8);
    assert_eq!(finding["impact"]["statements_saved"], 7);
}

#[test]
fn sequelize_include() {
    let pg = start_pg(false);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("node.json");
    let ran = run(querycomb(Some(&pg))
        .current_dir(repo_root().join("tests/e2e/node"))
        .env("NODE_PATH", e2e_cache().join("node/node_modules"))
        .args(["run", "--format", "json", "--fail-on", "never", "-o"])
        .arg(&json)
        .args(["--dsn", &pg.url("shop"), "--", "node", "--test", "test/"]));
    let report = report_of(&json, &ran);
    let finding = n_plus_one(&report, "authors");
    let advice = &finding["advice"];
    assert_eq!(advice["framework"], "Sequelize", "{finding:#}");
    assert_eq!(advice["relation"], "to_one");
    assert_eq!(
        advice["fix"],
        "include: [{ model: <the \"author\" model> }] in the parent findAll"
    );
    assert_eq!(finding["plan_check"]["verdict"], "safe", "{finding:#}");
}

/// SQLAlchemy 2.0's default lazy loading: a many-to-one (`book.author`) and a one-to-many
/// (`author.books`) N+1. psycopg 3 binds integers in binary, which the proxy does not decode,
/// so these plans are generic: the check says so rather than guess values.
#[test]
fn sqlalchemy_joinedload_and_selectinload() {
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
    let report = report_of(&json, &ran);

    let to_one = n_plus_one(&report, "authors");
    let advice = &to_one["advice"];
    assert_eq!(advice["framework"], "SQLAlchemy", "{to_one:#}");
    assert_eq!(advice["relation"], "to_one");
    assert_eq!(advice["fix"], "options(joinedload(Parent.author))");
    assert_eq!(to_one["plan_check"]["verdict"], "safe", "{to_one:#}");
    assert_eq!(to_one["plan_check"]["key_source"], "generic");
    assert_eq!(to_one["plan_check"]["lookup_key"], "primary key");

    let to_many = n_plus_one(&report, "books");
    let advice = &to_many["advice"];
    assert_eq!(advice["framework"], "SQLAlchemy", "{to_many:#}");
    assert_eq!(advice["relation"], "to_many");
    assert_eq!(advice["fix"], "options(selectinload(Parent.books))");
    // `$1::INTEGER = books.author_id`: no batched rewrite is known for the reversed form.
    assert_eq!(to_many["plan_check"]["verdict"], "skipped");
}

/// TypeORM 0.3 (`tests/e2e/typeorm/app.js`): a many-to-one and a one-to-many N+1 written with
/// repository calls in a loop; the page with `relations: { author: true }` is one query.
#[test]
fn typeorm_relations() {
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
    let loops: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "n_plus_one")
        .collect();
    assert_eq!(loops.len(), 2, "the joined page is not a loop: {report:#}");

    let to_one = n_plus_one(&report, "author");
    let advice = &to_one["advice"];
    assert_eq!(advice["framework"], "TypeORM", "{to_one:#}");
    assert!(advice["framework_evidence"]
        .as_str()
        .unwrap()
        .contains("\"Alias\".\"col\" AS \"Alias_col\""));
    assert_eq!(advice["relation"], "to_one");
    assert_eq!(
        advice["fix"],
        "relations: [\"author\"] (or leftJoinAndSelect) on the parent find"
    );
    assert_eq!(to_one["plan_check"]["verdict"], "safe", "{to_one:#}");
    assert_eq!(to_one["plan_check"]["key_source"], "captured");

    let to_many = n_plus_one(&report, "book");
    let advice = &to_many["advice"];
    assert_eq!(advice["framework"], "TypeORM", "{to_many:#}");
    assert_eq!(advice["relation"], "to_many");
    assert_eq!(
        advice["fix"],
        "relations: [\"<the parent's Book relation>\"] with relationLoadStrategy: \"query\" (one more query by the parent ids, no JOIN)"
    );
    assert_eq!(to_many["plan_check"]["verdict"], "safe", "{to_many:#}");
}

/// Rails ActiveRecord 6.1 (Debian's ruby-activerecord; `tests/e2e/rails/app.rb`): a
/// belongs_to and a has_many N+1 from lazy associations; `includes(:author)` is not a loop.
#[test]
fn rails_preload() {
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
    let loops = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "n_plus_one")
        .count();
    assert_eq!(loops, 2, "includes(:author) is not a loop: {report:#}");

    let to_one = n_plus_one(&report, "authors");
    let advice = &to_one["advice"];
    assert_eq!(advice["framework"], "Rails", "{to_one:#}");
    assert_eq!(advice["relation"], "to_one");
    assert_eq!(
        advice["fix"],
        "preload(:author) (or includes) on the parent relation"
    );
    assert_eq!(to_one["plan_check"]["verdict"], "safe", "{to_one:#}");

    let to_many = n_plus_one(&report, "books");
    let advice = &to_many["advice"];
    assert_eq!(advice["framework"], "Rails", "{to_many:#}");
    assert_eq!(advice["relation"], "to_many");
    assert_eq!(
        advice["fix"],
        "preload(:books) (or includes) on the parent relation"
    );
    assert_eq!(to_many["plan_check"]["verdict"], "safe", "{to_many:#}");
}

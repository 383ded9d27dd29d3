//! `querycomb run` around a real third-party suite, unchanged: django-treebeard's own tests
//! (its PyPI sdist, unpacked into target/e2e/treebeard/src by `scripts/setup-test-deps.sh
//! treebeard`; Django, pytest-django, pytest-xdist and psycopg from the django venv) on
//! PostgreSQL. Its settings read the server from `DATABASE_HOST`/`DATABASE_PORT_POSTGRES`,
//! so the command points them at the proxy in a small `sh -c`, as docs/ci.md says.
//!
//! The whole suite (about 3,000 tests) takes 6 to 11 minutes here; these tests run a fixed
//! selection ([`SELECTION`], 129 tests over every tree model and its proxy model).

mod run_support;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use querycomb_core::test_route::Phase;
use querycomb_core::{Finding, Severity};
use querycomb_sql::{Dialect, Fingerprinter, Verb};
use querycomb_testkit::PgServer;
use run_support::*;

/// Test classes of tests/test_treebeard.py run here (129 tests): inserts, deletes and bulk
/// loads, each over every tree model (adjacency list, materialised path, nested sets, ltree)
/// and its proxy model, with the per-test fixture that loads a tree.
const SELECTION: &[&str] = &[
    "tests/test_treebeard.py::TestAddChild",
    "tests/test_treebeard.py::TestDelete",
    "tests/test_treebeard.py::TestMP_TreeLoadBulk",
];

/// The test the fork adds a loop to.
const FORKED_TEST: &str = "tests/test_treebeard.py::TestAddChild::test_add_child_to_leaf";

fn suite() -> PathBuf {
    querycomb_testkit::deps::require(
        "django-treebeard's test suite (scripts/setup-test-deps.sh treebeard)",
        e2e_cache().join("treebeard/src/tests/conftest.py"),
    );
    e2e_cache().join("treebeard/src")
}

fn pytest() -> PathBuf {
    querycomb_testkit::deps::venv_bin("pytest")
}

/// The suite's settings, as its CI gives them: PostgreSQL, the test server's user.
fn suite_env(command: &mut Command, pg: &PgServer, dir: &Path) {
    command
        .current_dir(dir)
        .env("PYTHONPATH", ".")
        .env("DJANGO_SETTINGS_MODULE", "tests.settings")
        .env("DATABASE_ENGINE", "psql")
        .env("DATABASE_USER_POSTGRES", pg.user())
        .env("DATABASE_PASSWORD", pg.password())
        .env_remove("PYTEST_ADDOPTS")
        .env_remove("PYTEST_PLUGINS");
}

/// `pytest` over `selection` writing JUnit XML to `junit`, in the words of a command line.
fn pytest_words(junit: &Path, xdist: bool, selection: &[&str]) -> Vec<String> {
    let mut words = vec![
        pytest().display().to_string(),
        "-q".to_owned(),
        "-p".to_owned(),
        "no:cacheprovider".to_owned(),
        format!("--junitxml={}", junit.display()),
    ];
    if xdist {
        words.extend(["-n".to_owned(), "2".to_owned()]);
    }
    words.extend(selection.iter().map(|s| (*s).to_owned()));
    words
}

fn direct(pg: &PgServer, dir: &Path, junit: &Path, selection: &[&str]) -> Ran {
    let words = pytest_words(junit, false, selection);
    let mut command = Command::new(&words[0]);
    suite_env(&mut command, pg, dir);
    run(command
        .args(&words[1..])
        .env("DATABASE_HOST", pg.host())
        .env("DATABASE_PORT_POSTGRES", pg.port().to_string()))
}

/// Under `querycomb run --format json --output <json>`; the settings' host and port are
/// pointed at the proxy by `sh -c`.
fn wrapped(
    pg: &PgServer,
    dir: &Path,
    junit: &Path,
    json: &Path,
    xdist: bool,
    selection: &[&str],
) -> Ran {
    let words = pytest_words(junit, xdist, selection);
    let script = format!(
        "DATABASE_HOST=$PGHOST DATABASE_PORT_POSTGRES=$PGPORT exec {}",
        words
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut command = querycomb(Some(pg));
    suite_env(&mut command, pg, dir);
    run(command
        .args(["run", "--fail-on", "never", "--format", "json", "--output"])
        .arg(json)
        .args(["--", "sh", "-c", &script]))
}

/// `test key → outcome` of a pytest JUnit XML file; the key is `<classname>::<name>`.
fn outcomes(junit: &Path) -> BTreeMap<String, &'static str> {
    let text = std::fs::read_to_string(junit).expect("the JUnit XML pytest wrote");
    let doc = roxmltree::Document::parse(&text).expect("JUnit XML");
    doc.descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|case| {
            let key = format!(
                "{}::{}",
                case.attribute("classname").unwrap_or_default(),
                case.attribute("name").unwrap_or_default()
            );
            let outcome = case
                .children()
                .find_map(|c| match c.tag_name().name() {
                    "failure" => Some("failed"),
                    "error" => Some("error"),
                    "skipped" => Some("skipped"),
                    _ => None,
                })
                .unwrap_or("passed");
            (key, outcome)
        })
        .collect()
}

/// A pytest node id (`tests/test_x.py::TestA::test_b[p]`) as [`outcomes`] keys it
/// (`tests.test_x.TestA::test_b[p]`).
fn junit_key(node_id: &str) -> Option<String> {
    let (path, rest) = node_id.split_once("::")?;
    let module = path.strip_suffix(".py")?.replace('/', ".");
    let bracket = rest.find('[').unwrap_or(rest.len());
    let (head, params) = rest.split_at(bracket);
    Some(match head.rsplit_once("::") {
        Some((classes, name)) => format!("{module}.{}::{name}{params}", classes.replace("::", ".")),
        None => format!("{module}::{head}{params}"),
    })
}

/// The same outcome for every test, and every finding names a test of the run and a phase.
fn assert_unchanged_and_named(pg: &PgServer, xdist: bool) {
    let dir = suite();
    let tmp = tempfile::tempdir().unwrap();
    let (plain_xml, wrapped_xml) = (tmp.path().join("direct.xml"), tmp.path().join("run.xml"));
    let json = tmp.path().join("report.json");
    let alone = direct(pg, &dir, &plain_xml, SELECTION);
    assert_eq!(alone.code, Some(0), "{alone:?}");
    let expected = outcomes(&plain_xml);
    assert_eq!(expected.len(), 129, "{alone:?}");
    let under = wrapped(pg, &dir, &wrapped_xml, &json, xdist, SELECTION);
    assert_eq!(under.code, alone.code, "{under:?}");
    assert_eq!(outcomes(&wrapped_xml), expected, "{under:?}");

    let findings = findings_of(&json);
    assert!(!findings.is_empty(), "{under:?}");
    let named = tests_and_phases(&findings, |test| {
        junit_key(test).is_some_and(|key| expected.contains_key(&key))
    });
    assert!(
        named.iter().any(|(_, phase)| *phase == Phase::Call)
            && named.iter().any(|(_, phase)| *phase == Phase::Setup),
        "findings in tests' own work and in their fixtures: {named:?}"
    );
    assert!(
        !under.stderr.contains("no test runner reported"),
        "{under:?}"
    );
    // The causes group by the tests each finding was seen in, whichever came first: the
    // same under xdist's workers as in the serial order.
    assert_one_cause_per_loop(&json);
}

/// A loop as a reader tells it from the SQL, tables and columns aside: the kind, and each
/// repeated statement's verb, whether it aggregates and whether it locks rows.
fn loop_of(finding: &Finding) -> (String, Vec<(Verb, bool, bool)>) {
    let mut describe = Fingerprinter::new(Dialect::Postgres);
    let statements = finding
        .children
        .iter()
        .map(|child| {
            let shape = describe.describe(&child.normalized);
            (shape.verb, shape.aggregate, shape.locks_rows())
        })
        .collect();
    (finding.kind.id().to_owned(), statements)
}

/// The causes a run asks to act on (errors and warnings) are distinct loops: no loop is in
/// two of them, whichever tests and tables (today's fault was one loop reported once per
/// tree model, table and test), and the per-node insert of every tree model is one cause.
fn assert_one_cause_per_loop(json: &Path) {
    let text = std::fs::read_to_string(json).expect("the JSON report");
    let document = querycomb_report::json::parse_document(&text).expect("a JSON report");
    let causes = querycomb_report::causes::causes(&document.findings);
    let own: Vec<_> = causes
        .iter()
        .filter(|c| c.severity >= Severity::Warning)
        .collect();
    let mut seen = HashMap::new();
    for (index, cause) in own.iter().enumerate() {
        for member in &cause.members {
            if let Some(other) = seen.insert(loop_of(member), index) {
                assert_eq!(
                    other, index,
                    "one loop, two causes: {:#?}\n{:#?}",
                    own[other], cause
                );
            }
        }
    }
    let errors = own.iter().filter(|c| c.severity == Severity::Error).count();
    assert!(
        errors >= 1 && own.len() > errors,
        "the check has error and other causes to tell apart: {own:#?}"
    );

    let inserts = own
        .iter()
        .find(|c| c.tables.contains("tests_mp_testnode") && c.kind.id() == "n_plus_one_write")
        .expect("the per-node insert");
    for model in ["al", "mp", "ns", "lt"] {
        assert!(
            inserts
                .tables
                .contains(format!("tests_{model}_testnode").as_str()),
            "every tree model's per-node insert in one cause: {inserts:#?}"
        );
    }
}

#[test]
fn treebeard_suite_keeps_its_outcomes_and_every_finding_names_its_test() {
    let pg = start_pg(false);
    assert_unchanged_and_named(&pg, false);
}

#[test]
fn treebeard_suite_under_xdist_keeps_its_outcomes_and_names_its_tests() {
    let pg = start_pg(false);
    assert_unchanged_and_named(&pg, true);
}

/// A copy of the suite with a loop added to one test: the loop is found and named.
#[test]
fn a_loop_added_to_one_treebeard_test_is_found_in_that_test() {
    let pg = start_pg(false);
    let copy = tempfile::tempdir().unwrap();
    copy_dir(&suite(), copy.path());
    let file = copy.path().join("tests/test_treebeard.py");
    let source = std::fs::read_to_string(&file).expect("test_treebeard.py");
    let def = "    def test_add_child_to_leaf(self, model):\n";
    assert_eq!(source.matches(def).count(), 1, "the test to fork");
    let looped = format!(
        "{def}        for node in model.objects.all():\n            \
         list(model.objects.filter(pk=node.pk).values_list(\"desc\", flat=True))\n"
    );
    std::fs::write(&file, source.replacen(def, &looped, 1)).expect("write the fork");

    let tmp = tempfile::tempdir().unwrap();
    let (xml, json) = (tmp.path().join("run.xml"), tmp.path().join("report.json"));
    let selection = ["tests/test_treebeard.py::TestAddChild"];
    let under = wrapped(&pg, copy.path(), &xml, &json, false, &selection);
    assert_eq!(under.code, Some(0), "{under:?}");
    let findings = findings_of(&json);
    let added = findings_with_child(&findings, is_added_lookup);
    assert!(!added.is_empty(), "the added loop is found: {findings:#?}");
    for finding in added {
        assert_eq!(finding["kind"], "n_plus_one", "{finding:#}");
        let route = finding["request"]["route"].as_str().unwrap_or_default();
        let (test, phase) = querycomb_core::test_route::test_of_route(route);
        assert!(
            test.starts_with(&format!("{FORKED_TEST}[")) && phase == Phase::Call,
            "named as the forked test's own work: {finding:#}"
        );
        assert_eq!(finding["count"], 10, "one lookup per node: {finding:#}");
    }
}

/// The fork's lookup, `SELECT "<table>"."desc" AS "desc" FROM … WHERE "<table>"."<key>" =
/// $1 …`: one column, which no statement of treebeard's own selects alone.
fn is_added_lookup(sql: &str) -> bool {
    sql.strip_prefix("SELECT ")
        .and_then(|rest| rest.split_once(" FROM "))
        .is_some_and(|(columns, rest)| {
            columns.ends_with(".\"desc\" AS \"desc\"")
                && !columns.contains(',')
                && rest.contains(" = $1")
        })
}

//! The fix in Hibernate's words, from SQL that Hibernate 3.6 (Debian's libhibernate3-java, on
//! pgjdbc) wrote: tests/e2e/hibernate, compiled here with javac, runs a to-one, a to-many, a
//! many-to-many, a count-per-parent and a write-per-row N+1, each with its fixed twin (JOIN
//! FETCH, batch fetching, one grouped count, JDBC batching). Each N+1 must get the right
//! batched SQL and the Hibernate hint, and no fixed twin may give a finding: through
//! `querycomb proxy` and from the server's log read by `querycomb analyze`, with the plan
//! check of `--dsn` in both.

mod run_support;

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use querycomb_testkit::{deps, free_port, PgOptions, PgServer};
use run_support::*;
use serde_json::Value;

/// One expected finding: its kind and child table, the relation, the Hibernate hint (a
/// part of it) and the batched SQL the suggestion must hold.
struct Expected {
    kind: &'static str,
    table: &'static str,
    relation: &'static str,
    hint: &'static str,
    batched: &'static str,
}

const EXPECTED: &[Expected] = &[
    Expected {
        kind: "n_plus_one",
        table: "authors",
        relation: "to_one",
        hint: "join fetch p.author in the query that loads the parents (Spring Data: \
               @EntityGraph(attributePaths = \"author\") on the repository method)",
        batched: "FROM authors author0_ WHERE author0_.id = ANY($1)",
    },
    Expected {
        kind: "n_plus_one",
        table: "books",
        relation: "to_many",
        hint: "batch fetching: @BatchSize(size = 50) on the books collection, or \
               hibernate.default_batch_fetch_size = 50",
        batched: "FROM books books0_ WHERE books0_.author_id = ANY($1)",
    },
    Expected {
        kind: "n_plus_one",
        table: "book_tags",
        relation: "many_to_many",
        hint: "batch fetching: @BatchSize(size = 50) on the tags collection",
        batched: "FROM book_tags tags0_ INNER JOIN tags tag1_ ON tags0_.tag_id = tag1_.id \
                  WHERE tags0_.book_id = ANY($1)",
    },
    Expected {
        kind: "count_in_loop",
        table: "books",
        relation: "aggregate",
        hint: "one aggregate query for all parents: select c.author.id, count(c) from <the \
               books entity> c where c.author in (:parents) group by c.author.id; or \
               @Formula(\"(select count(*) from books c where c.author_id = id)\")",
        batched: "WHERE book0_.author_id = ANY($1) GROUP BY book0_.author_id",
    },
    Expected {
        kind: "n_plus_one_write",
        table: "reviews",
        relation: "write",
        hint: "JDBC batching: hibernate.jdbc.batch_size = 50 with hibernate.order_inserts = \
               true",
        batched: "INSERT INTO reviews (book_id, stars, id) SELECT * FROM unnest($1, $2, $3)",
    },
];

/// The classes of tests/e2e/hibernate, compiled against Debian's jars.
struct Shop {
    classes: tempfile::TempDir,
    classpath: Vec<PathBuf>,
}

impl Shop {
    fn compile() -> Shop {
        let classpath = deps::hibernate_classpath();
        let classes = tempfile::tempdir().expect("temp dir");
        let sources: Vec<PathBuf> = std::fs::read_dir(repo_root().join("tests/e2e/hibernate"))
            .expect("tests/e2e/hibernate")
            .map(|entry| entry.expect("source").path())
            .filter(|path| path.extension().is_some_and(|e| e == "java"))
            .collect();
        deps::compile_java(&classpath, &sources, classes.path());
        Shop { classes, classpath }
    }

    /// Runs the shop against PostgreSQL (or a proxy in front of it) on `port`.
    fn run(&self, pg: &PgServer, port: u16) {
        let java = deps::require_program("java");
        let classpath = std::env::join_paths(
            std::iter::once(self.classes.path()).chain(self.classpath.iter().map(PathBuf::as_path)),
        )
        .expect("class path");
        let url = format!("jdbc:postgresql://127.0.0.1:{port}/shop?sslmode=disable");
        let out = Command::new(java)
            .arg("-cp")
            .arg(classpath)
            .arg("HibernateShop")
            .args([url.as_str(), pg.user(), pg.password()])
            .env_remove("QUERYCOMB_SCALE")
            .stdin(Stdio::null())
            .output()
            .expect("run java");
        let shown = ran(out);
        assert!(shown.stdout.contains("hibernate app done"), "{shown:?}");
    }
}

/// The findings are exactly the five N+1s (no fixed twin is one), each with its batched SQL
/// and the Hibernate hint; returns them by child table and kind for further checks.
fn assert_hibernate_advice(report: &Value) -> Vec<Value> {
    let findings = report["findings"].as_array().expect("findings");
    let mut got: Vec<(String, String)> = findings
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap_or_default().to_owned(),
                f["children"][0]["table"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String)> = EXPECTED
        .iter()
        .map(|e| (e.kind.to_owned(), e.table.to_owned()))
        .collect();
    want.sort();
    assert_eq!(got, want, "{report:#}");
    EXPECTED
        .iter()
        .map(|e| {
            let finding = findings
                .iter()
                .find(|f| f["kind"] == e.kind && f["children"][0]["table"] == e.table)
                .expect("listed above");
            let advice = &finding["advice"];
            assert_eq!(finding["count"], 20, "{finding:#}");
            assert_eq!(advice["framework"], "Hibernate", "{finding:#}");
            let evidence = advice["framework_evidence"].as_str().unwrap_or_default();
            assert!(evidence.starts_with("Hibernate 3–5's"), "{evidence}");
            // The INSERT names no ORM: the books query the loop went through does.
            let from_parent = e.kind == "n_plus_one_write";
            assert_eq!(
                evidence.ends_with("(in the parent query)"),
                from_parent,
                "{evidence}"
            );
            assert_eq!(advice["relation"], e.relation, "{finding:#}");
            let hint = advice["fix"].as_str().unwrap_or_default();
            assert!(hint.starts_with(e.hint), "{}: {hint}", e.table);
            let suggestion = finding["suggestion"].as_str().unwrap_or_default();
            assert!(suggestion.contains(e.batched), "{}: {suggestion}", e.table);
            finding.clone()
        })
        .collect()
}

/// The fixed twins ran (so their missing findings mean something): the JOIN FETCH page, the
/// batch-fetched pages, the grouped count and the multi-row inserts are in the statistics.
fn assert_fixed_twins_ran(report: &Value) {
    let shapes = report["summary"]["fingerprints"]
        .as_array()
        .expect("fingerprints");
    let ran = |needle: &str| {
        shapes.iter().any(|s| {
            s["normalized"]
                .as_str()
                .is_some_and(|text| text.contains(needle))
        })
    };
    for needle in [
        "FROM books book0_ INNER JOIN authors author1_ ON book0_.author_id = author1_.id",
        "WHERE books0_.author_id IN ($1",
        "WHERE tags0_.book_id IN ($1",
        "GROUP BY book0_.author_id",
    ] {
        assert!(ran(needle), "no statement with {needle:?}: {report:#}");
    }
    let inserts = shapes
        .iter()
        .find(|s| s["table"] == "reviews")
        .expect("the reviews inserts");
    // 20 single-row INSERTs from the loop, 2 multi-row ones (16 + 4 rows) from the batch.
    assert_eq!(inserts["calls"], 22, "{inserts:#}");
}

fn verdict(finding: &Value) -> &str {
    finding["plan_check"]["verdict"]
        .as_str()
        .unwrap_or_default()
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the proxy did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Through `querycomb proxy --dsn`: the final report written at shutdown.
#[test]
fn hibernate_through_the_proxy() {
    let shop = Shop::compile();
    let pg = start_pg(false);
    let dir = tempfile::tempdir().expect("temp dir");
    let report_path = dir.path().join("report.json");
    let port = free_port().expect("port");
    let mut proxy = querycomb(None)
        .args(["proxy", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--upstream", &format!("127.0.0.1:{}", pg.port())])
        .args(["--dsn", &pg.url("shop"), "--format", "json", "--output"])
        .arg(&report_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start querycomb proxy");
    wait_for_port(port);
    shop.run(&pg, port);
    let status = Command::new("kill")
        .args(["-TERM", &proxy.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = proxy.wait().expect("proxy exit");
    assert!(exit.code().is_some(), "exited, not killed: {exit:?}");
    let text = std::fs::read_to_string(&report_path).expect("the proxy's report");
    let report: Value = serde_json::from_str(&text).expect("JSON report");

    let findings = assert_hibernate_advice(&report);
    assert_fixed_twins_ran(&report);
    // pgjdbc binds the int8 keys in binary and declares them int8 in Parse: the proxy reads
    // them as numbers, so the plans use the keys the program really looked up.
    assert_plan_checks(&findings, "captured");
}

/// From the server's log (with the bind values in its `DETAIL` lines), with `--dsn` against
/// the same database after books grew to 61,000 rows, far past what a sequential scan reads
/// cheaply.
#[test]
fn hibernate_from_the_server_log() {
    let shop = Shop::compile();
    let pg = PgServer::start(PgOptions {
        conf: vec![
            "log_min_duration_statement = 0".to_owned(),
            "log_line_prefix = '%m [%p] %q%u@%d '".to_owned(),
        ],
        ..PgOptions::default()
    })
    .expect("start PostgreSQL");
    pg.createdb("shop").expect("createdb shop");
    shop.run(&pg, pg.port());
    pg.psql(
        "shop",
        "INSERT INTO authors VALUES (0, 'filler');
         INSERT INTO books SELECT i, 'filler ' || i, 0 FROM generate_series(1000, 60999) i;
         ANALYZE books;",
    )
    .expect("grow books");
    let log = pg
        .wait_for_log("postgresql.log", "ANALYZE books")
        .map(|_| pg.log_dir().join("postgresql.log"))
        .expect("the log holds the workload");

    let out = querycomb(None)
        .args(["analyze", "--format", "json", "--dsn", &pg.url("shop")])
        .arg(&log)
        .output()
        .expect("run querycomb analyze");
    let shown = ran(out);
    let report: Value = serde_json::from_str(&shown.stdout).unwrap_or_else(|e| {
        panic!("not JSON ({e}): {shown:?}");
    });
    let findings = assert_hibernate_advice(&report);
    assert_fixed_twins_ran(&report);
    assert_plan_checks(&findings, "captured");
}

/// Hibernate's schema export makes no index for the `books.author_id` foreign key: both
/// lookups by it need one; the primary-key lookups (authors, book_tags) are safe; the write
/// is never explained.
fn assert_plan_checks(findings: &[Value], key_source: &str) {
    let index = "CREATE INDEX CONCURRENTLY books_author_id_idx ON public.books (author_id);";
    for (kind, table, want) in [
        ("n_plus_one", "authors", "safe"),
        ("n_plus_one", "book_tags", "safe"),
        ("n_plus_one", "books", "needs_index"),
        ("count_in_loop", "books", "needs_index"),
        ("n_plus_one_write", "reviews", "skipped"),
    ] {
        let finding = findings
            .iter()
            .find(|f| f["kind"] == kind && f["children"][0]["table"] == table)
            .expect("checked by assert_hibernate_advice");
        let check = &finding["plan_check"];
        assert_eq!(verdict(finding), want, "{finding:#}");
        match want {
            "needs_index" => assert_eq!(check["create_index"], index, "{check:#}"),
            "safe" => assert_eq!(check["key_source"], key_source, "{check:#}"),
            _ => {}
        }
        if want == "safe" && key_source == "captured" {
            assert_eq!(check["keys"], 20, "{check:#}");
        }
    }
}

//! `querycomb run` around psql against a throwaway PostgreSQL: the child is pointed at the
//! proxy through PGHOST/PGPORT, its output and exit status pass through, findings and
//! budgets decide the exit code, JUnit and JSON reports are right, baselines and `diff`
//! see regressions, and mistakes in budget files are named by file, line and key.

mod run_support;

use std::fs;
use std::path::Path;

use run_support::*;

/// A loop over the books, one author lookup per book, tagged as one test.
fn n_plus_one_sql() -> String {
    let tag = "/*route='test_books_n_plus_one'*/";
    let mut sql =
        format!("SELECT 'child-output-marker';\nSELECT id, author_id FROM books {tag};\n");
    for id in 1..=8 {
        sql.push_str(&format!(
            "SELECT id, name FROM authors WHERE id = {id} {tag};\n"
        ));
    }
    sql
}

/// The same page with a join: two statements.
fn clean_sql() -> String {
    let tag = "/*route='test_books_clean'*/";
    format!(
        "SELECT 'child-output-marker';\n\
         SELECT b.id, a.name FROM books b JOIN authors a ON a.id = b.author_id {tag};\n\
         SELECT count(*) FROM books {tag};\n"
    )
}

const BUDGETS: &str = "\
[budgets.default]
max_statements = 50

[[budgets.route]]
test = \"test_books_n_plus_one\"
max_statements = 3

[[budgets.route]]
test = \"test_books_clean\"
max_statements = 3
max_repeats = 1
";

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).expect("write a test file");
    path
}

fn psql_args(script: &Path) -> Vec<String> {
    vec![
        "psql".into(),
        "-X".into(),
        "-q".into(),
        "-A".into(),
        "-t".into(),
        "-v".into(),
        "ON_ERROR_STOP=1".into(),
        "-f".into(),
        script.display().to_string(),
    ]
}

#[test]
fn n_plus_one_over_budget_fails_with_junit_and_json_reports() {
    let pg = start_pg(true);
    let dir = tempfile::tempdir().unwrap();
    let script = write(dir.path(), "loop.sql", &(n_plus_one_sql() + &clean_sql()));
    let budgets = write(dir.path(), "budgets.toml", BUDGETS);
    let junit = dir.path().join("querycomb.xml");

    let out = run(querycomb(Some(&pg))
        .args(["run", "--budgets"])
        .arg(&budgets)
        .args(["--format", "junit", "--output"])
        .arg(&junit)
        .arg("--")
        .args(psql_args(&script)));
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stdout.contains("child-output-marker"), "{out:?}");
    assert!(out.stderr.contains("query budget exceeded"), "{out:?}");
    assert!(
        out.stderr.contains("at or above --fail-on warning"),
        "{out:?}"
    );
    assert!(!out.stderr.contains("the command failed"), "{out:?}");
    // A short summary goes to stderr when the report goes to a file: counts, the top
    // causes, where the full report is; not the whole report.
    let summary: Vec<&str> = out
        .stderr
        .lines()
        .skip_while(|l| !l.contains(" finding"))
        .take_while(|l| !l.contains("full report:"))
        .collect();
    assert!(!summary.is_empty() && summary.len() < 30, "{out:?}");
    assert!(out.stderr.contains("top causes:"), "{out:?}");
    let full = format!("full report: {} (junit)", junit.display());
    assert!(out.stderr.contains(&full), "{out:?}");
    assert!(!out.stderr.contains("statements per request"), "{out:?}");

    let cases = junit_cases(&junit);
    let case = |name: &str| {
        cases
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no test case {name} in {cases:?}"))
    };
    let looped = case("test_books_n_plus_one");
    assert!(
        looped.failures.contains(&"over_budget".to_owned()),
        "{cases:?}"
    );
    assert!(
        looped.failures.contains(&"n_plus_one".to_owned()),
        "{cases:?}"
    );
    assert!(case("test_books_clean").failures.is_empty(), "{cases:?}");
    // Each budgeted case shows its budget and counts.
    let clean_note = &case("test_books_clean").system_out;
    assert!(
        clean_note.contains(
            "budgets.toml:9): max_statements = 3, max_repeats = 1\n\
             statements per request: max 2, median 2, in 1 request(s)"
        ),
        "{cases:?}"
    );
    assert!(
        looped
            .system_out
            .contains("budgets.toml:5): max_statements = 3\n"),
        "{cases:?}"
    );

    let json = dir.path().join("report.json");
    let out = run(querycomb(Some(&pg))
        .args(["run", "--budgets"])
        .arg(&budgets)
        .args(["--format", "json", "--output"])
        .arg(&json)
        .arg("--")
        .args(psql_args(&script)));
    assert_eq!(out.code, Some(1), "{out:?}");
    let findings = findings_of(&json);
    assert_eq!(
        kinds_and_routes(&findings),
        [
            ("n_plus_one".to_owned(), "test_books_n_plus_one".to_owned()),
            ("over_budget".to_owned(), "test_books_n_plus_one".to_owned()),
        ],
        "{findings:#?}"
    );
    let over = findings
        .iter()
        .find(|f| f["kind"] == "over_budget")
        .expect("over_budget finding");
    let message = over["message"].as_str().unwrap_or_default();
    assert!(message.contains("\"test_books_n_plus_one\""), "{message}");
    // The constant `SELECT 'child-output-marker'` is a liveness probe's shape: housekeeping,
    // not counted. The books query and the eight author lookups are.
    assert!(message.contains("9 statements (budget 3)"), "{message}");
    assert!(message.contains("budgets.toml:5"), "{message}");
    assert!(
        message.contains("8 × SELECT id, name FROM authors"),
        "{message}"
    );
    assert_eq!(over["severity"], "error");
}

#[test]
fn clean_run_passes_and_child_failure_passes_through() {
    let pg = start_pg(true);
    let dir = tempfile::tempdir().unwrap();
    let script = write(dir.path(), "clean.sql", &clean_sql());
    let budgets = write(dir.path(), "budgets.toml", BUDGETS);

    let out = run(querycomb(Some(&pg))
        .args(["run", "--budgets"])
        .arg(&budgets)
        .arg("--")
        .args(psql_args(&script)));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("child-output-marker"), "{out:?}");
    // psql is no test runner: said once, and the statements are grouped as before.
    assert_eq!(
        out.stderr
            .matches("no test runner reported its tests")
            .count(),
        1,
        "{out:?}"
    );
    // The pattern for the loop test matched nothing this time: a warning with its line.
    assert!(
        out.stderr.contains("budgets.toml:5: key `route`: budget pattern \"test_books_n_plus_one\" matched no request"),
        "{out:?}"
    );

    // Byte for byte what psql prints when it talks to the server directly.
    let direct = std::process::Command::new("psql")
        .args(&psql_args(&script)[1..])
        .env("PGHOST", pg.host())
        .env("PGPORT", pg.port().to_string())
        .env("PGUSER", pg.user())
        .env("PGPASSWORD", pg.password())
        .env("PGDATABASE", "shop")
        .output()
        .expect("psql");
    let through = run(querycomb(Some(&pg))
        .args(["run", "--format", "json", "--output"])
        .arg(dir.path().join("report.json"))
        .arg("--")
        .args(psql_args(&script)));
    assert_eq!(through.code, Some(0), "{through:?}");
    assert_eq!(through.stdout.as_bytes(), direct.stdout, "{through:?}");

    // The child's own status wins, and its output is untouched.
    let shell = format!(
        "psql -X -q -A -t -f {} && echo child-stderr-line >&2 && exit 3",
        script.display()
    );
    let out = run(querycomb(Some(&pg))
        .args(["run", "--budgets"])
        .arg(&budgets)
        .args(["--", "sh", "-c", &shell]));
    assert_eq!(out.code, Some(3), "{out:?}");
    assert!(out.stdout.contains("child-output-marker"), "{out:?}");
    assert!(out.stderr.contains("child-stderr-line"), "{out:?}");
    assert!(
        out.stderr.contains("the command failed (exit status 3)"),
        "{out:?}"
    );

    // With strict budgets the unmatched pattern is an error.
    let out = run(querycomb(Some(&pg))
        .args(["run", "--strict-budgets", "--budgets"])
        .arg(&budgets)
        .arg("--")
        .args(psql_args(&script)));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("error: "), "{out:?}");
    assert!(out.stderr.contains("budgets.toml:5"), "{out:?}");
}

#[test]
fn baseline_and_diff_report_regressions() {
    let pg = start_pg(true);
    let dir = tempfile::tempdir().unwrap();
    let clean = write(dir.path(), "clean.sql", &clean_sql());
    let both = write(dir.path(), "both.sql", &(clean_sql() + &n_plus_one_sql()));
    let before = dir.path().join("before.json");
    let after = dir.path().join("after.json");

    let out = run(querycomb(Some(&pg))
        .args(["run", "--format", "json", "--output"])
        .arg(&before)
        .arg("--")
        .args(psql_args(&clean)));
    assert_eq!(out.code, Some(0), "{out:?}");

    let out = run(querycomb(Some(&pg))
        .args(["run", "--fail-on", "never", "--format", "json", "--output"])
        .arg(&after)
        .arg("--baseline")
        .arg(&before)
        .arg("--")
        .args(psql_args(&both)));
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("findings that appeared (1)"), "{out:?}");
    assert!(out.stderr.contains("new routes (1)"), "{out:?}");
    assert!(
        out.stderr.contains("regressed against the baseline"),
        "{out:?}"
    );

    let diff = run(querycomb(None)
        .arg("diff")
        .arg(&before)
        .arg(&after)
        .args(["-f", "json"]));
    assert_eq!(diff.code, Some(1), "{diff:?}");
    let doc: serde_json::Value = serde_json::from_str(&diff.stdout).expect("diff JSON");
    assert_eq!(doc["regressed"], true);
    assert_eq!(doc["appeared_findings"][0]["kind"], "n_plus_one");
    assert_eq!(doc["new_routes"][0], "test_books_n_plus_one");

    let same = run(querycomb(None).arg("diff").arg(&after).arg(&after));
    assert_eq!(same.code, Some(0), "{same:?}");
    assert!(same.stdout.ends_with("no regression\n"), "{same:?}");
    let reverse = run(querycomb(None).arg("diff").arg(&after).arg(&before));
    assert_eq!(reverse.code, Some(0), "{reverse:?}");
    assert!(
        reverse.stdout.contains("findings that disappeared (1)"),
        "{reverse:?}"
    );
}

/// Budget files with mistakes stop the run before the command starts.
#[test]
fn budget_file_mistakes_name_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("child-ran");
    let cases = [
        (
            "[[budgets.route]]\nroute = \"/a\"\nmax_statments = 3\n",
            &["line 3", "max_statments"][..],
        ),
        (
            "[budgets.default]\nmax_statements = 5\nmax_repeats = \"ten\"\n",
            &["line 3", "max_repeats", "invalid type"][..],
        ),
        (
            "[budgets]\n[[budgets.route]]\nroute = \"re:(\"\nmax_statements = 1\n",
            &["budgets.toml:3", "key `route`", "bad pattern"][..],
        ),
        (
            "[[budgets.route]]\nroute = \"/a\"\n",
            &["budgets.toml:2", "sets no limit"][..],
        ),
        ("[report]\nformat = \"json\"\n", &["line 1", "report"][..]),
    ];
    for (text, needles) in cases {
        let budgets = write(dir.path(), "budgets.toml", text);
        let out = run(querycomb(None)
            .args(["run", "--budgets"])
            .arg(&budgets)
            .args(["--", "touch"])
            .arg(&marker));
        assert_eq!(out.code, Some(2), "{text}\n{out:?}");
        assert!(out.stderr.contains("budgets.toml"), "{text}\n{out:?}");
        for needle in needles {
            assert!(
                out.stderr.contains(needle),
                "{needle:?} for {text}\n{out:?}"
            );
        }
        assert!(
            !marker.exists(),
            "the command ran despite a bad budget file"
        );
    }
}

#[test]
fn budgets_in_querycomb_toml_are_read_with_their_lines() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "querycomb.toml",
        "[report]\nfail_on = \"error\"\n\n[[budgets.route]]\nroute = \"/never\"\nmax_statements = 1\n",
    );
    let out = run(querycomb(None)
        .arg("--config")
        .arg(&config)
        .args(["run", "--", "true"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stderr.contains("querycomb.toml:5: key `route`"),
        "{out:?}"
    );

    let missing = run(querycomb(None).args(["run", "--", "/nonexistent/command"]));
    assert_eq!(missing.code, Some(2), "{missing:?}");
    assert!(
        missing.stderr.contains("cannot run /nonexistent/command"),
        "{missing:?}"
    );
}

/// SIGTERM to querycomb reaches the command, whose own status then comes back.
#[test]
fn sigterm_is_passed_on_to_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let script = format!(
        "trap 'echo got-sigterm; exit 7' TERM; touch {}; while :; do sleep 0.1; done",
        ready.display()
    );
    let child = querycomb(None)
        .args(["run", "--", "sh", "-c", &script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start querycomb");
    let started = std::time::Instant::now();
    while !ready.exists() {
        assert!(
            started.elapsed().as_secs() < 30,
            "the command never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = ran(child.wait_with_output().expect("wait for querycomb"));
    assert_eq!(out.code, Some(7), "{out:?}");
    assert!(out.stdout.contains("got-sigterm"), "{out:?}");
    assert!(
        out.stderr.contains("the command failed (exit status 7)"),
        "{out:?}"
    );
}

//! Live query budgets with real clients: psycopg 3 (extended protocol, named prepared
//! statements, a transaction, a pipeline, notices), node-postgres (unnamed, named and
//! simple queries, a transaction) and psql (simple queries, a transaction). A rejected
//! statement raises the client's normal database exception with SQLSTATE 54Q01 and leaves
//! the session as any error would; the server ran exactly the statements that were allowed.

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;

use common::{start_server, Harness};
use querycomb_proxy::{EnforceMode, Enforcement, LiveLimits, RouteBudget};
use querycomb_testkit::{Auth, PgOptions};

fn budget(prefix: &'static str, max: u32, mode: Option<EnforceMode>) -> RouteBudget {
    RouteBudget {
        pattern: format!("{prefix}*"),
        matches: Arc::new(move |route: &str| route.starts_with(prefix)),
        limits: LiveLimits {
            max_statements: Some(max),
            ..LiveLimits::default()
        },
        mode,
    }
}

fn enforcing() -> Harness {
    let options = PgOptions {
        auth: Auth::Scram,
        conf: vec!["log_statement = 'all'".into()],
        ..PgOptions::default()
    };
    start_server(
        options,
        |c| {
            c.enforcement = Enforcement {
                mode: EnforceMode::Reject,
                routes: vec![
                    budget("/orders", 3, None),
                    budget("/warned", 2, Some(EnforceMode::Warn)),
                ],
                ..Enforcement::default()
            };
        },
        |_| {},
    )
}

fn python() -> &'static str {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../target/e2e/django-venv/bin/python"
    )
}

fn run(mut command: Command) -> String {
    let out = command.output().expect("run the client");
    assert!(
        out.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Statements the server logged as run (`log_statement = 'all'`) that carry `needle`.
fn server_ran(h: &Harness, needle: &str) -> usize {
    h.pg.log_files()
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap_or_default())
        .map(|text| {
            text.lines()
                .filter(|l| {
                    (l.contains("statement: ") || l.contains("execute ")) && l.contains(needle)
                })
                .count()
        })
        .sum()
}

#[test]
fn psycopg_sees_rejections_as_database_errors_and_recovers() {
    let h = enforcing();
    let conninfo = format!(
        "host=127.0.0.1 port={} user={} password={} dbname=postgres",
        h.addr.port(),
        h.pg.user(),
        h.pg.password()
    );
    let mut command = Command::new(python());
    command.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/enforce_psycopg.py"
    ));
    command.arg(&conninfo);
    let seen: serde_json::Value = serde_json::from_str(&run(command)).expect("JSON");
    let expected = serde_json::json!({
        "autocommit": [0, 1, 2, "54Q01", "54Q01"],
        "message": "querycomb: query budget exceeded on route /orders/msg: max_statements = 3, this request is at 4 (budget /orders*)",
        "class": "OperationalError",
        "other_route": 7,
        "prepared": [0, 1, 2, "54Q01", "54Q01"],
        "transaction": [0, 1, 2, "54Q01"],
        "after_rejection": "25P02",
        "after_rollback": 2,
        "pipeline": ["54Q01"],
        "after_pipeline": 9,
        "warned": [0, 1, 2, 3],
        "notices": [["01Q01", "querycomb: query budget exceeded on route /warned/a: max_statements = 2, this request is at 3 (budget /warned*)"]],
    });
    assert_eq!(seen, expected);
    // The server ran the allowed statements and none of the rejected ones.
    assert_eq!(server_ran(&h, "/orders/a"), 3);
    assert_eq!(server_ran(&h, "/orders/pipe"), 3);
    assert_eq!(server_ran(&h, "/warned/a"), 4);
    let metrics = h.metrics.render();
    assert!(
        metrics.contains(
            "querycomb_proxy_budget_verdicts_total{action=\"reject\",route=\"/orders/a\"} 2"
        ),
        "{metrics}"
    );
}

#[test]
fn node_postgres_sees_rejections_and_recovers() {
    let h = enforcing();
    let url = format!(
        "postgres://{}:{}@127.0.0.1:{}/postgres",
        h.pg.user(),
        h.pg.password(),
        h.addr.port()
    );
    let modules = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../target/e2e/node/node_modules"
    );
    let mut command = Command::new("node");
    command
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/enforce_node.js"
        ))
        .arg(&url)
        .env("NODE_PATH", modules);
    let seen: serde_json::Value = serde_json::from_str(&run(command)).expect("JSON");
    let expected = serde_json::json!({
        "autocommit": [0, 1, 2, "54Q01", "54Q01"],
        "named": [0, 1, 2, "54Q01", "54Q01"],
        "simple": [0, 1, 2, "54Q01", "54Q01"],
        "transaction": [0, 1, 2, "54Q01"],
        "after_rejection": "25P02",
        "rollback": "ROLLBACK",
        "after_rollback": 2,
    });
    assert_eq!(seen, expected);
    assert_eq!(server_ran(&h, "/orders/s"), 3);
}

#[test]
fn psql_simple_queries_in_a_transaction() {
    let h = enforcing();
    let mut command = Command::new("psql");
    command
        .args([
            "-X",
            "-A",
            "-t",
            "-h",
            "127.0.0.1",
            "-U",
            h.pg.user(),
            "-d",
            "postgres",
        ])
        .args(["-p", &h.addr.port().to_string()])
        .env("PGPASSWORD", h.pg.password())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("psql");
    let script = "BEGIN;\n\
        SELECT 1 /*route='/orders/q'*/;\nSELECT 2 /*route='/orders/q'*/;\n\
        SELECT 3 /*route='/orders/q'*/;\nSELECT 4 /*route='/orders/q'*/;\n\
        SELECT 5 /*route='/other'*/;\nROLLBACK;\nSELECT 'recovered';\n";
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("psql");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stdout, "BEGIN\n1\n2\n3\nROLLBACK\nrecovered\n", "{stderr}");
    assert!(
        stderr.contains("ERROR:  querycomb: query budget exceeded on route /orders/q: max_statements = 3, this request is at 4"),
        "{stderr}"
    );
    assert!(
        stderr.contains("current transaction is aborted"),
        "{stderr}"
    );
}

/// pgjdbc (Debian's libpostgresql-jdbc-java, on the machine's JDK): a statement over budget
/// raises a plain `SQLException` with SQLSTATE 54Q01 in autocommit (also once pgjdbc
/// prepared the statement on the server), inside a transaction (aborted until rollback,
/// then usable) and in a batch (pipelined executions before one Sync: the whole batch fails
/// and rolls back). The program is compiled here with javac against the installed jar.
#[test]
fn pgjdbc_sees_rejections_as_sql_exceptions_and_recovers() {
    let jar = querycomb_testkit::deps::pgjdbc_jar();
    let java = querycomb_testkit::deps::require_program("java");
    let classes = tempfile::tempdir().expect("temp dir");
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/PgjdbcBudget.java");
    querycomb_testkit::deps::compile_java(std::slice::from_ref(&jar), &[source], classes.path());
    let h = enforcing();
    let url = format!(
        "jdbc:postgresql://127.0.0.1:{}/postgres?sslmode=disable",
        h.addr.port()
    );
    let mut command = Command::new(java);
    command
        .arg("-cp")
        .arg(format!("{}:{}", classes.path().display(), jar.display()))
        .arg("PgjdbcBudget")
        .args([url.as_str(), h.pg.user(), h.pg.password()])
        .stdin(Stdio::null());
    let seen = run(command);
    let message = "querycomb: query budget exceeded on route /orders/auto: max_statements = 3, \
                   this request is at 4 (budget /orders*)";
    let expected = [
        "auto ok 1".to_owned(),
        "auto ok 2".to_owned(),
        "auto ok 3".to_owned(),
        format!("auto rejected 4 org.postgresql.util.PSQLException 54Q01 ERROR: {message}"),
        format!("auto rejected 5 org.postgresql.util.PSQLException 54Q01 ERROR: {message}"),
        "auto after 7".to_owned(),
        "tx ok 1".to_owned(),
        "tx ok 2".to_owned(),
        "tx ok 3".to_owned(),
        "tx rejected 4 54Q01".to_owned(),
        "tx aborted 25P02".to_owned(),
        "tx after rollback rows 0".to_owned(),
        "batch rejected 54Q01".to_owned(),
        "batch after rollback rows 0".to_owned(),
        "done 42".to_owned(),
    ];
    assert_eq!(seen.lines().collect::<Vec<_>>(), expected, "{seen}");
    // The server ran only the allowed statements (its log read once it stopped: complete).
    h.pg.stop().expect("stop the server");
    assert_eq!(server_ran(&h, "%2Forders%2Fauto"), 3);
    assert_eq!(server_ran(&h, "%2Forders%2Ftx"), 3);
    assert_eq!(server_ran(&h, "%2Forders%2Fbatch"), 3);
}

/// A request whose statements carry one trace id is one unit of work whichever pooled
/// connection runs them: three connections share the /orders budget of 3, and the
/// request's fourth statement is rejected on whichever connection sends it.
#[test]
fn a_traced_request_over_several_connections_shares_one_budget() {
    let h = enforcing();
    let conn = h.proxy_conn("postgres");
    let traced = "SELECT 1 /*route='%2Forders%2Fpool',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'*/";
    let outcomes = h.rt.block_on(async {
        let mut clients = Vec::new();
        for _ in 0..3 {
            let (client, connection) = tokio_postgres::connect(&conn, tokio_postgres::NoTls)
                .await
                .expect("connect");
            tokio::spawn(connection);
            clients.push(client);
        }
        let mut outcomes = Vec::new();
        for client in clients.iter().chain(clients.iter().take(1)) {
            outcomes.push(match client.simple_query(traced).await {
                Ok(_) => "ok".to_owned(),
                Err(e) => e
                    .code()
                    .map_or("no code".to_owned(), |c| c.code().to_owned()),
            });
        }
        // Every connection is still usable (the next request: another route).
        for client in &clients {
            client
                .simple_query("SELECT 2 /*route='%2Fother'*/")
                .await
                .expect("usable");
        }
        outcomes
    });
    assert_eq!(outcomes, ["ok", "ok", "ok", "54Q01"]);
    // Its log read once the server stopped: complete.
    h.pg.stop().expect("stop the server");
    assert_eq!(server_ran(&h, "%2Forders%2Fpool"), 3);
}

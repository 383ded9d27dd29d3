//! The MySQL/MariaDB readers on logs written by a real MariaDB server.
//!
//! One throwaway server (querycomb-testkit) writes its general and slow logs while the real
//! `mariadb` client runs a workload: schema and data, an N+1 loop of lookups, a multi-line
//! statement, a prepared statement through SQL `PREPARE`/`EXECUTE`, two interleaved
//! sessions, a `USE` (the client's `Init DB`), a failed login, and a server restart after
//! which thread ids are reused. The tests assert the exact events the readers produce. The
//! server also writes both logs as rows of its log tables (`log_output = FILE,TABLE`), and
//! the table readers must give the same statements, with the microseconds the files lack.

mod common;

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use querycomb_core::OwnedEvent;
use querycomb_logs::{sniff, LogFormat, ReadStats};
use querycomb_testkit::{MariaDb, MariaOptions};

const SETUP: &str = "CREATE DATABASE shop;
CREATE USER app@'%' IDENTIFIED BY 'app-pw';
GRANT ALL ON shop.* TO app@'%';
CREATE DATABASE audit;
GRANT ALL ON audit.* TO app@'%';
CREATE TABLE shop.customers (id INT PRIMARY KEY, name VARCHAR(20));
CREATE TABLE shop.orders (id INT PRIMARY KEY, customer_id INT, total INT);
INSERT INTO shop.customers VALUES (1, 'ann'), (2, 'bob'), (3, 'cy');
INSERT INTO shop.orders VALUES (1, 1, 10), (2, 1, 20), (3, 2, 30), (4, 3, 40);
";

/// Session "a": the N+1 loop, then its batched twin (multi-line), then a prepared
/// statement run twice; a `SLEEP` in the middle lets session "b" run in between.
const SESSION_A_1: &str = "SELECT id, name FROM customers ORDER BY id;
SELECT total FROM orders WHERE customer_id = 1;
SELECT total FROM orders WHERE customer_id = 2;
SELECT total FROM orders WHERE customer_id = 3;
SELECT SLEEP(2);
";
const SESSION_A_2: &str = "SELECT o.customer_id,
       o.total
  FROM orders o
 WHERE o.customer_id IN (1, 2, 3);
PREPARE by_customer FROM 'SELECT total FROM orders WHERE customer_id = ?';
SET @c = 1;
EXECUTE by_customer USING @c;
SET @c = 2;
EXECUTE by_customer USING @c;
DEALLOCATE PREPARE by_customer;
";
const SESSION_B: &str = "SELECT COUNT(*) FROM orders WHERE customer_id = 1;
USE audit
SELECT 'in audit';
";
const SESSION_C: &str = "SELECT name FROM customers WHERE id = 2;";

struct Workload {
    db: MariaDb,
    started_us: i64,
    finished_us: i64,
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

fn run_workload() -> Workload {
    let mut db = MariaDb::start(MariaOptions {
        slow_log: true,
        log_tables: true,
        ..MariaOptions::default()
    })
    .expect("start MariaDB");
    // The log timestamps have whole seconds.
    let started_us = now_us() / 1_000_000 * 1_000_000;
    db.client("", SETUP).expect("setup");
    std::thread::scope(|scope| {
        let a = scope.spawn(|| {
            let sql = format!("{SESSION_A_1}{SESSION_A_2}");
            db.client_as("app", "app-pw", "shop", &sql)
        });
        db.wait_for_log(&db.general_log_path(), "SELECT SLEEP(2)")
            .expect("session a reached its sleep");
        db.client_as("app", "app-pw", "shop", SESSION_B)
            .expect("session b");
        a.join().expect("session a thread").expect("session a");
    });
    assert!(db.client_as("app", "wrong", "shop", "SELECT 1").is_err());
    db.restart().expect("restart");
    db.client_as("app", "app-pw", "shop", SESSION_C)
        .expect("session c");
    db.wait_for_log(&db.slow_log_path(), "WHERE id = 2")
        .expect("slow log complete");
    // The server appends session ends (`Quit`) after the client returns: stop it so the logs
    // are whole before they are read.
    db.stop();
    Workload {
        db,
        started_us,
        finished_us: now_us(),
    }
}

use querycomb_core::Collected as Collect;

/// Reads a log in the format `sniff` finds, which must be `format`.
fn read(path: &Path, format: LogFormat) -> (Collect, ReadStats) {
    let head = std::fs::read(path).expect("read log");
    assert_eq!(sniff(&head[..head.len().min(8192)]), Some(format));
    let mut input = BufReader::new(File::open(path).expect("open log"));
    let mut sink = Collect::default();
    let stats = common::read(format, &mut input, &mut sink);
    assert!(sink.errors.is_empty(), "{:?}", sink.errors);
    assert_eq!(stats.bytes, head.len() as u64);
    (sink, stats)
}

/// One expected event: which connection ("setup", "a", "b", "c"), user, database, SQL.
type Expected = (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
);

fn expected_common() -> Vec<Expected> {
    let shop = Some("shop");
    vec![
        ("setup", "root", None, "CREATE DATABASE shop"),
        (
            "setup",
            "root",
            None,
            "CREATE USER app@'%' IDENTIFIED BY 'app-pw'",
        ),
        ("setup", "root", None, "GRANT ALL ON shop.* TO app@'%'"),
        ("setup", "root", None, "CREATE DATABASE audit"),
        ("setup", "root", None, "GRANT ALL ON audit.* TO app@'%'"),
        (
            "setup",
            "root",
            None,
            "CREATE TABLE shop.customers (id INT PRIMARY KEY, name VARCHAR(20))",
        ),
        (
            "setup",
            "root",
            None,
            "CREATE TABLE shop.orders (id INT PRIMARY KEY, customer_id INT, total INT)",
        ),
        (
            "setup",
            "root",
            None,
            "INSERT INTO shop.customers VALUES (1, 'ann'), (2, 'bob'), (3, 'cy')",
        ),
        (
            "setup",
            "root",
            None,
            "INSERT INTO shop.orders VALUES (1, 1, 10), (2, 1, 20), (3, 2, 30), (4, 3, 40)",
        ),
        (
            "a",
            "app",
            shop,
            "SELECT id, name FROM customers ORDER BY id",
        ),
        (
            "a",
            "app",
            shop,
            "SELECT total FROM orders WHERE customer_id = 1",
        ),
        (
            "a",
            "app",
            shop,
            "SELECT total FROM orders WHERE customer_id = 2",
        ),
        (
            "a",
            "app",
            shop,
            "SELECT total FROM orders WHERE customer_id = 3",
        ),
    ]
}

/// Asserts the events match `expected`, mapping each connection label to one session key
/// that no other label shares; returns that map.
fn assert_events(events: &[OwnedEvent], expected: &[Expected]) -> HashMap<String, String> {
    let got: Vec<_> = events
        .iter()
        .map(|e| (e.user.as_deref(), e.database.as_deref(), e.sql.as_str()))
        .collect();
    let want: Vec<_> = expected
        .iter()
        .map(|&(_, user, db, sql)| (Some(user), db, sql))
        .collect();
    assert_eq!(got, want);
    let mut keys: HashMap<String, String> = HashMap::new();
    for (event, (label, ..)) in events.iter().zip(expected) {
        let key = keys
            .entry(label.to_string())
            .or_insert_with(|| event.session.clone());
        assert_eq!(key, &event.session, "{label}: {event:?}");
    }
    let mut distinct: Vec<&String> = keys.values().collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), keys.len(), "session keys collide: {keys:?}");
    keys
}

fn assert_times_within(events: &[OwnedEvent], w: &Workload) {
    for e in events {
        let t = e.time.expect("every event has a time");
        assert!(
            (w.started_us - 1_000_000..=w.finished_us + 1_000_000).contains(&t),
            "{e:?} outside {}..{}",
            w.started_us,
            w.finished_us
        );
    }
}

/// Thread ids restart after the server restart: the first connection after it reuses the
/// setup connection's id, and must not be taken for it.
fn assert_reused_id(keys: &HashMap<String, String>) {
    let c = &keys["c"];
    let setup = &keys["setup"];
    assert_eq!(c, &format!("{setup}#2"), "{keys:?}");
}

#[test]
fn general_and_slow_logs_of_a_real_workload() {
    let w = run_workload();
    check_general_log(&w);
    check_slow_log(&w);
    check_log_tables(&w);
}

/// The log tables hold what the log files hold, statement for statement, user, database and
/// session alike, at the same second, with microseconds; their events point at their rows.
fn check_log_tables(w: &Workload) {
    let pairs = [
        (
            w.db.general_log_path(),
            LogFormat::MySqlGeneral,
            w.db.general_log_table_path(),
            LogFormat::MySqlGeneralTable,
        ),
        (
            w.db.slow_log_path(),
            LogFormat::MySqlSlow,
            w.db.slow_log_table_path(),
            LogFormat::MySqlSlowTable,
        ),
    ];
    for (file, file_format, table, table_format) in pairs {
        let (from_file, _) = read(&file, file_format);
        let (from_table, stats) = read(&table, table_format);
        let what = |e: &OwnedEvent| (e.user.clone(), e.database.clone(), e.sql.clone());
        let file_events: Vec<_> = from_file.events.iter().map(what).collect();
        let table_events: Vec<_> = from_table.events.iter().map(what).collect();
        assert_eq!(table_events, file_events, "{table_format:?}");
        assert_eq!(stats.malformed, 0);
        let mut same_session: HashMap<&str, &str> = HashMap::new();
        for (f, t) in from_file.events.iter().zip(&from_table.events) {
            let f_second = f.time.unwrap() / 1_000_000;
            assert_eq!(t.time.unwrap() / 1_000_000, f_second, "{t:?} against {f:?}");
            assert_eq!(t.duration_us.is_some(), f.duration_us.is_some(), "{t:?}");
            assert_eq!(t.rows, f.rows, "{t:?}");
            let mapped = same_session.entry(&f.session).or_insert(&t.session);
            assert_eq!(*mapped, t.session, "{t:?}");
        }
        // Microseconds: not every statement at a whole second.
        assert!(
            from_table
                .events
                .iter()
                .any(|e| e.time.unwrap() % 1_000_000 != 0),
            "{table_format:?}"
        );
        let text = std::fs::read_to_string(&table).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for e in &from_table.events {
            let row = lines[e.location.line as usize - 1];
            let first_sql_line = e.sql.lines().next().unwrap_or("");
            assert!(row.contains(first_sql_line), "{row:?} for {e:?}");
        }
    }
    // The general table shows the restart's reused thread id as a new connection (its
    // `Connect` row); the slow table shows no restart: the first connection after it takes
    // the setup connection's session. Every other connection keeps a session of its own.
    let (general, _) = read(&w.db.general_log_table_path(), LogFormat::MySqlGeneralTable);
    let keys = assert_events(&general.events, &general_expected());
    assert_reused_id(&keys);
}

fn check_general_log(w: &Workload) {
    let (sink, stats) = read(&w.db.general_log_path(), LogFormat::MySqlGeneral);
    let expected = general_expected();
    let keys = assert_events(&sink.events, &expected);
    assert_reused_id(&keys);
    assert_times_within(&sink.events, w);
    let executed: Vec<_> = sink
        .events
        .iter()
        .filter_map(|e| e.prepared_name.as_deref())
        .collect();
    assert_eq!(executed, ["by_customer", "by_customer"]);
    assert!(sink
        .events
        .iter()
        .all(|e| e.duration_us.is_none() && e.rows.is_none()));
    assert_eq!(stats.events, expected.len() as u64);
    assert_eq!(stats.malformed, 0);
    // Events point at their lines.
    let text = std::fs::read_to_string(w.db.general_log_path()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for e in &sink.events {
        let line = lines[e.location.line as usize - 1];
        let first_sql_line = e.sql.lines().next().unwrap_or("");
        assert!(
            line.ends_with(first_sql_line)
                && (line.contains(" Query\t") || line.contains(" Execute\t")),
            "{line:?} for {e:?}"
        );
        assert_eq!(&text[e.location.byte as usize..][..line.len()], line);
    }
}

fn check_slow_log(w: &Workload) {
    let (sink, stats) = read(&w.db.slow_log_path(), LogFormat::MySqlSlow);
    let shop = Some("shop");
    let mut expected = expected_common();
    expected.extend([
        // The slow log writes a statement when it ends: session b ran during the sleep.
        (
            "b",
            "app",
            shop,
            "SELECT COUNT(*) FROM orders WHERE customer_id = 1",
        ),
        ("b", "app", shop, "SELECT DATABASE()"),
        ("b", "app", Some("audit"), "SELECT 'in audit'"),
        ("a", "app", shop, "SELECT SLEEP(2)"),
    ]);
    expected.extend(session_a_after_sleep());
    let keys = assert_events(&sink.events, &expected);
    assert_reused_id(&keys);
    assert_times_within(&sink.events, w);
    assert!(sink.events.iter().all(|e| e.duration_us.is_some()));
    let rows_of = |sql: &str| {
        sink.events
            .iter()
            .find(|e| e.sql == sql)
            .and_then(|e| e.rows)
    };
    assert_eq!(
        rows_of("SELECT id, name FROM customers ORDER BY id"),
        Some(3)
    );
    assert_eq!(
        rows_of("SELECT total FROM orders WHERE customer_id = 1"),
        Some(2)
    );
    assert_eq!(
        rows_of("INSERT INTO shop.orders VALUES (1, 1, 10), (2, 1, 20), (3, 2, 30), (4, 3, 40)"),
        Some(4)
    );
    let sleep = sink
        .events
        .iter()
        .find(|e| e.sql == "SELECT SLEEP(2)")
        .unwrap();
    let sleep_us = sleep.duration_us.unwrap();
    assert!((2_000_000..3_000_000).contains(&sleep_us), "{sleep_us}");
    assert_eq!(stats.events, expected.len() as u64);
}

/// Session a's statements after its sleep, then session c's, in both logs.
fn session_a_after_sleep() -> Vec<Expected> {
    let shop = Some("shop");
    vec![
        (
            "a",
            "app",
            shop,
            "SELECT o.customer_id,\n       o.total\n  FROM orders o\n WHERE o.customer_id IN (1, 2, 3)",
        ),
        (
            "a",
            "app",
            shop,
            "PREPARE by_customer FROM 'SELECT total FROM orders WHERE customer_id = ?'",
        ),
        ("a", "app", shop, "SET @c = 1"),
        // `EXECUTE by_customer USING @c` is shown as the statement it ran.
        ("a", "app", shop, "SELECT total FROM orders WHERE customer_id = 1"),
        ("a", "app", shop, "SET @c = 2"),
        ("a", "app", shop, "SELECT total FROM orders WHERE customer_id = 2"),
        ("a", "app", shop, "DEALLOCATE PREPARE by_customer"),
        ("c", "app", shop, "SELECT name FROM customers WHERE id = 2"),
    ]
}

/// Every statement of the general log, in order, by connection.
fn general_expected() -> Vec<Expected> {
    let shop = Some("shop");
    let mut expected = expected_common();
    expected.extend([
        ("a", "app", shop, "SELECT SLEEP(2)"),
        (
            "b",
            "app",
            shop,
            "SELECT COUNT(*) FROM orders WHERE customer_id = 1",
        ),
        // The client asks for the current database before sending `Init DB`.
        ("b", "app", shop, "SELECT DATABASE()"),
        ("b", "app", Some("audit"), "SELECT 'in audit'"),
    ]);
    expected.extend(session_a_after_sleep());
    expected
}

/// What a user without the server's files does (Amazon RDS, say): exports the log tables with
/// the client, `mariadb --batch -e 'SELECT … FROM mysql.general_log'`, with or without the
/// header, all columns or some. Every export reads as the CSV engine's file does.
#[test]
fn log_tables_exported_by_the_client() {
    let db = MariaDb::start(MariaOptions {
        slow_log: true,
        log_tables: true,
        ..MariaOptions::default()
    })
    .expect("start MariaDB");
    db.client("", SETUP).expect("setup");
    let awkward = "SELECT 'tab\there', 'two\nlines', 'back\\slash', 'a \"quote\"', \n  name\nFROM customers WHERE id = 1;";
    db.client_as("app", "app-pw", "shop", &format!("{SESSION_A_1}{awkward}"))
        .expect("workload");
    db.wait_for_log(&db.slow_log_path(), "WHERE id = 1")
        .expect("slow log complete");
    let dir = tempfile::tempdir().expect("temp dir");
    let exports = [
        (
            "general-all.tsv",
            "SELECT * FROM mysql.general_log",
            true,
            LogFormat::MySqlGeneralTable,
        ),
        (
            "general-bare.tsv",
            "SELECT * FROM mysql.general_log",
            false,
            LogFormat::MySqlGeneralTable,
        ),
        (
            "general-some.tsv",
            "SELECT thread_id, command_type, argument, event_time FROM mysql.general_log",
            true,
            LogFormat::MySqlGeneralTable,
        ),
        (
            "slow-all.tsv",
            "SELECT * FROM mysql.slow_log",
            true,
            LogFormat::MySqlSlowTable,
        ),
        (
            "slow-bare.tsv",
            "SELECT * FROM mysql.slow_log",
            false,
            LogFormat::MySqlSlowTable,
        ),
    ];
    for (file, query, header, _) in &exports {
        let rows = db.export(query, *header).expect("export a log table");
        std::fs::write(dir.path().join(file), rows).expect("write the export");
    }
    // The exports ran after the workload: what came before them is what they hold.
    let before_exports = |events: Vec<OwnedEvent>| -> Vec<(String, Option<String>, Option<i64>)> {
        events
            .into_iter()
            .take_while(|e| {
                !e.sql.contains("mysql.general_log") && !e.sql.contains("mysql.slow_log")
            })
            .map(|e| (e.sql, e.user, e.time))
            .collect()
    };
    let (general, _) = read(&db.general_log_table_path(), LogFormat::MySqlGeneralTable);
    let (slow, _) = read(&db.slow_log_table_path(), LogFormat::MySqlSlowTable);
    let general = before_exports(general.events);
    let slow = before_exports(slow.events);
    assert!(general.iter().any(|(sql, ..)| sql.starts_with(
        "SELECT 'tab\there', 'two\nlines', 'back\\slash', 'a \"quote\"', \n  name\nFROM"
    )));
    assert!(slow.len() >= general.len() / 2, "{slow:?}");
    for (file, _, _, format) in exports {
        let (sink, stats) = read(&dir.path().join(file), format);
        assert_eq!(stats.malformed, 0, "{file}");
        let want = if format == LogFormat::MySqlGeneralTable {
            &general
        } else {
            &slow
        };
        let got = before_exports(sink.events);
        assert_eq!(&got, want, "{file}");
    }
}

/// `log_slow_verbosity` adds `# Full_scan:`, `#` and `# explain:` lines to each header.
#[test]
fn verbose_slow_log() {
    let db = MariaDb::start(MariaOptions {
        slow_log: true,
        conf: vec!["log_slow_verbosity = query_plan,explain,innodb".to_owned()],
        ..MariaOptions::default()
    })
    .expect("start MariaDB");
    db.client("", SETUP).expect("setup");
    db.client_as(
        "app",
        "app-pw",
        "shop",
        SESSION_A_1.replace("SLEEP(2)", "SLEEP(0)").as_str(),
    )
    .expect("workload");
    let text = db
        .wait_for_log(&db.slow_log_path(), "SLEEP(0)")
        .expect("slow log complete");
    assert!(text.contains("# explain: "), "{text}");
    let (sink, _) = read(&db.slow_log_path(), LogFormat::MySqlSlow);
    let mut expected = expected_common();
    expected.push(("a", "app", Some("shop"), "SELECT SLEEP(0)"));
    assert_events(&sink.events, &expected);
    let lookups: Vec<_> = sink
        .events
        .iter()
        .filter(|e| {
            e.sql
                .starts_with("SELECT total FROM orders WHERE customer_id = ")
        })
        .map(|e| e.rows)
        .collect();
    assert_eq!(lookups, [Some(2), Some(1), Some(1)]);
}

//! `querycomb proxy --dsn`: the final report (after SIGINT) carries the plan check of each
//! loop, explained with the values the proxy saw.

mod run_support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use run_support::*;

#[test]
fn the_final_report_carries_plan_checks() {
    let pg = start_pg(false);
    pg.psql(
        "shop",
        "CREATE TABLE authors (id int PRIMARY KEY, name text NOT NULL);
         INSERT INTO authors SELECT g, 'author ' || g FROM generate_series(1, 100) g;
         ANALYZE authors;",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("proxy.json");
    let port = querycomb_testkit::free_port().unwrap();
    let mut proxy = Command::new(env!("CARGO_BIN_EXE_querycomb"))
        .args(["proxy", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--upstream", &format!("127.0.0.1:{}", pg.port())])
        .args(["--format", "json", "-o"])
        .arg(&json)
        .env("QUERYCOMB_DSN", pg.url("shop"))
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the proxy");
    let mut stderr = BufReader::new(proxy.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("proxy listening") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "the proxy exited");
    }

    let mut script = String::from("SELECT id FROM authors ORDER BY id LIMIT 10;\n");
    for id in 1..=10 {
        script.push_str(&format!("SELECT id, name FROM authors WHERE id = {id};\n"));
    }
    let psql = Command::new("psql")
        .args(["-X", "-q", "-o", "/dev/null", "-v", "ON_ERROR_STOP=1"])
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            pg.user(),
            "-d",
            "shop",
        ])
        .args(["-c", &script])
        .env("PGPASSWORD", pg.password())
        .status()
        .unwrap();
    assert!(psql.success());

    let pid = i32::try_from(proxy.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .expect("the proxy's pid");
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("SIGINT");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    proxy.wait().unwrap();
    assert!(rest.contains("1 findings checked: 1 safe"), "{rest}");
    let findings = findings_of(&json);
    let finding = findings
        .iter()
        .find(|f| f["kind"] == "n_plus_one")
        .unwrap_or_else(|| panic!("{findings:#?}"));
    assert_eq!(finding["plan_check"]["key_source"], "captured");
    assert_eq!(finding["plan_check"]["keys"], 10);
    assert_eq!(finding["advice"]["relation"], "to_one");
    assert!(finding.get("captured_keys").is_none());
}

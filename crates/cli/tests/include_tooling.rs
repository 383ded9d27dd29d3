//! `--include-tooling` and `[detect] include_tooling`: schema introspection and pool
//! housekeeping are counted in the summary and never findings, unless asked for.

use std::fmt::Write as _;
use std::process::Command;

use serde_json::Value;

/// A PostgreSQL stderr log: SQLAlchemy-style reflection (list tables, then columns per
/// table), liveness probes and pool resets between them.
fn reflection_log() -> String {
    let mut log = String::new();
    let mut ms = 0;
    let mut line = |sql: &str| {
        ms += 1;
        let _ = writeln!(
            log,
            "2026-12-06 10:00:00.{ms:03} UTC [4242] app@shop LOG:  statement: {sql}"
        );
    };
    line("SELECT 1");
    line("SELECT c.oid, c.relname FROM pg_catalog.pg_class c WHERE c.relkind = 'r'");
    for oid in 0..8 {
        line(&format!(
            "SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid = {}",
            16384 + oid
        ));
    }
    line("DISCARD ALL");
    log
}

fn analyze(args: &[&str], config: Option<&str>) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("pg.log");
    std::fs::write(&log, reflection_log()).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_querycomb"));
    command.current_dir(dir.path()).env("NO_COLOR", "1");
    if let Some(config) = config {
        std::fs::write(dir.path().join("querycomb.toml"), config).unwrap();
    }
    let out = command
        .args(["analyze", "--format", "json", "--fail-on", "never"])
        .args(args)
        .arg(&log)
        .output()
        .expect("run querycomb");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn kinds(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn tooling_is_counted_not_reported_by_default() {
    let report = analyze(&[], None);
    assert_eq!(kinds(&report), Vec::<String>::new());
    assert_eq!(report["summary"]["tooling"], 9);
    assert_eq!(report["summary"]["housekeeping"], 2);
    assert_eq!(report["summary"]["statements"], 0);
}

#[test]
fn the_flag_and_the_config_key_include_it() {
    for (args, config) in [
        (&["--include-tooling"][..], None),
        (&[][..], Some("[detect]\ninclude_tooling = true\n")),
    ] {
        let report = analyze(args, config);
        assert_eq!(kinds(&report), ["n_plus_one"], "{args:?} {config:?}");
        assert_eq!(report["summary"]["tooling"], 0);
        assert_eq!(report["summary"]["statements"], 11);
    }
}

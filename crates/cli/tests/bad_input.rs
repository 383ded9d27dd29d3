//! Bad input never panics and always says what was wrong and where: missing files, empty
//! files, binary garbage, invalid UTF-8 inside a real log, a 100 MB single line, truncated
//! records, a bad config file. Exit code 2 for errors the user must fix, findings otherwise.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

fn querycomb(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_querycomb"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run querycomb")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn no_panic(out: &Output) {
    let err = stderr(out);
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(out.status.code(), Some(101), "{err}");
}

fn sample() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/postgresql-stderr.log");
    std::fs::read(path).unwrap()
}

fn write_temp(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(bytes).unwrap();
    file
}

#[test]
fn missing_file_is_named_with_exit_2() {
    let out = querycomb(&["analyze", "/no/such/dir/pg.log"]);
    no_panic(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot open /no/such/dir/pg.log"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn empty_file_says_so_and_is_clean() {
    let file = write_temp(b"");
    let out = querycomb(&["analyze", file.path().to_str().unwrap()]);
    no_panic(&out);
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("empty input"), "{}", stderr(&out));
}

#[test]
fn binary_garbage_is_not_a_log() {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let garbage: Vec<u8> = (0..200_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let file = write_temp(&garbage);
    let path = file.path().to_str().unwrap();
    let out = querycomb(&["analyze", path]);
    no_panic(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not a recognised"),
        "{}",
        stderr(&out)
    );
    // Forced through every reader: reported and skipped, never a panic.
    for format in querycomb_logs::LogFormat::ALL.map(|f| f.id()) {
        let out = querycomb(&["analyze", "-q", "--log-format", format, path]);
        no_panic(&out);
        assert!(
            matches!(out.status.code(), Some(0 | 2)) && !stderr(&out).contains("invalid value"),
            "{format}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn invalid_utf8_and_truncated_lines_are_reported_with_line_numbers() {
    let mut log = sample();
    // Break one statement line in the middle with invalid UTF-8, and cut the file short.
    let at = log.windows(11).position(|w| w == b"statement: ").unwrap() + 11;
    log.splice(at..at, [0xff, 0xfe, 0xc3]);
    log.extend_from_slice(b"2026-11-21 20:17:16.210 UTC [12738] app@shop LOG:  stat");
    let file = write_temp(&log);
    let out = querycomb(&["analyze", "-f", "json", file.path().to_str().unwrap()]);
    no_panic(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the findings are still found: {}",
        stderr(&out)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["summary"]["malformed"].as_u64().unwrap() >= 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{}:", file.path().display())),
        "{err}"
    );
    assert!(err.contains("skipped"), "{err}");
}

#[test]
fn a_100_mb_single_line_is_skipped_not_buffered_forever() {
    let mut log = sample();
    let mut huge = b"2026-11-21 20:17:16.210 UTC [999] app@shop LOG:  statement: SELECT '".to_vec();
    huge.resize(100 << 20, b'x');
    huge.extend_from_slice(b"'\n");
    log.extend_from_slice(&huge);
    log.extend_from_slice(&sample());
    let file = write_temp(&log);
    let out = querycomb(&["analyze", "-q", "-f", "json", file.path().to_str().unwrap()]);
    no_panic(&out);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Both copies of the sample are read around the huge line.
    assert!(report["summary"]["statements"].as_u64().unwrap() >= 2 * 124);
}

#[test]
fn config_mistakes_name_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("querycomb.toml");
    std::fs::write(
        &config,
        "[report]\nformat = \"json\"\n\n[detect]\nidle_gap = 5\n",
    )
    .unwrap();
    let log = dir.path().join("pg.log");
    std::fs::write(&log, sample()).unwrap();
    let out = querycomb(&[
        "--config",
        config.to_str().unwrap(),
        "analyze",
        log.to_str().unwrap(),
    ]);
    no_panic(&out);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("querycomb.toml"), "{err}");
    assert!(err.contains("line 5"), "{err}");
    assert!(err.contains("idle_gap"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    let out = querycomb(&["analyze", "--format", "yaml", "x.log"]);
    no_panic(&out);
    assert_eq!(out.status.code(), Some(2));
}

/// A `.gz` cut short (a copy in progress, a full disk): the readable part is analysed, the
/// break is named with its byte offset, and exit status 3 says the report is partial.
#[test]
fn truncated_gzip_reports_what_was_read_and_where_it_broke() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&sample()).unwrap();
    let whole = gz.finish().unwrap();
    let file = write_temp(&whole[..whole.len() * 7 / 10]);
    let path = file.path().to_str().unwrap();

    let out = querycomb(&["analyze", "--format", "json", path]);
    no_panic(&out);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("warning: damaged input: the gzip stream broke after byte "),
        "{err}"
    );
    assert!(err.ends_with('\n'), "every message ends its line: {err:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let damaged = report["summary"]["damaged"].as_array().expect("damaged");
    assert_eq!(damaged.len(), 1);
    assert!(damaged[0].as_str().unwrap().contains(path));
    // The N+1 at the start of the log was still found.
    let kinds: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"n_plus_one"), "{kinds:?}");
    let statements = report["summary"]["statements"].as_u64().unwrap();
    assert!(statements > 0 && statements < 124, "{statements}");

    // The whole file: no damage, no `damaged` key.
    let file = write_temp(&whole);
    let out = querycomb(&["analyze", "--format", "json", file.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["summary"].get("damaged").is_none());
    assert_eq!(report["summary"]["statements"], 124);
}

/// The format is recognised from the start of the first record, even when that record is
/// longer than everything the sniffer looks at (a 9 MB multi-row INSERT).
#[test]
fn a_first_record_longer_than_the_sniffed_head_is_still_recognised() {
    let mut log =
        b"2026-11-21 20:17:16.001 UTC [12738] app@shop LOG:  statement: INSERT INTO t VALUES "
            .to_vec();
    for i in 0..1_000_000 {
        log.extend_from_slice(format!("({i}, 'x'),").as_bytes());
    }
    log.extend_from_slice(b"(0, 'x')\n");
    assert!(log.len() > 9_000_000);
    log.extend_from_slice(&sample());
    let file = write_temp(&log);
    let out = querycomb(&["analyze", "--format", "json", file.path().to_str().unwrap()]);
    no_panic(&out);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["summary"]["statements"], 125);
    assert_eq!(report["summary"]["malformed"], 0);
}

/// An unknown time zone is a caveat on records that were read, not malformed input.
#[test]
fn unknown_time_zone_is_a_warning_not_a_malformed_record() {
    let text = String::from_utf8(sample())
        .unwrap()
        .replace(" UTC [", " XYZT [");
    let file = write_temp(text.as_bytes());
    let out = querycomb(&["analyze", "--format", "json", file.path().to_str().unwrap()]);
    no_panic(&out);
    let err = stderr(&out);
    assert!(err.contains("warning: unknown time zone 'XYZT'"), "{err}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["summary"]["malformed"], 0, "{err}");
    assert_eq!(report["summary"]["warnings"], 1, "{err}");
    assert_eq!(report["summary"]["statements"], 124);
}

/// A step between detection and the report (the plan check) that fails is reported as
/// what it is, not as a failure to write the report, and leaves no half report behind
/// on stdout.
#[test]
fn an_unreachable_plan_check_database_is_named_as_such() {
    let log = write_temp(&sample());
    let out = querycomb(&[
        "analyze",
        "--dsn",
        "postgres://nobody@127.0.0.1:1/none",
        log.path().to_str().unwrap(),
    ]);
    no_panic(&out);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("plan check"), "{err}");
    assert!(!err.contains("cannot write"), "{err}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

//! `querycomb analyze --format html` on the log of a real PostgreSQL run, opened in headless
//! Chromium (crates/report/tests/browser/drive.mjs): the page loads without errors, the N+1's
//! waterfall shows N highlighted bars, filtering works, and SQL and tags carrying markup are
//! shown as text. The screenshot lands in target/test-artifacts/analyze-report.png.

use std::path::{Path, PathBuf};
use std::process::Command;

use querycomb_testkit::{PgOptions, PgServer};
use serde_json::Value;

const XSS_TABLE: &str = "</script><script>window.__pwned=true</script>";
/// `<img src=x onerror="window.__pwned=true">`, URL-encoded as sqlcommenter does.
const XSS_ROUTE_TAG: &str = "%3Cimg%20src%3Dx%20onerror%3D%22window.__pwned%3Dtrue%22%3E";
/// Stable fingerprint signature of the workload's customers N+1 (25 lookups).
const CUSTOMERS_N_PLUS_ONE: &str = "e90b3fb760334a60";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Chromium and node (which drives it), installed by `scripts/setup-test-deps.sh`.
fn chromium_and_node() -> PathBuf {
    querycomb_testkit::deps::node();
    querycomb_testkit::deps::chromium()
}

fn real_log(dir: &Path) -> PathBuf {
    let pg = PgServer::start(PgOptions {
        conf: vec![
            "log_statement = 'all'".into(),
            "log_min_duration_statement = 0".into(),
            "timezone = 'UTC'".into(),
            "log_timezone = 'UTC'".into(),
        ],
        ..PgOptions::default()
    })
    .expect("start PostgreSQL");
    pg.createdb("shop").unwrap();
    pg.psql_file("shop", "shop-web", &root().join("examples/workload.sql"))
        .unwrap();
    let table = XSS_TABLE.replace('"', "\"\"");
    let mut hostile = format!("CREATE TABLE \"{table}\" (id int);\nBEGIN;\nSELECT 1;\n");
    for id in 1..=6 {
        hostile.push_str(&format!(
            "SELECT * FROM \"{table}\" WHERE id = {id} /*route='{XSS_ROUTE_TAG}'*/;\n"
        ));
    }
    hostile.push_str("COMMIT;\n");
    let script = dir.join("hostile.sql");
    std::fs::write(&script, hostile).unwrap();
    pg.psql_file("shop", "shop-web", &script).unwrap();
    pg.stop().unwrap();
    let log = dir.join("postgresql.log");
    std::fs::copy(pg.log_dir().join("postgresql.log"), &log).unwrap();
    log
}

fn analyze(log: &Path, format: &str, output: &Path) {
    let status = Command::new(env!("CARGO_BIN_EXE_querycomb"))
        .args(["analyze", "-q", "--format", format, "--output"])
        .arg(output)
        .arg(log)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
}

fn xss_signature(json: &Path) -> String {
    let report: Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            f["children"][0]["normalized"]
                .as_str()
                .unwrap()
                .contains("__pwned")
        })
        .map(|f| f["signature"].as_str().unwrap().to_owned())
        .expect("the hostile loop is a finding")
}

#[test]
fn report_of_a_real_log_works_in_headless_chromium() {
    let chromium = chromium_and_node();
    let dir = tempfile::tempdir().unwrap();
    let log = real_log(dir.path());
    let html = dir.path().join("report.html");
    let json = dir.path().join("report.json");
    analyze(&log, "html", &html);
    analyze(&log, "json", &json);
    let size = std::fs::metadata(&html).unwrap().len();
    assert!(
        size < 200_000,
        "a small log makes a light page: {size} bytes"
    );

    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let out = Command::new("node")
        .arg(root().join("crates/report/tests/browser/drive.mjs"))
        .arg("--report")
        .arg(&html)
        .arg("--out")
        .arg(dir.path())
        .args(["--nplus1", CUSTOMERS_N_PLUS_ONE])
        .args(["--xss", &xss_signature(&json)])
        .args(["--filter-kind", "count_in_loop"])
        .env("CHROMIUM", chromium)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let result: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "driver: {e}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(result.get("fatal").is_none(), "{result:#}");
    for key in ["consoleErrors", "exceptions", "dialogs", "external"] {
        assert_eq!(result[key], serde_json::json!([]), "{key}: {result:#}");
    }
    let checks = &result["checks"];
    assert_eq!(checks["nplus1"]["childBars"], 25, "{:#}", checks["nplus1"]);
    assert_eq!(checks["nplus1"]["parentBars"], 1);
    assert_eq!(checks["nplus1"]["afterBatchedBars"], 1);
    let xss = &checks["xss"];
    assert_eq!(xss["pwned"], false, "{xss:#}");
    assert_eq!(xss["scripts"], 2, "no script injected: {xss:#}");
    assert_eq!(xss["injected"], 0, "{xss:#}");
    assert!(
        xss["sqlText"].to_string().contains("window.__pwned=true"),
        "{xss:#}"
    );
    assert!(
        xss["routeText"].as_str().unwrap().contains("<img"),
        "{xss:#}"
    );
    let filtered = &checks["filter"];
    assert!(filtered.to_string().contains("count_in_loop"), "{checks:#}");
    for png in ["report.png", "report-dark.png"] {
        let shot = dir.path().join(png);
        if shot.exists() {
            std::fs::copy(&shot, artifacts.join(format!("analyze-{png}"))).unwrap();
        }
    }
}

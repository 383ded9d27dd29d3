//! Opens a rendered HTML report in headless Chromium (driven by tests/browser/drive.mjs over
//! the DevTools protocol) and checks what a reader gets: no console errors, the comb of a
//! known N+1 drawn as exactly N highlighted bars, working filters, sorting and paging, and an
//! XSS payload in SQL shown as text. Saves screenshots (light and dark) under
//! `target/test-artifacts/`.
//!
//! Chromium and node come from `scripts/setup-test-deps.sh`; when they are missing the tests
//! fail with that command rather than pass without running.

mod html_fixtures;

use std::path::{Path, PathBuf};
use std::process::Command;

use querycomb_core::{Finding, FindingSink, RunSummary, SourceTable};
use querycomb_report::html::HtmlSink;
use querycomb_testkit::deps;
use serde_json::Value;

/// `target/test-artifacts`, next to wherever cargo puts this test's temporary files: the
/// screenshots a person looks at after a run.
fn artifacts_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.parent().unwrap_or(tmp).join("test-artifacts");
    std::fs::create_dir_all(&dir).expect("create target/test-artifacts");
    dir
}

/// A directory of this test run's own for the report and the browser's files: two suites
/// running at once on one target directory must not write each other's report or share a
/// browser profile (Chromium refuses a profile another instance holds, and prints nothing).
fn work_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("html-browser-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("a temporary directory")
}

/// Copies the screenshots of a run into `target/test-artifacts/<name>`.
fn keep_screenshots(work: &Path, name: &str) -> PathBuf {
    let kept = artifacts_dir().join(name);
    std::fs::create_dir_all(&kept).expect("create the artifacts directory");
    for shot in ["report.png", "report-dark.png"] {
        let from = work.join(shot);
        if from.is_file() {
            std::fs::copy(&from, kept.join(shot)).expect("keep a screenshot");
        }
    }
    kept
}

/// Chromium (`$CHROMIUM` or Debian's) and node, which drives it; installed by
/// `scripts/setup-test-deps.sh`. A missing browser fails the test: it must never pass unrun.
fn chromium() -> PathBuf {
    deps::node();
    match std::env::var_os("CHROMIUM") {
        Some(p) => deps::require("$CHROMIUM", PathBuf::from(p)),
        None => deps::chromium(),
    }
}

fn render_report(path: &Path, findings: &[Finding], summary: &RunSummary) -> u64 {
    let file = std::fs::File::create(path).expect("create report file");
    let mut sink = HtmlSink::new(std::io::BufWriter::new(file));
    let mut sources = SourceTable::default();
    sources.add("postgresql-15-main.log");
    sink.begin(&sources).unwrap();
    for f in findings {
        sink.finding(f).unwrap();
    }
    sink.finish(summary).unwrap();
    std::fs::metadata(path).unwrap().len()
}

fn drive(chromium: &Path, report: &Path, out: &Path) -> Value {
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/drive.mjs");
    let output = Command::new(deps::node())
        .arg(driver)
        .args(["--report", report.to_str().unwrap()])
        .args(["--out", out.to_str().unwrap()])
        .args(["--nplus1", html_fixtures::NPLUS1_SIGNATURE])
        .args(["--xss", html_fixtures::XSS_SIGNATURE])
        .args(["--filter-kind", "count_in_loop"])
        .args(["--text", "alert(1)"])
        .env("CHROMIUM", chromium)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let result: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "driver printed no JSON ({e}); status {}\nstdout: {stdout}\nstderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert!(result.get("fatal").is_none(), "driver failed: {result:#}");
    assert!(
        output.status.success(),
        "driver exited with {}",
        output.status
    );
    result
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn report_works_in_headless_chromium() {
    let chromium = chromium();
    let work = work_dir();
    let out = work.path();
    let report = out.join("report.html");
    let findings = html_fixtures::findings();
    let size = render_report(&report, &findings, &html_fixtures::summary(&findings));
    println!("report: {} ({size} bytes)", report.display());
    let r = drive(&chromium, &report.canonicalize().unwrap(), out);
    assert_reader_sees_everything(&r, out);
    assert_eq!(
        r["checks"]["rendered"]["omitted"],
        Value::Null,
        "nothing left out"
    );
    let kept = keep_screenshots(out, "");
    println!("screenshots: {}", kept.join("report.png").display());
}

/// 10,000 findings with long waterfalls over a million statements: the file stays bounded,
/// says what it left out, and the page behaves the same.
#[test]
fn large_report_is_capped_and_still_works() {
    let chromium = chromium();
    let work = work_dir();
    let out = work.path();
    let report = out.join("report.html");
    let mut findings = html_fixtures::findings();
    findings.extend(html_fixtures::many_findings(10_000, 150));
    let mut summary = html_fixtures::summary(&findings);
    summary.statements = 1_000_000;
    let size = render_report(&report, &findings, &summary);
    println!("large report: {} ({size} bytes)", report.display());
    assert!(
        size < 8_000_000,
        "2,000 findings with evidence fit in 8 MB: {size}"
    );

    let r = drive(&chromium, &report.canonicalize().unwrap(), out);
    assert_reader_sees_everything(&r, out);
    keep_screenshots(out, "large");
    let omitted = r["checks"]["rendered"]["omitted"].as_str().unwrap_or("");
    assert!(
        omitted.contains(&format!("{} findings", thousands(findings.len() - 2_000)))
            && omitted.contains("2,000 most severe"),
        "the page says what it left out: {omitted}"
    );
    let load_ms = r["checks"]["loadMs"].as_f64().unwrap();
    assert!(load_ms < 10_000.0, "rendered in {load_ms} ms");
}

/// `12345` as `12,345`, as the page prints counts.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// What every report must give a reader, checked on the driver's observations.
fn assert_reader_sees_everything(r: &Value, out: &Path) {
    let c = &r["checks"];
    for key in [
        "consoleErrors",
        "exceptions",
        "logErrors",
        "dialogs",
        "external",
    ] {
        assert!(strings(&r[key]).is_empty(), "{key}: {:#}", r[key]);
    }

    assert_eq!(strings(&c["tabOrder"]), ["Skip to findings", "theme"]);

    let rendered = &c["rendered"];
    assert_eq!(rendered["error"], Value::Null);
    assert_eq!(
        rendered["findingRows"], 100,
        "first page holds 100 findings"
    );
    assert!(rendered["fingerprintRows"].as_u64().unwrap() > 10);
    assert_eq!(rendered["routeCharts"], 7);

    // The comb: exactly N child bars, one parent; after the fix one batched bar, no children.
    let n = &c["nplus1"];
    assert_eq!(n["expanded"], "true", "{n:#}");
    assert_eq!(n["detailVisible"], true);
    assert_eq!(n["focused"], true, "Enter on the focused button expands it");
    assert_eq!(n["childBars"], html_fixtures::NPLUS1_N);
    assert_eq!(n["parentBars"], 1);
    assert_eq!(n["otherBars"], 3);
    assert_eq!(n["afterChildBars"], 0);
    assert_eq!(n["afterBatchedBars"], 1);
    assert_eq!(n["afterParentBars"], 1);
    let evidence = n["evidence"].as_str().unwrap();
    assert!(evidence.contains("SELECT orders.* FROM orders WHERE orders.customer_id = $1"));
    assert!(
        evidence.contains("= ANY($1)"),
        "the fix is shown: {evidence}"
    );

    let x = &c["xss"];
    assert_eq!(x["pwned"], false);
    assert_eq!(x["scripts"], 2, "no script element was injected");
    assert_eq!(x["injected"], 0, "no element or handler was injected");
    assert!(
        strings(&x["sqlText"])
            .iter()
            .any(|s| s == html_fixtures::XSS_SQL),
        "payload shown as text: {x:#}"
    );
    assert_eq!(x["routeText"], html_fixtures::XSS_ROUTE);

    assert_eq!(c["darkBackground"], "rgb(20, 23, 28)");
    assert_eq!(c["afterToggle"]["theme"], "light");
    assert_eq!(c["afterToggle"]["background"], "rgb(251, 251, 252)");

    let all = &c["expandAll"];
    assert_eq!(all["expanded"], 100, "{all:#}");
    assert_eq!(all["explained"], 100, "{all:#}");
    assert!(
        all["schematic"].as_u64().unwrap() >= 1,
        "a finding without bars gets a schematic: {all:#}"
    );
    assert!(
        all["ticks"].as_u64().unwrap() >= 1,
        "bars without durations are ticks: {all:#}"
    );

    for (name, shown_as_dash) in [("route", true), ("table", true), ("severity", false)] {
        let f = &c["selectFilters"][name];
        let chosen = f["chosen"].as_str().unwrap();
        let expected = if chosen.is_empty() && shown_as_dash {
            "–"
        } else {
            chosen
        };
        let shown = strings(&f["shown"]);
        assert!(
            !shown.is_empty() && shown.iter().all(|s| s == expected),
            "{name} filter: {f:#}"
        );
    }

    // One batched statement per child shape: two for the M×N+1, one for the N+1.
    let figures = all["figures"].as_array().unwrap();
    let batched = |sig: &str| {
        let f = figures.iter().find(|f| f["signature"] == sig);
        f.map(|f| (f["child"].as_u64().unwrap(), f["batched"].as_u64().unwrap()))
    };
    assert_eq!(batched(html_fixtures::MN_SIGNATURE), Some((16, 2)));
    assert_eq!(batched(html_fixtures::NPLUS1_SIGNATURE), Some((12, 1)));

    let filter = &c["filter"];
    let kinds = strings(&filter["kinds"]);
    assert_eq!(
        kinds.len(),
        html_fixtures::COUNT_IN_LOOP_FINDINGS,
        "{filter:#}"
    );
    assert!(kinds.iter().all(|k| k == "count_in_loop"));
    assert_eq!(filter["totalAfterReset"], 100);

    assert_eq!(strings(&c["textFilter"]), [html_fixtures::XSS_SIGNATURE]);

    let sort = &c["sortByN"];
    assert_eq!(sort["ariaSort"], "descending");
    let values: Vec<u64> = sort["values"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    assert_eq!(values.len(), 100);
    assert!(
        values.windows(2).all(|w| w[0] >= w[1]),
        "sorted by N: {values:?}"
    );

    let paging = &c["paging"];
    assert_eq!(paging["pages"], 2);
    assert_ne!(paging["firstOnPage2"], paging["firstOnPage1"]);

    for shot in ["report.png", "report-dark.png"] {
        let len = std::fs::metadata(out.join(shot))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 10_000, "{shot} was saved ({len} bytes)");
    }
}

/// A run with no findings and no statistics (an empty log) renders its empty states.
#[test]
fn empty_run_renders_in_chromium() {
    let chromium = chromium();
    let work = work_dir();
    let out = work.path();
    let report = out.join("report.html");
    render_report(&report, &[], &RunSummary::default());
    let profile = out.join("profile");
    let output = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!(
            "file://{}",
            report.canonicalize().unwrap().display()
        ))
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(
        dom.contains("No findings."),
        "chromium exited with {}; dom: {dom}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dom.contains("0 findings shown."), "{dom}");
    assert!(dom.contains("No per-fingerprint statistics in this run."));
    assert!(dom.contains("No per-route statistics in this run."));
    assert!(
        dom.contains("<p id=\"error\" class=\"note bad\" role=\"alert\" hidden=\"\">"),
        "no render error"
    );
}

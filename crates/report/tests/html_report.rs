//! The HTML report as a file, without a browser: self-contained, the data block intact and
//! complete, and its size for a typical run (printed, and bounded so growth is noticed).

mod html_fixtures;

use querycomb_core::{Finding, FindingSink, RunSummary, SourceTable};
use querycomb_report::html::{HtmlOptions, HtmlSink};
use serde_json::Value;

fn render(findings: &[Finding], summary: &RunSummary) -> String {
    let mut sink = HtmlSink::with_options(Vec::new(), HtmlOptions::default());
    let mut sources = SourceTable::default();
    sources.add("postgresql-15-main.log");
    sink.begin(&sources).unwrap();
    for f in findings {
        sink.finding(f).unwrap();
    }
    sink.finish(summary).unwrap();
    String::from_utf8(sink.into_inner()).expect("the report is UTF-8")
}

fn data(html: &str) -> Value {
    let open = "<script type=\"application/json\" id=\"data\">";
    let start = html.find(open).expect("data block") + open.len();
    let len = html[start..].find("</script>").expect("data block end");
    serde_json::from_str(&html[start..start + len]).expect("data block is JSON")
}

#[test]
fn typical_report_is_self_contained_and_small() {
    // A typical analysed log: a dozen distinct findings, each with its request's waterfall.
    let findings: Vec<Finding> = html_fixtures::findings().into_iter().take(14).collect();
    let summary = html_fixtures::summary(&findings);
    let html = render(&findings, &summary);
    println!(
        "typical report ({} findings): {} bytes",
        findings.len(),
        html.len()
    );
    assert!(
        html.len() < 150_000,
        "typical report is {} bytes",
        html.len()
    );

    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("http://") && !lower.contains("https://"));
    // Raw `<` cannot occur in the data block, so any such tag would be the template's.
    for tag in ["<link", "<iframe", "<img", "<object", "<embed", "<base"] {
        assert!(!lower.contains(tag), "{tag}");
    }

    let d = data(&html);
    assert_eq!(d["findings"].as_array().unwrap().len(), findings.len());
    assert_eq!(d["omitted"]["findings"], 0);
    assert_eq!(d["summary"]["statements"], summary.statements);
    assert_eq!(d["routes"].as_array().unwrap().len(), summary.routes.len());
    // Every bar's fingerprint index resolves.
    let names = d["bar_fingerprints"].as_array().unwrap().len() as u64;
    for f in d["findings"].as_array().unwrap() {
        for bar in f["waterfall"].as_array().unwrap() {
            assert!(bar[3].as_u64().unwrap() < names);
        }
    }
}

#[test]
fn hostile_text_round_trips_through_the_data_block() {
    let findings = html_fixtures::findings();
    let html = render(&findings, &html_fixtures::summary(&findings));
    let d = data(&html);
    let hostile = d["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["signature"] == html_fixtures::XSS_SIGNATURE)
        .expect("hostile finding embedded");
    assert_eq!(hostile["children"][0]["sql"], html_fixtures::XSS_SQL);
    assert_eq!(hostile["request"]["route"], html_fixtures::XSS_ROUTE);
    assert_eq!(
        html.matches("<script").count(),
        2,
        "only the template's scripts"
    );
}

#[test]
fn empty_run_renders() {
    let html = render(&[], &RunSummary::default());
    let d = data(&html);
    assert_eq!(d["findings"].as_array().unwrap().len(), 0);
    assert_eq!(d["summary"]["findings"], 0);
}

//! JUnit XML for CI test tabs: one `<testcase>` per route (or per request key when the SQL
//! carried no route), with a `<failure>` per finding at or above the `--fail-on` severity.
//! Findings below it are listed in the test case's `<system-out>` so they stay visible
//! without failing the build. Routes the run saw without any finding are passing test cases,
//! so a CI history shows them going green or red over time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};

use querycomb_core::{Finding, RequestRef, RunSummary, Severity, SourceTable};

use crate::buffered::{Buffered, Render};
use crate::describe;
use crate::terminal::render_plain;

/// Writes the XML document at [`FindingSink::finish`]: test cases group findings by route.
pub type JunitSink<W> = Buffered<W, Junit>;

impl<W: Write> JunitSink<W> {
    /// `fail_on`: findings of this severity or worse become `<failure>`s.
    pub fn new(out: W, fail_on: Severity) -> Self {
        Buffered::with_render(
            out,
            Junit {
                fail_on,
                case_notes: BTreeMap::new(),
            },
        )
    }

    /// Text for the `<system-out>` of test cases, by case name (route), shown whether the
    /// case passed or failed: `querycomb run` puts each route's query budget and counts
    /// here. A name the run did not see becomes a passing case of its own.
    pub fn with_case_notes(mut self, notes: BTreeMap<String, String>) -> Self {
        self.render.case_notes = notes;
        self
    }
}

/// The JUnit document's rendering.
pub struct Junit {
    fail_on: Severity,
    case_notes: BTreeMap<String, String>,
}

impl Render for Junit {
    fn render(
        &self,
        out: &mut dyn Write,
        sources: &SourceTable,
        findings: &[Finding],
        summary: &RunSummary,
    ) -> io::Result<()> {
        let mut cases = test_cases(findings, summary, self.fail_on);
        for (name, note) in &self.case_notes {
            let case = cases.entry(name.clone()).or_insert_with(|| Case {
                classname: "querycomb.route",
                ..Case::default()
            });
            case.note = Some(note.as_str());
        }
        let xml = render(&cases, summary, self.fail_on, sources);
        out.write_all(xml.as_bytes())
    }
}

/// The findings of one route or request, split by the fail-on severity.
#[derive(Default)]
struct Case<'a> {
    classname: &'static str,
    failures: Vec<&'a Finding>,
    notes: Vec<&'a Finding>,
    /// Free text from [`JunitSink::with_case_notes`].
    note: Option<&'a str>,
}

/// The test case a finding belongs to: its route, else its request's key.
fn case_key(request: &RequestRef) -> (String, &'static str) {
    match &request.route {
        Some(route) => (route.clone(), "querycomb.route"),
        None => (request.id.clone(), "querycomb.request"),
    }
}

fn test_cases<'a>(
    findings: &'a [Finding],
    summary: &RunSummary,
    fail_on: Severity,
) -> BTreeMap<String, Case<'a>> {
    let mut cases: BTreeMap<String, Case<'a>> = BTreeMap::new();
    for route in summary.routes.iter().filter(|r| !r.route.is_empty()) {
        cases.entry(route.route.clone()).or_insert_with(|| Case {
            classname: "querycomb.route",
            ..Case::default()
        });
    }
    for finding in findings {
        let (name, classname) = case_key(&finding.request);
        let case = cases.entry(name).or_default();
        case.classname = classname;
        if finding.severity >= fail_on {
            case.failures.push(finding);
        } else {
            case.notes.push(finding);
        }
    }
    for case in cases.values_mut() {
        let worst_first = |f: &&Finding| {
            (
                std::cmp::Reverse(f.severity),
                std::cmp::Reverse(f.total_count),
            )
        };
        case.failures.sort_by_key(worst_first);
        case.notes.sort_by_key(worst_first);
    }
    cases
}

fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1_000, ms % 1_000)
}

fn render(
    cases: &BTreeMap<String, Case<'_>>,
    summary: &RunSummary,
    fail_on: Severity,
    sources: &SourceTable,
) -> String {
    let tests = cases.len();
    let failed = cases.values().filter(|c| !c.failures.is_empty()).count();
    let time = seconds(summary.elapsed_ms);
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let counts = format!("tests=\"{tests}\" failures=\"{failed}\" errors=\"0\"");
    let _ = writeln!(
        xml,
        "<testsuites name=\"querycomb\" {counts} time=\"{time}\">"
    );
    let _ = writeln!(
        xml,
        "  <testsuite name=\"querycomb\" {counts} skipped=\"0\" time=\"{time}\">"
    );
    render_properties(&mut xml, summary, fail_on);
    for (name, case) in cases {
        render_case(&mut xml, name, case, sources);
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

fn render_properties(xml: &mut String, summary: &RunSummary, fail_on: Severity) {
    let properties = [
        ("fail_on", fail_on.id().to_owned()),
        ("inputs", summary.inputs.join(", ")),
        ("statements", summary.statements.to_string()),
        ("requests", summary.requests.to_string()),
        ("findings", summary.findings.to_string()),
        ("malformed", summary.malformed.to_string()),
    ];
    xml.push_str("    <properties>\n");
    for (name, value) in properties {
        let _ = writeln!(
            xml,
            "      <property name=\"{name}\" value=\"{}\"/>",
            escape_attribute(&value)
        );
    }
    xml.push_str("    </properties>\n");
}

fn render_case(xml: &mut String, name: &str, case: &Case<'_>, sources: &SourceTable) {
    let _ = write!(
        xml,
        "    <testcase name=\"{}\" classname=\"{}\" time=\"0\"",
        escape_attribute(name),
        case.classname
    );
    if case.failures.is_empty() && case.notes.is_empty() && case.note.is_none() {
        xml.push_str("/>\n");
        return;
    }
    xml.push_str(">\n");
    for finding in &case.failures {
        let message = format!("{}: {}", finding.kind.id(), describe::headline(finding));
        let _ = writeln!(
            xml,
            "      <failure message=\"{}\" type=\"{}\">{}</failure>",
            escape_attribute(&message),
            finding.kind.id(),
            escape_text(&render_plain(finding, sources))
        );
    }
    // One `<system-out>` per case: the JUnit schema allows no more.
    let mut out = case
        .note
        .map(|note| format!("{note}\n"))
        .unwrap_or_default();
    if !case.notes.is_empty() {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str("Below the fail-on severity:\n\n");
        for finding in &case.notes {
            out.push_str(&render_plain(finding, sources));
            out.push('\n');
        }
    }
    if !out.is_empty() {
        let _ = writeln!(xml, "      <system-out>{}</system-out>", escape_text(&out));
    }
    xml.push_str("    </testcase>\n");
}

/// Characters XML 1.0 allows at all (its `Char` production), minus the C1 controls it
/// discourages: everything else (NUL, ESC, U+FFFE …) makes a parser reject the file.
fn allowed_in_xml(c: char) -> bool {
    matches!(c,
        '\t' | '\n' | '\r'
        | '\u{20}'..='\u{7E}'
        | '\u{A0}'..='\u{D7FF}'
        | '\u{E000}'..='\u{FFFD}'
        | '\u{10000}'..='\u{10FFFF}')
}

fn escape(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            // Needed only in `]]>`, escaped always: simpler and just as valid.
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\'' if attribute => out.push_str("&apos;"),
            // Attribute values are whitespace-normalised by parsers and a raw CR becomes LF
            // everywhere: character references survive both.
            '\n' | '\t' if attribute => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            '\r' => out.push_str("&#13;"),
            c if allowed_in_xml(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

fn escape_text(text: &str) -> String {
    escape(text, false)
}

fn escape_attribute(text: &str) -> String {
    escape(text, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use querycomb_core::FindingSink;

    fn junit(findings: &[Finding], fail_on: Severity) -> String {
        let mut sink = JunitSink::new(Vec::new(), fail_on);
        fixtures::run(&mut sink, findings);
        String::from_utf8(sink.into_inner()).expect("utf-8")
    }

    #[test]
    fn case_notes_reach_passing_and_failing_cases_once_each() {
        let mut finding = fixtures::n_plus_one();
        finding.severity = Severity::Warning;
        let route = finding.request.route.clone().expect("fixture has a route");
        let notes = BTreeMap::from([
            (route.clone(), "budget: 6 statements".to_owned()),
            (
                "GET /quiet".to_owned(),
                "budget: 2 statements <ok>".to_owned(),
            ),
        ]);
        let mut sink = JunitSink::new(Vec::new(), Severity::Error).with_case_notes(notes);
        fixtures::run(&mut sink, &[finding]);
        let xml = String::from_utf8(sink.into_inner()).expect("utf-8");
        let doc = parse(&xml);
        let out = |name: &str| -> Vec<String> {
            test_case(&doc, name)
                .children()
                .filter(|n| n.has_tag_name("system-out"))
                .map(|n| n.text().unwrap_or_default().to_owned())
                .collect()
        };
        let looped = out(&route);
        assert_eq!(looped.len(), 1, "{xml}");
        assert!(looped[0].starts_with("budget: 6 statements\n"), "{xml}");
        assert!(looped[0].contains("Below the fail-on severity"), "{xml}");
        assert_eq!(out("GET /quiet"), ["budget: 2 statements <ok>\n"], "{xml}");
    }

    fn parse(xml: &str) -> roxmltree::Document<'_> {
        roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("not well-formed: {e}\n{xml}"))
    }

    fn test_case<'a>(doc: &'a roxmltree::Document<'a>, name: &str) -> roxmltree::Node<'a, 'a> {
        doc.descendants()
            .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(name))
            .unwrap_or_else(|| panic!("no testcase {name}"))
    }

    #[test]
    fn one_test_case_per_route_with_a_failure_per_finding() {
        let xml = junit(
            &[fixtures::n_plus_one(), fixtures::repeated_identical()],
            Severity::Warning,
        );
        let doc = parse(&xml);
        let suites = doc.root_element();
        assert_eq!(suites.tag_name().name(), "testsuites");
        // Two routes from the summary (the untagged "" is not a test) plus one untagged
        // request key.
        assert_eq!(suites.attribute("tests"), Some("3"), "{xml}");
        assert_eq!(suites.attribute("failures"), Some("2"));
        assert_eq!(suites.attribute("time"), Some("0.120"));

        let route = test_case(&doc, "GET /customers/:id/orders");
        assert_eq!(route.attribute("classname"), Some("querycomb.route"));
        let failure = route
            .children()
            .find(|n| n.has_tag_name("failure"))
            .expect("failure");
        assert_eq!(
            failure.attribute("message"),
            Some("n_plus_one: N+1 query on shop_order ×50, seen in 12 requests")
        );
        assert_eq!(failure.attribute("type"), Some("n_plus_one"));
        let body = failure.text().unwrap_or("");
        assert!(body.contains("parent:"), "{body}");
        assert!(body.contains("FROM \"shop_order\""), "{body}");
        assert!(body.contains("fix:"), "{body}");
        assert!(body.contains("= ANY($1)"), "{body}");

        let untagged = test_case(&doc, "9120@1795284020000000");
        assert_eq!(untagged.attribute("classname"), Some("querycomb.request"));
        assert_eq!(
            untagged
                .children()
                .filter(|n| n.has_tag_name("failure"))
                .count(),
            1
        );

        let clean = test_case(&doc, "GET /health");
        assert_eq!(clean.children().filter(|n| n.is_element()).count(), 0);
    }

    #[test]
    fn findings_below_fail_on_are_listed_but_do_not_fail() {
        let xml = junit(
            &[fixtures::n_plus_one(), fixtures::repeated_identical()],
            Severity::Error,
        );
        let doc = parse(&xml);
        assert_eq!(doc.root_element().attribute("failures"), Some("1"));
        let untagged = test_case(&doc, "9120@1795284020000000");
        assert!(!untagged.children().any(|n| n.has_tag_name("failure")));
        let out = untagged
            .children()
            .find(|n| n.has_tag_name("system-out"))
            .and_then(|n| n.text())
            .expect("system-out");
        assert!(
            out.contains("repeated identical query on settings ×30"),
            "{out}"
        );
    }

    #[test]
    fn escapes_everything_and_stays_well_formed() {
        let nasty = "a<b & \"c\" 'd' ]]> e\u{0}\u{1b}[31m\u{7}\u{FFFE}\u{85}\r\n\tf";
        let mut finding = fixtures::n_plus_one();
        finding.request.route = Some(format!("GET /{nasty}"));
        finding.children[0].normalized = format!("SELECT '{nasty}' FROM t");
        finding.message = nasty.to_owned();
        finding.suggestion = Some(format!("</failure><injected/> {nasty}"));
        let mut summary = fixtures::summary();
        summary.inputs = vec![nasty.to_owned()];
        summary.routes.clear();
        let mut sink = JunitSink::new(Vec::new(), Severity::Info);
        sink.begin(&fixtures::sources()).unwrap();
        sink.finding(&finding).unwrap();
        sink.finish(&summary).unwrap();
        let xml = String::from_utf8(sink.into_inner()).unwrap();

        let doc = parse(&xml);
        assert!(!doc.descendants().any(|n| n.has_tag_name("injected")));
        let case = doc
            .descendants()
            .find(|n| n.has_tag_name("testcase"))
            .expect("testcase");
        // Attribute values come back exactly, except the characters XML cannot carry.
        assert_eq!(
            case.attribute("name"),
            Some("GET /a<b & \"c\" 'd' ]]> e\u{FFFD}\u{FFFD}[31m\u{FFFD}\u{FFFD}\u{FFFD}\r\n\tf")
        );
        let inputs = doc
            .descendants()
            .find(|n| n.attribute("name") == Some("inputs"))
            .and_then(|n| n.attribute("value"));
        assert!(inputs.is_some_and(|v| v.starts_with("a<b & \"c\" 'd' ]]> e")));
        let body = case
            .children()
            .find(|n| n.has_tag_name("failure"))
            .and_then(|n| n.text())
            .expect("failure body");
        assert!(body.contains("</failure><injected/>"), "{body}");
    }

    #[test]
    fn escape_handles_each_special_character() {
        assert_eq!(escape_text("a<b>&c"), "a&lt;b&gt;&amp;c");
        assert_eq!(escape_text("]]>"), "]]&gt;");
        assert_eq!(escape_text("\"q\" 'a'\n"), "\"q\" 'a'\n");
        assert_eq!(
            escape_attribute("\"q\" 'a'\n\t"),
            "&quot;q&quot; &apos;a&apos;&#10;&#9;"
        );
        assert_eq!(escape_text("\r"), "&#13;");
        assert_eq!(
            escape_text("\u{0}\u{8}\u{b}\u{c}\u{1f}\u{7f}\u{9f}\u{FFFE}\u{FFFF}"),
            "\u{FFFD}".repeat(9)
        );
        assert_eq!(escape_text("ünïcødé 🦀"), "ünïcødé 🦀");
    }

    #[test]
    fn an_empty_run_is_a_valid_passing_suite() {
        let mut summary = fixtures::summary();
        summary.routes.clear();
        let mut sink = JunitSink::new(Vec::new(), Severity::Warning);
        sink.begin(&fixtures::sources()).unwrap();
        sink.finish(&summary).unwrap();
        let xml = String::from_utf8(sink.into_inner()).unwrap();
        let doc = parse(&xml);
        assert_eq!(doc.root_element().attribute("tests"), Some("0"));
        assert_eq!(doc.root_element().attribute("failures"), Some("0"));
    }
}

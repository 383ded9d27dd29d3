//! The self-contained HTML report: one file with inline CSS, JS and data, no network access.
//!
//! [`HtmlSink`] collects findings (keeping the most important ones when there are too many),
//! and on `finish` writes the page: a fixed template from `assets/html/` plus the run's data
//! as JSON in a `<script type="application/json">` block. The page's script renders everything
//! with DOM APIs, so SQL text and tags only ever become text nodes. The JSON is escaped so
//! that nothing in it can close the data block or open an HTML comment, and a
//! Content-Security-Policy with a per-report nonce refuses any script or style the template
//! did not bring, and every network request.

use querycomb_detect::kinds;
use std::cmp::Ordering;
use std::collections::hash_map::{DefaultHasher, RandomState};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::io::{self, Write};

use querycomb_core::{
    BarRole, Finding, FindingKind, FindingSink, FingerprintStat, Proof, QueryRef, RouteStat,
    RunSummary, Severity, SourceTable, WaterfallBar,
};
use serde::Serialize;

const CSS: &str = include_str!("../assets/html/report.css");
const JS: &str = include_str!("../assets/html/report.js");
const BODY: &str = include_str!("../assets/html/body.html");

/// Format version of the embedded JSON (the page's script checks it).
const DATA_VERSION: u32 = 1;

/// How much the page embeds. Past these caps the page says what it left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtmlOptions {
    /// Shown as the page title and heading.
    pub title: String,
    /// Findings embedded with full evidence; the rest are counted by kind and severity.
    pub max_findings: usize,
    /// Rows of the fingerprint table.
    pub max_fingerprints: usize,
    /// Routes in the statements-per-request chart.
    pub max_routes: usize,
    /// Waterfall bars per finding (the detection stage caps them too; this is a backstop).
    pub max_waterfall_bars: usize,
}

impl Default for HtmlOptions {
    fn default() -> Self {
        HtmlOptions {
            title: "querycomb report".to_string(),
            max_findings: 2_000,
            max_fingerprints: 500,
            max_routes: 200,
            max_waterfall_bars: 1_000,
        }
    }
}

/// Writes one self-contained HTML report to `out` when the run finishes.
pub struct HtmlSink<W: Write> {
    out: W,
    options: HtmlOptions,
    sources: Vec<String>,
    /// Kind and severity of every finding seen, by signature, for the totals.
    seen: HashMap<String, (FindingKind, Severity)>,
    /// The findings kept with evidence, by signature. Pruned to `max_findings` as it grows.
    kept: HashMap<String, Finding>,
}

impl<W: Write> HtmlSink<W> {
    /// A sink with the default caps (2,000 findings, 500 fingerprints, 200 routes).
    pub fn new(out: W) -> Self {
        Self::with_options(out, HtmlOptions::default())
    }

    pub fn with_options(out: W, options: HtmlOptions) -> Self {
        HtmlSink {
            out,
            options,
            sources: Vec::new(),
            seen: HashMap::new(),
            kept: HashMap::new(),
        }
    }

    /// The writer, after `finish` (tests render into a `Vec<u8>`).
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Keeps memory bounded on runs with many findings: at twice the cap, drop the least
    /// important half. A dropped signature that comes back (live updates) is kept again if
    /// it now ranks high enough at the next prune.
    fn prune_if_needed(&mut self) {
        let cap = self.options.max_findings;
        if self.kept.len() <= cap.saturating_mul(2).max(16) {
            return;
        }
        let mut ranked: Vec<Finding> = self.kept.drain().map(|(_, f)| f).collect();
        ranked.sort_by(rank);
        ranked.truncate(cap);
        self.kept = ranked
            .into_iter()
            .map(|f| (f.signature.clone(), f))
            .collect();
    }

    fn render(&self, summary: &RunSummary) -> io::Result<String> {
        let mut findings: Vec<&Finding> = self.kept.values().collect();
        findings.sort_by(|a, b| rank(a, b));
        findings.truncate(self.options.max_findings);
        let data = self.report_data(summary, &findings);
        let json = serde_json::to_string(&data).map_err(io::Error::other)?;
        Ok(page(&self.options.title, &escape_json_for_script(&json)))
    }

    fn report_data<'a>(&'a self, summary: &'a RunSummary, shown: &[&'a Finding]) -> Data<'a> {
        let opts = &self.options;
        let fingerprints = summary.fingerprints.iter().take(opts.max_fingerprints);
        let mut routes: Vec<&RouteStat> = summary.routes.iter().collect();
        // Busiest routes first, so the cap drops the quiet ones.
        routes.sort_by(|a, b| b.mean.total_cmp(&a.mean).then(a.route.cmp(&b.route)));
        routes.truncate(opts.max_routes);
        let mut interner = Interner::default();
        let findings = shown
            .iter()
            .map(|f| FindingData::new(f, opts.max_waterfall_bars, &mut interner))
            .collect();
        Data {
            version: DATA_VERSION,
            title: &opts.title,
            inputs: if summary.inputs.is_empty() {
                &self.sources
            } else {
                &summary.inputs
            },
            summary: SummaryData::new(summary, &self.seen),
            findings,
            bar_fingerprints: interner.strings,
            fingerprints: fingerprints.map(FingerprintData::new).collect(),
            routes: routes.into_iter().map(RouteData::new).collect(),
            omitted: Omitted::new(self, summary, shown),
        }
    }
}

impl<W: Write> FindingSink for HtmlSink<W> {
    fn begin(&mut self, sources: &SourceTable) -> io::Result<()> {
        // SourceTable has no iterator; names are dense from 0, and unknown ids say so.
        self.sources = (0u32..)
            .map(|i| sources.name(querycomb_core::SourceId(i)).to_string())
            .take_while(|name| name != "<unknown>")
            .take(1_000)
            .collect();
        Ok(())
    }

    fn finding(&mut self, finding: &Finding) -> io::Result<()> {
        self.seen
            .insert(finding.signature.clone(), (finding.kind, finding.severity));
        // Live sinks see a signature again with higher counts: the newest version wins.
        self.kept.insert(finding.signature.clone(), finding.clone());
        self.prune_if_needed();
        Ok(())
    }

    fn finish(&mut self, summary: &RunSummary) -> io::Result<()> {
        let html = self.render(summary)?;
        self.out.write_all(html.as_bytes())?;
        self.out.flush()
    }
}

/// Most important first: severity, then time wasted, then repeated statements.
fn rank(a: &Finding, b: &Finding) -> Ordering {
    b.severity
        .cmp(&a.severity)
        .then_with(|| wasted_us(b).cmp(&wasted_us(a)))
        .then_with(|| b.total_count.cmp(&a.total_count))
        .then_with(|| a.signature.cmp(&b.signature))
}

/// Time the pattern cost over all its occurrences, estimated from the first request.
fn wasted_us(f: &Finding) -> u64 {
    f.total_duration_us
        .unwrap_or(0)
        .saturating_mul(u64::from(f.occurrences.max(1)))
}

/// Makes JSON text safe inside `<script type="application/json">`: the HTML tokenizer ends
/// the element at `</script` and treats `<!--` specially, and U+2028/2029 are line breaks
/// to older JS parsers. These characters only ever occur inside JSON strings, where the
/// `\uXXXX` escape decodes to the same text, so `JSON.parse` sees identical data.
pub fn escape_json_for_script(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + json.len() / 16);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            _ => out.push(c),
        }
    }
    out
}

/// Escapes text for an HTML text node or a double-quoted attribute.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A fresh nonce per report, so that markup smuggled into the data could not guess it.
fn nonce() -> String {
    let mut hasher: DefaultHasher = RandomState::new().build_hasher();
    std::time::SystemTime::now().hash(&mut hasher);
    std::process::id().hash(&mut hasher);
    let high = hasher.finish();
    let low = RandomState::new().hash_one(high);
    format!("{high:016x}{low:016x}")
}

fn page(title: &str, data_json: &str) -> String {
    let nonce = nonce();
    let title = escape_html(title);
    let mut html =
        String::with_capacity(CSS.len() + JS.len() + BODY.len() + data_json.len() + 1024);
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    // No network at all, and only the template's own script and style run.
    html.push_str(&format!(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src data:; \
         base-uri 'none'; form-action 'none'\">\n"
    ));
    html.push_str("<meta name=\"color-scheme\" content=\"light dark\">\n");
    html.push_str(&format!("<title>{title}</title>\n"));
    html.push_str(&format!(
        "<style nonce=\"{nonce}\">\n{CSS}</style>\n</head>\n"
    ));
    html.push_str(BODY);
    html.push_str("<script type=\"application/json\" id=\"data\">");
    html.push_str(data_json);
    html.push_str("</script>\n");
    html.push_str(&format!(
        "<script nonce=\"{nonce}\">\n{JS}</script>\n</body>\n</html>\n"
    ));
    html
}

// ---- The embedded data: what the page's script reads. Short, flat, display-ready. ----

#[derive(Serialize)]
struct Data<'a> {
    version: u32,
    title: &'a str,
    inputs: &'a [String],
    summary: SummaryData,
    findings: Vec<FindingData<'a>>,
    /// Fingerprints of waterfall bars, which bars name by index: a request's bars repeat a
    /// few shapes many times.
    bar_fingerprints: Vec<&'a str>,
    fingerprints: Vec<FingerprintData<'a>>,
    routes: Vec<RouteData<'a>>,
    omitted: Omitted,
}

#[derive(Serialize)]
struct SummaryData {
    requests: u64,
    statements: u64,
    records: u64,
    bytes: u64,
    malformed: u64,
    findings: u64,
    wasted_us: u64,
    elapsed_ms: u64,
    /// `[kind id, title, count]`, every kind, in a fixed order.
    /// `[kind id, title, findings, after-fix text]` for every registered kind.
    by_kind: Vec<(&'static str, &'static str, u64, &'static str)>,
    /// `[severity id, count]`, most severe first.
    by_severity: Vec<(&'static str, u64)>,
}

impl SummaryData {
    fn new(s: &RunSummary, seen: &HashMap<String, (FindingKind, Severity)>) -> Self {
        let by_kind = kinds::all()
            .map(|info| {
                let kind = info.kind;
                let from_summary = s
                    .findings_by_kind
                    .iter()
                    .find(|(k, _)| *k == kind)
                    .map(|&(_, n)| n);
                let from_seen = seen.values().filter(|(k, _)| *k == kind).count() as u64;
                (
                    info.kind.id(),
                    info.title,
                    from_summary.unwrap_or(from_seen),
                    info.after_fix,
                )
            })
            .collect();
        let by_severity = [Severity::Error, Severity::Warning, Severity::Info]
            .iter()
            .map(|&sev| {
                let n = seen.values().filter(|(_, s)| *s == sev).count() as u64;
                (sev.id(), n)
            })
            .collect();
        SummaryData {
            requests: s.requests,
            statements: s.statements,
            records: s.records,
            bytes: s.bytes,
            malformed: s.malformed,
            findings: s.findings.max(seen.len() as u64),
            wasted_us: s.wasted_us,
            elapsed_ms: s.elapsed_ms,
            by_kind,
            by_severity,
        }
    }
}

#[derive(Serialize)]
struct Omitted {
    findings: u64,
    /// `[kind id, count]` of the findings left out.
    findings_by_kind: Vec<(&'static str, u64)>,
    fingerprints: u64,
    routes: u64,
    /// Findings whose waterfall was cut to the bar cap here.
    waterfalls_cut: u64,
}

impl Omitted {
    fn new<W: Write>(sink: &HtmlSink<W>, summary: &RunSummary, shown: &[&Finding]) -> Self {
        let total = summary.findings.max(sink.seen.len() as u64);
        let mut by_kind: Vec<(&'static str, u64)> = Vec::new();
        for info in kinds::all() {
            let kind = info.kind;
            let seen = sink.seen.values().filter(|(k, _)| *k == kind).count();
            let kept = shown.iter().filter(|f| f.kind == kind).count();
            if seen > kept {
                by_kind.push((info.kind.id(), (seen - kept) as u64));
            }
        }
        let cap = sink.options.max_waterfall_bars;
        Omitted {
            findings: total.saturating_sub(shown.len() as u64),
            findings_by_kind: by_kind,
            fingerprints: (summary.fingerprints.len() as u64)
                .saturating_sub(sink.options.max_fingerprints as u64),
            routes: (summary.routes.len() as u64).saturating_sub(sink.options.max_routes as u64),
            waterfalls_cut: shown.iter().filter(|f| f.waterfall.len() > cap).count() as u64,
        }
    }
}

#[derive(Serialize)]
struct FindingData<'a> {
    kind: &'a str,
    kind_title: &'static str,
    severity: &'static str,
    signature: &'a str,
    message: &'a str,
    request: RequestData<'a>,
    parent: Option<QueryData<'a>>,
    children: Vec<QueryData<'a>>,
    /// Main table of the first child, else of the parent (for the table filter).
    table: Option<&'a str>,
    count: u32,
    distinct_params: u32,
    total_duration_us: Option<u64>,
    occurrences: u32,
    total_count: u64,
    suggestion: Option<&'a str>,
    /// `suspected`, or `proven` with `matched` parameter values.
    proof: &'static str,
    matched: Option<u32>,
    /// Bars as `[offset_us, duration_us or null, role, index into bar_fingerprints]`; role
    /// is `p`, `c` or `o`.
    waterfall: Vec<(i64, Option<u64>, &'static str, u32)>,
    /// Bars of the first request beyond the cap, not embedded.
    waterfall_cut: usize,
}

#[derive(Serialize)]
struct RequestData<'a> {
    kind: &'a str,
    id: &'a str,
    route: Option<&'a str>,
    trace_id: Option<&'a str>,
    session: &'a str,
    start_us: Option<i64>,
    end_us: Option<i64>,
    statements: u32,
    line: u64,
}

#[derive(Serialize)]
struct QueryData<'a> {
    fingerprint: &'a str,
    sql: &'a str,
    table: Option<&'a str>,
    line: u64,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    params: &'a [String],
}

impl<'a> QueryData<'a> {
    fn new(q: &'a QueryRef) -> Self {
        QueryData {
            fingerprint: &q.fingerprint,
            sql: &q.normalized,
            table: q.table.as_deref(),
            line: q.location.line,
            params: &q.example_params,
        }
    }
}

impl<'a> FindingData<'a> {
    fn new(f: &'a Finding, max_bars: usize, interner: &mut Interner<'a>) -> Self {
        let (proof, matched) = match f.proof {
            Proof::Suspected => ("suspected", None),
            Proof::Proven { matched } => ("proven", Some(matched)),
        };
        let r = &f.request;
        let table = f
            .children
            .iter()
            .chain(f.parent.iter())
            .find_map(|q| q.table.as_deref());
        FindingData {
            kind: f.kind.id(),
            kind_title: kinds::info(f.kind).title,
            severity: f.severity.id(),
            signature: &f.signature,
            message: &f.message,
            request: RequestData {
                kind: request_kind_id(r.kind),
                id: &r.id,
                route: r.route.as_deref(),
                trace_id: r.trace_id.as_deref(),
                session: &r.session,
                start_us: r.start,
                end_us: r.end,
                statements: r.statements,
                line: r.location.line,
            },
            parent: f.parent.as_ref().map(QueryData::new),
            children: f.children.iter().map(QueryData::new).collect(),
            table,
            count: f.count,
            distinct_params: f.distinct_params,
            total_duration_us: f.total_duration_us,
            occurrences: f.occurrences,
            total_count: f.total_count,
            suggestion: f.suggestion.as_deref(),
            proof,
            matched,
            waterfall: f
                .waterfall
                .iter()
                .take(max_bars)
                .map(|b| bar_data(b, interner))
                .collect(),
            waterfall_cut: f.waterfall.len().saturating_sub(max_bars),
        }
    }
}

/// Hands out one small index per distinct string.
#[derive(Default)]
struct Interner<'a> {
    strings: Vec<&'a str>,
    index: HashMap<&'a str, u32>,
}

impl<'a> Interner<'a> {
    fn intern(&mut self, s: &'a str) -> u32 {
        let next = self.strings.len() as u32;
        *self.index.entry(s).or_insert_with(|| {
            self.strings.push(s);
            next
        })
    }
}

fn bar_data<'a>(
    b: &'a WaterfallBar,
    interner: &mut Interner<'a>,
) -> (i64, Option<u64>, &'static str, u32) {
    let role = match b.role {
        BarRole::Parent => "p",
        BarRole::Child => "c",
        BarRole::Other => "o",
    };
    (
        b.offset_us,
        b.duration_us,
        role,
        interner.intern(&b.fingerprint),
    )
}

fn request_kind_id(kind: querycomb_core::RequestKind) -> &'static str {
    use querycomb_core::RequestKind::*;
    match kind {
        Trace => "trace",
        Route => "route",
        Transaction => "transaction",
        Burst => "burst",
    }
}

#[derive(Serialize)]
struct FingerprintData<'a> {
    fingerprint: &'a str,
    sql: &'a str,
    table: Option<&'a str>,
    calls: u64,
    total_us: u64,
    /// Mean over the calls with a known duration; null when none had one.
    mean_us: Option<f64>,
    rows: u64,
    requests: u64,
}

impl<'a> FingerprintData<'a> {
    fn new(s: &'a FingerprintStat) -> Self {
        FingerprintData {
            fingerprint: &s.fingerprint,
            sql: &s.normalized,
            table: s.table.as_deref(),
            calls: s.calls,
            total_us: s.total_us,
            mean_us: (s.timed_calls > 0).then(|| s.total_us as f64 / s.timed_calls as f64),
            rows: s.rows,
            requests: s.requests,
        }
    }
}

#[derive(Serialize)]
struct RouteData<'a> {
    route: &'a str,
    requests: u64,
    min: u32,
    max: u32,
    p50: u32,
    p95: u32,
    /// NaN/inf (never expected) become 0 so the JSON stays valid.
    mean: f64,
    histogram: &'a [(u32, u64)],
}

impl<'a> RouteData<'a> {
    fn new(r: &'a RouteStat) -> Self {
        RouteData {
            route: &r.route,
            requests: r.requests,
            min: r.min,
            max: r.max,
            p50: r.p50,
            p95: r.p95,
            mean: if r.mean.is_finite() { r.mean } else { 0.0 },
            histogram: &r.histogram,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use querycomb_core::{Location, RequestKind, RequestRef};
    use querycomb_detect::detectors::n_plus_one;

    const PAYLOAD: &str =
        "SELECT '</script><script>alert(1)</script>' <!-- \u{2028}\u{2029} </SCRIPT >";

    fn query(fp: &str, sql: &str, table: &str) -> QueryRef {
        QueryRef {
            fingerprint: fp.to_string(),
            normalized: sql.to_string(),
            table: Some(table.to_string()),
            location: Location::default(),
            example_params: Vec::new(),
            source_location: None,
            stack_tags: Default::default(),
        }
    }

    fn finding(signature: &str, severity: Severity, child_sql: &str) -> Finding {
        Finding {
            kind: n_plus_one::KIND,
            severity,
            signature: signature.to_string(),
            request: RequestRef {
                kind: RequestKind::Route,
                id: "GET /orders".to_string(),
                route: Some("GET /orders".to_string()),
                trace_id: None,
                session: "4242".to_string(),
                start: Some(1_700_000_000_000_000),
                end: None,
                statements: 4,
                location: Location::default(),
            },
            parent: Some(query(
                "00000000000000aa",
                "SELECT * FROM customers",
                "customers",
            )),
            children: vec![query("00000000000000bb", child_sql, "orders")],
            count: 3,
            distinct_params: 3,
            total_duration_us: Some(300),
            occurrences: 1,
            total_count: 3,
            seen_in: Default::default(),
            suggestion: Some("SELECT * FROM orders WHERE customer_id = ANY($1)".to_string()),
            message: "3 queries on orders, one per customer".to_string(),
            proof: Proof::Suspected,
            waterfall: Vec::new(),
            concurrency: None,
            fix: Default::default(),
        }
    }

    fn render(findings: &[Finding], options: HtmlOptions) -> String {
        let mut sink = HtmlSink::with_options(Vec::new(), options);
        let mut sources = SourceTable::default();
        sources.add("pg.log");
        sink.begin(&sources).unwrap();
        for f in findings {
            sink.finding(f).unwrap();
        }
        sink.finish(&RunSummary::default()).unwrap();
        String::from_utf8(sink.into_inner()).unwrap()
    }

    /// The text between the data block's opening tag and the first `</script` after it,
    /// exactly as an HTML tokenizer would cut it.
    fn data_block(html: &str) -> &str {
        let open = "<script type=\"application/json\" id=\"data\">";
        let start = html.find(open).unwrap() + open.len();
        let len = html[start..].to_ascii_lowercase().find("</script").unwrap();
        &html[start..start + len]
    }

    #[test]
    fn sql_cannot_break_out_of_the_data_block() {
        let html = render(
            &[finding("1", Severity::Warning, PAYLOAD)],
            HtmlOptions::default(),
        );
        let block = data_block(&html);
        for forbidden in ["<", ">", "\u{2028}", "\u{2029}"] {
            assert!(
                !block.contains(forbidden),
                "data block contains {forbidden:?}"
            );
        }
        // The whole block is the JSON, and it decodes back to the exact SQL.
        let data: serde_json::Value = serde_json::from_str(block).unwrap();
        assert_eq!(data["findings"][0]["children"][0]["sql"], PAYLOAD);
        // Only the template's two scripts exist: the data block and the nonce'd app script.
        assert_eq!(html.matches("<script").count(), 2);
        assert_eq!(html.to_ascii_lowercase().matches("</script").count(), 2);
        assert!(!html.contains("<!--"));
    }

    #[test]
    fn title_is_escaped() {
        let options = HtmlOptions {
            title: "<img src=x onerror=alert(1)> & \"q\"".to_string(),
            ..HtmlOptions::default()
        };
        let html = render(&[], options);
        assert!(
            html.contains("<title>&lt;img src=x onerror=alert(1)&gt; &amp; &quot;q&quot;</title>")
        );
        assert!(!html.contains("<img"));
    }

    #[test]
    fn page_loads_nothing_from_the_network() {
        let html = render(
            &[finding("1", Severity::Error, "SELECT 1")],
            HtmlOptions::default(),
        );
        let lower = html.to_ascii_lowercase();
        assert!(!lower.contains("http://") && !lower.contains("https://"));
        assert!(!lower.contains("src=") && !lower.contains("@import") && !lower.contains("url("));
        assert!(html.contains("default-src 'none'"));
    }

    #[test]
    fn template_stays_light() {
        let template = CSS.len() + JS.len() + BODY.len();
        assert!(template < 60 * 1024, "template is {template} bytes");
    }

    #[test]
    fn caps_findings_and_says_what_was_left_out() {
        let findings: Vec<Finding> = (0..50)
            .map(|i| {
                let severity = if i == 7 {
                    Severity::Error
                } else {
                    Severity::Info
                };
                finding(
                    &format!("{i:016x}"),
                    severity,
                    "SELECT * FROM orders WHERE id = $1",
                )
            })
            .collect();
        let options = HtmlOptions {
            max_findings: 5,
            ..HtmlOptions::default()
        };
        let html = render(&findings, options);
        let data: serde_json::Value = serde_json::from_str(data_block(&html)).unwrap();
        assert_eq!(data["findings"].as_array().unwrap().len(), 5);
        // The most severe finding survives the pruning.
        assert_eq!(data["findings"][0]["signature"], format!("{:016x}", 7));
        assert_eq!(data["omitted"]["findings"], 45);
        assert_eq!(data["summary"]["findings"], 50);
        assert_eq!(
            data["summary"]["by_severity"][0],
            serde_json::json!(["error", 1])
        );
    }

    #[test]
    fn a_repeated_signature_is_an_update_not_a_second_finding() {
        let first = finding("abc", Severity::Warning, "SELECT 1");
        let mut grown = first.clone();
        grown.occurrences = 9;
        let html = render(&[first, grown], HtmlOptions::default());
        let data: serde_json::Value = serde_json::from_str(data_block(&html)).unwrap();
        assert_eq!(data["findings"].as_array().unwrap().len(), 1);
        assert_eq!(data["findings"][0]["occurrences"], 9);
    }

    #[test]
    fn waterfall_is_capped_per_finding() {
        let mut f = finding("w", Severity::Warning, "SELECT 1");
        f.waterfall = (0..30)
            .map(|i| WaterfallBar {
                offset_us: i * 10,
                duration_us: None,
                fingerprint: "00000000000000bb".to_string(),
                role: BarRole::Child,
            })
            .collect();
        let options = HtmlOptions {
            max_waterfall_bars: 10,
            ..HtmlOptions::default()
        };
        let html = render(&[f], options);
        let data: serde_json::Value = serde_json::from_str(data_block(&html)).unwrap();
        assert_eq!(
            data["findings"][0]["waterfall"].as_array().unwrap().len(),
            10
        );
        assert_eq!(data["findings"][0]["waterfall_cut"], 20);
        assert_eq!(data["omitted"]["waterfalls_cut"], 1);
    }

    #[test]
    fn escape_keeps_json_meaning() {
        let original = serde_json::json!({ "s": "a<b>&c\u{2028}\u{2029}</script>" });
        let escaped = escape_json_for_script(&original.to_string());
        let back: serde_json::Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back, original);
    }
}

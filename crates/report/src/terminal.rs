//! The human report: findings grouped by severity (errors first), each readable on its own,
//! then a summary footer. Also [`render_line`], the one-line form the live proxy prints.
//!
//! Colour is plain ANSI SGR codes, decided by the caller (the CLI knows about `NO_COLOR`,
//! ttys and `--color`). Everything that came from the input is cleaned of control characters
//! first, so a crafted statement cannot drive the reader's terminal.

use querycomb_detect::detectors::over_budget;
use std::cmp::Reverse;
use std::io::{self, Write};

use querycomb_core::{BaseSeverity, Finding, Proof, RouteStat, RunSummary, Severity, SourceTable};

use crate::buffered::{Buffered, Render};
use crate::causes;
use crate::describe::{self, clean, plural, thousands};

/// How the terminal report looks; the CLI fills it from its flags and environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminalOptions {
    /// Emit ANSI colour codes.
    pub color: bool,
    /// Print the example parameter values findings carry (only filled under `--show-params`).
    pub show_params: bool,
    /// Columns to fold long SQL and text into (values below 60 are raised to 60).
    pub width: usize,
    /// What the findings' routes name: tests only when `querycomb run` attributed them.
    pub routes: causes::RouteNames,
}

impl Default for TerminalOptions {
    fn default() -> Self {
        TerminalOptions {
            color: false,
            show_params: false,
            width: 100,
            routes: causes::RouteNames::Routes,
        }
    }
}

/// Writes the grouped report at [`FindingSink::finish`]: grouping by severity needs every
/// finding.
pub type TerminalSink<W> = Buffered<W, Terminal>;

impl<W: Write> TerminalSink<W> {
    pub fn new(out: W, options: TerminalOptions) -> Self {
        Buffered::with_render(out, Terminal { options })
    }
}

/// The terminal report's rendering.
pub struct Terminal {
    options: TerminalOptions,
}

impl Render for Terminal {
    fn render(
        &self,
        out: &mut dyn Write,
        sources: &SourceTable,
        findings: &[Finding],
        summary: &RunSummary,
    ) -> io::Result<()> {
        let mut findings: Vec<&Finding> = findings.iter().collect();
        findings.sort_by_key(|f| (Reverse(f.severity), Reverse(f.total_count), &f.signature));
        let style = Style {
            color: self.options.color,
        };
        let mut text = String::new();
        text.push_str(&render_causes(&findings, self.options.routes, &style));
        // Fixtures (info findings in tests' setup/teardown) get their own section, last.
        let (fixtures, own): (Vec<&Finding>, Vec<&Finding>) = findings
            .iter()
            .partition(|f| f.severity == Severity::Info && causes::is_fixture(f));
        // Sorted by severity, so each chunk is one severity group.
        for group in own.chunk_by(|a, b| a.severity == b.severity) {
            text.push_str(&group_heading(group[0].severity, group.len(), &style));
            for finding in group {
                text.push_str(&render_finding(finding, sources, &self.options, &style));
                text.push('\n');
            }
        }
        if !fixtures.is_empty() {
            let heading = format!(
                "── fixtures: tests' setup and teardown, at info ({}) ──────────",
                fixtures.len()
            );
            text.push_str(&format!("{}\n\n", style.paint(BOLD, &heading)));
            for finding in &fixtures {
                text.push_str(&render_finding(finding, sources, &self.options, &style));
                text.push('\n');
            }
        }
        if findings.is_empty() {
            text.push_str(&style.paint(GREEN, "No findings."));
            text.push_str("\n\n");
        }
        text.push_str(&render_routes(&summary.routes, &style));
        text.push_str(&render_summary(
            summary,
            &findings,
            &style,
            self.options.width.max(60),
        ));
        out.write_all(text.as_bytes())
    }
}

const BOLD: &str = "1";
const DIM: &str = "2";
const RED: &str = "1;31";
const YELLOW: &str = "1;33";
const CYAN: &str = "36";
const GREEN: &str = "32";

struct Style {
    color: bool,
}

impl Style {
    fn paint(&self, sgr: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{sgr}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn severity(&self, severity: Severity) -> String {
        let sgr = match severity {
            Severity::Error => RED,
            Severity::Warning => YELLOW,
            Severity::Info => CYAN,
        };
        self.paint(sgr, severity.id())
    }
}

/// The causes first, one line each for the top ones, when there is more than one finding:
/// a reader sees what to fix before the evidence of each member, on one screen however
/// many causes the run has.
fn render_causes(findings: &[&Finding], names: causes::RouteNames, style: &Style) -> String {
    if findings.len() < 2 {
        return String::new();
    }
    let causes = causes::causes(findings.iter().copied());
    let heading = format!(
        "── causes ({} for {}) ──────────────────────────────",
        causes.len(),
        plural(findings.len() as u64, "finding", "findings")
    );
    let mut text = format!("{}\n\n", style.paint(BOLD, &heading));
    text.push_str(&causes::top_causes(&causes, "below", names));
    text.push('\n');
    text
}

fn group_heading(severity: Severity, count: usize, style: &Style) -> String {
    let name = match severity {
        Severity::Error => "errors",
        Severity::Warning => "warnings",
        Severity::Info => "info",
    };
    let text = format!("── {name} ({count}) ──────────────────────────────");
    format!("{}\n\n", style.paint(BOLD, &text))
}

/// One labelled field of a finding: `label:` then its paragraphs, folded and aligned after
/// the longest label of the finding.
struct Field {
    label: String,
    paragraphs: Vec<(String, Fold)>,
    sgr: Option<&'static str>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fold {
    Text,
    Sql,
}

impl Field {
    fn new(label: impl Into<String>, text: String, fold: Fold) -> Self {
        Field {
            label: label.into(),
            paragraphs: vec![(text, fold)],
            sgr: None,
        }
    }
}

/// The plain-text block of one finding, as JUnit failure bodies show it.
pub(crate) fn render_plain(finding: &Finding, sources: &SourceTable) -> String {
    render_finding(
        finding,
        sources,
        &TerminalOptions::default(),
        &Style { color: false },
    )
}

fn render_finding(
    finding: &Finding,
    sources: &SourceTable,
    options: &TerminalOptions,
    style: &Style,
) -> String {
    let width = options.width.max(60);
    let tag = format!("[{} {}]", finding.kind.id(), clean(&finding.signature));
    // One title line: a headline too long for the width is shortened, so that the tag stays
    // on it (the full table name is in the SQL below).
    let room = width.saturating_sub(finding.severity.id().len() + tag.len() + 4);
    let headline = shorten(&describe::headline(finding), room.max(20) - 1);
    let mut out = format!(
        "{}  {}  {}\n",
        style.severity(finding.severity),
        style.paint(BOLD, &headline),
        style.paint(DIM, &tag),
    );
    for line in fold(&clean(&finding.message), width - 2, false) {
        out.push_str(&format!("  {line}\n"));
    }
    let fields = finding_fields(finding, sources, options);
    let column = fields
        .iter()
        .map(|f| f.label.chars().count() + 2)
        .max()
        .unwrap_or(0);
    let text_width = width.saturating_sub(2 + column).max(30);
    for field in fields {
        let label = format!("{}:", field.label);
        let padding = " ".repeat(column - label.chars().count());
        let lines = field
            .paragraphs
            .iter()
            .flat_map(|(text, how)| fold(text, text_width, *how == Fold::Sql));
        for (i, line) in lines.enumerate() {
            let line = field
                .sgr
                .map_or_else(|| line.clone(), |s| style.paint(s, &line));
            if i == 0 {
                out.push_str(&format!("  {}{padding}{line}\n", style.paint(CYAN, &label)));
            } else {
                out.push_str(&format!("  {}{line}\n", " ".repeat(column)));
            }
        }
    }
    out
}

fn finding_fields(
    finding: &Finding,
    sources: &SourceTable,
    options: &TerminalOptions,
) -> Vec<Field> {
    let mut fields = vec![Field::new(
        "request",
        describe::request_label(&finding.request),
        Fold::Text,
    )];
    match &finding.parent {
        Some(parent) => fields.push(Field::new("parent", clean(&parent.normalized), Fold::Sql)),
        // Say it rather than show the statement before the loop, which it need not iterate.
        None if querycomb_detect::kinds::info(finding.kind).severity == BaseSeverity::Loop => {
            fields.push(Field::new(
                "parent",
                "none shown: no earlier query returned the rows this loop went through (it \
                 may iterate data the code already held)"
                    .to_owned(),
                Fold::Text,
            ));
        }
        None => {}
    }
    // An over-budget request is not a loop: its children are the shapes that ran most,
    // `count` its statements and the time that of the whole request.
    let is_over_budget = finding.kind == over_budget::KIND;
    for child in &finding.children {
        let label = if is_over_budget {
            "most run".to_owned()
        } else {
            format!("child (×{})", thousands(u64::from(finding.count)))
        };
        fields.push(Field::new(label, clean(&child.normalized), Fold::Sql));
    }
    if let Some(us) = finding.total_duration_us {
        // `count` is rounds of the whole sequence when there are several children.
        let statements = if is_over_budget {
            u64::from(finding.count)
        } else {
            u64::from(finding.count) * finding.children.len().max(1) as u64
        };
        let text = format!(
            "{} in {} (first request)",
            describe::duration(us),
            plural(statements, "statement", "statements")
        );
        let label = if is_over_budget {
            "request time"
        } else {
            "child time"
        };
        fields.push(Field::new(label, text, Fold::Text));
    }
    fields.push(Field::new("where", locations(finding, sources), Fold::Text));
    if let Some(code) = finding
        .children
        .first()
        .and_then(|c| c.source_location.as_deref())
    {
        fields.push(Field::new("code", clean(code), Fold::Text));
    }
    if let Proof::Proven { matched } = finding.proof {
        let text = format!(
            "proven: {} child parameter values came from the parent's rows",
            thousands(u64::from(matched))
        );
        fields.push(Field::new("proof", text, Fold::Text));
    }
    if options.show_params {
        let params = example_params(finding);
        if !params.is_empty() {
            fields.push(Field::new("params", params, Fold::Text));
        }
    }
    if let Some(suggestion) = &finding.suggestion {
        fields.push(suggestion_field(suggestion));
    }
    fields.extend(fix_fields(finding));
    fields
}

/// The plan check, the fix for the stack and the impact, when they were computed.
fn fix_fields(finding: &Finding) -> Vec<Field> {
    let mut fields = Vec::new();
    let mut push = |label: &str, lines: Vec<String>| {
        let paragraphs = lines
            .into_iter()
            .map(|line| {
                let line = clean(&line);
                let how = if looks_like_sql(&line) || line.starts_with("CREATE INDEX") {
                    Fold::Sql
                } else {
                    Fold::Text
                };
                (line, how)
            })
            .collect();
        fields.push(Field {
            label: label.to_owned(),
            paragraphs,
            sgr: None,
        });
    };
    if let Some(check) = &finding.fix.plan_check {
        push("plan", crate::fix::plan(check));
    }
    if let Some(advice) = &finding.fix.advice {
        push("stack", crate::fix::advice(advice));
    }
    if let Some(impact) = &finding.fix.impact {
        push("impact", vec![crate::fix::impact(impact)]);
    }
    fields
}

/// A suggestion is batched SQL and/or an explanation, one per line.
fn suggestion_field(suggestion: &str) -> Field {
    let paragraphs = suggestion
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let line = clean(line);
            let how = if looks_like_sql(&line) {
                Fold::Sql
            } else {
                Fold::Text
            };
            (line, how)
        })
        .collect();
    Field {
        label: "fix".to_owned(),
        paragraphs,
        sgr: Some(GREEN),
    }
}

fn looks_like_sql(line: &str) -> bool {
    let first = line.split_whitespace().next().unwrap_or("");
    ["SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "MERGE"]
        .iter()
        .any(|verb| first.eq_ignore_ascii_case(verb))
}

/// `file:line (child), line N (parent)`, else where the request starts. A live capture has
/// no file: the test (and phase) that ran the statements, else the connection.
fn locations(finding: &Finding, sources: &SourceTable) -> String {
    if sources.is_capture(describe::primary_location(finding).source) {
        return describe::capture_place(finding);
    }
    let child = finding.children.first().map(|q| q.location);
    let parent = finding.parent.as_ref().map(|q| q.location);
    let place = |loc| clean(&sources.display(loc));
    match (child, parent) {
        (Some(c), Some(p)) if c.source == p.source => {
            format!("{} (child), line {} (parent)", place(c), p.line)
        }
        (Some(c), Some(p)) => format!("{} (child), {} (parent)", place(c), place(p)),
        (Some(c), None) => format!("{} (child)", place(c)),
        (None, Some(p)) => format!("{} (parent)", place(p)),
        (None, None) => format!("{} (request)", place(finding.request.location)),
    }
}

fn example_params(finding: &Finding) -> String {
    let mut parts = Vec::new();
    let queries = finding
        .parent
        .iter()
        .map(|q| ("parent", q))
        .chain(finding.children.iter().map(|q| ("child", q)));
    for (role, query) in queries {
        if !query.example_params.is_empty() {
            parts.push(format!(
                "{role}: {}",
                clean(&query.example_params.join(" | "))
            ));
        }
    }
    parts.join("; ")
}

/// Routes shown in the statements-per-request table; the rest are counted.
const MAX_ROUTES: usize = 15;
const MAX_ROUTE_CHARS: usize = 48;

/// Statements per request for each route, heaviest (p95) first: what `querycomb run` users
/// compare with their budgets.
fn render_routes(routes: &[RouteStat], style: &Style) -> String {
    if routes.is_empty() {
        return String::new();
    }
    let mut sorted: Vec<&RouteStat> = routes.iter().collect();
    sorted.sort_by(|a, b| (b.p95, b.max, &a.route).cmp(&(a.p95, a.max, &b.route)));
    let name = |r: &RouteStat| {
        if r.route.is_empty() {
            "(no route)".to_owned()
        } else {
            // Cut in the middle: a route's end (a test's name and phase) tells routes apart.
            shorten_middle(&clean(&r.route), MAX_ROUTE_CHARS)
        }
    };
    let shown = &sorted[..sorted.len().min(MAX_ROUTES)];
    let width = shown
        .iter()
        .map(|r| name(r).chars().count())
        .max()
        .unwrap_or(0)
        .max("route".len());
    let mut out = format!(
        "{}\n",
        style.paint(BOLD, "── statements per request ───────────────")
    );
    let header = format!(
        "  {:<width$} {:>9} {:>6} {:>6} {:>6}",
        "route", "requests", "p50", "p95", "max"
    );
    out.push_str(&style.paint(CYAN, &header));
    out.push('\n');
    for route in shown {
        let label = name(route);
        let padding = " ".repeat(width - label.chars().count());
        out.push_str(&format!(
            "  {label}{padding} {:>9} {:>6} {:>6} {:>6}\n",
            thousands(route.requests),
            route.p50,
            route.p95,
            route.max
        ));
    }
    if sorted.len() > shown.len() {
        let rest = (sorted.len() - shown.len()) as u64;
        out.push_str(&format!(
            "  … and {}\n",
            plural(rest, "more route", "more routes")
        ));
    }
    out.push('\n');
    out
}

fn render_summary(
    summary: &RunSummary,
    findings: &[&Finding],
    style: &Style,
    width: usize,
) -> String {
    let mut statements = format!(
        "{} in {} ({}",
        thousands(summary.statements),
        plural(summary.requests, "request", "requests"),
        describe::bytes(summary.bytes),
    );
    // Not every source counts records; a 0 there would read as "nothing was read".
    if summary.records > 0 {
        statements.push_str(&format!(
            ", {}",
            plural(summary.records, "record", "records")
        ));
    }
    statements.push(')');
    if summary.housekeeping + summary.tooling > 0 {
        statements.push_str(&format!(
            "; left out: {} housekeeping, {} tooling (--include-tooling)",
            thousands(summary.housekeeping),
            thousands(summary.tooling),
        ));
    }
    let mut rows: Vec<(&str, String)> = vec![
        ("inputs", inputs_text(summary)),
        ("statements", statements),
        ("findings", findings_text(summary, findings.len())),
        ("time wasted", wasted_text(summary, findings)),
        (
            "malformed",
            format!("{} skipped", plural(summary.malformed, "record", "records")),
        ),
    ];
    // Read with a caveat: shown apart from malformed records, since nothing was lost.
    if summary.warnings > 0 {
        rows.push((
            "warnings",
            format!(
                "{} read with a caveat (see stderr)",
                plural(summary.warnings, "record", "records")
            ),
        ));
    }
    for damage in &summary.damaged {
        rows.push((
            "DAMAGED",
            format!("{damage}; this report covers what came before"),
        ));
    }
    rows.push((
        "elapsed",
        describe::duration(summary.elapsed_ms.saturating_mul(1_000)),
    ));
    let mut out = format!(
        "{}\n",
        style.paint(BOLD, "── summary ──────────────────────────────")
    );
    const COLUMN: usize = 13;
    for (label, value) in rows {
        let label = format!("{label}:");
        let label = style.paint(CYAN, &format!("{label:<COLUMN$}"));
        for (i, line) in fold(&value, width - 2 - COLUMN, false).iter().enumerate() {
            if i == 0 {
                out.push_str(&format!("  {label}{line}\n"));
            } else {
                out.push_str(&format!("  {:COLUMN$}{line}\n", ""));
            }
        }
    }
    out
}

fn inputs_text(summary: &RunSummary) -> String {
    match summary.inputs.len() {
        0 => "none".to_owned(),
        1..=3 => summary
            .inputs
            .iter()
            .map(|s| clean(s))
            .collect::<Vec<_>>()
            .join(", "),
        n => format!("{}, … ({n} inputs)", clean(&summary.inputs[0])),
    }
}

fn findings_text(summary: &RunSummary, shown: usize) -> String {
    // The summary's count is authoritative; the sink's own count covers callers that
    // leave the summary's totals empty.
    let total = summary.findings.max(shown as u64);
    let by_kind: Vec<String> = summary
        .findings_by_kind
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(kind, n)| format!("{} {}", thousands(*n), kind.id()))
        .collect();
    if by_kind.is_empty() {
        thousands(total)
    } else {
        format!("{} ({})", thousands(total), by_kind.join(", "))
    }
}

fn wasted_text(summary: &RunSummary, findings: &[&Finding]) -> String {
    if findings.is_empty() {
        return "none".to_owned();
    }
    let timed = findings.iter().any(|f| f.total_duration_us.is_some());
    if summary.wasted_us == 0 && !timed {
        return "unknown (the input has no durations)".to_owned();
    }
    format!(
        "{} in repeated statements",
        describe::duration(summary.wasted_us)
    )
}

/// One line per finding for the live proxy's stderr: severity, headline, where, the
/// repeated SQL (shortened), kind and signature. No colour, no newline.
pub fn render_line(finding: &Finding, sources: &SourceTable) -> String {
    let mut parts = vec![format!(
        "{} {}",
        finding.severity.id(),
        describe::headline(finding)
    )];
    let request = &finding.request;
    if let Some(route) = request.route.as_deref().or(request.trace_id.as_deref()) {
        parts.push(clean(route));
    } else {
        parts.push(format!("session {}", clean(&request.session)));
    }
    parts.push(clean(&sources.display(describe::primary_location(finding))));
    if let Some(child) = finding.children.first() {
        parts.push(shorten(&clean(&child.normalized), 80));
    }
    format!(
        "{} [{} {}]",
        parts.join(" | "),
        finding.kind.id(),
        clean(&finding.signature)
    )
}

/// `text` cut to about `max_chars` characters by dropping its middle.
fn shorten_middle(text: &str, max_chars: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= max_chars {
        return text.to_owned();
    }
    let head = max_chars / 3;
    let tail = max_chars.saturating_sub(head + 1);
    let mut out: String = chars.iter().take(head).collect();
    out.push('…');
    out.extend(chars.iter().skip(chars.len() - tail));
    out
}

fn shorten(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// A whitespace-separated word, with the parenthesis depth it starts at so that SQL is only
/// broken before top-level clauses.
struct Word<'a> {
    text: &'a str,
    depth: i32,
}

/// Splits on whitespace outside quotes: in SQL, a quoted identifier like `"order items"`
/// stays whole. Prose has no quotes to respect: the apostrophe of `Hibernate's` opens none.
fn words(text: &str, sql: bool) -> Vec<Word<'_>> {
    let mut words = Vec::new();
    let mut quote: Option<char> = None;
    let mut depth = 0;
    let mut start: Option<(usize, i32)> = None;
    for (i, c) in text.char_indices() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            continue;
        }
        if c.is_whitespace() {
            if let Some((s, d)) = start.take() {
                words.push(Word {
                    text: &text[s..i],
                    depth: d,
                });
            }
            continue;
        }
        if start.is_none() {
            start = Some((i, depth));
        }
        match c {
            '\'' | '"' | '`' if sql => quote = Some(c),
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
    }
    if let Some((s, d)) = start {
        words.push(Word {
            text: &text[s..],
            depth: d,
        });
    }
    words
}

const CLAUSES: [&str; 19] = [
    "FROM",
    "WHERE",
    "GROUP",
    "ORDER",
    "HAVING",
    "LIMIT",
    "OFFSET",
    "UNION",
    "INTERSECT",
    "EXCEPT",
    "VALUES",
    "SET",
    "RETURNING",
    "JOIN",
    "LEFT",
    "RIGHT",
    "INNER",
    "FULL",
    "CROSS",
];
const JOIN_MODIFIERS: [&str; 7] = [
    "LEFT", "RIGHT", "INNER", "FULL", "CROSS", "NATURAL", "OUTER",
];

fn is_one_of(word: &str, set: &[&str]) -> bool {
    set.iter().any(|k| word.eq_ignore_ascii_case(k))
}

fn starts_clause(word: &str, previous: &str) -> bool {
    is_one_of(word, &CLAUSES)
        && !(is_one_of(word, &["JOIN", "OUTER"]) && is_one_of(previous, &JOIN_MODIFIERS))
}

/// Folds text into lines of at most `width` columns (a single longer word stays whole).
/// SQL that does not fit on one line is also broken before each top-level clause, and its
/// wrapped clause lines are indented, so the statement reads like a formatted query.
fn fold(text: &str, width: usize, sql: bool) -> Vec<String> {
    let words = words(text, sql);
    let total = words
        .iter()
        .map(|w| w.text.chars().count() + 1)
        .sum::<usize>();
    let break_clauses = sql && total > width + 1;
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut len = 0;
    let mut has_word = false;
    let mut previous = "";
    for word in &words {
        let word_len = word.text.chars().count();
        let clause = break_clauses && word.depth == 0 && starts_clause(word.text, previous);
        if has_word && (clause || len + 1 + word_len > width) {
            lines.push(std::mem::take(&mut line));
            len = 0;
            has_word = false;
            if sql && !clause {
                line.push_str("  ");
                len = 2;
            }
        }
        if has_word {
            line.push(' ');
            len += 1;
        }
        line.push_str(word.text);
        len += word_len;
        has_word = true;
        previous = word.text;
    }
    if has_word {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use querycomb_core::FindingSink;
    use querycomb_detect::detectors::mn_plus_one;

    fn report(findings: &[Finding], options: TerminalOptions) -> String {
        let mut sink = TerminalSink::new(Vec::new(), options);
        fixtures::run(&mut sink, findings);
        String::from_utf8(sink.into_inner()).expect("utf-8 report")
    }

    #[test]
    fn long_routes_keep_their_ends() {
        let route = "tests/integration/test_tree_models.py::test_move_node_to_root (setup)";
        let short = shorten_middle(route, MAX_ROUTE_CHARS);
        assert_eq!(short.chars().count(), MAX_ROUTE_CHARS, "{short}");
        assert!(short.starts_with("tests/integ"), "{short}");
        assert!(short.ends_with("move_node_to_root (setup)"), "{short}");
        assert_eq!(shorten_middle("GET /x", MAX_ROUTE_CHARS), "GET /x");
    }

    #[test]
    fn a_long_title_keeps_its_tag_on_its_line() {
        let mut finding = fixtures::n_plus_one();
        let table = "a_table_name_long_enough_to_fill_most_of_a_narrow_terminal_on_its_own_x";
        finding.children[0].table = Some(table.to_owned());
        let text = report(
            &[finding],
            TerminalOptions {
                width: 80,
                ..TerminalOptions::default()
            },
        );
        let title = text
            .lines()
            .find(|l| l.starts_with("error  "))
            .expect("a title line");
        assert!(title.ends_with("[n_plus_one 9f2c4e1a7b3d5c60]"), "{text}");
        assert!(title.chars().count() <= 80, "{title}");
        assert!(title.contains('…'), "{title}");
    }

    fn plain(findings: &[Finding]) -> String {
        report(findings, TerminalOptions::default())
    }

    #[test]
    fn shows_every_part_of_a_finding() {
        let wide = TerminalOptions {
            width: 200,
            ..TerminalOptions::default()
        };
        let text = report(&[fixtures::n_plus_one()], wide);
        for expected in [
            "error  N+1 query on shop_order ×50, seen in 12 requests  [n_plus_one 9f2c4e1a7b3d5c60]",
            "shop_order was read once per shop_customer row",
            "request:",
            "route GET /customers/:id/orders, trace 4bf92f3577b34da6a3ce929d0e0e4736, session 8755",
            "2026-11-21 18:00:17.633–18:00:17.912 UTC, 52 statements",
            "parent:",
            "child (×50):",
            "child time:",
            "12.4 ms in 50 statements",
            "logs/postgresql-15-main.log:1207 (child), line 1205 (parent)",
            "proof:",
            "proven: 50 child parameter values",
            "fix:",
            "= ANY($1)",
            "-- One query for all keys instead of one per key",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }

    #[test]
    fn groups_by_severity_errors_first() {
        let text = plain(&[fixtures::repeated_identical(), fixtures::n_plus_one()]);
        let errors = text.find("── errors (1)").expect("errors group");
        let warnings = text.find("── warnings (1)").expect("warnings group");
        let summary = text.find("── summary").expect("summary");
        assert!(errors < warnings && warnings < summary, "{text}");
        assert!(text.find("N+1 query").unwrap() < text.find("repeated identical").unwrap());
    }

    /// A run with forty distinct causes still opens with one screen of them.
    #[test]
    fn the_causes_section_fits_a_screen() {
        let findings: Vec<Finding> = (0..40)
            .map(|i| {
                let mut f = fixtures::n_plus_one();
                f.children[0].normalized.push_str(&format!(" AND c{i} = 1"));
                f.signature = format!("sig{i}");
                f
            })
            .collect();
        let text = plain(&findings);
        let causes: Vec<&str> = text
            .split("── causes")
            .nth(1)
            .expect("a causes section")
            .lines()
            .skip(1)
            .take_while(|line| !line.starts_with("──"))
            .filter(|line| !line.is_empty())
            .collect();
        assert_eq!(causes.len(), 11, "{causes:#?}");
        assert_eq!(causes[10], "    … and 30 more (30 findings) below");
    }

    #[test]
    fn summary_footer_has_the_run_totals() {
        let text = plain(&[fixtures::n_plus_one(), fixtures::repeated_identical()]);
        for expected in [
            "inputs:      logs/postgresql-15-main.log",
            "statements:  12,345 in 321 requests (4.2 MB, 12,500 records)",
            "findings:    2 (1 n_plus_one, 1 repeated_identical)",
            "time wasted: 148.8 ms in repeated statements",
            "malformed:   3 records skipped",
            "elapsed:     120.0 ms",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }

    #[test]
    fn lists_statements_per_request_by_route_heaviest_first() {
        let text = plain(&[]);
        let table = text
            .split("── statements per request")
            .nth(1)
            .and_then(|rest| rest.split("── summary").next())
            .expect("routes table");
        let rows: Vec<&str> = table.lines().skip(1).filter(|l| !l.is_empty()).collect();
        assert_eq!(
            rows,
            [
                "  route                      requests    p50    p95    max",
                "  GET /customers/:id/orders        12     52     60     61",
                "  (no route)                      109      3     20     31",
                "  GET /health                     200      1      1      1",
            ],
            "{text}"
        );
    }

    #[test]
    fn caps_the_route_table() {
        let routes: Vec<RouteStat> = (0..20)
            .map(|i| RouteStat {
                route: format!("GET /r{i:02}"),
                requests: 1,
                p95: i,
                ..RouteStat::default()
            })
            .collect();
        let text = render_routes(&routes, &Style { color: false });
        assert!(
            text.contains("GET /r19") && !text.contains("GET /r04"),
            "{text}"
        );
        assert!(text.contains("… and 5 more routes"), "{text}");
        assert!(render_routes(&[], &Style { color: false }).is_empty());
    }

    #[test]
    fn sequence_findings_count_every_statement_of_every_round() {
        let mut finding = fixtures::n_plus_one();
        finding.kind = mn_plus_one::KIND;
        let mut second = finding.children[0].clone();
        second.normalized = "SELECT name FROM customers WHERE id = $1".to_owned();
        finding.children.push(second);
        finding.count = 8;
        let text = plain(&[finding]);
        assert_eq!(text.matches("child (×8):").count(), 2, "{text}");
        assert!(text.contains("12.4 ms in 16 statements"), "{text}");
    }

    #[test]
    fn over_budget_findings_name_the_most_run_shapes_and_the_request_time() {
        let mut finding = fixtures::n_plus_one();
        finding.kind = over_budget::KIND;
        finding.parent = None;
        finding.count = 9;
        let text = plain(&[finding]);
        assert!(text.contains("most run:"), "{text}");
        assert!(!text.contains("child (×"), "{text}");
        assert!(
            text.contains("request time: 12.4 ms in 9 statements"),
            "{text}"
        );
    }

    #[test]
    fn summary_lines_fold_and_skip_unknown_record_counts() {
        let mut summary = fixtures::summary();
        summary.records = 0;
        summary.findings_by_kind = querycomb_detect::kinds::all()
            .map(|info| (info.kind, 1_000))
            .collect();
        let mut sink = TerminalSink::new(Vec::new(), TerminalOptions::default());
        sink.begin(&fixtures::sources()).unwrap();
        sink.finish(&summary).unwrap();
        let text = String::from_utf8(sink.into_inner()).unwrap();
        assert!(
            text.contains("statements:  12,345 in 321 requests (4.2 MB)\n"),
            "{text}"
        );
        assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
        let last = querycomb_detect::kinds::all()
            .last()
            .map(|info| format!("{})", info.kind.id()))
            .unwrap_or_default();
        let continued = text
            .lines()
            .find(|l| l.contains(&last))
            .expect("folded findings line");
        assert!(continued.starts_with(&" ".repeat(15)), "{text}");
    }

    #[test]
    fn says_so_when_there_is_nothing_to_report() {
        let text = plain(&[]);
        assert!(text.starts_with("No findings."), "{text}");
        assert!(text.contains("time wasted: none"), "{text}");
    }

    #[test]
    fn colour_only_when_asked() {
        let finding = fixtures::n_plus_one();
        assert!(!plain(std::slice::from_ref(&finding)).contains('\x1b'));
        let coloured = report(
            &[finding],
            TerminalOptions {
                color: true,
                ..TerminalOptions::default()
            },
        );
        assert!(coloured.contains("\x1b[1;31merror\x1b[0m"), "{coloured}");
        assert!(coloured.contains("\x1b[0m"));
    }

    #[test]
    fn folds_long_sql_within_the_width() {
        let options = TerminalOptions {
            width: 80,
            ..TerminalOptions::default()
        };
        let text = report(&[fixtures::n_plus_one()], options);
        for line in text.lines() {
            assert!(line.chars().count() <= 80, "too long: {line:?}");
        }
        // Broken before top-level clauses, aligned after the labels, nothing of the SQL lost.
        let sql = &fixtures::n_plus_one().children[0].normalized;
        let child_block = text
            .split("child (×50): ")
            .nth(1)
            .and_then(|rest| rest.split("\n  child time:").next())
            .expect("child block");
        assert!(
            child_block.contains("\n               FROM \"shop_order\"\n"),
            "{text}"
        );
        let rejoined: Vec<&str> = child_block.split_whitespace().collect();
        assert_eq!(rejoined, sql.split_whitespace().collect::<Vec<_>>());
    }

    #[test]
    fn fold_keeps_short_sql_on_one_line_and_quoted_names_whole() {
        assert_eq!(
            fold("SELECT * FROM t WHERE id = $1", 60, true),
            ["SELECT * FROM t WHERE id = $1"]
        );
        let folded = fold(
            "SELECT \"order items\".id FROM \"order items\" LEFT JOIN b ON b.id = a.id WHERE x IN (SELECT y FROM z)",
            40,
            true,
        );
        assert_eq!(
            folded,
            [
                "SELECT \"order items\".id",
                "FROM \"order items\"",
                "LEFT JOIN b ON b.id = a.id",
                "WHERE x IN (SELECT y FROM z)",
            ]
        );
        // A word longer than the width stays whole rather than being cut.
        let long = "x".repeat(50);
        assert_eq!(fold(&long, 10, false), [long.as_str()]);
        assert!(fold("", 10, true).is_empty());
    }

    /// An apostrophe in prose is not a quote: the line still folds after it.
    #[test]
    fn prose_folds_past_an_apostrophe() {
        let text = "Hibernate (from Hibernate 3–5's table aliases: `FROM books book0_`): batch \
                    fetching on the books collection";
        let folded = fold(text, 30, false);
        assert!(folded.iter().all(|l| l.chars().count() <= 30), "{folded:?}");
        assert_eq!(folded.join(" "), text);
    }

    #[test]
    fn never_prints_parameters_unless_asked() {
        let mut finding = fixtures::n_plus_one();
        finding.children[0].example_params = vec!["$1 = '8', $2 = '21'".to_owned()];
        let hidden = plain(&[finding.clone()]);
        assert!(
            !hidden.contains("$1 = '8'") && !hidden.contains("params:"),
            "{hidden}"
        );
        let shown = report(
            &[finding],
            TerminalOptions {
                show_params: true,
                ..TerminalOptions::default()
            },
        );
        assert!(shown.contains("params:"), "{shown}");
        assert!(shown.contains("child: $1 = '8', $2 = '21'"), "{shown}");
    }

    #[test]
    fn input_control_characters_cannot_reach_the_terminal() {
        let mut finding = fixtures::n_plus_one();
        finding.children[0].normalized = "SELECT 1 /*\x1b[2J\x07*/".to_owned();
        finding.request.route = Some("GET /x\r\nforged: line".to_owned());
        let text = plain(&[finding]);
        assert!(!text.contains('\x1b') && !text.contains('\x07') && !text.contains('\r'));
        assert!(!text.contains("\nforged"), "{text}");
    }

    #[test]
    fn a_later_update_replaces_the_same_signature() {
        let first = fixtures::n_plus_one();
        let mut grown = first.clone();
        grown.occurrences = 40;
        let text = plain(&[first, grown]);
        assert_eq!(text.matches("[n_plus_one 9f2c4e1a7b3d5c60]").count(), 1);
        assert!(text.contains("seen in 40 requests"), "{text}");
    }

    #[test]
    fn untimed_findings_say_time_is_unknown() {
        let mut summary = fixtures::summary();
        summary.wasted_us = 0;
        let finding = fixtures::repeated_identical();
        let mut sink = TerminalSink::new(Vec::new(), TerminalOptions::default());
        sink.begin(&fixtures::sources()).unwrap();
        sink.finding(&finding).unwrap();
        sink.finish(&summary).unwrap();
        let text = String::from_utf8(sink.into_inner()).unwrap();
        assert!(
            text.contains("unknown (the input has no durations)"),
            "{text}"
        );
        assert!(!text.contains("child time:"), "{text}");
        assert!(!text.contains("proof:"), "{text}");
    }

    #[test]
    fn renders_one_line_per_finding() {
        let sources = fixtures::sources();
        let line = render_line(&fixtures::n_plus_one(), &sources);
        assert!(!line.contains('\n'));
        assert!(line.starts_with("error N+1 query on shop_order ×50, seen in 12 requests | GET /customers/:id/orders | logs/postgresql-15-main.log:1207 | SELECT"), "{line}");
        assert!(
            line.ends_with("…  [n_plus_one 9f2c4e1a7b3d5c60]")
                || line.ends_with("… [n_plus_one 9f2c4e1a7b3d5c60]"),
            "{line}"
        );
        let budget = render_line(&fixtures::over_budget_without_children(), &sources);
        assert_eq!(
            budget,
            "error over budget: 52 statements, seen in 12 requests | GET /customers/:id/orders | \
             logs/postgresql-15-main.log:1204 [over_budget 0123456789abcdef]"
        );
        let untagged = render_line(&fixtures::repeated_identical(), &sources);
        assert!(untagged.contains("| session 9120 |"), "{untagged}");
        assert!(
            untagged.contains("SELECT * FROM settings WHERE key = $1 LIMIT $2 [repeated_identical"),
            "{untagged}"
        );
    }

    #[test]
    fn tagged_code_location_is_shown() {
        let mut finding = fixtures::n_plus_one();
        finding.children[0].source_location = Some("app/models/post.rb:12".to_owned());
        let text = report(&[finding], TerminalOptions::default());
        assert!(text.contains("code:"), "{text}");
        assert!(text.contains("app/models/post.rb:12"), "{text}");
    }
}

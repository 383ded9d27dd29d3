use std::collections::BTreeMap;
use std::io;

use serde::{Deserialize, Serialize};

use crate::fix::FixEvidence;
use crate::kind::FindingKind;
use crate::location::{Location, SourceTable};
use crate::seen_in::SeenIn;
use crate::Timestamp;

/// Ordered: `Info < Warning < Error`, so `--fail-on warning` fails on warnings and errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn id(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
    pub fn from_id(id: &str) -> Option<Severity> {
        [Severity::Info, Severity::Warning, Severity::Error]
            .into_iter()
            .find(|s| s.id() == id)
    }
}

/// How a unit of work (a "request") was recognised, best evidence first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// sqlcommenter `traceparent`: one trace id.
    Trace,
    /// sqlcommenter `route`, or `controller` + `action`, on one session.
    Route,
    /// An explicit `BEGIN … COMMIT/ROLLBACK` block on one session.
    Transaction,
    /// Statements on one session with no idle gap longer than the configured one.
    Burst,
}

/// The unit of work a finding happened in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRef {
    pub kind: RequestKind,
    /// Trace id, route, or `session@start` — unique within a run.
    pub id: String,
    pub route: Option<String>,
    pub trace_id: Option<String>,
    pub session: String,
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    /// Statements executed in the request.
    pub statements: u32,
    /// Where the request's first statement is in the input.
    pub location: Location,
}

/// A query shape as reports show it: never raw literals, only the normalised fingerprint
/// text, unless the user asked for parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryRef {
    /// 64-bit fingerprint as 16 lowercase hex digits (stable across runs and machines).
    pub fingerprint: String,
    /// Normalised SQL: literals and parameters replaced by `?`/`$n`, lists collapsed.
    pub normalized: String,
    /// Main table the statement reads or writes, when one can be named.
    pub table: Option<String>,
    /// Where the first statement of this shape in the request is in the input.
    pub location: Location,
    /// Example parameter values; empty unless `--show-params`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub example_params: Vec<String>,
    /// Where in the application's code the statement was issued, as its sqlcommenter tags
    /// said (`source_location`, as Rails writes it, or `code.filepath` + `code.lineno`):
    /// `app/models/post.rb:12` and what the framework appends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_location: Option<String>,
    /// The sqlcommenter tags that name the stack the statement came from, decoded:
    /// `framework` (`django:5.2.19`), `db_framework` (`sqlalchemy:2.0.58`), `db_driver`,
    /// `application`, and any `graphql*` tag; read from the first statement of this shape.
    /// From a trace, also [`RESOLVER_SPAN_TAG`]: the GraphQL resolver span the shape first
    /// ran under (`Context::resolver`). The fix names an ORM from them before any SQL shape,
    /// and a DataLoader from the GraphQL ones (`Advice::framework_evidence`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stack_tags: BTreeMap<String, String>,
}

/// The stack tag holding the field path of the GraphQL resolver span a statement ran under
/// (`authors.*.books`), named after the span (`graphql.resolve authors.0.books`). Only a
/// trace source's data fills it, never a sqlcommenter tag of that name.
pub const RESOLVER_SPAN_TAG: &str = "graphql.resolve";

/// The stack tag holding the language of the SDK that traced a statement run under a GraphQL
/// resolver span: the resource attribute `telemetry.sdk.language` (`nodejs`, `python`,
/// `ruby`, `java`, `go`, `rust`, `dotnet`, …), which names the DataLoader of that language.
/// Kept only with [`RESOLVER_SPAN_TAG`], and only a trace source's data fills it.
pub const SDK_LANGUAGE_TAG: &str = "telemetry.sdk.language";

/// Whether the parent/child relationship was shown from data or inferred from shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Proof {
    /// Inferred from the statement sequence alone (what logs allow).
    #[default]
    Suspected,
    /// The children's parameter values were among the values the parent returned
    /// (the proxy sees both).
    Proven { matched: u32 },
}

/// One problem, with the evidence a reader needs to act on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub severity: Severity,
    /// Stable key for de-duplication across requests and runs: same kind, same parent
    /// fingerprint, same child fingerprints → same signature (16 hex digits).
    pub signature: String,
    /// The first request this pattern was seen in.
    pub request: RequestRef,
    /// The "1": the query whose rows drove the loop, when there was one.
    pub parent: Option<QueryRef>,
    /// The "N": the repeated query (several for `mn_plus_one`).
    pub children: Vec<QueryRef>,
    /// How many times the child (or the sequence) ran in the first request.
    pub count: u32,
    /// How many distinct parameter sets the children ran with.
    pub distinct_params: u32,
    /// Total time of the repeated statements in the first request, when durations are known.
    pub total_duration_us: Option<u64>,
    /// How many requests showed this same pattern.
    pub occurrences: u32,
    /// Total repeated statements over all occurrences.
    pub total_count: u64,
    /// The routes of the requests this pattern was seen in (under `querycomb run`, each
    /// test and phase), bounded and independent of the order requests came in.
    #[serde(default, skip_serializing_if = "SeenIn::is_empty")]
    pub seen_in: SeenIn,
    /// The batched SQL that replaces the loop, and a one-line explanation.
    pub suggestion: Option<String>,
    /// A sentence stating the problem in the reader's terms.
    pub message: String,
    #[serde(default)]
    pub proof: Proof,
    /// The statements of the first request on a time axis, for waterfall views (capped by
    /// the detection stage; empty when the source has no timestamps).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waterfall: Vec<WaterfallBar>,
    /// Most children that ran at the same time in the first request, when above 1: a
    /// concurrent fan-out (known from span timings on traces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// The plan check, the fix for the stack and the impact (see `fix.rs`), when computed.
    #[serde(flatten)]
    pub fix: FixEvidence,
}

/// One statement of a request, placed on the request's time axis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaterfallBar {
    /// Start, relative to the request's first statement.
    pub offset_us: i64,
    pub duration_us: Option<u64>,
    /// Fingerprint (16 hex digits) of the statement.
    pub fingerprint: String,
    pub role: BarRole,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BarRole {
    Parent,
    Child,
    Other,
}

/// Per-shape totals over the run, in the spirit of `pg_stat_statements`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FingerprintStat {
    pub fingerprint: String,
    pub normalized: String,
    pub table: Option<String>,
    pub calls: u64,
    /// Sum of durations of the calls whose duration is known.
    pub total_us: u64,
    pub timed_calls: u64,
    pub rows: u64,
    /// Requests it ran in.
    pub requests: u64,
}

/// Statements per request for one route (requests without a route are grouped under `""`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RouteStat {
    pub route: String,
    pub requests: u64,
    pub min: u32,
    pub max: u32,
    pub p50: u32,
    pub p95: u32,
    pub mean: f64,
    /// `(statements per request, requests)` pairs, ascending, for distribution charts.
    pub histogram: Vec<(u32, u64)>,
    /// When the route's requests were seen, when they were timed: the observed traffic
    /// window its request rate is measured over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<RouteWindow>,
}

/// The first request's start and the last request's end of a route, in µs since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteWindow {
    pub start: crate::Timestamp,
    pub end: crate::Timestamp,
}

impl RouteStat {
    /// Requests per second over the observed window; `None` with fewer than two requests
    /// or no window (a rate needs at least two requests apart in time).
    pub fn requests_per_second(&self) -> Option<f64> {
        let window = self.window?;
        let seconds = (window.end - window.start) as f64 / 1e6;
        (self.requests >= 2 && seconds > 0.0).then(|| self.requests as f64 / seconds)
    }
}

/// Totals of one run, handed to [`FindingSink::finish`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub inputs: Vec<String>,
    pub bytes: u64,
    pub records: u64,
    pub statements: u64,
    pub requests: u64,
    /// Records skipped as malformed.
    pub malformed: u64,
    /// Records read with a caveat (an unknown time zone read as UTC): counted apart from
    /// malformed ones, since nothing was lost.
    #[serde(default)]
    pub warnings: u64,
    /// Inputs that ended in damage (a truncated gzip stream, a read error): what broke and
    /// where. The run covers what was read before it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub damaged: Vec<String>,
    pub findings: u64,
    pub findings_by_kind: Vec<(FindingKind, u64)>,
    /// Time spent in repeated child statements over all findings, when durations are known.
    pub wasted_us: u64,
    pub elapsed_ms: u64,
    /// Busiest shapes first; capped by the detection stage.
    #[serde(default)]
    pub fingerprints: Vec<FingerprintStat>,
    #[serde(default)]
    pub routes: Vec<RouteStat>,
    /// Statements sent by drivers and pools on their own (liveness probes, session resets),
    /// left out of detection unless tooling is included.
    #[serde(default)]
    pub housekeeping: u64,
    /// Statements sent by tools (schema introspection, migrations), likewise left out.
    #[serde(default)]
    pub tooling: u64,
}

/// Receives findings, one at a time, in the order they are final.
///
/// Why push: the detection stage streams over inputs far larger than memory, and each
/// finding is final when its pattern has been de-duplicated; a pushed sink can write it at
/// once (the proxy prints findings live) or collect (the HTML report sorts them).
///
/// Contract:
/// - `begin` is called once before anything else, with the table that resolves
///   [`Location::source`] to an input name.
/// - `finding` is called once per de-duplicated finding. `occurrences` and `total_count`
///   are final for batch runs; live sinks (the proxy) may see a signature again with
///   higher counts and must treat it as an update.
/// - `finish` is called once at the end, after every finding. Sinks that buffer write here.
/// - An `Err` stops the run and is reported to the user as an output error.
pub trait FindingSink {
    fn begin(&mut self, sources: &SourceTable) -> io::Result<()>;
    fn finding(&mut self, finding: &Finding) -> io::Result<()>;
    fn finish(&mut self, summary: &RunSummary) -> io::Result<()>;
}

/// A sink that keeps everything it is given: for tests, for in-process callers that want
/// the findings as values, and for steps that need the whole run after the report is
/// written (a baseline comparison, the exit status).
#[derive(Debug, Clone, Default)]
pub struct CollectedFindings {
    pub sources: SourceTable,
    pub findings: Vec<Finding>,
    pub summary: RunSummary,
}

impl FindingSink for CollectedFindings {
    fn begin(&mut self, sources: &SourceTable) -> io::Result<()> {
        self.sources = sources.clone();
        Ok(())
    }
    fn finding(&mut self, finding: &Finding) -> io::Result<()> {
        self.findings.push(finding.clone());
        Ok(())
    }
    fn finish(&mut self, summary: &RunSummary) -> io::Result<()> {
        self.summary = summary.clone();
        Ok(())
    }
}

/// Two sinks fed as one: every call goes to `first`, then to `second`; the first error
/// stops the run.
pub struct Tee<'a> {
    pub first: &'a mut dyn FindingSink,
    pub second: &'a mut dyn FindingSink,
}

impl FindingSink for Tee<'_> {
    fn begin(&mut self, sources: &SourceTable) -> io::Result<()> {
        self.first.begin(sources)?;
        self.second.begin(sources)
    }
    fn finding(&mut self, finding: &Finding) -> io::Result<()> {
        self.first.finding(finding)?;
        self.second.finding(finding)
    }
    fn finish(&mut self, summary: &RunSummary) -> io::Result<()> {
        self.first.finish(summary)?;
        self.second.finish(summary)
    }
}

/// A step between detection and the sinks that amends each finding (lowers a fixture's
/// severity, explains a budget) and passes it on: a sink itself, so steps stack in front
/// of any sink and detection never knows they are there.
pub struct Amend<'a, F: FnMut(&mut Finding)> {
    next: &'a mut dyn FindingSink,
    amend: F,
}

impl<'a, F: FnMut(&mut Finding)> Amend<'a, F> {
    pub fn new(next: &'a mut dyn FindingSink, amend: F) -> Self {
        Amend { next, amend }
    }
}

impl<F: FnMut(&mut Finding)> FindingSink for Amend<'_, F> {
    fn begin(&mut self, sources: &SourceTable) -> io::Result<()> {
        self.next.begin(sources)
    }
    fn finding(&mut self, finding: &Finding) -> io::Result<()> {
        let mut finding = finding.clone();
        (self.amend)(&mut finding);
        self.next.finding(&finding)
    }
    fn finish(&mut self, summary: &RunSummary) -> io::Result<()> {
        self.next.finish(summary)
    }
}

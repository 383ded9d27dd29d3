//! `querycomb explain FINDINGS.json` and `--dsn` on `analyze`/`run`: the plan check, the fix
//! for the stack and the impact of each finding (crate `querycomb-explain`; docs/explain.md).

use std::fs;
use std::io;

use querycomb_core::{Finding, FindingSink, RunSummary, SourceTable};
use querycomb_explain::{Options, Tally, DEFAULT_POOL_SIZE};
use querycomb_report::json::{parse_document, parse_line, Line};

use crate::args::{ExplainArgs, Format, ProveArgs};
use crate::config::FileConfig;
use crate::outcome::{CliError, Outcome};
use crate::report::{self, ReportSettings, StageError};

/// The proof settings after merging flags, `[explain]` and defaults.
#[derive(Debug, Clone)]
pub struct ProveSettings {
    pub dsn: Option<String>,
    pub keep_keys: bool,
    pub pool_size: u32,
    pub options: Options,
}

impl ProveSettings {
    pub fn resolve(args: &ProveArgs, file: &FileConfig) -> ProveSettings {
        let f = &file.explain;
        let defaults = Options::default();
        ProveSettings {
            dsn: args.dsn.clone().or_else(|| f.dsn.clone()),
            keep_keys: args.keep_keys || f.keep_keys.unwrap_or(false),
            pool_size: args
                .pool_size
                .or(f.pool_size)
                .unwrap_or(DEFAULT_POOL_SIZE)
                .max(1),
            options: Options {
                analyze: args.explain_analyze || f.explain_analyze.unwrap_or(false),
                statement_timeout_ms: f
                    .statement_timeout_ms
                    .unwrap_or(defaults.statement_timeout_ms),
                lock_timeout_ms: f.lock_timeout_ms.unwrap_or(defaults.lock_timeout_ms),
                small_table_pages: f.small_table_pages.unwrap_or(defaults.small_table_pages),
            },
        }
    }

    /// The detection stage keeps the loops' values only for a plan check or `--keep-keys`.
    pub fn capture_keys(&self) -> bool {
        self.dsn.is_some() || self.keep_keys
    }

    /// Keys are raw data: only the JSON findings may carry them, and only when asked.
    pub fn check(&self, report: &ReportSettings) -> Result<(), CliError> {
        if self.keep_keys && report.format != Format::Json {
            return Err(CliError::Usage(
                "--keep-keys writes the captured values into JSON findings only: add --format json"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// Proves the fixes in place (after `analyze` or `run` found them).
pub fn prove(
    findings: &mut [Finding],
    summary: &RunSummary,
    settings: &ProveSettings,
) -> Result<(), CliError> {
    let tally = querycomb_explain::prove(
        findings,
        settings.dsn.as_deref(),
        &settings.options,
        settings.pool_size,
        settings.keep_keys,
    )
    .map_err(|e| CliError::Input(format!("plan check: {e}")))?;
    if let Some(tally) = tally {
        eprintln!("querycomb: plan check: {}", describe(&tally));
    }
    querycomb_explain::apply_route_rates(findings, &summary.routes);
    for route in querycomb_explain::per_route(findings) {
        let name = if route.route.is_empty() {
            "requests without a route"
        } else {
            &route.route
        };
        let time = route.db_time_saved_us.map_or(
            " (database time not measured: a finding without durations)".to_owned(),
            |us| format!(", {:.1} ms of database time", us as f64 / 1000.0),
        );
        let findings = match route.findings {
            1 => "the finding".to_owned(),
            n => format!("the {n} findings"),
        };
        eprintln!(
            "querycomb: fixing {findings} of {name} saves {} statements and round trips{time} over the run",
            route.statements_saved
        );
    }
    Ok(())
}

/// `--dsn`/`--keep-keys` as a step in front of the report sink: the plan check needs every
/// finding at once (it shares one pool of connections and sums the impact per route), so
/// it holds the findings until `finish`, proves them, then passes them on.
pub struct Prove<'a> {
    settings: &'a ProveSettings,
    next: &'a mut dyn FindingSink,
    held: Vec<Finding>,
}

impl<'a> Prove<'a> {
    pub fn new(settings: &'a ProveSettings, next: &'a mut dyn FindingSink) -> Self {
        Prove {
            settings,
            next,
            held: Vec::new(),
        }
    }

    /// Whether the settings ask for anything: without them the step is left out.
    pub fn wanted(settings: &ProveSettings) -> bool {
        settings.dsn.is_some() || settings.keep_keys
    }
}

impl FindingSink for Prove<'_> {
    fn begin(&mut self, sources: &SourceTable) -> io::Result<()> {
        self.next.begin(sources)
    }
    fn finding(&mut self, finding: &Finding) -> io::Result<()> {
        self.held.push(finding.clone());
        Ok(())
    }
    fn finish(&mut self, summary: &RunSummary) -> io::Result<()> {
        prove(&mut self.held, summary, self.settings).map_err(StageError::wrap)?;
        for finding in &self.held {
            self.next.finding(finding)?;
        }
        self.next.finish(summary)
    }
}

/// Feeds `sink` through the [`Prove`] step when the settings ask for it.
pub fn through_prove(
    settings: &ProveSettings,
    sink: &mut dyn FindingSink,
    feed: impl FnOnce(&mut dyn FindingSink) -> io::Result<()>,
) -> io::Result<()> {
    if Prove::wanted(settings) {
        feed(&mut Prove::new(settings, sink))
    } else {
        feed(sink)
    }
}

fn describe(t: &Tally) -> String {
    format!(
        "{} findings checked: {} safe, {} plan_changes, {} needs_index, {} skipped",
        t.checked, t.safe, t.plan_changes, t.needs_index, t.skipped
    )
}

pub fn run(args: ExplainArgs, file: FileConfig, color: bool) -> Result<Outcome, CliError> {
    let settings = ReportSettings::resolve(&args.report, &file, color);
    let prove_settings = ProveSettings::resolve(&args.prove, &file);
    prove_settings.check(&settings)?;
    let (sources, findings, summary) = read_findings(&args.input)?;
    if prove_settings.dsn.is_none() {
        eprintln!(
            "querycomb: no --dsn: the fix and impact only, no plan check (see docs/explain.md)"
        );
    } else if findings.iter().all(|f| f.fix.captured_keys.is_empty()) {
        eprintln!(
            "querycomb: {} holds no captured keys (written by --keep-keys): explaining with generic plans",
            args.input.display()
        );
    }
    report::deliver(&settings, |sink| {
        let mut prove = Prove::new(&prove_settings, sink);
        report::replay(&mut prove, &sources, &findings, &summary)
    })
}

/// A JSON document, or JSON lines where a later line of a signature replaces the earlier.
fn read_findings(
    path: &std::path::Path,
) -> Result<(SourceTable, Vec<Finding>, RunSummary), CliError> {
    let name = path.display();
    let text = fs::read_to_string(path)
        .map_err(|e| CliError::Input(format!("cannot read {name}: {e}")))?;
    let mut sources = SourceTable::default();
    if let Ok(document) = parse_document(&text) {
        for source in &document.sources {
            sources.add(source.clone());
        }
        return Ok((sources, document.findings, document.summary));
    }
    let mut findings: Vec<Finding> = Vec::new();
    let mut summary = RunSummary::default();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed =
            parse_line(line).map_err(|e| CliError::Input(format!("{name}:{}: {e}", number + 1)))?;
        match parsed {
            Line::Sources(names) => names.into_iter().for_each(|n| {
                sources.add(n);
            }),
            Line::Finding(finding) => {
                match findings
                    .iter_mut()
                    .find(|f| f.signature == finding.signature)
                {
                    Some(earlier) => *earlier = *finding,
                    None => findings.push(*finding),
                }
            }
            Line::Summary(s) => summary = *s,
        }
    }
    if findings.is_empty() && summary == RunSummary::default() {
        return Err(CliError::Input(format!(
            "{name}: not a querycomb findings document or JSON lines"
        )));
    }
    Ok((sources, findings, summary))
}

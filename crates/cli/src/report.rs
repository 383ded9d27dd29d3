//! Choosing and driving the report sink, and the exit status that follows from the findings.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use querycomb_core::{Finding, FindingSink, RunSummary, Severity, SourceTable};
use querycomb_report::causes::RouteNames;
use querycomb_report::html::{HtmlOptions, HtmlSink};
use querycomb_report::json::JsonSink;
use querycomb_report::junit::JunitSink;
use querycomb_report::sarif::SarifSink;
use querycomb_report::terminal::{TerminalOptions, TerminalSink};

use crate::args::{FailOn, Format, ReportArgs};
use crate::config::FileConfig;
use crate::outcome::{CliError, Outcome};

/// The report options after merging flags, `querycomb.toml` and defaults.
#[derive(Debug, Clone)]
pub struct ReportSettings {
    pub format: Format,
    pub output: Option<PathBuf>,
    pub fail_on: FailOn,
    pub show_params: bool,
    pub color: bool,
    /// What the findings' routes name (`querycomb run`: the tests that ran them).
    pub routes: RouteNames,
}

impl ReportSettings {
    pub fn resolve(args: &ReportArgs, file: &FileConfig, color: bool) -> ReportSettings {
        let output = args.output.clone().or_else(|| file.report.output.clone());
        ReportSettings {
            format: args
                .format
                .or(file.report.format)
                .unwrap_or(Format::Terminal),
            // Colour codes belong on a terminal, never in a file.
            color: color && output.is_none(),
            output,
            fail_on: args
                .fail_on
                .or(file.report.fail_on)
                .unwrap_or(FailOn::Warning),
            show_params: args.show_params || file.report.show_params.unwrap_or(false),
            routes: RouteNames::Routes,
        }
    }

    /// The detection settings: `[detect]` from the file, overridden by flags.
    pub fn detect_config(&self, file: &FileConfig, args: &ReportArgs) -> querycomb_detect::Config {
        let mut config = file.detect.clone();
        if let Some(threshold) = args.threshold {
            config.thresholds.n_plus_one = threshold;
            config.thresholds.repeated_identical = threshold;
        }
        if let Some(gap) = args.idle_gap_ms {
            config.idle_gap_ms = gap;
        }
        config.show_params |= self.show_params;
        config.include_tooling |= args.include_tooling;
        config
    }

    /// The severity at which findings fail the run, if any.
    pub fn fail_severity(&self) -> Option<Severity> {
        match self.fail_on {
            FailOn::Info => Some(Severity::Info),
            FailOn::Warning => Some(Severity::Warning),
            FailOn::Error => Some(Severity::Error),
            FailOn::Never => None,
        }
    }
}

/// The one path from detection to the user: opens the report's output, stacks the
/// exit-status tally in front of the sink, and lets `feed` push the run into it (detection's
/// `Pipeline::finish_into`, through any amending steps the command adds).
pub fn deliver(
    settings: &ReportSettings,
    feed: impl FnOnce(&mut dyn FindingSink) -> io::Result<()>,
) -> Result<Outcome, CliError> {
    let out = open_output(settings.output.as_ref()).map_err(|e| output_error(settings, e))?;
    deliver_to(settings, make_sink(settings, out), feed)
}

/// [`deliver`] into a sink the command built itself (JUnit with `run`'s budget notes).
pub fn deliver_to(
    settings: &ReportSettings,
    mut sink: Box<dyn FindingSink>,
    feed: impl FnOnce(&mut dyn FindingSink) -> io::Result<()>,
) -> Result<Outcome, CliError> {
    let mut tally = SeverityTally::new(sink.as_mut(), settings.fail_severity());
    match feed(&mut tally) {
        // A reader that stopped early (`| head`) is not an error of ours.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Err(e) => return Err(stage_error(e).unwrap_or_else(|e| output_error(settings, e))),
        Ok(()) => {}
    }
    Ok(tally.outcome())
}

/// Findings that already exist as values (read back from JSON, or handed over by the
/// proxy at the end of its run) through the same path.
pub fn write(
    settings: &ReportSettings,
    sources: &SourceTable,
    findings: &[Finding],
    summary: &RunSummary,
) -> Result<Outcome, CliError> {
    deliver(settings, |sink| replay(sink, sources, findings, summary))
}

/// Pushes findings that exist as values through `sink`, as detection would have.
pub fn replay(
    sink: &mut dyn FindingSink,
    sources: &SourceTable,
    findings: &[Finding],
    summary: &RunSummary,
) -> io::Result<()> {
    sink.begin(sources)?;
    for finding in findings {
        sink.finding(finding)?;
    }
    sink.finish(summary)
}

/// An error a step before the sink raised (a plan check that could not connect), carried
/// through the sink's `io::Result` so it is reported as what it is, not as a write error.
#[derive(Debug)]
pub struct StageError(pub CliError);

impl std::fmt::Display for StageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for StageError {}

impl StageError {
    pub fn wrap(error: CliError) -> io::Error {
        io::Error::other(StageError(error))
    }
}

fn stage_error(error: io::Error) -> Result<CliError, io::Error> {
    if !error.get_ref().is_some_and(|e| e.is::<StageError>()) {
        return Err(error);
    }
    match error.into_inner().map(|e| e.downcast::<StageError>()) {
        Some(Ok(stage)) => Ok(stage.0),
        _ => Err(io::Error::other("a step before the report failed")),
    }
}

pub fn output_error(settings: &ReportSettings, e: io::Error) -> CliError {
    match &settings.output {
        Some(path) => CliError::Output(format!("cannot write {}: {e}", path.display())),
        None => CliError::Output(format!("cannot write the report: {e}")),
    }
}

/// Passes everything on and remembers whether any finding reached the fail-on severity.
pub struct SeverityTally<'a> {
    next: &'a mut dyn FindingSink,
    fail_on: Option<Severity>,
    failed: bool,
}

impl<'a> SeverityTally<'a> {
    pub fn new(next: &'a mut dyn FindingSink, fail_on: Option<Severity>) -> Self {
        SeverityTally {
            next,
            fail_on,
            failed: false,
        }
    }

    pub fn outcome(&self) -> Outcome {
        if self.failed {
            Outcome::Findings
        } else {
            Outcome::Clean
        }
    }
}

impl FindingSink for SeverityTally<'_> {
    fn begin(&mut self, sources: &SourceTable) -> io::Result<()> {
        self.next.begin(sources)
    }
    fn finding(&mut self, finding: &Finding) -> io::Result<()> {
        self.failed |= self.fail_on.is_some_and(|level| finding.severity >= level);
        self.next.finding(finding)
    }
    fn finish(&mut self, summary: &RunSummary) -> io::Result<()> {
        self.next.finish(summary)
    }
}

pub fn open_output(path: Option<&PathBuf>) -> io::Result<Box<dyn Write>> {
    Ok(match path {
        Some(path) => Box::new(BufWriter::new(File::create(path)?)),
        None => Box::new(BufWriter::new(io::stdout().lock())),
    })
}

pub fn make_sink(settings: &ReportSettings, out: Box<dyn Write>) -> Box<dyn FindingSink> {
    match settings.format {
        Format::Terminal => Box::new(TerminalSink::new(
            out,
            TerminalOptions {
                color: settings.color,
                show_params: settings.show_params,
                width: terminal_width(),
                routes: settings.routes,
            },
        )),
        Format::Json => Box::new(JsonSink::new(out)),
        Format::Junit => Box::new(JunitSink::new(
            out,
            settings.fail_severity().unwrap_or(Severity::Error),
        )),
        Format::Sarif => Box::new(SarifSink::new(out)),
        Format::Html => Box::new(HtmlSink::with_options(out, HtmlOptions::default())),
    }
}

/// The width of the terminal the report is printed on; `$COLUMNS` when stdout is not a
/// terminal but the shell exports it (a pager); else a width that reads well in most terminals.
fn terminal_width() -> usize {
    if let Some((terminal_size::Width(columns), _)) = terminal_size::terminal_size() {
        return usize::from(columns).max(40);
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100)
}

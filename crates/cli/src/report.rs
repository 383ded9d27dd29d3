//! Choosing and driving the report sink, and the exit status that follows from the findings.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use querycomb_core::{Finding, FindingSink, RunSummary, Severity, SourceTable};
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

/// Writes the report and decides the outcome.
pub fn write(
    settings: &ReportSettings,
    sources: &SourceTable,
    findings: &[Finding],
    summary: &RunSummary,
) -> Result<Outcome, CliError> {
    let describe = |e: io::Error| match &settings.output {
        Some(path) => CliError::Output(format!("cannot write {}: {e}", path.display())),
        None => CliError::Output(format!("cannot write the report: {e}")),
    };
    let out = open_output(settings.output.as_ref()).map_err(describe)?;
    let mut sink = make_sink(settings, out);
    match drive(sink.as_mut(), sources, findings, summary) {
        // A reader that stopped early (`| head`) is not an error of ours.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        result => result.map_err(describe)?,
    }
    Ok(outcome(findings, settings.fail_severity()))
}

fn open_output(path: Option<&PathBuf>) -> io::Result<Box<dyn Write>> {
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

fn drive(
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

/// `Findings` when any finding reaches the fail-on severity.
pub fn outcome(findings: &[Finding], fail_on: Option<Severity>) -> Outcome {
    match fail_on {
        Some(level) if findings.iter().any(|f| f.severity >= level) => Outcome::Findings,
        _ => Outcome::Clean,
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

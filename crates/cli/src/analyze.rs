//! `querycomb analyze`: log files → query events → findings → report.

use std::io::{self, Write};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use querycomb_core::{EventSink, InputError, QueryEvent, SourceTable, Timestamp};
use querycomb_detect::gaps::clock_tick;
use querycomb_detect::Pipeline;
use querycomb_logs::{LogFormat, ReadOptions};
use querycomb_sql::Dialect;

use crate::args::{AnalyzeArgs, DialectArg, LogFormatArg};
use crate::config::FileConfig;
use crate::explain::{self, ProveSettings};
use crate::input::{self, Input};
use crate::outcome::{CliError, Outcome};
use crate::progress::Progress;
use crate::report::{self, ReportSettings};

/// Malformed records printed in full per input; the rest are only counted.
const SHOWN_MALFORMED: u64 = 10;

pub fn run(args: AnalyzeArgs, file: FileConfig, color: bool) -> Result<Outcome, CliError> {
    let started = Instant::now();
    let settings = ReportSettings::resolve(&args.report, &file, color);
    let prove = ProveSettings::resolve(&args.prove, &file);
    prove.check(&settings)?;
    let mut detect = settings.detect_config(&file, &args.report);
    detect.capture_keys = prove.capture_keys();
    let forced_format = args.log_format.or(file.analyze.log_format).map(log_format);
    let options = ReadOptions {
        log_line_prefix: args
            .log_line_prefix
            .clone()
            .or(file.analyze.log_line_prefix.clone()),
    };
    let consumed = Arc::new(AtomicU64::new(0));
    let inputs = args
        .inputs
        .iter()
        .map(|path| input::open(path, consumed.clone()).map_err(CliError::Input))
        .collect::<Result<Vec<_>, _>>()?;
    let formats: Vec<Option<InputFormat>> = inputs
        .iter()
        .map(|input| match forced_format {
            Some(format) => Some(InputFormat::Log(format)),
            None => querycomb_traces::sniff(&input.head)
                .map(InputFormat::Trace)
                .or_else(|| querycomb_logs::sniff(&input.head).map(InputFormat::Log)),
        })
        .collect();
    let dialect = args
        .dialect
        .or(file.analyze.dialect)
        .map(dialect)
        .unwrap_or_else(|| dialect_of(formats.iter().flatten().next().copied()));

    let quiet = args.quiet || file.analyze.quiet.unwrap_or(false);
    let total = inputs.iter().map(|i| i.size).sum::<Option<u64>>();

    let progress = Progress::start(!quiet, consumed, total);
    let mut sink = Reporting {
        pipeline: Pipeline::new(detect, dialect),
        sources: SourceTable::default(),
        shown: 0,
        malformed: 0,
        warnings: 0,
        clock_tick: None,
    };
    let (mut bytes, mut events) = (0, 0);
    let mut damaged = Vec::new();
    for (input, format) in inputs.into_iter().zip(formats) {
        let (name, damage, when_empty) =
            (input.name.clone(), input.damage.clone(), input.when_empty);
        sink.clock_tick = None;
        let (read, seen) = read_one(input, format, &options, &mut sink)?;
        bytes += read;
        events += seen;
        if let Some(why) = when_empty.filter(|_| seen == 0) {
            eprintln!("querycomb: {name}: warning: {why}");
        }
        if sink.clock_tick.is_some_and(|tick| tick >= 1_000_000) {
            eprintln!(
                "querycomb: {name}: warning: this log's clock has whole seconds, so pauses \
                 between statements cannot be seen: requests without sqlcommenter tags that \
                 share a connection or a pool are told apart only by transactions, pool \
                 resets and probes. MySQL and MariaDB keep microseconds in their log tables \
                 (log_output = TABLE; see the README)"
            );
        }
        if let Some(what) = damage.get() {
            eprintln!(
                "querycomb: {name}: warning: damaged input: {what}; the report covers the \
                 {read} bytes read before it"
            );
            damaged.push(format!("{name}: {what}"));
        }
    }
    progress.finish();
    if events == 0 && sink.malformed > 0 {
        return Err(CliError::Input(format!(
            "no statements recognised: {} records could not be read as a PostgreSQL or MySQL \
             log (use --log-format, or --log-line-prefix for PostgreSQL stderr logs)",
            sink.malformed
        )));
    }
    let Reporting {
        pipeline,
        sources,
        malformed,
        warnings,
        ..
    } = sink;
    let any_damage = !damaged.is_empty();
    let complete = |summary: &mut querycomb_core::RunSummary| {
        summary.inputs = sources.names().to_vec();
        summary.bytes = bytes;
        summary.malformed = malformed;
        summary.warnings = warnings;
        summary.elapsed_ms = started.elapsed().as_millis() as u64;
        summary.damaged = damaged;
    };
    let outcome = report::deliver(&settings, |sink| {
        explain::through_prove(&prove, sink, |sink| {
            pipeline.finish_into(&sources, sink, complete)
        })
    })?;
    // A report of part of the input must not pass for a report of all of it.
    Ok(if any_damage {
        Outcome::Damaged
    } else {
        outcome
    })
}

/// Reads one input into the sink; returns (bytes, events).
fn read_one(
    mut input: Input,
    format: Option<InputFormat>,
    options: &ReadOptions,
    sink: &mut Reporting,
) -> Result<(u64, u64), CliError> {
    let source = sink.sources.add(input.name.clone());
    sink.shown = 0;
    if input.head.is_empty() {
        eprintln!("querycomb: {}: empty input, nothing to analyse", input.name);
        return Ok((0, 0));
    }
    let format = format.ok_or_else(|| {
        CliError::Input(format!(
            "{}: not a recognised PostgreSQL (stderr, csvlog, jsonlog) or MySQL/MariaDB \
             (general, slow) log, nor an OpenTelemetry trace file (OTLP/JSON, OTLP \
             protobuf); pass --log-format to say which log it is",
            input.name
        ))
    })?;
    let read_error = |e: io::Error| CliError::Input(format!("{}: read error: {e}", input.name));
    let (bytes, events, malformed) = match format {
        InputFormat::Log(format) => {
            let stats = querycomb_logs::read_log(format, &mut input.reader, source, options, sink)
                .map_err(read_error)?;
            (stats.bytes, stats.events, stats.malformed)
        }
        InputFormat::Trace(format) => {
            let limits = querycomb_traces::AssemblyLimits::FILE;
            let stats =
                querycomb_traces::read_traces(format, &mut input.reader, source, limits, sink)
                    .map_err(read_error)?;
            let assembly = stats.assembly;
            (stats.bytes, assembly.events, assembly.malformed)
        }
    };
    let stats = querycomb_logs::ReadStats {
        bytes,
        events,
        malformed,
        ..Default::default()
    };
    let hidden = stats.malformed.saturating_sub(sink.shown);
    if hidden > 0 {
        eprintln!(
            "querycomb: {}: {hidden} more malformed records skipped",
            input.name
        );
    }
    Ok((stats.bytes, stats.events))
}

impl Reporting {
    /// `querycomb: FILE:LINE: byte N: WHAT: message` on stderr.
    fn say(&self, what: &str, problem: &InputError) {
        let name = self.sources.name(problem.location.source);
        let _ = writeln!(
            io::stderr(),
            "querycomb: {name}:{}: byte {}: {what}: {}",
            problem.location.line,
            problem.location.byte,
            problem.message
        );
    }
}

/// Passes events to the detection pipeline and reports malformed records with their place.
struct Reporting {
    pipeline: Pipeline,
    sources: SourceTable,
    shown: u64,
    malformed: u64,
    warnings: u64,
    /// The current input's clock resolution so far (`clock_tick`): a log with whole seconds
    /// hides the pauses untagged grouping reads.
    clock_tick: Option<i64>,
}

impl EventSink for Reporting {
    fn event(&mut self, event: &QueryEvent<'_>) {
        if let Some(time) = event.time {
            self.clock_tick = Some(clock_tick(time, self.clock_tick));
        }
        self.pipeline.event(event);
    }

    fn malformed(&mut self, error: InputError) {
        self.malformed += 1;
        if self.shown < SHOWN_MALFORMED {
            self.shown += 1;
            self.say("skipped", &error);
        }
        self.pipeline.malformed(error);
    }

    fn warning(&mut self, warning: InputError) {
        self.warnings += 1;
        self.say("warning", &warning);
    }

    fn tick(&mut self, now: Timestamp) {
        self.pipeline.tick(now);
    }

    fn trace_complete(&mut self, trace_id: &str) {
        self.pipeline.trace_complete(trace_id);
    }
}

fn log_format(arg: LogFormatArg) -> LogFormat {
    match arg {
        LogFormatArg::PgStderr => LogFormat::PgStderr,
        LogFormatArg::PgCsv => LogFormat::PgCsv,
        LogFormatArg::PgJson => LogFormat::PgJson,
        LogFormatArg::MysqlGeneral => LogFormat::MySqlGeneral,
        LogFormatArg::MysqlSlow => LogFormat::MySqlSlow,
        LogFormatArg::MysqlGeneralTable => LogFormat::MySqlGeneralTable,
        LogFormatArg::MysqlSlowTable => LogFormat::MySqlSlowTable,
    }
}

fn dialect(arg: DialectArg) -> Dialect {
    match arg {
        DialectArg::Postgres => Dialect::Postgres,
        DialectArg::Mysql => Dialect::MySql,
    }
}

/// What an input holds: a database log or a trace file.
#[derive(Debug, Clone, Copy)]
enum InputFormat {
    Log(LogFormat),
    Trace(querycomb_traces::TraceFormat),
}

fn dialect_of(format: Option<InputFormat>) -> Dialect {
    match format {
        Some(InputFormat::Log(format)) if !format.is_postgres() => Dialect::MySql,
        _ => Dialect::Postgres,
    }
}

//! The command line, as clap derive types. Every option that changes behaviour is
//! `Option<_>` here so that an unset flag falls back to `querycomb.toml`, then to the default
//! (see `config.rs`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "querycomb",
    version,
    about = "Finds N+1 queries and other query waste in any stack, from database logs or a PostgreSQL proxy.",
    after_help = "Exit codes: 0 no findings at or above --fail-on, 1 findings at or above it, 2 usage or input error."
)]
pub struct Cli {
    /// Configuration file (default: ./querycomb.toml when it exists).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// When to colour terminal output. NO_COLOR in the environment means never.
    #[arg(long, global = true, value_enum)]
    pub color: Option<ColorChoice>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Find N+1 patterns in PostgreSQL or MySQL/MariaDB server logs.
    Analyze(AnalyzeArgs),
    /// Run a transparent PostgreSQL proxy that reports N+1 patterns live.
    Proxy(Box<ProxyArgs>),
    /// Run a command (a test suite) through the proxy; check N+1s and query budgets.
    Run(RunArgs),
    /// Receive OpenTelemetry traces (OTLP/gRPC and OTLP/HTTP) and report N+1 patterns live.
    Collect(CollectArgs),
    /// Compare two JSON reports (`--format json`); exit 1 when the second regressed.
    Diff(DiffArgs),
    /// Merge the JSON reports of runs over disjoint parts of the traffic (collect instances
    /// routed by trace id) into one report.
    Merge(MergeArgs),
    /// Prove the fixes of a findings JSON: plan check against the database (`--dsn`), the
    /// fix for the stack, the impact.
    Explain(ExplainArgs),
    /// Compare two JSON reports of the same tests at two data scales; exit 1 when a route's
    /// statement count grew with the data.
    Scale(ScaleArgs),
}

/// Proving the fix: `explain`, and inline on `analyze` and `run` (see docs/explain.md).
#[derive(Debug, Args, Default, Clone)]
pub struct ProveArgs {
    /// Database to check each loop's batched rewrite against (`postgres://user:pw@host/db`,
    /// or `mysql://` for MySQL/MariaDB).
    /// Only EXPLAIN, in a read-only transaction with timeouts, always rolled back. Also from
    /// QUERYCOMB_DSN, which keeps the password off the command line.
    #[arg(
        long,
        value_name = "URL",
        env = "QUERYCOMB_DSN",
        hide_env_values = true
    )]
    pub dsn: Option<String>,

    /// Also EXPLAIN (ANALYZE, BUFFERS): runs the child and the batch (read-only) to measure.
    #[arg(long)]
    pub explain_analyze: bool,

    /// Write the values each loop's child ran with into the JSON findings (`captured_keys`)
    /// for a later `querycomb explain`. They are raw application data: off by default.
    #[arg(long)]
    pub keep_keys: bool,

    /// Connections in the application's pool, for the impact arithmetic (default 10).
    #[arg(long, value_name = "N")]
    pub pool_size: Option<u32>,
}

/// `--dsn`, `--explain-analyze` and `--keep-keys` for `proxy`, whose `--pool-size` (an
/// operations setting there) also serves the impact arithmetic.
#[derive(Debug, Args, Default, Clone)]
pub struct ProxyProveArgs {
    /// Database to check each loop's batched rewrite against, at shutdown (see `analyze`).
    #[arg(
        long,
        value_name = "URL",
        env = "QUERYCOMB_DSN",
        hide_env_values = true
    )]
    pub dsn: Option<String>,

    /// Also EXPLAIN (ANALYZE, BUFFERS), read-only.
    #[arg(long)]
    pub explain_analyze: bool,

    /// Write captured values into the JSON findings (`captured_keys`).
    #[arg(long)]
    pub keep_keys: bool,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A findings JSON (`--format json`) or JSON lines (`proxy --findings-out`).
    #[arg(value_name = "FINDINGS")]
    pub input: PathBuf,

    #[command(flatten)]
    pub prove: ProveArgs,

    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// The JSON report (`--format json`) of the run at the smaller scale.
    pub smaller: PathBuf,
    /// The JSON report of the same tests at the larger scale.
    pub larger: PathBuf,
    /// Output format.
    #[arg(long, short = 'f', value_enum)]
    pub format: Option<DiffFormat>,
    /// Write the result to this file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Options shared by every command that reports findings.
#[derive(Debug, Args, Default)]
pub struct ReportArgs {
    /// Output format.
    #[arg(long, short = 'f', value_enum)]
    pub format: Option<Format>,

    /// Write the report to this file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Exit with status 1 when a finding of at least this severity is found.
    #[arg(long, value_enum)]
    pub fail_on: Option<FailOn>,

    /// Show example bind-parameter values in findings (off by default: they may hold
    /// personal data or secrets).
    #[arg(long)]
    pub show_params: bool,

    /// Minimum repetitions of one child query in a request to report an N+1.
    #[arg(long, value_name = "N")]
    pub threshold: Option<u32>,

    /// Idle time on a connection that ends a request when the SQL carries no request tags.
    #[arg(long, value_name = "MILLISECONDS")]
    pub idle_gap_ms: Option<u64>,

    /// Analyse driver housekeeping (pool resets, liveness probes) and tooling (catalog
    /// introspection, migrations) like application statements; by default they are only
    /// counted (`[detect] include_tooling` in querycomb.toml).
    #[arg(long)]
    pub include_tooling: bool,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Log files to read (`-` for standard input). Gzip files are read directly. A MySQL or
    /// MariaDB log table is read from the server with
    /// `mysql://user:password@host/mysql.general_log` (or `/mysql.slow_log`), read-only.
    #[arg(value_name = "LOG", required = true)]
    pub inputs: Vec<PathBuf>,

    /// Log format; detected from the first lines when not given.
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormatArg>,

    /// SQL dialect for fingerprinting; follows the log format when not given.
    #[arg(long, value_enum)]
    pub dialect: Option<DialectArg>,

    /// PostgreSQL `log_line_prefix` the stderr log was written with (detected when not given).
    #[arg(long, value_name = "PREFIX")]
    pub log_line_prefix: Option<String>,

    /// Do not show progress on standard error.
    #[arg(long, short = 'q')]
    pub quiet: bool,

    #[command(flatten)]
    pub report: ReportArgs,

    #[command(flatten)]
    pub prove: ProveArgs,
}

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Address to accept client connections on.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,

    /// PostgreSQL server to forward to.
    #[arg(long, value_name = "ADDR")]
    pub upstream: Option<String>,

    /// Serve Prometheus metrics on this address (GET /metrics).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,

    /// Append findings as JSON lines to this file as they are found.
    #[arg(long, value_name = "FILE")]
    pub findings_out: Option<PathBuf>,

    #[command(flatten)]
    pub tls: crate::proxy::TlsArgs,

    #[command(flatten)]
    pub enforce: crate::proxy::EnforceArgs,

    #[command(flatten)]
    pub ops: crate::proxy::OpsArgs,

    #[command(flatten)]
    pub prove: ProxyProveArgs,

    #[command(flatten)]
    pub report: ReportArgs,
}

/// `querycomb collect`: see `collect.rs` and docs/traces.md.
#[derive(Debug, Args)]
pub struct CollectArgs {
    /// Address for OTLP/gRPC (`TraceService/Export`) [default: 127.0.0.1:4317].
    #[arg(long, value_name = "ADDR")]
    pub grpc: Option<String>,

    /// Address for OTLP/HTTP (`POST /v1/traces`, protobuf or JSON) and `GET /metrics`
    /// [default: 127.0.0.1:4318].
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,

    /// Append findings as JSON lines to this file as they are found.
    #[arg(long, value_name = "FILE")]
    pub findings_out: Option<PathBuf>,

    /// Largest request body accepted, after decompression [default: 16777216].
    #[arg(long, value_name = "BYTES")]
    pub max_request_bytes: Option<usize>,

    /// Requests waiting for the detection thread before new ones are refused with HTTP 429
    /// / gRPC RESOURCE_EXHAUSTED [default: 256].
    #[arg(long, value_name = "REQUESTS")]
    pub queue: Option<usize>,

    /// A trace is complete when no span of it arrived for this long [default: 10000].
    #[arg(long, value_name = "MILLISECONDS")]
    pub trace_window_ms: Option<u64>,

    #[command(flatten)]
    pub report: ReportArgs,

    /// `--dsn` and friends: the plan check of the final report (see docs/explain.md).
    #[command(flatten)]
    pub prove: ProveArgs,
}

/// `querycomb run`: see `run.rs` and docs/ci.md.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: the command's own when it failed; else 1 when a finding reached --fail-on, a request went over budget or the run regressed against --baseline; 2 when querycomb could not run. See docs/ci.md."
)]
pub struct RunArgs {
    /// Query budgets file (`[budgets]` tables); default: the `[budgets]` of querycomb.toml.
    #[arg(long, value_name = "FILE")]
    pub budgets: Option<PathBuf>,

    /// A budget route pattern that matched no request fails the run (else a warning).
    #[arg(long)]
    pub strict_budgets: bool,

    /// JSON report of an earlier run (`--format json`) to compare this run with.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,

    /// PostgreSQL server the tests use, `host:port` (default: from DATABASE_URL, else
    /// PGHOST/PGPORT, else 127.0.0.1:5432).
    #[arg(long, value_name = "ADDR")]
    pub upstream: Option<String>,

    /// Another environment variable holding a postgres:// URL to point at the proxy
    /// (DATABASE_URL always is). Repeatable.
    #[arg(long = "env-var", value_name = "NAME")]
    pub env_vars: Vec<String>,

    /// Log the proxy's per-connection messages on stderr.
    #[arg(long)]
    pub verbose: bool,

    /// Do not load querycomb's test-runner hooks (pytest plugin, node:test preload) into
    /// the command: statements are then grouped by transaction and idle gap, not by test.
    #[arg(long)]
    pub no_test_hooks: bool,

    /// Report findings in tests' setup and teardown phases at their own severity, not at
    /// `info` in the fixtures section.
    #[arg(long)]
    pub include_fixtures: bool,
    /// Run the command once per scale, with QUERYCOMB_SCALE set to it (the tests' fixtures
    /// read it), and fail every route whose statement count grows with the scale.
    #[arg(long, value_name = "SMALL,LARGE", value_delimiter = ',', num_args = 1)]
    pub scale: Vec<u32>,

    #[command(flatten)]
    pub report: ReportArgs,

    #[command(flatten)]
    pub prove: ProveArgs,

    /// The command to run, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The earlier run's JSON report.
    pub before: PathBuf,
    /// The later run's JSON report.
    pub after: PathBuf,
    /// Output format.
    #[arg(long, short = 'f', value_enum)]
    pub format: Option<DiffFormat>,
    /// Write the diff to this file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// JSON reports (`--format json`) to merge.
    #[arg(required = true, value_name = "REPORT")]
    pub reports: Vec<PathBuf>,

    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Terminal,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    Terminal,
    Json,
    Junit,
    Sarif,
    Html,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailOn {
    Info,
    Warning,
    Error,
    /// Never fail because of findings.
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormatArg {
    PgStderr,
    PgCsv,
    PgJson,
    MysqlGeneral,
    MysqlSlow,
    /// Rows of `mysql.general_log`: the CSV engine's file or a `mysql --batch` export.
    MysqlGeneralTable,
    /// Rows of `mysql.slow_log`, in the same two forms.
    MysqlSlowTable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DialectArg {
    Postgres,
    Mysql,
}

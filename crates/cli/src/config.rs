//! `querycomb.toml`: every command-line option can also be set here. Precedence: flag, then
//! file, then built-in default.
//!
//! ```toml
//! color = "auto"
//! [report]
//! format = "terminal"      # terminal | json | junit | sarif | html
//! fail_on = "warning"      # info | warning | error | never
//! show_params = false
//! [analyze]
//! log_format = "pg-stderr" # detected when absent
//! log_line_prefix = "%m [%p] %q%u@%d "
//! [proxy]
//! listen = "127.0.0.1:6432"
//! upstream = "127.0.0.1:5432"
//! [collect]                # querycomb collect: grpc, http, findings_out, max_request_bytes,
//!                          # queue, trace_window_ms (see docs/traces.md)
//! [run]
//! test_hooks = true        # load the pytest / node:test hooks (docs/ci.md)
//! include_fixtures = false # findings in setup/teardown at their own severity
//! [explain]              # proving fixes: see docs/explain.md
//! dsn = "postgres://reader@db/app"
//! explain_analyze = false
//! keep_keys = false
//! pool_size = 10
//! statement_timeout_ms = 5000
//! lock_timeout_ms = 1000
//! small_table_pages = 128
//! [detect]                 # thresholds, idle gap, allow-lists: see docs/configuration.md
//! [budgets]                # query budgets for `querycomb run`: see docs/ci.md
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::args::{ColorChoice, DialectArg, FailOn, Format, LogFormatArg};

/// The file as written. Unknown keys are errors so that a typo never silently does nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub color: Option<ColorChoice>,
    #[serde(default)]
    pub report: ReportSection,
    #[serde(default)]
    pub analyze: AnalyzeSection,
    #[serde(default)]
    pub proxy: ProxySection,
    #[serde(default)]
    pub collect: CollectSection,
    #[serde(default)]
    pub run: RunSection,
    #[serde(default)]
    pub explain: ExplainSection,
    #[serde(default)]
    pub detect: querycomb_detect::Config,
    /// Query budgets for `querycomb run` (see `budget.rs`).
    pub budgets: Option<crate::budget::BudgetSection>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSection {
    pub format: Option<Format>,
    pub output: Option<PathBuf>,
    pub fail_on: Option<FailOn>,
    pub show_params: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyzeSection {
    pub log_format: Option<LogFormatArg>,
    pub dialect: Option<DialectArg>,
    pub log_line_prefix: Option<String>,
    pub quiet: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxySection {
    pub listen: Option<String>,
    pub upstream: Option<String>,
    pub metrics: Option<String>,
    pub findings_out: Option<PathBuf>,
    /// `[proxy.tls]`: see `proxy.rs`.
    #[serde(default)]
    pub tls: crate::proxy::TlsFileConfig,
    /// `enforce = "observe" | "warn" | "reject"`: see `proxy.rs`.
    pub enforce: Option<String>,
    pub max_client_connections: Option<u32>,
    pub idle_timeout_s: Option<u64>,
    pub log_format: Option<String>,
    pub pool_size: Option<u32>,
    pub threads: Option<std::num::NonZeroUsize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectSection {
    pub grpc: Option<String>,
    pub http: Option<String>,
    pub findings_out: Option<PathBuf>,
    pub max_request_bytes: Option<usize>,
    pub queue: Option<usize>,
    pub trace_window_ms: Option<u64>,
}

/// `[run]`: `test_hooks = false` is `--no-test-hooks`; `include_fixtures` as the flag.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    pub test_hooks: Option<bool>,
    pub include_fixtures: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainSection {
    pub dsn: Option<String>,
    pub explain_analyze: Option<bool>,
    pub keep_keys: Option<bool>,
    pub pool_size: Option<u32>,
    pub statement_timeout_ms: Option<u64>,
    pub lock_timeout_ms: Option<u64>,
    pub small_table_pages: Option<u64>,
}

pub const DEFAULT_FILE: &str = "querycomb.toml";

/// Loads `explicit`, or `./querycomb.toml` when it exists, or the defaults.
/// Errors name the file and, for syntax and type errors, the line and key.
pub fn load(explicit: Option<&Path>) -> Result<FileConfig, String> {
    let path = match explicit {
        Some(path) => path.to_path_buf(),
        None if Path::new(DEFAULT_FILE).is_file() => PathBuf::from(DEFAULT_FILE),
        None => return Ok(FileConfig::default()),
    };
    let text = fs::read_to_string(&path)
        .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("config file {}: {e}", path.display()))
}

pub fn parse(text: &str) -> Result<FileConfig, String> {
    toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_section() {
        let cfg = parse(
            "color = \"never\"\n[report]\nformat = \"json\"\nfail_on = \"error\"\n\
             [analyze]\nlog_format = \"pg-csv\"\n[proxy]\nlisten = \"127.0.0.1:7000\"\n",
        )
        .unwrap();
        assert_eq!(cfg.color, Some(ColorChoice::Never));
        assert_eq!(cfg.report.format, Some(Format::Json));
        assert_eq!(cfg.report.fail_on, Some(FailOn::Error));
        assert_eq!(cfg.analyze.log_format, Some(LogFormatArg::PgCsv));
        assert_eq!(cfg.proxy.listen.as_deref(), Some("127.0.0.1:7000"));
    }

    #[test]
    fn reads_the_run_section() {
        let cfg = parse("[run]\ntest_hooks = false\ninclude_fixtures = true\n").unwrap();
        assert_eq!(cfg.run.test_hooks, Some(false));
        assert_eq!(cfg.run.include_fixtures, Some(true));
        assert!(parse("[run]\ntest_hook = false\n").is_err());
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let err = parse("[report]\nformat = \"json\"\nfail_onn = \"error\"\n").unwrap_err();
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("fail_onn"), "{err}");
    }

    #[test]
    fn wrong_type_names_line() {
        let err = parse("[report]\nshow_params = \"yes\"\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
    }
}

//! `querycomb proxy`: runs the PostgreSQL proxy with live detection until SIGINT/SIGTERM,
//! printing each new or grown finding as one line on stderr, then the full report.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use querycomb_core::SourceTable;
use querycomb_proxy::{EnforceMode, Enforcement, ProxyConfig, RouteBudget, TlsConfig};
use serde::Deserialize;

use crate::args::ProxyArgs;
use crate::budget::{self, LoadedBudgets};
use crate::config::FileConfig;
use crate::explain::{self, ProveSettings};
use crate::outcome::{CliError, Outcome};
use crate::report::{self, ReportSettings};

/// TLS flags of `querycomb proxy` (docs/production.md).
#[derive(Debug, Default, Args)]
pub struct TlsArgs {
    /// PEM certificate chain the proxy presents to clients.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Client TLS: disable (answer N), allow (TLS or plaintext), require (TLS only).
    /// Default: allow with a certificate, else disable.
    #[arg(long, value_name = "MODE")]
    pub tls_mode: Option<String>,
    /// TLS to the server: disable, prefer, require, verify-ca, verify-full (libpq's sslmode).
    #[arg(long, value_name = "MODE")]
    pub upstream_tls: Option<String>,
    /// PEM CA certificates for verify-ca / verify-full.
    #[arg(long, value_name = "FILE")]
    pub upstream_ca: Option<PathBuf>,
    /// PEM client certificate presented to the server.
    #[arg(long, value_name = "FILE")]
    pub upstream_cert: Option<PathBuf>,
    /// PEM private key of --upstream-cert.
    #[arg(long, value_name = "FILE")]
    pub upstream_key: Option<PathBuf>,
    /// Name checked against the server's certificate (default: the --upstream host).
    #[arg(long, value_name = "NAME")]
    pub upstream_server_name: Option<String>,
}

/// `[proxy.tls]` of querycomb.toml: the same settings as the flags, which win.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFileConfig {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub mode: Option<String>,
    pub upstream_mode: Option<String>,
    pub upstream_ca: Option<PathBuf>,
    pub upstream_cert: Option<PathBuf>,
    pub upstream_key: Option<PathBuf>,
    pub upstream_server_name: Option<String>,
}

/// Live budget flags of `querycomb proxy`.
#[derive(Debug, Default, Args)]
pub struct EnforceArgs {
    /// What to do when a request passes its query budget: observe (report only), warn (a
    /// notice to the client), reject (an error, SQLSTATE 54Q01). Entries may set their own.
    #[arg(long, value_name = "MODE")]
    pub enforce: Option<String>,
    /// Query budgets file (`[budgets]` tables); default: the `[budgets]` of querycomb.toml.
    /// Re-read on SIGHUP.
    #[arg(long, value_name = "FILE")]
    pub budgets: Option<PathBuf>,
}

/// Limits and logging of `querycomb proxy`.
#[derive(Debug, Default, Args)]
pub struct OpsArgs {
    /// Client connections served at once; more get SQLSTATE 53300 (default: no limit).
    #[arg(long, value_name = "N")]
    pub max_client_connections: Option<u32>,
    /// Disconnect a client idle this many seconds with nothing in flight.
    #[arg(long, value_name = "SECONDS")]
    pub idle_timeout_s: Option<u64>,
    /// The application's connection pool size: a warning names the routes holding
    /// connections longest when requests keep 80% of it busy (default 10).
    #[arg(long, value_name = "N")]
    pub pool_size: Option<u32>,
    /// Log lines on stderr: text or json (one object per line).
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Threads serving connections, each running its connections on its own event loop
    /// (default: one per core but one, left to detection).
    #[arg(long, value_name = "N")]
    pub threads: Option<std::num::NonZeroUsize>,
}

fn tls_config(args: TlsArgs, file: TlsFileConfig) -> Result<TlsConfig, CliError> {
    let cert = args.tls_cert.or(file.cert);
    let client_mode = match args.tls_mode.or(file.mode) {
        Some(mode) => mode
            .parse()
            .map_err(|e| CliError::Usage(format!("--tls-mode: {e}")))?,
        None if cert.is_some() => querycomb_proxy::ClientTlsMode::Allow,
        None => querycomb_proxy::ClientTlsMode::Disable,
    };
    let upstream_mode = match args.upstream_tls.or(file.upstream_mode) {
        Some(mode) => mode
            .parse()
            .map_err(|e| CliError::Usage(format!("--upstream-tls: {e}")))?,
        None => querycomb_proxy::UpstreamTlsMode::Disable,
    };
    Ok(TlsConfig {
        client_mode,
        cert,
        key: args.tls_key.or(file.key),
        upstream_mode,
        upstream_ca: args.upstream_ca.or(file.upstream_ca),
        upstream_cert: args.upstream_cert.or(file.upstream_cert),
        upstream_key: args.upstream_key.or(file.upstream_key),
        upstream_server_name: args.upstream_server_name.or(file.upstream_server_name),
    })
}

/// The proxy's live budgets from the loaded budget file: the mode from the flag, else
/// `[proxy] enforce`, else `[budgets.default] enforce`, else observe.
fn enforcement(
    budgets: &LoadedBudgets,
    mode: Option<EnforceMode>,
    idle_gap: Duration,
) -> Enforcement {
    let routes = budgets
        .rules
        .iter()
        .map(|rule| {
            let pattern = rule.pattern.clone();
            RouteBudget {
                pattern: rule.pattern_text.clone(),
                matches: Arc::new(move |route: &str| pattern.matches(route)),
                limits: rule.live,
                mode: rule.enforce,
            }
        })
        .collect();
    Enforcement {
        mode: mode.or(budgets.enforce).unwrap_or_default(),
        default: budgets.live_default,
        routes,
        idle_gap,
    }
}

fn load_budgets(
    file: Option<&Path>,
    config_file: Option<&Path>,
    section: Option<budget::BudgetSection>,
) -> Result<LoadedBudgets, String> {
    budget::load(file, section, &budget::config_file_name(config_file))
}

const DEFAULT_LISTEN: &str = "127.0.0.1:6432";
const DEFAULT_UPSTREAM: &str = "127.0.0.1:5432";

pub fn run(
    args: ProxyArgs,
    file: FileConfig,
    config_file: Option<&Path>,
    color: bool,
) -> Result<Outcome, CliError> {
    let started = Instant::now();
    let settings = ReportSettings::resolve(&args.report, &file, color);
    let prove_args = crate::args::ProveArgs {
        dsn: args.prove.dsn.clone(),
        explain_analyze: args.prove.explain_analyze,
        keep_keys: args.prove.keep_keys,
        pool_size: args.ops.pool_size,
    };
    let prove = ProveSettings::resolve(&prove_args, &file);
    prove.check(&settings)?;
    let mut detect = settings.detect_config(&file, &args.report);
    detect.capture_keys = prove.capture_keys();
    let listen = args.listen.or(file.proxy.listen);
    let metrics = args.metrics.or(file.proxy.metrics);
    let mut config = ProxyConfig::new(
        socket_addr("--listen", listen.as_deref().unwrap_or(DEFAULT_LISTEN))?,
        args.upstream
            .or(file.proxy.upstream)
            .unwrap_or_else(|| DEFAULT_UPSTREAM.to_owned()),
    );
    config.metrics = metrics
        .as_deref()
        .map(|m| socket_addr("--metrics", m))
        .transpose()?;
    config.findings_out = args.findings_out.or(file.proxy.findings_out);
    config.capture_params = settings.show_params || prove.capture_keys();
    if config.findings_out.is_some() && prove.capture_keys() && !prove.keep_keys {
        return Err(CliError::Usage(
            "--dsn with --findings-out would write the captured values into the JSON lines: \
             add --keep-keys to accept that, or drop --findings-out"
                .into(),
        ));
    }
    config.tls = tls_config(args.tls, file.proxy.tls)?;
    config.max_client_connections = args
        .ops
        .max_client_connections
        .or(file.proxy.max_client_connections);
    config.idle_timeout = args
        .ops
        .idle_timeout_s
        .or(file.proxy.idle_timeout_s)
        .map(Duration::from_secs);
    config.threads = args
        .ops
        .threads
        .or(file.proxy.threads)
        .map(std::num::NonZeroUsize::get);
    if let Some(size) = args.ops.pool_size.or(file.proxy.pool_size) {
        config.pool_size = size;
    }
    if let Some(format) = args.ops.log_format.or(file.proxy.log_format) {
        config.log_format = format
            .parse()
            .map_err(|e| CliError::Usage(format!("--log-format: {e}")))?;
    }
    let mode = args
        .enforce
        .enforce
        .or(file.proxy.enforce)
        .map(|m| m.parse::<EnforceMode>())
        .transpose()
        .map_err(|e| CliError::Usage(format!("--enforce: {e}")))?;
    let idle_gap = Duration::from_millis(detect.idle_gap_ms);
    let budgets_file = args.enforce.budgets.clone();
    let config_file = config_file.map(Path::to_path_buf);
    let loaded = load_budgets(
        budgets_file.as_deref(),
        config_file.as_deref(),
        file.budgets,
    )
    .map_err(CliError::Usage)?;
    config.enforcement = enforcement(&loaded, mode, idle_gap);
    let reload: querycomb_proxy::Reloader = Box::new(move || {
        let section = match budgets_file {
            None => crate::config::load(config_file.as_deref())?.budgets,
            Some(_) => None,
        };
        let loaded = load_budgets(budgets_file.as_deref(), config_file.as_deref(), section)?;
        Ok(enforcement(&loaded, mode, idle_gap))
    });

    let sources = Arc::new(proxy_sources(&config));
    let live_sources = sources.clone();
    let on_finding = move |finding: &querycomb_core::Finding| {
        eprintln!(
            "{}",
            querycomb_report::terminal::render_line(finding, &live_sources)
        );
    };
    eprintln!(
        "querycomb: proxy listening on {} → {}",
        config.listen, config.upstream
    );
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| CliError::Usage(format!("cannot start the async runtime: {e}")))?;
    let proxy_report = runtime
        .block_on(querycomb_proxy::run(
            config,
            detect,
            on_finding,
            Some(reload),
            querycomb_proxy::shutdown_signal(),
        ))
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let mut summary = proxy_report.analysis.summary;
    summary.elapsed_ms = started.elapsed().as_millis() as u64;
    summary.bytes = proxy_report.stats.bytes_from_clients + proxy_report.stats.bytes_from_server;
    let findings = proxy_report.analysis.findings;
    report::deliver(&settings, |sink| {
        explain::through_prove(&prove, sink, |sink| {
            report::replay(sink, &sources, &findings, &summary)
        })
    })
}

fn proxy_sources(config: &ProxyConfig) -> SourceTable {
    let mut sources = SourceTable::default();
    sources.add(format!("proxy {}", config.listen));
    sources
}

fn socket_addr(flag: &str, value: &str) -> Result<SocketAddr, CliError> {
    value
        .to_socket_addrs()
        .map_err(|e| CliError::Usage(format!("{flag} {value}: {e}")))?
        .next()
        .ok_or_else(|| CliError::Usage(format!("{flag} {value}: no address")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_file_becomes_live_enforcement_with_entry_modes() {
        let text =
            "[budgets.default]\nmax_statements = 50\nmax_rows = 1000\nenforce = \"warn\"\n\n\
                    [[budgets.route]]\nroute = \"GET /orders*\"\nmax_statements = 5\n\
                    max_transaction_statements = 3\nenforce = \"reject\"\n";
        let loaded = budget::parse(text, Path::new("budgets.toml")).expect("parse");
        let live = enforcement(&loaded, None, Duration::from_secs(1));
        assert_eq!(live.mode, EnforceMode::Warn, "the file's default mode");
        assert_eq!(live.default.max_statements, Some(50));
        assert_eq!(live.default.max_rows, Some(1000));
        let route = &live.routes[0];
        assert_eq!(route.mode, Some(EnforceMode::Reject));
        assert_eq!(route.limits.max_transaction_statements, Some(3));
        assert!((route.matches)("GET /orders/7"));
        assert!(!(route.matches)("GET /users"));
        let flagged = enforcement(&loaded, Some(EnforceMode::Observe), Duration::from_secs(1));
        assert_eq!(flagged.mode, EnforceMode::Observe, "--enforce wins");
    }

    #[test]
    fn connection_threads_are_a_positive_count() {
        let zero: Result<crate::config::FileConfig, _> = toml::from_str("[proxy]\nthreads = 0\n");
        assert!(zero.is_err());
        let two: crate::config::FileConfig =
            toml::from_str("[proxy]\nthreads = 2\n").expect("config");
        assert_eq!(two.proxy.threads.map(std::num::NonZeroUsize::get), Some(2));
    }

    #[test]
    fn tls_flags_win_over_the_file_and_modes_are_checked() {
        let file: crate::config::FileConfig = toml::from_str(
            "[proxy.tls]\ncert = \"file.crt\"\nkey = \"file.key\"\nupstream_mode = \"verify-full\"\n",
        )
        .expect("config");
        let args = TlsArgs {
            tls_cert: Some("flag.crt".into()),
            ..TlsArgs::default()
        };
        let tls = tls_config(args, file.proxy.tls).expect("tls");
        assert_eq!(tls.cert.as_deref(), Some(Path::new("flag.crt")));
        assert_eq!(tls.key.as_deref(), Some(Path::new("file.key")));
        assert_eq!(tls.client_mode, querycomb_proxy::ClientTlsMode::Allow);
        assert_eq!(
            tls.upstream_mode,
            querycomb_proxy::UpstreamTlsMode::VerifyFull
        );
        let bad = TlsArgs {
            tls_mode: Some("maybe".into()),
            ..TlsArgs::default()
        };
        let error = tls_config(bad, TlsFileConfig::default())
            .err()
            .map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("--tls-mode")));
    }
}

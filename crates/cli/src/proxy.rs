//! `querycomb proxy`: runs the PostgreSQL proxy with live detection until SIGINT/SIGTERM,
//! printing each new or grown finding as one line on stderr, then the full report.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Instant;

use querycomb_core::SourceTable;
use querycomb_proxy::ProxyConfig;

use crate::args::ProxyArgs;
use crate::config::FileConfig;
use crate::explain::{self, ProveSettings};
use crate::outcome::{CliError, Outcome};
use crate::report::{self, ReportSettings};

const DEFAULT_LISTEN: &str = "127.0.0.1:6432";
const DEFAULT_UPSTREAM: &str = "127.0.0.1:5432";

pub fn run(args: ProxyArgs, file: FileConfig, color: bool) -> Result<Outcome, CliError> {
    let started = Instant::now();
    let settings = ReportSettings::resolve(&args.report, &file, color);
    let prove = ProveSettings::resolve(&args.prove, &file);
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
            querycomb_proxy::shutdown_signal(),
        ))
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let mut summary = proxy_report.analysis.summary;
    summary.elapsed_ms = started.elapsed().as_millis() as u64;
    summary.bytes = proxy_report.stats.bytes_from_clients + proxy_report.stats.bytes_from_server;
    let mut findings = proxy_report.analysis.findings;
    if prove.dsn.is_some() || prove.keep_keys {
        explain::prove(&mut findings, &prove)?;
    }
    report::write(&settings, &sources, &findings, &summary)
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

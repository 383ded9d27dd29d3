//! `querycomb run -- <command>`: runs a test suite (or anything) with its PostgreSQL
//! traffic going through the proxy, then reports findings, per-request query counts and
//! budget results, and fails the way CI needs.
//!
//! How the child is pointed at the proxy: the proxy listens on `127.0.0.1:<free port>` and
//! forwards to the upstream (`--upstream`, else the host and port of `DATABASE_URL`, else
//! `PGHOST`/`PGPORT`, else `127.0.0.1:5432`). The child gets `DATABASE_URL` (and every
//! variable named with `--env-var`) with only its host and port replaced, so user,
//! password, database and query parameters stay, and `PGHOST`/`PGPORT` set to the proxy for
//! libpq-style clients. It inherits stdin, stdout and stderr.
//!
//! Exit status: the child's own when it failed (128 + signal when a signal ended it), else
//! 1 when a finding reached `--fail-on`, a request went over budget or the run regressed
//! against `--baseline`, else 0; 2 when querycomb itself could not do its job. Each reason
//! is stated on stderr. SIGINT and SIGTERM are passed on to the child.

mod attribution;
mod cargo;
mod gotest;
mod hooks;
mod junit;
mod peers;
mod summary;

use querycomb_detect::detectors::over_budget;
use std::ffi::OsString;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use querycomb_core::{
    Amend, CollectedFindings, Finding, FindingSink, RunSummary, SourceTable, Tee,
};
use querycomb_proxy::{pipeline_detector, DetectorFactory, Proxy, ProxyConfig, ProxyReport};
use querycomb_report::json::{Document, SCHEMA};
use querycomb_report::junit::JunitSink;

use crate::args::{ColorChoice, DiffFormat, FailOn, Format, RunArgs};
use crate::budget::{self, LoadedBudgets};
use crate::config;
use crate::diff;
use crate::explain::{self, ProveSettings};
use crate::outcome::CliError;
use crate::report::{self, ReportSettings};
use crate::scale::{self, SCALE_VAR};

const DEFAULT_UPSTREAM: (&str, u16) = ("127.0.0.1", 5432);

/// Runs the whole command; every error is printed here.
pub fn main(args: RunArgs, config_file: Option<PathBuf>, color: Option<ColorChoice>) -> ExitCode {
    match run(args, config_file, color) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("querycomb: error: {error}");
            ExitCode::from(2)
        }
    }
}

fn run(
    args: RunArgs,
    config_file: Option<PathBuf>,
    color: Option<ColorChoice>,
) -> Result<u8, CliError> {
    let started = Instant::now();
    let plan = Plan::new(&args, config_file.as_deref(), color)?;
    warn_if_unreachable(&plan.upstream);
    if !args.scale.is_empty() {
        return run_scaled(&args, &plan);
    }
    let hooks = plan.hooks(&args.command)?;
    let served = run_through_proxy(&args, &plan, hooks.as_ref(), None)?;
    let status = served.status;
    served.attribution.explain(hooks.is_some());

    let mut handed = handed_over(served.report, &plan.upstream, served.listen, &args.command);
    handed.summary.elapsed_ms = started.elapsed().as_millis() as u64;
    let run = write_report(&plan, &handed)?;
    print_terminal_summary(&plan.settings, &run);
    let verdict = Verdict {
        status,
        findings_failed: findings_failed(&run.findings, &plan.settings),
        over_budget: run
            .findings
            .iter()
            .filter(|f| f.kind == over_budget::KIND)
            .filter(|f| plan.include_fixtures || !summary::is_fixture(f))
            .count(),
        regressed: compare_baseline(plan.baseline.as_ref(), args.baseline.as_deref(), &run),
    };
    let code = verdict.explain(plan.settings.fail_on);
    check_unmatched_budgets(&plan.budgets, &run.summary, args.strict_budgets)?;
    Ok(code)
}

/// `--scale SMALL,LARGE`: the command once per scale, then only the scaling check decides
/// (findings and budgets are a plain run's job). Exit 1 when a route grew, the command's
/// own status when it failed.
fn run_scaled(args: &RunArgs, plan: &Plan) -> Result<u8, CliError> {
    let &[small, large] = args.scale.as_slice() else {
        return Err(CliError::Usage(
            "--scale takes two scales, smaller first: --scale 10,100".into(),
        ));
    };
    if small >= large {
        return Err(CliError::Usage(format!(
            "--scale {small},{large}: give the smaller scale first"
        )));
    }
    let mut documents = Vec::new();
    for scale in [small, large] {
        eprintln!("querycomb: running the command with {SCALE_VAR}={scale}");
        let hooks = plan.hooks(&args.command)?;
        let served = run_through_proxy(args, plan, hooks.as_ref(), Some(scale))?;
        let (report, status, listen) = (served.report, served.status, served.listen);
        if !status.success() {
            eprintln!(
                "querycomb: the command failed at {SCALE_VAR}={scale} ({}): no scaling check",
                describe_status(status)
            );
            return Ok(child_code(status));
        }
        documents.push(document(&handed_over(
            report,
            &plan.upstream,
            listen,
            &args.command,
        )));
    }
    let [smaller, larger] = documents.as_slice() else {
        return Err(CliError::Usage("scaling check: internal error".into()));
    };
    let report = scale::compare(
        smaller,
        larger,
        (
            &format!("{SCALE_VAR}={small}"),
            &format!("{SCALE_VAR}={large}"),
        ),
    );
    let format = match plan.settings.format {
        Format::Json => DiffFormat::Json,
        _ => DiffFormat::Terminal,
    };
    let text = scale::render(&report, format)?;
    crate::diff::write_out(plan.settings.output.as_ref(), &text)?;
    if plan.settings.output.is_some() {
        eprint!("{}", scale::render_terminal(&report));
    }
    Ok(u8::from(report.grown > 0))
}

/// Everything decided before the command starts; every mistake in it stops the run first.
struct Plan {
    prove: ProveSettings,
    settings: ReportSettings,
    budgets: LoadedBudgets,
    baseline: Option<Document>,
    detect: querycomb_detect::Config,
    upstream: String,
    test_hooks: bool,
    include_fixtures: bool,
}

impl Plan {
    fn new(
        args: &RunArgs,
        config_file: Option<&Path>,
        color: Option<ColorChoice>,
    ) -> Result<Plan, CliError> {
        let mut file = config::load(config_file).map_err(CliError::Usage)?;
        let color = crate::use_color(color.or(file.color));
        let settings = ReportSettings {
            // The routes of a run are the tests its runner's hooks named.
            routes: querycomb_report::causes::RouteNames::Tests,
            ..ReportSettings::resolve(&args.report, &file, color)
        };
        let prove = ProveSettings::resolve(&args.prove, &file);
        prove.check(&settings)?;
        let budgets = budget::load(
            args.budgets.as_deref(),
            file.budgets.take(),
            &budget::config_file_name(config_file),
        )
        .map_err(CliError::Usage)?;
        let baseline = args
            .baseline
            .as_deref()
            .map(diff::read_document)
            .transpose()?;
        let mut detect = settings.detect_config(&file, &args.report);
        detect.budgets = budgets.to_detect();
        detect.capture_keys = prove.capture_keys();
        let upstream = args
            .upstream
            .clone()
            .unwrap_or_else(|| upstream_from_env(|name| std::env::var(name).ok()));
        Ok(Plan {
            prove,
            settings,
            budgets,
            baseline,
            detect,
            upstream,
            test_hooks: !args.no_test_hooks && file.run.test_hooks.unwrap_or(true),
            include_fixtures: args.include_fixtures || file.run.include_fixtures.unwrap_or(false),
        })
    }

    /// The test-runner hooks for the command, unless turned off.
    fn hooks(&self, command: &[std::ffi::OsString]) -> Result<Option<hooks::Hooks>, CliError> {
        if !self.test_hooks {
            return Ok(None);
        }
        let words: Vec<String> = command
            .iter()
            .map(|word| word.to_string_lossy().into_owned())
            .collect();
        hooks::Hooks::install(&words)
            .map(Some)
            .map_err(|e| CliError::Usage(format!("cannot write the test-runner hooks: {e}")))
    }
}

/// What serving the command produced.
struct Served {
    report: ProxyReport,
    status: ExitStatus,
    listen: SocketAddr,
    attribution: AttributionCounts,
}

/// How much of the traffic the hooks attributed to tests.
#[derive(Default)]
struct AttributionCounts {
    statements: Arc<attribution::AttributedStatements>,
    boundaries: u64,
}

impl AttributionCounts {
    /// One notice when the hooks were loaded but no test could be named through them.
    fn explain(&self, hooks_loaded: bool) {
        if !hooks_loaded {
            return;
        }
        let to_tests = self.statements.to_tests.load(Ordering::Relaxed);
        let to_binaries = self.statements.to_binaries.load(Ordering::Relaxed);
        if to_binaries > 0 {
            eprintln!(
                "querycomb: note: `cargo test` runs a binary's tests on threads of one process: \
                 {to_binaries} statement(s) are attributed to their test binary only (named in \
                 the session), and those without sqlcommenter tags are grouped by transaction and \
                 idle gap; `cargo test -- --test-threads=1` or `cargo nextest run` name each test"
            );
        }
        if to_tests > 0 || to_binaries > 0 {
            return;
        }
        if self.boundaries == 0 {
            eprintln!(
                "querycomb: note: no test runner reported its tests (hooks: pytest, node:test, Jest, Vitest, Mocha, RSpec, minitest, JUnit 5, go test -json, cargo nextest, cargo test); \
                 statements are grouped by transaction and idle gap instead of by test"
            );
        } else {
            eprintln!(
                "querycomb: note: tests reported their phases, but no statement could be \
                 matched to a test's process; statements are grouped by transaction and idle gap"
            );
        }
    }
}

/// Serves the proxy on a free port while the command runs, then stops it and collects
/// what detection found.
fn run_through_proxy(
    args: &RunArgs,
    plan: &Plan,
    hooks: Option<&hooks::Hooks>,
    scale: Option<u32>,
) -> Result<Served, CliError> {
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| CliError::Usage(format!("cannot start the async runtime: {e}")))?;
    let mut config = ProxyConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), &plan.upstream);
    // The plan check needs the values themselves, not their digests.
    config.capture_params = plan.settings.show_params || plan.detect.capture_keys;
    config.quiet = !args.verbose;
    // The command has ended: only a process it left behind can still hold a connection.
    config.shutdown_grace = Duration::from_secs(5);
    let mut proxy = runtime
        .block_on(Proxy::bind(config))
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let listen = proxy
        .local_addr()
        .map_err(|e| CliError::Usage(format!("proxy address: {e}")))?;
    let attributed = Arc::new(attribution::AttributedStatements::default());
    let detector = pipeline_detector(plan.detect.clone());
    match hooks {
        Some(hooks) => {
            let (peers, resolver) = peers::Peers::start(listen.port());
            // Called before the connection is served, while its client waits for the reply
            // to its start-up message (so it is certainly still connected).
            proxy.on_connect(Arc::new(move |id, peer| resolver.connected(id, peer)));
            proxy.detector(attributed_detector(
                detector,
                hooks.side_channel(),
                peers,
                attributed.clone(),
            ));
        }
        None => {
            proxy.detector(detector);
        }
    }

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = runtime.spawn(proxy.serve(async {
        let _ = stop_rx.await;
    }));
    let child = run_child(&runtime, args, listen, hooks, scale);
    let _ = stop_tx.send(());
    let stopped = |e: &dyn std::fmt::Display| CliError::Usage(format!("the proxy stopped: {e}"));
    let report = runtime
        .block_on(serving)
        .map_err(|e| stopped(&e))?
        .map_err(|e| stopped(&e))?;
    let boundaries = hooks.map_or(0, |h| count_lines(&h.side_channel()));
    Ok(Served {
        report,
        status: child?,
        listen,
        attribution: AttributionCounts {
            statements: attributed,
            boundaries,
        },
    })
}

/// Detection with each statement attributed to the test phase that ran it.
fn attributed_detector(
    inner: DetectorFactory,
    side_channel: PathBuf,
    peers: Arc<peers::Peers>,
    attributed: Arc<attribution::AttributedStatements>,
) -> DetectorFactory {
    Box::new(move || {
        Box::new(attribution::Attributed::new(
            inner(),
            attribution::TestLog::open(&side_channel),
            peers,
            attributed,
        ))
    })
}

fn count_lines(path: &Path) -> u64 {
    std::fs::read(path).map_or(0, |bytes| {
        bytes.iter().filter(|&&b| b == b'\n').count() as u64
    })
}

/// The proxy logs nothing per connection unless `--verbose`, so say it once up front when
/// the database is not there: otherwise the tests only see connections closed.
fn warn_if_unreachable(upstream: &str) {
    use std::net::{TcpStream, ToSocketAddrs};
    let reachable = upstream.to_socket_addrs().ok().is_some_and(|mut addrs| {
        addrs.any(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok())
    });
    if !reachable {
        eprintln!(
            "querycomb: warning: cannot connect to the database at {upstream}: the command's \
             connections through the proxy will fail (set --upstream or DATABASE_URL)"
        );
    }
}

/// What the proxy's detection thread handed over at the end of the run (the sources
/// named after the command), ready to go through `run`'s steps to the report.
fn handed_over(
    report: ProxyReport,
    upstream: &str,
    listen: SocketAddr,
    command: &[OsString],
) -> CollectedFindings {
    let command: Vec<String> = command
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let input = format!(
        "querycomb run ({listen} → {upstream}): {}",
        command.join(" ")
    );
    let mut sources = SourceTable::default();
    sources.add_capture(input.clone());
    let mut summary = report.analysis.summary;
    summary.inputs = vec![input];
    summary.bytes = report.stats.bytes_from_clients + report.stats.bytes_from_server;
    CollectedFindings {
        sources,
        findings: report.analysis.findings,
        summary,
    }
}

/// A run as a findings document, for the baseline comparison.
fn document(run: &CollectedFindings) -> Document {
    Document {
        schema: SCHEMA.to_owned(),
        sources: run.summary.inputs.clone(),
        findings: run.findings.clone(),
        summary: run.summary.clone(),
    }
}

/// Starts the child pointed at the proxy, passes signals on, waits for it.
fn run_child(
    runtime: &tokio::runtime::Runtime,
    args: &RunArgs,
    listen: SocketAddr,
    hooks: Option<&hooks::Hooks>,
    scale: Option<u32>,
) -> Result<ExitStatus, CliError> {
    let (program, rest) = args
        .command
        .split_first()
        .ok_or_else(|| CliError::Usage("no command given after `--`".to_owned()))?;
    let mut command = Command::new(program);
    command.args(rest);
    for (name, value) in child_env(&args.env_vars, listen, |n| std::env::var(n).ok()) {
        command.env(name, value);
    }
    for (name, value) in hooks.map_or_else(Vec::new, |h| h.env(|n| std::env::var(n).ok())) {
        command.env(name, value);
    }
    if let Some(scale) = scale {
        command.env(SCALE_VAR, scale.to_string());
    }
    // `go test -json`: the tests are named by its output, relayed unchanged (`gotest.rs`).
    let words: Vec<String> = args
        .command
        .iter()
        .map(|w| w.to_string_lossy().into_owned())
        .collect();
    // `cargo test` with one test thread: its tests are named by libtest's output (`cargo.rs`).
    let relay_kind = hooks.and_then(|hooks| {
        if gotest::is_go_test_json(&words) {
            return Some((hooks, Relay::GoTest));
        }
        let threads = std::env::var("RUST_TEST_THREADS").ok();
        (cargo::cargo_test(&words, threads.as_deref()) == Some(cargo::Libtest::Names))
            .then_some((hooks, Relay::Libtest))
    });
    if relay_kind.is_some() {
        command.stdout(std::process::Stdio::piped());
    }
    let mut child = command.spawn().map_err(|e| {
        CliError::Usage(format!("cannot run {}: {e}", Path::new(program).display()))
    })?;
    let relay = relay_kind
        .zip(child.stdout.take())
        .map(|((hooks, kind), output)| {
            let side_channel = hooks.side_channel();
            std::thread::spawn(move || match kind {
                Relay::GoTest => gotest::relay(output, &side_channel),
                Relay::Libtest => cargo::relay(output, &side_channel),
            })
        });
    let forwarding = runtime.spawn(forward_signals(child.id()));
    let status = child.wait();
    forwarding.abort();
    if let Some(relay) = relay {
        let _ = relay.join();
    }
    status.map_err(|e| CliError::Usage(format!("waiting for the command: {e}")))
}

/// Whose output `run` relays to name the tests.
#[derive(Clone, Copy)]
enum Relay {
    GoTest,
    Libtest,
}

/// Passes SIGINT and SIGTERM on to the child until it ends. (A Ctrl-C at a terminal reaches
/// the child directly too; test runners treat a second SIGINT like the first.)
async fn forward_signals(pid: u32) {
    use rustix::process::{kill_process, Pid, Signal};
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return;
    };
    loop {
        let signal = tokio::select! {
            _ = int.recv() => Signal::INT,
            _ = term.recv() => Signal::TERM,
        };
        // The child may have ended between the signal and now; nothing left to tell it then.
        let _ = kill_process(pid, signal);
    }
}

/// The variables the child gets: URL variables rewritten to the proxy, PGHOST/PGPORT.
fn child_env(
    extra: &[String],
    listen: SocketAddr,
    get: impl Fn(&str) -> Option<String>,
) -> Vec<(String, String)> {
    let mut names = vec!["DATABASE_URL".to_owned()];
    names.extend(extra.iter().filter(|n| *n != "DATABASE_URL").cloned());
    let mut env: Vec<(String, String)> = names
        .into_iter()
        .filter_map(|name| {
            let value = get(&name)?;
            match rewrite_url(&value, listen) {
                Some(url) => Some((name, url)),
                None => {
                    eprintln!("querycomb: warning: {name} is not a PostgreSQL URL; left unchanged");
                    None
                }
            }
        })
        .collect();
    env.push(("PGHOST".to_owned(), listen.ip().to_string()));
    env.push(("PGPORT".to_owned(), listen.port().to_string()));
    env
}

/// The parts of `scheme://userinfo@host:port/db?query` around `host:port`.
struct UrlParts<'a> {
    /// Up to and including `@` (or `://` when there is no userinfo).
    head: &'a str,
    hosts: &'a str,
    /// From the first `/`, `?` or `#` after the hosts on.
    tail: &'a str,
}

fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let scheme_end = url.find("://")? + 3;
    if !is_postgres_scheme(url.get(..scheme_end - 3)?) {
        return None;
    }
    let rest = url.get(scheme_end..)?;
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..authority_len)?;
    let hosts_start = authority.rfind('@').map_or(0, |at| at + 1);
    Some(UrlParts {
        head: url.get(..scheme_end + hosts_start)?,
        hosts: authority.get(hosts_start..)?,
        tail: rest.get(authority_len..)?,
    })
}

/// `postgres`, `postgresql`, SQLAlchemy's `postgresql+psycopg` and the like, and JDBC's
/// `jdbc:postgresql`.
fn is_postgres_scheme(scheme: &str) -> bool {
    let scheme = scheme.to_ascii_lowercase();
    let base = scheme.strip_prefix("jdbc:").unwrap_or(&scheme);
    let base = base.split_once('+').map_or(base, |(name, _driver)| name);
    matches!(base, "postgres" | "postgresql")
}

/// `url` with its host(s) and port replaced by the proxy's.
fn rewrite_url(url: &str, listen: SocketAddr) -> Option<String> {
    let parts = split_url(url)?;
    Some(format!("{}{listen}{}", parts.head, parts.tail))
}

/// The first `host[:port]` of a URL's host list (`[::1]:5432` included).
fn url_host_port(url: &str) -> Option<(String, Option<u16>)> {
    let hosts = split_url(url)?.hosts;
    let first = hosts.split(',').next()?;
    if first.is_empty() {
        return None;
    }
    let (host, port) = match first.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => match first.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (first, None),
        },
    };
    let port = match port {
        Some(p) => Some(p.parse().ok()?),
        None => None,
    };
    Some((host.to_owned(), port))
}

/// Where the tests' database is, as `host:port`, from the environment the child will get.
fn upstream_from_env(get: impl Fn(&str) -> Option<String>) -> String {
    let from_url = get("DATABASE_URL").and_then(|url| url_host_port(&url));
    let pg_port = get("PGPORT").and_then(|p| p.parse().ok());
    let (host, port) = match from_url {
        Some((host, port)) => (host, port.or(pg_port)),
        None => (
            get("PGHOST")
                .filter(|h| !h.is_empty() && !h.starts_with('/'))
                .unwrap_or_else(|| DEFAULT_UPSTREAM.0.to_owned()),
            pg_port,
        ),
    };
    let port = port.unwrap_or(DEFAULT_UPSTREAM.1);
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The report as `--format`/`--output` say, through `run`'s steps: fixtures' findings at
/// info unless `--include-fixtures`, then the plan check when asked. JUnit test cases also
/// show each route's budget and counts. Returns what the report received, for the verdict
/// and the baseline.
fn write_report(plan: &Plan, handed: &CollectedFindings) -> Result<CollectedFindings, CliError> {
    let settings = &plan.settings;
    let sink: Box<dyn FindingSink> = if settings.format == Format::Junit {
        let out = report::open_output(settings.output.as_ref())
            .map_err(|e| report::output_error(settings, e))?;
        let fail_on = settings
            .fail_severity()
            .unwrap_or(querycomb_core::Severity::Error);
        let notes = budget::case_notes(&plan.budgets, &handed.summary);
        Box::new(JunitSink::new(out, fail_on).with_case_notes(notes))
    } else {
        report::make_sink(
            settings,
            report::open_output(settings.output.as_ref())
                .map_err(|e| report::output_error(settings, e))?,
        )
    };
    let mut kept = CollectedFindings::default();
    report::deliver_to(settings, sink, |sink| {
        let mut both = Tee {
            first: sink,
            second: &mut kept,
        };
        let include_fixtures = plan.include_fixtures;
        let mut fixtures = Amend::new(&mut both, |finding: &mut Finding| {
            if !include_fixtures {
                summary::fixture_to_info(finding);
            }
        });
        explain::through_prove(&plan.prove, &mut fixtures, |sink| {
            report::replay(sink, &handed.sources, &handed.findings, &handed.summary)
        })
    })?;
    Ok(kept)
}

/// The report goes where `--format`/`--output` say; when that is not the terminal, stderr
/// gets a short summary for CI logs: counts, the top causes with their tests, and where
/// the full report is.
fn print_terminal_summary(settings: &ReportSettings, run: &CollectedFindings) {
    if settings.format == Format::Terminal && settings.output.is_none() {
        return;
    }
    let format = format!("{:?}", settings.format).to_lowercase();
    let place = match &settings.output {
        Some(path) => format!("{} ({format})", path.display()),
        None => format!("standard output ({format})"),
    };
    eprint!(
        "{}",
        querycomb_report::causes::short_summary(
            &run.findings,
            &run.summary,
            &place,
            settings.routes
        )
    );
}

/// Findings other than budget ones at or above `--fail-on` (budgets fail on their own).
fn findings_failed(findings: &[Finding], settings: &ReportSettings) -> usize {
    let Some(level) = settings.fail_severity() else {
        return 0;
    };
    findings
        .iter()
        .filter(|f| f.kind != over_budget::KIND && f.severity >= level)
        .count()
}

/// Prints the diff against the baseline on stderr; true when the run regressed.
fn compare_baseline(
    baseline: Option<&Document>,
    path: Option<&Path>,
    run: &CollectedFindings,
) -> bool {
    let (Some(before), Some(path)) = (baseline, path) else {
        return false;
    };
    let diff = diff::compare(
        before,
        &document(run),
        &path.display().to_string(),
        "this run",
    );
    eprint!("{}", diff::render_terminal(&diff));
    diff.regressed
}

/// Budget entries no request matched: a typo in a route, or a test that no longer runs.
fn check_unmatched_budgets(
    budgets: &LoadedBudgets,
    summary: &RunSummary,
    strict_flag: bool,
) -> Result<(), CliError> {
    let unmatched = budgets.unmatched(summary);
    let strict = strict_flag || budgets.strict;
    for rule in &unmatched {
        let level = if strict { "error" } else { "warning" };
        eprintln!(
            "querycomb: {level}: {}: key `route`: budget pattern {:?} matched no request in this run",
            rule.origin, rule.pattern_text
        );
    }
    if strict && !unmatched.is_empty() {
        return Err(CliError::Usage(format!(
            "{} budget pattern(s) matched no request (strict budgets)",
            unmatched.len()
        )));
    }
    Ok(())
}

/// Why the run fails, if it does.
struct Verdict {
    status: ExitStatus,
    findings_failed: usize,
    over_budget: usize,
    regressed: bool,
}

impl Verdict {
    /// States every reason on stderr and returns the exit code.
    fn explain(&self, fail_on: FailOn) -> u8 {
        let child = child_code(self.status);
        if child != 0 {
            eprintln!(
                "querycomb: the command failed ({})",
                describe_status(self.status)
            );
        }
        if self.findings_failed > 0 {
            let level = format!("{fail_on:?}").to_lowercase();
            eprintln!(
                "querycomb: {} finding(s) at or above --fail-on {level}",
                self.findings_failed
            );
        }
        if self.over_budget > 0 {
            eprintln!(
                "querycomb: query budget exceeded ({} over-budget finding(s))",
                self.over_budget
            );
        }
        if self.regressed {
            eprintln!("querycomb: regressed against the baseline");
        }
        let _ = io::stderr().flush();
        if child != 0 {
            child
        } else if self.findings_failed > 0 || self.over_budget > 0 || self.regressed {
            1
        } else {
            0
        }
    }
}

/// The child's exit code, or 128 + the signal that ended it, as shells report it.
fn child_code(status: ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(1),
        (None, Some(signal)) => u8::try_from((128 + signal) & 0xff).unwrap_or(1),
        (None, None) => 1,
    }
}

fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "unknown status".to_owned(),
    }
}

/// An environment of fixed `(name, value)` pairs, read the way `std::env::var` is, for
/// tests of code that takes its environment as a function.
#[cfg(test)]
pub(crate) fn env(
    pairs: &'static [(&'static str, &'static str)],
) -> impl Fn(&str) -> Option<String> {
    move |name| {
        pairs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 40000))
    }

    #[test]
    fn rewrites_host_and_port_only() {
        let cases = [
            (
                "postgres://app:s%40cret@db.internal:5433/shop?sslmode=disable&application_name=x",
                "postgres://app:s%40cret@127.0.0.1:40000/shop?sslmode=disable&application_name=x",
            ),
            (
                "postgresql://localhost/db",
                "postgresql://127.0.0.1:40000/db",
            ),
            ("postgres://u@[::1]:5432", "postgres://u@127.0.0.1:40000"),
            (
                "postgres://u:p@h1:1,h2:2/db",
                "postgres://u:p@127.0.0.1:40000/db",
            ),
        ];
        for (from, to) in cases {
            assert_eq!(rewrite_url(from, listen()).as_deref(), Some(to), "{from}");
        }
        for (from, to) in [
            (
                "postgresql+psycopg://u:p@db/x",
                "postgresql+psycopg://u:p@127.0.0.1:40000/x",
            ),
            (
                "jdbc:postgresql://db:5432/x?user=u",
                "jdbc:postgresql://127.0.0.1:40000/x?user=u",
            ),
        ] {
            assert_eq!(rewrite_url(from, listen()).as_deref(), Some(to), "{from}");
        }
        assert_eq!(rewrite_url("mysql://u@h/db", listen()), None);
        assert_eq!(rewrite_url("postgresx://u@h/db", listen()), None);
        assert_eq!(rewrite_url("not a url", listen()), None);
    }

    #[test]
    fn upstream_comes_from_the_url_then_pg_variables_then_the_default() {
        assert_eq!(
            upstream_from_env(env(&[("DATABASE_URL", "postgres://u:p@db:6000/x")])),
            "db:6000"
        );
        assert_eq!(
            upstream_from_env(env(&[
                ("DATABASE_URL", "postgres://u@[::1]/x"),
                ("PGPORT", "7")
            ])),
            "[::1]:7"
        );
        assert_eq!(
            upstream_from_env(env(&[("PGHOST", "pg"), ("PGPORT", "5444")])),
            "pg:5444"
        );
        assert_eq!(
            upstream_from_env(env(&[("PGHOST", "/var/run/postgresql")])),
            "127.0.0.1:5432"
        );
        assert_eq!(upstream_from_env(env(&[])), "127.0.0.1:5432");
    }

    #[test]
    fn child_env_rewrites_named_url_variables_and_sets_pg_variables() {
        let get = |name: &str| match name {
            "DATABASE_URL" => Some("postgres://u@db:1/a".to_owned()),
            "READ_URL" => Some("postgres://u@replica:2/a".to_owned()),
            _ => None,
        };
        let env = child_env(
            &["READ_URL".to_owned(), "MISSING".to_owned()],
            listen(),
            get,
        );
        assert_eq!(
            env,
            vec![
                (
                    "DATABASE_URL".to_owned(),
                    "postgres://u@127.0.0.1:40000/a".to_owned()
                ),
                (
                    "READ_URL".to_owned(),
                    "postgres://u@127.0.0.1:40000/a".to_owned()
                ),
                ("PGHOST".to_owned(), "127.0.0.1".to_owned()),
                ("PGPORT".to_owned(), "40000".to_owned()),
            ]
        );
    }
}

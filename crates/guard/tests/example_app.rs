//! The example application (examples/rust-axum-graphql: axum + async-graphql + sqlx, its
//! own cargo workspace built by `scripts/setup-test-deps.sh guard` into
//! target/e2e/rust, the Rust e2e projects' shared target dir) on a throwaway PostgreSQL:
//! - its own test suite passes: the layer finds exactly the resolver N+1 and the REST count
//!   in a loop with the right parent, child and N and nothing in their twins;
//!   `assert_max_queries!` fails on the N+1 route and passes on the twin; the DataLoader
//!   makes ⌈N / max batch⌉ queries; the budget middleware answers 500 over budget;
//! - `querycomb proxy` in front of the same application reports the same findings as the
//!   in-process layer (same signatures, kinds, parents, children and counts).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use querycomb_core::Finding;
use querycomb_report::json::{parse_line, Line};
use querycomb_testkit::{PgOptions, PgServer};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn manifest() -> PathBuf {
    repo_root().join("examples/rust-axum-graphql/Cargo.toml")
}

/// The example's build, made by `scripts/setup-test-deps.sh guard` before the tests (a test
/// never builds or installs: it fails, naming the command, when the build is missing).
fn target_dir() -> PathBuf {
    querycomb_testkit::deps::rust_target("rust-guard")
}

fn setup() {
    target_dir();
}

fn start_pg() -> PgServer {
    let pg = PgServer::start(PgOptions::default()).expect("start PostgreSQL");
    pg.createdb("shop").expect("createdb shop");
    pg
}

#[test]
fn example_app_suite_passes_on_postgres() {
    setup();
    let pg = start_pg();
    let out = Command::new("cargo")
        .env("CARGO_TARGET_DIR", target_dir())
        .env("DATABASE_URL", pg.url("shop"))
        .args(["test", "--offline", "--locked", "--manifest-path"])
        .arg(manifest())
        .output()
        .expect("run cargo test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("test result: ok. 5 passed; 0 failed"),
        "{stdout}\n{stderr}"
    );
}

/// The latest version of each finding of a JSON lines file, by signature.
fn guard_findings(path: &Path) -> Vec<Finding> {
    let text = std::fs::read_to_string(path).expect("the guard's findings file");
    let mut latest = BTreeMap::new();
    let mut summary = false;
    for line in text.lines() {
        match parse_line(line).unwrap_or_else(|e| panic!("{line}: {e:?}")) {
            Line::Finding(f) => {
                latest.insert(f.signature.clone(), *f);
            }
            Line::Summary(_) => summary = true,
            Line::Sources(_) => {}
        }
    }
    assert!(summary, "no summary line: {text}");
    latest.into_values().collect()
}

/// Kind, signature, parent, children, count.
type Essentials = (String, String, Option<String>, Vec<String>, u32);

/// What must agree: kind, signature (kind + parent and child fingerprints), the normalised
/// parent and children, N.
fn essentials(findings: &[Finding]) -> Vec<Essentials> {
    let mut out: Vec<_> = findings
        .iter()
        .map(|f| {
            (
                f.kind.id().to_owned(),
                f.signature.clone(),
                f.parent.as_ref().map(|p| p.normalized.clone()),
                f.children.iter().map(|c| c.normalized.clone()).collect(),
                f.count,
            )
        })
        .collect();
    out.sort();
    out
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[test]
fn querycomb_proxy_in_front_of_the_app_finds_what_the_guard_finds() {
    setup();
    let pg = start_pg();
    let dir = tempfile::tempdir().unwrap();
    let guard_file = dir.path().join("guard.jsonl");

    // `querycomb proxy --idle-gap-ms 300` (the CLI runs this same function).
    let port = free_port();
    let listen = format!("127.0.0.1:{port}").parse().unwrap();
    let config = querycomb_proxy::ProxyConfig::new(listen, format!("127.0.0.1:{}", pg.port()));
    let detect = querycomb_detect::Config {
        idle_gap_ms: 300,
        ..querycomb_detect::Config::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let proxy = runtime.spawn(querycomb_proxy::run(config, detect, |_| {}, None, async {
        let _ = stopped.await;
    }));
    std::thread::sleep(Duration::from_millis(200));

    let through_proxy = pg
        .url("shop")
        .replace(&format!(":{}/", pg.port()), &format!(":{port}/"));
    let out = Command::new(target_dir().join("debug/workload"))
        .env("DATABASE_URL", &through_proxy)
        .env("QUERYCOMB_FINDINGS", &guard_file)
        .env("PAUSE_MS", "800")
        .output()
        .expect("run the example's workload");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = stop.send(());
    let report = runtime
        .block_on(proxy)
        .expect("proxy task")
        .expect("proxy ran");

    let by_guard = guard_findings(&guard_file);
    let by_proxy = &report.analysis.findings;
    let kinds: Vec<_> = by_guard.iter().map(|f| f.kind.id()).collect();
    assert_eq!(kinds.len(), 2, "{by_guard:#?}");
    assert!(
        kinds.contains(&"n_plus_one") && kinds.contains(&"count_in_loop"),
        "{by_guard:#?}"
    );
    // Every finding of the guard is the proxy's too, with the same parent, child and N.
    let on_the_wire = essentials(by_proxy);
    for finding in essentials(&by_guard) {
        assert!(
            on_the_wire.contains(&finding),
            "the proxy missed {finding:?}\nguard: {by_guard:#?}\nproxy: {by_proxy:#?}"
        );
    }
    // The proxy may see one more: when the loader dispatched its keys over several
    // scheduling rounds (a loaded machine), its `= ANY($1)` batches are a loop of short
    // lists, which the proxy tells apart by their bind values and the guard cannot (sqlx
    // reports none). Nothing else.
    for extra in by_proxy
        .iter()
        .filter(|f| !essentials(&by_guard).contains(&essentials(std::slice::from_ref(*f))[0]))
    {
        assert_eq!(extra.kind.id(), "n_plus_one", "{extra:#?}");
        assert!(
            extra
                .children
                .iter()
                .all(|c| c.normalized.contains("= ANY($1)")),
            "an extra finding that is not a loop of loader batches: {extra:#?}"
        );
    }
}

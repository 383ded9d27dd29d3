//! Request-level accuracy on real stacks (docs/accuracy.md): the corpus under tests/accuracy/
//! — Django ORM, asyncpg with a pool, a SKIP LOCKED job worker, node-postgres with a pool, a
//! GraphQL resolver stack with and without DataLoader, SQLAlchemy, ActiveRecord and
//! Hibernate with a pool on two threads, GORM on two goroutines — runs labelled requests
//! through the proxy against a throwaway PostgreSQL that writes its stderr, csvlog and
//! jsonlog logs at once, untagged and then tagged with sqlcommenter trace ids. Each log, and
//! the events the proxy observed, are analysed, as recorded and with seeded application stalls injected
//! inside requests (a loaded machine, deterministically), and every finding, in every
//! request it was found in, is matched with the labels.
//!
//! Ground truth: every statement of a request carries `/*qc_req='<id>'*/`, a comment
//! querycomb's grouping does not read; a labels file says which finding each request must
//! produce. A request counts as found when one finding's repeated statements all belong to
//! it, with the expected kind and count; a finding whose statements belong to a request
//! without that finding (or to several requests) is a false positive.
//!
//! Untagged numbers depend on the timing of real traffic (pool scheduling, pauses on a busy
//! machine), so the test asserts what does not: tagged traffic is exact (every labelled
//! request found with its kind and count, no false flag), and untagged, no request that
//! should produce nothing is ever flagged (a precision trap: health checks, pool resets,
//! queue polling, introspection, batched twins). Untagged misses, and findings that join two
//! N+1 requests, are printed with the table (docs/accuracy.md explains each class).

mod accuracy_support;
mod run_support;

use std::fs;
use std::path::Path;
use std::process::Command;

use accuracy_support::{
    conclude, labelled, read_events, read_labels, report, score, stalled, table,
};
use querycomb_core::{Location, OwnedEvent, SourceId};
use querycomb_detect::Config;
use querycomb_logs::LogFormat;
use querycomb_sql::Dialect;
use querycomb_testkit::deps;
use querycomb_testkit::{PgOptions, PgServer};
use run_support::{e2e_cache, repo_root};
use serde_json::Value;

/// Runs every stack of the corpus in both modes, connecting through the proxy at `port`;
/// returns the labels file.
fn run_corpus(pg: &PgServer, port: u16, dir: &Path) -> std::path::PathBuf {
    let through_proxy = |address: String| {
        address
            .replace(&format!("port={}", pg.port()), &format!("port={port}"))
            .replace(&format!(":{}/", pg.port()), &format!(":{port}/"))
    };
    let labels = dir.join("labels.jsonl");
    let python = deps::require(
        "the accuracy corpus's Python venv",
        e2e_cache().join("accuracy-venv/bin/python"),
    );
    let node_modules = deps::require(
        "the accuracy corpus's npm packages",
        e2e_cache().join("accuracy-node/node_modules"),
    );
    let node = deps::require_program("node");
    let ruby = deps::require_program("ruby");
    let java = JavaCorpus::compile(dir);
    let corpus = repo_root().join("tests/accuracy");
    for mode in ["untagged", "tagged"] {
        for stack in ["django", "asyncpg", "worker", "sqlalchemy-pg"] {
            run_stack(
                Command::new(&python)
                    .arg(corpus.join("python/corpus.py"))
                    .args([stack, &through_proxy(pg.conn_str("shop")), mode])
                    .arg(&labels),
                &format!("python corpus {stack} {mode}"),
            );
        }
        for stack in ["pg-pool", "graphql"] {
            run_stack(
                Command::new(&node)
                    .env("NODE_PATH", &node_modules)
                    .arg(corpus.join("node/corpus.js"))
                    .args([stack, &through_proxy(pg.url("shop")), mode])
                    .arg(&labels),
                &format!("node corpus {stack} {mode}"),
            );
        }
        run_stack(
            Command::new(&ruby)
                .arg(corpus.join("ruby/corpus.rb"))
                .args(["activerecord", &through_proxy(pg.url("shop")), mode])
                .arg(&labels),
            &format!("ruby corpus activerecord {mode}"),
        );
        run_stack(
            java.command(pg, port, mode).arg(&labels),
            &format!("java corpus hibernate {mode}"),
        );
        run_stack(
            go_command(&through_proxy(pg.url("shop")), mode, dir).arg(&labels),
            &format!("go corpus gorm {mode}"),
        );
    }
    labels
}

/// Runs one stack of the corpus to its end; it must succeed.
fn run_stack(command: &mut Command, what: &str) {
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("run the {what}: {e}"));
    assert!(status.success(), "{what}: {status}");
}

/// The Go stack (tests/accuracy/go, GORM v1 on lib/pq from Debian), built in GOPATH mode with
/// its build cache in the run's directory.
fn go_command(url: &str, mode: &str, dir: &Path) -> Command {
    deps::require(
        "GORM v1 (scripts/setup-test-deps.sh accuracy)",
        "/usr/share/gocode/src/github.com/jinzhu/gorm".into(),
    );
    let gopath = std::env::join_paths([
        repo_root().join("tests/accuracy/go"),
        "/usr/share/gocode".into(),
    ])
    .expect("GOPATH");
    let mut command = Command::new(deps::require_program("go"));
    command
        .args(["run", "gormcorpus", "gorm"])
        .arg(format!("{url}?sslmode=disable"))
        .arg(mode)
        .current_dir(repo_root().join("tests/accuracy/go/src/gormcorpus"))
        .env("GO111MODULE", "off")
        .env("GOPATH", gopath)
        .env("GOCACHE", dir.join("gocache"))
        .env("GOFLAGS", "");
    command
}

/// The Java stack (tests/accuracy/java, Hibernate 3.6 on pgjdbc from Debian), compiled with
/// javac into the run's directory.
struct JavaCorpus {
    classpath: std::ffi::OsString,
}

impl JavaCorpus {
    fn compile(dir: &Path) -> JavaCorpus {
        let jars = deps::hibernate_classpath();
        let classes = dir.join("java-classes");
        let source = repo_root().join("tests/accuracy/java/Corpus.java");
        deps::compile_java(&jars, &[source], &classes);
        let classpath =
            std::env::join_paths(std::iter::once(classes).chain(jars)).expect("class path");
        JavaCorpus { classpath }
    }

    /// The run of one mode, through the proxy at `port`.
    fn command(&self, pg: &PgServer, port: u16, mode: &str) -> Command {
        let url = format!("jdbc:postgresql://127.0.0.1:{port}/shop?sslmode=disable");
        let mut command = Command::new(deps::require_program("java"));
        command.arg("-cp").arg(&self.classpath).arg("Corpus").args([
            "hibernate",
            url.as_str(),
            pg.user(),
            pg.password(),
            mode,
        ]);
        command
    }
}

#[test]
fn request_level_recall_and_precision_on_real_stacks() {
    let pg = PgServer::start(PgOptions {
        conf: vec![
            "timezone = 'UTC'".into(),
            "log_timezone = 'UTC'".into(),
            "log_destination = 'stderr,csvlog,jsonlog'".into(),
            "log_statement = 'all'".into(),
            "log_line_prefix = '%m [%p] %q%u@%d '".into(),
        ],
        ..PgOptions::default()
    })
    .expect("start PostgreSQL");
    pg.createdb("shop").expect("createdb");
    pg.psql_file(
        "shop",
        "accuracy",
        &repo_root().join("tests/accuracy/schema.sql"),
    )
    .expect("load the schema");
    let dir = tempfile::tempdir().expect("temp dir");
    let proxy = ProxyTap::start(&pg);
    let labels_path = run_corpus(&pg, proxy.addr.port(), dir.path());
    let proxied = proxy.stop();
    pg.psql("shop", "SELECT 'accuracy-corpus-done'")
        .expect("sentinel");
    for file in ["postgresql.log", "postgresql.csv", "postgresql.json"] {
        pg.wait_for_log(file, "accuracy-corpus-done")
            .expect("log flushed");
    }
    if let Some(keep) = std::env::var_os("QUERYCOMB_ACCURACY_KEEP") {
        keep_logs(&pg.log_dir(), &labels_path, Path::new(&keep));
        keep_proxy_events(&proxied, Path::new(&keep));
    }
    score_logs(&pg.log_dir(), &labels_path, Some(proxied));
}

/// The proxy in front of the server, on its own runtime, with every event it observes
/// tapped (the events its own detection stage reads).
struct ProxyTap {
    addr: std::net::SocketAddr,
    runtime: tokio::runtime::Runtime,
    events: std::sync::mpsc::Receiver<OwnedEvent>,
    stop: tokio::sync::oneshot::Sender<()>,
    served: tokio::task::JoinHandle<std::io::Result<querycomb_proxy::ProxyReport>>,
}

impl ProxyTap {
    fn start(pg: &PgServer) -> ProxyTap {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime for the proxy");
        let config = querycomb_proxy::ProxyConfig::new(
            "127.0.0.1:0".parse().expect("an address"),
            format!("127.0.0.1:{}", pg.port()),
        );
        let (mut proxy, events) = runtime.block_on(async {
            let mut proxy = querycomb_proxy::Proxy::bind(config)
                .await
                .expect("bind the proxy");
            let events = proxy.tap_events();
            (proxy, events)
        });
        proxy.detector(querycomb_proxy::pipeline_detector(Config::default()));
        let addr = proxy.local_addr().expect("the proxy's address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = runtime.spawn(proxy.serve(async {
            let _ = stopped.await;
        }));
        ProxyTap {
            addr,
            runtime,
            events,
            stop,
            served,
        }
    }

    /// Stops the proxy (every client has gone); the events it saw, in the order its
    /// detection stage read them.
    fn stop(self) -> Vec<OwnedEvent> {
        let _ = self.stop.send(());
        self.runtime
            .block_on(self.served)
            .expect("the proxy task")
            .expect("the proxy served");
        self.events.try_iter().collect()
    }
}

/// Re-scores the logs a run kept with `QUERYCOMB_ACCURACY_KEEP=<dir>`: the same recorded
/// traffic, scored again after a change to grouping, so that two versions are compared on
/// identical input (a developer's tool; the test above is the proof).
#[test]
#[ignore = "developer tool: set QUERYCOMB_ACCURACY_KEPT to a directory kept by QUERYCOMB_ACCURACY_KEEP"]
fn rescore_kept_logs() {
    let kept = std::env::var_os("QUERYCOMB_ACCURACY_KEPT")
        .expect("QUERYCOMB_ACCURACY_KEPT names a directory kept by QUERYCOMB_ACCURACY_KEEP");
    let kept = Path::new(&kept);
    // Runs kept before the corpus went through the proxy have no proxy events.
    let proxied = fs::read_to_string(kept.join("proxy.jsonl"))
        .ok()
        .map(|text| text.lines().map(event_of_line).collect());
    score_logs(kept, &kept.join("labels.jsonl"), proxied);
}

const LOGS: [(&str, LogFormat); 3] = [
    ("postgresql.log", LogFormat::PgStderr),
    ("postgresql.csv", LogFormat::PgCsv),
    ("postgresql.json", LogFormat::PgJson),
];

/// The fields of a proxy event that grouping and detection read, one JSON object a line.
fn keep_proxy_events(events: &[OwnedEvent], keep: &Path) {
    let lines: Vec<String> = events
        .iter()
        .map(|e| {
            serde_json::json!({
                "line": e.location.line, "byte": e.location.byte, "time": e.time,
                "duration_us": e.duration_us, "session": e.session, "user": e.user,
                "database": e.database, "application": e.application, "sql": e.sql,
                "params": e.params, "prepared_name": e.prepared_name, "rows": e.rows,
                "error": e.error, "in_transaction": e.in_transaction,
                "result": e.links.result, "parent_result": e.links.parent_result,
            })
            .to_string()
        })
        .collect();
    fs::write(keep.join("proxy.jsonl"), lines.join("\n")).expect("keep the proxy's events");
}

fn event_of_line(line: &str) -> OwnedEvent {
    let v: Value = serde_json::from_str(line).expect("a kept proxy event");
    let text = |k: &str| v[k].as_str().map(str::to_owned);
    OwnedEvent {
        location: Location {
            source: SourceId(0),
            line: v["line"].as_u64().unwrap_or_default(),
            byte: v["byte"].as_u64().unwrap_or_default(),
        },
        time: v["time"].as_i64(),
        duration_us: v["duration_us"].as_u64(),
        session: text("session").unwrap_or_default(),
        user: text("user"),
        database: text("database"),
        application: text("application"),
        sql: text("sql").unwrap_or_default(),
        params: text("params"),
        prepared_name: text("prepared_name"),
        rows: v["rows"].as_u64(),
        error: text("error"),
        in_transaction: v["in_transaction"].as_bool(),
        links: querycomb_core::ValueLinks {
            result: v["result"].as_u64(),
            parent_result: v["parent_result"].as_u64(),
        },
        ..OwnedEvent::default()
    }
}

fn keep_logs(log_dir: &Path, labels: &Path, keep: &Path) {
    fs::create_dir_all(keep).expect("create the directory to keep logs in");
    for (file, _) in LOGS {
        fs::copy(log_dir.join(file), keep.join(file)).expect("keep a log");
    }
    fs::copy(labels, keep.join("labels.jsonl")).expect("keep the labels");
}

/// Scores every log format, as recorded and stalled; prints the table and fails on what the
/// test does not allow.
fn score_logs(log_dir: &Path, labels_path: &Path, proxied: Option<Vec<OwnedEvent>>) {
    let labels = read_labels(labels_path);
    let mut table = table();
    let mut problems = Vec::new();
    // A kept run has all three logs; a generated one (bench/gen-pool-log.py) the first.
    let mut sources: Vec<(&str, Vec<OwnedEvent>)> = LOGS
        .iter()
        .filter(|(file, _)| log_dir.join(file).exists())
        .map(|(file, format)| (format.id(), read_events(&log_dir.join(file), *format)))
        .collect();
    assert!(!sources.is_empty(), "no log in {}", log_dir.display());
    sources.extend(proxied.map(|events| ("proxy", events)));
    for (name, events) in sources {
        let label_at = labelled(&events);
        let stalls = stalled(&events, &label_at);
        for (timing, events) in [("recorded", &events), ("stalled", &stalls)] {
            let scores = score(events, Dialect::Postgres, &label_at, &labels);
            let source = format!("{name} {timing}");
            report(&source, &scores, &labels, &mut table, &mut problems);
        }
    }
    conclude(&table, &problems);
}

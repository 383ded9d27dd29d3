//! Shared by the trace tests: the traced node-postgres app of tests/e2e/otel-node and the
//! findings it must produce, whatever carries its spans to querycomb.

// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

use crate::run_support::*;

pub fn node_modules() -> PathBuf {
    let dir = e2e_cache().join("otel-node/node_modules");
    assert!(
        dir.join("@opentelemetry/instrumentation-pg").is_dir(),
        "{} is missing: run scripts/setup-test-deps.sh otel-node first",
        dir.display()
    );
    dir
}

/// The app's command against `pg`, exporting as `export` says (see app.js); callers add the
/// environment of the workload they want.
pub fn app_command(pg: &querycomb_testkit::PgServer, export: &str) -> Command {
    let mut command = Command::new("node");
    command
        .arg(repo_root().join("tests/e2e/otel-node/app.js"))
        .env("NODE_PATH", node_modules())
        .env("DATABASE_URL", pg.url("shop"))
        .env("QC_EXPORT", export);
    command
}

/// Runs the app once against `pg`, exporting as `export` says (see app.js).
pub fn run_app(pg: &querycomb_testkit::PgServer, export: &str, processor: &str) {
    let status = app_command(pg, export)
        .env("QC_PROCESSOR", processor)
        .status()
        .expect("run node");
    assert!(status.success(), "the traced app failed: {status}");
}

/// One line per finding: kind, route, N × child, whether children overlapped, parent. How
/// many ran at once depends on timing; that some did does not.
pub fn finding_lines(findings: &[serde_json::Value]) -> Vec<String> {
    findings
        .iter()
        .map(|f| {
            format!(
                "{} {} {}×{} concurrent={} parent={}",
                f["kind"].as_str().unwrap_or_default(),
                f["request"]["route"].as_str().unwrap_or_default(),
                f["count"],
                f["children"][0]["normalized"].as_str().unwrap_or_default(),
                f["concurrency"]
                    .as_u64()
                    .is_some_and(|n| (2..=8).contains(&n)),
                f["parent"]["normalized"].as_str().unwrap_or_default(),
            )
        })
        .collect()
}

/// The two findings every transport must give, and nothing else.
pub fn assert_app_findings(findings: &[serde_json::Value]) {
    let summary = finding_lines(findings);
    assert_eq!(
        summary,
        [
            "n_plus_one /books 8×SELECT id, name FROM authors WHERE id = $1 concurrent=false \
             parent=SELECT id, title, author_id FROM books ORDER BY id",
            "n_plus_one /books-concurrent 8×SELECT name FROM authors WHERE id = $1 \
             concurrent=true parent=SELECT id, title, author_id FROM books ORDER BY title",
        ],
        "{findings:#?}"
    );
    for f in findings {
        assert_eq!(f["request"]["kind"], "trace");
        assert_eq!(f["request"]["session"], "shop-api");
        let trace = f["request"]["trace_id"].as_str().unwrap_or_default();
        assert_eq!(trace.len(), 32, "{f}");
    }
}

/// A running `querycomb collect` on free ports, writing its JSON report and findings lines
/// into a temp dir.
pub struct Collector {
    pub child: std::process::Child,
    pub grpc: u16,
    pub http: u16,
    pub dir: tempfile::TempDir,
}

impl Collector {
    /// Starts it and waits until both ports accept connections. A free port can be taken
    /// by another test between finding it and binding it, so a collector that exits at
    /// start is started again on new ports; the last one's stderr fails the test.
    pub fn start(extra: &[&str]) -> Collector {
        querycomb_testkit::start_with_retries("querycomb collect", || Collector::try_start(extra))
            .unwrap_or_else(|error| panic!("{error}"))
    }

    fn try_start(extra: &[&str]) -> std::io::Result<Collector> {
        let dir = tempfile::tempdir().unwrap();
        let (grpc, http) = (
            querycomb_testkit::free_port()?,
            querycomb_testkit::free_port()?,
        );
        let child = querycomb(None)
            .args(["collect", "--format", "json", "--fail-on", "never"])
            .args(["--grpc", &format!("127.0.0.1:{grpc}")])
            .args(["--http", &format!("127.0.0.1:{http}")])
            .arg("--findings-out")
            .arg(dir.path().join("findings.jsonl"))
            .arg("-o")
            .arg(dir.path().join("report.json"))
            .args(extra)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start querycomb collect");
        let mut collector = Collector {
            child,
            grpc,
            http,
            dir,
        };
        for port in [grpc, http] {
            let mut tries = 0;
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                if collector.child.try_wait()?.is_some() {
                    return Err(std::io::Error::other(format!(
                        "querycomb collect exited at start:\n{}",
                        collector.stderr()
                    )));
                }
                tries += 1;
                if tries >= 600 {
                    let _ = collector.child.kill();
                    panic!(
                        "querycomb collect did not listen on {port} in 30 s:\n{}",
                        collector.stderr()
                    );
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        Ok(collector)
    }

    /// What the (exited or killed) collector wrote to stderr.
    fn stderr(&mut self) -> String {
        use std::io::Read;
        let _ = self.child.wait();
        let mut text = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = stderr.read_to_string(&mut text);
        }
        text
    }

    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1/traces", self.http)
    }

    /// SIGTERM, then the exit status, stderr and the report's findings.
    pub fn stop(self) -> (Ran, Vec<serde_json::Value>, Vec<serde_json::Value>) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let output = self.child.wait_with_output().expect("wait for collect");
        let ran = ran(output);
        assert_eq!(ran.code, Some(0), "{}", ran.stderr);
        let findings = findings_of(&self.dir.path().join("report.json"));
        let lines = std::fs::read_to_string(self.dir.path().join("findings.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a finding per line"))
            .collect();
        (ran, findings, lines)
    }
}

//! `querycomb proxy` as a user runs it: TLS from flags, live budgets from a budgets file
//! with `--enforce reject`, a budgets reload on SIGHUP, a drain on SIGTERM, and the
//! `--findings-out` JSON lines.

mod run_support;

use std::fs;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use querycomb_testkit::{free_port, PgServer};
use run_support::*;

fn psql(pg: &PgServer, port: u16, sslmode: &str, script: &str) -> Ran {
    let mut child = Command::new("psql")
        .args([
            "-X",
            "-A",
            "-t",
            "-h",
            "127.0.0.1",
            "-U",
            pg.user(),
            "-d",
            "shop",
        ])
        .args(["-p", &port.to_string()])
        .env("PGPASSWORD", pg.password())
        .env("PGSSLMODE", sslmode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write");
    ran(child.wait_with_output().expect("psql"))
}

fn books(route: &str, count: usize) -> String {
    (1..=count)
        .map(|id| format!("SELECT title FROM books WHERE id = {id} /*route='{route}'*/;\n"))
        .collect()
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

fn self_signed(dir: &Path) -> (String, String) {
    let (cert, key) = (dir.join("proxy.crt"), dir.join("proxy.key"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success(), "openssl req failed");
    (cert.display().to_string(), key.display().to_string())
}

#[test]
fn enforced_budgets_reload_on_sighup_and_the_proxy_drains_on_sigterm() {
    let pg = start_pg(true);
    let dir = tempfile::tempdir().expect("temp dir");
    let budgets = dir.path().join("budgets.toml");
    let strict = "[[budgets.route]]\nroute = \"/books*\"\nmax_statements = 2\n";
    fs::write(&budgets, strict).expect("write budgets");
    let (cert, key) = self_signed(dir.path());
    let port = free_port().expect("port");
    let findings = dir.path().join("findings.jsonl");
    let stderr_path = dir.path().join("stderr.txt");
    let mut proxy = querycomb(None)
        .args(["proxy", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--upstream", &format!("127.0.0.1:{}", pg.port())])
        .args(["--enforce", "reject", "--budgets"])
        .arg(&budgets)
        .args([
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--tls-mode",
            "require",
        ])
        .arg("--findings-out")
        .arg(&findings)
        .args(["--format", "json", "--output"])
        .arg(dir.path().join("report.json"))
        .stdout(Stdio::null())
        .stderr(fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("start querycomb proxy");
    wait_for("the proxy to listen", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });

    let refused = psql(&pg, port, "require", &books("/books/a", 3));
    assert_eq!(refused.stdout, "book 1\nbook 2\n", "{refused:?}");
    assert!(
        refused.stderr.contains(
            "ERROR:  querycomb: query budget exceeded on route /books/a: max_statements = 2, this request is at 3"
        ),
        "{refused:?}"
    );
    let plaintext = psql(&pg, port, "disable", "SELECT 1;");
    assert!(
        plaintext.stderr.contains("TLS is required"),
        "{plaintext:?}"
    );

    fs::write(&budgets, strict.replace("= 2", "= 5")).expect("rewrite budgets");
    signal(&proxy, "HUP");
    wait_for("the reload", || {
        fs::read_to_string(&stderr_path)
            .unwrap_or_default()
            .contains("reloaded")
    });
    let allowed = psql(&pg, port, "require", &books("/books/b", 3));
    assert_eq!(allowed.stdout, "book 1\nbook 2\nbook 3\n", "{allowed:?}");

    signal(&proxy, "TERM");
    let status = proxy.wait().expect("proxy exit");
    assert!(status.code().is_some(), "exited, not killed: {status:?}");
    let lines = fs::read_to_string(&findings).expect("findings-out");
    let first = lines.lines().next().unwrap_or_default();
    let last = lines.lines().last().unwrap_or_default();
    assert!(first.contains("\"sources\":[\"proxy 127.0.0.1:"), "{lines}");
    assert!(last.contains("\"summary\":"), "{lines}");
    assert!(lines
        .lines()
        .all(|l| l.contains("\"schema\":\"querycomb.findings/v1\"")));
}

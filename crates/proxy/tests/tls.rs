//! TLS through the proxy with real clients: psql and psycopg (libpq) with `sslmode=require`
//! to the proxy, the proxy's own TLS to a PostgreSQL server with `ssl = on` in every mode,
//! SCRAM over both legs, GSSENCRequest refused, cancel over TLS, and a certificate reload
//! that new handshakes see while open connections keep going.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{raw_client, read_until_ready, simple_query, start_server, startup_packet, Harness};
use querycomb_proxy::{ClientTlsMode, Proxy, ProxyConfig, TlsConfig, UpstreamTlsMode};
use querycomb_testkit::{Auth, PgOptions};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

/// A CA and certificates it signed, as PEM files in a temp dir.
struct Pki {
    dir: tempfile::TempDir,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

impl Pki {
    fn new() -> Pki {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "querycomb test CA");
        let ca = params.self_signed(&ca_key).expect("CA cert");
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = Pki { dir, ca, ca_key };
        std::fs::write(pki.path("ca.pem"), pki.ca.pem()).expect("write CA");
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A certificate for 127.0.0.1 named `cn`: (cert PEM, key PEM).
    fn issue(&self, cn: &str) -> (String, String) {
        let key = KeyPair::generate().expect("key");
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("params");
        params.distinguished_name.push(DnType::CommonName, cn);
        let cert = params
            .signed_by(&key, &self.ca, &self.ca_key)
            .expect("sign");
        (cert.pem(), key.serialize_pem())
    }

    /// Issues `cn` into `<name>.crt` / `<name>.key`; returns their paths.
    fn issue_files(&self, name: &str, cn: &str) -> (PathBuf, PathBuf) {
        let (cert, key) = self.issue(cn);
        let (cert_path, key_path) = (
            self.path(&format!("{name}.crt")),
            self.path(&format!("{name}.key")),
        );
        std::fs::write(&cert_path, cert).expect("write cert");
        std::fs::write(&key_path, key).expect("write key");
        (cert_path, key_path)
    }
}

fn client_tls(pki: &Pki, mode: ClientTlsMode) -> TlsConfig {
    let (cert, key) = pki.issue_files("proxy", "querycomb proxy");
    TlsConfig {
        client_mode: mode,
        cert: Some(cert),
        key: Some(key),
        ..TlsConfig::default()
    }
}

fn psql_with(h: &Harness, addr: SocketAddr, extra: &str, sql: &str) -> Output {
    let conninfo = format!(
        "host=127.0.0.1 port={} user={} dbname=postgres {extra}",
        addr.port(),
        h.pg.user()
    );
    Command::new("psql")
        .args(["-X", "-A", "-t", &conninfo, "-c", sql])
        .env("PGPASSWORD", h.pg.password())
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::null())
        .output()
        .expect("run psql")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn stderr(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "psql succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Another proxy on the harness's runtime, in front of the same server.
fn extra_proxy(h: &Harness, tls: TlsConfig) -> SocketAddr {
    let mut config = ProxyConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        format!("127.0.0.1:{}", h.pg.port()),
    );
    config.tls = tls;
    config.quiet = true;
    let proxy = h.rt.block_on(Proxy::bind(config)).expect("bind");
    let addr = proxy.local_addr().expect("addr");
    h.rt.spawn(proxy.serve(std::future::pending()));
    addr
}

const SSL_IN_USE: &str = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

#[test]
fn psql_over_tls_to_the_proxy_with_scram_and_a_plaintext_upstream() {
    let pki = Pki::new();
    let tls = client_tls(&pki, ClientTlsMode::Require);
    let h = start_server(
        PgOptions {
            auth: Auth::Scram,
            ..PgOptions::default()
        },
        |c| c.tls = tls,
        |_| {},
    );

    // libpq's default channel_binding=prefer: the server offers no -PLUS over plaintext,
    // the client (on TLS) says so ("y"), and the server accepts.
    let root = pki.path("ca.pem");
    let verified = format!("sslmode=verify-full sslrootcert={}", root.display());
    let conninfo = psql_with(&h, h.addr, &verified, "\\conninfo");
    assert!(stdout(&conninfo).contains("SSL connection"), "{conninfo:?}");
    let upstream_ssl = psql_with(
        &h,
        h.addr,
        &verified,
        &format!("{SSL_IN_USE} /*route='tls'*/"),
    );
    assert_eq!(
        stdout(&upstream_ssl),
        "f",
        "the proxy's upstream leg is plaintext here"
    );
    let events = h.wait_events(1);
    assert!(
        events.iter().any(|e| e.sql.ends_with("/*route='tls'*/")),
        "statements are observed inside TLS: {events:?}"
    );
    let refused = psql_with(&h, h.addr, "sslmode=disable", "SELECT 1");
    assert!(stderr(&refused).contains("TLS is required"), "{refused:?}");
}

#[test]
fn without_tls_the_proxy_answers_like_a_server_without_it() {
    let h = start_server(PgOptions::default(), |_| {}, |_| {});
    let out = psql_with(&h, h.addr, "sslmode=require", "SELECT 1");
    assert!(
        stderr(&out).contains("server does not support SSL"),
        "{out:?}"
    );
    assert_eq!(
        stdout(&psql_with(&h, h.addr, "sslmode=prefer", "SELECT 1")),
        "1"
    );
}

#[test]
fn gssenc_request_is_refused_and_startup_goes_on() {
    let pki = Pki::new();
    let tls = client_tls(&pki, ClientTlsMode::Allow);
    let h = start_server(PgOptions::default(), |c| c.tls = tls, |_| {});
    let mut client = raw_client(h.addr);
    client
        .write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30])
        .expect("GSSENCRequest");
    let mut answer = [0u8; 1];
    client.read_exact(&mut answer).expect("answer");
    assert_eq!(&answer, b"N");
    client
        .write_all(&startup_packet(h.pg.user(), "postgres"))
        .expect("startup");
    let tags = read_until_ready(&mut client).expect("login");
    assert_eq!(tags.first(), Some(&b'R'));
    client.write_all(&simple_query("SELECT 1")).expect("query");
    let tags = read_until_ready(&mut client).expect("result");
    assert_eq!(tags, b"TDCZ");
    // Allow serves plaintext clients as well.
    assert_eq!(
        stdout(&psql_with(&h, h.addr, "sslmode=disable", "SELECT 1")),
        "1"
    );
}

#[test]
fn upstream_tls_in_every_mode() {
    let pki = Pki::new();
    let server_cert = pki.issue("postgres server");
    let h = start_server(
        PgOptions {
            auth: Auth::Scram,
            tls: Some(server_cert),
            ..PgOptions::default()
        },
        |c| {
            c.tls.upstream_mode = UpstreamTlsMode::Require;
        },
        |_| {},
    );
    let plain_client = "sslmode=disable";
    assert_eq!(
        stdout(&psql_with(&h, h.addr, plain_client, SSL_IN_USE)),
        "t"
    );

    let ca = Some(pki.path("ca.pem"));
    let upstream = |mode, name: Option<&str>| TlsConfig {
        upstream_mode: mode,
        upstream_ca: ca.clone(),
        upstream_server_name: name.map(str::to_owned),
        ..TlsConfig::default()
    };
    let full = extra_proxy(&h, upstream(UpstreamTlsMode::VerifyFull, None));
    assert_eq!(stdout(&psql_with(&h, full, plain_client, SSL_IN_USE)), "t");
    let wrong_name = extra_proxy(
        &h,
        upstream(UpstreamTlsMode::VerifyFull, Some("db.example")),
    );
    let refused = stderr(&psql_with(&h, wrong_name, plain_client, SSL_IN_USE));
    assert!(refused.contains("certificate"), "{refused}");
    let ca_only = extra_proxy(&h, upstream(UpstreamTlsMode::VerifyCa, Some("db.example")));
    assert_eq!(
        stdout(&psql_with(&h, ca_only, plain_client, SSL_IN_USE)),
        "t"
    );
    let prefer = extra_proxy(&h, upstream(UpstreamTlsMode::Prefer, None));
    assert_eq!(
        stdout(&psql_with(&h, prefer, plain_client, SSL_IN_USE)),
        "t"
    );
    let other_ca = Pki::new();
    let untrusted = extra_proxy(
        &h,
        TlsConfig {
            upstream_ca: Some(other_ca.path("ca.pem")),
            ..upstream(UpstreamTlsMode::VerifyCa, None)
        },
    );
    let refused = stderr(&psql_with(&h, untrusted, plain_client, SSL_IN_USE));
    assert!(refused.contains("certificate"), "{refused}");

    // TLS on both legs with SCRAM: channel binding would bind to the proxy's certificate,
    // which the server cannot verify; with channel_binding=disable SCRAM passes through.
    let both = extra_proxy(
        &h,
        TlsConfig {
            ..client_tls_with_upstream(&pki, upstream(UpstreamTlsMode::VerifyFull, None))
        },
    );
    let no_binding = "sslmode=require channel_binding=disable";
    assert_eq!(stdout(&psql_with(&h, both, no_binding, SSL_IN_USE)), "t");
    let binding = psql_with(
        &h,
        both,
        "sslmode=require channel_binding=require",
        SSL_IN_USE,
    );
    assert!(
        !binding.status.success(),
        "channel binding cannot pass a terminating proxy"
    );
}

fn client_tls_with_upstream(pki: &Pki, upstream: TlsConfig) -> TlsConfig {
    TlsConfig {
        upstream_mode: upstream.upstream_mode,
        upstream_ca: upstream.upstream_ca,
        upstream_server_name: upstream.upstream_server_name,
        ..client_tls(pki, ClientTlsMode::Require)
    }
}

#[test]
fn upstream_without_tls_fails_require_and_falls_back_under_prefer() {
    let h = start_server(
        PgOptions::default(),
        |c| c.tls.upstream_mode = UpstreamTlsMode::Require,
        |_| {},
    );
    let refused = stderr(&psql_with(&h, h.addr, "sslmode=disable", "SELECT 1"));
    assert!(refused.contains("does not accept TLS"), "{refused}");
    let prefer = extra_proxy(
        &h,
        TlsConfig {
            upstream_mode: UpstreamTlsMode::Prefer,
            ..TlsConfig::default()
        },
    );
    assert_eq!(
        stdout(&psql_with(&h, prefer, "sslmode=disable", SSL_IN_USE)),
        "f"
    );
}

/// The subject line `openssl s_client` prints for the proxy's certificate.
fn presented_subject(addr: SocketAddr) -> String {
    let out = Command::new("openssl")
        .args(["s_client", "-starttls", "postgres", "-connect"])
        .arg(addr.to_string())
        .stdin(Stdio::null())
        .output()
        .expect("run openssl s_client");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find(|l| l.starts_with("subject="))
        .unwrap_or_else(|| panic!("no certificate from the proxy: {text}"))
        .to_owned()
}

#[test]
fn certificates_reload_without_dropping_connections() {
    let pki = Pki::new();
    let (cert, key) = pki.issue_files("proxy", "first certificate");
    let tls = TlsConfig {
        client_mode: ClientTlsMode::Require,
        cert: Some(cert.clone()),
        key: Some(key.clone()),
        ..TlsConfig::default()
    };
    let mut handle = None;
    let h = start_server(
        PgOptions::default(),
        |c| c.tls = tls,
        |p| handle = Some(p.tls()),
    );
    let handle = handle.expect("TLS handle");
    assert!(presented_subject(h.addr).contains("first certificate"));

    // A client that stays connected across the reload.
    let mut open = std::process::Command::new("psql")
        .args(["-X", "-A", "-t"])
        .arg(format!(
            "host=127.0.0.1 port={} user={} dbname=postgres sslmode=require",
            h.addr.port(),
            h.pg.user()
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("psql");
    let mut stdin = open.stdin.take().expect("stdin");
    writeln!(stdin, "SELECT 'before';").expect("write");
    assert_eq!(h.wait_events(1).len(), 1);

    let (new_cert, new_key) = pki.issue_files("next", "second certificate");
    copy(&new_cert, &cert);
    copy(&new_key, &key);
    handle.reload().expect("reload");
    assert!(presented_subject(h.addr).contains("second certificate"));

    writeln!(stdin, "SELECT 'after';").expect("write");
    drop(stdin);
    let out = open.wait_with_output().expect("psql");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "before\nafter\n");

    // A broken file keeps the old material in use and says which file.
    std::fs::write(&key, "not a key").expect("write");
    let error = handle.reload().err().map(|e| e.0).unwrap_or_default();
    assert!(error.contains(&key.display().to_string()), "{error}");
    assert!(presented_subject(h.addr).contains("second certificate"));
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).expect("copy");
}

#[test]
fn psycopg_over_tls_on_both_legs_queries_and_cancels() {
    let pki = Pki::new();
    let server_cert = pki.issue("postgres server");
    let tls = TlsConfig {
        upstream_mode: UpstreamTlsMode::VerifyFull,
        upstream_ca: Some(pki.path("ca.pem")),
        ..client_tls(&pki, ClientTlsMode::Require)
    };
    let h = start_server(
        PgOptions {
            auth: Auth::Scram,
            tls: Some(server_cert),
            ..PgOptions::default()
        },
        |c| c.tls = tls,
        |_| {},
    );
    let python = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../target/e2e/django-venv/bin/python"
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/psycopg_tls.py");
    let conninfo = format!(
        "host=127.0.0.1 port={} user={} password={} dbname=postgres sslmode=require channel_binding=disable",
        h.addr.port(),
        h.pg.user(),
        h.pg.password()
    );
    let out = Command::new(python)
        .args([script, &conninfo])
        .output()
        .expect("run the venv's python (scripts/setup-test-deps.sh python)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        r#"{"after_cancel": 2, "cancel": "query_canceled", "ssl_in_use": true, "sum": 5050}"#
    );
}

/// pgbench's TPC-B-like script in all three query modes over TLS on both legs, with SCRAM:
/// every transaction completes and every reply is matched to its statement.
#[test]
fn pgbench_all_modes_over_tls_on_both_legs() {
    let pki = Pki::new();
    let server_cert = pki.issue("postgres server");
    let tls = TlsConfig {
        upstream_mode: UpstreamTlsMode::VerifyFull,
        upstream_ca: Some(pki.path("ca.pem")),
        ..client_tls(&pki, ClientTlsMode::Require)
    };
    let h = start_server(
        PgOptions {
            auth: Auth::Scram,
            tls: Some(server_cert),
            ..PgOptions::default()
        },
        |c| c.tls = tls,
        |_| {},
    );
    let pgbench = |port: u16, args: &[&str]| {
        let out = Command::new("pgbench")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                h.pg.user(),
            ])
            .args(args)
            .arg("postgres")
            .env("PGPASSWORD", h.pg.password())
            .env("PGSSLMODE", "require")
            .env("PGCHANNELBINDING", "disable")
            .output()
            .expect("run pgbench");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "pgbench {args:?}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    pgbench(h.pg.port(), &["-i", "-s", "1", "-q"]);
    for mode in ["simple", "extended", "prepared"] {
        let text = pgbench(
            h.addr.port(),
            &["-M", mode, "-c", "3", "-j", "1", "-t", "50", "-n"],
        );
        assert!(
            text.contains("number of transactions actually processed: 150/150"),
            "-M {mode}: {text}"
        );
        assert!(
            text.contains("number of failed transactions: 0"),
            "-M {mode}: {text}"
        );
    }
    assert_eq!(h.wait_connections(0), 0);
    let report = h.shutdown();
    // 7 statements per transaction (BEGIN … END), 450 transactions, and per run the two
    // queries pgbench makes first (the scale, and the partitioning of pgbench_accounts).
    assert_eq!(report.stats.statements, 450 * 7 + 3 * 2);
    assert_eq!(report.stats.unmatched_replies, 0);
    assert_eq!(report.stats.events_dropped, 0);
}

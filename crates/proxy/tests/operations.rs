//! Operating limits: a client-connection ceiling answered as the server answers it, an idle
//! timeout that spares clients waiting on a statement, a Terminate before startup closed
//! quietly, and readiness that fails when the server is gone.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{is_closed, login, raw_client, read_until_ready, simple_query, start_with};
use querycomb_testkit::Auth;

#[test]
fn connections_past_the_ceiling_get_too_many_clients() {
    let h = start_with(Auth::Trust, |c| c.max_client_connections = Some(1));
    let mut first = login(h.addr, h.pg.user());
    let mut second = raw_client(h.addr);
    second
        .write_all(&common::startup_packet(h.pg.user(), "postgres"))
        .expect("startup");
    let mut reply = Vec::new();
    second.read_to_end(&mut reply).expect("refusal");
    let text = String::from_utf8_lossy(&reply);
    assert!(
        text.contains("53300") && text.contains("too many clients"),
        "{text}"
    );
    // The first is untouched.
    first.write_all(&simple_query("SELECT 1")).expect("query");
    assert_eq!(read_until_ready(&mut first).expect("result"), b"TDCZ");
    // The refusal is counted as the refused connection winds down: wait for it, boundedly.
    let counted = "errors_total{kind=\"too_many_clients\"} 1";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !h.metrics.render().contains(counted) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        h.metrics.render().contains(counted),
        "{}",
        h.metrics.render()
    );
}

#[test]
fn idle_clients_are_closed_but_not_while_a_statement_runs() {
    let h = start_with(Auth::Trust, |c| {
        c.idle_timeout = Some(Duration::from_millis(300));
    });
    let mut busy = login(h.addr, h.pg.user());
    busy.write_all(&simple_query("SELECT pg_sleep(1.5)"))
        .expect("query");
    assert_eq!(read_until_ready(&mut busy).expect("slept"), b"TDCZ");
    let mut idle = login(h.addr, h.pg.user());
    std::thread::sleep(Duration::from_millis(900));
    assert!(is_closed(&mut idle), "the idle client is closed");
    assert!(h
        .metrics
        .render()
        .contains("errors_total{kind=\"idle_timeout\"}"));
}

#[test]
fn terminate_before_startup_is_closed_quietly() {
    let h = start_with(Auth::Trust, |_| {});
    let mut client = raw_client(h.addr);
    client.write_all(&[b'X', 0, 0, 0, 4]).expect("terminate");
    assert!(is_closed(&mut client));
    assert_eq!(h.wait_connections(0), 0);
    let metrics = h.metrics.render();
    assert!(!metrics.contains("errors_total{kind="), "{metrics}");
}

#[test]
fn readiness_fails_when_the_server_is_gone() {
    let h = start_with(Auth::Trust, |c| {
        c.metrics = Some("127.0.0.1:0".parse().expect("addr"));
    });
    let addr = h.metrics_addr.expect("HTTP endpoint");
    let ready = common::http_get(addr, "/readyz");
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    h.pg.stop().expect("stop PostgreSQL");
    let gone = common::http_get(addr, "/readyz");
    assert!(gone.starts_with("HTTP/1.1 503"), "{gone}");
    assert!(gone.contains("not ready: upstream"), "{gone}");
    assert!(common::http_get(addr, "/healthz").starts_with("HTTP/1.1 200"));
}

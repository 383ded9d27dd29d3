//! Hostile and failing peers: each closes only its own connection, with a log line, and
//! everything it held is freed (the connection gauge returns to zero).

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{
    is_closed, login, message, raw_client, read_until_ready, simple_query, start, start_with,
};
use querycomb_testkit::Auth;

/// A well-behaved client keeps getting answers while `hostile` misbehaves.
fn assert_healthy(addr: std::net::SocketAddr) {
    let mut good = login(addr, "qc");
    good.write_all(&simple_query("SELECT 1")).expect("query");
    let tags = read_until_ready(&mut good).expect("answer");
    assert_eq!(tags, b"TDCZ");
}

#[test]
fn malformed_clients_close_only_their_connection() {
    let h = start_with(Auth::Trust, |c| c.limits.max_other = 1 << 20);
    let mut bystander = login(h.addr, "qc");

    // Garbage before startup (an HTTP request).
    let mut garbage = raw_client(h.addr);
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    assert!(is_closed(&mut garbage), "garbage closes");

    // TLS ClientHello straight away (sslnegotiation=direct).
    let mut tls = raw_client(h.addr);
    tls.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .expect("send");
    assert!(is_closed(&mut tls), "direct TLS closes");

    // SSLRequest is answered with N, and the client may go on in plaintext.
    let mut ssl = raw_client(h.addr);
    ssl.write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
        .expect("send");
    let mut answer = [0u8; 1];
    ssl.read_exact(&mut answer).expect("answer");
    assert_eq!(&answer, b"N");

    // A message length below 4, after a good login.
    let mut short = login(h.addr, "qc");
    short.write_all(&[b'Q', 0, 0, 0, 2]).expect("send");
    assert!(is_closed(&mut short), "bad length closes");

    // A 2 GiB Query header: refused from the header, nothing allocated.
    let mut huge = login(h.addr, "qc");
    huge.write_all(&[b'Q', 0x7f, 0xff, 0xff, 0xff])
        .expect("send");
    assert!(is_closed(&mut huge), "oversized closes");

    // Over the configured limit (1 MiB) for a non-data message.
    let mut big = login(h.addr, "qc");
    big.write_all(&message(b'P', &vec![b'x'; 2 << 20])).ok();
    assert!(is_closed(&mut big), "over the limit closes");

    // The bystander never noticed.
    bystander
        .write_all(&simple_query("SELECT 2"))
        .expect("query");
    assert_eq!(read_until_ready(&mut bystander).expect("answer"), b"TDCZ");
    assert_healthy(h.addr);
    drop((bystander, ssl));
    assert_eq!(h.wait_connections(0), 0);
    let errors = h.metrics.render();
    assert!(
        errors.contains("querycomb_proxy_errors_total{kind=\"protocol\"} 3"),
        "{errors}"
    );
    assert!(
        errors.contains("querycomb_proxy_errors_total{kind=\"startup\"} 1"),
        "{errors}"
    );
    assert!(
        errors.contains("querycomb_proxy_errors_total{kind=\"tls_refused\"} 1"),
        "{errors}"
    );
    h.shutdown();
}

#[test]
fn a_client_that_stops_reading_stalls_only_itself() {
    let h = start(Auth::Trust);
    // Asks for ~50 MB of rows and never reads them.
    let mut stalled = login(h.addr, "qc");
    stalled
        .write_all(&simple_query(
            "SELECT repeat('x', 1000) FROM generate_series(1, 50000)",
        ))
        .expect("send");
    std::thread::sleep(Duration::from_millis(500));
    // Every other client is served in full while the stalled one still holds unread rows.
    for _ in 0..20 {
        assert_healthy(h.addr);
    }
    drop(stalled);
    assert_eq!(h.wait_connections(0), 0);
    h.shutdown();
}

#[test]
fn client_disconnecting_mid_result_frees_everything() {
    let h = start(Auth::Trust);
    for _ in 0..5 {
        let mut client = login(h.addr, "qc");
        client
            .write_all(&simple_query(
                "SELECT g, repeat('y', 500) FROM generate_series(1, 200000) g",
            ))
            .expect("send");
        let mut some = [0u8; 65536];
        client.read_exact(&mut some).expect("first rows");
        drop(client);
    }
    assert_eq!(h.wait_connections(0), 0, "no connection task left");
    // The server side was closed too: no backend still running the query.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let active = h
            .pg
            .psql("postgres", "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%repeat(''y''%' AND pid <> pg_backend_pid()")
            .expect("psql");
        if active.trim() == "0" {
            break;
        }
        assert!(Instant::now() < deadline, "backends left: {active}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_healthy(h.addr);
    h.shutdown();
}

#[test]
fn server_dying_mid_query_frees_everything() {
    let h = start(Auth::Trust);
    let mut clients: Vec<_> = (0..3).map(|_| login(h.addr, "qc")).collect();
    for client in &mut clients {
        client
            .write_all(&simple_query("SELECT pg_sleep(30)"))
            .expect("send");
    }
    std::thread::sleep(Duration::from_millis(300));
    h.pg.stop().expect("stop server");
    for client in &mut clients {
        assert!(is_closed(client), "client sees the close");
    }
    assert_eq!(h.wait_connections(0), 0);
    // New clients get a clear FATAL instead of a hang.
    let mut late = raw_client(h.addr);
    late.write_all(&common::startup_packet("qc", "postgres"))
        .expect("send");
    let mut reply = Vec::new();
    let _ = late.read_to_end(&mut reply);
    assert_eq!(reply.first(), Some(&b'E'));
    assert!(String::from_utf8_lossy(&reply).contains("cannot connect to upstream"));
    let report = h.shutdown();
    assert_eq!(report.stats.connections_aborted, 0);
}

#[test]
fn shutdown_lets_in_flight_statements_finish() {
    let h = start(Auth::Trust);
    let mut busy = login(h.addr, "qc");
    busy.write_all(&simple_query("SELECT pg_sleep(0.5)"))
        .expect("send");
    let idle = login(h.addr, "qc");
    std::thread::sleep(Duration::from_millis(100));
    let reader = std::thread::spawn(move || read_until_ready(&mut busy).map(|tags| (tags, busy)));
    let report = h.shutdown();
    let (tags, mut busy) = reader.join().expect("reader").expect("statement finished");
    assert_eq!(tags, b"TDCZ", "the in-flight statement completed");
    assert!(is_closed(&mut busy), "then the connection closed");
    assert_eq!(report.stats.connections_aborted, 0);
    assert_eq!(report.stats.statements, 1);
    drop(idle);
}

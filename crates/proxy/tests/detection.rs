//! Live detection through the proxy: an N+1 workload from a real client is reported (on
//! the callback, in the findings file, in the metrics), the batched version of the same
//! work is not; a loop fanned out over pooled connections within one trace is one finding.

mod common;

use querycomb_detect::detectors::n_plus_one;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use querycomb_core::{Finding, Proof, RequestKind};
use querycomb_proxy::{pipeline_detector, Proxy, ProxyConfig, ProxyEvidence, ShapeMeter};
use querycomb_report::json::{parse_line, Line};
use querycomb_testkit::{Auth, PgOptions, PgServer};
use tokio_postgres::NoTls;

const SCHEMA: &str = "CREATE TABLE customers (id int PRIMARY KEY, name text);
INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 20) g;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, total numeric);
INSERT INTO orders SELECT g, 1 + g % 20, g * 1.5 FROM generate_series(1, 40) g;";

fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect metrics");
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    response
}

fn scrape(addr: std::net::SocketAddr) -> String {
    let response = get(addr, "/metrics");
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    response
}

#[test]
fn n_plus_one_is_reported_live_and_the_batched_version_is_not() {
    let pg = PgServer::start(PgOptions {
        auth: Auth::Scram,
        ..PgOptions::default()
    })
    .expect("pg");
    pg.psql("postgres", SCHEMA).expect("schema");
    let dir = tempfile::tempdir().expect("tempdir");
    let findings_out = dir.path().join("findings.jsonl");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut config = ProxyConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        format!("127.0.0.1:{}", pg.port()),
    );
    config.metrics = Some("127.0.0.1:0".parse().expect("addr"));
    config.findings_out = Some(findings_out.clone());
    config.tick_interval = Duration::from_millis(50);
    let detect = querycomb_detect::Config {
        idle_gap_ms: 300,
        ..Default::default()
    };

    let live: Arc<Mutex<Vec<Finding>>> = Arc::default();
    let (proxy, stop) = rt.block_on(async {
        let mut proxy = Proxy::bind(config).await.expect("bind");
        let seen = live.clone();
        let meter = ShapeMeter::new(proxy.metrics(), Duration::from_millis(300));
        proxy
            .detector(pipeline_detector(detect))
            .on_finding(move |f| seen.lock().expect("lock").push(f.clone()))
            .meter(Box::new(meter))
            .evidence(Box::new(ProxyEvidence::new(10)));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        (proxy, (stop, stopped))
    });
    let addr = proxy.local_addr().expect("addr");
    let metrics_addr = proxy.metrics_addr().expect("metrics addr");
    let (stop, stopped) = stop;
    let served = rt.spawn(proxy.serve(async {
        let _ = stopped.await;
    }));

    let conn = format!(
        "host=127.0.0.1 port={} user={} password={} dbname=postgres",
        addr.port(),
        pg.user(),
        pg.password()
    );
    rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(&conn, NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        // N+1: orders, then one customer lookup per order.
        common::orders_then_one_customer_each(&client).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        // A loop whose ids do not come from the rows before it: an N+1 shape, no proof.
        let orders = client
            .query(
                "SELECT id, customer_id FROM orders WHERE id <= $1 /*route='%2Funrelated'*/",
                &[&25i32],
            )
            .await
            .expect("orders");
        for id in 100..100 + orders.len() as i32 {
            client
                .query_opt(
                    "SELECT id, name FROM customers WHERE id = $1 /*route='%2Funrelated'*/",
                    &[&id],
                )
                .await
                .expect("lookup");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        common::orders_then_customers_batched(&client).await;
    });

    // Reported live, before shutdown: the /orders request closed after the idle gap.
    let deadline = Instant::now() + Duration::from_secs(10);
    while live.lock().expect("lock").len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    {
        let live = live.lock().expect("lock");
        assert_eq!(live.len(), 2, "{live:#?}");
        let finding = &live[0];
        let unrelated = &live[1];
        assert_eq!(unrelated.request.route.as_deref(), Some("/unrelated"));
        assert_eq!(
            unrelated.proof,
            Proof::Suspected,
            "ids 100.. never came from a result"
        );
        assert_eq!(finding.kind, n_plus_one::KIND);
        assert_eq!(finding.request.route.as_deref(), Some("/orders"));
        assert_eq!(finding.count, 25);
        assert!(
            finding.children[0].normalized.contains("customers"),
            "{finding:#?}"
        );
        assert!(finding
            .parent
            .as_ref()
            .is_some_and(|p| p.normalized.contains("orders")));
        assert_eq!(
            finding.proof,
            Proof::Proven { matched: 25 },
            "each customer id bound was among the orders' customer_id values"
        );
        // The pool arithmetic is data on the finding, not text in its message.
        assert!(!finding.message.contains("pool"), "{}", finding.message);
        let impact = finding
            .fix
            .impact
            .as_ref()
            .expect("impact on a live finding");
        assert_eq!(impact.pool_size, 10);
        assert!(
            impact.hold_us.is_some() && impact.pool_rps_now.is_some(),
            "{impact:?}"
        );
        assert!(
            finding.total_duration_us.is_some(),
            "the proxy times every statement"
        );
    }
    std::thread::sleep(Duration::from_millis(600));
    assert!(get(metrics_addr, "/healthz").starts_with("HTTP/1.1 200 OK"));
    let ready = get(metrics_addr, "/readyz");
    assert!(ready.starts_with("HTTP/1.1 200 OK"), "{ready}");
    assert!(get(metrics_addr, "/nothing").starts_with("HTTP/1.1 404"));
    let text = scrape(metrics_addr);
    assert!(
        text.contains("querycomb_proxy_findings_total{kind=\"n_plus_one\",route=\"/orders\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("querycomb_proxy_statements_per_request_count{route=\"/orders\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("querycomb_proxy_statements_per_request_count{route=\"/clean\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("querycomb_proxy_statements_total 54"),
        "{text}"
    );
    assert!(
        text.contains("querycomb_proxy_request_seconds_count{route=\"/orders\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("querycomb_proxy_request_rows_total{route=\"/orders\"} 50"),
        "{text}"
    );
    assert!(
        text.contains("querycomb_proxy_upstream_wait_seconds_count 1"),
        "{text}"
    );
    assert!(
        text.contains("querycomb_proxy_fingerprint_calls_total{fingerprint="),
        "{text}"
    );

    let _ = stop.send(());
    let report = rt.block_on(served).expect("join").expect("serve");
    let kinds: Vec<_> = report
        .analysis
        .findings
        .iter()
        .map(|f| (f.kind, f.request.route.clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            (n_plus_one::KIND, Some("/orders".to_owned())),
            (n_plus_one::KIND, Some("/unrelated".to_owned()))
        ]
    );
    assert_eq!(report.analysis.summary.statements, 54);
    // The documented JSON lines: sources first, a line per new or grown finding, the
    // summary last.
    let lines = std::fs::read_to_string(&findings_out).expect("findings file");
    let written: Vec<Line> = lines
        .lines()
        .map(|l| parse_line(l).expect("a querycomb.findings/v1 line"))
        .collect();
    assert!(
        matches!(written.first(), Some(Line::Sources(s)) if s.len() == 1 && s[0].starts_with("proxy ")),
        "{lines}"
    );
    let findings: Vec<&Finding> = written
        .iter()
        .filter_map(|l| match l {
            Line::Finding(f) => Some(&**f),
            _ => None,
        })
        .collect();
    assert_eq!(findings.len(), 2);
    assert_eq!(findings[0].signature, report.analysis.findings[0].signature);
    match written.last() {
        Some(Line::Summary(summary)) => assert_eq!(summary.statements, 54),
        other => panic!("summary last, not {other:?}"),
    }
}

/// Node's `Promise.all(items.map(load))` over a pool: the children of one request run on
/// several connections at once. The traceparent ties them into one unit of work.
#[test]
fn concurrent_n_plus_one_across_pooled_connections_is_one_finding() {
    let live: Arc<Mutex<Vec<Finding>>> = Arc::default();
    let seen = live.clone();
    let h = common::start_full(
        Auth::Trust,
        |_| {},
        move |proxy| {
            let detect = querycomb_detect::Config {
                idle_gap_ms: 300,
                ..Default::default()
            };
            proxy
                .detector(pipeline_detector(detect))
                .on_finding(move |f| seen.lock().expect("lock").push(f.clone()));
        },
    );
    h.pg.psql("postgres", SCHEMA).expect("schema");
    let conn = h.proxy_conn("postgres");
    let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    h.rt.block_on(async {
        let mut pool = Vec::new();
        for _ in 0..4 {
            let (client, connection) = tokio_postgres::connect(&conn, NoTls)
                .await
                .expect("connect");
            tokio::spawn(connection);
            pool.push(client);
        }
        let parent =
            format!("SELECT id, customer_id FROM orders WHERE id <= 24 /*traceparent='{trace}'*/");
        let orders = pool[0].query(parent.as_str(), &[]).await.expect("orders");
        let child = format!("SELECT name FROM customers WHERE id = $1 /*traceparent='{trace}'*/");
        let loads = orders.iter().enumerate().map(|(i, order)| {
            let client = &pool[i % pool.len()];
            let child = child.as_str();
            let customer: i32 = order.get(1);
            async move { client.query_one(child, &[&customer]).await }
        });
        futures_util::future::try_join_all(loads)
            .await
            .expect("loads");
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while live.lock().expect("lock").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let sessions: std::collections::HashSet<String> =
        h.drain_events().into_iter().map(|e| e.session).collect();
    assert_eq!(sessions.len(), 4, "the loop really ran on four connections");
    let report = h.shutdown();
    let live = live.lock().expect("lock");
    assert_eq!(live.len(), 1, "{live:#?}");
    assert_eq!(live[0].kind, n_plus_one::KIND);
    assert_eq!(live[0].request.kind, RequestKind::Trace);
    assert_eq!(live[0].count, 24);
    assert_eq!(report.analysis.findings.len(), 1);
}

/// `run`, exactly as `querycomb proxy` calls it: live findings on the callback, the
/// findings file, and the final analysis after the shutdown future resolves.
#[test]
fn run_as_the_cli_calls_it() {
    let pg = PgServer::start(PgOptions::default()).expect("pg");
    pg.psql("postgres", SCHEMA).expect("schema");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = ProxyConfig::new(
        format!("127.0.0.1:{port}").parse().expect("addr"),
        format!("127.0.0.1:{}", pg.port()),
    );
    config.findings_out = Some(dir.path().join("findings.jsonl"));
    config.quiet = true;
    let detect = querycomb_detect::Config {
        idle_gap_ms: 200,
        ..Default::default()
    };
    let live: Arc<Mutex<Vec<Finding>>> = Arc::default();
    let seen = live.clone();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = rt.spawn(querycomb_proxy::run(
        config,
        detect,
        move |f| seen.lock().expect("lock").push(f.clone()),
        None,
        async {
            let _ = stopped.await;
        },
    ));
    std::thread::sleep(Duration::from_millis(300));
    let conn = format!(
        "host=127.0.0.1 port={port} user={} password={} dbname=postgres",
        pg.user(),
        pg.password()
    );
    rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(&conn, NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        let orders = client
            .query("SELECT id, customer_id FROM orders WHERE id <= 10", &[])
            .await
            .expect("orders");
        for order in &orders {
            let customer: i32 = order.get(1);
            client
                .query_one("SELECT name FROM customers WHERE id = $1", &[&customer])
                .await
                .expect("customer");
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while live.lock().expect("lock").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = stop.send(());
    let report = rt.block_on(served).expect("join").expect("run");
    let live = live.lock().expect("lock");
    assert_eq!(live.len(), 1, "{live:#?}");
    assert_eq!(live[0].kind, n_plus_one::KIND);
    assert_eq!(live[0].proof, Proof::Proven { matched: 10 });
    assert_eq!(live[0].fix.impact.as_ref().map(|i| i.pool_size), Some(10));
    assert_eq!(report.analysis.findings.len(), 1);
    assert_eq!(report.stats.statements, 11);
    let written = std::fs::read_to_string(dir.path().join("findings.jsonl")).expect("file");
    let kinds: Vec<&str> = written
        .lines()
        .map(
            |l| match parse_line(l).expect("a querycomb.findings/v1 line") {
                Line::Sources(_) => "sources",
                Line::Finding(_) => "finding",
                Line::Summary(_) => "summary",
            },
        )
        .collect();
    assert_eq!(kinds, ["sources", "finding", "summary"]);
}

/// The proxy scans each statement once: detection's scan gives the fingerprint and key that
/// the shape metrics and the parent ↔ child proof use. Every text here is distinct (a
/// comment differs), so the scan cache never answers and each statement costs exactly one
/// `Fingerprinter::scan` in the whole process.
#[test]
fn each_statement_is_scanned_once() {
    let h = common::start_full(
        Auth::Trust,
        |_| {},
        |proxy| {
            let meter = ShapeMeter::new(proxy.metrics(), Duration::from_millis(300));
            let evidence = ProxyEvidence::new(10).with_metrics(proxy.metrics());
            proxy
                .detector(pipeline_detector(querycomb_detect::Config {
                    idle_gap_ms: 300,
                    ..Default::default()
                }))
                .meter(Box::new(meter))
                .evidence(Box::new(evidence));
        },
    );
    h.pg.psql("postgres", SCHEMA).expect("schema");
    let before = querycomb_sql::scans_so_far();
    let conn = h.proxy_conn("postgres");
    h.rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(&conn, NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        let orders = client
            .query(
                "SELECT id, customer_id FROM orders WHERE id <= 25 /*route='%2Fonce'*/",
                &[],
            )
            .await
            .expect("orders");
        for (i, order) in orders.iter().enumerate() {
            let customer: i32 = order.get(1);
            let sql =
                format!("SELECT id, name FROM customers WHERE id = $1 /*route='%2Fonce',n='{i}'*/");
            client.query_opt(&sql, &[&customer]).await.expect("lookup");
        }
    });
    let events = h.wait_events(26);
    assert_eq!(events.len(), 26);
    assert_eq!(
        querycomb_sql::scans_so_far() - before,
        26,
        "one scan per statement"
    );
    let report = h.shutdown();
    let finding = report.analysis.findings.first().expect("the N+1");
    assert_eq!(finding.request.route.as_deref(), Some("/once"));
    assert_eq!(
        finding.proof,
        Proof::Proven { matched: 25 },
        "the proof matched parent and children by detection's fingerprints"
    );
}

/// Value links through the proxy (`evidence::ClientResults`) on the arrangement of
/// docs/accuracy.md's cause 1: jobs that read orders 1-8 and are over — one whose rows
/// nothing used for the idle gap, one whose connection closed — leave a later request's
/// children, which read some of those orders again, linked to that request's own read, not
/// ambiguous; and the next request's read of the same statement, tagged with its own
/// trace by sqlcommenter, is not a child of the read before it.
#[test]
fn value_links_forget_finished_work_and_read_statements_without_their_tags() {
    const IDLE_GAP_MS: u64 = 300;
    let h = common::start_full(
        Auth::Trust,
        |_| {},
        |proxy| {
            let detect = querycomb_detect::Config {
                idle_gap_ms: IDLE_GAP_MS,
                ..Default::default()
            };
            proxy.detector(pipeline_detector(detect));
        },
    );
    h.pg.psql("postgres", SCHEMA).expect("schema");
    let conn = h.proxy_conn("postgres");
    let job = "SELECT id, customer_id FROM orders WHERE id <= $1";
    // Orders 1-8 again (customers 2-9), 21-28 (customers 2-9), 20 and 40 (customer 1).
    let page = "SELECT id, customer_id FROM orders WHERE customer_id <= $1";
    let request = |n: u8| {
        format!(
            "{page} /*traceparent='00-4bf92f3577b34da6a3ce929d0e0e473{n}-00f067aa0ba902b7-01'*/"
        )
    };
    let (first, second) = (request(1), request(2));
    let (web, idle_worker) = h.rt.block_on(async {
        let (web, idle_worker, worker) = (
            connect(&conn).await,
            connect(&conn).await,
            connect(&conn).await,
        );
        // A job loops over orders 1-8 on a connection that stays open ...
        let orders = idle_worker.query(job, &[&8i32]).await.expect("job");
        one_customer_each(&idle_worker, &orders).await;
        tokio::time::sleep(Duration::from_millis(IDLE_GAP_MS + 150)).await;
        // ... and, longer than the idle gap later, another on a connection that closes.
        let orders = worker.query(job, &[&8i32]).await.expect("job");
        one_customer_each(&worker, &orders).await;
        (web, idle_worker)
    });
    assert_eq!(
        h.wait_connections(2),
        2,
        "the second job's connection closed"
    );
    h.rt.block_on(async {
        // Two requests, each tagged with its own trace, read a page holding some of the
        // jobs' orders and loop over it.
        for sql in [&first, &second] {
            let orders = web.query(sql.as_str(), &[&9i32]).await.expect("page");
            one_customer_each(&web, &orders).await;
        }
    });
    let events = h.wait_events(2 * (1 + 8) + 2 * (1 + 18));
    drop((web, idle_worker));
    let _ = h.shutdown();
    let read = |sql: &str| {
        let reads: Vec<_> = events.iter().filter(|e| e.sql == sql).collect();
        assert_eq!(reads.len(), 1, "{sql}: {events:#?}");
        reads[0].links
    };
    let (first, second) = (read(&first), read(&second));
    assert_eq!(second.parent_result, None, "a re-read is no child");
    let parents: Vec<Option<u64>> = events
        .iter()
        .filter(|e| e.sql.starts_with("SELECT name FROM customers"))
        .skip(16)
        .map(|e| e.links.parent_result)
        .collect();
    // The first request's children iterate its page only; the second request's iterate
    // its own read or the first's, the same rows: ambiguous, not guessed.
    let expected: Vec<Option<u64>> = std::iter::repeat_n(first.result, 18)
        .chain(std::iter::repeat_n(None, 18))
        .collect();
    assert!(first.result.is_some() && second.result.is_some());
    assert_eq!(parents, expected);
}

/// A client of its own, its connection driven by the runtime.
async fn connect(conn: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(conn, NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
}

async fn one_customer_each(client: &tokio_postgres::Client, orders: &[tokio_postgres::Row]) {
    for order in orders {
        let customer: i32 = order.get(1);
        client
            .query_one("SELECT name FROM customers WHERE id = $1", &[&customer])
            .await
            .expect("customer");
    }
}

//! Chaos: the server killed and restarted in the middle of traffic, one backend terminated
//! in the middle of a transaction, a client reset in the middle of a message. Only the
//! connections that lost their server (or their client) fail, each with a clear error; the
//! proxy stays up and serves new connections; every other client sees every byte right.
//! (Bounds on waiting are deadlines for progress, never assertions on timing.)

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{login, simple_query, start};
use querycomb_testkit::Auth;
use tokio_postgres::NoTls;

/// What one worker saw.
#[derive(Default)]
struct Tally {
    transactions: AtomicU64,
    errors: AtomicU64,
    /// Rows whose values were not what the statement asked for (must stay 0).
    corrupted: AtomicU64,
    messages: Mutex<Vec<String>>,
}

/// One transaction whose reply proves its bytes: the number back, and a padded text of
/// known length and content.
async fn transaction(client: &mut tokio_postgres::Client, n: i32) -> Result<bool, String> {
    let tx = client.transaction().await.map_err(|e| e.to_string())?;
    let row = tx
        .query_one(
            "SELECT $1::int AS n, repeat(md5($1::text), 20) AS pad",
            &[&n],
        )
        .await
        .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())?;
    let back: i32 = row.get(0);
    let pad: String = row.get(1);
    Ok(back == n && pad.len() == 640 && pad.get(..32) == pad.get(32..64))
}

/// Connects (again and again) and runs transactions until `stop`.
async fn worker(conn: String, tally: Arc<Tally>, stop: Arc<AtomicBool>) {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let mut client = match tokio_postgres::connect(&conn, NoTls).await {
            Ok((client, connection)) => {
                tokio::spawn(connection);
                client
            }
            Err(e) => {
                tally.errors.fetch_add(1, Ordering::Relaxed);
                tally.messages.lock().expect("lock").push(e.to_string());
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            match transaction(&mut client, n).await {
                Ok(true) => {
                    tally.transactions.fetch_add(1, Ordering::Relaxed);
                }
                Ok(false) => {
                    tally.corrupted.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    tally.errors.fetch_add(1, Ordering::Relaxed);
                    tally.messages.lock().expect("lock").push(e);
                    break;
                }
            }
        }
    }
}

/// Waits (up to a minute: a bound on progress, not a timing check) until `done` holds.
fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "no progress: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn server_killed_and_restarted_mid_traffic() {
    let h = start(Auth::Trust);
    let conn = format!(
        "host=127.0.0.1 port={} user=qc dbname=postgres",
        h.addr.port()
    );
    let stop = Arc::new(AtomicBool::new(false));
    let tallies: Vec<Arc<Tally>> = (0..4).map(|_| Arc::default()).collect();
    let workers: Vec<_> = tallies
        .iter()
        .map(|tally| {
            h.rt.spawn(worker(conn.clone(), tally.clone(), stop.clone()))
        })
        .collect();
    let all = |f: &dyn Fn(&Tally) -> bool| tallies.iter().all(|t| f(t));
    wait_for("every worker runs transactions", || {
        all(&|t| t.transactions.load(Ordering::Relaxed) >= 20)
    });

    // The server crashes in the middle of their transactions.
    h.pg.kill().expect("kill the server");
    wait_for("every worker sees its connection fail", || {
        all(&|t| t.errors.load(Ordering::Relaxed) >= 1)
    });
    let before: Vec<u64> = tallies
        .iter()
        .map(|t| t.transactions.load(Ordering::Relaxed))
        .collect();
    h.pg.restart().expect("restart the server");
    wait_for("every worker reconnects and goes on", || {
        tallies
            .iter()
            .zip(&before)
            .all(|(t, b)| t.transactions.load(Ordering::Relaxed) >= b + 20)
    });
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        h.rt.block_on(worker).expect("worker");
    }

    for tally in &tallies {
        assert_eq!(
            tally.corrupted.load(Ordering::Relaxed),
            0,
            "a reply was wrong"
        );
        let messages = tally.messages.lock().expect("lock");
        for message in messages.iter() {
            // The server's own words (terminating connection ...), a closed connection, or
            // the proxy's FATAL while the server was down: never a protocol mix-up.
            assert!(
                message.contains("connection closed")
                    || message.contains("terminating connection")
                    || message.contains("cannot connect to upstream")
                    || message.contains("the database system is")
                    || message.contains("db error"),
                "unclear error: {message}"
            );
            assert!(!message.contains("unexpected message"), "{message}");
        }
    }
    // The proxy is still up, serves new clients and lost track of nothing.
    let out = h.psql(h.addr.port(), "SELECT 40 + 2");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");
    assert_eq!(h.wait_connections(0), 0);
    assert_eq!(h.metrics.unmatched_replies.get(), 0);
    let report = h.shutdown();
    assert_eq!(report.stats.connections_aborted, 0);
}

#[test]
fn a_terminated_backend_fails_only_its_own_client() {
    let h = start(Auth::Trust);
    let conn = format!(
        "host=127.0.0.1 port={} user=qc dbname=postgres",
        h.addr.port()
    );
    let stop = Arc::new(AtomicBool::new(false));
    let bystanders: Vec<Arc<Tally>> = (0..3).map(|_| Arc::default()).collect();
    let workers: Vec<_> = bystanders
        .iter()
        .map(|tally| {
            h.rt.spawn(worker(conn.clone(), tally.clone(), stop.clone()))
        })
        .collect();
    let victim_error = h.rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(&conn, NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        client.batch_execute("BEGIN").await.expect("begin");
        let pid: i32 = client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .expect("pid")
            .get(0);
        let (admin, connection) = tokio_postgres::connect(&h.direct_conn("postgres"), NoTls)
            .await
            .expect("admin");
        tokio::spawn(connection);
        admin
            .query_one("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .expect("terminate");
        let error = client
            .query_one("SELECT 1", &[])
            .await
            .expect_err("its backend is gone");
        error
            .code()
            .map(|c| c.code().to_owned())
            .unwrap_or_else(|| error.to_string())
    });
    assert!(
        victim_error == "57P01" || victim_error.contains("connection closed"),
        "{victim_error}"
    );
    // The others went on through it all.
    let before: Vec<u64> = bystanders
        .iter()
        .map(|t| t.transactions.load(Ordering::Relaxed))
        .collect();
    wait_for("the other clients go on", || {
        bystanders
            .iter()
            .zip(&before)
            .all(|(t, b)| t.transactions.load(Ordering::Relaxed) >= b + 20)
    });
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        h.rt.block_on(worker).expect("worker");
    }
    for tally in &bystanders {
        assert_eq!(
            tally.errors.load(Ordering::Relaxed),
            0,
            "a bystander failed"
        );
        assert_eq!(tally.corrupted.load(Ordering::Relaxed), 0);
    }
    assert_eq!(h.wait_connections(0), 0);
    h.shutdown();
}

#[test]
fn a_client_reset_mid_message_costs_only_itself() {
    let h = start(Auth::Trust);
    let mut bystander = login(h.addr, "qc");
    for round in 0..20 {
        // Half a Query message, then a TCP reset (SO_LINGER 0 makes the close send RST).
        let mut rude = login(h.addr, "qc");
        let query = simple_query("SELECT pg_sleep(0) /* cut short */");
        rude.write_all(query.get(..query.len() / 2).expect("half"))
            .expect("half a message");
        reset(&h, rude);
        // The other client's statement in between is answered whole and right.
        bystander
            .write_all(&simple_query(&format!("SELECT 'round-{round}-ok'")))
            .expect("send");
        let reply = read_reply(&mut bystander);
        let text = String::from_utf8_lossy(&reply);
        assert!(text.contains(&format!("round-{round}-ok")), "{text}");
    }
    assert_eq!(h.wait_connections(1), 1, "only the bystander is left");
    drop(bystander);
    assert_eq!(h.wait_connections(0), 0);
    h.shutdown();
}

/// Closes with a TCP RST instead of a FIN.
fn reset(h: &common::Harness, stream: TcpStream) {
    let _runtime = h.rt.enter();
    stream.set_nonblocking(true).expect("non-blocking");
    let stream = tokio::net::TcpStream::from_std(stream).expect("tokio stream");
    // Deprecated because a lingering close blocks the thread; with 0 it resets at once.
    #[allow(deprecated)]
    stream
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER 0");
    drop(stream);
}

/// Every byte of the messages up to and including ReadyForQuery.
fn read_reply(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    loop {
        let mut header = [0u8; 5];
        stream.read_exact(&mut header).expect("header");
        let [tag, a, b, c, d] = header;
        let len = u32::from_be_bytes([a, b, c, d]) as usize;
        let mut body = vec![0u8; len.saturating_sub(4)];
        stream.read_exact(&mut body).expect("body");
        all.extend_from_slice(&header);
        all.extend_from_slice(&body);
        if tag == b'Z' {
            return all;
        }
    }
}

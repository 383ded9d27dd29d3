//! Test harness: a throwaway PostgreSQL, a proxy in front of it on its own runtime, and
//! helpers to run real clients against either.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use querycomb_core::OwnedEvent;
use querycomb_proxy::{Metrics, Proxy, ProxyConfig, ProxyReport};
use querycomb_testkit::{Auth, PgOptions, PgServer};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

pub struct Harness {
    pub pg: PgServer,
    pub rt: Runtime,
    pub addr: SocketAddr,
    pub metrics: Arc<Metrics>,
    /// The HTTP endpoint, when `config.metrics` was set.
    pub metrics_addr: Option<SocketAddr>,
    pub events: mpsc::Receiver<OwnedEvent>,
    stop: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<io::Result<ProxyReport>>>,
}

pub fn start(auth: Auth) -> Harness {
    start_with(auth, |_| {})
}

pub fn start_with(auth: Auth, tweak: impl FnOnce(&mut ProxyConfig)) -> Harness {
    start_full(auth, tweak, |_| {})
}

/// `tweak` adjusts the configuration, `setup` the bound proxy (detector, callbacks).
pub fn start_full(
    auth: Auth,
    tweak: impl FnOnce(&mut ProxyConfig),
    setup: impl FnOnce(&mut Proxy),
) -> Harness {
    let options = PgOptions {
        auth,
        ..PgOptions::default()
    };
    start_server(options, tweak, setup)
}

/// [`start_full`] with the server's options (configuration lines, TLS).
pub fn start_server(
    options: PgOptions,
    tweak: impl FnOnce(&mut ProxyConfig),
    setup: impl FnOnce(&mut Proxy),
) -> Harness {
    let pg = PgServer::start(options).expect("start PostgreSQL");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut config = ProxyConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        format!("127.0.0.1:{}", pg.port()),
    );
    config.tick_interval = Duration::from_millis(50);
    config.shutdown_grace = Duration::from_secs(5);
    tweak(&mut config);
    let (stop, stopped) = oneshot::channel::<()>();
    let (proxy, events) = rt.block_on(async {
        let mut proxy = Proxy::bind(config).await.expect("bind proxy");
        let events = proxy.tap_events();
        setup(&mut proxy);
        (proxy, events)
    });
    let addr = proxy.local_addr().expect("local addr");
    let metrics = proxy.metrics();
    let metrics_addr = proxy.metrics_addr();
    let served = rt.spawn(proxy.serve(async {
        let _ = stopped.await;
    }));
    Harness {
        pg,
        rt,
        addr,
        metrics,
        metrics_addr,
        events,
        stop: Some(stop),
        served: Some(served),
    }
}

impl Harness {
    /// libpq connection string through the proxy.
    pub fn proxy_conn(&self, db: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={} password={} dbname={db} sslmode=prefer",
            self.addr.port(),
            self.pg.user(),
            self.pg.password()
        )
    }

    pub fn direct_conn(&self, db: &str) -> String {
        self.pg.conn_str(db)
    }

    /// Runs `psql -c sql` against `port`, unaligned and tuples-only.
    pub fn psql(&self, port: u16, sql: &str) -> Output {
        Command::new("psql")
            .args(["-X", "-A", "-t", "-h", "127.0.0.1", "-U", self.pg.user()])
            .args(["-p", &port.to_string(), "-d", "postgres", "-c", sql])
            .env("PGPASSWORD", self.pg.password())
            .stdin(Stdio::null())
            .output()
            .expect("run psql")
    }

    /// Events seen so far, waiting until `count` arrived (or 10 s passed).
    pub fn wait_events(&self, count: usize) -> Vec<OwnedEvent> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut events = Vec::new();
        while events.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(event) => events.push(event),
                Err(_) => break,
            }
        }
        // Anything else already queued.
        std::thread::sleep(Duration::from_millis(100));
        events.extend(self.events.try_iter());
        events
    }

    pub fn drain_events(&self) -> Vec<OwnedEvent> {
        std::thread::sleep(Duration::from_millis(200));
        self.events.try_iter().collect()
    }

    /// Waits until the connection gauge reads `open`.
    pub fn wait_connections(&self, open: i64) -> i64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = self.metrics.connections.get();
            if now == open || Instant::now() > deadline {
                return now;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn shutdown(mut self) -> ProxyReport {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let served = self.served.take().expect("served once");
        self.rt
            .block_on(served)
            .expect("proxy task")
            .expect("proxy result")
    }
}

/// `GET path` on the proxy's HTTP endpoint: the whole response.
pub fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect to the HTTP endpoint");
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    response
}

/// A raw TCP client for hostile-input tests.
pub fn raw_client(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect to proxy");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
}

/// A protocol 3.0 StartupMessage.
pub fn startup_packet(user: &str, db: &str) -> Vec<u8> {
    let mut body = 196_608u32.to_be_bytes().to_vec();
    for (k, v) in [("user", user), ("database", db)] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut packet = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    packet.extend(body);
    packet
}

pub fn message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Reads messages until ReadyForQuery; returns their type bytes.
pub fn read_until_ready(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut tags = Vec::new();
    loop {
        let mut header = [0u8; 5];
        stream.read_exact(&mut header)?;
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        let mut body = vec![0u8; len.saturating_sub(4)];
        stream.read_exact(&mut body)?;
        tags.push(header[0]);
        if header[0] == b'Z' {
            return Ok(tags);
        }
    }
}

/// Logs in with trust auth and waits for the first ReadyForQuery.
pub fn login(addr: SocketAddr, user: &str) -> TcpStream {
    let mut stream = raw_client(addr);
    stream
        .write_all(&startup_packet(user, "postgres"))
        .expect("send startup");
    let tags = read_until_ready(&mut stream).expect("login");
    assert_eq!(tags.first(), Some(&b'R'), "auth request first");
    stream
}

/// True when the peer closed the connection (EOF or reset) within the read timeout.
pub fn is_closed(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => {
                return !matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                )
            }
        }
    }
}

pub fn simple_query(sql: &str) -> Vec<u8> {
    let mut body = sql.as_bytes().to_vec();
    body.push(0);
    message(b'Q', &body)
}

/// The N+1 the tests drive: orders 1..=25, then one customer lookup per order, both tagged
/// with the `/orders` route.
pub async fn orders_then_one_customer_each(client: &tokio_postgres::Client) {
    let orders = client
        .query(
            "SELECT id, customer_id FROM orders WHERE id <= $1 /*route='%2Forders'*/",
            &[&25i32],
        )
        .await
        .expect("orders");
    for order in &orders {
        let customer: i32 = order.get(1);
        client
            .query_one(
                "SELECT name FROM customers WHERE id = $1 /*route='%2Forders'*/",
                &[&customer],
            )
            .await
            .expect("customer");
    }
}

/// The clean twin of [`orders_then_one_customer_each`]: the same data with one batched
/// `= ANY($1)` lookup, tagged with the `/clean` route.
pub async fn orders_then_customers_batched(client: &tokio_postgres::Client) {
    let orders = client
        .query(
            "SELECT id, customer_id FROM orders WHERE id <= $1 /*route='%2Fclean'*/",
            &[&25i32],
        )
        .await
        .expect("orders");
    let ids: Vec<i32> = orders.iter().map(|o| o.get(1)).collect();
    client
        .query(
            "SELECT id, name FROM customers WHERE id = ANY($1) /*route='%2Fclean'*/",
            &[&ids],
        )
        .await
        .expect("batch");
}

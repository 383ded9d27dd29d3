//! Statements attributed to the tests that ran them.
//!
//! The runner hooks (`assets/runners/`) append one JSON line per phase boundary to the side
//! channel file (`QUERYCOMB_TESTS`):
//! `{"pid":123,"test":"tests/test_x.py::test_y","phase":"setup","at":"start","time_us":…}`.
//! A statement ran in the phase whose latest boundary on its client process (or an ancestor)
//! at the statement's start time is a `start`. Its route becomes [`route_of`] the test and
//! phase, which groups it into a request of its own and names the test in findings and
//! budgets, exactly as a sqlcommenter `route` tag would (a tag in the SQL still wins).
//!
//! Why a file read on demand: a hook writes a phase's `start` line before the test sends
//! any statement, so when detection reaches a statement that started at `t`, every line
//! the statement depends on is in the file if it was read after `t`. The file is read again
//! only when a statement is newer than the last read, so there is no race and no thread.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use querycomb_core::{Finding, FindingSink, QueryEvent, Scanned, SourceTable, Timestamp};
use querycomb_proxy::observe::wall_clock;
use querycomb_proxy::LiveDetector;
use serde::Deserialize;
use std::time::Instant;

use querycomb_core::test_route::{route_of, Phase};

use super::cargo::test_id;
use super::peers::{Client, Peers};

#[derive(Debug, Deserialize)]
struct Line {
    #[serde(default)]
    pid: u32,
    /// Instead of a process: the Go package whose test binary ran the test (`gotest.rs`).
    #[serde(default)]
    go_package: Option<String>,
    /// Instead of a process: whichever test binary `cargo test` runs (`cargo.rs`); the test
    /// is named after that binary's id.
    #[serde(default)]
    cargo_test: bool,
    test: String,
    phase: String,
    at: String,
    /// The system clock, µs since the epoch.
    time_us: Timestamp,
    /// The monotonic clock (`CLOCK_MONOTONIC`), µs, when the hook can read it: the clock
    /// the proxy times statements on, so no conversion error between two clocks can put a
    /// boundary after a statement that followed it.
    #[serde(default)]
    mono_us: Option<Timestamp>,
}

/// Whose time line a boundary is on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Owner {
    Process(u32),
    /// A Go package's test binary, `<package name>.test`, whatever its process id.
    GoPackage(String),
    /// The test binaries `cargo test` runs, one after another.
    CargoTests,
}

/// One boundary on one process's time line.
#[derive(Debug)]
struct Mark {
    time: Timestamp,
    /// The route of the phase that starts here; `None` where a phase ends.
    route: Option<Arc<str>>,
}

/// What the hooks reported so far, per process.
pub struct TestLog {
    file: Option<File>,
    pending: Vec<u8>,
    read_at: Timestamp,
    marks: HashMap<Owner, Vec<Mark>>,
    routes: HashMap<(String, &'static str), Arc<str>>,
    /// `cargo test`'s test names qualified by their binary: (binary id, test) → test id.
    qualified: HashMap<(Arc<str>, Arc<str>), Arc<str>>,
    /// The hooks' clock (the system's) minus the proxy's event clock, at the last read: the
    /// proxy times events on a monotonic clock anchored once, which drifts from the system
    /// clock over a long run (NTP), so boundaries are moved onto the proxy's clock as read.
    offset_us: Timestamp,
    /// The proxy's event clock minus `CLOCK_MONOTONIC`: both count from the same ticks, so
    /// this is fixed for the run.
    mono_offset_us: Timestamp,
    /// Lines that were not a boundary (a hook of another version, a torn write).
    pub unreadable: u64,
    /// Boundaries read.
    pub boundaries: u64,
}

impl TestLog {
    pub fn open(path: &Path) -> TestLog {
        TestLog {
            file: File::open(path).ok(),
            pending: Vec::new(),
            read_at: Timestamp::MIN,
            marks: HashMap::new(),
            routes: HashMap::new(),
            qualified: HashMap::new(),
            offset_us: 0,
            mono_offset_us: monotonic_offset(),
            unreadable: 0,
            boundaries: 0,
        }
    }

    /// The route of the phase running at `time` on the first process of the client's
    /// lineage that reported tests, else on its Go test binary (`<package>.test`), else, for
    /// a `cargo test` binary, on the time line of `cargo test`'s output.
    pub fn route_at(&mut self, client: &Client, time: Timestamp) -> Option<Arc<str>> {
        if time >= self.read_at {
            self.read_more();
        }
        let go_package = client
            .program
            .as_deref()
            .and_then(|p| p.strip_suffix(".test"))
            .map(|package| Owner::GoPackage(package.to_owned()));
        let rust_binary = client.rust_test.as_ref().map(|rust| rust.binary.as_str());
        let (marks, binary) = match client
            .lineage
            .iter()
            .find_map(|pid| self.marks.get(&Owner::Process(*pid)))
            .or_else(|| self.marks.get(go_package.as_ref()?))
        {
            Some(marks) => (marks, None),
            None => (self.marks.get(&Owner::CargoTests)?, Some(rust_binary?)),
        };
        let after = marks.partition_point(|mark| mark.time <= time);
        let route = marks.get(after.checked_sub(1)?)?.route.clone()?;
        let Some(binary) = binary else {
            return Some(route);
        };
        let key = (Arc::<str>::from(binary), route);
        Some(
            self.qualified
                .entry(key)
                .or_insert_with_key(|(binary, test)| test_id(binary, test).into())
                .clone(),
        )
    }

    /// Reads what the hooks appended since the last read.
    pub fn read_more(&mut self) {
        let proxy_now = wall_clock(Instant::now());
        self.offset_us = now_us() - proxy_now;
        self.read_at = proxy_now;
        let Some(file) = self.file.as_mut() else {
            return;
        };
        if file.read_to_end(&mut self.pending).is_err() {
            return;
        }
        let Some(complete) = self.pending.iter().rposition(|&b| b == b'\n') else {
            return;
        };
        let rest = self.pending.split_off(complete + 1);
        let lines = std::mem::replace(&mut self.pending, rest);
        for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            self.add(line);
        }
    }

    fn add(&mut self, line: &[u8]) {
        let parsed = serde_json::from_slice::<Line>(line)
            .ok()
            .and_then(|l| Some((Phase::parse(&l.phase)?, l)));
        let Some((phase, line)) = parsed else {
            self.unreadable += 1;
            return;
        };
        self.boundaries += 1;
        let route = match line.at.as_str() {
            "start" => Some(
                self.routes
                    .entry((line.test, phase.id()))
                    .or_insert_with_key(|(test, _)| route_of(test, phase).into())
                    .clone(),
            ),
            _ => None,
        };
        let owner = match (line.go_package, line.cargo_test) {
            (Some(package), _) => Owner::GoPackage(package),
            (None, true) => Owner::CargoTests,
            (None, false) => Owner::Process(line.pid),
        };
        let marks = self.marks.entry(owner).or_default();
        let time = match line.mono_us {
            Some(mono) => mono + self.mono_offset_us,
            None => line.time_us - self.offset_us,
        };
        let mark = Mark { time, route };
        // Each process writes in order; keep the line sorted should a clock step back.
        let at = marks.partition_point(|m| m.time <= mark.time);
        marks.insert(at, mark);
    }
}

pub fn monotonic_us() -> Timestamp {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    now.tv_sec as Timestamp * 1_000_000 + now.tv_nsec as Timestamp / 1_000
}

/// The proxy's event clock minus `CLOCK_MONOTONIC`, read between two monotonic readings:
/// of a few tries, the one with the tightest bracket (a thread preempted between the
/// readings only widens its own bracket).
fn monotonic_offset() -> Timestamp {
    (0..16)
        .map(|_| {
            let before = monotonic_us();
            let proxy = wall_clock(Instant::now());
            let after = monotonic_us();
            (after - before, proxy - (before + after) / 2)
        })
        .min_by_key(|&(bracket, _)| bracket)
        .map_or(0, |(_, offset)| offset)
}

pub fn now_us() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as Timestamp)
}

/// How many statements were attributed, for the run's notices.
#[derive(Debug, Default)]
pub struct AttributedStatements {
    /// To a test and phase.
    pub to_tests: AtomicU64,
    /// To a Rust test binary only (`cargo test` with tests on several threads).
    pub to_binaries: AtomicU64,
}

/// The detection stage with each statement's route set to the test phase that ran it.
pub struct Attributed {
    inner: Box<dyn LiveDetector>,
    tests: TestLog,
    peers: Arc<Peers>,
    connections: HashMap<u64, Connection>,
    tally: Arc<AttributedStatements>,
}

/// What attribution keeps per connection.
struct Connection {
    client: Arc<Client>,
    /// The test of a nextest process: all its connections' statements are that test's.
    own_test: Option<Arc<str>>,
    /// The session named with its Rust test binary, for statements of no known test.
    binary_session: Option<String>,
}

impl Connection {
    fn new(client: Arc<Client>, session: &str) -> Connection {
        let rust = client.rust_test.as_ref();
        Connection {
            own_test: rust.and_then(|r| r.test_id()).map(Arc::from),
            binary_session: rust.map(|r| format!("{session} (test binary {})", r.binary)),
            client,
        }
    }
}

impl Attributed {
    pub fn new(
        inner: Box<dyn LiveDetector>,
        tests: TestLog,
        peers: Arc<Peers>,
        tally: Arc<AttributedStatements>,
    ) -> Attributed {
        Attributed {
            inner,
            tests,
            peers,
            connections: HashMap::new(),
            tally,
        }
    }
}

impl LiveDetector for Attributed {
    fn event<'a>(&mut self, event: &QueryEvent<'a>) -> Scanned<'a> {
        let (None, Some(time)) = (event.route, event.time) else {
            return self.inner.event(event);
        };
        // Event `location.line` is the proxy's connection id.
        let id = event.location.line;
        let peers = &self.peers;
        let connection = self
            .connections
            .entry(id)
            .or_insert_with(|| Connection::new(peers.client(id), event.session));
        let route = self
            .tests
            .route_at(&connection.client, time)
            .or_else(|| connection.own_test.clone());
        if let Some(route) = route.as_deref() {
            self.tally.to_tests.fetch_add(1, Ordering::Relaxed);
            return self
                .inner
                .event(&QueryEvent {
                    route: Some(route),
                    ..*event
                })
                .into_owned();
        }
        match connection.binary_session.as_deref() {
            Some(session) => {
                self.tally.to_binaries.fetch_add(1, Ordering::Relaxed);
                self.inner
                    .event(&QueryEvent { session, ..*event })
                    .into_owned()
            }
            None => self.inner.event(event),
        }
    }

    fn tick(&mut self, now: Timestamp) {
        self.inner.tick(now);
    }

    fn take_updates(&mut self) -> Vec<Finding> {
        self.inner.take_updates()
    }

    fn finish_into(
        self: Box<Self>,
        sources: &SourceTable,
        sink: &mut dyn FindingSink,
    ) -> io::Result<()> {
        self.inner.finish_into(sources, sink)
    }

    fn table_sizes(&self) -> Vec<(&'static str, usize)> {
        self.inner.table_sizes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Records the route each statement reached detection with.
    struct Routes(Arc<std::sync::Mutex<Vec<Option<String>>>>);

    impl LiveDetector for Routes {
        fn event<'a>(&mut self, event: &QueryEvent<'a>) -> Scanned<'a> {
            if let Ok(mut routes) = self.0.lock() {
                routes.push(event.route.map(str::to_owned));
            }
            Scanned::default()
        }
        fn tick(&mut self, _now: Timestamp) {}
        fn take_updates(&mut self) -> Vec<Finding> {
            Vec::new()
        }
        fn finish_into(
            self: Box<Self>,
            _sources: &SourceTable,
            _sink: &mut dyn FindingSink,
        ) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_statement_that_arrives_before_its_connection_is_resolved_waits_for_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tests.jsonl");
        std::fs::write(
            &path,
            concat!(
                r#"{"pid":4242,"test":"t.py::test_a","phase":"call","at":"start","time_us":100000}"#,
                "\n"
            ),
        )
        .expect("write");
        // The resolution says when it has begun (the connection is pending by then), and
        // finishes only when the test lets it: after the statement waits.
        let (begun_tx, begun) = std::sync::mpsc::channel::<()>();
        let (release, answers) = std::sync::mpsc::channel::<Vec<u32>>();
        let channels = std::sync::Mutex::new((begun_tx, answers));
        let (peers, resolver) = Peers::start_with(move |_peer| {
            let Ok(channels) = channels.lock() else {
                return Vec::new();
            };
            let _ = channels.0.send(());
            channels.1.recv().unwrap_or_default()
        });
        let routes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let connection = 7;
        // The accept loop's side.
        let accept = std::thread::spawn(move || {
            let address = "127.0.0.1:40000".parse().expect("address");
            resolver.connected(connection, address);
        });
        let (seen, detector_peers, log) = (routes.clone(), peers.clone(), TestLog::open(&path));
        begun.recv().expect("resolution begun");
        // Detection runs on its own thread, as in the proxy.
        let statement = std::thread::spawn(move || {
            let mut detector =
                Attributed::new(Box::new(Routes(seen)), log, detector_peers, Arc::default());
            detector.event(&QueryEvent {
                location: querycomb_core::Location {
                    line: connection,
                    ..Default::default()
                },
                time: Some(150_000),
                sql: "SELECT 1",
                ..Default::default()
            });
            // A connection never accepted is unknown at once, not waited for.
            detector.event(&QueryEvent {
                location: querycomb_core::Location {
                    line: 99,
                    ..Default::default()
                },
                time: Some(150_000),
                sql: "SELECT 2",
                ..Default::default()
            });
        });
        peers.wait_for_waiters(1);
        assert!(
            routes.lock().expect("routes").is_empty(),
            "went on unresolved"
        );
        release
            .send(vec![4242, 1000])
            .expect("release the resolver");
        statement.join().expect("statement thread");
        accept.join().expect("accept thread");
        assert_eq!(
            *routes.lock().expect("routes"),
            vec![Some("t.py::test_a".to_owned()), None]
        );
    }

    #[test]
    fn a_statement_belongs_to_the_phase_started_before_it_on_its_process() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tests.jsonl");
        let mut file = File::create(&path).expect("create");
        let mut log = TestLog::open(&path);
        let line = |pid: u32, test: &str, phase: &str, at: &str, time: i64| {
            format!(
                r#"{{"pid":{pid},"test":"{test}","phase":"{phase}","at":"{at}","time_us":{time}}}"#
            ) + "\n"
        };
        for (pid, test, phase, at, time) in [
            // Milliseconds apart: the two clock readings behind each conversion may differ
            // by microseconds on a loaded machine.
            (10, "a", "setup", "start", 100_000),
            (10, "a", "setup", "end", 200_000),
            (10, "a", "call", "start", 210_000),
            (20, "b", "call", "start", 150_000),
            (10, "a", "call", "end", 300_000),
        ] {
            file.write_all(line(pid, test, phase, at, time).as_bytes())
                .expect("write");
        }
        // A torn last line waits for its end.
        file.write_all(br#"{"pid":10,"te"#).expect("write");
        log.read_more();
        let route = |log: &mut TestLog, lineage: &[u32], t: i64| {
            let client = Client {
                lineage: lineage.to_vec(),
                ..Client::default()
            };
            log.route_at(&client, t).map(|r| r.to_string())
        };
        assert_eq!(
            route(&mut log, &[10], 150_000).as_deref(),
            Some("a (setup)")
        );
        assert_eq!(route(&mut log, &[10], 250_000).as_deref(), Some("a"));
        assert_eq!(route(&mut log, &[10], 205_000), None, "between phases");
        assert_eq!(route(&mut log, &[10], 50_000), None, "before any test");
        assert_eq!(route(&mut log, &[99, 20], 160_000).as_deref(), Some("b"));
        assert_eq!(route(&mut log, &[99], 160_000), None);
        assert_eq!(log.unreadable, 0);
        file.write_all(b"st\":\"c\",\"phase\":\"call\",\"at\":\"start\",\"time_us\":400000}\n")
            .expect("write");
        log.read_more();
        assert_eq!(route(&mut log, &[10], 500_000).as_deref(), Some("c"));
        assert_eq!(log.boundaries, 6);
    }
}

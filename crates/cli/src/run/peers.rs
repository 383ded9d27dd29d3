//! Which local process is behind a client connection of the proxy (Linux).
//!
//! The client's end of a loopback TCP connection is a socket whose local port is the peer
//! port the proxy saw and whose remote port is the proxy's: `/proc/net/tcp{,6}` gives its
//! inode, and the process holding `socket:[inode]` among its `/proc/<pid>/fd` is the
//! client. Its ancestors are kept too: a test runner's worker may open connections from a
//! child process of its own.
//!
//! Resolution happens in the proxy's accept callback, before the connection is served:
//! the client has just sent (or is about to send) its start-up message and waits for the
//! reply, so its socket is certainly still open. Resolving later, on a thread of its own,
//! lost short-lived connections on a loaded machine: a test that connects, runs one query
//! and disconnects was gone (socket closed, table entry without inode) before the resolver
//! reached it. The cost is the `/proc` scan (the command's own processes first) per
//! accepted connection, on the accept loop.
//!
//! Detection looks a connection up by id; one still being resolved is waited for (the
//! proxy cannot hand detection a statement of a connection it has not served, but the wait
//! keeps attribution right whatever the order), one never seen is unknown at once.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};

use super::cargo::{self, RustTest};

/// A connection's process and its ancestors, nearest first (empty when not found).
pub type Lineage = Vec<u32>;

/// Connection id → the lineage of its client process.
#[derive(Default)]
pub struct Peers {
    state: Mutex<State>,
    changed: Condvar,
}

/// What is known of a connection's client process, read while it was connected.
#[derive(Debug, Default)]
pub struct Client {
    pub lineage: Lineage,
    /// The program name (`argv[0]`'s file name) of the process itself.
    pub program: Option<String>,
    /// The Rust test binary among the lineage, nearest first (see `cargo.rs`).
    pub rust_test: Option<RustTest>,
}

#[derive(Default)]
struct State {
    resolved: HashMap<u64, Arc<Client>>,
    /// Accepted, being resolved.
    pending: HashSet<u64>,
    /// Callers of [`Peers::lineage`] waiting right now (tests observe the ordering).
    waiting: usize,
}

type ResolveFn = dyn Fn(SocketAddr) -> Lineage + Send + Sync;

/// The accept loop's side: resolves each accepted connection before it is served.
pub struct Resolver {
    peers: Arc<Peers>,
    resolve: Box<ResolveFn>,
}

impl Resolver {
    /// Resolves connection `id` from its client address `peer`; call before serving it.
    pub fn connected(&self, id: u64, peer: SocketAddr) {
        if let Ok(mut state) = self.peers.state.lock() {
            state.pending.insert(id);
        }
        // Answered whatever happens in `resolve`, so that no lookup waits forever.
        struct Answer<'a>(&'a Peers, u64, Client);
        impl Drop for Answer<'_> {
            fn drop(&mut self) {
                self.0.answer(self.1, std::mem::take(&mut self.2));
            }
        }
        let mut answer = Answer(&self.peers, id, Client::default());
        let lineage = (self.resolve)(peer);
        // Read now, while the client is certainly alive (a Go test binary is known by its
        // program, a Rust one by its arguments and environment).
        answer.2 = Client {
            program: lineage.first().and_then(|&pid| program_of(pid)),
            rust_test: lineage.iter().find_map(|&pid| cargo::test_process(pid)),
            lineage,
        };
    }
}

impl Peers {
    /// Finds each connection's process through `/proc`.
    pub fn start(proxy_port: u16) -> (Arc<Peers>, Resolver) {
        Peers::start_with(move |peer| resolve(peer, proxy_port))
    }

    /// With `resolve` finding each client's lineage.
    pub fn start_with(
        resolve: impl Fn(SocketAddr) -> Lineage + Send + Sync + 'static,
    ) -> (Arc<Peers>, Resolver) {
        let peers = Arc::new(Peers::default());
        let resolver = Resolver {
            peers: peers.clone(),
            resolve: Box::new(resolve),
        };
        (peers, resolver)
    }

    fn answer(&self, id: u64, client: Client) {
        if let Ok(mut state) = self.state.lock() {
            state.pending.remove(&id);
            state.resolved.insert(id, Arc::new(client));
        }
        self.changed.notify_all();
    }

    /// The client process of connection `id`, waiting for its resolution while it is
    /// pending. A connection never reported as connected is unknown (an empty lineage).
    pub fn client(&self, id: u64) -> Arc<Client> {
        let Ok(mut state) = self.state.lock() else {
            return Arc::default();
        };
        loop {
            if let Some(client) = state.resolved.get(&id) {
                return client.clone();
            }
            if !state.pending.contains(&id) {
                return Arc::default();
            }
            state.waiting += 1;
            self.changed.notify_all();
            state = match self.changed.wait(state) {
                Ok(guard) => guard,
                Err(_) => return Arc::default(),
            };
            state.waiting -= 1;
        }
    }

    /// Waits until `count` callers of [`Peers::lineage`] are waiting (for tests).
    #[cfg(test)]
    pub fn wait_for_waiters(&self, count: usize) {
        let mut state = self.state.lock().expect("peers lock");
        while state.waiting < count {
            state = self.changed.wait(state).expect("peers lock");
        }
    }
}

/// The process (and its ancestors) whose socket has local port `peer.port()` and remote
/// port `proxy_port`.
pub fn resolve(peer: SocketAddr, proxy_port: u16) -> Lineage {
    // The connection is open while the client waits for its start-up reply, so its socket
    // is in a table; a table read while other sockets come and go can skip lines (the
    // kernel resumes each read by position), so a miss is read again, a bounded number of
    // times.
    let Some(inode) = (0..TABLE_READS).find_map(|_| {
        ["/proc/net/tcp", "/proc/net/tcp6"]
            .iter()
            .filter_map(|table| read_table(table))
            .find_map(|text| socket_inode(&text, peer.port(), proxy_port))
    }) else {
        return Lineage::new();
    };
    match owner_of_socket(inode) {
        Some(pid) => lineage_of(pid),
        None => Lineage::new(),
    }
}

/// How many times the socket tables are read before a connection is called unknown.
const TABLE_READS: usize = 5;

/// A `/proc/net` table, read with one large buffer so that the kernel fills it in as few
/// reads as it can (each read after the first resumes by line position, which shifts when
/// sockets open or close in between).
fn read_table(path: &str) -> Option<String> {
    use std::io::Read;
    let mut file = fs::File::open(path).ok()?;
    let mut bytes = vec![0; 1 << 20];
    let mut filled = 0;
    loop {
        if filled == bytes.len() {
            bytes.resize(bytes.len() * 2, 0);
        }
        let read = file.read(bytes.get_mut(filled..)?).ok()?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    bytes.truncate(filled);
    String::from_utf8(bytes).ok()
}

/// The inode of the socket `*:local_port → *:remote_port` in a `/proc/net/tcp` table.
fn socket_inode(table: &str, local_port: u16, remote_port: u16) -> Option<u64> {
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let port = |field: Option<&&str>| {
            field
                .and_then(|a| a.rsplit_once(':'))
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
        };
        if port(fields.get(1)) != Some(local_port) || port(fields.get(2)) != Some(remote_port) {
            return None;
        }
        fields.get(9)?.parse().ok().filter(|inode| *inode != 0)
    })
}

/// The process holding socket `inode`. The command's own processes (querycomb's
/// descendants) are searched first: they own nearly every connection, and on a busy machine
/// reading every other process's descriptors is what makes resolution slow.
fn owner_of_socket(inode: u64) -> Option<u32> {
    let wanted = format!("socket:[{inode}]");
    let own = std::process::id();
    let parents: Vec<(u32, u32)> = fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .filter(|&pid| pid != own)
        .map(|pid| (pid, parent_of(pid).unwrap_or(0)))
        .collect();
    let mut ours = HashSet::from([own]);
    // Parents usually come before children in /proc order; repeat until nothing is added.
    loop {
        let before = ours.len();
        for &(pid, parent) in &parents {
            if ours.contains(&parent) {
                ours.insert(pid);
            }
        }
        if ours.len() == before {
            break;
        }
    }
    let (first, rest): (Vec<u32>, Vec<u32>) = parents
        .iter()
        .map(|&(pid, _)| pid)
        .partition(|pid| ours.contains(pid));
    first
        .into_iter()
        .chain(rest)
        .find(|&pid| holds(pid, &wanted))
}

fn holds(pid: u32, socket: &str) -> bool {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten()
        .any(|fd| fs::read_link(fd.path()).is_ok_and(|target| target.as_os_str() == socket))
}

/// `pid` and its ancestors up to (not including) init and querycomb itself.
fn lineage_of(pid: u32) -> Lineage {
    let own = std::process::id();
    let mut lineage = vec![pid];
    let mut current = pid;
    while let Some(parent) = parent_of(current) {
        if parent <= 1 || parent == own || lineage.contains(&parent) || lineage.len() > 64 {
            break;
        }
        lineage.push(parent);
        current = parent;
    }
    lineage
}

/// The file name of the program `pid` runs (`argv[0]`).
fn program_of(pid: u32) -> Option<String> {
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let argv0 = cmdline.split(|&b| b == 0).next()?;
    let name = std::path::Path::new(std::str::from_utf8(argv0).ok()?).file_name()?;
    Some(name.to_string_lossy().into_owned())
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid …`; comm may hold spaces and parentheses: split at the last `)`.
    let (_, after) = stat.rsplit_once(')')?;
    after.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_socket_by_its_ports() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
           0: 0100007F:9C40 0100007F:1538 01 00000000:00000000 00:00000000 00000000     0        0 111 1 0\n\
           1: 0100007F:1538 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 222 1 0\n";
        assert_eq!(socket_inode(table, 0x9C40, 0x1538), Some(111));
        assert_eq!(socket_inode(table, 0x1538, 0x9C40), Some(222));
        assert_eq!(socket_inode(table, 1, 2), None);
    }

    #[test]
    fn resolves_a_loopback_connection_to_the_process_that_opened_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        // bash opens the connection itself (`/dev/tcp`), then waits for us to close it.
        let mut child = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "exec 3<>/dev/tcp/127.0.0.1/{port}; read -r -u 3 line"
            ))
            .spawn()
            .expect("run bash");
        let (server, peer) = listener.accept().expect("accept");
        let lineage = resolve(peer, port);
        drop(server);
        let _ = child.wait();
        assert_eq!(lineage.first(), Some(&child.id()), "{lineage:?}");
        assert!(!lineage.contains(&std::process::id()), "{lineage:?}");
    }
}

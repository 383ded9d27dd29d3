//! Which local process is behind a client connection of the proxy (Linux).
//!
//! The client's end of a loopback TCP connection is a socket whose local port is the peer
//! port the proxy saw and whose remote port is the proxy's: `/proc/net/tcp{,6}` gives its
//! inode, and the process holding `socket:[inode]` among its `/proc/<pid>/fd` is the
//! client. Its ancestors are kept too: a test runner's worker may open connections from a
//! child process of its own.
//!
//! Resolution runs on its own thread as soon as the proxy accepts a connection (the client
//! is then certainly alive), so the accept loop never waits on `/proc`. The accept loop
//! marks the connection pending first, before the proxy serves it, so detection, which can
//! only see the connection's statements after that, always knows whether to wait: it waits
//! for exactly that connection's answer, however slow the resolver is on a loaded machine.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};

/// A connection's process and its ancestors, nearest first (empty when not found).
pub type Lineage = Vec<u32>;

/// Connection id → the lineage of its client process, filled by the resolver thread.
#[derive(Default)]
pub struct Peers {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    resolved: HashMap<u64, Lineage>,
    /// Accepted, handed to the resolver, not answered yet.
    pending: HashSet<u64>,
    /// The resolver thread has ended: nothing pending will be answered.
    closed: bool,
    /// Callers of [`Peers::lineage`] waiting right now (tests observe the ordering).
    waiting: usize,
}

/// The accept loop's side: tells the resolver of each accepted connection.
pub struct Resolver {
    peers: Arc<Peers>,
    queue: Mutex<mpsc::Sender<(u64, SocketAddr)>>,
}

impl Resolver {
    /// Marks connection `id` pending, then queues it; call before the connection is served.
    pub fn connected(&self, id: u64, peer: SocketAddr) {
        if let Ok(mut state) = self.peers.state.lock() {
            if state.closed {
                return;
            }
            state.pending.insert(id);
        }
        let sent = self
            .queue
            .lock()
            .map(|queue| queue.send((id, peer)).is_ok())
            .unwrap_or(false);
        if !sent {
            self.peers.answer(id, Lineage::new());
        }
    }
}

/// Marks the resolver closed when its thread ends, however it ends.
struct CloseOnDrop(Arc<Peers>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        if let Ok(mut state) = self.0.state.lock() {
            state.closed = true;
            state.pending.clear();
        }
        self.0.changed.notify_all();
    }
}

impl Peers {
    /// Starts the resolver thread, which finds each connection's process through `/proc`.
    pub fn start(proxy_port: u16) -> std::io::Result<(Arc<Peers>, Resolver)> {
        Peers::start_with(move |peer| resolve(peer, proxy_port))
    }

    /// Starts the resolver thread with `resolve` finding each client's lineage.
    pub fn start_with(
        resolve: impl Fn(SocketAddr) -> Lineage + Send + 'static,
    ) -> std::io::Result<(Arc<Peers>, Resolver)> {
        let peers = Arc::new(Peers::default());
        let (tx, rx) = mpsc::channel::<(u64, SocketAddr)>();
        let shared = peers.clone();
        std::thread::Builder::new()
            .name("querycomb-peers".into())
            .spawn(move || {
                let close = CloseOnDrop(shared);
                for (id, peer) in rx {
                    close.0.answer(id, resolve(peer));
                }
            })?;
        let resolver = Resolver {
            peers: peers.clone(),
            queue: Mutex::new(tx),
        };
        Ok((peers, resolver))
    }

    fn answer(&self, id: u64, lineage: Lineage) {
        if let Ok(mut state) = self.state.lock() {
            state.pending.remove(&id);
            state.resolved.insert(id, lineage);
        }
        self.changed.notify_all();
    }

    /// The lineage of connection `id`, waiting for its resolution while it is pending. A
    /// connection never reported as connected (or whose resolver has ended) is unknown.
    pub fn lineage(&self, id: u64) -> Lineage {
        let Ok(mut state) = self.state.lock() else {
            return Lineage::new();
        };
        loop {
            if let Some(lineage) = state.resolved.get(&id) {
                return lineage.clone();
            }
            if !state.pending.contains(&id) {
                return Lineage::new();
            }
            state.waiting += 1;
            self.changed.notify_all();
            state = match self.changed.wait(state) {
                Ok(guard) => guard,
                Err(_) => return Lineage::new(),
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
    let Some(inode) = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| fs::read_to_string(table).ok())
        .find_map(|text| socket_inode(&text, peer.port(), proxy_port))
    else {
        return Lineage::new();
    };
    match owner_of_socket(inode) {
        Some(pid) => lineage_of(pid),
        None => Lineage::new(),
    }
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

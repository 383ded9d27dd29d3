//! Which local process is behind a client connection of the proxy (Linux).
//!
//! The client's end of a loopback TCP connection is a socket whose local port is the peer
//! port the proxy saw and whose remote port is the proxy's: `/proc/net/tcp{,6}` gives its
//! inode, and the process holding `socket:[inode]` among its `/proc/<pid>/fd` is the
//! client. Its ancestors are kept too: a test runner's worker may open connections from a
//! child process of its own.
//!
//! Resolution runs on its own thread as soon as the proxy accepts a connection (the client
//! is then certainly alive), so the accept loop never waits on `/proc`.

use std::collections::HashMap;
use std::fs;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// A connection's process and its ancestors, nearest first (empty when not found).
pub type Lineage = Vec<u32>;

/// Takes `(connection id, client address)` of each accepted connection to resolve.
pub type Resolve = mpsc::Sender<(u64, SocketAddr)>;

/// How long detection waits for a connection's resolution before treating it as unknown.
const RESOLVE_WAIT: Duration = Duration::from_secs(2);

/// Connection id → the lineage of its client process, filled by the resolver thread.
#[derive(Default)]
pub struct Peers {
    resolved: Mutex<HashMap<u64, Lineage>>,
    changed: Condvar,
}

impl Peers {
    /// Starts the resolver thread; the returned sender takes `(connection id, client address)`.
    pub fn start(proxy_port: u16) -> std::io::Result<(Arc<Peers>, Resolve)> {
        let peers = Arc::new(Peers::default());
        let (tx, rx) = mpsc::channel::<(u64, SocketAddr)>();
        let shared = peers.clone();
        std::thread::Builder::new()
            .name("querycomb-peers".into())
            .spawn(move || {
                for (id, peer) in rx {
                    let lineage = resolve(peer, proxy_port);
                    if let Ok(mut map) = shared.resolved.lock() {
                        map.insert(id, lineage);
                    }
                    shared.changed.notify_all();
                }
            })?;
        Ok((peers, tx))
    }

    /// The lineage of connection `id`, waiting briefly for its resolution.
    pub fn lineage(&self, id: u64) -> Lineage {
        let Ok(mut map) = self.resolved.lock() else {
            return Lineage::new();
        };
        let deadline = std::time::Instant::now() + RESOLVE_WAIT;
        loop {
            if let Some(lineage) = map.get(&id) {
                return lineage.clone();
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Lineage::new();
            }
            match self.changed.wait_timeout(map, left) {
                Ok((guard, _)) => map = guard,
                Err(_) => return Lineage::new(),
            }
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

fn owner_of_socket(inode: u64) -> Option<u32> {
    let wanted = format!("socket:[{inode}]");
    let own = std::process::id();
    fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        if pid == own {
            return None;
        }
        let fds = fs::read_dir(entry.path().join("fd")).ok()?;
        fds.flatten()
            .any(|fd| {
                fs::read_link(fd.path()).is_ok_and(|target| target.as_os_str() == wanted.as_str())
            })
            .then_some(pid)
    })
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

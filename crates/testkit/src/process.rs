//! Small process helpers shared by the server kits.

use std::io;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

/// A port that was free a moment ago. Servers are started with a retry because another
/// process may take it between this call and the server's bind.
pub fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Starts a server, three tries: the free port chosen may be taken by someone else before
/// the server binds it.
pub fn start_with_retries<T>(
    what: &str,
    mut try_start: impl FnMut() -> io::Result<T>,
) -> io::Result<T> {
    let mut last_error = None;
    for _ in 0..3 {
        match try_start() {
            Ok(server) => return Ok(server),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other(format!("{what} did not start"))))
}

pub(crate) fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `program args…`, as `user` when we are root (servers refuse to run as root).
pub(crate) fn command_as(user: Option<&str>, program: &Path) -> Command {
    match user {
        Some(user) => {
            let mut cmd = Command::new("runuser");
            cmd.arg("-u").arg(user).arg("--").arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

/// Runs a command to completion and turns a non-zero exit into an error that carries the
/// command line and its stderr, so a failing test says why.
pub(crate) fn run_checked(cmd: &mut Command) -> io::Result<Output> {
    let out = cmd.output().map_err(|e| {
        io::Error::new(e.kind(), format!("cannot run {:?}: {e}", cmd.get_program()))
    })?;
    if out.status.success() {
        return Ok(out);
    }
    // The program and its arguments only: the environment may hold a password.
    let args: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy()).collect();
    Err(io::Error::other(format!(
        "{} {} failed with {}: {}{}",
        cmd.get_program().to_string_lossy(),
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    )))
}

/// Makes `path` and everything under it owned by `user` (for servers run through runuser).
pub(crate) fn chown(user: &str, path: &Path) -> io::Result<()> {
    run_checked(
        Command::new("chown")
            .arg("-R")
            .arg(format!("{user}:"))
            .arg(path),
    )
    .map(drop)
}

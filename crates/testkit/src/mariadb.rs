//! A throwaway MariaDB server: `mariadb-install-db` + `mariadbd` in a temp dir, on a free
//! loopback port and a socket in that dir, with the general query log (and optionally the
//! slow log at `long_query_time = 0`) written into the dir.
//!
//! Readiness is read from the error log ("ready for connections") rather than probed with a
//! client, so the query logs hold nothing but what the test itself ran. When the tests run
//! as root the server drops to the `mysql` system user (`--user=mysql`), or runs with
//! `--user=root` where that user does not exist.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{chown, free_port, run_checked, running_as_root, start_with_retries};

/// How long a server may take to start or stop.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
const READY_MARKER: &str = "ready for connections";

#[derive(Debug, Clone, Default)]
pub struct MariaOptions {
    /// Extra `[mariadbd]` option lines, e.g. `log_slow_verbosity = query_plan`.
    pub conf: Vec<String>,
    /// Also write the slow query log, with `long_query_time = 0` (every statement).
    pub slow_log: bool,
    /// Also write the logs as rows of the log tables (`log_output = FILE,TABLE`), whose
    /// CSV engine files [`MariaDb::general_log_table_path`] and
    /// [`MariaDb::slow_log_table_path`] name.
    pub log_tables: bool,
}

/// A running server. Dropping it stops the server and deletes its directory.
pub struct MariaDb {
    dir: tempfile::TempDir,
    port: u16,
    os_user: &'static str,
    server: Option<Child>,
}

impl MariaDb {
    pub fn start(opts: MariaOptions) -> io::Result<MariaDb> {
        start_with_retries("MariaDB", || Self::try_start(&opts))
    }

    fn try_start(opts: &MariaOptions) -> io::Result<MariaDb> {
        let dir = tempfile::Builder::new().prefix("qc-maria-").tempdir()?;
        let os_user = server_user();
        let mut server = MariaDb {
            dir,
            port: free_port()?,
            os_user,
            server: None,
        };
        server.write_config(opts)?;
        if running_as_root() && os_user != "root" {
            chown(os_user, server.dir.path())?;
        }
        run_checked(
            Command::new(program(&["mariadb-install-db", "mysql_install_db"])?)
                .arg(server.defaults_file_arg())
                .args(user_arg(os_user))
                .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
                .stdin(Stdio::null()),
        )?;
        server.launch()?;
        Ok(server)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn defaults_file_arg(&self) -> String {
        format!("--defaults-file={}", self.path("my.cnf").display())
    }

    fn write_config(&self, opts: &MariaOptions) -> io::Result<()> {
        fs::create_dir(self.path("data"))?;
        let mut lines = vec![
            "[mariadbd]".to_owned(),
            format!("datadir = {}", self.path("data").display()),
            format!("port = {}", self.port),
            "bind-address = 127.0.0.1".to_owned(),
            format!("socket = {}", self.socket_path().display()),
            format!("pid-file = {}", self.path("mariadbd.pid").display()),
            format!("log-error = {}", self.path("error.log").display()),
            "general_log = 1".to_owned(),
            format!("general_log_file = {}", self.general_log_path().display()),
            format!("slow_query_log_file = {}", self.slow_log_path().display()),
            // Small and unsynced: start fast, nothing here needs to survive a crash.
            "innodb_buffer_pool_size = 32M".to_owned(),
            "innodb_log_file_size = 16M".to_owned(),
            "innodb_flush_log_at_trx_commit = 0".to_owned(),
            "skip-log-bin".to_owned(),
        ];
        if opts.slow_log {
            lines.push("slow_query_log = 1".to_owned());
            lines.push("long_query_time = 0".to_owned());
        }
        if opts.log_tables {
            lines.push("log_output = FILE,TABLE".to_owned());
        }
        lines.extend(opts.conf.iter().cloned());
        let mut file = fs::File::create(self.path("my.cnf"))?;
        for line in lines {
            writeln!(file, "{line}")?;
        }
        Ok(())
    }

    /// Starts `mariadbd` and waits until its error log says it is ready.
    fn launch(&mut self) -> io::Result<()> {
        let ready_before = self.ready_count();
        let child = Command::new(program(&["mariadbd", "mysqld"])?)
            .arg(self.defaults_file_arg())
            .args(user_arg(self.os_user))
            // The logs carry local time without a zone: make it UTC so tests can check it.
            .env("TZ", "UTC")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.server = Some(child);
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if self.ready_count() > ready_before && self.socket_path().exists() {
                return Ok(());
            }
            if let Some(child) = self.server.as_mut() {
                if let Some(status) = child.try_wait()? {
                    self.server = None;
                    return Err(io::Error::other(format!(
                        "mariadbd exited with {status}: {}",
                        self.error_log_tail()
                    )));
                }
            }
            if Instant::now() > deadline {
                self.stop_server();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("mariadbd not ready in time: {}", self.error_log_tail()),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn ready_count(&self) -> usize {
        fs::read_to_string(self.path("error.log"))
            .map(|log| log.matches(READY_MARKER).count())
            .unwrap_or(0)
    }

    fn error_log_tail(&self) -> String {
        let log = fs::read_to_string(self.path("error.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Stops the server with SIGTERM (a clean shutdown that logs no client session) and
    /// waits for it to exit; kills it if it does not.
    fn stop_server(&mut self) {
        let Some(mut child) = self.server.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Stops the server (a clean shutdown) so that its logs are complete and stay as they
    /// are: read a log after this, never while the server may still append to it. The temp
    /// dir with the logs lives until the handle drops.
    pub fn stop(&mut self) {
        self.stop_server();
    }

    /// Stops and starts the server on the same data and logs: thread ids start again
    /// from 1, and the logs get the server banner again.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop_server();
        self.launch()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn host(&self) -> &str {
        "127.0.0.1"
    }

    pub fn socket_path(&self) -> PathBuf {
        self.path("mariadbd.sock")
    }

    pub fn general_log_path(&self) -> PathBuf {
        self.path("general.log")
    }

    /// Written only with [`MariaOptions::slow_log`].
    pub fn slow_log_path(&self) -> PathBuf {
        self.path("slow.log")
    }

    /// `mysql.general_log` as its CSV engine stores it; written only with
    /// [`MariaOptions::log_tables`].
    pub fn general_log_table_path(&self) -> PathBuf {
        self.path("data/mysql/general_log.CSV")
    }

    /// `mysql.slow_log` as its CSV engine stores it; written only with
    /// [`MariaOptions::log_tables`] and [`MariaOptions::slow_log`].
    pub fn slow_log_table_path(&self) -> PathBuf {
        self.path("data/mysql/slow_log.CSV")
    }

    /// Runs SQL as `root` through the `mariadb` client over the Unix socket, in one
    /// connection; returns its tab-separated output without column names. `db` may be empty.
    pub fn client(&self, db: &str, sql: &str) -> io::Result<String> {
        let mut cmd = self.client_command(db);
        cmd.args(["--protocol=socket", "-uroot"])
            .arg(format!("--socket={}", self.socket_path().display()));
        run_client(cmd, sql)
    }

    /// Runs a query as `root` the way a user exports a table with the client: `mariadb
    /// --batch`, with the header line of column names when `column_names` is set.
    pub fn export(&self, sql: &str, column_names: bool) -> io::Result<String> {
        let mut cmd = self.client_command("");
        if column_names {
            // After `--skip-column-names`: the last of the two wins.
            cmd.arg("--column-names");
        }
        cmd.args(["--protocol=socket", "-uroot"])
            .arg(format!("--socket={}", self.socket_path().display()));
        run_client(cmd, sql)
    }

    /// Runs SQL as `user` over TCP (`127.0.0.1`), in one connection.
    pub fn client_as(&self, user: &str, password: &str, db: &str, sql: &str) -> io::Result<String> {
        let mut cmd = self.client_command(db);
        cmd.args(["--protocol=tcp", "-h", "127.0.0.1"])
            .arg(format!("--port={}", self.port))
            .arg(format!("--user={user}"))
            .env("MYSQL_PWD", password);
        run_client(cmd, sql)
    }

    fn client_command(&self, db: &str) -> Command {
        let program = program(&["mariadb", "mysql"]).unwrap_or_else(|_| PathBuf::from("mariadb"));
        let mut cmd = Command::new(program);
        // --comments: keep sqlcommenter tags, which the client strips by default.
        cmd.args([
            "--no-defaults",
            "--batch",
            "--skip-column-names",
            "--comments",
        ]);
        if !db.is_empty() {
            cmd.arg(format!("--database={db}"));
        }
        cmd
    }

    /// Waits until `path` contains `needle` and returns the file's text. The server writes
    /// its logs as statements run; this guards against reading before the last line lands.
    pub fn wait_for_log(&self, path: &Path, needle: &str) -> io::Result<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = fs::read(path)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            if text.contains(needle) {
                return Ok(text);
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{} never contained {needle:?}", path.display()),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        self.stop_server();
    }
}

/// Feeds `sql` on stdin (so statements can span lines and contain `;`) and returns stdout.
fn run_client(mut cmd: Command, sql: &str) -> io::Result<String> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run the mariadb client: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(sql.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "mariadb client failed with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The OS user the server runs as: `mysql` when we are root and it exists (the Debian
/// package creates it), else `root` when we are root, else ourselves (`--user` is then a
/// no-op for the server and install script).
fn server_user() -> &'static str {
    if !running_as_root() {
        return "";
    }
    let has_mysql = fs::read_to_string("/etc/passwd")
        .map(|passwd| passwd.lines().any(|l| l.starts_with("mysql:")))
        .unwrap_or(false);
    if has_mysql {
        "mysql"
    } else {
        "root"
    }
}

fn user_arg(os_user: &str) -> Option<String> {
    (!os_user.is_empty()).then(|| format!("--user={os_user}"))
}

/// The first of `names` found on PATH or in the sbin directories Debian installs servers to.
fn program(names: &[&str]) -> io::Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"].map(PathBuf::from))
        .collect();
    names
        .iter()
        .flat_map(|name| dirs.iter().map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{} not found: run scripts/setup-test-deps.sh (installs mariadb-server)",
                    names.join(" / ")
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_runs_sql_logs_and_restarts() {
        let mut db = MariaDb::start(MariaOptions {
            slow_log: true,
            ..MariaOptions::default()
        })
        .expect("start");
        assert_eq!(db.client("", "SELECT 40 + 2").unwrap().trim(), "42");
        db.client("", "CREATE DATABASE shop; CREATE USER app@'%' IDENTIFIED BY 'pw'; GRANT ALL ON shop.* TO app@'%';")
            .unwrap();
        let out = db
            .client_as("app", "pw", "shop", "SELECT DATABASE(), 'sentinel-1'")
            .unwrap();
        assert_eq!(out.trim(), "shop\tsentinel-1");
        let general = db
            .wait_for_log(&db.general_log_path(), "sentinel-1")
            .unwrap();
        assert!(general.contains("Query\tSELECT 40 + 2"), "{general}");
        assert!(
            general.contains("Connect\tapp@localhost on shop using TCP/IP"),
            "{general}"
        );
        db.wait_for_log(&db.slow_log_path(), "sentinel-1").unwrap();
        assert!(db.client_as("app", "wrong", "shop", "SELECT 1").is_err());
        db.restart().unwrap();
        assert_eq!(db.client("", "SELECT 'after'").unwrap().trim(), "after");
        let general = db.wait_for_log(&db.general_log_path(), "'after'").unwrap();
        assert_eq!(general.matches("started with:").count(), 2, "{general}");
    }
}

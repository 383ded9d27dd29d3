//! A throwaway PostgreSQL cluster: `initdb` + `pg_ctl` in a temp dir on a free port.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{
    chown, command_as, free_port, run_checked, running_as_root, start_with_retries,
};

/// How TCP clients authenticate. Unix-socket connections are always trusted (the kit uses
/// them for setup).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Auth {
    #[default]
    Trust,
    Md5,
    Scram,
}

impl Auth {
    fn hba_method(self) -> &'static str {
        match self {
            Auth::Trust => "trust",
            Auth::Md5 => "md5",
            Auth::Scram => "scram-sha-256",
        }
    }
}

#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Extra `postgresql.conf` lines, e.g. `log_statement = 'all'`.
    pub conf: Vec<String>,
    pub auth: Auth,
    /// The superuser is `qc` with this password.
    pub password: String,
    /// PEM certificate and key: the server accepts TLS (`ssl = on`) with them.
    pub tls: Option<(String, String)>,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            conf: Vec::new(),
            auth: Auth::Trust,
            password: "qc-secret".to_owned(),
            tls: None,
        }
    }
}

/// A running cluster. Dropping it stops the server and deletes its directory.
pub struct PgServer {
    dir: tempfile::TempDir,
    port: u16,
    bin: PathBuf,
    os_user: Option<&'static str>,
    password: String,
}

pub const SUPERUSER: &str = "qc";

impl PgServer {
    pub fn start(opts: PgOptions) -> io::Result<PgServer> {
        start_with_retries("PostgreSQL", || Self::try_start(&opts))
    }

    fn try_start(opts: &PgOptions) -> io::Result<PgServer> {
        let bin = bin_dir()?;
        let os_user = running_as_root().then_some("postgres");
        let dir = tempfile::Builder::new().prefix("querycomb-pg-").tempdir()?;
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
        let port = free_port()?;
        let server = PgServer {
            dir,
            port,
            bin,
            os_user,
            password: opts.password.clone(),
        };
        server.init(opts)?;
        server.pg_ctl(
            &["start", "-w", "-t", "60", "-l"],
            Some(&server.path("server.log")),
        )?;
        server.set_password(opts.auth)?;
        Ok(server)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn data_dir(&self) -> PathBuf {
        self.path("data")
    }

    fn socket_dir(&self) -> PathBuf {
        self.path("sock")
    }

    fn init(&self, opts: &PgOptions) -> io::Result<()> {
        for sub in ["data", "sock", "log"] {
            fs::create_dir(self.path(sub))?;
        }
        if let Some(user) = self.os_user {
            chown(user, self.dir.path())?;
        }
        run_checked(
            command_as(self.os_user, &self.bin.join("initdb"))
                .arg("-D")
                .arg(self.data_dir())
                .args(["-U", SUPERUSER, "-E", "UTF8", "--locale=C", "--no-sync"])
                .args(["--auth-local=trust", "--auth-host", opts.auth.hba_method()]),
        )?;
        let mut conf = fs::OpenOptions::new()
            .append(true)
            .open(self.data_dir().join("postgresql.conf"))?;
        let base = [
            "listen_addresses = '127.0.0.1'".to_owned(),
            format!("port = {}", self.port),
            format!(
                "unix_socket_directories = '{}'",
                self.socket_dir().display()
            ),
            "fsync = off".to_owned(),
            "logging_collector = on".to_owned(),
            format!("log_directory = '{}'", self.log_dir().display()),
            "log_filename = 'postgresql.log'".to_owned(),
        ];
        for line in base.iter().chain(&opts.conf) {
            writeln!(conf, "{line}")?;
        }
        if let Some((cert, key)) = &opts.tls {
            self.write_tls(cert, key)?;
            writeln!(conf, "ssl = on")?;
        }
        Ok(())
    }

    /// `server.crt` and `server.key` in the data directory, where `ssl = on` looks; the
    /// key readable by the server's user only, as PostgreSQL insists.
    fn write_tls(&self, cert: &str, key: &str) -> io::Result<()> {
        let (cert_path, key_path) = (
            self.data_dir().join("server.crt"),
            self.data_dir().join("server.key"),
        );
        fs::write(&cert_path, cert)?;
        fs::write(&key_path, key)?;
        fs::set_permissions(&key_path, fs::Permissions::from_mode(0o600))?;
        if let Some(user) = self.os_user {
            chown(user, &cert_path)?;
            chown(user, &key_path)?;
        }
        Ok(())
    }

    fn pg_ctl(&self, args: &[&str], log: Option<&Path>) -> io::Result<()> {
        let mut cmd = command_as(self.os_user, &self.bin.join("pg_ctl"));
        cmd.arg("-D").arg(self.data_dir()).args(args);
        if let Some(log) = log {
            cmd.arg(log);
        }
        run_checked(cmd.stdin(Stdio::null())).map(drop)
    }

    fn set_password(&self, auth: Auth) -> io::Result<()> {
        let encryption = if auth == Auth::Md5 {
            "md5"
        } else {
            "scram-sha-256"
        };
        let sql = format!(
            "SET password_encryption = '{encryption}'; ALTER USER {SUPERUSER} PASSWORD '{}';",
            self.password.replace('\'', "''")
        );
        self.psql_via(&self.socket_dir().display().to_string(), "postgres", &sql)
            .map(drop)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn host(&self) -> &str {
        "127.0.0.1"
    }

    pub fn user(&self) -> &str {
        SUPERUSER
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    /// `postgres://qc:password@127.0.0.1:port/db`
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/{db}",
            self.password, self.port
        )
    }

    /// A libpq key=value connection string over TCP.
    pub fn conn_str(&self, db: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={SUPERUSER} password={} dbname={db}",
            self.port, self.password
        )
    }

    /// Runs SQL through `psql` over TCP and returns its unaligned, tuples-only output.
    pub fn psql(&self, db: &str, sql: &str) -> io::Result<String> {
        self.psql_via("127.0.0.1", db, sql)
    }

    /// Runs a SQL script file through `psql` over TCP with `application_name` set. A failing
    /// statement does not stop the script: workloads include errors on purpose, to see
    /// them in the server's log.
    pub fn psql_file(&self, db: &str, app: &str, file: &Path) -> io::Result<String> {
        let out = run_checked(
            Command::new(self.bin.join("psql"))
                .args(["-X", "-q", "-A", "-t"])
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    SUPERUSER,
                ])
                .args(["-d", db, "-f"])
                .arg(file)
                .env("PGPASSWORD", &self.password)
                .env("PGAPPNAME", app)
                .stdin(Stdio::null()),
        )?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn psql_via(&self, host: &str, db: &str, sql: &str) -> io::Result<String> {
        let out = run_checked(
            Command::new(self.bin.join("psql"))
                .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
                .args(["-h", host, "-p", &self.port.to_string(), "-U", SUPERUSER])
                .args(["-d", db, "-c", sql])
                .env("PGPASSWORD", &self.password)
                .stdin(Stdio::null()),
        )?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn createdb(&self, name: &str) -> io::Result<()> {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""))
            .map(drop)
    }

    /// Where the logging collector writes (`postgresql.log`, `.csv`, `.json`).
    pub fn log_dir(&self) -> PathBuf {
        self.path("log")
    }

    pub fn log_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = fs::read_dir(self.log_dir())
            .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        files
    }

    /// Waits until `file` in the log directory contains `needle`: the logging collector
    /// writes asynchronously, so a test first runs a sentinel statement, then waits for it.
    pub fn wait_for_log(&self, file: &str, needle: &str) -> io::Result<String> {
        let path = self.log_dir().join(file);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = fs::read(&path)
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

    /// Stops the server now (fast shutdown) but keeps the directory, so tests can read the
    /// complete logs.
    pub fn stop(&self) -> io::Result<()> {
        self.pg_ctl(&["stop", "-m", "fast", "-w"], None)
    }

    /// Kills the server as a crash would (immediate shutdown: every backend gone at once,
    /// crash recovery on the next start).
    pub fn kill(&self) -> io::Result<()> {
        self.pg_ctl(&["stop", "-m", "immediate", "-w"], None)
    }

    /// Starts the stopped (or killed) server again, on the same port and data.
    pub fn restart(&self) -> io::Result<()> {
        self.pg_ctl(
            &["start", "-w", "-t", "60", "-l"],
            Some(&self.path("server.log")),
        )
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["stop", "-m", "immediate", "-w"], None);
    }
}

/// The directory holding `initdb`/`pg_ctl`/`psql`: `$PG_BIN` if set, else the first of the
/// PATH entry, Debian's `/usr/lib/postgresql/<newest>/bin`.
fn bin_dir() -> io::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let debian = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir(debian)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    let v = e.file_name().to_str()?.parse().ok()?;
                    Some((v, e.path().join("bin")))
                })
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    if let Some((_, dir)) = versions.pop() {
        return Ok(dir);
    }
    std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).find(|dir| dir.join("initdb").is_file()))
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "no PostgreSQL server binaries (initdb, pg_ctl): install postgresql or set PG_BIN",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_runs_sql_and_logs() {
        let pg = PgServer::start(PgOptions {
            conf: vec!["log_statement = 'all'".into()],
            ..PgOptions::default()
        })
        .expect("start");
        assert_eq!(pg.psql("postgres", "SELECT 40 + 2").unwrap().trim(), "42");
        pg.psql("postgres", "SELECT 'sentinel-1'").unwrap();
        let log = pg.wait_for_log("postgresql.log", "sentinel-1").unwrap();
        assert!(log.contains("statement: SELECT 40 + 2"), "{log}");
    }

    #[test]
    fn scram_rejects_a_wrong_password() {
        let pg = PgServer::start(PgOptions {
            auth: Auth::Scram,
            ..PgOptions::default()
        })
        .expect("start");
        assert_eq!(pg.psql("postgres", "SELECT 1").unwrap().trim(), "1");
        let wrong = Command::new(bin_dir().unwrap().join("psql"))
            .args([
                "-X",
                "-h",
                "127.0.0.1",
                "-p",
                &pg.port().to_string(),
                "-U",
                "qc",
            ])
            .args(["-d", "postgres", "-c", "SELECT 1"])
            .env("PGPASSWORD", "wrong")
            .output()
            .unwrap();
        assert!(!wrong.status.success());
        assert!(String::from_utf8_lossy(&wrong.stderr).contains("password authentication failed"));
    }
}

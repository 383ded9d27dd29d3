//! Rust's tests, under cargo-nextest or `cargo test`. No hook can be loaded into a Rust test
//! binary, but both runners say enough from outside:
//!
//! - **cargo-nextest** runs every test in a process of its own: the test binary with
//!   `--exact <test name>` on its command line and, since nextest 0.9.9x, `NEXTEST_TEST_NAME`
//!   and `NEXTEST_BINARY_ID` in its environment. A connection whose process (or an ancestor
//!   of it: a helper the test spawned) is such a process belongs to that test, whatever the
//!   time, so nothing needs to be sent over the side channel.
//! - **`cargo test`** runs each test binary's tests on threads of one process, and the
//!   binaries one after another. With one test thread (`-- --test-threads=1`, or
//!   `RUST_TEST_THREADS=1`) and libtest's default output, libtest prints `test <name> ... `
//!   before each test and its result after it: querycomb relays the command's standard
//!   output unchanged and appends a boundary to the side channel for each (stamped when
//!   read, like `go test -json`'s events: a statement in a test's first instants can miss
//!   it). Otherwise two tests of a binary cannot be told apart: the connection is labelled
//!   with its test binary only, and statements are grouped as without hooks.
//!
//! A test is named as nextest names it, `<binary id> <test name>`: the binary id is the
//! package for the library's unit tests and `<package>::<target>` for the others
//! (`shop::books books_page`); `cargo test` binaries get the same id from their package
//! (`CARGO_PKG_NAME`) and file name (`<target>-<hash>`).

use std::io::{Read, Write};
use std::path::Path;

use super::attribution::{monotonic_us, now_us};

/// A Rust test binary's process, as cargo or nextest started it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RustTest {
    /// nextest's binary id: `<package>` or `<package>::<target>`.
    pub binary: String,
    /// The one test the process runs (nextest's process per test), if it is known.
    pub test: Option<String>,
}

impl RustTest {
    /// The test id of the process's own test, `<binary id> <test name>`.
    pub fn test_id(&self) -> Option<String> {
        self.test.as_ref().map(|test| test_id(&self.binary, test))
    }
}

/// `<binary id> <test name>`, nextest's way of naming a test.
pub fn test_id(binary: &str, test: &str) -> String {
    format!("{binary} {test}")
}

/// Reads `/proc/<pid>` for a Rust test binary. `None` for any other process.
pub fn test_process(pid: u32) -> Option<RustTest> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let argv: Vec<String> = cmdline
        .split(|&b| b == 0)
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect();
    let target = target_of(Path::new(argv.first()?))?;
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    describe(&argv, target, |name| variable(&environ, name))
}

/// What a test binary's arguments and environment say about it.
fn describe(
    argv: &[String],
    target: &str,
    var: impl Fn(&str) -> Option<String>,
) -> Option<RustTest> {
    let package = var("CARGO_PKG_NAME")?;
    let test = nextest_test(argv, &var);
    // Only nextest's own process has its own binary id (see `nextest_test`).
    let binary = test
        .as_ref()
        .and_then(|_| var("NEXTEST_BINARY_ID"))
        .unwrap_or_else(|| binary_id(&package, target));
    Some(RustTest { binary, test })
}

/// The test of a nextest process: the `--exact` argument nextest passes, when the
/// environment says nextest started it. A name in the environment must agree with it: a
/// `cargo test` run inside a nextest test inherits that outer test's variables.
fn nextest_test(argv: &[String], var: &impl Fn(&str) -> Option<String>) -> Option<String> {
    let per_process = var("NEXTEST_EXECUTION_MODE").is_some_and(|m| m == "process-per-test")
        || var("NEXTEST").is_some_and(|v| v == "1");
    if !per_process {
        return None;
    }
    let exact = argv
        .iter()
        .position(|arg| arg == "--exact")
        .and_then(|at| argv.get(at + 1))?;
    match var("NEXTEST_TEST_NAME") {
        Some(name) if name != *exact => None,
        _ => Some(exact.clone()),
    }
}

/// nextest's binary id for target `target` of `package`: the package alone for its library
/// (whose crate name is the package's with `-` made `_`), else `<package>::<target>`.
fn binary_id(package: &str, target: &str) -> String {
    if package.replace('-', "_") == target {
        package.to_owned()
    } else {
        format!("{package}::{target}")
    }
}

/// The target name of a test binary, `<target>-<16 hex digits>` as cargo names it.
fn target_of(program: &Path) -> Option<&str> {
    let name = program.file_name()?.to_str()?;
    let (target, hash) = name.rsplit_once('-')?;
    (hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) && !target.is_empty())
        .then_some(target)
}

/// The value of `name` in a `/proc/<pid>/environ` block.
fn variable(environ: &[u8], name: &str) -> Option<String> {
    environ.split(|&b| b == 0).find_map(|entry| {
        let value = entry.strip_prefix(name.as_bytes())?.strip_prefix(b"=")?;
        Some(String::from_utf8_lossy(value).into_owned())
    })
}

/// What libtest's output tells under `cargo test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Libtest {
    /// One test at a time with libtest's default output: each test's name as it starts.
    Names,
    /// Tests on several threads, or quiet/terse/JSON output: only the test binary.
    BinaryOnly,
}

/// Whether `command` is `cargo test` (`cargo [+toolchain] [options] test …`), and what its
/// output can tell; `thread_count` is `RUST_TEST_THREADS` from the environment.
pub fn cargo_test(command: &[String], thread_count: Option<&str>) -> Option<Libtest> {
    let (program, rest) = command.split_first()?;
    if Path::new(program).file_stem().is_none_or(|n| n != "cargo") {
        return None;
    }
    let mut words = rest.iter().map(String::as_str);
    loop {
        match words.next()? {
            "test" => break,
            // Global options and their values (`-C DIR`, `--config K=V`, `-Z FLAG`).
            "-C" | "--config" | "-Z" | "--color" => {
                words.next()?;
            }
            word if word.starts_with('-') || word.starts_with('+') => {}
            _ => return None,
        }
    }
    let cargo_args: Vec<&str> = words.by_ref().take_while(|w| *w != "--").collect();
    let harness: Vec<&str> = words.collect();
    let quiet = cargo_args.iter().any(|a| matches!(*a, "-q" | "--quiet"))
        || harness.iter().any(|a| matches!(*a, "-q" | "--quiet"));
    let format = option_value(&harness, "--format");
    let threads = option_value(&harness, "--test-threads").or(thread_count);
    let names = !quiet && format.is_none_or(|f| f == "pretty") && threads == Some("1");
    Some(if names {
        Libtest::Names
    } else {
        Libtest::BinaryOnly
    })
}

/// The value of `--name VALUE` or `--name=VALUE` among `args` (the last one given).
fn option_value<'a>(args: &[&'a str], name: &str) -> Option<&'a str> {
    let mut value = None;
    let mut words = args.iter();
    while let Some(word) = words.next() {
        if *word == name {
            value = words.next().copied();
        } else if let Some(v) = word.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            value = Some(v);
        }
    }
    value
}

/// A change libtest's output announces.
#[derive(Debug, PartialEq, Eq)]
enum Change {
    Start(String),
    End,
}

/// Reads libtest's pretty output as it comes, in pieces that may end mid-line.
#[derive(Default)]
struct Reader {
    /// The current line so far (its head only, for a very long one).
    line: Vec<u8>,
    /// The current line started a test.
    started: bool,
    /// A test is running.
    open: bool,
}

/// Longer lines are someone's output; only their head is kept.
const LINE_HEAD: usize = 4096;

impl Reader {
    fn feed(&mut self, bytes: &[u8]) -> Vec<Change> {
        let mut changes = Vec::new();
        let mut pieces = bytes.split(|&b| b == b'\n').peekable();
        while let Some(piece) = pieces.next() {
            let room = LINE_HEAD.saturating_sub(self.line.len());
            self.line
                .extend_from_slice(piece.get(..room.min(piece.len())).unwrap_or_default());
            if !self.started {
                if let Some(name) = starting_test(&self.line) {
                    self.started = true;
                    self.open = true;
                    changes.push(Change::Start(name));
                }
            }
            if pieces.peek().is_some() {
                self.end_line(&mut changes);
            }
        }
        changes
    }

    /// A complete line: a test's result, or the end of a binary's tests, ends the test.
    fn end_line(&mut self, changes: &mut Vec<Change>) {
        let line = String::from_utf8_lossy(&self.line);
        let result = match line.split_once(" ... ") {
            Some((head, rest)) if head.starts_with("test ") => is_result(rest),
            _ => is_result(line.trim_end()),
        };
        let ends = result || line.starts_with("test result:") || line.starts_with("running ");
        if ends && self.open {
            self.open = false;
            changes.push(Change::End);
        }
        self.line.clear();
        self.started = false;
    }
}

/// `test <name> ... ` at the start of a line: the name.
fn starting_test(line: &[u8]) -> Option<String> {
    let rest = line.strip_prefix(b"test ")?;
    let end = rest.windows(5).position(|w| w == b" ... ")?;
    let name = String::from_utf8_lossy(rest.get(..end)?).into_owned();
    (!name.is_empty()).then_some(name)
}

/// libtest's result words: `ok`, `FAILED`, `ignored` (`ignored, <reason>`), `bench:`.
fn is_result(text: &str) -> bool {
    let word = text.split([' ', ',']).next().unwrap_or_default();
    matches!(word, "ok" | "FAILED" | "ignored" | "bench:")
}

/// The side-channel line for a change, on the one time line of `cargo test`'s binaries.
fn boundary(change: &Change, mono_us: i64, time_us: i64) -> String {
    let (test, at) = match change {
        Change::Start(name) => (name.as_str(), "start"),
        Change::End => ("", "end"),
    };
    serde_json::json!({
        "pid": 0,
        "cargo_test": true,
        "test": test,
        "phase": "call",
        "at": at,
        "time_us": time_us,
        "mono_us": mono_us,
    })
    .to_string()
}

/// Copies `output` to standard output as it comes (libtest writes a test's name before it
/// runs, without a line end), appending a boundary to `side_channel` for each test that
/// starts or ends; returns when the child closes its output.
pub fn relay(mut output: impl Read, side_channel: &Path) {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(side_channel)
        .ok();
    let mut reader = Reader::default();
    let mut buffer = vec![0; 64 * 1024];
    let stdout = std::io::stdout();
    loop {
        let read = match output.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        let bytes = buffer.get(..read).unwrap_or_default();
        let (mono, wall) = (monotonic_us(), now_us());
        if let Some(file) = file.as_mut() {
            for change in reader.feed(bytes) {
                let _ = file.write_all(format!("{}\n", boundary(&change, mono, wall)).as_bytes());
            }
        }
        let mut out = stdout.lock();
        let _ = out.write_all(bytes);
        let _ = out.flush();
    }
    if let (Some(file), true) = (file.as_mut(), reader.open) {
        let line = boundary(&Change::End, monotonic_us(), now_us());
        let _ = file.write_all(format!("{line}\n").as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::env;

    fn words(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn cargo_test_commands_and_what_their_output_tells() {
        let mode = |line: &str, env: Option<&str>| cargo_test(&words(line), env);
        assert_eq!(
            mode("cargo test -- --test-threads=1", None),
            Some(Libtest::Names)
        );
        assert_eq!(
            mode(
                "cargo +stable --locked test -p shop -- --test-threads 1",
                None
            ),
            Some(Libtest::Names)
        );
        assert_eq!(mode("cargo test", Some("1")), Some(Libtest::Names));
        assert_eq!(mode("cargo test", None), Some(Libtest::BinaryOnly));
        assert_eq!(
            mode("cargo test -q -- --test-threads=1", None),
            Some(Libtest::BinaryOnly)
        );
        assert_eq!(
            mode("cargo test -- --test-threads=1 --format terse", None),
            Some(Libtest::BinaryOnly)
        );
        assert_eq!(
            mode("cargo test -- --test-threads=4", Some("1")),
            Some(Libtest::BinaryOnly)
        );
        assert_eq!(
            mode("/root/.cargo/bin/cargo -C sub test", Some("1")),
            Some(Libtest::Names)
        );
        assert_eq!(mode("cargo nextest run", None), None);
        assert_eq!(mode("cargo build --tests", None), None);
        assert_eq!(mode("pytest -x", None), None);
    }

    #[test]
    fn libtest_output_in_pieces_starts_and_ends_tests() {
        let mut reader = Reader::default();
        let mut changes = Vec::new();
        for piece in [
            "\nrunning 2 tests\n",
            "test books::page ... ",
            "some output of the test\n",
            "ok\ntest books::clean ..",
            ". ",
            "FAILED\n\nfailures:\n",
            "test result: FAILED. 1 passed; 1 failed\n",
        ] {
            changes.extend(reader.feed(piece.as_bytes()));
        }
        assert_eq!(
            changes,
            vec![
                Change::Start("books::page".to_owned()),
                Change::End,
                Change::Start("books::clean".to_owned()),
                Change::End,
            ]
        );
        assert!(!reader.open);
        // A test whose output line holds ` ... ` is not a new test.
        let mut reader = Reader::default();
        let changes = reader.feed(b"test a ... x ... ok\nrunning 1 test\n");
        assert_eq!(changes, vec![Change::Start("a".to_owned()), Change::End]);
    }

    #[test]
    fn a_test_binary_is_described_by_its_arguments_and_environment() {
        let argv = words("/t/debug/deps/books-0123456789abcdef --exact books_page --nocapture");
        assert_eq!(
            target_of(Path::new(&argv[0])),
            Some("books"),
            "the target of a hashed file name"
        );
        assert_eq!(target_of(Path::new("/usr/bin/node")), None);
        assert_eq!(target_of(Path::new("build-script-build")), None);
        let nextest = describe(
            &argv,
            "books",
            env(&[
                ("CARGO_PKG_NAME", "shop-app"),
                ("NEXTEST_EXECUTION_MODE", "process-per-test"),
                ("NEXTEST_BINARY_ID", "shop-app::books"),
                ("NEXTEST_TEST_NAME", "books_page"),
            ]),
        )
        .expect("a test binary");
        assert_eq!(
            nextest.test_id().as_deref(),
            Some("shop-app::books books_page")
        );
        // Older nextest: the binary id from the package and target, the test from argv.
        let older = describe(
            &argv,
            "books",
            env(&[("CARGO_PKG_NAME", "shop-app"), ("NEXTEST", "1")]),
        )
        .expect("a test binary");
        assert_eq!(
            older.test_id().as_deref(),
            Some("shop-app::books books_page")
        );
        // `cargo test` inside a nextest test inherits the outer test's variables.
        let lib = describe(
            &words("/t/debug/deps/shop_app-0123456789abcdef --test-threads=1"),
            "shop_app",
            env(&[
                ("CARGO_PKG_NAME", "shop-app"),
                ("NEXTEST_EXECUTION_MODE", "process-per-test"),
                ("NEXTEST_BINARY_ID", "outer"),
                ("NEXTEST_TEST_NAME", "outer::test"),
            ]),
        )
        .expect("a test binary");
        assert_eq!(
            lib,
            RustTest {
                binary: "shop-app".to_owned(),
                test: None
            }
        );
        assert_eq!(describe(&argv, "books", env(&[])), None, "not cargo's");
    }

    #[test]
    fn environment_blocks_are_read_by_name() {
        let environ = b"PATH=/bin\0CARGO_PKG_NAME=shop\0CARGO_PKG_NAME_X=no\0";
        assert_eq!(variable(environ, "CARGO_PKG_NAME").as_deref(), Some("shop"));
        assert_eq!(variable(environ, "CARGO"), None);
    }
}

//! The test-runner hooks `querycomb run` puts in the command's environment, so that each
//! test reports its phases over the side channel with no change to the project:
//!
//! - **pytest** (and pytest-xdist workers, which inherit the environment): the plugin
//!   `querycomb_pytest` on `PYTHONPATH`, loaded through `PYTEST_PLUGINS`;
//! - **node:test** (`node --test`, each test file's process too): `querycomb_node.js`
//!   preloaded through `NODE_OPTIONS=--require …`;
//! - **Jest, Mocha and Vitest**, from the same preload (`querycomb_js_runners.js`), in
//!   every worker process or thread they start (which inherit `NODE_OPTIONS`);
//! - **RSpec and minitest**: `querycomb_ruby.rb` loaded through `RUBYOPT=-r…`; it hooks
//!   whichever of the two the project itself requires;
//! - **JUnit 5** (the JUnit Platform, under Maven, Gradle or its console launcher): a
//!   listener jar put on the test JVM's class path through `JAVA_TOOL_OPTIONS` (`junit.rs`),
//!   for a command that looks like a JVM run.
//!
//! Both only append phase boundaries to the file named by `QUERYCOMB_TESTS`; see
//! `attribution.rs` for its format. Existing values of the variables are kept (the hook
//! is added in front).

use std::io;
use std::path::{Path, PathBuf};

/// The side channel file's variable.
pub const TESTS_VAR: &str = "QUERYCOMB_TESTS";

const PYTEST_PLUGIN: &str = include_str!("../../assets/runners/querycomb_pytest.py");
const RUBY_HOOK: &str = include_str!("../../assets/runners/querycomb_ruby.rb");
/// The Node hooks: the preloaded entry (node:test), the side channel, Jest/Mocha/Vitest.
const NODE_HOOKS: [(&str, &str); 3] = [
    (
        "querycomb_node.js",
        include_str!("../../assets/runners/querycomb_node.js"),
    ),
    (
        "querycomb_channel.js",
        include_str!("../../assets/runners/querycomb_channel.js"),
    ),
    (
        "querycomb_js_runners.js",
        include_str!("../../assets/runners/querycomb_js_runners.js"),
    ),
];

/// The hooks written out for one run, and the side channel file; removed when dropped.
pub struct Hooks {
    dir: tempfile::TempDir,
    /// The JUnit listener's agent jar, for a command that runs a JVM (see `junit.rs`).
    junit_jar: Option<PathBuf>,
}

impl Hooks {
    /// Writes the hooks for `command` (the program and its arguments).
    pub fn install(command: &[String]) -> io::Result<Hooks> {
        let dir = tempfile::Builder::new()
            .prefix("querycomb-run-")
            .tempdir()?;
        std::fs::write(dir.path().join("querycomb_pytest.py"), PYTEST_PLUGIN)?;
        std::fs::write(dir.path().join("querycomb_ruby.rb"), RUBY_HOOK)?;
        for (name, text) in NODE_HOOKS {
            std::fs::write(dir.path().join(name), text)?;
        }
        std::fs::write(dir.path().join("tests.jsonl"), b"")?;
        let junit_jar = if super::junit::runs_a_jvm(command) {
            super::junit::agent_jar()
                .map_err(|why| {
                    eprintln!("querycomb: note: no JUnit hook for this run: {why}");
                })
                .ok()
        } else {
            None
        };
        Ok(Hooks { dir, junit_jar })
    }

    pub fn side_channel(&self) -> PathBuf {
        self.dir.path().join("tests.jsonl")
    }

    /// The variables that load the hooks, given the current values of the environment.
    pub fn env(&self, get: impl Fn(&str) -> Option<String>) -> Vec<(String, String)> {
        let dir = self.dir.path();
        let mut env = vec![
            (
                TESTS_VAR.to_owned(),
                self.side_channel().display().to_string(),
            ),
            (
                "PYTHONPATH".to_owned(),
                prepend(&dir.display().to_string(), get("PYTHONPATH"), ":"),
            ),
            (
                "PYTEST_PLUGINS".to_owned(),
                prepend("querycomb_pytest", get("PYTEST_PLUGINS"), ","),
            ),
            (
                "NODE_OPTIONS".to_owned(),
                prepend(
                    &format!(
                        "--require={}",
                        quote_node_option(&dir.join("querycomb_node.js"))
                    ),
                    get("NODE_OPTIONS"),
                    " ",
                ),
            ),
            (
                "RUBYOPT".to_owned(),
                prepend(
                    &format!("-r{}", dir.join("querycomb_ruby.rb").display()),
                    get("RUBYOPT"),
                    " ",
                ),
            ),
        ];
        if let Some(jar) = &self.junit_jar {
            env.push((
                "JAVA_TOOL_OPTIONS".to_owned(),
                prepend(
                    &format!("-javaagent:{}", jar.display()),
                    get("JAVA_TOOL_OPTIONS"),
                    " ",
                ),
            ));
        }
        env
    }
}

fn prepend(ours: &str, existing: Option<String>, separator: &str) -> String {
    match existing.filter(|v| !v.is_empty()) {
        Some(existing) => format!("{ours}{separator}{existing}"),
        None => ours.to_owned(),
    }
}

/// NODE_OPTIONS splits at spaces unless quoted.
fn quote_node_option(path: &Path) -> String {
    let text = path.display().to_string();
    if text.contains([' ', '"', '\\']) {
        format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_go_in_front_of_what_the_environment_has() {
        let hooks = Hooks::install(&["pytest".to_owned()]).expect("install");
        let env = hooks.env(|name| match name {
            "PYTHONPATH" => Some("/app".to_owned()),
            "PYTEST_PLUGINS" => Some("myplugin".to_owned()),
            _ => None,
        });
        let get = |name: &str| {
            env.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .expect(name)
        };
        assert!(get("PYTHONPATH").ends_with(":/app"));
        assert_eq!(get("PYTEST_PLUGINS"), "querycomb_pytest,myplugin");
        assert!(get("NODE_OPTIONS").starts_with("--require="));
        assert!(get("RUBYOPT").starts_with("-r") && get("RUBYOPT").ends_with("querycomb_ruby.rb"));
        assert!(Path::new(&get(TESTS_VAR)).is_file());
        assert!(hooks.dir.path().join("querycomb_pytest.py").is_file());
    }
}

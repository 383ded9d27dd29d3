//! The JUnit Platform (JUnit 5) hook: a listener (`assets/runners/junit/`) that the
//! Platform finds through `ServiceLoader` on the test JVM's class path. `querycomb run`
//! puts its jar there as a do-nothing Java agent (`JAVA_TOOL_OPTIONS=-javaagent:…`, read by
//! every JVM, including the ones Maven Surefire and Gradle fork for tests): an agent's jar
//! is added to the system class path.
//!
//! The jar is built with the JDK found on `PATH` (`javac`, `jar`; a Java project has one),
//! against stand-ins of the three JUnit types it names, and cached by the hash of its
//! sources under `$XDG_CACHE_HOME/querycomb` (or `~/.cache/querycomb`). It is only built
//! for a command that looks like a JVM build or test run.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Source files, relative to the build directory.
const SOURCES: [(&str, &str); 5] = [
    (
        "querycomb/QuerycombListener.java",
        include_str!("../../assets/runners/junit/QuerycombListener.java"),
    ),
    (
        "querycomb/QuerycombAgent.java",
        include_str!("../../assets/runners/junit/QuerycombAgent.java"),
    ),
    (
        "stubs/org/junit/platform/launcher/TestExecutionListener.java",
        include_str!(
            "../../assets/runners/junit/stubs/org/junit/platform/launcher/TestExecutionListener.java"
        ),
    ),
    (
        "stubs/org/junit/platform/launcher/TestIdentifier.java",
        include_str!(
            "../../assets/runners/junit/stubs/org/junit/platform/launcher/TestIdentifier.java"
        ),
    ),
    (
        "stubs/org/junit/platform/engine/TestExecutionResult.java",
        include_str!(
            "../../assets/runners/junit/stubs/org/junit/platform/engine/TestExecutionResult.java"
        ),
    ),
];

/// Words of a command line that run a JVM build or tests.
const JVM_WORDS: [&str; 7] = ["java", "mvn", "mvnw", "gradle", "gradlew", "sbt", "junit"];

/// Whether `command` (the program and its arguments, `sh -c '…'` included) runs a JVM.
pub fn runs_a_jvm(command: &[String]) -> bool {
    command.iter().any(|arg| {
        arg.split(|c: char| c.is_whitespace() || c == '/' || c == ';' || c == '&')
            .any(|word| JVM_WORDS.iter().any(|jvm| word.starts_with(jvm)))
    })
}

/// The agent jar, built (or found in the cache); `Err` says why there is none.
pub fn agent_jar() -> Result<PathBuf, String> {
    let cache = cache_dir().ok_or("no cache directory (set XDG_CACHE_HOME or HOME)")?;
    let jar = cache
        .join(format!("junit-{:016x}", sources_hash()))
        .join("querycomb-junit.jar");
    if jar.is_file() {
        return Ok(jar);
    }
    build(&jar).map(|()| jar)
}

fn cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("querycomb"))
}

fn sources_hash() -> u64 {
    // FNV-1a over the sources: stable across builds and platforms (unlike `DefaultHasher`).
    SOURCES
        .iter()
        .flat_map(|(name, text)| name.bytes().chain(text.bytes()))
        .fold(0xcbf2_9ce4_8422_2325, |hash, b| {
            (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
}

/// Compiles and packs the jar in a temporary directory beside `jar`, then renames it into
/// place (two runs building at once both succeed).
fn build(jar: &Path) -> Result<(), String> {
    let dir = jar.parent().ok_or("cache path has no parent")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let work = tempfile::tempdir_in(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let src = work.path().join("src");
    for (name, text) in SOURCES {
        let path = src.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::write(&path, text).map_err(|e| e.to_string())?;
    }
    let (stubs, classes) = (work.path().join("stubs"), work.path().join("classes"));
    let stub_sources: Vec<PathBuf> = SOURCES
        .iter()
        .filter(|(name, _)| name.starts_with("stubs/"))
        .map(|(name, _)| src.join(name))
        .collect();
    tool(
        Command::new("javac")
            .arg("-d")
            .arg(&stubs)
            .args(&stub_sources),
    )?;
    tool(
        Command::new("javac")
            .args(["--release", "11", "-cp"])
            .arg(&stubs)
            .arg("-d")
            .arg(&classes)
            .arg(src.join("querycomb/QuerycombListener.java"))
            .arg(src.join("querycomb/QuerycombAgent.java")),
    )?;
    let services = classes.join("META-INF/services");
    std::fs::create_dir_all(&services).map_err(|e| e.to_string())?;
    std::fs::write(
        services.join("org.junit.platform.launcher.TestExecutionListener"),
        "querycomb.QuerycombListener\n",
    )
    .map_err(|e| e.to_string())?;
    let manifest = work.path().join("manifest.txt");
    std::fs::write(&manifest, "Premain-Class: querycomb.QuerycombAgent\n")
        .map_err(|e| e.to_string())?;
    let built = work.path().join("querycomb-junit.jar");
    tool(
        Command::new("jar")
            .arg("cfm")
            .arg(&built)
            .arg(&manifest)
            .arg("-C")
            .arg(&classes)
            .arg("."),
    )?;
    std::fs::rename(&built, jar).map_err(|e| format!("{}: {e}", jar.display()))
}

fn tool(command: &mut Command) -> Result<(), String> {
    let name = command.get_program().to_string_lossy().into_owned();
    let out = command
        .output()
        .map_err(|e| format!("cannot run {name} (a JDK on PATH): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{name} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jvm_commands_are_recognised() {
        let words = |line: &str| line.split(' ').map(str::to_owned).collect::<Vec<_>>();
        for jvm in [
            "mvn test",
            "./gradlew test",
            "sh -c cd app && mvn -q verify",
            "java -jar junit-platform-console-standalone.jar",
        ] {
            assert!(runs_a_jvm(&words(jvm)), "{jvm}");
        }
        for other in ["pytest -n 2", "node --test", "rspec spec", "cargo test"] {
            assert!(!runs_a_jvm(&words(other)), "{other}");
        }
    }
}

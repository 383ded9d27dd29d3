//! Go's tests: `go test -json` reports each test's start and end on its standard output
//! (test2json events); Go has no way to load a hook into the test binaries. When the
//! command is `go test … -json`, `querycomb run` reads the child's output as it comes,
//! passes every byte on unchanged to its own standard output, and appends a phase boundary
//! to the side channel for each event that starts or ends a test (`run`, `cont`: start;
//! `pause`, `pass`, `fail`, `skip`: end), stamped with the monotonic clock when read.
//!
//! Boundaries carry the package (`go_package`) instead of a process id: `go test` runs
//! each package's test binary (`<package name>.test`) as its own process, and attribution
//! matches a connection's process by that program name (see `attribution.rs`). The stamp is
//! when querycomb read the event, a little after the test began: a statement a test runs
//! in its first instants, before its `run` event is read, is not attributed to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use serde::Deserialize;

/// Whether `command` is `go test` with JSON output (`-json`, `--json`, `-json=true`).
pub fn is_go_test_json(command: &[String]) -> bool {
    let Some((program, rest)) = command.split_first() else {
        return false;
    };
    Path::new(program).file_name().is_some_and(|n| n == "go")
        && rest.first().is_some_and(|a| a == "test")
        && rest.iter().any(|a| {
            matches!(
                a.as_str(),
                "-json" | "--json" | "-json=true" | "--json=true"
            )
        })
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "Action")]
    action: String,
    #[serde(rename = "Package", default)]
    package: String,
    #[serde(rename = "Test")]
    test: Option<String>,
}

/// The side-channel line for one test2json event line, if it starts or ends a test.
pub fn boundary(line: &[u8], mono_us: i64, time_us: i64) -> Option<String> {
    let event: Event = serde_json::from_slice(line).ok()?;
    let test = event.test?;
    let at = match event.action.as_str() {
        "run" | "cont" => "start",
        "pause" | "pass" | "fail" | "skip" => "end",
        _ => return None,
    };
    let package = event.package.rsplit('/').next().unwrap_or_default();
    Some(
        serde_json::json!({
            "pid": 0,
            "go_package": package,
            "test": format!("{}.{test}", event.package),
            "phase": "call",
            "at": at,
            "time_us": time_us,
            "mono_us": mono_us,
        })
        .to_string(),
    )
}

/// Copies `output` to standard output line by line, appending a boundary to `side_channel`
/// for each test event; returns when the child closes its output.
pub fn relay(output: impl Read, side_channel: &Path) {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(side_channel)
        .ok();
    let mut reader = BufReader::new(output);
    let mut line = Vec::new();
    let stdout = std::io::stdout();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let (mono, wall) = (
            super::attribution::monotonic_us(),
            super::attribution::now_us(),
        );
        if let (Some(file), Some(boundary)) = (file.as_mut(), boundary(&line, mono, wall)) {
            let _ = file.write_all(format!("{boundary}\n").as_bytes());
        }
        let mut out = stdout.lock();
        let _ = out.write_all(&line);
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_test_json_commands_are_recognised() {
        let words = |line: &str| line.split(' ').map(str::to_owned).collect::<Vec<_>>();
        assert!(is_go_test_json(&words("go test -json ./...")));
        assert!(is_go_test_json(&words("/usr/bin/go test -count=1 -json .")));
        assert!(!is_go_test_json(&words("go test ./...")));
        assert!(!is_go_test_json(&words("go vet -json ./...")));
    }

    #[test]
    fn test_events_become_boundaries() {
        let run = br#"{"Time":"2026-12-06T18:00:00.1Z","Action":"run","Package":"example.com/shop","Test":"TestBooks"}"#;
        let line = boundary(run, 5, 6).expect("a start");
        let value: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(value["test"], "example.com/shop.TestBooks");
        assert_eq!(value["go_package"], "shop");
        assert_eq!(value["at"], "start");
        assert_eq!(value["mono_us"], 5);
        let pass =
            br#"{"Action":"pass","Package":"example.com/shop","Test":"TestBooks","Elapsed":0.01}"#;
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&boundary(pass, 7, 8).expect("an end"))
                .expect("JSON")["at"],
            "end"
        );
        let output = br#"{"Action":"output","Package":"example.com/shop","Test":"TestBooks","Output":"=== RUN\n"}"#;
        assert_eq!(boundary(output, 0, 0), None);
        assert_eq!(boundary(br#"{"Action":"pass","Package":"p"}"#, 0, 0), None);
        assert_eq!(boundary(b"not json", 0, 0), None);
    }
}

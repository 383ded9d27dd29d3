//! One concept, one name: no two crates of the workspace export a type, trait or alias of
//! the same name. Two `Analysis` types (one in detection, one in the proxy) or two
//! `ProxyConfig`s make a reader guess which one a `use` brought in; a concept that exists
//! twice should live once (in `querycomb-core` when several stages share it) or have a
//! name that says how it differs.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The name a line declares publicly (`pub struct Name`, `pub enum Name<T>`, `pub trait
/// Name`, `pub type Name =`); `pub(crate)` and private items are the crate's own business.
fn declared(line: &str) -> Option<&str> {
    let rest = line.trim_start().strip_prefix("pub ")?;
    let rest = ["struct ", "enum ", "trait ", "type "]
        .iter()
        .find_map(|kw| rest.strip_prefix(kw))?;
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    Some(&rest[..end]).filter(|name| !name.is_empty())
}

#[test]
fn no_two_crates_export_a_type_of_the_same_name() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut owners: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut crate_dirs: Vec<PathBuf> = fs::read_dir(&crates)
        .expect("the crates directory")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("src").is_dir())
        .collect();
    crate_dirs.sort();
    assert!(crate_dirs.len() >= 8, "crates found: {crate_dirs:?}");
    for dir in crate_dirs {
        let crate_name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        files.sort();
        for file in files {
            let text = fs::read_to_string(&file).expect("a source file");
            for (number, line) in text.lines().enumerate() {
                if let Some(name) = declared(line) {
                    let place = format!(
                        "{}:{}",
                        file.strip_prefix(&crates).unwrap_or(&file).display(),
                        number + 1
                    );
                    owners
                        .entry(name.to_owned())
                        .or_default()
                        .entry(crate_name.clone())
                        .or_insert(place);
                }
            }
        }
    }
    let clashes: Vec<String> = owners
        .iter()
        .filter(|(_, crates)| crates.len() > 1)
        .map(|(name, crates)| {
            let places: Vec<&str> = crates.values().map(String::as_str).collect();
            format!("{name}: {}", places.join(", "))
        })
        .collect();
    assert!(
        clashes.is_empty(),
        "types exported under one name by several crates:\n{}",
        clashes.join("\n")
    );
}

#[test]
fn declarations_are_read_as_written() {
    assert_eq!(declared("pub struct Finding {"), Some("Finding"));
    assert_eq!(declared("    pub enum Verdict<T> {"), Some("Verdict"));
    assert_eq!(declared("pub type Keys = Vec<Key>;"), Some("Keys"));
    assert_eq!(declared("pub trait FindingSink {"), Some("FindingSink"));
    assert_eq!(declared("pub(crate) struct Hidden;"), None);
    assert_eq!(declared("struct Private;"), None);
    assert_eq!(declared("pub fn structure() {}"), None);
}

//! Shared by the request-level accuracy tests (`accuracy.rs` on PostgreSQL and the proxy,
//! `accuracy_mariadb.rs` on MariaDB; docs/accuracy.md): the corpus's labels, reading a log,
//! labelling its statements, analysing and scoring per request, and the results table with
//! what a run does not allow.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::fs;
use std::io::BufReader;
use std::path::Path;

use querycomb_core::{Collected, EventSink, FindingKind, Location, OwnedEvent, SourceId};
use querycomb_detect::{Config, Pipeline};
use querycomb_logs::{read_log, LogFormat, ReadOptions};
use querycomb_sql::{comment, Dialect};
use serde_json::Value;

pub struct Label {
    pub mode: String,
    pub stack: String,
    pub scenario: String,
    pub expect: Option<FindingKind>,
    pub n: u32,
}

pub fn kind_of(name: &str) -> FindingKind {
    FindingKind::parse(name).unwrap_or_else(|| panic!("not a finding kind: {name}"))
}

pub fn read_labels(path: &Path) -> BTreeMap<String, Label> {
    let mut labels = BTreeMap::new();
    for line in fs::read_to_string(path).expect("read labels").lines() {
        let v: Value = serde_json::from_str(line).expect("a JSON label");
        let expect = v["expect"].as_str().map(kind_of);
        let n = v["n"].as_u64().unwrap_or(0) as u32;
        if let Some(id) = v["amend"].as_str() {
            let label: &mut Label = labels.get_mut(id).expect("amended label exists");
            label.scenario = v["scenario"].as_str().unwrap_or_default().to_owned();
            label.expect = expect;
            label.n = n;
            continue;
        }
        let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        labels.insert(
            text("id"),
            Label {
                mode: text("mode"),
                stack: text("stack"),
                scenario: text("scenario"),
                expect,
                n,
            },
        );
    }
    labels
}

/// One row of the results table.
#[derive(Default)]
pub struct Score {
    pub positives: usize,
    pub negatives: usize,
    pub found: BTreeSet<String>,
    /// Positive requests flagged with the right kind but another count.
    pub wrong_count: BTreeSet<String>,
    /// Requests flagged wrongly (negatives, or a finding spread over several requests):
    /// description and request id.
    pub false_flags: BTreeSet<(String, String)>,
}

impl Score {
    pub fn recall(&self) -> f64 {
        ratio(self.found.len(), self.positives)
    }
    pub fn precision(&self) -> f64 {
        let flagged = self.found.len() + self.wrong_count.len() + self.false_flags.len();
        ratio(self.found.len() + self.wrong_count.len(), flagged)
    }
}

pub fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

/// Reads one log's events.
pub fn read_events(path: &Path, format: LogFormat) -> Vec<OwnedEvent> {
    let file = fs::File::open(path).expect("open the log");
    let mut collected = Collected::default();
    read_log(
        format,
        &mut BufReader::new(file),
        SourceId(0),
        &ReadOptions::default(),
        &mut collected,
    )
    .expect("read the log");
    assert!(collected.errors.is_empty(), "{:?}", collected.errors);
    collected.events
}

/// The request label of each statement, by where it is.
pub fn labelled(events: &[OwnedEvent]) -> HashMap<Location, String> {
    let mut label_at: HashMap<Location, String> = HashMap::new();
    for event in events {
        if let Some(id) = comment::tags(&event.sql).get("qc_req") {
            label_at.insert(event.location, id.into_owned());
        }
    }
    label_at
}

/// Analyses one log's events, read in `dialect`, and scores them per mode.
pub fn score(
    events: &[OwnedEvent],
    dialect: Dialect,
    label_at: &HashMap<Location, String>,
    labels: &BTreeMap<String, Label>,
) -> BTreeMap<String, Score> {
    let config = Config {
        keep_occurrences: true,
        ..Config::default()
    };
    let mut pipeline = Pipeline::new(config, dialect);
    for event in events {
        pipeline.event(&event.as_event());
    }
    let (_, occurrences) = pipeline.finish_with_occurrences();

    let mut scores: BTreeMap<String, Score> = BTreeMap::new();
    for label in labels.values() {
        let s = scores.entry(label.mode.clone()).or_default();
        if label.expect.is_some() {
            s.positives += 1;
        } else {
            s.negatives += 1;
        }
    }
    for occurrence in &occurrences {
        let owners: BTreeSet<&String> = occurrence
            .children
            .iter()
            .map(|l| {
                label_at
                    .get(l)
                    .expect("every repeated statement is labelled")
            })
            .collect();
        let first = owners.iter().next().expect("a finding has statements");
        let mode = labels.get(*first).map_or("?", |l| l.mode.as_str());
        let s = scores.entry(mode.to_owned()).or_default();
        let single = owners.len() == 1;
        match labels.get(*first) {
            Some(l) if single && l.expect == Some(occurrence.kind) && l.n == occurrence.count => {
                s.found.insert((*first).clone());
            }
            Some(l) if single && l.expect == Some(occurrence.kind) => {
                s.wrong_count.insert((*first).clone());
            }
            _ => {
                for owner in owners {
                    let flag = format!("{owner} ({:?} ×{})", occurrence.kind, occurrence.count);
                    s.false_flags.insert((flag, owner.clone()));
                }
            }
        }
    }
    for s in scores.values_mut() {
        let found = s.found.clone();
        s.wrong_count.retain(|id| !found.contains(id));
    }
    scores
}

pub fn misses<'a>(
    mode: &str,
    score: &Score,
    labels: &'a BTreeMap<String, Label>,
) -> Vec<(&'a String, &'a Label)> {
    labels
        .iter()
        .filter(|(id, l)| l.mode == mode && l.expect.is_some() && !score.found.contains(*id))
        .collect()
}

/// Adds one log's rows to the table, and to `problems` what the test does not allow.
pub fn report(
    source: &str,
    scores: &BTreeMap<String, Score>,
    labels: &BTreeMap<String, Label>,
    table: &mut String,
    problems: &mut Vec<String>,
) {
    for (mode, s) in scores {
        let _ = writeln!(
            table,
            "| {} | {mode} | {} | {} | {} | {} | {} | {:.1}% | {:.1}% |",
            source.replace(' ', " | "),
            s.positives + s.negatives,
            s.positives,
            s.found.len(),
            s.wrong_count.len(),
            s.false_flags.len(),
            100.0 * s.recall(),
            100.0 * s.precision(),
        );
        for (id, l) in misses(mode, s, labels) {
            let how = if s.wrong_count.contains(id) {
                "wrong N"
            } else {
                "missed"
            };
            let _ = writeln!(
                table,
                "  - {source} {mode} {how}: {id} {}/{} ({:?} ×{})",
                l.stack, l.scenario, l.expect, l.n
            );
            if mode == "tagged" {
                problems.push(format!("{source} {mode}: {how} {id} {}", l.scenario));
            }
        }
        for (flag, owner) in &s.false_flags {
            let _ = writeln!(table, "  - {source} {mode} false flag: {flag}");
            let negative = labels.get(owner).is_none_or(|l| l.expect.is_none());
            if mode == "tagged" || negative {
                problems.push(format!("{source} {mode}: false flag {flag}"));
            }
        }
    }
}

/// The results table's head, for [`report`] to add rows to.
pub fn table() -> String {
    String::from(
        "| log | timing | mode | requests | N+1 requests | found | wrong N | false flags | recall | precision |\n|---|---|---|---|---|---|---|---|---|---|\n",
    )
}

/// Prints the table and fails on what the test does not allow.
pub fn conclude(table: &str, problems: &[String]) {
    println!("{table}");
    eprintln!("{table}");
    assert!(
        problems.is_empty(),
        "unexplained misses or false flags:\n{}",
        problems.join("\n")
    );
}

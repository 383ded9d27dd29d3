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
use querycomb_detect::gaps::clock_tick;
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

/// The same traffic as on a loaded machine: the application stalls inside its requests.
///
/// A deterministic transform of the recorded log, so that the test proves robustness to
/// stalls instead of depending on the machine's load when it runs. Before a seeded fifth of
/// the statements that follow another statement of the same request on the same session (a
/// pause inside a request: between a parent and its first child, or between two
/// iterations of a loop), the whole application stalls for 30–700 ms (log-uniform): every
/// later event moves by the stall, so the order of events and the concurrency of sessions
/// are kept, and a stall is as long as or longer than the 10–200 ms between requests, but
/// shorter than the idle gap (1 s), which bounds any unit of work by design. Stalls placed
/// within one idle gap of recorded time add up to at most the longest stall (a later one is
/// shortened, or left out when under the shortest): stalls in two requests that run at once
/// must not add up, inside either of them, to a pause as long as the idle gap. A stall lasts
/// whole ticks of the input's clock (milliseconds in a PostgreSQL log), as the log of a
/// stalled application would show it: a finer shift would invent a clock the log does not
/// have. Grouping never sees the labels the stalls are placed by.
pub fn stalled(events: &[OwnedEvent], label_at: &HashMap<Location, String>) -> Vec<OwnedEvent> {
    let tick = log_clock_tick(events);
    let mut rng = SplitMix(0x9e37_79b9_7f4a_7c15);
    let mut last_label: HashMap<&str, Option<&String>> = HashMap::new();
    let mut shift = 0i64;
    let idle_gap_us = i64::try_from(Config::default().idle_gap_ms)
        .unwrap_or(i64::MAX)
        .saturating_mul(1000);
    // The stalls placed in the last idle gap of recorded time: (recorded time, stall).
    let mut recent: std::collections::VecDeque<(i64, i64)> = std::collections::VecDeque::new();
    // In time order (the proxy hands statements over as they finish); each event keeps its
    // place in the input.
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&i| events.get(i).and_then(|e| e.time));
    let mut out = events.to_vec();
    for i in order {
        let (Some(event), Some(moved)) = (events.get(i), out.get_mut(i)) else {
            continue;
        };
        let label = label_at.get(&event.location);
        let before = last_label.insert(event.session.as_str(), label);
        let inside = label.is_some() && before == Some(label);
        if inside && rng.next().is_multiple_of(5) {
            let unit = (rng.next() % 1_000_000) as f64 / 1_000_000.0;
            let stall = (SHORTEST_STALL_US as f64
                * (LONGEST_STALL_US as f64 / SHORTEST_STALL_US as f64).powf(unit))
                as i64;
            let at = event.time.unwrap_or_default();
            while recent.front().is_some_and(|&(t, _)| t <= at - idle_gap_us) {
                recent.pop_front();
            }
            let room = LONGEST_STALL_US - recent.iter().map(|&(_, s)| s).sum::<i64>();
            let stall = (stall.min(room) / tick) * tick;
            if stall >= SHORTEST_STALL_US {
                shift += stall;
                recent.push_back((at, stall));
            }
        }
        moved.time = event.time.map(|t| t + shift);
    }
    out
}

/// The resolution of a log's clock (1 s, 1 ms or 1 µs; 1 µs for a log without times).
pub fn log_clock_tick(events: &[OwnedEvent]) -> i64 {
    events
        .iter()
        .filter_map(|e| e.time)
        .fold(None, |tick, time| Some(clock_tick(time, tick)))
        .unwrap_or(1)
}

/// The stalls of [`stalled`]: 30–700 ms.
const SHORTEST_STALL_US: i64 = 30_000;
const LONGEST_STALL_US: i64 = 700_000;

/// SplitMix64: a seeded generator for [`stalled`] (deterministic across platforms).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

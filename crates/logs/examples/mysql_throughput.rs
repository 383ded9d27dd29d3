//! Measures the MySQL/MariaDB readers' throughput on a generated log built from the shipped
//! samples (examples/mariadb-*.log), repeated with fresh connection ids until it reaches the
//! requested size, read from memory so only parsing is timed. The log-table reader is timed on
//! the general log's statements written as `general_log.CSV` rows (the CSV engine's file).
//!
//! `cargo run --release -p querycomb-logs --example mysql_throughput [MiB]`

use std::time::Instant;

use querycomb_core::{EventSink, InputError, OwnedEvent, QueryEvent, SourceId};
use querycomb_logs::{read_log, LogFormat, ReadOptions};

/// Counts what it is given and touches the text, as a real sink would.
#[derive(Default)]
struct Count {
    events: u64,
    sql_bytes: u64,
    malformed: u64,
}

impl EventSink for Count {
    fn event(&mut self, event: &QueryEvent<'_>) {
        self.events += 1;
        self.sql_bytes += event.sql.len() as u64 + event.session.len() as u64;
    }
    fn malformed(&mut self, _error: InputError) {
        self.malformed += 1;
    }
}

/// The sample's records repeated, each copy's thread ids shifted so connections differ.
fn generate(sample: &str, target: usize, shift_id: fn(&str, u64) -> String) -> Vec<u8> {
    let body: Vec<&str> = sample.lines().skip(3).collect();
    let mut out = String::with_capacity(target + sample.len());
    for line in sample.lines().take(3) {
        out.push_str(line);
        out.push('\n');
    }
    let mut copy = 0u64;
    while out.len() < target {
        for line in &body {
            out.push_str(&shift_id(line, copy * 10));
            out.push('\n');
        }
        copy += 1;
    }
    out.into_bytes()
}

/// `\t\t     4 Query\t…` → thread id + offset (general log); continuation lines unchanged.
fn shift_general(line: &str, offset: u64) -> String {
    let Some((time, rest)) = line.split_once('\t') else {
        return line.to_owned();
    };
    let rest = rest.trim_start_matches(['\t', ' ']);
    let Some((id, tail)) = rest.split_once(' ') else {
        return line.to_owned();
    };
    let Ok(id) = id.parse::<u64>() else {
        return line.to_owned();
    };
    let time = if time.is_empty() { "\t" } else { time };
    format!("{time}\t{:>6} {tail}", id + offset)
}

/// `# Thread_id: 4  Schema: …` → thread id + offset (slow log).
fn shift_slow(line: &str, offset: u64) -> String {
    match line.strip_prefix("# Thread_id: ") {
        Some(rest) => {
            let (id, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            let id: u64 = id.parse().unwrap_or(0);
            format!("# Thread_id: {} {tail}", id + offset)
        }
        None => line.to_owned(),
    }
}

/// The general log's statements as rows of `mysql.general_log`'s CSV file, one every 50 µs.
fn as_general_log_table(general: &[u8]) -> Vec<u8> {
    let mut events: Vec<OwnedEvent> = Vec::new();
    let mut input = general;
    read_log(
        LogFormat::MySqlGeneral,
        &mut input,
        SourceId(0),
        &ReadOptions::default(),
        &mut events,
    )
    .expect("in-memory read");
    let mut out = String::with_capacity(general.len() * 2);
    for (i, event) in events.iter().enumerate() {
        let micros = (i as u64 * 50) % 86_400_000_000;
        let (seconds, fraction) = (micros / 1_000_000, micros % 1_000_000);
        let thread = event.session.split('#').next().unwrap_or("1");
        let user = event.user.as_deref().unwrap_or("app");
        let sql = event
            .sql
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        out.push_str(&format!(
            "\"2026-12-07 {:02}:{:02}:{:02}.{fraction:06}\",\"{user}[{user}] @ localhost []\",{thread},1,\"Query\",\"{sql}\"\n",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60,
        ));
    }
    out.into_bytes()
}

fn measure(name: &str, format: LogFormat, log: &[u8]) {
    let mut best = f64::MAX;
    let mut count = Count::default();
    for _ in 0..3 {
        count = Count::default();
        let mut input = log;
        let start = Instant::now();
        let stats = read_log(
            format,
            &mut input,
            SourceId(0),
            &ReadOptions::default(),
            &mut count,
        )
        .expect("in-memory read");
        best = best.min(start.elapsed().as_secs_f64());
        assert_eq!(stats.events, count.events);
    }
    let mib = log.len() as f64 / (1024.0 * 1024.0);
    println!(
        "{name}: {mib:.0} MiB, {} events, {} malformed: {:.0} MiB/s, {:.2} M events/s",
        count.events,
        count.malformed,
        mib / best,
        count.events as f64 / best / 1e6
    );
}

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/");
    let general = std::fs::read_to_string(format!("{root}mariadb-general.log")).expect("sample");
    let slow = std::fs::read_to_string(format!("{root}mariadb-slow.log")).expect("sample");
    let general = generate(&general, mib << 20, shift_general);
    measure("general", LogFormat::MySqlGeneral, &general);
    let table = as_general_log_table(&general);
    drop(general);
    measure("general_log.CSV", LogFormat::MySqlGeneralTable, &table);
    drop(table);
    let slow = generate(&slow, mib << 20, shift_slow);
    measure("slow", LogFormat::MySqlSlow, &slow);
}

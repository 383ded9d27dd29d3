//! Measures a reader alone: `cargo run --release -p querycomb-logs --example throughput --
//! FILE [FORMAT]`. Events go to a sink that only counts them.

use std::io::BufReader;
use std::time::Instant;

use querycomb_core::{EventSink, InputError, QueryEvent, SourceId};
use querycomb_logs::{read_log, LogFormat, ReadOptions};

#[derive(Default)]
struct Count {
    events: u64,
    sql_bytes: u64,
    malformed: u64,
}

impl EventSink for Count {
    fn event(&mut self, event: &QueryEvent<'_>) {
        self.events += 1;
        self.sql_bytes += event.sql.len() as u64;
    }
    fn malformed(&mut self, _error: InputError) {
        self.malformed += 1;
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: throughput FILE [pg-stderr|pg-csv|pg-json|mysql-general|mysql-slow]");
        std::process::exit(2);
    };
    let format = args
        .get(2)
        .and_then(|id| LogFormat::from_id(id))
        .unwrap_or(LogFormat::PgStderr);
    let mut input = BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    let mut sink = Count::default();
    let start = Instant::now();
    let stats = read_log(
        format,
        &mut input,
        SourceId(0),
        &ReadOptions::default(),
        &mut sink,
    )?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{}: {:.1} MB in {secs:.2} s = {:.0} MB/s; {} events ({:.2} M/s), {} malformed",
        format.id(),
        stats.bytes as f64 / 1e6,
        stats.bytes as f64 / 1e6 / secs,
        sink.events,
        sink.events as f64 / 1e6 / secs,
        sink.malformed
    );
    Ok(())
}

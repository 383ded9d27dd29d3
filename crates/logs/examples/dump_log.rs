//! Prints the events and malformed records a log yields: `cargo run -p querycomb-logs
//! --example dump_log -- FILE [FORMAT]` (format auto-detected when omitted).

use std::io::{BufReader, Read};

use querycomb_core::{EventSink, InputError, QueryEvent, SourceId};
use querycomb_logs::{read_log, sniff, LogFormat, ReadOptions};

struct Printer;

impl EventSink for Printer {
    fn event(&mut self, e: &QueryEvent<'_>) {
        println!(
            "{}:{} t={:?} dur={:?} session={} user={:?} db={:?} app={:?} name={:?} params={:?} error={:?}\n    {}",
            e.location.line,
            e.location.byte,
            e.time,
            e.duration_us,
            e.session,
            e.user,
            e.database,
            e.application,
            e.prepared_name,
            e.params,
            e.error,
            e.sql.replace('\n', "\n    ")
        );
    }
    fn malformed(&mut self, error: InputError) {
        println!("MALFORMED {error}");
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: dump_log FILE [pg-stderr|pg-csv|pg-json|mysql-general|mysql-slow]");
        std::process::exit(2);
    };
    let mut head = Vec::new();
    std::fs::File::open(path)?
        .take(64 * 1024)
        .read_to_end(&mut head)?;
    let format = match args.get(2) {
        Some(id) => LogFormat::from_id(id),
        None => sniff(&head),
    };
    let Some(format) = format else {
        eprintln!("unknown log format");
        std::process::exit(2);
    };
    let mut input = BufReader::new(std::fs::File::open(path)?);
    let stats = read_log(
        format,
        &mut input,
        SourceId(0),
        &ReadOptions::default(),
        &mut Printer,
    )?;
    println!("{format:?} {stats:?}");
    Ok(())
}

//! Benchmark of querycomb's SQL fingerprinting against its two strongest peers,
//! libpg_query (`pg_query::fingerprint`) and Datadog's obfuscator
//! (`libdd-trace-obfuscation`), on one corpus of ORM-generated queries; and, with
//! `--agreement`, a check of how querycomb's grouping differs from pg_query's.
//!
//! Usage: fingerprint-peers [--agreement] [--corpus FILE] [--seconds N] [--only ENGINE]

mod agreement;
mod classify;
mod corpus;
mod engines;
mod throughput;

use corpus::{CorpusDialect, Query};
use engines::{Datadog, Engine, PgQuery, Querycomb};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

struct Args {
    agreement: bool,
    corpus: PathBuf,
    seconds: f64,
    /// Time only this engine (for profiling one of them with perf).
    only: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        agreement: false,
        corpus: PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../corpus/orm-queries.jsonl"
        )),
        seconds: 2.0,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--agreement" => args.agreement = true,
            "--corpus" => args.corpus = it.next().ok_or("--corpus needs a file")?.into(),
            "--only" => {
                let name = it
                    .next()
                    .ok_or("--only needs querycomb, pg_query or datadog")?;
                if !matches!(name.as_str(), "querycomb" | "pg_query" | "datadog") {
                    return Err(format!("--only: unknown engine {name:?}"));
                }
                args.only = Some(name);
            }
            "--seconds" => {
                let value = it.next().ok_or("--seconds needs a number")?;
                args.seconds = value
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .ok_or(format!("--seconds: not a positive number: {value:?}"))?;
            }
            "-h" | "--help" => {
                println!("usage: fingerprint-peers [--agreement] [--corpus FILE] [--seconds N] [--only ENGINE]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("fingerprint-peers: {message}");
            return ExitCode::from(2);
        }
    };
    let queries = match corpus::load(&args.corpus) {
        Ok(queries) => queries,
        Err(message) => {
            eprintln!("fingerprint-peers: {message}");
            return ExitCode::from(2);
        }
    };
    if args.agreement {
        agreement::run(&queries);
    } else {
        let per_engine = Duration::from_secs_f64(args.seconds);
        match args.only.as_deref() {
            Some(name) => bench_one(&queries, name, per_engine),
            None => bench(&queries, per_engine),
        }
    }
    ExitCode::SUCCESS
}

/// Times one engine alone on the whole corpus (pg_query: on the queries it parses).
fn bench_one(queries: &[Query], name: &str, per_engine: Duration) {
    let mut querycomb = Querycomb::new();
    let mut pg = PgQuery;
    let mut datadog = Datadog::new();
    let (engine, set): (&mut dyn Engine, Vec<Query>) = match name {
        "pg_query" => {
            let parsed = queries.iter().filter(|q| PgQuery.run(q).1).cloned();
            (&mut pg, parsed.collect())
        }
        "datadog" => (&mut datadog, queries.to_vec()),
        _ => (&mut querycomb, queries.to_vec()),
    };
    let speeds = throughput::measure(&mut [engine], &set, per_engine);
    throughput::print(&format!("{name} alone"), &set, &speeds);
}

/// Times all engines on the queries every engine can handle (the PostgreSQL queries
/// pg_query parses), then querycomb and Datadog on the whole corpus.
fn bench(queries: &[Query], per_engine: Duration) {
    let common: Vec<Query> = queries
        .iter()
        .filter(|q| q.dialect == CorpusDialect::Postgres && PgQuery.run(q).1)
        .cloned()
        .collect();
    println!(
        "fingerprint-peers: {} s per engine and set, median of rounds; {} queries in corpus",
        per_engine.as_secs_f64(),
        queries.len()
    );
    let mut querycomb = Querycomb::new();
    let mut pg = PgQuery;
    let mut datadog = Datadog::new();
    let speeds = throughput::measure(
        &mut [&mut querycomb, &mut pg, &mut datadog],
        &common,
        per_engine,
    );
    throughput::print(
        "Set A: PostgreSQL queries that pg_query parses (all three engines)",
        &common,
        &speeds,
    );
    let speeds = throughput::measure(&mut [&mut querycomb, &mut datadog], queries, per_engine);
    throughput::print(
        "Set B: whole corpus, PostgreSQL and MySQL (pg_query cannot parse all of it)",
        queries,
        &speeds,
    );
    for (title, range) in SIZE_CLASSES {
        let subset: Vec<Query> = common
            .iter()
            .filter(|q| range.contains(&q.sql.len()))
            .cloned()
            .collect();
        if subset.is_empty() {
            continue;
        }
        let engines: &mut [&mut dyn Engine] = &mut [&mut querycomb, &mut pg, &mut datadog];
        let speeds = throughput::measure(engines, &subset, per_engine / 2);
        throughput::print(title, &subset, &speeds);
    }
}

/// Set A split by statement length: short lookups, ordinary ORM selects, and the long
/// IN lists and multi-row INSERTs (where a parser's cost grows with the list).
const SIZE_CLASSES: [(&str, std::ops::Range<usize>); 3] = [
    ("Set A, short statements (< 200 bytes)", 0..200),
    ("Set A, medium statements (200..1000 bytes)", 200..1000),
    (
        "Set A, long statements (≥ 1000 bytes: long IN lists, multi-row INSERTs)",
        1000..usize::MAX,
    ),
];

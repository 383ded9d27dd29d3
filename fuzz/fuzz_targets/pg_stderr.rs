//! The `pg_stderr` log reader on arbitrary bytes (see common/log_reader.rs).
#![no_main]

#[path = "common/log_reader.rs"]
mod log_reader;

use libfuzzer_sys::fuzz_target;
use querycomb_logs::LogFormat;

fuzz_target!(|data: &[u8]| log_reader::read_all(LogFormat::PgStderr, data));

//! Any bytes through all seven log readers at once, `LogFormat::ALL` (the per-format targets
//! `pg_stderr`, `pg_csv`, `pg_json`, `mysql_general` and `mysql_slow` explore one reader
//! each, `mysql_table` the two log-table readers).
#![no_main]

#[path = "common/log_reader.rs"]
mod log_reader;

use libfuzzer_sys::fuzz_target;
use querycomb_logs::LogFormat;

fuzz_target!(|data: &[u8]| {
    for format in LogFormat::ALL {
        log_reader::read_all(format, data);
    }
});

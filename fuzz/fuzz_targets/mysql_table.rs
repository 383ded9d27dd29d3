//! The log-table readers (`mysql.general_log` and `mysql.slow_log` rows) on arbitrary bytes
//! (see common/log_reader.rs).
#![no_main]

#[path = "common/log_reader.rs"]
mod log_reader;

use libfuzzer_sys::fuzz_target;
use querycomb_logs::LogFormat;

fuzz_target!(|data: &[u8]| {
    log_reader::read_all(LogFormat::MySqlGeneralTable, data);
    log_reader::read_all(LogFormat::MySqlSlowTable, data);
});

//! Shared body of the per-format log reader targets: any bytes through one reader, no
//! panic, every byte accounted for, and `sniff` never panics either.

use querycomb_core::{EventSink, InputError, QueryEvent, SourceId};
use querycomb_logs::{read_log, LogFormat, ReadOptions};

struct Count(u64);

impl EventSink for Count {
    fn event(&mut self, event: &QueryEvent<'_>) {
        self.0 += event.sql.len() as u64;
    }
    fn malformed(&mut self, _error: InputError) {}
}

pub fn read_all(format: LogFormat, data: &[u8]) {
    let _ = querycomb_logs::sniff(data);
    let mut input = data;
    let mut sink = Count(0);
    let stats = read_log(format, &mut input, SourceId(0), &ReadOptions::default(), &mut sink)
        .expect("reading from memory cannot fail with an I/O error");
    assert_eq!(stats.bytes, data.len() as u64, "{format:?} lost bytes");
}

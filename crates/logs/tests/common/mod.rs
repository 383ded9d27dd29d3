//! What the log-reader tests share.

use std::io::BufRead;

use querycomb_core::{EventSink, SourceId};
use querycomb_logs::{read_log, LogFormat, ReadOptions, ReadStats};

/// Reads a whole log of `format` with default options as source 0; I/O cannot fail on the
/// files and buffers the tests read.
pub fn read(format: LogFormat, input: &mut dyn BufRead, sink: &mut dyn EventSink) -> ReadStats {
    read_log(format, input, SourceId(0), &ReadOptions::default(), sink).expect("reading a test log")
}

//! Any bytes through every entry point of the SQL crate, in both dialects: no panic, and
//! `scan` and `describe` agree on the fingerprint.
#![no_main]

use libfuzzer_sys::fuzz_target;
use querycomb_sql::{comment, rewrite, Dialect, Fingerprinter};

fuzz_target!(|data: &[u8]| {
    let sql = String::from_utf8_lossy(data);
    for dialect in [Dialect::Postgres, Dialect::MySql] {
        let mut fingerprinter = Fingerprinter::new(dialect);
        let scan = fingerprinter.scan(&sql);
        let shape = fingerprinter.describe(&sql);
        assert_eq!(scan.fingerprint, shape.fingerprint, "scan/describe disagree");
        let _ = rewrite::batched(&shape);
    }
    let tags = comment::tags(&sql);
    let _ = (tags.trace_id(), tags.route(), tags.iter().count());
});

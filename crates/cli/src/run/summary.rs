//! What `run` does with findings before they are reported.

use querycomb_core::{Finding, Severity};

pub use querycomb_report::causes::is_fixture;

/// Findings in a test's setup or teardown are about its fixtures, not the code under test:
/// `info` unless `--include-fixtures`.
pub fn fixtures_to_info(findings: &mut [Finding]) {
    for finding in findings.iter_mut().filter(|f| is_fixture(f)) {
        finding.severity = Severity::Info;
    }
}

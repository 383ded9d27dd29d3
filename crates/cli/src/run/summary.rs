//! What `run` does with findings before they are reported.

use querycomb_core::{Finding, Severity};

pub use querycomb_report::causes::is_fixture;

/// Findings in a test's setup or teardown are about its fixtures, not the code under test:
/// `info` unless `--include-fixtures`.
pub fn fixture_to_info(finding: &mut Finding) {
    if is_fixture(finding) {
        finding.severity = Severity::Info;
    }
}

//! What `run` does with findings before they are reported.

use querycomb_core::{Finding, Severity};

use querycomb_core::test_route::test_of_route;

/// Findings in a test's setup or teardown are about its fixtures, not the code under test:
/// `info` unless `--include-fixtures`.
pub fn fixtures_to_info(findings: &mut [Finding]) {
    for finding in findings.iter_mut().filter(|f| is_fixture(f)) {
        finding.severity = Severity::Info;
    }
}

/// The finding's request is a test's setup or teardown phase.
pub fn is_fixture(finding: &Finding) -> bool {
    finding
        .request
        .route
        .as_deref()
        .is_some_and(|route| test_of_route(route).1.is_fixture())
}

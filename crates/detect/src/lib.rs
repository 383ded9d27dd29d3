//! Grouping query events into units of work, and the detectors that turn them into findings.

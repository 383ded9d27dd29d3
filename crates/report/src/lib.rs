//! Finding sinks: terminal, JSON, JUnit, SARIF, HTML.

//! Finding sinks: terminal, JSON, JUnit, SARIF, HTML.

pub mod html;

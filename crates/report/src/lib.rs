//! Finding sinks: terminal, JSON, JUnit, SARIF, HTML.

mod buffered;
pub mod causes;
mod describe;
mod fix;
#[cfg(test)]
mod fixtures;
pub mod html;
pub mod json;
pub mod junit;
pub mod sarif;
pub mod terminal;

pub use buffered::{Buffered, Render};

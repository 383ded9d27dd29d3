//! Machine-readable output with a versioned schema (documented in `docs/json-schema.md`,
//! JSON Schema in `docs/querycomb.findings.v1.schema.json`):
//! - [`JsonSink`]: one document `{ "schema", "sources", "findings", "summary" }` for
//!   `--format json`, which `--baseline` and `diff` read back with [`parse_document`];
//! - [`JsonLinesSink`]: one object per line, written as findings arrive, for the proxy's
//!   `--findings-out` (a consumer can `tail -f` it).

use std::fmt;
use std::io::{self, Write};

use querycomb_core::{Finding, FindingSink, RunSummary, SourceTable};
use serde::{Deserialize, Serialize};

use crate::buffered::{Buffered, Render};

/// The schema id every document and line carries. Additive changes (new optional fields)
/// keep it; anything a v1 reader could misread bumps it.
pub const SCHEMA: &str = "querycomb.findings/v1";

/// The whole result of a run, as [`JsonSink`] writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub schema: String,
    /// Input names, indexed by the `source` number of every location.
    pub sources: Vec<String>,
    pub findings: Vec<Finding>,
    pub summary: RunSummary,
}

/// Why a JSON text could not be read as querycomb output.
#[derive(Debug)]
pub enum DocumentError {
    /// Not JSON, or a field is missing or of the wrong type (the error says where).
    Json(serde_json::Error),
    /// Another schema, e.g. a newer querycomb's `querycomb.findings/v2`.
    Schema(String),
    /// A JSON-lines line holding none of `sources`, `finding`, `summary`.
    EmptyLine,
}

impl fmt::Display for DocumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocumentError::Json(e) => write!(f, "not a querycomb findings document: {e}"),
            DocumentError::Schema(found) => {
                write!(
                    f,
                    "unsupported schema {found:?}: this querycomb reads {SCHEMA:?}"
                )
            }
            DocumentError::EmptyLine => {
                write!(f, "line has none of \"sources\", \"finding\", \"summary\"")
            }
        }
    }
}

impl std::error::Error for DocumentError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DocumentError::Json(e) => Some(e),
            _ => None,
        }
    }
}

impl From<serde_json::Error> for DocumentError {
    fn from(e: serde_json::Error) -> Self {
        DocumentError::Json(e)
    }
}

/// Reads the schema id first so that a document from another version is reported as such,
/// not as a confusing missing-field error.
fn check_schema(text: &str) -> Result<(), DocumentError> {
    #[derive(Deserialize)]
    struct Head {
        schema: String,
    }
    let head: Head = serde_json::from_str(text)?;
    if head.schema == SCHEMA {
        Ok(())
    } else {
        Err(DocumentError::Schema(head.schema))
    }
}

/// Reads a document written by [`JsonSink`] (for `--baseline` and `diff`).
pub fn parse_document(text: &str) -> Result<Document, DocumentError> {
    check_schema(text)?;
    Ok(serde_json::from_str(text)?)
}

/// One line of [`JsonLinesSink`] output.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// The first line: input names, indexed by the `source` of every location.
    Sources(Vec<String>),
    /// A finding, new or an update of an earlier line with the same signature.
    Finding(Box<Finding>),
    /// The last line, written only when the run ended normally.
    Summary(Box<RunSummary>),
}

/// Reads one line written by [`JsonLinesSink`].
pub fn parse_line(text: &str) -> Result<Line, DocumentError> {
    #[derive(Deserialize)]
    struct Raw {
        sources: Option<Vec<String>>,
        finding: Option<Box<Finding>>,
        summary: Option<Box<RunSummary>>,
    }
    check_schema(text)?;
    let raw: Raw = serde_json::from_str(text)?;
    if let Some(finding) = raw.finding {
        Ok(Line::Finding(finding))
    } else if let Some(summary) = raw.summary {
        Ok(Line::Summary(summary))
    } else if let Some(sources) = raw.sources {
        Ok(Line::Sources(sources))
    } else {
        Err(DocumentError::EmptyLine)
    }
}

/// Writes one pretty-printed [`Document`] at [`FindingSink::finish`].
pub type JsonSink<W> = Buffered<W, Json>;

impl<W: Write> JsonSink<W> {
    pub fn new(out: W) -> Self {
        Buffered::with_render(out, Json)
    }
}

/// The JSON document's rendering.
pub struct Json;

impl Render for Json {
    fn render(
        &self,
        out: &mut dyn Write,
        sources: &SourceTable,
        findings: &[Finding],
        summary: &RunSummary,
    ) -> io::Result<()> {
        #[derive(Serialize)]
        struct DocumentRef<'a> {
            schema: &'static str,
            sources: &'a [String],
            findings: &'a [Finding],
            summary: &'a RunSummary,
        }
        let document = DocumentRef {
            schema: SCHEMA,
            sources: sources.names(),
            findings,
            summary,
        };
        serde_json::to_writer_pretty(&mut *out, &document)?;
        out.write_all(b"\n")
    }
}

/// Writes one JSON object per line and flushes it at once: a `sources` line at
/// [`FindingSink::begin`], a `finding` line per finding (a repeated signature is an update),
/// a `summary` line at [`FindingSink::finish`].
pub struct JsonLinesSink<W: Write> {
    out: W,
}

impl<W: Write> JsonLinesSink<W> {
    pub fn new(out: W) -> Self {
        JsonLinesSink { out }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    fn write_line(&mut self, line: &impl Serialize) -> io::Result<()> {
        // One buffer per line, so that a reader never sees half a line.
        let mut buffer = serde_json::to_vec(line)?;
        buffer.push(b'\n');
        self.out.write_all(&buffer)?;
        self.out.flush()
    }
}

impl<W: Write> FindingSink for JsonLinesSink<W> {
    fn begin(&mut self, sources: &SourceTable) -> io::Result<()> {
        #[derive(Serialize)]
        struct SourcesLine<'a> {
            schema: &'static str,
            sources: &'a [String],
        }
        self.write_line(&SourcesLine {
            schema: SCHEMA,
            sources: sources.names(),
        })
    }

    fn finding(&mut self, finding: &Finding) -> io::Result<()> {
        #[derive(Serialize)]
        struct FindingLine<'a> {
            schema: &'static str,
            finding: &'a Finding,
        }
        self.write_line(&FindingLine {
            schema: SCHEMA,
            finding,
        })
    }

    fn finish(&mut self, summary: &RunSummary) -> io::Result<()> {
        #[derive(Serialize)]
        struct SummaryLine<'a> {
            schema: &'static str,
            summary: &'a RunSummary,
        }
        self.write_line(&SummaryLine {
            schema: SCHEMA,
            summary,
        })
    }
}

#[cfg(test)]
mod tests;

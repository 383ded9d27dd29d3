//! Sinks that can write only once they have every finding (they group, sort, or emit one
//! document) are a [`Render`] inside [`Buffered`], which does the collecting once for all.

use std::io::{self, Write};

use querycomb_core::{Finding, FindingSink, RunSummary, SourceTable};

use crate::describe::LatestBySignature;

/// Writes the whole report from everything the run produced.
pub trait Render {
    fn render(
        &self,
        out: &mut dyn Write,
        sources: &SourceTable,
        findings: &[Finding],
        summary: &RunSummary,
    ) -> io::Result<()>;
}

/// Collects findings (a repeated signature replaces the earlier finding: live runs send
/// updates) and renders them at [`FindingSink::finish`].
pub struct Buffered<W: Write, R: Render> {
    out: W,
    pub(crate) render: R,
    sources: SourceTable,
    findings: LatestBySignature,
}

impl<W: Write, R: Render> Buffered<W, R> {
    pub(crate) fn with_render(out: W, render: R) -> Self {
        Buffered {
            out,
            render,
            sources: SourceTable::default(),
            findings: LatestBySignature::default(),
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write, R: Render> FindingSink for Buffered<W, R> {
    fn begin(&mut self, sources: &SourceTable) -> io::Result<()> {
        self.sources = sources.clone();
        Ok(())
    }

    fn finding(&mut self, finding: &Finding) -> io::Result<()> {
        self.findings.add(finding);
        Ok(())
    }

    fn finish(&mut self, summary: &RunSummary) -> io::Result<()> {
        self.render.render(
            &mut self.out,
            &self.sources,
            self.findings.findings(),
            summary,
        )?;
        self.out.flush()
    }
}

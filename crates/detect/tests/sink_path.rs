//! Findings leave detection one way: pushed through a `FindingSink` in the sink's contract
//! order (`begin`, each finding, `finish` with the caller's part of the summary filled in).

use std::io;

use querycomb_core::{EventSink, Finding, FindingSink, QueryEvent, RunSummary, SourceTable};
use querycomb_detect::{Config, Pipeline};
use querycomb_sql::Dialect;

/// Records the calls it gets, in order.
#[derive(Default)]
struct Calls(Vec<String>);

impl FindingSink for Calls {
    fn begin(&mut self, sources: &SourceTable) -> io::Result<()> {
        self.0.push(format!("begin {:?}", sources.names()));
        Ok(())
    }
    fn finding(&mut self, finding: &Finding) -> io::Result<()> {
        self.0
            .push(format!("finding {} ×{}", finding.kind.id(), finding.count));
        Ok(())
    }
    fn finish(&mut self, summary: &RunSummary) -> io::Result<()> {
        self.0.push(format!(
            "finish statements={} findings={} bytes={} inputs={:?}",
            summary.statements, summary.findings, summary.bytes, summary.inputs
        ));
        Ok(())
    }
}

fn loop_of(pipeline: &mut Pipeline, session: &str, start: i64) {
    let mut time = start;
    let mut push = |sql: String| {
        time += 100;
        pipeline.event(&QueryEvent {
            time: Some(time),
            session,
            sql: &sql,
            ..QueryEvent::default()
        });
    };
    push("SELECT id, author_id FROM books /*route='/books'*/".into());
    for id in 0..6 {
        push(format!(
            "SELECT * FROM authors WHERE id = {id} /*route='/books'*/"
        ));
    }
}

#[test]
fn detection_pushes_begin_findings_then_the_completed_summary() {
    let mut pipeline = Pipeline::new(Config::default(), Dialect::Postgres);
    loop_of(&mut pipeline, "s1", 1_000_000);
    let mut sources = SourceTable::default();
    sources.add("app.log");
    let mut calls = Calls::default();
    pipeline
        .finish_into(&sources, &mut calls, |summary| {
            summary.bytes = 4096;
            summary.inputs = vec!["app.log".into()];
        })
        .expect("an in-memory sink cannot fail");
    assert_eq!(
        calls.0,
        [
            "begin [\"app.log\"]",
            "finding n_plus_one ×6",
            "finish statements=7 findings=1 bytes=4096 inputs=[\"app.log\"]",
        ]
    );
}

/// A sink that fails on its first finding: the error reaches the caller and nothing more
/// is pushed.
struct FailsOnFinding(usize);

impl FindingSink for FailsOnFinding {
    fn begin(&mut self, _: &SourceTable) -> io::Result<()> {
        Ok(())
    }
    fn finding(&mut self, _: &Finding) -> io::Result<()> {
        self.0 += 1;
        Err(io::Error::other("disk full"))
    }
    fn finish(&mut self, _: &RunSummary) -> io::Result<()> {
        panic!("finish after a failed finding");
    }
}

#[test]
fn a_sink_error_stops_the_push_and_reaches_the_caller() {
    let mut pipeline = Pipeline::new(Config::default(), Dialect::Postgres);
    loop_of(&mut pipeline, "s1", 1_000_000);
    loop_of(&mut pipeline, "s2", 9_000_000_000);
    let mut sink = FailsOnFinding(0);
    let error = pipeline
        .finish_into(&SourceTable::default(), &mut sink, |_| {})
        .expect_err("the sink's error");
    assert_eq!(error.to_string(), "disk full");
    assert_eq!(sink.0, 1);
}

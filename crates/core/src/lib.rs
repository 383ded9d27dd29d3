//! The vocabulary every querycomb stage shares.
//!
//! The pipeline is `sources → grouping → detectors → findings → sinks`:
//! - a *source* (log reader, proxy) pushes one [`QueryEvent`] per executed statement into an
//!   [`EventSink`];
//! - the grouping and detection stages (crate `querycomb-detect`) turn events into
//!   [`Finding`]s;
//! - a [`FindingSink`] (crate `querycomb-report`) renders them.
//!
//! This crate holds only types and traits so that every stage can depend on it without
//! depending on each other.

// This crate reads untrusted bytes (log files, SQL text): no input may panic it. Tests may.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

mod event;
mod finding;
mod fix;
mod kind;
mod location;
mod seen_in;
pub mod test_route;

pub use event::{
    CodeLocation, Collected, Context, EventSink, Operation, OwnedContext, OwnedEvent, QueryEvent,
    Scanned, Timestamp, ValueLinks,
};
pub use finding::{
    Amend, BarRole, CollectedFindings, Finding, FindingSink, FingerprintStat, Proof, QueryRef,
    RequestKind, RequestRef, RouteStat, RouteWindow, RunSummary, Severity, Tee, WaterfallBar,
    RESOLVER_SPAN_TAG, SDK_LANGUAGE_TAG,
};
pub use fix::{
    Access, Advice, FixEvidence, Impact, KeySource, Keys, PlanCheck, PlanSummary, Relation, Verdict,
};
pub use kind::{BaseSeverity, FindingKind, KindInfo, MAX_KIND_ID};
pub use location::{InputError, Location, SourceId, SourceTable};
pub use seen_in::{RouteCount, SeenIn};

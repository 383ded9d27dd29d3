//! Finding kinds: the id every output uses, and the metadata a kind's detector declares.
//!
//! A kind is *declared once*, next to its detector (`querycomb-detect`, `detectors/<kind>.rs`,
//! as a [`KindInfo`]), and listed once in that crate's detector registry. Everything else —
//! report titles, SARIF rules, the JSON schema's enum, the HTML report's kind list, the docs
//! table — reads the registry or is checked against it by a test. This crate only knows
//! the id type, so that findings can be read back from JSON even when they name a kind this
//! build does not know (a baseline written by a newer version).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::finding::Severity;

/// Longest kind id, in bytes.
pub const MAX_KIND_ID: usize = 31;

/// The stable id of a finding kind (`n_plus_one`, `count_in_loop`, …): what JSON output,
/// config files and `--fail-on`/`--filter-kind` say. Lower-case ASCII letters, digits and
/// `_`, at most [`MAX_KIND_ID`] bytes. Stored inline so that it is `Copy` and needs no
/// registry to compare, hash or deserialize.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FindingKind {
    bytes: [u8; MAX_KIND_ID],
    len: u8,
}

impl FindingKind {
    /// A kind id known at compile time; a malformed id fails the build (`const` panic).
    // Only for literal ids in `const` items (every caller is one); run-time ids go through
    // `parse`, which never panics.
    #[allow(clippy::panic)]
    pub const fn new(id: &str) -> FindingKind {
        match FindingKind::parse(id) {
            Some(kind) => kind,
            None => panic!("a finding kind id is 1-31 bytes of [a-z0-9_]"),
        }
    }

    /// A kind id read at run time (config, JSON); `None` when it is not a well-formed id.
    pub const fn parse(id: &str) -> Option<FindingKind> {
        let src = id.as_bytes();
        if src.is_empty() || src.len() > MAX_KIND_ID {
            return None;
        }
        let mut bytes = [0u8; MAX_KIND_ID];
        // Slice patterns instead of indexing: `get` is not `const`. `src` fits in `bytes`
        // (checked above), so `free` never runs out first.
        let mut rest = src;
        let mut free: &mut [u8] = &mut bytes;
        while let ([b, src_tail @ ..], [slot, free_tail @ ..]) = (rest, free) {
            if !(b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_') {
                return None;
            }
            *slot = *b;
            rest = src_tail;
            free = free_tail;
        }
        Some(FindingKind {
            bytes,
            len: src.len() as u8,
        })
    }

    pub fn id(&self) -> &str {
        let bytes = self.bytes.get(..usize::from(self.len)).unwrap_or_default();
        // Only ASCII was ever stored (see `parse`).
        std::str::from_utf8(bytes).unwrap_or_default()
    }
}

impl fmt::Debug for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl Serialize for FindingKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.id())
    }
}

impl<'de> Deserialize<'de> for FindingKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let id = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        FindingKind::parse(&id).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{id}` is not a finding kind id (1-{MAX_KIND_ID} bytes of a-z, 0-9, _)"
            ))
        })
    }
}

/// Where a kind's severity starts before escalation (`[severity]` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseSeverity {
    /// A loop: `severity.loops` (default warning), raised by count and time.
    Loop,
    /// A repeated identical statement: `severity.repeated` (default info), raised likewise.
    Repeated,
    /// Always this level (a broken budget is an error by definition).
    Fixed(Severity),
}

/// Everything a report, the SARIF rules and the docs say about one kind. Declared as a
/// `static` next to the kind's detector.
#[derive(Debug)]
pub struct KindInfo {
    pub kind: FindingKind,
    /// Human title: "N+1 query".
    pub title: &'static str,
    /// SARIF `rule.name`, UpperCamelCase: "NPlusOneQuery".
    pub rule_name: &'static str,
    /// One sentence: SARIF `shortDescription`, the docs table.
    pub summary: &'static str,
    /// What to do about it: SARIF `fullDescription`/`help`, the docs.
    pub help: &'static str,
    pub severity: BaseSeverity,
    /// The HTML report's after-fix sketch: "children replaced by one batched query".
    pub after_fix: &'static str,
}

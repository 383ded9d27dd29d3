//! The finding-kind registry, read from [`DETECTORS`](crate::detectors::DETECTORS): every
//! kind this build reports, in report order, with what its detector declares about it.
//! Reports, SARIF rules and docs ask here; nothing else lists kinds.

use querycomb_core::{BaseSeverity, FindingKind, KindInfo};

use crate::detectors::{self, DETECTORS};

/// Every kind, in the registry's order (the order reports list them in).
pub fn all() -> impl Iterator<Item = &'static KindInfo> {
    DETECTORS.iter().map(|detector| detector.info())
}

/// What this build knows about `kind`; a kind it does not know (read from the JSON of a
/// newer version) gets a neutral description under its own id.
pub fn info(kind: FindingKind) -> &'static KindInfo {
    detectors::for_kind(kind).map_or(&UNKNOWN, |d| d.info())
}

/// The registry position of `kind` (unknown kinds last): the order of kinds in reports.
pub fn rank(kind: FindingKind) -> usize {
    all()
        .position(|info| info.kind == kind)
        .unwrap_or(usize::MAX)
}

/// A kind id that `--fail-on`-style options and config files may name.
pub fn parse_known(id: &str) -> Option<FindingKind> {
    all().map(|info| info.kind).find(|kind| kind.id() == id)
}

static UNKNOWN: KindInfo = KindInfo {
    kind: FindingKind::new("unknown"),
    title: "finding",
    rule_name: "UnknownFinding",
    summary: "A finding of a kind this version of querycomb does not know.",
    help: "Written by another version of querycomb; upgrade to read its advice.",
    severity: BaseSeverity::Loop,
    after_fix: "statements replaced by the suggested fix",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_declared_once_with_its_texts() {
        let ids: Vec<&str> = all().map(|info| info.kind.id()).collect();
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            ids.len(),
            "a kind is registered twice: {ids:?}"
        );
        for info in all() {
            assert!(!info.title.is_empty() && !info.summary.is_empty() && !info.help.is_empty());
            assert!(info
                .rule_name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_uppercase()));
            assert_eq!(info.kind, info.kind.id().parse_kind(), "{}", info.kind);
        }
    }

    #[test]
    fn unknown_kinds_are_described_under_a_neutral_title() {
        let future = FindingKind::new("from_the_future");
        assert_eq!(info(future).title, "finding");
        assert_eq!(rank(future), usize::MAX);
        assert_eq!(parse_known("from_the_future"), None);
        assert_eq!(
            parse_known("n_plus_one"),
            Some(crate::detectors::n_plus_one::KIND)
        );
    }

    trait ParseKind {
        fn parse_kind(&self) -> FindingKind;
    }
    impl ParseKind for str {
        fn parse_kind(&self) -> FindingKind {
            FindingKind::parse(self).expect("well-formed id")
        }
    }
}

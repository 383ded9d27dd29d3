//! `mn_plus_one`: several children interleaved per parent row (A B C A B C …: per order,
//! load its customer, its address and count its items). Reported once, with every child,
//! instead of as separate loops, because the fix is one change to the loop (eager-load all
//! three), and separate findings would count the same round trips three times.
//!
//! Two loop shapes belong to one sequence when they alternate strictly — between two runs of
//! one there is exactly one run of the other — over the iterations they share, and they ran
//! the same number of times give or take one (a last iteration cut short). A child that runs
//! twice per iteration of another (A B B A B B) is a nested loop, not a sequence: it stays a
//! separate `n_plus_one` whose parent is the outer child.

use querycomb_core::{BaseSeverity, FindingKind, KindInfo};

use super::{Candidate, Detector, Group, MessageParts, UnitAnalysis};
use crate::catalog::FpId;

pub const KIND: FindingKind = FindingKind::new("mn_plus_one");

pub static INFO: KindInfo = KindInfo {
    kind: KIND,
    title: "M×N+1 query sequence",
    rule_name: "MNPlusOneQuery",
    summary: "A sequence of several queries repeats once per parent row.",
    help: "Several queries ran as a repeating sequence (A B C A B C ...), one round per parent row: each is an N+1. Eager-load every association the loop touches, each in one query.",
    severity: BaseSeverity::Loop,
    after_fix: "children replaced by one batched query per shape",
};

pub struct MnPlusOne;

/// Loop shapes considered per unit; more is a pathological request, and pairs are O(k²).
const MAX_LOOPS: usize = 64;

impl Detector for MnPlusOne {
    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    fn message(&self, parts: &MessageParts<'_>) -> String {
        let list: Vec<String> = parts
            .children
            .iter()
            .map(|c| crate::text::excerpt(&c.normalized))
            .collect();
        format!(
            "{}: {} iterations of {} queries ({}){} ({} statements, one set per row)",
            parts.loop_name(),
            parts.candidate.count,
            parts.children.len(),
            list.join("; "),
            parts.after(),
            parts.candidate.statements
        )
    }

    fn detect(&self, unit: &UnitAnalysis<'_>, out: &mut Vec<Candidate>) {
        let loops: Vec<&Group> = unit
            .groups
            .iter()
            .filter(|g| unit.loop_class(g).is_some())
            .take(MAX_LOOPS)
            .collect();
        if loops.len() < 2 {
            return;
        }
        let positions: Vec<Vec<u32>> = loops.iter().map(|g| unit.positions(g.fp)).collect();
        let mut component: Vec<usize> = (0..loops.len()).collect();
        for a in 0..loops.len() {
            for b in a + 1..loops.len() {
                if let (Some(pa), Some(pb)) = (positions.get(a), positions.get(b)) {
                    if alternate(pa, pb) {
                        join(&mut component, a, b);
                    }
                }
            }
        }
        for root in 0..loops.len() {
            let members: Vec<&Group> = loops
                .iter()
                .enumerate()
                .filter(|(i, _)| find(&component, *i) == root)
                .map(|(_, g)| *g)
                .collect();
            if members.len() >= 2 {
                out.extend(sequence_candidate(unit, &members));
            }
        }
    }
}

/// `None` when the sequence has no parent where one is required.
fn sequence_candidate(unit: &UnitAnalysis<'_>, members: &[&Group]) -> Option<Candidate> {
    let children: Vec<FpId> = members.iter().map(|g| g.fp).collect();
    let iterations = members.iter().map(|g| g.count).min().unwrap_or(0);
    let statements = members.iter().map(|g| g.count).sum();
    let distinct = members.iter().map(|g| g.distinct).min().unwrap_or(0);
    let total_us = members
        .iter()
        .filter_map(|g| g.total_us)
        .reduce(|a, b| a.saturating_add(b));
    let first = members.iter().map(|g| g.first).min().unwrap_or(0);
    let parent = unit.parent_for(first, &children, iterations, distinct);
    if parent.is_none() && unit.parent_required() {
        return None;
    }
    Some(Candidate {
        kind: KIND,
        parent,
        children,
        count: iterations,
        statements,
        distinct_params: distinct,
        params: None,
        total_us,
        rows: None,
        result_bytes: None,
    })
}

/// Strict alternation of two sorted position lists, in whichever order they start.
fn alternate(a: &[u32], b: &[u32]) -> bool {
    if a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let (lead, follow) = match (a.first(), b.first()) {
        (Some(x), Some(y)) if x < y => (a, b),
        (Some(_), Some(_)) => (b, a),
        _ => return false,
    };
    let shared = lead.len().min(follow.len());
    (0..shared).all(|i| {
        let after_lead = lead.get(i).zip(follow.get(i)).is_some_and(|(l, f)| l < f);
        let before_next = match (follow.get(i), lead.get(i + 1)) {
            (Some(f), Some(next)) => f < next,
            _ => true,
        };
        after_lead && before_next
    })
}

fn find(component: &[usize], mut i: usize) -> usize {
    while let Some(&parent) = component.get(i) {
        if parent == i {
            return i;
        }
        i = parent;
    }
    i
}

fn join(component: &mut [usize], a: usize, b: usize) {
    let (ra, rb) = (find(component, a), find(component, b));
    let (low, high) = (ra.min(rb), ra.max(rb));
    if let Some(slot) = component.get_mut(high) {
        *slot = low;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_alternation() {
        assert!(alternate(&[0, 2, 4], &[1, 3, 5]));
        assert!(alternate(&[1, 3, 5], &[0, 2, 4]));
        assert!(alternate(&[0, 3, 6], &[1, 4]));
        assert!(!alternate(&[0, 1, 2], &[3, 4, 5]));
        assert!(!alternate(&[0, 3], &[1, 2, 4, 5]));
        assert!(!alternate(&[], &[1]));
    }

    #[test]
    fn components_join_transitively() {
        let mut c = vec![0, 1, 2, 3];
        join(&mut c, 1, 2);
        join(&mut c, 2, 3);
        assert_eq!(find(&c, 3), 1);
        assert_eq!(find(&c, 0), 0);
    }
}

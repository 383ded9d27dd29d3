//! Learning where one untagged request ends and the next begins on a connection, from the
//! pauses between its statements.
//!
//! On a pooled or persistent connection, the pauses between the statements of one unit of
//! work are round trips and a little application code (tens of microseconds to a few
//! milliseconds); the pauses between units are whatever the application did between two
//! requests or jobs (tens to hundreds of milliseconds on a busy server, more on a quiet one).
//! Plotted on a log scale the pauses form two clusters with an empty band between them. A
//! fixed idle gap must sit above every between-request pause to be safe, and then merges
//! consecutive requests; a split learned from the band follows the traffic.
//!
//! The model: a histogram of pauses in half-octave buckets (so memory is fixed, 64 counters
//! per session). The split is Otsu's threshold on the log scale (the one that maximises the
//! variance between the two sides), accepted only with clear evidence of two kinds of pause:
//! - enough pauses seen ([`MIN_SAMPLES`]);
//! - at least [`MIN_CLASS`] pauses on each side, so one stray pause does not make a class;
//! - a separability (between-class over total variance) of at least [`MIN_SEPARATION`]
//!   (0.5: the two sides explain at least half the spread of log-pauses). This is a weak
//!   bar on purpose: a single bell of pauses (a normal distribution reaches 2/π ≈ 0.64) is
//!   split too. Measured on real stacks (docs/accuracy.md), a stricter bar (0.75) left
//!   loaded, overlapping traffic with no split at all, and the idle gap then merged every
//!   request on a connection, which is worse for recall and precision alike than a split in
//!   the overlap; the cuts near the split are checked against loops (`unit::pauses_over`).
//!
//! The split is the geometric middle of the empty band between the two sides; the
//! configured idle gap stays the upper bound. The caller clamps pauses to its clock's
//! resolution (a millisecond log shows a 0.3 ms pause as 0 or 1 ms: both are "one tick"),
//! and does not learn from clocks of whole seconds (the MariaDB general log).

/// Half-octave buckets of microseconds: bucket 63 starts near 2^31.5 µs (about 50 minutes).
const BUCKETS: usize = 64;
/// Pauses seen before a split is trusted.
pub const MIN_SAMPLES: u32 = 32;
/// Separability below which the two sides are not worth telling apart (see the module docs).
pub const MIN_SEPARATION: f64 = 0.5;
/// Pauses needed on each side of the band.
pub const MIN_CLASS: u32 = 3;
/// Refit after this many new pauses (fitting reads the 64 buckets a few times).
const REFIT_EVERY: u32 = 16;

/// Pauses between a session's (or all sessions') consecutive statements.
#[derive(Debug, Clone, Copy)]
pub struct GapModel {
    counts: [u32; BUCKETS],
    samples: u32,
    since_fit: u32,
    split_us: Option<i64>,
    /// The lower quartile of the pauses above the split: a short pause between requests.
    between_us: Option<i64>,
}

impl Default for GapModel {
    fn default() -> Self {
        GapModel {
            counts: [0; BUCKETS],
            samples: 0,
            since_fit: 0,
            split_us: None,
            between_us: None,
        }
    }
}

impl GapModel {
    pub fn record(&mut self, gap_us: i64) {
        if let Some(count) = self.counts.get_mut(bucket(gap_us)) {
            *count = count.saturating_add(1);
        }
        self.samples = self.samples.saturating_add(1);
        self.since_fit += 1;
        if self.since_fit >= REFIT_EVERY || self.samples == MIN_SAMPLES {
            self.since_fit = 0;
            self.split_us = fit(&self.counts, self.samples);
            self.between_us = self
                .split_us
                .map(|split| lower_quartile_above(&self.counts, split));
        }
    }

    /// The learned split: a pause longer than this ends a unit. `None` until the evidence
    /// is clear.
    pub fn split_us(&self) -> Option<i64> {
        self.split_us
    }

    /// A short pause between requests, as learned: the lower quartile of the pauses above
    /// the split (`None` without a split). A loop that pauses less than this is more likely
    /// a loop that stalled than two requests.
    pub fn between_us(&self) -> Option<i64> {
        self.between_us
    }
}

/// Half-octave bucket of a pause: 0 for pauses of at most 1 µs.
fn bucket(gap_us: i64) -> usize {
    let Ok(gap) = u64::try_from(gap_us) else {
        return 0;
    };
    if gap < 2 {
        return 0;
    }
    let log2 = 63 - gap.leading_zeros() as usize;
    let half = ((gap >> (log2 - 1)) & 1) as usize;
    (2 * log2 + half).min(BUCKETS - 1)
}

/// The smallest pause in bucket `b` (inverse of [`bucket`] at its lower edge).
fn lower_edge(b: usize) -> i64 {
    if b < 2 {
        return 1;
    }
    let log2 = b / 2;
    let base = 1i64 << log2;
    if b % 2 == 1 {
        base + (base >> 1)
    } else {
        base
    }
}

/// The lower edge of the bucket holding the first quarter of the pauses above `split`.
fn lower_quartile_above(counts: &[u32; BUCKETS], split: i64) -> i64 {
    let first = bucket(split);
    let above: u32 = counts.iter().skip(first).sum();
    let mut seen = 0u32;
    for (b, &count) in counts.iter().enumerate().skip(first) {
        seen += count;
        if seen.saturating_mul(4) >= above && count > 0 {
            return lower_edge(b);
        }
    }
    split
}

fn fit(counts: &[u32; BUCKETS], samples: u32) -> Option<i64> {
    if samples < MIN_SAMPLES {
        return None;
    }
    let total: f64 = counts.iter().map(|&c| f64::from(c)).sum();
    let sum: f64 = (0..)
        .zip(counts)
        .map(|(i, &c)| f64::from(i) * f64::from(c))
        .sum();
    let squares: f64 = (0..)
        .zip(counts)
        .map(|(i, &c)| f64::from(i) * f64::from(i) * f64::from(c))
        .sum();
    let mean = sum / total;
    let variance = squares / total - mean * mean;
    if variance <= 0.0 {
        return None;
    }
    // Otsu: the split between two occupied buckets that maximises the between-class
    // variance of log-pauses.
    let mut best: Option<(f64, usize, usize)> = None;
    let mut below = 0u32;
    let mut below_sum = 0.0;
    let mut last_occupied: Option<usize> = None;
    for (i, &count) in counts.iter().enumerate() {
        if count == 0 {
            continue;
        }
        if let Some(hi) = last_occupied {
            let above = samples.saturating_sub(below);
            if below >= MIN_CLASS && above >= MIN_CLASS {
                let w0 = f64::from(below) / total;
                let w1 = 1.0 - w0;
                let m0 = below_sum / f64::from(below);
                let m1 = (sum - below_sum) / f64::from(above);
                let between = w0 * w1 * (m1 - m0) * (m1 - m0);
                if best.is_none_or(|(b, _, _)| between > b) {
                    best = Some((between, hi, i));
                }
            }
        }
        below += count;
        below_sum += f64::from(count) * i as f64;
        last_occupied = Some(i);
    }
    let (between, hi, lo) = best?;
    if between / variance < MIN_SEPARATION {
        return None;
    }
    // Geometric middle of the empty band between the two classes.
    Some(lower_edge((hi + 1 + lo).div_ceil(2)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_half_octaves() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(1), 0);
        assert_eq!(bucket(2), 2);
        assert_eq!(bucket(3), 3);
        assert_eq!(bucket(4), 4);
        assert_eq!(bucket(6), 5);
        assert_eq!(bucket(1000), 19);
        assert_eq!(bucket(i64::MAX), BUCKETS - 1);
        assert_eq!(bucket(-5), 0);
        for b in 3..BUCKETS {
            assert_eq!(bucket(lower_edge(b)), b, "{b}");
            assert_eq!(bucket(lower_edge(b) - 1), b - 1, "{b}");
        }
    }

    fn model(gaps: &[(i64, u32)]) -> GapModel {
        let mut m = GapModel::default();
        for &(gap, times) in gaps {
            for _ in 0..times {
                m.record(gap);
            }
        }
        m
    }

    #[test]
    fn two_clusters_give_a_split_between_them() {
        // Round trips of 0.2–2 ms inside requests, 40–150 ms between them.
        let mut request = [(200, 4), (900, 2), (2000, 1), (40_000, 1)];
        let mut gaps = Vec::new();
        for r in 0..10 {
            request[3].0 = if r % 2 == 0 { 40_000 } else { 150_000 };
            gaps.extend(request.iter().copied());
        }
        let m = model(&gaps);
        let split = m.split_us().expect("a split");
        assert!(split > 2000 && split < 40_000, "{split}");
        let between = m.between_us().expect("a between-request pause");
        assert!(between > split && between <= 40_000, "{between}");
    }

    #[test]
    fn no_split_when_pauses_are_alike() {
        // Every pause in one half-octave: nothing to split.
        assert_eq!(model(&[(1000, 50), (1010, 50)]).split_us(), None);
    }

    #[test]
    fn no_split_from_too_few_or_lopsided_samples() {
        assert_eq!(model(&[(200, 10), (100_000, 3)]).split_us(), None);
        assert_eq!(model(&[(200, 60), (100_000, 2)]).split_us(), None);
    }

    #[test]
    fn the_widest_separation_wins() {
        // Three clusters; the 1 ms → 100 ms band separates the bulk best.
        let m = model(&[(100, 40), (1000, 40), (100_000, 20), (30_000_000, 3)]);
        let split = m.split_us().expect("a split");
        assert!(split > 1000 && split < 100_000, "{split}");
    }
}

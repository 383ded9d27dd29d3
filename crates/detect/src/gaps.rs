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
    /// Bit `b` set when bucket `b` holds a pause: fitting visits only those (a session's
    /// pauses fill a handful of the 64).
    occupied: u64,
    samples: u32,
    since_fit: u32,
    split_us: Option<i64>,
    /// The lower quartile of the pauses above the split: a short pause between requests.
    between_us: Option<i64>,
    /// The upper edge of the pauses below the split: the longest pause inside a request.
    within_us: Option<i64>,
}

impl Default for GapModel {
    fn default() -> Self {
        GapModel {
            counts: [0; BUCKETS],
            occupied: 0,
            samples: 0,
            since_fit: 0,
            split_us: None,
            between_us: None,
            within_us: None,
        }
    }
}

impl GapModel {
    pub fn record(&mut self, gap_us: i64) {
        let b = bucket(gap_us);
        if let Some(count) = self.counts.get_mut(b) {
            *count = count.saturating_add(1);
            self.occupied |= 1 << b;
        }
        self.samples = self.samples.saturating_add(1);
        self.since_fit += 1;
        if self.since_fit >= REFIT_EVERY || self.samples == MIN_SAMPLES {
            self.since_fit = 0;
            let occupied = self.occupied_buckets();
            let split_us = fit(occupied.clone(), self.samples);
            let between_us = split_us.map(|split| lower_quartile_above(occupied.clone(), split));
            let within_us = split_us.map(|split| upper_edge_below(occupied, split));
            (self.split_us, self.between_us, self.within_us) = (split_us, between_us, within_us);
        }
    }

    /// `(bucket, count)` of every bucket holding a pause, in ascending order.
    fn occupied_buckets(&self) -> Occupied<'_> {
        Occupied {
            counts: &self.counts,
            rest: self.occupied,
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

    /// The longest pause inside a request, as learned: the upper edge of the pauses below
    /// the split (`None` without a split).
    pub fn within_us(&self) -> Option<i64> {
        self.within_us
    }
}

/// The occupied buckets of a [`GapModel`], lowest first. Visiting only these gives the
/// same sums as visiting all 64: an empty bucket adds zero.
#[derive(Clone)]
struct Occupied<'a> {
    counts: &'a [u32; BUCKETS],
    rest: u64,
}

impl Iterator for Occupied<'_> {
    type Item = (usize, u32);

    fn next(&mut self) -> Option<(usize, u32)> {
        if self.rest == 0 {
            return None;
        }
        let b = self.rest.trailing_zeros() as usize;
        self.rest &= self.rest - 1;
        Some((b, self.counts.get(b).copied().unwrap_or(0)))
    }
}

/// The resolution of an input's clock as far as `time` shows it: the coarsest of a second,
/// a millisecond and a microsecond that divides it, never coarser than `so_far` (what the
/// earlier timestamps showed). A PostgreSQL log has a 1 ms tick, MariaDB's logs 1 s, the
/// proxy 1 µs.
pub fn clock_tick(time: i64, so_far: Option<i64>) -> i64 {
    [1_000_000, 1000, 1]
        .into_iter()
        .find(|t| time % t == 0 && so_far.is_none_or(|old| old >= *t))
        .unwrap_or(1)
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

/// `(bucket, count)` pairs in ascending bucket order; empty buckets may be left out.
trait Buckets: Iterator<Item = (usize, u32)> + Clone {}
impl<T: Iterator<Item = (usize, u32)> + Clone> Buckets for T {}

/// The lower edge of the bucket holding the first quarter of the pauses above `split`.
fn lower_quartile_above(buckets: impl Buckets, split: i64) -> i64 {
    let first = bucket(split);
    let above_split = buckets.filter(|&(b, _)| b >= first);
    let above: u32 = above_split.clone().map(|(_, count)| count).sum();
    let mut seen = 0u32;
    for (b, count) in above_split {
        seen += count;
        if seen.saturating_mul(4) >= above && count > 0 {
            return lower_edge(b);
        }
    }
    split
}

/// The upper edge of the highest bucket holding a pause below `split`.
fn upper_edge_below(buckets: impl Buckets, split: i64) -> i64 {
    let first_above = bucket(split);
    buckets
        .filter(|&(b, count)| b < first_above && count > 0)
        .last()
        .map_or(split, |(b, _)| lower_edge(b + 1).min(split))
}

fn fit(buckets: impl Buckets, samples: u32) -> Option<i64> {
    if samples < MIN_SAMPLES {
        return None;
    }
    let total: f64 = buckets.clone().map(|(_, c)| f64::from(c)).sum();
    let sum: f64 = buckets.clone().map(|(i, c)| i as f64 * f64::from(c)).sum();
    let squares: f64 = buckets
        .clone()
        .map(|(i, c)| i as f64 * i as f64 * f64::from(c))
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
    for (i, count) in buckets {
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
        // The longest pause inside a request: the upper edge of the 2 ms bucket, below the
        // split (the middle of the empty band).
        let within = m.within_us().expect("a pause inside a request");
        assert!(within > 2000 && within < split, "{within} {split}");
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
    fn a_clock_ticks_as_finely_as_any_of_its_timestamps_shows() {
        assert_eq!(clock_tick(1_700_000_000_000_000, None), 1_000_000);
        assert_eq!(clock_tick(1_700_000_000_123_000, None), 1000);
        assert_eq!(clock_tick(1_700_000_000_123_456, None), 1);
        // A whole second seen after a millisecond: the clock still ticks in milliseconds.
        assert_eq!(clock_tick(1_700_000_001_000_000, Some(1000)), 1000);
        assert_eq!(clock_tick(1_700_000_001_000_000, Some(1)), 1);
    }

    /// Visiting only the occupied buckets changes no split and no between-request pause:
    /// the same sums in the same order, on thousands of random histograms.
    #[test]
    fn the_fit_over_occupied_buckets_is_the_fit_over_all() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut splits = 0;
        for _ in 0..5000 {
            let mut m = GapModel::default();
            let clusters = 1 + next() % 4;
            let mut gaps = Vec::new();
            for _ in 0..clusters {
                let centre = 1i64 << (next() % 30);
                for _ in 0..(1 + next() % 40) {
                    gaps.push(centre + (next() % (centre as u64 + 1)) as i64);
                }
            }
            for gap in gaps {
                m.record(gap);
                if m.since_fit == 0 {
                    // Every bucket, empty or not, in order: what the fit visited before.
                    let all = m.counts.iter().copied().enumerate();
                    let expected = fit(all.clone(), m.samples);
                    assert_eq!(m.split_us(), expected, "{:?}", m.counts);
                    splits += usize::from(expected.is_some());
                    let between = expected.map(|split| lower_quartile_above(all.clone(), split));
                    assert_eq!(m.between_us(), between, "{:?}", m.counts);
                    let within = expected.map(|split| upper_edge_below(all.clone(), split));
                    assert_eq!(m.within_us(), within, "{:?}", m.counts);
                }
            }
        }
        assert!(
            splits > 1000,
            "the histograms must give splits too: {splits}"
        );
    }

    #[test]
    fn the_widest_separation_wins() {
        // Three clusters; the 1 ms → 100 ms band separates the bulk best.
        let m = model(&[(100, 40), (1000, 40), (100_000, 20), (30_000_000, 3)]);
        let split = m.split_us().expect("a split");
        assert!(split > 1000 && split < 100_000, "{split}");
    }
}

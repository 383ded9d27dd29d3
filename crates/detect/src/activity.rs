//! What each client's sessions ran lately: whether the application was busy elsewhere while
//! one of its sessions paused. A pause during which the whole application ran nothing is a
//! stall (a loaded machine, a garbage collection, a blocked event loop) and says nothing
//! about where a request ends; a pause while the application kept running on other
//! sessions may be one.

use querycomb_core::Timestamp;

use crate::catalog::FpId;
use crate::hash::FastMap;

/// Recent statement times per client and session: was the application busy elsewhere
/// while one of its sessions paused?
#[derive(Debug, Default)]
pub(crate) struct Activity {
    /// Client hash → (session hash, shape, time), in arrival order.
    recent: FastMap<u64, std::collections::VecDeque<(u64, FpId, Timestamp)>>,
    /// Client hash → the newest statement forgotten to keep `ACTIVITY_PER_CLIENT`: up to
    /// then, what the client ran is not known, so no stretch there is silent (a busy pool
    /// fills the memory in a fraction of the horizon, and a stall read into what was
    /// forgotten joined every segment of the last idle gap).
    forgotten_until: FastMap<u64, Timestamp>,
}

/// What a client's other sessions ran while one of its sessions paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Elsewhere {
    /// Nothing: the whole application stalled (or was idle).
    Nothing,
    /// Only the shape the paused session goes on with: one fan-out's siblings.
    SameShape,
    /// Other work: another request ran meanwhile.
    OtherWork,
}

/// Statements remembered per client: enough for a busy pool over the horizon, bounded.
const ACTIVITY_PER_CLIENT: usize = 4096;

impl Activity {
    pub fn record(
        &mut self,
        client: u64,
        session: u64,
        fp: FpId,
        time: Timestamp,
        horizon_us: i64,
    ) {
        let recent = self.recent.entry(client).or_default();
        recent.push_back((session, fp, time));
        let oldest = time.saturating_sub(horizon_us);
        while let Some(&(_, _, t)) = recent.front() {
            if t >= oldest && recent.len() <= ACTIVITY_PER_CLIENT {
                break;
            }
            recent.pop_front();
            if t >= oldest {
                self.forgotten_until.insert(client, t);
            }
        }
    }

    /// Up to when `client`'s statements were forgotten before the horizon (see
    /// `forgotten_until`).
    fn forgotten(&self, client: u64) -> Option<Timestamp> {
        self.forgotten_until.get(&client).copied()
    }

    /// Forgets clients whose last statement is older than `oldest`, so that memory follows
    /// the clients active within the horizon.
    pub fn forget_before(&mut self, oldest: Timestamp) {
        self.recent
            .retain(|_, recent| recent.back().is_some_and(|&(_, _, t)| t >= oldest));
        let recent = &self.recent;
        self.forgotten_until
            .retain(|client, _| recent.contains_key(client));
    }

    /// What sessions of `client` other than `session` ran strictly between `from` and `to`,
    /// as seen from a statement of shape `fp` that follows the pause.
    pub fn elsewhere(
        &self,
        client: u64,
        session: u64,
        fp: FpId,
        from: Timestamp,
        to: Timestamp,
    ) -> Elsewhere {
        let mut seen = Elsewhere::Nothing;
        for (s, f) in self.between(client, from, to) {
            if s == session {
                continue;
            }
            if f != fp {
                return Elsewhere::OtherWork;
            }
            seen = Elsewhere::SameShape;
        }
        seen
    }

    /// No session of `client` ran a statement strictly between `from` and `to`: the
    /// application was stalled (or idle) all that time.
    pub fn silent(&self, client: u64, from: Timestamp, to: Timestamp) -> bool {
        self.first_after(client, from).is_none_or(|next| next >= to)
    }

    /// The time of `client`'s last remembered statement strictly before `time` (within
    /// what was forgotten, the instant before `time`): the start of the stall that ends at
    /// `time`, if one does.
    pub fn last_before(&self, client: u64, time: Timestamp) -> Option<Timestamp> {
        let recent = self.recent.get(&client)?;
        let at = recent.partition_point(|&(_, _, t)| t < time);
        let remembered = at
            .checked_sub(1)
            .and_then(|at| recent.get(at))
            .map(|&(_, _, t)| t);
        // Every instant of what was forgotten may have been busy.
        let forgotten = self
            .forgotten(client)
            .map(|until| until.min(time.saturating_sub(1)));
        remembered.max(forgotten)
    }

    /// The time of `client`'s first remembered statement strictly after `time` (within
    /// what was forgotten, the instant after `time`): the end of the stall that starts at
    /// `time`, if one does.
    pub fn first_after(&self, client: u64, time: Timestamp) -> Option<Timestamp> {
        let recent = self.recent.get(&client)?;
        if self.forgotten(client).is_some_and(|until| time < until) {
            return Some(time.saturating_add(1));
        }
        let at = recent.partition_point(|&(_, _, t)| t <= time);
        recent.get(at).map(|&(_, _, t)| t)
    }

    /// The sessions and shapes of `client`'s statements strictly between `from` and `to`
    /// (times arrive in order, so a binary search finds the first).
    fn between(
        &self,
        client: u64,
        from: Timestamp,
        to: Timestamp,
    ) -> impl Iterator<Item = (u64, FpId)> + '_ {
        let recent = self.recent.get(&client);
        let first = recent.map_or(0, |r| r.partition_point(|&(_, _, t)| t <= from));
        recent
            .into_iter()
            .flat_map(move |r| r.range(first.min(r.len())..))
            .take_while(move |&&(_, _, t)| t < to)
            .map(|&(s, fp, _)| (s, fp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fan-out index widens a segment's reach to the stalls around it with
    /// `last_before` and `first_after` (`fanout::ClientWaiting::reach`), and `silent` is
    /// `first_after` read one way: sound only if both edges agree with what was remembered
    /// on every pair of instants, including times no longer remembered.
    #[test]
    fn the_stall_edges_agree_with_silent() {
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        for round in 0..200 {
            let mut activity = Activity::default();
            let mut time = 0;
            // A short horizon in half the rounds: early statements are forgotten; in a third,
            // more statements than are remembered.
            let horizon = if round % 2 == 0 { 40 } else { 1_000_000 };
            let count = if round % 3 == 0 {
                ACTIVITY_PER_CLIENT as u64 + next(60)
            } else {
                next(60)
            };
            for _ in 0..count {
                time += next(8) as i64;
                activity.record(1, next(3), FpId(0), time, horizon);
            }
            for query in 0..200 {
                let from = if query % 2 == 0 {
                    next(500) as i64 - 20
                } else {
                    time - next(500) as i64
                };
                let to = from + next(60) as i64;
                // Read off the remembered statements: none strictly between, and no instant
                // strictly between that was forgotten past the memory's bound.
                let unknown = activity
                    .forgotten(1)
                    .is_some_and(|until| from < until && from + 1 < to);
                let expected = !unknown && activity.between(1, from, to).next().is_none();
                let quiet_before = activity.last_before(1, to).is_none_or(|t| t <= from);
                assert_eq!(
                    activity.silent(1, from, to),
                    expected,
                    "round {round}: {from}..{to}"
                );
                assert_eq!(quiet_before, expected, "round {round}: {from}..{to}");
            }
        }
    }
}

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
        while recent
            .front()
            .is_some_and(|&(_, _, t)| t < oldest || recent.len() > ACTIVITY_PER_CLIENT)
        {
            recent.pop_front();
        }
    }

    /// Forgets clients whose last statement is older than `oldest`, so that memory follows
    /// the clients active within the horizon.
    pub fn forget_before(&mut self, oldest: Timestamp) {
        self.recent
            .retain(|_, recent| recent.back().is_some_and(|&(_, _, t)| t >= oldest));
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
        self.between(client, from, to).next().is_none()
    }

    /// The time of `client`'s last remembered statement strictly before `time`: the start
    /// of the stall that ends at `time`, if one does.
    pub fn last_before(&self, client: u64, time: Timestamp) -> Option<Timestamp> {
        let recent = self.recent.get(&client)?;
        let at = recent.partition_point(|&(_, _, t)| t < time);
        at.checked_sub(1)
            .and_then(|at| recent.get(at))
            .map(|&(_, _, t)| t)
    }

    /// The time of `client`'s first remembered statement strictly after `time`: the end
    /// of the stall that starts at `time`, if one does.
    pub fn first_after(&self, client: u64, time: Timestamp) -> Option<Timestamp> {
        let recent = self.recent.get(&client)?;
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

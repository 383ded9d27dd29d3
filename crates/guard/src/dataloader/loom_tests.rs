//! The scheduling core under loom: every interleaving (up to the preemption bound) of two
//! loads of one key, the task that closes their round and the batch that settles it ends
//! with both loads answered (no lost wake-up, no load left waiting on a round that already
//! settled).
//!
//! ```sh
//! RUSTFLAGS="--cfg querycomb_loom" CARGO_TARGET_DIR=target/loom LOOM_MAX_PREEMPTIONS=3 \
//!     cargo test -p querycomb-guard --lib loom
//! ```
//! (its own target dir: the flag rebuilds every dependency). With at most 3 preemptions
//! both models pass in seconds, 4 in about half a minute (unbounded did not finish in
//! 8 minutes here); not registering the waker of a load that finds its key in flight is
//! caught as a deadlock at 2.

use std::task::Poll;

use super::sync::{lock, Arc, Mutex};
use super::{Batch, State, Step};

type Core = Arc<Mutex<State<u32, u64, ()>>>;

/// The round's task: closes the round and settles its keys, as `schedule_round` and
/// `dispatch` do (with the batch answered at once).
fn close_and_settle(core: Core) {
    let closed = lock(&core).close_round();
    if let Some((keys, round)) = closed {
        dispatch(&core, keys, round);
    }
}

fn dispatch(core: &Core, keys: Vec<u32>, round: Arc<super::Round>) {
    if keys.is_empty() {
        return;
    }
    let batch: Batch<u32, u64, ()> = keys.iter().map(|&k| (k, u64::from(k) * 10)).collect();
    lock(core).settle(&keys, Ok(batch), &round);
    round.wake_all();
}

/// One load of `key`, spawning what the core asks for as `Shared::poll_key` does.
fn load(core: Core, key: u32, max_batch: usize) -> u64 {
    let mut registration = None;
    let mut spawned = Vec::new();
    let result = loom::future::block_on(futures_util::future::poll_fn(|cx| {
        let step = lock(&core).poll(&key, cx.waker(), &mut registration, max_batch);
        match step {
            Step::Ready(result) => Poll::Ready(result),
            Step::Wait => Poll::Pending,
            Step::Enqueued {
                opened_round,
                full_batch,
            } => {
                if opened_round {
                    let core = Arc::clone(&core);
                    spawned.push(loom::thread::spawn(move || close_and_settle(core)));
                }
                if let Some((keys, round)) = full_batch {
                    let core = Arc::clone(&core);
                    spawned.push(loom::thread::spawn(move || dispatch(&core, keys, round)));
                }
                Poll::Pending
            }
        }
    }));
    for thread in spawned {
        thread.join().expect("round task");
    }
    result.expect("a value")
}

#[test]
fn loom_two_loads_of_one_key_are_both_answered() {
    loom::model(|| {
        let core: Core = Arc::new(Mutex::new(State::new()));
        let other = {
            let core = Arc::clone(&core);
            loom::thread::spawn(move || load(core, 7, 10))
        };
        assert_eq!(load(core, 7, 10), 70);
        assert_eq!(other.join().expect("other load"), 70);
    });
}

#[test]
fn loom_a_full_batch_dispatched_early_and_the_round_closing_race() {
    loom::model(|| {
        let core: Core = Arc::new(Mutex::new(State::new()));
        // max batch 1: the load's key is dispatched at once while the round's task runs.
        assert_eq!(load(core, 3, 1), 30);
    });
}

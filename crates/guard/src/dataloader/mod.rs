//! A request-scoped batching loader: the fix for an N+1 in code that resolves one item at a
//! time (GraphQL resolvers, per-item helpers).
//!
//! The contract:
//! - **Request-scoped.** A [`Loader`] is not `Clone`: make one per request (from a
//!   [`LoaderFactory`] kept in application state) and lend `&Loader` to the request's
//!   resolvers. Its cache lives exactly as long as it does, so one request never sees
//!   another's data and nothing goes stale across requests.
//! - **De-duplicated.** A key asked for again, while in flight or after, is loaded once.
//! - **One batch per scheduling round.** Keys asked for while a round is open (a few
//!   `yield`s of the runtime by default, or a fixed delay) go to the batch function
//!   together; a round that reaches the maximum batch size is dispatched at once and the
//!   rest follow in further batches, so no batch call is ever larger than the maximum.
//! - **Explicit results.** [`Loader::load_many`] answers in the order of the keys, one
//!   result per key: a value, [`LoadError::NotFound`] when the batch did not return the key,
//!   or the error of the key or of its whole batch. Never silently shorter.
//! - **Robust.** Batches run as their own tasks: a load future that is dropped does not stop
//!   the batch other loads wait for, and a batch function that panics fails its keys with
//!   [`LoadError::Panicked`] instead of leaving them waiting. A batch that failed as a whole
//!   (an error or a panic) is not cached: the loads that waited get the error, the next load
//!   of those keys asks again. Values, not-found and per-key errors are cached.
//!
//! Needs a tokio runtime (batches are spawned).

mod helpers;
#[cfg(all(test, querycomb_loom))]
mod loom_tests;
mod sync;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_util::FutureExt;
use tracing::instrument::WithSubscriber;
use tracing::Instrument;

use sync::lock;

pub use helpers::{by_key, children_by};

/// What the batch function answers for some keys: a value or an error per key. Keys it
/// does not mention are [`LoadError::NotFound`].
pub struct Batch<K, V, E> {
    entries: Vec<(K, Result<V, E>)>,
}

impl<K, V, E> Batch<K, V, E> {
    pub fn new() -> Self {
        Batch {
            entries: Vec::new(),
        }
    }

    pub fn with_capacity(capacity: usize) -> Self {
        Batch {
            entries: Vec::with_capacity(capacity),
        }
    }

    pub fn found(&mut self, key: K, value: V) {
        self.entries.push((key, Ok(value)));
    }

    /// This key failed on its own (its batch did not).
    pub fn failed(&mut self, key: K, error: E) {
        self.entries.push((key, Err(error)));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<K, V, E> Default for Batch<K, V, E> {
    fn default() -> Self {
        Batch::new()
    }
}

impl<K, V, E> FromIterator<(K, V)> for Batch<K, V, E> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Batch {
            entries: iter.into_iter().map(|(k, v)| (k, Ok(v))).collect(),
        }
    }
}

/// Loads many keys in one call (one `SELECT … WHERE id = ANY($1)`). Implemented for
/// closures `Fn(Vec<K>) -> impl Future<Output = Result<Batch<K, V, E>, E>>`.
pub trait BatchFn<K, V>: Send + Sync + 'static {
    type Error: Send + Sync + 'static;

    /// Never called with more keys than the loader's maximum batch size, nor with
    /// duplicates.
    fn load(
        &self,
        keys: Vec<K>,
    ) -> impl Future<Output = Result<Batch<K, V, Self::Error>, Self::Error>> + Send;
}

impl<K, V, E, F, Fut> BatchFn<K, V> for F
where
    F: Fn(Vec<K>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Batch<K, V, E>, E>> + Send,
    E: Send + Sync + 'static,
{
    type Error = E;

    fn load(&self, keys: Vec<K>) -> impl Future<Output = Result<Batch<K, V, E>, E>> + Send {
        self(keys)
    }
}

/// Why a key has no value.
pub enum LoadError<E> {
    /// The batch function answered without this key.
    NotFound,
    /// The batch function failed for this key, or for its whole batch.
    Failed(Arc<E>),
    /// The batch function panicked (its message, when it had one).
    Panicked(Arc<str>),
}

impl<E> LoadError<E> {
    pub fn is_not_found(&self) -> bool {
        matches!(self, LoadError::NotFound)
    }
}

impl<E> Clone for LoadError<E> {
    fn clone(&self) -> Self {
        match self {
            LoadError::NotFound => LoadError::NotFound,
            LoadError::Failed(e) => LoadError::Failed(Arc::clone(e)),
            LoadError::Panicked(m) => LoadError::Panicked(Arc::clone(m)),
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for LoadError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NotFound => f.write_str("NotFound"),
            LoadError::Failed(e) => f.debug_tuple("Failed").field(e).finish(),
            LoadError::Panicked(m) => f.debug_tuple("Panicked").field(m).finish(),
        }
    }
}

impl<E: fmt::Display> fmt::Display for LoadError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NotFound => f.write_str("not found"),
            LoadError::Failed(e) => write!(f, "batch load failed: {e}"),
            LoadError::Panicked(m) => write!(f, "batch function panicked: {m}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for LoadError<E> {}

/// When a scheduling round closes and its keys go to the batch function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// After the round's task has yielded to the runtime this many times: every task that
    /// was ready to run gets its turn to ask for keys. Adds no fixed latency.
    Yield(u32),
    /// After a fixed delay (more keys per batch when resolvers wait on other I/O first).
    Delay(Duration),
}

/// Settings of a loader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoaderConfig {
    /// Keys per batch call, at most (a larger round is split). Default 500.
    pub max_batch: usize,
    /// Default `Yield(2)`.
    pub schedule: Schedule,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig {
            max_batch: 500,
            schedule: Schedule::Yield(2),
        }
    }
}

/// Kept in application state; makes one [`Loader`] per request.
pub struct LoaderFactory<F> {
    batch_fn: Arc<F>,
    config: LoaderConfig,
}

impl<F> Clone for LoaderFactory<F> {
    fn clone(&self) -> Self {
        LoaderFactory {
            batch_fn: Arc::clone(&self.batch_fn),
            config: self.config,
        }
    }
}

impl<F> LoaderFactory<F> {
    pub fn new(batch_fn: F, config: LoaderConfig) -> Self {
        LoaderFactory {
            batch_fn: Arc::new(batch_fn),
            config,
        }
    }

    /// A loader for one request, with an empty cache.
    pub fn loader<K, V>(&self) -> Loader<K, V, F>
    where
        K: Eq + Hash + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        F: BatchFn<K, V>,
    {
        Loader::from_parts(Arc::clone(&self.batch_fn), self.config)
    }
}

/// The loader of one request; see the [module docs](self). Not `Clone` on purpose.
pub struct Loader<K, V, F: BatchFn<K, V>> {
    shared: Arc<Shared<K, V, F>>,
}

struct Shared<K, V, F: BatchFn<K, V>> {
    batch_fn: Arc<F>,
    config: LoaderConfig,
    state: sync::Mutex<State<K, V, F::Error>>,
}

struct State<K, V, E> {
    cache: HashMap<K, Slot<V, E>>,
    /// Keys of the open round not dispatched yet.
    queue: Vec<K>,
    /// The open round, if any: keys asked for now join it.
    round: Option<sync::Arc<Round>>,
}

enum Slot<V, E> {
    Pending(sync::Arc<Round>),
    Ready(Result<V, LoadError<E>>),
    /// The whole batch failed or panicked: the loads that waited for it get the error, a
    /// later load asks again (a per-key error, like a value, is cached).
    Failed(LoadError<E>),
}

/// The waiters of one round's keys. Each finished batch of the round wakes them all; a
/// waiter whose key is still pending registers again.
#[derive(Default)]
struct Round {
    wakers: sync::Mutex<Wakers>,
}

#[derive(Default)]
struct Wakers {
    /// Bumped by every wake, so that a waiter knows its slot is gone.
    generation: u64,
    list: Vec<Waker>,
}

/// Where a waiting load's waker sits, to replace it instead of adding another on re-poll.
#[derive(Clone, Copy)]
struct Registration {
    generation: u64,
    index: usize,
}

impl Round {
    fn register(&self, waker: &Waker, previous: Option<Registration>) -> Registration {
        let mut wakers = lock(&self.wakers);
        if let Some(r) = previous.filter(|r| r.generation == wakers.generation) {
            if let Some(slot) = wakers.list.get_mut(r.index) {
                if !slot.will_wake(waker) {
                    slot.clone_from(waker);
                }
                return r;
            }
        }
        wakers.list.push(waker.clone());
        Registration {
            generation: wakers.generation,
            index: wakers.list.len() - 1,
        }
    }

    fn wake_all(&self) {
        let list = {
            let mut wakers = lock(&self.wakers);
            wakers.generation += 1;
            std::mem::take(&mut wakers.list)
        };
        for waker in list {
            waker.wake();
        }
    }
}

impl<K, V, F> Loader<K, V, F>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    F: BatchFn<K, V>,
{
    /// A loader with the default settings.
    pub fn new(batch_fn: F) -> Self {
        Loader::with_config(batch_fn, LoaderConfig::default())
    }

    pub fn with_config(batch_fn: F, config: LoaderConfig) -> Self {
        Loader::from_parts(Arc::new(batch_fn), config)
    }

    fn from_parts(batch_fn: Arc<F>, config: LoaderConfig) -> Self {
        let config = LoaderConfig {
            max_batch: config.max_batch.max(1),
            ..config
        };
        Loader {
            shared: Arc::new(Shared {
                batch_fn,
                config,
                state: sync::Mutex::new(State::new()),
            }),
        }
    }

    /// The value of `key`, from the cache or from the batch of the current round.
    pub async fn load(&self, key: K) -> Result<V, LoadError<F::Error>> {
        let mut registration = None;
        futures_util::future::poll_fn(|cx| self.shared.poll_key(&key, cx, &mut registration)).await
    }

    /// One result per key, in the order of `keys` (duplicates answered from one load).
    pub async fn load_many(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> Vec<Result<V, LoadError<F::Error>>> {
        futures_util::future::join_all(keys.into_iter().map(|key| self.load(key))).await
    }

    /// Puts a value in the cache unless the key is cached or in flight already.
    pub fn prime(&self, key: K, value: V) {
        let mut state = lock(&self.shared.state);
        let slot = state
            .cache
            .entry(key)
            .or_insert(Slot::Failed(LoadError::NotFound));
        if matches!(slot, Slot::Failed(_)) {
            *slot = Slot::Ready(Ok(value));
        }
    }

    /// Forgets `key`: the next load asks the batch function again. A load in flight still
    /// gets its answer, which is then not cached.
    pub fn clear(&self, key: &K) {
        lock(&self.shared.state).cache.remove(key);
    }

    /// Forgets every key.
    pub fn clear_all(&self) {
        lock(&self.shared.state).cache.clear();
    }

    /// Keys cached or in flight.
    pub fn cached(&self) -> usize {
        lock(&self.shared.state).cache.len()
    }
}

impl<K, V, F> Shared<K, V, F>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    F: BatchFn<K, V>,
{
    fn poll_key(
        self: &Arc<Self>,
        key: &K,
        cx: &mut Context<'_>,
        registration: &mut Option<Registration>,
    ) -> Poll<Result<V, LoadError<F::Error>>> {
        let mut state = lock(&self.state);
        match state.poll(key, cx.waker(), registration, self.config.max_batch) {
            Step::Ready(result) => Poll::Ready(result),
            Step::Wait => Poll::Pending,
            Step::Enqueued {
                opened_round,
                full_batch,
            } => {
                if opened_round {
                    self.schedule_round();
                }
                if let Some((keys, round)) = full_batch {
                    self.dispatch(keys, round);
                }
                Poll::Pending
            }
        }
    }

    /// Closes the open round when its schedule says so and dispatches what it collected.
    fn schedule_round(self: &Arc<Self>) {
        let shared = Arc::clone(self);
        spawn_in_request(async move {
            match shared.config.schedule {
                Schedule::Yield(times) => {
                    for _ in 0..times {
                        tokio::task::yield_now().await;
                    }
                }
                Schedule::Delay(delay) => tokio::time::sleep(delay).await,
            }
            let closed = lock(&shared.state).close_round();
            let Some((mut keys, round)) = closed else {
                return;
            };
            let max = shared.config.max_batch;
            while keys.len() > max {
                let rest = keys.split_off(max);
                shared.dispatch(keys, sync::Arc::clone(&round));
                keys = rest;
            }
            if !keys.is_empty() {
                shared.dispatch(keys, round);
            }
        });
    }

    /// Runs one batch as its own task, so that no waiter's cancellation stops it.
    fn dispatch(self: &Arc<Self>, keys: Vec<K>, round: sync::Arc<Round>) {
        let shared = Arc::clone(self);
        spawn_in_request(async move {
            let call = shared.batch_fn.load(keys.clone());
            let outcome = match AssertUnwindSafe(call).catch_unwind().await {
                Ok(Ok(batch)) => Ok(batch),
                Ok(Err(error)) => Err(LoadError::Failed(Arc::new(error))),
                Err(panic) => Err(LoadError::Panicked(panic_message(panic.as_ref()).into())),
            };
            lock(&shared.state).settle(&keys, outcome, &round);
            round.wake_all();
        });
    }
}

/// What a poll of a key found; spawning what it asks for is the caller's.
enum Step<K, V, E> {
    Ready(Result<V, LoadError<E>>),
    /// The key is in flight; the waker is registered.
    Wait,
    /// The key joined the open round; the waker is registered.
    Enqueued {
        /// This key opened the round: its closing must be scheduled.
        opened_round: bool,
        /// The round's keys filled a batch: dispatch it now.
        full_batch: Option<(Vec<K>, sync::Arc<Round>)>,
    },
}

/// The scheduling core: slots, rounds and waiters, with no runtime in it (loom checks it).
impl<K, V, E> State<K, V, E>
where
    K: Eq + Hash + Clone,
    V: Clone,
{
    fn new() -> Self {
        State {
            cache: HashMap::new(),
            queue: Vec::new(),
            round: None,
        }
    }

    /// The value of `key` if settled, else joins or opens a round and registers `waker`.
    /// Registered under the state lock: a batch settles under that lock before it wakes,
    /// so a waiter either sees the result or is woken.
    fn poll(
        &mut self,
        key: &K,
        waker: &Waker,
        registration: &mut Option<Registration>,
        max_batch: usize,
    ) -> Step<K, V, E> {
        let (round, step) = match self.cache.get(key) {
            Some(Slot::Ready(result)) => return Step::Ready(result.clone()),
            Some(Slot::Failed(error)) if registration.is_some() => {
                return Step::Ready(Err(error.clone()))
            }
            Some(Slot::Pending(round)) => (sync::Arc::clone(round), Step::Wait),
            Some(Slot::Failed(_)) | None => {
                *registration = None;
                self.enqueue(key, max_batch)
            }
        };
        *registration = Some(round.register(waker, *registration));
        step
    }

    fn enqueue(&mut self, key: &K, max_batch: usize) -> (sync::Arc<Round>, Step<K, V, E>) {
        let opened_round = self.round.is_none();
        let round = sync::Arc::clone(self.round.get_or_insert_with(Default::default));
        self.cache
            .insert(key.clone(), Slot::Pending(sync::Arc::clone(&round)));
        self.queue.push(key.clone());
        let full_batch = (self.queue.len() >= max_batch)
            .then(|| (std::mem::take(&mut self.queue), sync::Arc::clone(&round)));
        let step = Step::Enqueued {
            opened_round,
            full_batch,
        };
        (round, step)
    }

    /// Ends the open round: its keys not dispatched yet, and the round.
    fn close_round(&mut self) -> Option<(Vec<K>, sync::Arc<Round>)> {
        let round = self.round.take()?;
        Some((std::mem::take(&mut self.queue), round))
    }

    /// Stores a batch's answer for each of its keys still waiting for `round`: values and
    /// per-key errors as given, missing keys as not found, a failed batch's error (not
    /// cached for later loads) for all.
    fn settle(
        &mut self,
        keys: &[K],
        outcome: Result<Batch<K, V, E>, LoadError<E>>,
        round: &sync::Arc<Round>,
    ) {
        let mut settle = |key: &K, settled: Slot<V, E>| {
            if let Some(slot) = self.cache.get_mut(key) {
                if matches!(slot, Slot::Pending(r) if sync::Arc::ptr_eq(r, round)) {
                    *slot = settled;
                }
            }
        };
        let batch = match outcome {
            Ok(batch) => batch,
            Err(error) => {
                for key in keys {
                    settle(key, Slot::Failed(error.clone()));
                }
                return;
            }
        };
        for (key, result) in batch.entries {
            let result = result.map_err(|e| LoadError::Failed(Arc::new(e)));
            settle(&key, Slot::Ready(result));
        }
        for key in keys {
            settle(key, Slot::Ready(Err(LoadError::NotFound)));
        }
    }
}

/// Spawns a task of the loader that stays inside the current request: the span and the
/// subscriber of the load that started it, so that the batch's statements count for the
/// request that asked for them (the guard's layer, `assert_max_queries!`, traces).
fn spawn_in_request(task: impl Future<Output = ()> + Send + 'static) {
    tokio::spawn(
        task.instrument(tracing::Span::current())
            .with_current_subscriber(),
    );
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(no message)".to_owned()
    }
}

//! querycomb-guard's `Loader` against async-graphql's `DataLoader` (with its `HashMapCache`,
//! so that both de-duplicate and cache within the loader) and the `dataloader` crate's
//! `cached::Loader`, on one workload, in one run, interleaved round by round:
//!
//! 10,000 keys; 100 resolvers running as concurrent tasks on a 2-worker tokio runtime, each
//! loading 200 keys at once (`join_all` of single loads, as a GraphQL list field resolves):
//! its own 100 keys and its neighbour's, so every key is asked for twice, by two tasks.
//! A fresh loader per round (loaders are request-scoped). The batch function answers from
//! memory, so what is measured is the loader: scheduling, de-duplication, caching, waking.
//! Maximum batch size 1000 for all three; each schedules rounds its own default way
//! (async-graphql: a 1 ms delay; dataloader: 10 yields; querycomb-guard: 2 yields).
//!
//! Times are the median over the rounds of the process's CPU time (user + system, both
//! runtime workers: the machine is shared, and time spent waiting for a core is not the
//! loader's), with wall-clock time beside it. (async-graphql's 1 ms delay shows in its
//! wall-clock time, not in its CPU time.)
//!
//! `cargo run --release --manifest-path bench/dataloader-peers/Cargo.toml`

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;

const KEYS: u32 = 10_000;
const RESOLVERS: u32 = 100;
const MAX_BATCH: usize = 1000;
const ROUNDS: usize = 30;

/// Resolver `r`'s keys: its own (`k % 100 == r`) and its neighbour's.
fn keys_of(resolver: u32) -> Vec<u32> {
    let neighbour = (resolver + 1) % RESOLVERS;
    (0..KEYS / RESOLVERS)
        .flat_map(|i| [i * RESOLVERS + resolver, i * RESOLVERS + neighbour])
        .collect()
}

fn value_of(key: u32) -> u64 {
    u64::from(key) * 2
}

/// Counts batch calls and checks every answer.
#[derive(Default)]
struct Tally {
    batches: AtomicUsize,
    keys: AtomicUsize,
}

impl Tally {
    fn batch(&self, keys: usize) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.keys.fetch_add(keys, Ordering::Relaxed);
    }
}

/// Runs the 100 resolvers; `load` loads one key.
async fn resolvers<L, F>(loader: Arc<L>, load: fn(Arc<L>, u32) -> F)
where
    L: Send + Sync + 'static,
    F: Future<Output = u64> + Send + 'static,
{
    let tasks: Vec<_> = (0..RESOLVERS)
        .map(|r| {
            let loader = Arc::clone(&loader);
            tokio::spawn(async move {
                let keys = keys_of(r);
                let values = join_all(keys.iter().map(|&k| load(Arc::clone(&loader), k))).await;
                for (k, v) in keys.iter().zip(values) {
                    assert_eq!(v, value_of(*k));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("resolver");
    }
}

mod guard {
    use super::*;
    use querycomb_guard::dataloader::{Batch, BatchFn, Loader, LoaderConfig};

    pub struct Source(pub Arc<Tally>);

    impl BatchFn<u32, u64> for Source {
        type Error = String;
        async fn load(&self, keys: Vec<u32>) -> Result<Batch<u32, u64, String>, String> {
            self.0.batch(keys.len());
            Ok(keys.into_iter().map(|k| (k, value_of(k))).collect())
        }
    }

    pub async fn round(tally: Arc<Tally>) {
        let config = LoaderConfig {
            max_batch: MAX_BATCH,
            ..LoaderConfig::default()
        };
        let loader = Arc::new(Loader::with_config(Source(tally), config));
        resolvers(loader, |l, k| async move { l.load(k).await.expect("value") }).await;
    }
}

mod async_graphql_loader {
    use super::*;
    use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};

    pub struct Source(pub Arc<Tally>);

    impl Loader<u32> for Source {
        type Value = u64;
        type Error = Arc<String>;
        async fn load(&self, keys: &[u32]) -> Result<HashMap<u32, u64>, Arc<String>> {
            self.0.batch(keys.len());
            Ok(keys.iter().map(|&k| (k, value_of(k))).collect())
        }
    }

    pub async fn round(tally: Arc<Tally>) {
        let loader = DataLoader::with_cache(Source(tally), tokio::spawn, HashMapCache::default())
            .max_batch_size(MAX_BATCH);
        resolvers(Arc::new(loader), |l, k| async move {
            l.load_one(k).await.expect("value").expect("found")
        })
        .await;
    }
}

mod dataloader_crate {
    use super::*;
    use dataloader::cached::Loader;
    use dataloader::BatchFn;

    pub struct Source(pub Arc<Tally>);

    impl BatchFn<u32, u64> for Source {
        async fn load(&mut self, keys: &[u32]) -> HashMap<u32, u64> {
            self.0.batch(keys.len());
            keys.iter().map(|&k| (k, value_of(k))).collect()
        }
    }

    pub async fn round(tally: Arc<Tally>) {
        let loader = Loader::new(Source(tally)).with_max_batch_size(MAX_BATCH);
        resolvers(Arc::new(loader), |l, k| async move { l.load(k).await }).await;
    }
}

struct Contender {
    name: &'static str,
    /// Wall-clock time per round.
    times: Vec<Duration>,
    /// CPU time of the process (both runtime workers) per round.
    cpu: Vec<Duration>,
    tally: Arc<Tally>,
    /// Most keys the batch function was asked for in one round (10,000 without duplicates).
    most_keys: usize,
}

/// User + system CPU time of the whole process: on a shared machine, the time a round
/// waited for a core is not the loader's.
fn process_cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    assert_eq!(rc, 0, "getrusage");
    // SAFETY: initialised by the successful call (and zeroed before it).
    let usage = unsafe { usage.assume_init() };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut contenders: Vec<Contender> = ["querycomb-guard Loader", "async-graphql DataLoader", "dataloader cached::Loader"]
        .into_iter()
        .map(|name| Contender {
            name,
            times: Vec::new(),
            cpu: Vec::new(),
            tally: Arc::default(),
            most_keys: 0,
        })
        .collect();
    for round in 0..ROUNDS + 2 {
        for (index, contender) in contenders.iter_mut().enumerate() {
            let tally = Arc::new(Tally::default());
            let start = Instant::now();
            let cpu_start = process_cpu_time();
            runtime.block_on(async {
                match index {
                    0 => guard::round(Arc::clone(&tally)).await,
                    1 => async_graphql_loader::round(Arc::clone(&tally)).await,
                    _ => dataloader_crate::round(Arc::clone(&tally)).await,
                }
            });
            let took = start.elapsed();
            let cpu = process_cpu_time() - cpu_start;
            if index == 0 {
                // querycomb-guard's contract; the peers' key counts are printed instead.
                assert_eq!(tally.keys.load(Ordering::Relaxed), KEYS as usize, "every key once");
            }
            if round >= 2 {
                contender.times.push(took);
                contender.cpu.push(cpu);
                contender.most_keys = contender.most_keys.max(tally.keys.load(Ordering::Relaxed));
                contender.tally = tally;
            }
        }
    }
    let loads = (RESOLVERS * 2 * KEYS / RESOLVERS) as f64;
    println!(
        "{KEYS} keys, {RESOLVERS} concurrent resolvers, {loads} loads (every key twice), max batch {MAX_BATCH}, median of {ROUNDS} rounds"
    );
    let ours_cpu = median(&mut contenders[0].cpu.clone());
    let ours_wall = median(&mut contenders[0].times.clone());
    println!(
        "  {:<27} {:>12} {:>12} {:>12} {:>8} {:>11} {:>12} {:>12}",
        "loader", "CPU ms/round", "CPU ns/load", "Mloads/CPU-s", "batches", "most keys", "CPU vs ours", "wall ms"
    );
    for contender in &mut contenders {
        let cpu = median(&mut contender.cpu);
        let wall = median(&mut contender.times);
        println!(
            "  {:<27} {:>12.2} {:>12.0} {:>12.2} {:>8} {:>11} {:>11.2}x {:>7.2} ({:.2}x)",
            contender.name,
            cpu.as_secs_f64() * 1e3,
            cpu.as_nanos() as f64 / loads,
            loads / cpu.as_secs_f64() / 1e6,
            contender.tally.batches.load(Ordering::Relaxed),
            contender.most_keys,
            cpu.as_secs_f64() / ours_cpu.as_secs_f64(),
            wall.as_secs_f64() * 1e3,
            wall.as_secs_f64() / ours_wall.as_secs_f64(),
        );
    }
}

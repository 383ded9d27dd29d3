//! The loader's contract under concurrency: de-duplication, batching per round, the maximum
//! batch size, key order with explicit not-found and errors, cancellation, failing and
//! panicking batch functions.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use querycomb_guard::dataloader::{
    children_by, Batch, LoadError, Loader, LoaderConfig, LoaderFactory, Schedule,
};

/// Every batch call's keys.
type Calls = Arc<Mutex<Vec<Vec<u32>>>>;

/// Keys 0..1000 exist and are worth `key * 10`, except: 13 fails on its own, multiples of
/// 1000 and above do not exist. `delay` before answering; a batch holding 666 panics; a
/// batch holding 777 fails as a whole.
fn store(
    calls: &Calls,
    delay: Duration,
) -> impl Fn(Vec<u32>) -> BatchFuture + Send + Sync + 'static {
    let calls = Arc::clone(calls);
    move |keys: Vec<u32>| {
        calls.lock().unwrap().push(keys.clone());
        Box::pin(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if keys.contains(&666) {
                panic!("the beast");
            }
            if keys.contains(&777) {
                return Err("database is down".to_owned());
            }
            let mut batch = Batch::with_capacity(keys.len());
            for key in keys {
                match key {
                    13 => batch.failed(key, format!("row {key} is corrupt")),
                    k if k < 1000 => batch.found(k, u64::from(k) * 10),
                    _ => {}
                }
            }
            Ok(batch)
        })
    }
}

type BatchFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Batch<u32, u64, String>, String>> + Send>,
>;

fn config(max_batch: usize) -> LoaderConfig {
    LoaderConfig {
        max_batch,
        ..LoaderConfig::default()
    }
}

/// Each key was asked for at most once over all batches, and no batch was larger than `max`.
fn assert_batches_sound(calls: &Calls, max: usize) -> usize {
    let calls = calls.lock().unwrap();
    let mut seen = HashSet::new();
    for call in calls.iter() {
        assert!(call.len() <= max, "a batch of {} > {max}", call.len());
        for key in call {
            assert!(seen.insert(*key), "key {key} asked for twice: {calls:?}");
        }
    }
    calls.len()
}

#[tokio::test]
async fn concurrent_loads_make_one_batch_without_duplicates_in_key_order() {
    let calls = Calls::default();
    let loader = Loader::new(store(&calls, Duration::ZERO));
    let keys: Vec<u32> = (0..100).map(|i| i % 10).collect();
    let results = loader.load_many(keys.clone()).await;
    assert_eq!(results.len(), 100);
    for (key, result) in keys.iter().zip(&results) {
        assert_eq!(result.as_ref().ok(), Some(&(u64::from(*key) * 10)));
    }
    assert_eq!(assert_batches_sound(&calls, 500), 1);
    assert_eq!(calls.lock().unwrap()[0].len(), 10);
    // Cached: no more calls.
    assert_eq!(loader.load(3).await.unwrap(), 30);
    assert_eq!(calls.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_round_larger_than_the_maximum_is_split() {
    let calls = Calls::default();
    let loader = Loader::with_config(store(&calls, Duration::ZERO), config(10));
    let results = loader.load_many(100..125).await;
    assert!(results.iter().all(Result::is_ok));
    // ⌈25 / 10⌉ batch calls.
    assert_eq!(assert_batches_sound(&calls, 10), 3);
}

#[tokio::test]
async fn missing_keys_and_per_key_errors_are_explicit() {
    let calls = Calls::default();
    let loader = Loader::new(store(&calls, Duration::ZERO));
    let results = loader.load_many([5, 1000, 13, 5]).await;
    assert_eq!(results.len(), 4);
    assert_eq!(results[0].as_ref().ok(), Some(&50));
    assert!(matches!(results[1], Err(LoadError::NotFound)));
    assert!(matches!(&results[2], Err(LoadError::Failed(e)) if e.as_str() == "row 13 is corrupt"));
    assert_eq!(results[3].as_ref().ok(), Some(&50));
    // Per-key errors and not-found are cached like values.
    assert!(loader.load(1000).await.unwrap_err().is_not_found());
    assert!(loader.load(13).await.is_err());
    assert_eq!(calls.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_failed_batch_fails_its_keys_and_is_asked_again_later() {
    let calls = Calls::default();
    let loader = Loader::new(store(&calls, Duration::ZERO));
    let results = loader.load_many([1, 777, 2]).await;
    for result in &results {
        assert!(
            matches!(result, Err(LoadError::Failed(e)) if e.as_str() == "database is down"),
            "{results:?}"
        );
    }
    // Not cached: key 1 alone loads fine now.
    assert_eq!(loader.load(1).await.unwrap(), 10);
    assert_eq!(calls.lock().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_batch_fails_its_keys_only() {
    let calls = Calls::default();
    let loader = Loader::with_config(store(&calls, Duration::ZERO), config(4));
    // Batches [0,1,2,3] and [4,666,6,7]... the one with 666 panics.
    let keys = [0, 1, 2, 3, 4, 666, 6, 7, 8];
    let results = loader.load_many(keys).await;
    assert_eq!(results.len(), keys.len());
    for (key, result) in keys.iter().zip(&results) {
        let in_panicking_batch = calls
            .lock()
            .unwrap()
            .iter()
            .any(|call| call.contains(&666) && call.contains(key));
        if in_panicking_batch {
            assert!(
                matches!(result, Err(LoadError::Panicked(m)) if &**m == "the beast"),
                "{key}: {result:?}"
            );
        } else {
            assert_eq!(result.as_ref().ok(), Some(&(u64::from(*key) * 10)), "{key}");
        }
    }
    // The loader still works.
    assert_eq!(loader.load(500).await.unwrap(), 5000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_loads_do_not_stop_the_batch_others_wait_for() {
    let calls = Calls::default();
    let factory = LoaderFactory::new(store(&calls, Duration::from_millis(30)), config(16));
    let loader = Arc::new(factory.loader());
    let mut tasks = Vec::new();
    for task in 0..40u32 {
        let loader = Arc::clone(&loader);
        tasks.push(tokio::spawn(async move {
            loader
                .load_many((0..8).map(|i| 100 + (task * 3 + i) % 50))
                .await
        }));
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    for task in tasks.iter().step_by(2) {
        task.abort();
    }
    let mut finished = 0;
    for task in tasks {
        match task.await {
            Ok(results) => {
                assert!(results.iter().all(Result::is_ok), "{results:?}");
                finished += 1;
            }
            Err(e) => assert!(e.is_cancelled()),
        }
    }
    assert!(finished >= 20);
    // Every key is there, loaded once, whoever asked first.
    let all = loader.load_many(100..150).await;
    assert!(all.iter().all(Result::is_ok));
    assert_batches_sound(&calls, 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_with_overlapping_keys() {
    let calls = Calls::default();
    let loader = Arc::new(Loader::with_config(
        store(&calls, Duration::ZERO),
        config(64),
    ));
    let tasks: Vec<_> = (0..200u32)
        .map(|task| {
            let loader = Arc::clone(&loader);
            tokio::spawn(async move {
                // A cheap deterministic spread over 0..600 (no failing batches, whose keys
                // are asked again) with many repeats.
                let keys: Vec<u32> = (0..50).map(|i| (task * 37 + i * 101) % 600).collect();
                let results = loader.load_many(keys.clone()).await;
                (keys, results)
            })
        })
        .collect();
    for (keys, results) in join_all(tasks).await.into_iter().map(Result::unwrap) {
        assert_eq!(keys.len(), results.len());
        for (key, result) in keys.iter().zip(results) {
            match key {
                13 => assert!(matches!(result, Err(LoadError::Failed(_)))),
                _ => assert_eq!(result.unwrap(), u64::from(*key) * 10, "{key}"),
            }
        }
    }
    assert_batches_sound(&calls, 64);
}

#[tokio::test]
async fn prime_and_clear() {
    let calls = Calls::default();
    let loader = Loader::new(store(&calls, Duration::ZERO));
    loader.prime(1, 99);
    assert_eq!(loader.load(1).await.unwrap(), 99);
    assert!(calls.lock().unwrap().is_empty());
    loader.clear(&1);
    assert_eq!(loader.load(1).await.unwrap(), 10);
    assert_eq!(loader.cached(), 1);
    loader.clear_all();
    assert_eq!(loader.cached(), 0);
}

#[tokio::test]
async fn a_delay_schedule_collects_loads_that_start_later() {
    let calls = Calls::default();
    let loader = Loader::with_config(
        store(&calls, Duration::ZERO),
        LoaderConfig {
            max_batch: 100,
            schedule: Schedule::Delay(Duration::from_millis(50)),
        },
    );
    let late = async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        loader.load(2).await
    };
    let (a, b) = tokio::join!(loader.load(1), late);
    assert_eq!((a.unwrap(), b.unwrap()), (10, 20));
    assert_eq!(assert_batches_sound(&calls, 100), 1);
}

#[tokio::test]
async fn each_factory_loader_has_its_own_cache() {
    let calls = Calls::default();
    let factory = LoaderFactory::new(store(&calls, Duration::ZERO), LoaderConfig::default());
    let first = factory.loader();
    let second = factory.loader();
    first.prime(7, 1);
    assert_eq!(first.load(7).await.unwrap(), 1);
    assert_eq!(second.load(7).await.unwrap(), 70);
}

#[tokio::test]
async fn children_by_gives_every_parent_a_list() {
    let loader = Loader::new(|parents: Vec<u32>| async move {
        // Rows of `SELECT … WHERE parent_id = ANY($1)`: parent 2 has none.
        let rows = vec![(1u32, "a"), (3, "b"), (1, "c")];
        Ok::<_, String>(children_by(&parents, rows, |row| row.0))
    });
    let results = loader.load_many([1, 2, 3]).await;
    let names: Vec<Vec<&str>> = results
        .into_iter()
        .map(|r| r.unwrap().into_iter().map(|row| row.1).collect())
        .collect();
    assert_eq!(names, vec![vec!["a", "c"], vec![], vec!["b"]]);
}

//! Deadlines for the connection threads.
//!
//! The connection threads' runtimes are built without a time driver: a time driver costs
//! every wakeup a lock and a walk of its timer wheel (about 900 instructions per
//! transaction at one client, measured with callgrind), while a connection's deadlines —
//! start-up, connect, idle, drain — are set rarely and almost never expire. They are
//! registered on the runtime that called [`crate::Proxy::serve`] instead, whose time
//! driver wakes the waiting connection task across threads when one expires.

use std::future::IntoFuture;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::time::{Instant, Sleep, Timeout};

/// Where connection deadlines are kept: a runtime with its time driver on.
#[derive(Clone, Debug)]
pub(crate) struct Timers(Handle);

impl Timers {
    /// The current runtime's. Panics outside a runtime; creating a deadline panics if that
    /// runtime has no time driver (`Proxy::serve` documents that it needs one).
    pub fn current() -> Timers {
        Timers(Handle::current())
    }

    /// [`tokio::time::timeout`], with its deadline kept on this runtime.
    pub fn timeout<F: IntoFuture>(&self, duration: Duration, future: F) -> Timeout<F::IntoFuture> {
        let _keeper = self.0.enter();
        tokio::time::timeout(duration, future)
    }

    /// [`tokio::time::sleep_until`], kept on this runtime; [`Sleep::reset`] keeps it there.
    pub fn sleep_until(&self, deadline: Instant) -> Sleep {
        let _keeper = self.0.enter();
        tokio::time::sleep_until(deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runtime without a time driver can wait on deadlines kept by one with it.
    #[test]
    fn deadlines_expire_on_a_runtime_without_a_time_driver() {
        let keeper = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_time()
            .build()
            .unwrap();
        let timers = keeper.block_on(async { Timers::current() });
        let connections = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        connections.block_on(async {
            let never = std::future::pending::<()>();
            assert!(timers
                .timeout(Duration::from_millis(20), never)
                .await
                .is_err());
            let mut sleep =
                Box::pin(timers.sleep_until(Instant::now() + Duration::from_secs(3600)));
            sleep
                .as_mut()
                .reset(Instant::now() + Duration::from_millis(10));
            sleep.await;
        });
    }
}

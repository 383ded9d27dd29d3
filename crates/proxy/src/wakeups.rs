//! The relay's branches (the two pumps and the shutdown watch), each polled only when it was
//! woken.
//!
//! `tokio::select!` polls every branch on every wakeup of the task, since it cannot tell
//! which one asked. A proxied round trip wakes a connection twice (client bytes, then server
//! bytes), so each wakeup polled the idle pump too: a readiness check that re-registers the
//! same waker under the socket's lock, about 300 instructions a transaction with the
//! shutdown branch. Here each branch gets a waker of its own, which marks the branch and
//! wakes the task; a poll of the task polls only the marked branches.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use atomic_waker::AtomicWaker;

/// Which of a relay's branches finished first, with its output.
pub(crate) enum First<A, B, C> {
    Client(A),
    Server(B),
    Shutdown(C),
}

/// Polls three futures until the first of them finishes, like a `select!` of them in this
/// order. They are pinned by the caller, so that its own future holds them once (moved into
/// an async fn here, each would take its size twice in the connection's task).
pub(crate) fn first_of<'a, A: Future, B: Future, C: Future>(
    mut client: Pin<&'a mut A>,
    mut server: Pin<&'a mut B>,
    mut shutdown: Pin<&'a mut C>,
) -> impl Future<Output = First<A::Output, B::Output, C::Output>> + 'a {
    let marks = Arc::new(Marks {
        woken: AtomicU8::new(ALL),
        task: AtomicWaker::new(),
    });
    let wakers = [0, 1, 2].map(|index| {
        Waker::from(Arc::new(BranchWaker {
            bit: 1 << index,
            marks: marks.clone(),
        }))
    });
    std::future::poll_fn(move |cx| {
        // Registered before the marks are read: a wakeup from now on wakes this task again.
        marks.task.register(cx.waker());
        let woken = marks.woken.swap(0, Ordering::AcqRel);
        let [client_waker, server_waker, shutdown_waker] = &wakers;
        if woken & 1 != 0 {
            if let Poll::Ready(out) = poll_with(client.as_mut(), client_waker) {
                return Poll::Ready(First::Client(out));
            }
        }
        if woken & 2 != 0 {
            if let Poll::Ready(out) = poll_with(server.as_mut(), server_waker) {
                return Poll::Ready(First::Server(out));
            }
        }
        if woken & 4 != 0 {
            if let Poll::Ready(out) = poll_with(shutdown.as_mut(), shutdown_waker) {
                return Poll::Ready(First::Shutdown(out));
            }
        }
        Poll::Pending
    })
}

/// Every branch: all are polled on the first poll.
const ALL: u8 = 0b111;

fn poll_with<F: Future>(future: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(waker))
}

/// The branches woken since the task last polled them, and the task to wake.
struct Marks {
    woken: AtomicU8,
    task: AtomicWaker,
}

struct BranchWaker {
    bit: u8,
    marks: Arc<Marks>,
}

impl Wake for BranchWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Marked before the task is woken, so the poll that follows sees the mark.
        self.marks.woken.fetch_or(self.bit, Ordering::AcqRel);
        self.marks.task.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Counts its polls; ready once `ready` is set, which also wakes it.
    #[derive(Clone, Default)]
    struct Probe {
        polls: Arc<AtomicUsize>,
        ready: Arc<std::sync::Mutex<(bool, Option<Waker>)>>,
    }

    impl Probe {
        fn finish(&self) {
            let mut state = self.ready.lock().unwrap();
            state.0 = true;
            if let Some(waker) = state.1.take() {
                waker.wake();
            }
        }

        fn polls(&self) -> usize {
            self.polls.load(Ordering::SeqCst)
        }

        fn future(&self) -> impl Future<Output = &'static str> {
            let probe = self.clone();
            std::future::poll_fn(move |cx| {
                probe.polls.fetch_add(1, Ordering::SeqCst);
                let mut state = probe.ready.lock().unwrap();
                if state.0 {
                    return Poll::Ready("done");
                }
                state.1 = Some(cx.waker().clone());
                Poll::Pending
            })
        }
    }

    /// A branch's wakeup polls that branch and no other; the first to finish wins.
    #[tokio::test]
    async fn only_the_woken_branch_is_polled_again() {
        let (client, server, shutdown) = (Probe::default(), Probe::default(), Probe::default());
        let branches = (client.future(), server.future(), shutdown.future());
        let relay = tokio::spawn(async move {
            let (a, b, c) = branches;
            let (a, b, c) = (std::pin::pin!(a), std::pin::pin!(b), std::pin::pin!(c));
            first_of(a, b, c).await
        });
        while shutdown.polls() == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            (client.polls(), server.polls(), shutdown.polls()),
            (1, 1, 1)
        );
        // A waker that fires without the future being ready: polled again, alone.
        let server_waker = server.ready.lock().unwrap().1.clone().unwrap();
        server_waker.wake_by_ref();
        while server.polls() < 2 {
            tokio::task::yield_now().await;
        }
        server.finish();
        match relay.await.unwrap() {
            First::Server("done") => {}
            _ => panic!("the server branch finished"),
        }
        assert_eq!(
            (client.polls(), server.polls(), shutdown.polls()),
            (1, 3, 1)
        );
    }

    /// Wakeups that come from another thread while the task runs are not lost.
    #[test]
    fn a_wakeup_from_another_thread_reaches_its_branch() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for _ in 0..200 {
            let (client, server, shutdown) = (Probe::default(), Probe::default(), Probe::default());
            let finisher = {
                let client = client.clone();
                std::thread::spawn(move || client.finish())
            };
            let (a, b, c) = (client.future(), server.future(), shutdown.future());
            let (a, b, c) = (std::pin::pin!(a), std::pin::pin!(b), std::pin::pin!(c));
            let first = runtime.block_on(first_of(a, b, c));
            finisher.join().unwrap();
            assert!(matches!(first, First::Client("done")));
        }
    }
}

//! The loader's locks and shared pointers: loom's under `--cfg querycomb_loom` (so that loom can
//! explore the scheduling core's interleavings), the standard library's otherwise.

#[cfg(querycomb_loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};
#[cfg(not(querycomb_loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard};

/// Every critical section leaves the data whole, so a poisoned lock is still usable (a
/// panicking waiter must not take the loader down).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

//! Poison-tolerant locking, the one way this crate takes a mutex.
//!
//! Every critical section in d-back is a plain map or counter update that
//! cannot be left half done, so a lock poisoned by a panic elsewhere still
//! holds consistent data; refusing it would turn one panic into many.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, ignoring poisoning (see the module docs for why that is sound).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

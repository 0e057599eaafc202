//! Giving the heap back after big joins.
//!
//! A `server-join` of a large server is built, encoded and written once per
//! viewer: a few hundred kilobytes that live for a moment, in thousands of
//! small allocations when a callback answers a fresh user list. glibc keeps
//! what a burst of such joins freed inside its heaps, interleaved with the
//! small, long-lived allocations of the sessions that joined meanwhile, so
//! the process's resident memory stays at the burst's peak (a viewer of a
//! 1,000-member server looked like 25 KiB while its live heap was under
//! 6 KiB, `bench/heap_report.py`). After such joins a background thread
//! calls `malloc_trim`, which returns every whole free page to the kernel;
//! at most once per [`EVERY`], never on a worker thread. Elsewhere than
//! glibc this does nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;
use std::time::Duration;

/// Joins with at least this many users ask for a trim.
pub(crate) const LARGE_JOIN_USERS: usize = 200;

/// The trimmer's period: one trim at most per this.
const EVERY: Duration = Duration::from_millis(500);

static WANTED: AtomicBool = AtomicBool::new(false);
static START: Once = Once::new();

/// Notes that a join of `users` members was just sent.
pub(crate) fn joined(users: usize) {
    if users < LARGE_JOIN_USERS || !cfg!(all(target_os = "linux", target_env = "gnu")) {
        return;
    }
    WANTED.store(true, Ordering::Relaxed);
    START.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("d-back-trim".into())
            .spawn(trimmer);
        if let Err(e) = spawned {
            log::warn!("could not start the memory trimmer thread: {e}");
        }
    });
}

fn trimmer() {
    loop {
        std::thread::sleep(EVERY);
        if WANTED.swap(false, Ordering::Relaxed) {
            trim();
        }
    }
}

fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes a padding size and only touches the
    // allocator's own free lists; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

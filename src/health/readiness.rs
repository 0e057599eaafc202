//! [`Readiness`]: the conditions for `/readyz`, each a [`Check`] that says
//! why it fails, and the [`Detail`]s it reports either way (each Discord
//! shard's state); [`Flag`] is the usual way to back a check with a state
//! a task keeps current.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// One condition: `Err(reason)` while it does not hold. Cheap and
/// non-blocking: it reads a state, it does not go and look.
pub(crate) type Check = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// A field `/readyz` adds to its answer, ready or not: a name and its
/// value now. Cheap and non-blocking, like a [`Check`].
pub(crate) type Detail = Arc<dyn Fn() -> (&'static str, serde_json::Value) + Send + Sync>;

/// Every registered condition, in the order registered, and the details.
#[derive(Default)]
pub(crate) struct Readiness {
    checks: Vec<Check>,
    details: Vec<Detail>,
}

impl Readiness {
    pub(crate) fn add(&mut self, check: Check) {
        self.checks.push(check);
    }

    pub(crate) fn add_detail(&mut self, detail: Detail) {
        self.details.push(detail);
    }

    /// The checks and details, to be added to another `Readiness`.
    pub(crate) fn into_parts(self) -> (Vec<Check>, Vec<Detail>) {
        (self.checks, self.details)
    }

    /// The details' fields as they are now.
    pub(crate) fn details(&self) -> Vec<(&'static str, serde_json::Value)> {
        self.details.iter().map(|d| d()).collect()
    }

    /// The reasons of the conditions that fail now; empty when all hold.
    pub(crate) fn failing(&self) -> Vec<String> {
        self.checks.iter().filter_map(|c| c().err()).collect()
    }
}

/// A yes/no state (connected, serving) set by whoever knows it and read by
/// its [`check`](Flag::check).
#[derive(Debug)]
pub(crate) struct Flag {
    up: AtomicBool,
    /// What `/readyz` says while the flag is down.
    reason: &'static str,
}

impl Flag {
    /// A flag that starts down.
    pub(crate) fn new(reason: &'static str) -> Arc<Flag> {
        Arc::new(Flag {
            up: AtomicBool::new(false),
            reason,
        })
    }

    pub(crate) fn set(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
    }

    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// The condition "this flag is up".
    pub(crate) fn check(self: &Arc<Self>) -> Check {
        let flag = self.clone();
        Arc::new(move || {
            if flag.up.load(Ordering::Relaxed) {
                Ok(())
            } else {
                Err(flag.reason.to_string())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Flag, Readiness};

    #[test]
    fn failing_lists_the_reasons_of_down_flags_in_order() {
        let (a, b) = (Flag::new("a is down"), Flag::new("b is down"));
        let mut r = Readiness::default();
        r.add(a.check());
        r.add(b.check());
        assert_eq!(r.failing(), ["a is down", "b is down"]);
        a.set(true);
        assert_eq!(r.failing(), ["b is down"]);
        b.set(true);
        assert!(r.failing().is_empty());
        a.set(false);
        assert_eq!(r.failing(), ["a is down"]);
    }
}

//! [`Readiness`]: the conditions for `/readyz`, each a [`Check`] that says
//! why it fails; [`Flag`] is the usual way to back one with a state a task
//! keeps current.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// One condition: `Err(reason)` while it does not hold. Cheap and
/// non-blocking: it reads a state, it does not go and look.
pub(crate) type Check = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Every registered condition, in the order registered.
#[derive(Default)]
pub(crate) struct Readiness {
    checks: Vec<Check>,
}

impl Readiness {
    pub(crate) fn add(&mut self, check: Check) {
        self.checks.push(check);
    }

    pub(crate) fn into_checks(self) -> Vec<Check> {
        self.checks
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

//! `Latest`: the last presence of each member a hub sent while some of its
//! viewers had fallen behind, in the order they were last changed, so a
//! viewer that falls behind converges instead of being evicted.
//!
//! Why: a bulk change (a gateway session's catch-up, a guild becoming
//! unavailable, a role colour touching 50,000 members) is tens of thousands
//! of presences at once, more than a viewer's backlog limit. Presences are
//! state, not events: a viewer needs each member's last one, once. So a
//! viewer whose backlog passes half the limit stops taking presences in
//! batches and gets them from here instead, as its socket drains: each
//! member at most once per pass, in change order, never more than about the
//! bytes of a fresh join. Chat frames still go to it directly, and a reader
//! that stops reading is still evicted by them (or dropped by the kernel).

use std::collections::{BTreeMap, HashMap};

use bytestring::ByteString;

/// Presences by member, numbered in change order.
#[derive(Default)]
pub(crate) struct Latest {
    /// The number of the last presence recorded.
    version: u64,
    /// Each member's last presence frame and its number.
    by_uid: HashMap<String, (u64, ByteString)>,
    /// Members by the number of their last presence.
    order: BTreeMap<u64, String>,
}

/// What a behind viewer is sent next: frames, where it then stands, and
/// whether that is the end (it has caught up).
pub(crate) struct Next {
    pub(crate) frames: Vec<ByteString>,
    pub(crate) cursor: u64,
    pub(crate) caught_up: bool,
}

impl Latest {
    /// The number of the last presence recorded: a viewer at this cursor
    /// has every one.
    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    /// Records a member's presence frame, replacing its earlier one.
    pub(crate) fn record(&mut self, uid: &str, frame: ByteString) {
        self.version += 1;
        if let Some((old, _)) = self.by_uid.get(uid) {
            self.order.remove(old);
        }
        self.order.insert(self.version, uid.to_string());
        self.by_uid.insert(uid.to_string(), (self.version, frame));
    }

    /// The presences after `cursor`, in change order, up to about `budget`
    /// bytes (at least one).
    pub(crate) fn after(&self, cursor: u64, budget: usize) -> Next {
        let mut frames = Vec::new();
        let mut bytes = 0;
        let mut at = cursor;
        for (&v, uid) in self.order.range(cursor + 1..) {
            if bytes >= budget {
                break;
            }
            let frame = &self.by_uid[uid].1;
            bytes += frame.len();
            frames.push(frame.clone());
            at = v;
        }
        Next {
            caught_up: at >= self.version || self.order.range(at + 1..).next().is_none(),
            cursor: at,
            frames,
        }
    }

    /// Forgets what every behind viewer already has (numbers up to
    /// `oldest`); everything when no viewer is behind (`None`).
    pub(crate) fn forget(&mut self, oldest: Option<u64>) {
        let Some(oldest) = oldest else {
            self.by_uid.clear();
            self.order.clear();
            return;
        };
        while let Some(entry) = self.order.first_entry() {
            if *entry.key() > oldest {
                break;
            }
            let uid = entry.remove();
            self.by_uid.remove(&uid);
        }
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(next: &Next) -> Vec<&str> {
        next.frames.iter().map(|f| &**f).collect()
    }

    #[test]
    fn a_behind_viewer_gets_each_member_once_in_change_order() {
        let mut l = Latest::default();
        l.record("1", "a1".into());
        let cursor = l.version();
        l.record("2", "b1".into());
        l.record("1", "a2".into());
        l.record("3", "c1".into());
        l.record("2", "b2".into());
        let next = l.after(cursor, usize::MAX);
        assert_eq!(text(&next), ["a2", "c1", "b2"]);
        assert!(next.caught_up);
        assert_eq!(next.cursor, l.version());
    }

    #[test]
    fn a_budget_splits_the_catch_up_and_a_later_change_is_not_lost() {
        let mut l = Latest::default();
        for uid in ["1", "2", "3"] {
            l.record(uid, format!("{uid}.").into());
        }
        let first = l.after(0, 4);
        assert_eq!(text(&first), ["1.", "2."]);
        assert!(!first.caught_up);
        // Member 1 changes again after the viewer got its first state.
        l.record("1", "1!".into());
        let rest = l.after(first.cursor, usize::MAX);
        assert_eq!(text(&rest), ["3.", "1!"]);
        assert!(rest.caught_up);
    }

    #[test]
    fn forgetting_keeps_what_the_oldest_behind_viewer_lacks() {
        let mut l = Latest::default();
        for uid in ["1", "2", "3"] {
            l.record(uid, uid.into());
        }
        l.forget(Some(2));
        assert_eq!(text(&l.after(0, usize::MAX)), ["3"]);
        l.forget(None);
        assert!(l.is_empty());
    }
}

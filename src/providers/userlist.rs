//! `UserList`: the users of one server as a join sends them, encoded once.
//!
//! A join's biggest part is the user map: for a 10,000-member guild about a
//! megabyte of JSON. A provider that keeps its users (the Discord bot's
//! cache) hands every joining session the same `Arc<UserList>`, and the map
//! is serialized the first time a session needs it and then only copied, so
//! a burst of joins costs one encoding, not one per viewer. Lists from the
//! user's callbacks are new each time; [`Reuse`] keeps the last list of
//! each server, so a callback that answers the same users again (the usual
//! case: members change far less often than viewers join) gets the encoding
//! it already has instead of a new one. A callback that answers a shared
//! `Arc<[User]>` ([`Answer::Shared`]) is recognized by the `Arc` alone: the
//! same `Arc` again costs neither a copy nor a comparison.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde::Serialize;

use crate::protocol::model::{IntoUsers, User};

/// The users of one server, with their encoded `users` map (and its
/// compressed form, see [`crate::deflate`]), each made on first use.
///
/// A list that lives long and is shared by many joins (the Discord cache's)
/// is made with [`UserList::packed`]: encoded at once and kept only as
/// those bytes, about half the memory of the users themselves, which are
/// read back from them only if someone asks (mock traffic, the Redis
/// snapshot).
#[derive(Debug)]
pub(crate) struct UserList {
    users: OnceLock<Vec<User>>,
    encoded: OnceLock<Bytes>,
    deflated: OnceLock<Option<Bytes>>,
    len: usize,
    /// A packed list's encoding is not yet counted as made for a join.
    uncounted: AtomicBool,
}

impl Default for UserList {
    fn default() -> Self {
        UserList::new(Vec::new())
    }
}

impl UserList {
    pub(crate) fn new(users: Vec<User>) -> Self {
        UserList {
            len: users.len(),
            users: OnceLock::from(users),
            encoded: OnceLock::new(),
            deflated: OnceLock::new(),
            uncounted: AtomicBool::new(false),
        }
    }

    /// A list kept as its encoding only.
    pub(crate) fn packed(users: &[User]) -> Self {
        UserList {
            len: users.len(),
            users: OnceLock::new(),
            encoded: OnceLock::from(encode(users)),
            deflated: OnceLock::new(),
            uncounted: AtomicBool::new(true),
        }
    }

    pub(crate) fn users(&self) -> &[User] {
        self.users.get_or_init(|| {
            let map = self.encoded.get().map_or(&b"{}"[..], |b| &b[..]);
            serde_json::from_slice::<serde_json::Value>(map)
                .map(IntoUsers::into_users)
                .unwrap_or_default()
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The same users in the same order as `other`.
    fn same(&self, other: &UserList) -> bool {
        match (self.encoded.get(), other.encoded.get()) {
            (Some(a), Some(b)) => a == b,
            _ => self.len == other.len && self.users() == other.users(),
        }
    }

    /// The `users` object of `server-join`: every user keyed by its uid, in
    /// list order, as JSON bytes every join of this list shares.
    pub(crate) fn encoded(&self) -> &Bytes {
        self.encode().0
    }

    /// [`Self::encoded`], and whether this call made it.
    fn encode(&self) -> (&Bytes, bool) {
        let mut made = false;
        let bytes = self.encoded.get_or_init(|| {
            made = true;
            encode(self.users())
        });
        (bytes, made)
    }

    /// [`Self::encoded`] as an independent deflate segment at `level` (the
    /// first caller's level: one server has one), made once per list.
    /// `None` if compressing failed; joins then go out plain.
    pub(crate) fn deflated(&self, level: u32) -> Option<&Bytes> {
        self.deflate(level).0
    }

    fn deflate(&self, level: u32) -> (Option<&Bytes>, bool) {
        let mut made = false;
        let segment = self.deflated.get_or_init(|| {
            made = true;
            crate::deflate::segment(self.encoded(), level).map(Bytes::from)
        });
        (segment.as_ref(), made)
    }

    /// Makes the encoding (and, for a compressing join, the deflate
    /// segment) a join of this list sends, and says which of them were
    /// made for this join rather than found: a join of an unchanged list
    /// makes neither (a packed list's encoding counts for its first join).
    pub(crate) fn prepare(&self, compressed: bool, level: u32) -> Made {
        let encoded = self.encode().1 || self.uncounted.swap(false, Ordering::Relaxed);
        let compressed = compressed && self.deflate(level).1;
        Made {
            encoded,
            compressed,
        }
    }
}

/// The `users` map's JSON.
fn encode(users: &[User]) -> Bytes {
    // Our own serializer's output is JSON; it is not parsed again.
    let json = serde_json::to_string(&ByUid(users)).unwrap_or_else(|_| "{}".into());
    Bytes::from(json)
}

/// What [`UserList::prepare`] made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Made {
    pub(crate) encoded: bool,
    pub(crate) compressed: bool,
}

/// A user provider's answer as the providers receive it.
#[derive(Debug)]
pub(crate) enum Answer {
    /// A checked list (the Discord cache's, a parsed one, a copied one).
    List(Arc<UserList>),
    /// The caller's shared list, not yet checked; `Reuse` checks it once.
    Shared(Arc<[User]>),
}

impl Default for Answer {
    fn default() -> Self {
        Answer::List(Arc::default())
    }
}

impl From<Arc<UserList>> for Answer {
    fn from(list: Arc<UserList>) -> Self {
        Answer::List(list)
    }
}

/// Servers whose last list [`Reuse`] keeps at most; past it the memory is
/// cleared and refilled by the next joins (a deployment has a handful).
const REUSE_SERVERS: usize = 256;

/// The last list answered for each server, so an unchanged answer shares
/// the list (and its encoding) already made. One per provider thread.
#[derive(Debug, Default)]
pub(crate) struct Reuse {
    last: HashMap<String, Kept>,
}

/// One server's kept list, and the shared answer it was made from (held,
/// so its address cannot be reused by another list while it is compared).
#[derive(Debug)]
struct Kept {
    list: Arc<UserList>,
    source: Option<Arc<[User]>>,
}

impl Reuse {
    /// The list to send for `answer`: the kept list of `server` when the
    /// answer is the same shared `Arc` it was made from, or holds the same
    /// users in the same order; otherwise the answer's own list, which
    /// replaces the kept one.
    pub(crate) fn share(&mut self, server: &str, answer: Answer) -> Arc<UserList> {
        let kept = self.last.get_mut(server);
        let (fresh, source) = match answer {
            Answer::Shared(users) => {
                if let Some(kept) = &kept {
                    if kept.source.as_ref().is_some_and(|s| Arc::ptr_eq(s, &users)) {
                        return kept.list.clone();
                    }
                }
                let checked = UserList::new(users.to_vec().into_users());
                (Arc::new(checked), Some(users))
            }
            Answer::List(list) => (list, None),
        };
        if let Some(kept) = kept {
            if Arc::ptr_eq(&kept.list, &fresh) || kept.list.same(&fresh) {
                kept.source = source;
                return kept.list.clone();
            }
        }
        if fresh.is_empty() {
            // Nothing to encode; a failing provider's default is not kept.
            self.last.remove(server);
            return fresh;
        }
        if self.last.len() >= REUSE_SERVERS && !self.last.contains_key(server) {
            self.last.clear();
        }
        let kept = Kept {
            list: fresh.clone(),
            source,
        };
        self.last.insert(server.to_owned(), kept);
        fresh
    }
}

struct ByUid<'a>(&'a [User]);

impl Serialize for ByUid<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|u| (&u.uid, u)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::model::{RoleColor, Status};

    #[test]
    fn encodes_once_keyed_by_uid_in_order() {
        let list = UserList::new(vec![
            User::new("2", "b", Status::Online, RoleColor::from_rgb(0x112233)),
            User::new("1", "a", Status::Idle, RoleColor::from_rgb(0x445566)),
        ]);
        let first = list.encoded().as_ptr();
        let text = list.encoded();
        assert_eq!(first, text.as_ptr(), "encoded once, then reused");
        let v: serde_json::Value = serde_json::from_slice(text).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["2", "1"]);
        assert_eq!(v["1"]["username"], "a");
        assert_eq!(&UserList::default().encoded()[..], b"{}");
    }

    #[test]
    fn a_packed_list_is_its_encoding() {
        let users = vec![
            User::new("2", "b", Status::Online, RoleColor::from_rgb(0x112233)),
            User::new("1", "a", Status::Idle, RoleColor::from_rgb(0x445566)),
        ];
        let packed = UserList::packed(&users);
        let plain = UserList::new(users.clone());
        assert_eq!(packed.encoded(), plain.encoded());
        assert_eq!(packed.len(), 2);
        assert_eq!(packed.users(), &users[..], "read back in order");
        assert!(packed.same(&plain) && plain.same(&packed));
        let made = packed.prepare(false, 6);
        assert!(made.encoded, "counted for its first join");
        assert!(!packed.prepare(false, 6).encoded);
    }

    #[test]
    fn prepare_says_what_it_made() {
        let list = UserList::new(vec![User::new(
            "1",
            "a",
            Status::Online,
            RoleColor::from_rgb(0x445566),
        )]);
        let made = |encoded, compressed| Made {
            encoded,
            compressed,
        };
        assert_eq!(list.prepare(false, 6), made(true, false));
        assert_eq!(list.prepare(true, 6), made(false, true));
        assert_eq!(list.prepare(true, 6), made(false, false), "made once");
    }

    fn list(names: &[&str]) -> Arc<UserList> {
        Arc::new(UserList::new(
            names
                .iter()
                .map(|n| User::new(*n, *n, Status::Online, RoleColor::from_rgb(0x112233)))
                .collect(),
        ))
    }

    #[test]
    fn reuse_shares_an_unchanged_list_and_replaces_a_changed_one() {
        let mut reuse = Reuse::default();
        let first = reuse.share("g", list(&["a", "b"]).into());
        let again = reuse.share("g", list(&["a", "b"]).into());
        assert!(Arc::ptr_eq(&first, &again), "same users: the kept list");
        let other = reuse.share("h", list(&["a", "b"]).into());
        assert!(!Arc::ptr_eq(&first, &other), "kept per server");
        let changed = reuse.share("g", list(&["b", "a"]).into());
        assert!(!Arc::ptr_eq(&first, &changed), "order is part of the list");
        let after = reuse.share("g", list(&["b", "a"]).into());
        assert!(Arc::ptr_eq(&changed, &after), "the new list is kept");
        let empty = reuse.share("g", Answer::default());
        assert!(empty.is_empty());
        let back = reuse.share("g", list(&["b", "a"]).into());
        assert!(!Arc::ptr_eq(&changed, &back), "an empty answer forgets");
    }

    fn shared(names: &[&str]) -> Arc<[User]> {
        list(names).users().into()
    }

    #[test]
    fn a_shared_answer_is_checked_once_and_known_by_its_arc() {
        let mut reuse = Reuse::default();
        let mut users = shared(&["a", "b"]).to_vec();
        users.push(users[0].clone());
        let source: Arc<[User]> = users.into();
        let first = reuse.share("g", Answer::Shared(source.clone()));
        assert_eq!(first.len(), 2, "the duplicate uid is dropped");
        let again = reuse.share("g", Answer::Shared(source.clone()));
        assert!(Arc::ptr_eq(&first, &again), "the same Arc: the kept list");
        let equal = reuse.share("g", Answer::Shared(shared(&["a", "b"])));
        assert!(Arc::ptr_eq(&first, &equal), "a new Arc, same users: kept");
        let changed = reuse.share("g", Answer::Shared(shared(&["a", "c"])));
        assert_eq!(changed.users()[1].uid, "c", "a changed list is sent");
        let back = reuse.share("g", Answer::Shared(source));
        assert!(
            !Arc::ptr_eq(&changed, &back),
            "the old Arc is checked again"
        );
        assert_eq!(back.len(), 2);
    }
}

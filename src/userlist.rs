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
//! it already has instead of a new one.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use serde::Serialize;
use serde_json::value::RawValue;

use crate::model::User;

/// The users of one server, with their encoded `users` map, made on first use.
#[derive(Debug, Default)]
pub(crate) struct UserList {
    users: Vec<User>,
    encoded: OnceLock<Box<RawValue>>,
}

impl UserList {
    pub(crate) fn new(users: Vec<User>) -> Self {
        UserList {
            users,
            encoded: OnceLock::new(),
        }
    }

    pub(crate) fn users(&self) -> &[User] {
        &self.users
    }

    pub(crate) fn len(&self) -> usize {
        self.users.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The `users` object of `server-join`: every user keyed by its uid, in
    /// list order.
    pub(crate) fn encoded(&self) -> &RawValue {
        self.encoded.get_or_init(|| {
            // Serialized straight into a RawValue: our own serializer's
            // output is JSON, and parsing it again would double the cost.
            serde_json::value::to_raw_value(&ByUid(&self.users)).unwrap_or_else(|_| empty_map())
        })
    }
}

/// Servers whose last list [`Reuse`] keeps at most; past it the memory is
/// cleared and refilled by the next joins (a deployment has a handful).
const REUSE_SERVERS: usize = 256;

/// The last list answered for each server, so an unchanged answer shares
/// the list (and its encoding) already made. One per provider thread.
#[derive(Debug, Default)]
pub(crate) struct Reuse {
    last: HashMap<String, Arc<UserList>>,
}

impl Reuse {
    /// `fresh`, or the kept list of `server` when it holds the same users
    /// in the same order. A different list replaces the kept one.
    pub(crate) fn share(&mut self, server: &str, fresh: Arc<UserList>) -> Arc<UserList> {
        if let Some(kept) = self.last.get(server) {
            if Arc::ptr_eq(kept, &fresh) || kept.users == fresh.users {
                return kept.clone();
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
        self.last.insert(server.to_owned(), fresh.clone());
        fresh
    }
}

fn empty_map() -> Box<RawValue> {
    RawValue::from_string("{}".to_owned()).expect("an empty object is JSON")
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
    use crate::model::{RoleColor, Status};

    #[test]
    fn encodes_once_keyed_by_uid_in_order() {
        let list = UserList::new(vec![
            User::new("2", "b", Status::Online, RoleColor::from_rgb(0x112233)),
            User::new("1", "a", Status::Idle, RoleColor::from_rgb(0x445566)),
        ]);
        let first = list.encoded().get().as_ptr();
        let text = list.encoded().get();
        assert_eq!(first, text.as_ptr(), "encoded once, then reused");
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["2", "1"]);
        assert_eq!(v["1"]["username"], "a");
        assert_eq!(UserList::default().encoded().get(), "{}");
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
        let first = reuse.share("g", list(&["a", "b"]));
        let again = reuse.share("g", list(&["a", "b"]));
        assert!(Arc::ptr_eq(&first, &again), "same users: the kept list");
        let other = reuse.share("h", list(&["a", "b"]));
        assert!(!Arc::ptr_eq(&first, &other), "kept per server");
        let changed = reuse.share("g", list(&["b", "a"]));
        assert!(!Arc::ptr_eq(&first, &changed), "order is part of the list");
        let after = reuse.share("g", list(&["b", "a"]));
        assert!(Arc::ptr_eq(&changed, &after), "the new list is kept");
        let empty = reuse.share("g", Arc::default());
        assert!(empty.is_empty());
        let back = reuse.share("g", list(&["b", "a"]));
        assert!(!Arc::ptr_eq(&changed, &back), "an empty answer forgets");
    }
}

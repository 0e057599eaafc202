//! `UserList`: the users of one server as a join sends them, encoded once.
//!
//! A join's biggest part is the user map: for a 10,000-member guild about a
//! megabyte of JSON. A provider that keeps its users (the Discord bot's
//! cache) hands every joining session the same `Arc<UserList>`, and the map
//! is serialized the first time a session needs it and then only copied, so
//! a burst of joins costs one encoding, not one per viewer. Lists from the
//! user's callbacks are new each time and simply encoded once for their join.

use std::sync::OnceLock;

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
            let json = serde_json::to_string(&ByUid(&self.users)).unwrap_or_else(|_| "{}".into());
            // Our own serializer's output is valid JSON.
            RawValue::from_string(json).unwrap_or_else(|_| empty_map())
        })
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
}

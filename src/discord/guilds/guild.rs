//! One guild as the bot knows it: its members, roles and channels, and the
//! list of users a joining viewer is sent, kept until something drawn
//! changes.
//!
//! Members are keyed by their `u64` id. A status that arrives before its
//! member (a large guild's GUILD_CREATE lists presences of members whose
//! chunks come later) waits beside them until the member does.

use std::collections::HashMap;
use std::sync::Arc;

use crate::protocol::model::{RoleColor, Status, User};
use crate::providers::userlist::UserList;

use super::member::{Arrival, Member};
use super::roles::Roles;
use super::view::{Look, View};

#[derive(Default)]
pub(crate) struct Guild {
    pub(crate) name: String,
    pub(crate) roles: Roles,
    /// Channel names by id (text channels, threads, categories alike).
    pub(crate) channels: HashMap<u64, Box<str>>,
    members: HashMap<u64, Member>,
    /// Statuses of users who are not members yet (their chunk is to come).
    waiting: HashMap<u64, Status>,
    /// All members are known (not a large guild still being chunked).
    pub(crate) complete: bool,
    /// Members in the guild, as GUILD_CREATE counted them.
    pub(crate) member_count: u64,
    /// While a fresh session's copy of this guild is still incomplete:
    /// what its viewers have been shown (the earlier copy, then every
    /// broadcast since). Joins are sent this too, so a viewer who joins
    /// meanwhile has what the others have, and the catch-up once the
    /// member list is complete is right for everyone.
    pub(crate) catching_up: Option<HashMap<u64, Look>>,
    /// The users answered to joins, until something drawn changes.
    listing: Option<Arc<UserList>>,
}

impl Guild {
    pub(crate) fn new(
        name: String,
        roles: Roles,
        channels: HashMap<u64, Box<str>>,
        member_count: u64,
        complete: bool,
    ) -> Guild {
        Guild {
            name,
            roles,
            channels,
            complete,
            member_count,
            ..Guild::default()
        }
    }

    pub(crate) fn member(&self, id: u64) -> Option<&Member> {
        self.members.get(&id)
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.members.keys().copied()
    }

    pub(crate) fn len(&self) -> usize {
        self.members.len()
    }

    /// How `id` is drawn before any server filter, if it is a member.
    pub(crate) fn look(&self, id: u64) -> Option<Look> {
        self.members.get(&id).map(|m| Look::of(m, &self.roles))
    }

    /// Adds or replaces a member; its status is kept (or taken from a
    /// waiting presence).
    pub(crate) fn upsert(&mut self, a: Arrival<'_>) {
        let roles = self.roles.hold(a.roles);
        let status = match self.members.get(&a.id) {
            Some(old) => {
                self.roles.release(old.roles);
                old.status
            }
            None => self.waiting.remove(&a.id).unwrap_or(Status::Offline),
        };
        let member = Member {
            name: a.name.into(),
            roles,
            status,
            ignored: a.ignored,
        };
        self.members.insert(a.id, member);
    }

    pub(crate) fn remove(&mut self, id: u64) {
        if let Some(old) = self.members.remove(&id) {
            self.roles.release(old.roles);
        }
        self.waiting.remove(&id);
    }

    /// A user's status, member or not yet.
    pub(crate) fn status(&self, id: u64) -> Status {
        match self.members.get(&id) {
            Some(m) => m.status,
            None => self.waiting.get(&id).copied().unwrap_or(Status::Offline),
        }
    }

    pub(crate) fn set_status(&mut self, id: u64, status: Status) {
        if let Some(m) = self.members.get_mut(&id) {
            m.status = status;
        } else if status == Status::Offline {
            self.waiting.remove(&id);
        } else {
            self.waiting.insert(id, status);
        }
    }

    /// Members holding `role`.
    pub(crate) fn holders(&self, role: u64) -> Vec<u64> {
        let mut sets = self.roles.sets_with(role);
        sets.sort_unstable();
        self.members
            .iter()
            .filter(|(_, m)| sets.binary_search(&m.roles).is_ok())
            .map(|(&id, _)| id)
            .collect()
    }

    /// Something drawn changed: the next join gets a new list.
    pub(crate) fn changed(&mut self) {
        self.listing = None;
    }

    /// The users a joining viewer is sent, in id order, made once per
    /// change.
    pub(crate) fn listing(&mut self, view: View) -> Arc<UserList> {
        if let Some(list) = &self.listing {
            return list.clone();
        }
        let user = |id: u64, name: &str, status, color| {
            User::new(id.to_string(), name, status, RoleColor::from_rgb(color))
        };
        let mut users: Vec<(u64, User)> = match &self.catching_up {
            Some(shown) => shown
                .iter()
                .map(|(&id, l)| (id, user(id, &l.name, l.status, l.color)))
                .collect(),
            None => self
                .members
                .iter()
                .filter(|(_, m)| view.shows(m))
                .map(|(&id, m)| (id, user(id, &m.name, m.status, self.roles.color(m.roles))))
                .collect(),
        };
        users.sort_unstable_by_key(|(id, _)| *id);
        let users: Vec<User> = users.into_iter().map(|(_, u)| u).collect();
        let list = Arc::new(UserList::packed(&users));
        self.listing = Some(list.clone());
        list
    }
}

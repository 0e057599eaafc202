//! The one rule every change follows: how a member was shown before and
//! after, turned into the `presence` broadcast that takes a viewer from one
//! to the other. Joins, leaves, renames, colours, `hideOffline`, member
//! chunks and the catch-up after a fresh session all come out of it, so a
//! viewer's scene cannot disagree with the list a new viewer gets.

use std::collections::HashMap;

use crate::protocol::model::{Presence, RoleColor, Status};

use super::guild::Guild;
use super::view::{Look, View};

/// The broadcast that turns `before` into `after` at a viewer of `server`.
pub(crate) fn difference(
    server: &str,
    uid: u64,
    before: Option<&Look>,
    after: Option<&Look>,
) -> Option<Presence> {
    let full = |a: &Look| {
        Presence::new(server, uid.to_string(), a.status)
            .username(&*a.name)
            .role_color(RoleColor::from_rgb(a.color))
    };
    match (before, after) {
        (None, None) => None,
        (Some(_), None) => Some(Presence::new(server, uid.to_string(), Status::Offline).delete()),
        (None, Some(a)) => Some(full(a)),
        (Some(b), Some(a)) if b.name != a.name || b.color != a.color => Some(full(a)),
        (Some(b), Some(a)) if b.status != a.status => {
            Some(Presence::new(server, uid.to_string(), a.status))
        }
        _ => None,
    }
}

/// Every member as viewers of `server` see it now (those not shown are
/// left out).
pub(crate) fn shown(guild: &Guild, view: View) -> HashMap<u64, Look> {
    guild
        .ids()
        .filter_map(|id| Some((id, view.filter(guild.look(id))?)))
        .collect()
}

/// Once a replaced guild's member list is complete: the presences that take
/// viewers from what they were shown to what is true now (members that
/// left while the bot was away, and any not yet told).
pub(crate) fn catch_up(server: &str, guild: &mut Guild, view: View) -> Vec<Presence> {
    let Some(before) = guild.catching_up.take() else {
        return Vec::new();
    };
    // Joins were sent `before`; from now on the members themselves.
    guild.changed();
    let mut out = Vec::new();
    for (&id, was) in &before {
        let now = view.filter(guild.look(id));
        out.extend(difference(server, id, Some(was), now.as_ref()));
    }
    for id in guild.ids() {
        if !before.contains_key(&id) {
            let now = view.filter(guild.look(id));
            out.extend(difference(server, id, None, now.as_ref()));
        }
    }
    out
}

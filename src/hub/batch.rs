//! A hub's pending batch: the frames waiting for the next flush, with the
//! presences of one member coalesced.
//!
//! Why: under a presence storm (or a bulk change: a catch-up after a
//! gateway reconnect, a role colour touching thousands of members) the same
//! member often changes several times before the hub flushes. Only its last
//! state matters to a viewer, so a later presence replaces the earlier one
//! in the batch and goes out once, at the later one's place, carrying what
//! the earlier one told and the later one does not (a username or colour a
//! client needs to draw a member it does not know yet).

use std::collections::HashMap;

use bytestring::ByteString;

use crate::hub::broadcast::Broadcast;
use crate::protocol::model::Presence;

/// One place in the batch.
pub(crate) enum Item {
    /// A frame other than a presence (chat, client id), encoded.
    Frame(ByteString),
    Presence(Presence),
    /// A presence a later one of the same member replaced.
    Replaced,
}

/// The frames waiting for a flush.
#[derive(Default)]
pub(crate) struct Batch {
    items: Vec<Item>,
    /// Where each member's presence is in `items`.
    by_uid: HashMap<String, usize>,
    /// Items that are not `Replaced`.
    live: usize,
}

impl Batch {
    pub(crate) fn push(&mut self, broadcast: Broadcast) {
        let Broadcast::Presence(p) = broadcast else {
            self.items.push(Item::Frame(broadcast.encode().into()));
            self.live += 1;
            return;
        };
        let mut p = p;
        if let Some(&i) = self.by_uid.get(&p.uid) {
            if let Item::Presence(earlier) = &self.items[i] {
                if merge(earlier, &mut p) {
                    self.items[i] = Item::Replaced;
                    self.live -= 1;
                }
            }
        }
        self.by_uid.insert(p.uid.clone(), self.items.len());
        self.items.push(Item::Presence(p));
        self.live += 1;
    }

    /// Frames that will go out (replaced presences not counted).
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Everything waiting, in order; the batch is empty after.
    pub(crate) fn take(&mut self) -> Vec<Item> {
        self.by_uid.clear();
        self.live = 0;
        std::mem::take(&mut self.items)
    }
}

/// Makes `later` stand for both presences (taking the username and colour
/// only `earlier` told), or says they cannot be one: a member removed and
/// then told about without a username stays removed for a client, which a
/// merged presence could not say.
fn merge(earlier: &Presence, later: &mut Presence) -> bool {
    if later.delete {
        return true;
    }
    if earlier.delete {
        return later.username.is_some();
    }
    if later.username.is_none() {
        later.username.clone_from(&earlier.username);
    }
    if later.role_color.is_none() {
        later.role_color = earlier.role_color;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::model::{RoleColor, Status};

    fn presence(uid: &str, status: Status) -> Broadcast {
        Broadcast::Presence(Presence::new("g", uid, status))
    }

    fn texts(items: Vec<Item>) -> Vec<String> {
        items
            .into_iter()
            .filter_map(|i| match i {
                Item::Frame(f) => Some(f.to_string()),
                Item::Presence(p) => Some(crate::protocol::frames::presence(&p)),
                Item::Replaced => None,
            })
            .collect()
    }

    #[test]
    fn a_members_updates_in_one_flush_go_out_as_the_last_one() {
        let mut b = Batch::default();
        let red = RoleColor::parse("#ff0000").unwrap();
        b.push(Broadcast::Presence(
            Presence::new("g", "1", Status::Online)
                .username("Pip")
                .role_color(red),
        ));
        b.push(presence("2", Status::Idle));
        b.push(presence("1", Status::Dnd));
        b.push(presence("1", Status::Idle));
        assert_eq!(b.len(), 2);
        assert_eq!(
            texts(b.take()),
            [
                r#"{"type":"presence","server":"g","data":{"uid":"2","status":"idle"}}"#,
                r##"{"type":"presence","server":"g","data":{"uid":"1","status":"idle","username":"Pip","roleColor":"#ff0000"}}"##,
            ]
        );
        assert!(b.is_empty());
    }

    #[test]
    fn a_removal_then_a_nameless_update_stays_two_frames() {
        let mut b = Batch::default();
        let mut gone = Presence::new("g", "1", Status::Offline);
        gone.delete = true;
        b.push(Broadcast::Presence(gone));
        b.push(presence("1", Status::Online));
        assert_eq!(b.len(), 2);
        b.push(presence("1", Status::Idle));
        let out = texts(b.take());
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out[0].contains(r#""delete":true"#));
        assert!(out[1].contains(r#""status":"idle""#));
    }
}

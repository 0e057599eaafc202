//! A guild's roles, and the role sets its members hold.
//!
//! Thousands of members share a handful of role combinations, so a member
//! keeps only the number of its set ([`SetId`]); each distinct set is stored
//! once with its colour (the colour of its highest coloured role), worked
//! out when the set is first seen and again whenever a role changes. A set
//! counts its holders and its slot is reused once the last one leaves, so
//! role edits over a long session do not grow the table.

use std::collections::HashMap;

/// The colour of a member without a coloured role.
pub(crate) const NEUTRAL_COLOR: u32 = 0xffffff;

/// A member's role set, by its place in [`Roles`].
pub(crate) type SetId = u32;

pub(crate) struct Role {
    pub(crate) name: Box<str>,
    color: u32,
    position: i64,
}

impl Role {
    pub(crate) fn new(name: &str, color: u32, position: i64) -> Self {
        Role {
            name: name.into(),
            color,
            position,
        }
    }
}

struct RoleSet {
    roles: Box<[u64]>,
    color: u32,
    holders: u32,
}

#[derive(Default)]
pub(crate) struct Roles {
    by_id: HashMap<u64, Role>,
    sets: Vec<RoleSet>,
    index: HashMap<Box<[u64]>, SetId>,
    free: Vec<SetId>,
}

impl Roles {
    pub(crate) fn new(roles: impl IntoIterator<Item = (u64, Role)>) -> Self {
        Roles {
            by_id: roles.into_iter().collect(),
            ..Roles::default()
        }
    }

    pub(crate) fn name(&self, id: u64) -> Option<&str> {
        self.by_id.get(&id).map(|r| &*r.name)
    }

    /// The colour members holding `set` are drawn in.
    pub(crate) fn color(&self, set: SetId) -> u32 {
        self.sets
            .get(set as usize)
            .map_or(NEUTRAL_COLOR, |s| s.color)
    }

    /// The set of `roles` (any order, repeats ignored), counted as held by
    /// one more member.
    pub(crate) fn hold(&mut self, roles: &[u64]) -> SetId {
        let mut key = roles.to_vec();
        key.sort_unstable();
        key.dedup();
        if let Some(&set) = self.index.get(key.as_slice()) {
            self.sets[set as usize].holders += 1;
            return set;
        }
        let key: Box<[u64]> = key.into();
        let entry = RoleSet {
            color: self.color_of(&key),
            roles: key.clone(),
            holders: 1,
        };
        let set = match self.free.pop() {
            Some(slot) => {
                self.sets[slot as usize] = entry;
                slot
            }
            None => {
                self.sets.push(entry);
                (self.sets.len() - 1) as SetId
            }
        };
        self.index.insert(key, set);
        set
    }

    /// One member fewer holds `set`; the last one frees it.
    pub(crate) fn release(&mut self, set: SetId) {
        let Some(entry) = self.sets.get_mut(set as usize) else {
            return;
        };
        entry.holders = entry.holders.saturating_sub(1);
        if entry.holders == 0 {
            let roles = std::mem::take(&mut entry.roles);
            self.index.remove(&roles);
            self.free.push(set);
        }
    }

    /// The sets that contain `role`.
    pub(crate) fn sets_with(&self, role: u64) -> Vec<SetId> {
        self.index
            .iter()
            .filter(|(roles, _)| roles.binary_search(&role).is_ok())
            .map(|(_, &set)| set)
            .collect()
    }

    pub(crate) fn upsert(&mut self, id: u64, role: Role) {
        self.by_id.insert(id, role);
        self.recolor();
    }

    pub(crate) fn remove(&mut self, id: u64) {
        self.by_id.remove(&id);
        self.recolor();
    }

    /// Every role anew (GUILD_UPDATE); the sets stay, recoloured.
    pub(crate) fn replace(&mut self, roles: impl IntoIterator<Item = (u64, Role)>) {
        self.by_id = roles.into_iter().collect();
        self.recolor();
    }

    fn recolor(&mut self) {
        let colors: Vec<u32> = self.sets.iter().map(|s| self.color_of(&s.roles)).collect();
        for (set, color) in self.sets.iter_mut().zip(colors) {
            set.color = color;
        }
    }

    fn color_of(&self, roles: &[u64]) -> u32 {
        roles
            .iter()
            .filter_map(|r| self.by_id.get(r))
            .filter(|r| r.color != 0)
            .max_by_key(|r| r.position)
            .map_or(NEUTRAL_COLOR, |r| r.color)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_share_a_set_and_its_colour_follows_the_roles() {
        let mut roles = Roles::new([
            (1, Role::new("Red", 0xff0000, 1)),
            (2, Role::new("Blue", 0x0000ff, 2)),
        ]);
        let a = roles.hold(&[1, 2]);
        let b = roles.hold(&[2, 1, 2]);
        assert_eq!(a, b, "one set for the same roles in any order");
        assert_eq!(roles.color(a), 0x0000ff, "the highest coloured role");
        let none = roles.hold(&[]);
        assert_eq!(roles.color(none), NEUTRAL_COLOR);
        roles.upsert(2, Role::new("Blue", 0, 2));
        assert_eq!(
            roles.color(a),
            0xff0000,
            "an uncoloured role is passed over"
        );
        assert_eq!(roles.sets_with(1), vec![a]);
        roles.release(a);
        roles.release(b);
        let c = roles.hold(&[1]);
        assert_eq!(c, a, "a freed slot is reused");
        assert_eq!(roles.color(c), 0xff0000);
    }
}

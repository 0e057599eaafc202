//! One cached member, kept small: a guild of 100,000 members holds 100,000
//! of these.
//!
//! Only what d-zone draws is kept: the shown name (the guild nickname, else
//! the global display name, else the username) stored once, the status, and
//! the number of the member's role set (see `roles`). The other names
//! matter only to a server's `ignoreUsers`, whose answer cannot change while
//! the member does not, so it is worked out when the member arrives and kept
//! as one flag.

use std::borrow::Cow;

use crate::protocol::model::Status;

use super::super::config::ServerConfig;
use super::super::events::MemberObject;
use super::roles::SetId;

pub(crate) struct Member {
    pub(crate) name: Box<str>,
    pub(crate) roles: SetId,
    pub(crate) status: Status,
    /// The server's `ignoreUsers` names this member.
    pub(crate) ignored: bool,
}

/// A member as the gateway described it, before it is stored.
pub(crate) struct Arrival<'a> {
    pub(crate) id: u64,
    pub(crate) name: Cow<'a, str>,
    pub(crate) roles: &'a [u64],
    pub(crate) ignored: bool,
}

impl<'a> Arrival<'a> {
    /// `None` for a member object without its user (Discord omits it only
    /// where the user is given elsewhere, which the bot does not read).
    pub(crate) fn of(m: &'a MemberObject, cfg: Option<&ServerConfig>) -> Option<Self> {
        let user = m.user.as_ref()?;
        let username = user.username.as_deref();
        let names = [username, user.global_name.as_deref(), m.nick.as_deref()];
        // A user without a username (never seen from Discord) goes by its id.
        let name = [m.nick.as_deref(), user.global_name.as_deref(), username]
            .into_iter()
            .flatten()
            .find(|n| !n.is_empty())
            .map_or_else(|| Cow::Owned(user.id.to_string()), Cow::Borrowed);
        Some(Arrival {
            id: user.id,
            name,
            roles: &m.roles,
            ignored: cfg.is_some_and(|c| ignores(c, user.id, names.into_iter().flatten())),
        })
    }
}

/// `ignoreUsers` names members by id, or by any of their names.
pub(crate) fn ignores<'a>(
    cfg: &ServerConfig,
    id: u64,
    names: impl IntoIterator<Item = &'a str> + Clone,
) -> bool {
    if cfg.ignore_users.is_empty() {
        return false;
    }
    let id = id.to_string();
    cfg.ignore_users
        .iter()
        .any(|i| *i == id || names.clone().into_iter().any(|n| n == i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_stays_small() {
        // The name's pointer and length, the role set, status and flag.
        assert_eq!(std::mem::size_of::<Member>(), 24);
    }

    #[test]
    fn the_shown_name_and_ignore_users_come_from_every_name() {
        let m: MemberObject = serde_json::from_value(serde_json::json!({
            "user": {"id": "7", "username": "pip", "global_name": "Pip P"},
            "nick": "", "roles": ["3"]
        }))
        .unwrap();
        let a = Arrival::of(&m, None).unwrap();
        assert_eq!((a.id, &*a.name, a.roles), (7, "Pip P", &[3][..]));
        assert!(!a.ignored);
        let mut cfg = ServerConfig::new("1");
        cfg.ignore_users = vec!["pip".into()];
        assert!(Arrival::of(&m, Some(&cfg)).unwrap().ignored);
        cfg.ignore_users = vec!["7".into()];
        assert!(Arrival::of(&m, Some(&cfg)).unwrap().ignored);
        cfg.ignore_users = vec!["someone".into()];
        assert!(!Arrival::of(&m, Some(&cfg)).unwrap().ignored);
    }
}

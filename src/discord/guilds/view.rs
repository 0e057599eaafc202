//! What a viewer of one server is shown of a member: its [`Look`] (name,
//! status, colour), or nothing when the server's filters hide it
//! (`ignoreUsers`, and offline members where offline ones are hidden).

use crate::protocol::model::Status;

use super::super::config::ServerConfig;
use super::member::Member;
use super::roles::Roles;

/// How a member is drawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Look {
    pub(crate) name: Box<str>,
    pub(crate) status: Status,
    pub(crate) color: u32,
    pub(crate) ignored: bool,
}

impl Look {
    pub(crate) fn of(m: &Member, roles: &Roles) -> Look {
        Look {
            name: m.name.clone(),
            status: m.status,
            color: roles.color(m.roles),
            ignored: m.ignored,
        }
    }
}

/// One server's filters.
#[derive(Clone, Copy)]
pub(crate) struct View {
    hide_offline: bool,
}

impl View {
    /// Offline members are hidden as the server entry says, else when the
    /// guild has more than `large` members.
    pub(crate) fn new(cfg: Option<&ServerConfig>, member_count: u64, large: u64) -> View {
        View {
            hide_offline: cfg
                .and_then(|c| c.hide_offline)
                .unwrap_or(member_count > large),
        }
    }

    pub(crate) fn hides_offline(self) -> bool {
        self.hide_offline
    }

    fn hides(self, ignored: bool, status: Status) -> bool {
        ignored || (self.hide_offline && status == Status::Offline)
    }

    pub(crate) fn shows(self, m: &Member) -> bool {
        !self.hides(m.ignored, m.status)
    }

    /// `look` as this server shows it.
    pub(crate) fn filter(self, look: Option<Look>) -> Option<Look> {
        look.filter(|l| !self.hides(l.ignored, l.status))
    }
}

//! The mock traffic of a mock server: every so often a random member says
//! one of the mock chat lines, or changes to a random status, so a new
//! user sees a living scene. Beside the mock data it draws from; the
//! session that joined only runs the timers (`ws::session::joining`) and
//! sends what these answer, to itself alone.

use std::sync::Arc;

use rand::seq::SliceRandom;
use rand::Rng;

use crate::protocol::frames;
use crate::protocol::model::{Presence, Status};
use crate::providers::mock;
use crate::providers::userlist::UserList;

/// What one joined session's mock traffic draws from.
#[derive(Clone)]
pub(crate) struct MockTraffic {
    /// The guild's snowflake, as every frame names it.
    guild: Arc<str>,
    /// The members the session was shown in its `server-join`.
    users: Arc<UserList>,
}

impl MockTraffic {
    pub(crate) fn new(guild: Arc<str>, users: Arc<UserList>) -> Self {
        MockTraffic { guild, users }
    }

    /// A `message` frame: a random member says a random mock line.
    pub(crate) fn chat(&self) -> Option<String> {
        let mut rng = rand::thread_rng();
        let user = self.users.users().choose(&mut rng)?;
        let line = mock::CHAT_LINES.choose(&mut rng)?;
        Some(frames::message(
            &self.guild,
            &user.uid,
            line,
            mock::MOCK_CHANNEL,
        ))
    }

    /// A `presence` frame: a random member changes to a random status.
    pub(crate) fn presence(&self) -> Option<String> {
        let mut rng = rand::thread_rng();
        let user = self.users.users().choose(&mut rng)?;
        let status = Status::ALL[rng.gen_range(0..Status::ALL.len())];
        let p = Presence::new(&*self.guild, &user.uid, status)
            .username(&user.username)
            .role_color(user.role_color);
        Some(frames::presence(&p))
    }
}

//! A bot actor in the same process as the server, doing what a Discord bot
//! would: on a timer it posts chat, changes presences, brings members in and
//! takes them out again (presence with `delete`), all through the public
//! [`Handle`].
//!
//! ```text
//! cargo run --example bot
//! # open http://localhost:3000 and watch D-World
//! ```

use std::time::Duration;

use actix::prelude::*;
use d_back::mock;
use d_back::{DBack, Handle, Presence, RoleColor, Status};
use rand::seq::SliceRandom;
use rand::Rng;

/// A visitor that joins and leaves D-World now and then.
const VISITOR: (&str, &str) = ("999000000000000001", "Wandering Bard");

struct Bot {
    hub: Handle,
    visitor_present: bool,
}

impl Actor for Bot {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(Duration::from_secs(3), |bot, _| bot.chat());
        ctx.run_interval(Duration::from_secs(4), |bot, _| bot.change_status());
        ctx.run_interval(Duration::from_secs(9), |bot, _| bot.visitor_comes_or_goes());
    }
}

impl Bot {
    fn members(server: &str) -> Vec<d_back::User> {
        mock::users(server)
    }

    fn chat(&mut self) {
        let mut rng = rand::thread_rng();
        let server = *[mock::DWORLD, mock::REPOS]
            .choose(&mut rng)
            .unwrap_or(&mock::DWORLD);
        let members = Self::members(server);
        if let (Some(user), Some(line)) =
            (members.choose(&mut rng), mock::CHAT_LINES.choose(&mut rng))
        {
            self.hub
                .broadcast_message(server, &user.uid, line, "bot-channel");
        }
    }

    fn change_status(&mut self) {
        let mut rng = rand::thread_rng();
        let members = Self::members(mock::DWORLD);
        if let Some(user) = members.choose(&mut rng) {
            let status = [Status::Online, Status::Idle, Status::Dnd][rng.gen_range(0..3)];
            self.hub
                .broadcast_presence(Presence::new(mock::DWORLD, &user.uid, status));
        }
    }

    fn visitor_comes_or_goes(&mut self) {
        let (uid, name) = VISITOR;
        let presence = if self.visitor_present {
            Presence::new(mock::DWORLD, uid, Status::Offline).delete()
        } else {
            Presence::new(mock::DWORLD, uid, Status::Online)
                .username(name)
                .role_color(RoleColor::from_rgb(0x1abc9c))
        };
        self.hub.broadcast_presence(presence);
        if !self.visitor_present {
            self.hub.broadcast_message(
                mock::DWORLD,
                uid,
                "Hello! I am just passing through.",
                "bot-channel",
            );
        }
        self.visitor_present = !self.visitor_present;
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let server = DBack::builder().bind(("localhost", 3000)).build()?;
    println!("d-back with a bot: http://{}", server.local_addr());
    Bot {
        hub: server.handle(),
        visitor_present: false,
    }
    .start();
    server.run().await
}

//! The built-in Discord bot: show real Discord servers with nothing but a
//! bot token.
//!
//! [`Discord`] holds a [`DiscordConfig`] and a cache of the bot's guilds.
//! [`Builder::discord`](crate::Builder::discord) plugs it into the same
//! seams a hand-written bot uses: the provider callbacks (server list,
//! users, Discord login validation, client id) answer from the cache, and
//! the gateway task, started when the server runs, broadcasts through the
//! server's [`Handle`](crate::Handle). Any single callback may still be
//! set by the user, before or after `discord(...)`; theirs wins.
//!
//! # Layout
//!
//! * `config`: [`DiscordConfig`] and [`ServerConfig`], from code, TOML or
//!   d-zone's `discord-config.json`.
//! * `gateway`: the dispatch loop over every shard's messages.
//! * `shards/`: how many shards and which, their identify queue (paced per
//!   bucket, through Redis between instances), their runner and states,
//!   and the member requests of large guilds.
//! * `reach`: the lines an operator reads while the gateway cannot be
//!   reached (address, cause, retries and their delays).
//! * `events`: the gateway payloads, as lenient typed structs, each parsed
//!   once.
//! * `guilds/`: the cache (per-guild, compact members), what viewers are
//!   shown of it (users, presences, chat), and the server list.
//! * `validator`: the built-in Discord login validator.
//! * `fatal`, `setup`: first-start mistakes as one sentence each (fatal
//!   close codes; a bot in no server).
//! * `rest`: the bot's REST client; `bearer`: the validator's, for users'
//!   OAuth2 tokens (a 429 is seen, never retried).

mod bearer;
mod config;
mod events;
mod fatal;
mod gateway;
mod guilds;
mod reach;
mod rest;
mod setup;
mod shards;
mod validator;

use std::rc::Rc;
use std::sync::Arc;

pub use config::{
    parse_shard_range, parse_shards, ConfigError, DiscordConfig, ServerConfig, DISCORD_API_URL,
    DISCORD_GATEWAY_URL,
};

use crate::providers::{per_thread, UsersFn};
use guilds::Guilds;
use validator::Validator;

/// The built-in bot, ready to be given to [`Builder::discord`](crate::Builder::discord).
pub struct Discord {
    guilds: Arc<Guilds>,
}

impl Discord {
    /// Checks the configuration (a token is required; URLs must be ws(s)://
    /// and http(s)://). Nothing connects until the server runs.
    pub fn new(config: DiscordConfig) -> Result<Discord, ConfigError> {
        config.validate()?;
        Ok(Discord {
            guilds: Guilds::new(config),
        })
    }

    pub fn config(&self) -> &DiscordConfig {
        &self.guilds.config
    }
}

impl crate::Builder {
    /// Shows real Discord servers: installs the server list, users, login
    /// validator and client id callbacks (those not already set), and
    /// starts the gateway bot when the server runs. [`Server::run`](crate::Server::run)
    /// returns an error with one explaining sentence if Discord refuses the
    /// bot for good (wrong token, privileged intents not enabled).
    pub fn discord(mut self, discord: Discord) -> Self {
        let g = discord.guilds;
        if self.callbacks.servers.is_none() {
            let g = g.clone();
            self = self.on_get_server_data(move || {
                let list = g.servers();
                async move { Ok(list.as_ref().clone()) }
            });
        }
        if self.callbacks.users.is_none() {
            // The cache's own list: every join of a guild shares one
            // encoding until a member changes.
            let g = g.clone();
            self.callbacks.users = per_thread(g, |g| -> UsersFn {
                Rc::new(move |guild| {
                    let users = g.users(&guild);
                    Box::pin(async move { Ok(users.into()) })
                })
            });
        }
        if self.callbacks.validate.is_none() {
            let v = Validator::new(g.clone());
            self = self.on_validate_discord_user(move |token, user, guild| {
                let v = v.clone();
                async move { v.validate(token, user, guild).await }
            });
        }
        if self.callbacks.client_id.is_none() {
            let g = g.clone();
            self = self.on_get_client_id(move |guild| {
                let id = g.client_id(&guild);
                async move { Ok(id) }
            });
        }
        let shards = shards::ShardStatus::new();
        // Instances that split one bot's shards take turns to identify
        // through the Redis they share.
        let redis = (g.config.shard_range.is_some())
            .then(|| self.redis_url())
            .flatten();
        if let (Some(range), Some(total)) = (&g.config.shard_range, g.config.shard_total) {
            self = self.split_part(format!("{}..{}of{total}", range.start, range.end));
        }
        self.ready_when(shards.check())
            .ready_detail(shards.detail())
            .background(move |handle| Box::pin(gateway::run(g, handle, shards, redis)))
    }
}

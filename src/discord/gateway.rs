//! The gateway bot: one twilight shard, read as raw JSON dispatches, each
//! applied to the guild cache and turned into hub broadcasts.
//!
//! twilight's shard does the protocol work (heartbeats, identify, resume
//! with `resume_gateway_url`, reconnect with backoff after drops, RECONNECT
//! and INVALID_SESSION); Discord replays what a resumed session missed, and
//! a fresh session's GUILD_CREATEs are diffed against what viewers were
//! shown, so viewers catch up either way. A GUILD_DELETE empties the
//! guild for its viewers (every member leaves) and takes it off the list. The loop runs as a task of the
//! server's own runtime and never blocks: broadcasts are `do_send`s to
//! hubs, replies to the info command are spawned.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::value::RawValue;
use twilight_gateway::error::ReceiveMessageErrorType;
use twilight_gateway::{ConfigBuilder, Intents, Message, Shard, ShardId, ShardState};
use twilight_http::request::Request;
use twilight_http::routing::Route;
use twilight_model::gateway::payload::outgoing::update_presence::UpdatePresencePayload;
use twilight_model::gateway::payload::outgoing::RequestGuildMembers;
use twilight_model::gateway::presence::{ActivityType, MinimalActivity, Status as DiscordStatus};
use twilight_model::id::Id;

use crate::health::Flag;
use crate::protocol::model::Presence;
use crate::Handle;

use super::events::*;
use super::guilds::Guilds;
use super::reach::{Cause, Reach};

/// Application flags (GET /applications/@me, READY) for the privileged
/// intents: the full flag, and the "limited" one of unverified bots.
const FLAG_PRESENCE: u64 = (1 << 12) | (1 << 13);
const FLAG_MEMBERS: u64 = (1 << 14) | (1 << 15);
const FLAG_MESSAGE_CONTENT: u64 = (1 << 18) | (1 << 19);

#[derive(Deserialize)]
struct ApplicationFlags {
    #[serde(default)]
    flags: Option<u64>,
}

/// The bot while it runs.
struct Bot {
    guilds: Arc<Guilds>,
    handle: Handle,
    http: Arc<twilight_http::Client>,
    /// When each channel last got the info command's answer.
    answered: HashMap<u64, Instant>,
    /// The Message Content warning is given once.
    warned_content: bool,
    /// Up while the shard is active (identified or resumed), for `/readyz`.
    connected: Arc<Flag>,
}

/// Runs the bot until a close code no reconnect can fix; answers with the
/// sentence that says what to change.
pub(crate) async fn run(guilds: Arc<Guilds>, handle: Handle, connected: Arc<Flag>) -> io::Error {
    let config = &guilds.config;
    let http = Arc::new(super::rest::bot(config));
    let mut intents = Intents::GUILDS
        | Intents::GUILD_MEMBERS
        | Intents::GUILD_PRESENCES
        | Intents::GUILD_MESSAGES
        | Intents::MESSAGE_CONTENT;
    let mut bot = Bot {
        guilds: guilds.clone(),
        handle,
        http: http.clone(),
        answered: HashMap::new(),
        warned_content: false,
        connected,
    };
    if let Some(flags) = application_flags(&http).await {
        if flags & FLAG_MESSAGE_CONTENT == 0 {
            bot.warn_no_content();
            // Asking for an intent the application lacks closes with 4014.
            intents.remove(Intents::MESSAGE_CONTENT);
        }
        for (flag, name) in [
            (FLAG_PRESENCE, "Presence"),
            (FLAG_MEMBERS, "Server Members"),
        ] {
            if flags & flag == 0 {
                log::warn!("discord: the {name} Intent is not enabled for this bot in the Developer Portal; Discord will refuse the connection");
            }
        }
    }
    let mut builder = ConfigBuilder::new(config.token.clone().unwrap_or_default(), intents)
        .proxy_url(config.gateway_base());
    if let Some(cmd) = config.info_command.as_deref().filter(|c| !c.is_empty()) {
        let activity = MinimalActivity {
            kind: ActivityType::Playing,
            name: cmd.to_string(),
            url: None,
        };
        if let Ok(p) =
            UpdatePresencePayload::new(vec![activity.into()], false, None, DiscordStatus::Online)
        {
            builder = builder.presence(p);
        }
    }
    let mut shard = Shard::with_config(ShardId::ONE, builder.build());
    log::info!("discord: connecting to the gateway");
    let mut reach = Reach::new(config.gateway_base());
    // twilight reconnects silently after a dropped connection, so the
    // shard's state is also looked at between messages.
    let mut watch = tokio::time::interval(STATE_CHECK_EVERY);
    loop {
        let item = tokio::select! {
            item = shard.next() => item,
            _ = watch.tick() => {
                bot.connected.set(is_active(&shard));
                continue;
            }
        };
        let Some(item) = item else { break };
        bot.connected.set(is_active(&shard));
        if item.is_ok() {
            if let Some(line) = reach.reached() {
                log::info!("{line}");
            }
        }
        match item {
            Ok(Message::Text(json)) => bot.dispatch(&mut shard, &json),
            Ok(Message::Close(frame)) => {
                let code = frame.as_ref().map(|f| f.code);
                if let Some(s) = code.and_then(super::fatal::sentence) {
                    // Not logged here: `Server::run` returns it, and the
                    // binary prints it as its last line.
                    return io::Error::other(s);
                }
                bot.handle.metrics().gateway_lost();
                log::warn!(
                    "discord: gateway connection closed ({}); reconnecting",
                    code.map_or("no code".to_string(), |c| c.to_string())
                );
            }
            Err(e) if matches!(e.kind(), ReceiveMessageErrorType::Reconnect) => {
                bot.handle.metrics().gateway_lost();
                log::warn!("{}", reach.failed(Cause::of(&e)));
            }
            Err(e) => {
                bot.handle.metrics().gateway_lost();
                log::warn!("discord: gateway: {e}; retrying");
            }
        }
    }
    io::Error::other("the Discord gateway connection ended and cannot be resumed")
}

/// How often the shard's state is read for `/readyz` while no message comes.
const STATE_CHECK_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

fn is_active(shard: &Shard) -> bool {
    matches!(shard.state(), ShardState::Active)
}

/// The application's flags, if Discord (or the fake) tells.
async fn application_flags(http: &twilight_http::Client) -> Option<u64> {
    let request = Request::from_route(&Route::GetCurrentUserApplicationInfo);
    match http.request::<ApplicationFlags>(request).await {
        Ok(r) => r.model().await.ok()?.flags,
        Err(e) => {
            log::debug!("discord: could not read the application's flags: {e}");
            None
        }
    }
}

/// A dispatch's data as its struct, from the raw text the envelope kept.
fn parse<'a, T: Deserialize<'a>>(kind: &str, d: Option<&'a RawValue>) -> Option<T> {
    match serde_json::from_str(d.map_or("null", RawValue::get)) {
        Ok(v) => Some(v),
        Err(e) => {
            log::warn!("discord: skipped a {kind} that did not parse: {e}");
            None
        }
    }
}

impl Bot {
    fn warn_no_content(&mut self) {
        if !self.warned_content {
            self.warned_content = true;
            log::warn!("discord: the Message Content Intent is not enabled for this bot in the Developer Portal; chat will show without text");
        }
    }

    fn send(&self, presences: Vec<Presence>) {
        for p in presences {
            self.handle.broadcast_presence(p);
        }
    }

    fn dispatch(&mut self, shard: &mut Shard, json: &str) {
        let Ok(env) = serde_json::from_str::<Envelope>(json) else {
            log::warn!("discord: a gateway message that is not JSON was skipped");
            return;
        };
        let (0, Some(kind)) = (env.op, env.t) else {
            return;
        };
        self.handle.metrics().gateway_event(kind);
        if matches!(kind, "READY" | "RESUMED") {
            self.handle.metrics().gateway_ready();
        }
        let g = self.guilds.clone();
        match kind {
            "READY" => {
                let Some(r) = parse::<Ready>(kind, env.d) else {
                    return;
                };
                let app = r.application.as_ref();
                if app
                    .and_then(|a| a.flags)
                    .is_some_and(|f| f & FLAG_MESSAGE_CONTENT == 0)
                {
                    self.warn_no_content();
                }
                let ids: Vec<u64> = r.guilds.iter().map(|x| x.id).collect();
                let before = g.application_id();
                // One shard: it owns every guild.
                let gone = g.ready(r.user.id, app.map(|a| a.id.as_str()), &ids, |_| true);
                log::info!(
                    "discord: connected as {} in {} guild(s)",
                    r.user.username.as_deref().unwrap_or("the bot"),
                    ids.len()
                );
                if ids.is_empty() {
                    log::warn!("{}", super::setup::in_no_server(app.map(|a| a.id.as_str())));
                }
                self.send(gone);
                self.announce_client_ids(before, &ids);
            }
            "GUILD_CREATE" => {
                let Some(c) = parse::<GuildCreate>(kind, env.d) else {
                    return;
                };
                if c.unavailable == Some(true) {
                    self.send(g.guild_delete(c.id));
                    return;
                }
                let complete =
                    !c.large || c.member_count.map_or(true, |n| c.members.len() as u64 >= n);
                self.send(g.guild_create(&c, complete));
                if !complete {
                    if let Some(id) = Id::new_checked(c.id) {
                        log::info!(
                            "discord: requesting the member list of large guild {}",
                            c.id
                        );
                        shard.command(
                            &RequestGuildMembers::builder(id)
                                .presences(true)
                                .query("", None),
                        );
                    }
                }
            }
            "GUILD_UPDATE" => {
                let Some(u) = parse::<GuildUpdate>(kind, env.d) else {
                    return;
                };
                self.send(g.guild_update(&u));
            }
            "GUILD_DELETE" => {
                let Some(u) = parse::<UnavailableGuild>(kind, env.d) else {
                    return;
                };
                log::info!(
                    "discord: guild {} {}; it leaves the server list",
                    u.id,
                    if u.unavailable == Some(true) {
                        "became unavailable"
                    } else {
                        "removed the bot"
                    }
                );
                self.send(g.guild_delete(u.id));
            }
            "GUILD_MEMBERS_CHUNK" => {
                let Some(c) = parse::<MembersChunk>(kind, env.d) else {
                    return;
                };
                self.send(g.members_chunk(&c));
            }
            "GUILD_MEMBER_ADD" | "GUILD_MEMBER_UPDATE" => {
                let Some(m) = parse::<GuildMember>(kind, env.d) else {
                    return;
                };
                self.send(g.member_upsert(m.guild_id, &m.member));
            }
            "GUILD_MEMBER_REMOVE" => {
                let Some(m) = parse::<GuildMemberRemove>(kind, env.d) else {
                    return;
                };
                self.send(g.member_remove(m.guild_id, m.user.id));
            }
            "PRESENCE_UPDATE" => {
                let Some(p) = parse::<PresenceObject>(kind, env.d) else {
                    return;
                };
                let Some(gid) = p.guild_id else { return };
                self.send(g.presence_update(gid, p.user.id, p.status));
            }
            "GUILD_ROLE_CREATE" | "GUILD_ROLE_UPDATE" => {
                let Some(r) = parse::<GuildRole>(kind, env.d) else {
                    return;
                };
                self.send(g.role_upsert(r.guild_id, &r.role));
            }
            "GUILD_ROLE_DELETE" => {
                let Some(r) = parse::<GuildRoleDelete>(kind, env.d) else {
                    return;
                };
                self.send(g.role_delete(r.guild_id, r.role_id));
            }
            "CHANNEL_CREATE" | "CHANNEL_UPDATE" | "THREAD_CREATE" | "THREAD_UPDATE" => {
                if let Some(c) = parse::<ChannelObject>(kind, env.d) {
                    g.channel_upsert(&c);
                }
            }
            "CHANNEL_DELETE" | "THREAD_DELETE" => {
                if let Some(c) = parse::<ChannelObject>(kind, env.d) {
                    g.channel_delete(&c);
                }
            }
            "MESSAGE_CREATE" => {
                if let Some(m) = parse::<MessageCreate>(kind, env.d) {
                    self.message(&m);
                }
            }
            _ => {}
        }
    }

    /// Viewers of servers that had no client id learn the bot's
    /// application id once READY tells it (or if it changed): every guild
    /// of the session without a configured client id, whether the server
    /// list is the bot's own or one the user set (which may let viewers
    /// join before READY).
    fn announce_client_ids(&self, before: Option<String>, guild_ids: &[u64]) {
        let g = &self.guilds;
        let Some(app) = g.application_id() else {
            return;
        };
        if before.as_deref() == Some(app.as_str()) || g.config.client_id.is_some() {
            return;
        }
        for id in guild_ids.iter().map(u64::to_string) {
            if g.config.server(&id).map_or(true, |s| s.client_id.is_none()) {
                self.handle.broadcast_client_id_update(&id, &app);
            }
        }
    }

    fn message(&mut self, m: &MessageCreate) {
        let (Some(gid), Some(text)) = (m.guild_id, self.guilds.message(m)) else {
            return;
        };
        let gid = gid.to_string();
        self.info_command(m, &gid, &text);
        let (author, channel) = (m.author.id.to_string(), m.channel_id.to_string());
        self.handle
            .broadcast_message(&gid, &author, &text, &channel);
    }

    /// Answers the info command with the page's address for this server.
    fn info_command(&mut self, m: &MessageCreate, gid: &str, text: &str) {
        let config = &self.guilds.config;
        let (Some(cmd), Some(url)) = (config.info_command.as_deref(), config.url.as_deref()) else {
            return;
        };
        if cmd.is_empty() || !text.trim().eq_ignore_ascii_case(cmd) {
            return;
        }
        let servers = self.guilds.servers();
        let Some(server) = servers.iter().find(|s| s.snowflake == gid) else {
            return;
        };
        let now = Instant::now();
        if let Some(last) = self.answered.get(&m.channel_id) {
            if now.duration_since(*last) < config.info_cooldown {
                return;
            }
        }
        self.answered.insert(m.channel_id, now);
        let sep = if url.contains('?') { '&' } else { '?' };
        let answer = format!("{url}{sep}s={}", server.id);
        let (Some(channel), Some(reply_to)) =
            (Id::new_checked(m.channel_id), Id::new_checked(m.id))
        else {
            return;
        };
        let http = self.http.clone();
        actix_web::rt::spawn(async move {
            let sent = http
                .create_message(channel)
                .content(&answer)
                .reply(reply_to)
                .fail_if_not_exists(false)
                .await;
            if let Err(e) = sent {
                log::warn!("discord: could not answer the info command: {e}");
            }
        });
    }
}

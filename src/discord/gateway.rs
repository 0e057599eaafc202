//! The gateway bot: its shards (`shards`), read as raw JSON dispatches,
//! each applied to the guild cache and turned into hub broadcasts.
//!
//! twilight's shards do the protocol work (heartbeats, identify, resume
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
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::value::RawValue;
use twilight_gateway::error::ReceiveMessageErrorType;
use twilight_gateway::{ConfigBuilder, Intents, Message};
use twilight_http::request::Request;
use twilight_http::routing::Route;
use twilight_model::gateway::payload::outgoing::update_presence::UpdatePresencePayload;
use twilight_model::gateway::presence::{ActivityType, MinimalActivity, Status as DiscordStatus};
use twilight_model::id::Id;

use crate::protocol::model::Presence;
use crate::Handle;

use super::events::*;
use super::guilds::Guilds;
use super::reach::{Cause, Reach};
use super::shards::{IdentifyQueue, MemberRequests, Plan, RateLimited, Runner, ShardStatus};

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
    /// Each shard's state, for `/readyz` and `/metrics`.
    shards: Arc<ShardStatus>,
    /// Member requests of large shown guilds, until their last chunk.
    members: MemberRequests,
}

/// Discord's own large threshold for GUILD_CREATE: guilds above it come
/// without offline members, which a member request then brings.
const LARGE_THRESHOLD: u64 = 250;

/// How often due member requests are looked for.
const MEMBERS_CHECK_EVERY: Duration = Duration::from_millis(250);

/// How long a split bot waits before it starts its fixed shard count
/// again after Discord asked for more (4011): an operator must change it.
const FIXED_RESTART_AFTER: Duration = Duration::from_secs(30);

/// Runs the bot until a close code no reconnect can fix; answers with the
/// sentence that says what to change.
/// `redis_url`: where a split bot's instances take turns to identify.
pub(crate) async fn run(
    guilds: Arc<Guilds>,
    handle: Handle,
    shards: Arc<ShardStatus>,
    redis_url: Option<String>,
) -> io::Error {
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
        shards,
        members: MemberRequests::new(config.member_request_timeout),
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
        .proxy_url(config.gateway_base())
        .large_threshold(LARGE_THRESHOLD);
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
    let base = builder.build();
    let mut reach = Reach::new(config.gateway_base());
    // The shard count Discord refused last (4011), so the next plan grows.
    let mut outgrown = None;
    let mut queue: Option<(u16, IdentifyQueue)> = None;
    loop {
        let plan = Plan::read(config, &http, outgrown).await;
        // One queue for the life of the bot, so a restart keeps the pace;
        // a new one only when Discord changes the bucket count.
        let q = match &queue {
            Some((n, q)) if *n == plan.max_concurrency => q.clone(),
            _ => {
                let q = IdentifyQueue::new(
                    plan.max_concurrency,
                    config.identify_interval,
                    redis_url.as_deref(),
                );
                queue = Some((plan.max_concurrency, q.clone()));
                q
            }
        };
        if plan.total == 1 {
            log::info!("discord: connecting to the gateway");
        } else {
            log::info!(
                "discord: connecting to the gateway with shards {}..{} of {} ({} identify bucket(s))",
                plan.ids.start,
                plan.ids.end,
                plan.total,
                plan.max_concurrency
            );
        }
        bot.shards
            .start(plan.ids.clone(), plan.total, bot.handle.metrics());
        let shard_config = ConfigBuilder::from(base.clone()).queue(q).build();
        let runner = Runner::start(plan, &shard_config, &bot.shards, &bot.handle);
        match bot.serve(runner, &mut reach).await {
            Ended::Fatal(e) => return e,
            Ended::Outgrown(total) => {
                if Plan::automatic(config) {
                    outgrown = Some(total);
                    log::warn!("discord: Discord requires more shards than {total} (gateway close 4011); reading the recommended count again and restarting every shard");
                } else {
                    log::warn!("discord: Discord requires more shards than {total} (gateway close 4011); raise --shards (or --shard-total on every instance); starting the same shards again in {}s", FIXED_RESTART_AFTER.as_secs());
                    tokio::time::sleep(FIXED_RESTART_AFTER).await;
                }
            }
        }
    }
}

/// Why the shards of a plan stopped.
enum Ended {
    /// A close code no reconnect can fix, as the sentence to return.
    Fatal(io::Error),
    /// 4011 on a shard of a plan with this total: start again with more.
    Outgrown(u32),
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
    /// Reads every shard's messages until the plan must end.
    async fn serve(&mut self, mut runner: Runner, reach: &mut Reach) -> Ended {
        let mut tick = tokio::time::interval(MEMBERS_CHECK_EVERY);
        loop {
            let m = tokio::select! {
                m = runner.next() => m,
                _ = tick.tick() => {
                    self.ask_due_members(&runner);
                    continue;
                }
            };
            let Some(m) = m else {
                return Ended::Fatal(io::Error::other(
                    "the Discord gateway connection ended and cannot be resumed",
                ));
            };
            if m.item.is_ok() {
                if let Some(line) = reach.reached() {
                    log::info!("{line}");
                }
            }
            match m.item {
                Ok(Message::Text(json)) => self.dispatch(&runner, m.shard, &json),
                Ok(Message::Close(frame)) => {
                    let code = frame.as_ref().map(|f| f.code);
                    if code == Some(4011) {
                        return Ended::Outgrown(runner.plan().total);
                    }
                    if let Some(s) = code.and_then(super::fatal::sentence) {
                        // Not logged here: `Server::run` returns it, and the
                        // binary prints it as its last line.
                        return Ended::Fatal(io::Error::other(s));
                    }
                    log::warn!(
                        "discord: gateway connection of shard {} closed ({}); reconnecting",
                        m.shard,
                        code.map_or("no code".to_string(), |c| c.to_string())
                    );
                }
                Err(e) if matches!(e.kind(), ReceiveMessageErrorType::Reconnect) => {
                    log::warn!("{}", reach.failed(Cause::of(&e)));
                }
                Err(e) => {
                    log::warn!("discord: gateway (shard {}): {e}; retrying", m.shard);
                }
            }
        }
    }

    /// Sends again the member requests that timed out or waited out a
    /// `RATE_LIMITED`.
    fn ask_due_members(&mut self, runner: &Runner) {
        let now = Instant::now();
        for guild in self.members.due(now) {
            log::info!("discord: asking again for the member list of guild {guild}");
            self.ask_members(runner, guild, now);
        }
    }

    fn ask_members(&mut self, runner: &Runner, guild: u64, now: Instant) {
        if let Some(request) = self.members.ask(guild, now) {
            if !runner.command_for(guild, &request) {
                // Its shard is not running here (or is restarting): the
                // timeout sends it again.
                log::debug!(
                    "discord: the shard of guild {guild} cannot take its member request now"
                );
            }
        }
    }

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

    fn dispatch(&mut self, runner: &Runner, shard: u32, json: &str) {
        let Ok(env) = serde_json::from_str::<Envelope>(json) else {
            log::warn!("discord: a gateway message that is not JSON was skipped");
            return;
        };
        let (0, Some(kind)) = (env.op, env.t) else {
            return;
        };
        self.handle.metrics().gateway_event(kind, shard);
        if matches!(kind, "READY" | "RESUMED") {
            self.handle.metrics().gateway_ready(shard);
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
                // A shard's READY names its own guilds only: the other
                // shards' guilds stay.
                let total = runner.plan().total;
                let owns = |id: u64| super::shards::shard_of(id, total) == shard;
                let gone = g.ready(r.user.id, app.map(|a| a.id.as_str()), &ids, owns);
                log::info!(
                    "discord: connected as {} in {} guild(s) (shard {shard}/{total})",
                    r.user.username.as_deref().unwrap_or("the bot"),
                    ids.len()
                );
                if ids.is_empty() && total == 1 {
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
                    self.members.forget(c.id);
                    self.send(g.guild_delete(c.id));
                    return;
                }
                let complete =
                    !c.large || c.member_count.map_or(true, |n| c.members.len() as u64 >= n);
                self.send(g.guild_create(&c, complete));
                if !complete && g.is_shown(c.id) {
                    {
                        let id = c.id;
                        log::info!(
                            "discord: requesting the member list of large guild {}",
                            c.id
                        );
                        self.ask_members(runner, id, Instant::now());
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
                self.members.forget(u.id);
                self.send(g.guild_delete(u.id));
            }
            "RATE_LIMITED" => {
                let Some(r) = parse::<RateLimited>(kind, env.d) else {
                    return;
                };
                if let Some((guild, wait)) = self.members.rate_limited(&r, Instant::now()) {
                    log::info!("discord: the member request of guild {guild} was rate limited; asking again in {:.1}s", wait.as_secs_f64());
                }
            }
            "GUILD_MEMBERS_CHUNK" => {
                let Some(c) = parse::<MembersChunk>(kind, env.d) else {
                    return;
                };
                let last = c.chunk_index + 1 >= c.chunk_count;
                self.members
                    .chunk(c.guild_id, c.nonce.as_deref(), last, Instant::now());
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

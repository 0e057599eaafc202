//! A fake Discord for offline tests, written here: a gateway speaking the
//! real protocol over a real WebSocket (HELLO, IDENTIFY, READY with
//! `resume_gateway_url`, GUILD_CREATE, dispatches with sequence numbers,
//! HEARTBEAT/ACK, RESUME with replay of missed events, RECONNECT,
//! INVALID_SESSION, REQUEST_GUILD_MEMBERS answered in chunks, close codes),
//! and the REST endpoints the bot uses, over plain HTTP/1.1.
//!
//! Discord's rules at scale ([`Rules`]): `GET /gateway/bot` recommends a
//! shard count and tells `max_concurrency`; every shard is a session of its
//! own and each guild lives on shard `(guild_id >> 22) % total`; an
//! IDENTIFY with a shard outside its total is closed with 4010, one whose
//! shard would hold more than `max_guilds_per_shard` guilds with 4011, one
//! that comes within `identify_interval` of the last in its bucket
//! (`shard_id % max_concurrency`) gets INVALID_SESSION, as Discord answers
//! a session started too soon; a guild over the session's
//! `large_threshold` comes `large`, without its offline members; member
//! chunks hold 1,000 members, the nonce and presences; a second request
//! for a guild's whole list within `member_request_window` is answered
//! with RATE_LIMITED. `compress=zlib-stream` in the URL gets zlib
//! transport compression, and the bytes written are counted. One module
//! of the shared harness (`common::fake_discord`), with the guilds the
//! suites share in [`fixtures`]. The bench's `discord_scale` includes it
//! too, by path.

#![allow(dead_code)]

pub mod fixtures;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

pub const BOT_TOKEN: &str = "fake-bot-token";
pub const BOT_ID: &str = "900000000000000001";
pub const APP_ID: &str = "800000000000000001";

/// Privileged intents (gateway bits).
pub const INTENT_MEMBERS: u64 = 1 << 1;
pub const INTENT_PRESENCES: u64 = 1 << 8;
pub const INTENT_MESSAGE_CONTENT: u64 = 1 << 15;

/// A guild as the fake holds it.
#[derive(Clone)]
pub struct FakeGuild {
    pub id: String,
    pub name: String,
    pub roles: Vec<Value>,
    pub channels: Vec<Value>,
    pub members: Vec<Value>,
    pub presences: Vec<Value>,
}

impl FakeGuild {
    pub fn new(id: &str, name: &str) -> Self {
        FakeGuild {
            id: id.into(),
            name: name.into(),
            roles: vec![role(id, "@everyone", 0, 0)],
            channels: Vec::new(),
            members: Vec::new(),
            presences: Vec::new(),
        }
    }

    pub fn role(mut self, id: &str, name: &str, color: u32, position: i64) -> Self {
        self.roles.push(role(id, name, color, position));
        self
    }

    pub fn channel(mut self, id: &str, name: &str) -> Self {
        self.channels.push(
            json!({"id": id, "type": 0, "name": name, "position": 0, "permission_overwrites": []}),
        );
        self
    }

    pub fn member(mut self, m: Value) -> Self {
        self.members.push(m);
        self
    }

    pub fn presence(mut self, uid: &str, status: &str) -> Self {
        self.presences.push(presence(uid, &self.id, status));
        self
    }
}

pub fn role(id: &str, name: &str, color: u32, position: i64) -> Value {
    json!({"id": id, "name": name, "color": color, "position": position, "hoist": false,
           "managed": false, "mentionable": false, "permissions": "0", "flags": 0})
}

/// A guild member object: user, nick, roles.
pub fn member(
    uid: &str,
    username: &str,
    global: Option<&str>,
    nick: Option<&str>,
    roles: &[&str],
) -> Value {
    json!({
        "user": {"id": uid, "username": username, "global_name": global, "discriminator": "0", "avatar": null},
        "nick": nick, "roles": roles, "joined_at": "2024-01-01T00:00:00.000000+00:00",
        "deaf": false, "mute": false, "flags": 0
    })
}

pub fn presence(uid: &str, guild: &str, status: &str) -> Value {
    json!({"user": {"id": uid}, "guild_id": guild, "status": status, "activities": [],
           "client_status": {"desktop": status}})
}

/// A MESSAGE_CREATE payload.
pub fn message(guild: &str, channel: &str, author: &str, username: &str, content: &str) -> Value {
    json!({
        "id": "700000000000000001", "channel_id": channel, "guild_id": guild,
        "author": {"id": author, "username": username, "discriminator": "0", "avatar": null},
        "content": content, "timestamp": "2024-01-01T00:00:00.000000+00:00", "edited_timestamp": null,
        "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
        "attachments": [], "embeds": [], "pinned": false, "type": 0
    })
}

/// What a user's OAuth2 token answers at /oauth2/@me.
#[derive(Clone)]
pub enum Token {
    /// Issued to `app` for `user`, expiring at `expires` (RFC 3339).
    Valid {
        app: String,
        user: String,
        expires: String,
        guilds: Vec<String>,
    },
    /// 401.
    Invalid,
    /// 429 with this retry_after (seconds).
    RateLimited(f64),
    /// Never answers.
    Hang,
}

pub fn valid_token(user: &str, guilds: &[&str]) -> Token {
    Token::Valid {
        app: APP_ID.into(),
        user: user.into(),
        expires: "2999-01-01T00:00:00+00:00".into(),
        guilds: guilds.iter().map(|g| g.to_string()).collect(),
    }
}

/// A frame the gateway pushes to a connection.
enum Push {
    Text(String),
    Close(u16),
    /// Drop the TCP connection without a close frame.
    Drop,
}

/// Discord's rules at scale, each tunable so tests stay fast.
#[derive(Clone)]
pub struct Rules {
    /// What `GET /gateway/bot` recommends; `None`: one shard per 1,000
    /// guilds, as Discord does.
    pub recommended_shards: Option<u32>,
    /// `session_start_limit.max_concurrency`: identify buckets.
    pub max_concurrency: u16,
    /// More guilds than this on one shard closes it with 4011 (Discord: 2,500).
    pub max_guilds_per_shard: usize,
    /// One IDENTIFY per bucket per this long (Discord: 5 s); one too early
    /// is answered with INVALID_SESSION (op 9, not resumable).
    pub identify_interval: Duration,
    /// One all-members REQUEST_GUILD_MEMBERS per guild per this long
    /// (Discord: 30 s); another is answered with RATE_LIMITED.
    pub member_request_window: Duration,
    /// `compress=zlib-stream` in the URL is honoured (Discord does); off,
    /// every message goes as text (to measure what compression saves).
    pub transport_compression: bool,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            recommended_shards: None,
            max_concurrency: 1,
            max_guilds_per_shard: 2_500,
            identify_interval: Duration::ZERO,
            member_request_window: Duration::ZERO,
            transport_compression: true,
        }
    }
}

impl Rules {
    /// Discord's own numbers (5 s per identify bucket, 30 s per guild's
    /// member list).
    pub fn discord() -> Rules {
        Rules {
            identify_interval: Duration::from_secs(5),
            member_request_window: Duration::from_secs(30),
            ..Rules::default()
        }
    }
}

/// One shard's session: what RESUME replays.
#[derive(Default)]
struct Session {
    id: Option<String>,
    seq: u64,
    /// Every dispatch of the session, with its sequence, for RESUME replay.
    log: Vec<(u64, String)>,
    conn: Option<mpsc::UnboundedSender<Push>>,
}

/// The shard of `guild` among `total`, as Discord routes it.
pub fn shard_of(guild: &str, total: u32) -> u32 {
    let id: u64 = guild.parse().unwrap_or(0);
    ((id >> 22) % u64::from(total.max(1))) as u32
}

#[derive(Default)]
struct State {
    guilds: Vec<FakeGuild>,
    rules: Rules,
    /// Application flags reported by /applications/@me and READY.
    app_flags: u64,
    /// Privileged intents this application may use (else close 4014).
    allowed_intents: u64,
    /// Sessions by shard id; `total` is the shard count of the last IDENTIFY.
    sessions: HashMap<u32, Session>,
    total: u32,
    pub identifies: Vec<Value>,
    /// IDENTIFYs refused for coming too early in their bucket.
    early_identifies: usize,
    /// When each bucket last identified.
    bucket_last: HashMap<u32, Instant>,
    resumes: usize,
    connections: usize,
    gateway_commands: Vec<Value>,
    /// REQUEST_GUILD_MEMBERS with the shard whose connection sent it.
    member_requests: Vec<(u32, Value)>,
    /// When each guild's member list was last asked for whole.
    member_asked: HashMap<String, Instant>,
    /// Payload bytes written to gateway sockets (compressed when asked).
    gateway_bytes: u64,
    /// Of which GUILD_MEMBERS_CHUNK dispatches: (on the wire, as JSON
    /// text, how many).
    chunk_bytes: (u64, u64, u64),
    tokens: HashMap<String, Token>,
    rest_calls: Vec<String>,
    posted: Vec<(String, Value)>,
    /// IDENTIFYs wait (no READY) until `release_ready`.
    hold_ready: bool,
    held: Vec<(mpsc::UnboundedSender<Push>, Value, SocketAddr)>,
    /// REQUEST_GUILD_MEMBERS is recorded but not answered.
    hold_chunks: bool,
    /// RESUME is counted but not answered (the shard stays resuming).
    hold_resumes: bool,
    /// The next this many REQUEST_GUILD_MEMBERS are recorded, not answered.
    drop_chunks: usize,
}

impl State {
    fn session(&mut self, shard: u32) -> &mut Session {
        self.sessions.entry(shard).or_default()
    }

    /// The shard a dispatch about `d` goes out on.
    fn route(&self, t: &str, d: &Value) -> u32 {
        let guild = d["guild_id"]
            .as_str()
            .or_else(|| t.starts_with("GUILD_").then(|| d["id"].as_str()).flatten());
        guild.map_or(0, |g| shard_of(g, self.total))
    }
}

/// A running fake Discord.
#[derive(Clone)]
pub struct FakeDiscord {
    pub gateway: SocketAddr,
    pub api: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl FakeDiscord {
    /// Starts the gateway and REST servers on 127.0.0.1:0, in a runtime of
    /// their own (so they outlive any one test runtime's tasks), with no
    /// pacing rules (identify and member requests as fast as asked).
    pub fn start(guilds: Vec<FakeGuild>) -> FakeDiscord {
        FakeDiscord::with_rules(guilds, Rules::default())
    }

    /// As [`start`](Self::start), with Discord's rules at scale as given.
    pub fn with_rules(guilds: Vec<FakeGuild>, rules: Rules) -> FakeDiscord {
        let state = Arc::new(Mutex::new(State {
            guilds,
            rules,
            total: 1,
            app_flags: (1 << 12) | (1 << 14) | (1 << 18),
            allowed_intents: INTENT_MEMBERS | INTENT_PRESENCES | INTENT_MESSAGE_CONTENT,
            ..State::default()
        }));
        let (tx, rx) = std::sync::mpsc::channel();
        let st = state.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let gw = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let api = TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send((gw.local_addr().unwrap(), api.local_addr().unwrap()))
                    .unwrap();
                let s2 = st.clone();
                tokio::spawn(async move {
                    while let Ok((tcp, _)) = api.accept().await {
                        tokio::spawn(rest(tcp, s2.clone()));
                    }
                });
                while let Ok((tcp, _)) = gw.accept().await {
                    let gateway = gw.local_addr().unwrap();
                    tokio::spawn(connection(tcp, st.clone(), gateway));
                }
            })
        });
        let (gateway, api) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        FakeDiscord {
            gateway,
            api,
            state,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    pub fn gateway_url(&self) -> String {
        format!("ws://{}", self.gateway)
    }

    pub fn api_url(&self) -> String {
        format!("http://{}", self.api)
    }

    /// The built-in bot's settings for this fake: its token and URLs, the
    /// rest as by default.
    pub fn bot_config(&self) -> d_back::discord::DiscordConfig {
        d_back::discord::DiscordConfig {
            token: Some(BOT_TOKEN.into()),
            gateway_url: Some(self.gateway_url()),
            api_url: Some(self.api_url()),
            ..d_back::discord::DiscordConfig::default()
        }
    }

    /// Changes the rules (for the next IDENTIFY, request or /gateway/bot).
    pub fn set_rules(&self, f: impl FnOnce(&mut Rules)) {
        f(&mut self.lock().rules);
    }

    /// The application lacks these flags (e.g. Message Content) and may
    /// not use these intents.
    pub fn deny(&self, app_flags: u64, intents: u64) {
        let mut s = self.lock();
        s.app_flags &= !app_flags;
        s.allowed_intents &= !intents;
    }

    /// IDENTIFYs are recorded but answered (READY, GUILD_CREATEs) only at
    /// [`release_ready`](Self::release_ready).
    pub fn hold_ready(&self) {
        self.lock().hold_ready = true;
    }

    /// Answers the held IDENTIFYs, and answers the next ones at once.
    pub fn release_ready(&self) {
        let mut s = self.lock();
        s.hold_ready = false;
        for (tx, v, gateway) in std::mem::take(&mut s.held) {
            identify(&mut s, &tx, &v, gateway);
        }
    }

    /// REQUEST_GUILD_MEMBERS goes unanswered (a large guild's member list
    /// stays incomplete).
    pub fn hold_member_chunks(&self) {
        self.lock().hold_chunks = true;
    }

    /// RESUMEs go unanswered: a dropped shard stays resuming (not ready).
    pub fn hold_resumes(&self) {
        self.lock().hold_resumes = true;
    }

    /// The next `n` REQUEST_GUILD_MEMBERS go unanswered (lost), later ones
    /// are answered.
    pub fn lose_member_requests(&self, n: usize) {
        self.lock().drop_chunks = n;
    }

    pub fn add_token(&self, token: &str, t: Token) {
        self.lock().tokens.insert(token.into(), t);
    }

    /// Sends a dispatch on the shard of its guild (or logs it for replay
    /// if that shard has no connection open).
    pub fn dispatch(&self, t: &str, d: Value) {
        let mut s = self.lock();
        let shard = s.route(t, &d);
        push_dispatch(&mut s, shard, t, d);
    }

    /// Sends RECONNECT (op 7) on every shard: the client should resume.
    pub fn request_reconnect(&self) {
        self.push_all(|| Push::Text(json!({"op": 7, "d": null}).to_string()));
    }

    /// Sends INVALID_SESSION (op 9) on every shard; `false` forgets the
    /// sessions.
    pub fn invalidate_session(&self, resumable: bool) {
        if !resumable {
            for session in self.lock().sessions.values_mut() {
                session.id = None;
                session.log.clear();
            }
        }
        self.push_all(|| Push::Text(json!({"op": 9, "d": resumable}).to_string()));
    }

    /// Drops every TCP connection without a close frame.
    pub fn drop_connection(&self) {
        self.push_all(|| Push::Drop);
        for session in self.lock().sessions.values_mut() {
            session.conn = None;
        }
    }

    /// Closes every shard's connection with `code`.
    pub fn close(&self, code: u16) {
        self.push_all(|| Push::Close(code));
    }

    /// Closes one shard's connection with `code`.
    pub fn close_shard(&self, shard: u32, code: u16) {
        if let Some(c) = self
            .lock()
            .sessions
            .get(&shard)
            .and_then(|s| s.conn.clone())
        {
            let _ = c.send(Push::Close(code));
        }
    }

    fn push_all(&self, p: impl Fn() -> Push) {
        for session in self.lock().sessions.values() {
            if let Some(c) = &session.conn {
                let _ = c.send(p());
            }
        }
    }

    /// Replaces the guild data a fresh IDENTIFY will see.
    pub fn set_guild(&self, g: FakeGuild) {
        let mut s = self.lock();
        if let Some(old) = s.guilds.iter_mut().find(|x| x.id == g.id) {
            *old = g;
        } else {
            s.guilds.push(g);
        }
    }

    /// The bot is no longer in this guild (for the next IDENTIFY).
    pub fn remove_guild(&self, id: &str) {
        self.lock().guilds.retain(|g| g.id != id);
    }

    pub fn identifies(&self) -> Vec<Value> {
        self.lock().identifies.clone()
    }

    /// IDENTIFYs answered with INVALID_SESSION for coming too early.
    pub fn early_identifies(&self) -> usize {
        self.lock().early_identifies
    }

    pub fn resumes(&self) -> usize {
        self.lock().resumes
    }

    /// Gateway WebSocket connections opened so far.
    pub fn connections(&self) -> usize {
        self.lock().connections
    }

    pub fn connected(&self) -> bool {
        self.lock().sessions.values().any(|s| s.conn.is_some())
    }

    /// Shards (by id) with a connection open and a session.
    pub fn shards_up(&self) -> Vec<u32> {
        let s = self.lock();
        let mut up: Vec<u32> = s
            .sessions
            .iter()
            .filter(|(_, x)| x.conn.is_some() && x.id.is_some())
            .map(|(id, _)| *id)
            .collect();
        up.sort();
        up
    }

    /// The shard count of the last IDENTIFY.
    pub fn shard_total(&self) -> u32 {
        self.lock().total
    }

    pub fn gateway_commands(&self) -> Vec<Value> {
        self.lock().gateway_commands.clone()
    }

    /// REQUEST_GUILD_MEMBERS received, with the shard that sent each.
    pub fn member_requests(&self) -> Vec<(u32, Value)> {
        self.lock().member_requests.clone()
    }

    /// Payload bytes written to the gateway sockets so far.
    pub fn gateway_bytes(&self) -> u64 {
        self.lock().gateway_bytes
    }

    /// GUILD_MEMBERS_CHUNK bytes written so far: on the wire (compressed
    /// when the connection asked), their JSON text, and how many chunks.
    pub fn chunk_bytes(&self) -> (u64, u64, u64) {
        self.lock().chunk_bytes
    }

    /// REST paths asked so far (method and path).
    pub fn rest_calls(&self) -> Vec<String> {
        self.lock().rest_calls.clone()
    }

    pub fn rest_count(&self, path: &str) -> usize {
        self.lock()
            .rest_calls
            .iter()
            .filter(|c| c.ends_with(path))
            .count()
    }

    /// Messages the bot posted: (channel, body).
    pub fn posted(&self) -> Vec<(String, Value)> {
        self.lock().posted.clone()
    }

    /// Waits until `cond` holds.
    pub async fn until(&self, what: &str, within: Duration, cond: impl Fn(&FakeDiscord) -> bool) {
        let start = std::time::Instant::now();
        while !cond(self) {
            assert!(start.elapsed() < within, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn push_dispatch(s: &mut State, shard: u32, t: &str, d: Value) {
    let session = s.session(shard);
    session.seq += 1;
    let text = json!({"op": 0, "s": session.seq, "t": t, "d": d}).to_string();
    session.log.push((session.seq, text.clone()));
    if let Some(c) = &session.conn {
        let _ = c.send(Push::Text(text));
    }
}

/// The GUILD_CREATE payload of `g` (as a fresh IDENTIFY sends it), with
/// Discord's default `large_threshold` of 50 members.
pub fn guild_create(g: &FakeGuild) -> Value {
    guild_create_with(g, 50)
}

/// The GUILD_CREATE payload of `g` for a session that identified with
/// `large_threshold`: a large guild comes without its offline members.
pub fn guild_create_with(g: &FakeGuild, large_threshold: usize) -> Value {
    let large = g.members.len() > large_threshold;
    let members: Vec<&Value> = if large {
        let online: std::collections::HashSet<&Value> = g
            .presences
            .iter()
            .filter(|p| p["status"] != "offline")
            .map(|p| &p["user"]["id"])
            .collect();
        g.members
            .iter()
            .filter(|m| online.contains(&m["user"]["id"]))
            .collect()
    } else {
        g.members.iter().collect()
    };
    json!({
        "id": g.id, "name": g.name, "unavailable": false, "large": large,
        "member_count": g.members.len(), "roles": g.roles, "channels": g.channels,
        "threads": [], "members": members, "presences": g.presences,
        "owner_id": BOT_ID, "features": [], "emojis": [], "stickers": [],
        "afk_timeout": 300, "verification_level": 0, "default_message_notifications": 0,
        "explicit_content_filter": 0, "mfa_level": 0, "nsfw_level": 0, "premium_tier": 0,
        "preferred_locale": "en-US", "system_channel_flags": 0, "joined_at": "2024-01-01T00:00:00.000000+00:00",
        "voice_states": [], "stage_instances": [], "guild_scheduled_events": []
    })
}

/// A connection's outgoing side: text, or zlib-stream binary when the URL
/// asked for `compress=zlib-stream` (one deflate stream per connection,
/// each message ending in a sync flush, as Discord sends it).
struct Wire {
    zlib: Option<flate2::Compress>,
}

impl Wire {
    fn frame(&mut self, text: String) -> Message {
        let Some(z) = &mut self.zlib else {
            return Message::text(text);
        };
        let mut out = Vec::with_capacity(text.len() / 4 + 64);
        let mut input = text.as_bytes();
        loop {
            if out.capacity() - out.len() < 1024 {
                out.reserve(out.capacity().max(4096));
            }
            let before = z.total_in();
            z.compress_vec(input, &mut out, flate2::FlushCompress::Sync)
                .unwrap();
            input = &input[(z.total_in() - before) as usize..];
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        Message::binary(out)
    }
}

// The handshake callback's error type is tungstenite's (a whole response).
#[allow(clippy::result_large_err)]
async fn connection(tcp: TcpStream, st: Arc<Mutex<State>>, gateway: SocketAddr) {
    let mut zlib = false;
    let seen = |req: &Request, resp: Response| {
        zlib = req
            .uri()
            .query()
            .is_some_and(|q| q.contains("compress=zlib-stream"));
        Ok(resp)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, seen).await else {
        return;
    };
    let zlib = zlib && st.lock().unwrap().rules.transport_compression;
    let mut wire = Wire {
        zlib: zlib.then(|| flate2::Compress::new(flate2::Compression::default(), true)),
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    st.lock().unwrap().connections += 1;
    // The shard this connection identified or resumed as.
    let mut shard: Option<u32> = None;
    let hello = json!({"op": 10, "d": {"heartbeat_interval": 41250}}).to_string();
    if send(&st, &mut ws, &mut wire, hello).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            push = rx.recv() => match push {
                Some(Push::Text(t)) => { if send(&st, &mut ws, &mut wire, t).await.is_err() { break } }
                Some(Push::Close(code)) => {
                    let _ = ws.send(Message::Close(Some(CloseFrame { code: CloseCode::from(code), reason: "".into() }))).await;
                    // Let the client read the close frame before we go.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    break;
                }
                Some(Push::Drop) | None => break,
            },
            msg = ws.next() => {
                let Some(Ok(msg)) = msg else { break };
                let Message::Text(text) = msg else { continue };
                let Ok(v) = serde_json::from_str::<Value>(&text) else { continue };
                handle_op(&st, &tx, &v, gateway, &mut shard);
            }
        }
    }
    let mut s = st.lock().unwrap();
    for session in s.sessions.values_mut() {
        if session.conn.as_ref().is_some_and(|c| c.same_channel(&tx)) {
            session.conn = None;
        }
    }
}

async fn send(
    st: &Arc<Mutex<State>>,
    ws: &mut tokio_tungstenite::WebSocketStream<TcpStream>,
    wire: &mut Wire,
    text: String,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    // Dispatches start {"op":0,"s":N,"t":"...": the type is near the front.
    let chunk = text
        .get(..48.min(text.len()))
        .is_some_and(|head| head.contains("\"t\":\"GUILD_MEMBERS_CHUNK\""));
    let json = text.len() as u64;
    let m = wire.frame(text);
    {
        let mut s = st.lock().unwrap();
        s.gateway_bytes += m.len() as u64;
        if chunk {
            s.chunk_bytes.0 += m.len() as u64;
            s.chunk_bytes.1 += json;
            s.chunk_bytes.2 += 1;
        }
    }
    ws.send(m).await
}

fn handle_op(
    st: &Arc<Mutex<State>>,
    tx: &mpsc::UnboundedSender<Push>,
    v: &Value,
    gateway: SocketAddr,
    shard: &mut Option<u32>,
) {
    let mut s = st.lock().unwrap();
    match v["op"].as_u64() {
        Some(1) => {
            let _ = tx.send(Push::Text(json!({"op": 11, "d": null}).to_string()));
        }
        Some(2) => {
            s.identifies.push(v["d"].clone());
            let id = v["d"]["shard"][0].as_u64().unwrap_or(0) as u32;
            *shard = Some(id);
            s.session(id).conn = Some(tx.clone());
            if s.hold_ready {
                s.held.push((tx.clone(), v.clone(), gateway));
                return;
            }
            identify(&mut s, tx, v, gateway);
        }
        Some(6) => {
            s.resumes += 1;
            if s.hold_resumes {
                return;
            }
            let d = &v["d"];
            let wanted = d["session_id"].as_str();
            let found = s
                .sessions
                .iter()
                .find(|(_, x)| x.id.is_some() && x.id.as_deref() == wanted)
                .map(|(id, _)| *id);
            let Some(id) = found else {
                let _ = tx.send(Push::Text(json!({"op": 9, "d": false}).to_string()));
                return;
            };
            *shard = Some(id);
            let from = d["seq"].as_u64().unwrap_or(0);
            let session = s.session(id);
            session.conn = Some(tx.clone());
            for (seq, text) in session.log.iter() {
                if *seq > from {
                    let _ = tx.send(Push::Text(text.clone()));
                }
            }
            push_dispatch(&mut s, id, "RESUMED", json!({}));
        }
        Some(8) => {
            s.gateway_commands.push(v.clone());
            let on = shard.unwrap_or(0);
            s.member_requests.push((on, v.clone()));
            if s.hold_chunks {
                return;
            }
            if s.drop_chunks > 0 {
                s.drop_chunks -= 1;
                return;
            }
            member_request(&mut s, on, &v["d"]);
        }
        _ => s.gateway_commands.push(v.clone()),
    }
}

/// REQUEST_GUILD_MEMBERS: RATE_LIMITED when the guild's whole list was
/// asked for within the window, else chunks of 1,000 with the nonce.
fn member_request(s: &mut State, shard: u32, d: &Value) {
    let gid = d["guild_id"].as_str().unwrap_or_default().to_string();
    let nonce = d.get("nonce").cloned().unwrap_or(Value::Null);
    let whole = d["query"].as_str() == Some("") && d["limit"].as_u64().unwrap_or(0) == 0;
    if whole && !s.rules.member_request_window.is_zero() {
        let now = Instant::now();
        if let Some(last) = s.member_asked.get(&gid) {
            let left = s.rules.member_request_window.saturating_sub(now - *last);
            if !left.is_zero() {
                let mut meta = json!({"guild_id": gid});
                if !nonce.is_null() {
                    meta["nonce"] = nonce;
                }
                let d = json!({"opcode": 8, "retry_after": left.as_secs_f64(), "meta": meta});
                push_dispatch(s, shard, "RATE_LIMITED", d);
                return;
            }
        }
        s.member_asked.insert(gid.clone(), now);
    }
    let Some(g) = s.guilds.iter().find(|g| g.id == gid).cloned() else {
        return;
    };
    let with_presences = d["presences"].as_bool() == Some(true);
    let by_user: HashMap<&Value, &Value> =
        g.presences.iter().map(|p| (&p["user"]["id"], p)).collect();
    let chunks: Vec<&[Value]> = g.members.chunks(1000).collect();
    let count = chunks.len().max(1);
    for (i, chunk) in chunks.into_iter().enumerate() {
        let presences: Vec<&Value> = if with_presences {
            chunk
                .iter()
                .filter_map(|m| by_user.get(&m["user"]["id"]).copied())
                .collect()
        } else {
            Vec::new()
        };
        let mut body = json!({
            "guild_id": gid, "members": chunk, "chunk_index": i, "chunk_count": count,
            "presences": presences
        });
        if !nonce.is_null() {
            body["nonce"] = nonce.clone();
        }
        push_dispatch(s, shard, "GUILD_MEMBERS_CHUNK", body);
    }
}

/// IDENTIFY: the token, intents, shard and pace checked, then READY and a
/// GUILD_CREATE per guild of the shard.
fn identify(s: &mut State, tx: &mpsc::UnboundedSender<Push>, v: &Value, gateway: SocketAddr) {
    let d = &v["d"];
    let token = d["token"].as_str().unwrap_or_default();
    if token != BOT_TOKEN && token != format!("Bot {BOT_TOKEN}") {
        let _ = tx.send(Push::Close(4004));
        return;
    }
    let intents = d["intents"].as_u64().unwrap_or(0);
    let privileged = INTENT_MEMBERS | INTENT_PRESENCES | INTENT_MESSAGE_CONTENT;
    if intents & privileged & !s.allowed_intents != 0 {
        let _ = tx.send(Push::Close(4014));
        return;
    }
    let id = d["shard"][0].as_u64().unwrap_or(0) as u32;
    let total = d["shard"][1].as_u64().unwrap_or(1) as u32;
    if total == 0 || id >= total {
        let _ = tx.send(Push::Close(4010));
        return;
    }
    let bucket = id % u32::from(s.rules.max_concurrency.max(1));
    let now = Instant::now();
    if let Some(last) = s.bucket_last.get(&bucket) {
        if now.duration_since(*last) < s.rules.identify_interval {
            s.early_identifies += 1;
            let _ = tx.send(Push::Text(json!({"op": 9, "d": false}).to_string()));
            return;
        }
    }
    s.bucket_last.insert(bucket, now);
    let mine: Vec<FakeGuild> = s
        .guilds
        .iter()
        .filter(|g| shard_of(&g.id, total) == id)
        .cloned()
        .collect();
    if mine.len() > s.rules.max_guilds_per_shard {
        let _ = tx.send(Push::Close(4011));
        return;
    }
    if total != s.total {
        // A new shard count: every old session is gone.
        s.sessions.clear();
        s.total = total;
    }
    let threshold = d["large_threshold"].as_u64().unwrap_or(50).clamp(50, 250) as usize;
    let n = s.identifies.len();
    let session = s.session(id);
    session.id = Some(format!("session-{n}-{id}"));
    session.seq = 0;
    session.log.clear();
    session.conn = Some(tx.clone());
    let session_id = session.id.clone();
    let guilds: Vec<Value> = mine
        .iter()
        .map(|g| json!({"id": g.id, "unavailable": true}))
        .collect();
    let ready = json!({
        "v": 10, "user": {"id": BOT_ID, "username": "dzone-bot", "discriminator": "0", "avatar": null, "bot": true},
        "guilds": guilds, "session_id": session_id, "resume_gateway_url": format!("ws://{gateway}"),
        "shard": [id, total], "application": {"id": APP_ID, "flags": s.app_flags}
    });
    push_dispatch(s, id, "READY", ready);
    for g in &mine {
        push_dispatch(s, id, "GUILD_CREATE", guild_create_with(g, threshold));
    }
}

/// One HTTP/1.1 request per connection (`Connection: close`).
async fn rest(mut tcp: TcpStream, st: Arc<Mutex<State>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let Ok(n) = tcp.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.lines();
    let first = lines.next().unwrap_or_default().to_string();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + 4 + length {
        let Ok(n) = tcp.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[head_end + 4..].to_vec();
    let mut parts = first.split(' ');
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts
        .next()
        .unwrap_or_default()
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string();
    let auth = headers.get("authorization").cloned().unwrap_or_default();
    let (status, extra, reply) = answer(&st, &method, &path, &auth, &body).await;
    let reply = reply.to_string();
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{reply}",
        reply.len()
    );
    let _ = tcp.write_all(response.as_bytes()).await;
    let _ = tcp.shutdown().await;
}

async fn answer(
    st: &Arc<Mutex<State>>,
    method: &str,
    path: &str,
    auth: &str,
    body: &[u8],
) -> (&'static str, String, Value) {
    st.lock()
        .unwrap()
        .rest_calls
        .push(format!("{method} {path}"));
    let unauthorized = (
        "401 Unauthorized",
        String::new(),
        json!({"message": "401: Unauthorized", "code": 0}),
    );
    let bot = auth == format!("Bot {BOT_TOKEN}");
    match (method, path) {
        ("GET", "/api/v10/gateway/bot") if bot => {
            let s = st.lock().unwrap();
            let shards = s
                .rules
                .recommended_shards
                .unwrap_or_else(|| s.guilds.len().div_ceil(1000).max(1) as u32);
            (
                "200 OK",
                String::new(),
                json!({"url": format!("ws://{}", "127.0.0.1"), "shards": shards,
                       "session_start_limit": {"total": 1000, "remaining": 999,
                       "reset_after": 14_400_000, "max_concurrency": s.rules.max_concurrency}}),
            )
        }
        ("GET", "/api/v10/applications/@me") if bot => {
            let flags = st.lock().unwrap().app_flags;
            (
                "200 OK",
                String::new(),
                json!({"id": APP_ID, "name": "d-zone", "flags": flags}),
            )
        }
        ("POST", p) if bot && p.starts_with("/api/v10/channels/") && p.ends_with("/messages") => {
            let channel = p
                .trim_start_matches("/api/v10/channels/")
                .trim_end_matches("/messages")
                .to_string();
            let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            st.lock().unwrap().posted.push((channel, body));
            ("200 OK", String::new(), json!({"id": "1"}))
        }
        ("GET", "/api/v10/oauth2/@me") | ("GET", "/api/v10/users/@me/guilds") => {
            let Some(token) = auth.strip_prefix("Bearer ") else {
                return unauthorized;
            };
            let t = st.lock().unwrap().tokens.get(token).cloned();
            match t {
                None | Some(Token::Invalid) => unauthorized,
                Some(Token::RateLimited(after)) => (
                    "429 Too Many Requests",
                    format!(
                        "Retry-After: {}\r\nX-RateLimit-Scope: user\r\n",
                        after.ceil()
                    ),
                    json!({"message": "You are being rate limited.", "retry_after": after, "global": false}),
                ),
                Some(Token::Hang) => {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    unauthorized
                }
                Some(Token::Valid {
                    app,
                    user,
                    expires,
                    guilds,
                }) => {
                    if path.ends_with("/guilds") {
                        let names: HashMap<String, String> = st
                            .lock()
                            .unwrap()
                            .guilds
                            .iter()
                            .map(|g| (g.id.clone(), g.name.clone()))
                            .collect();
                        // Partial guild objects, as Discord lists them.
                        let list: Vec<Value> = guilds.iter().map(|g| json!({
                            "id": g, "name": names.get(g).cloned().unwrap_or_else(|| "Some Guild".into()),
                            "icon": null, "banner": null, "owner": false, "permissions": "104324673",
                            "features": []
                        })).collect();
                        ("200 OK", String::new(), Value::Array(list))
                    } else {
                        (
                            "200 OK",
                            String::new(),
                            json!({
                                "application": {"id": app, "name": "d-zone", "description": "", "bot_public": true, "bot_require_code_grant": false, "verify_key": "k"},
                                "scopes": ["identify", "guilds"], "expires": expires,
                                "user": {"id": user, "username": "someone", "discriminator": "0", "avatar": null}
                            }),
                        )
                    }
                }
            }
        }
        _ if !bot => unauthorized,
        _ => (
            "404 Not Found",
            String::new(),
            json!({"message": "404: Not Found", "code": 0}),
        ),
    }
}

//! A fake Discord for offline tests, written here: a gateway speaking the
//! real protocol over a real WebSocket (HELLO, IDENTIFY, READY with
//! `resume_gateway_url`, GUILD_CREATE, dispatches with sequence numbers,
//! HEARTBEAT/ACK, RESUME with replay of missed events, RECONNECT,
//! INVALID_SESSION, REQUEST_GUILD_MEMBERS answered in chunks, close codes),
//! and the REST endpoints the bot uses, over plain HTTP/1.1. One module
//! of the shared harness (`common::fake_discord`), with the guilds the
//! suites share in [`fixtures`]. The bench's `discord_scale` includes it
//! too, by path.

#![allow(dead_code)]

pub mod fixtures;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
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

/// A frame the gateway pushes to the current connection.
enum Push {
    Text(String),
    Close(u16),
    /// Drop the TCP connection without a close frame.
    Drop,
}

#[derive(Default)]
struct State {
    guilds: Vec<FakeGuild>,
    /// Application flags reported by /applications/@me and READY.
    app_flags: u64,
    /// Privileged intents this application may use (else close 4014).
    allowed_intents: u64,
    session_id: Option<String>,
    seq: u64,
    /// Every dispatch of the session, with its sequence, for RESUME replay.
    log: Vec<(u64, String)>,
    conn: Option<mpsc::UnboundedSender<Push>>,
    pub identifies: Vec<Value>,
    resumes: usize,
    connections: usize,
    gateway_commands: Vec<Value>,
    tokens: HashMap<String, Token>,
    rest_calls: Vec<String>,
    posted: Vec<(String, Value)>,
    /// IDENTIFYs wait (no READY) until `release_ready`.
    hold_ready: bool,
    held: Vec<(mpsc::UnboundedSender<Push>, Value, SocketAddr)>,
    /// REQUEST_GUILD_MEMBERS is recorded but not answered.
    hold_chunks: bool,
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
    /// their own (so they outlive any one test runtime's tasks).
    pub fn start(guilds: Vec<FakeGuild>) -> FakeDiscord {
        let state = Arc::new(Mutex::new(State {
            guilds,
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

    pub fn add_token(&self, token: &str, t: Token) {
        self.lock().tokens.insert(token.into(), t);
    }

    /// Sends a dispatch (or logs it for replay if no connection is open).
    pub fn dispatch(&self, t: &str, d: Value) {
        let mut s = self.lock();
        push_dispatch(&mut s, t, d);
    }

    /// Sends RECONNECT (op 7): the client should resume.
    pub fn request_reconnect(&self) {
        self.push(Push::Text(json!({"op": 7, "d": null}).to_string()));
    }

    /// Sends INVALID_SESSION (op 9); `false` forgets the session.
    pub fn invalidate_session(&self, resumable: bool) {
        if !resumable {
            let mut s = self.lock();
            s.session_id = None;
            s.log.clear();
        }
        self.push(Push::Text(json!({"op": 9, "d": resumable}).to_string()));
    }

    /// Drops the TCP connection without a close frame.
    pub fn drop_connection(&self) {
        self.push(Push::Drop);
        self.lock().conn = None;
    }

    /// Closes the connection with `code`.
    pub fn close(&self, code: u16) {
        self.push(Push::Close(code));
    }

    fn push(&self, p: Push) {
        if let Some(c) = &self.lock().conn {
            let _ = c.send(p);
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

    pub fn resumes(&self) -> usize {
        self.lock().resumes
    }

    /// Gateway WebSocket connections opened so far.
    pub fn connections(&self) -> usize {
        self.lock().connections
    }

    pub fn connected(&self) -> bool {
        self.lock().conn.is_some()
    }

    pub fn gateway_commands(&self) -> Vec<Value> {
        self.lock().gateway_commands.clone()
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

fn push_dispatch(s: &mut State, t: &str, d: Value) {
    s.seq += 1;
    let text = json!({"op": 0, "s": s.seq, "t": t, "d": d}).to_string();
    s.log.push((s.seq, text.clone()));
    if let Some(c) = &s.conn {
        let _ = c.send(Push::Text(text));
    }
}

/// The GUILD_CREATE payload of `g` (as a fresh IDENTIFY sends it).
pub fn guild_create(g: &FakeGuild) -> Value {
    // Discord leaves offline members out of GUILD_CREATE for large guilds.
    const LARGE: usize = 250;
    let large = g.members.len() > LARGE;
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

async fn connection(tcp: TcpStream, st: Arc<Mutex<State>>, gateway: SocketAddr) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    {
        let mut s = st.lock().unwrap();
        s.connections += 1;
        s.conn = Some(tx.clone());
    }
    let hello = json!({"op": 10, "d": {"heartbeat_interval": 41250}}).to_string();
    if ws.send(Message::text(hello)).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            push = rx.recv() => match push {
                Some(Push::Text(t)) => { if ws.send(Message::text(t)).await.is_err() { break } }
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
                handle_op(&st, &tx, &v, gateway);
            }
        }
    }
    let mut s = st.lock().unwrap();
    if s.conn.as_ref().is_some_and(|c| c.same_channel(&tx)) {
        s.conn = None;
    }
}

fn handle_op(
    st: &Arc<Mutex<State>>,
    tx: &mpsc::UnboundedSender<Push>,
    v: &Value,
    gateway: SocketAddr,
) {
    let mut s = st.lock().unwrap();
    match v["op"].as_u64() {
        Some(1) => {
            let _ = tx.send(Push::Text(json!({"op": 11, "d": null}).to_string()));
        }
        Some(2) => {
            s.identifies.push(v["d"].clone());
            if s.hold_ready {
                s.held.push((tx.clone(), v.clone(), gateway));
                return;
            }
            identify(&mut s, tx, v, gateway);
        }
        Some(6) => {
            s.resumes += 1;
            let d = &v["d"];
            let ok = d["session_id"].as_str().is_some()
                && d["session_id"].as_str() == s.session_id.as_deref();
            if !ok {
                let _ = tx.send(Push::Text(json!({"op": 9, "d": false}).to_string()));
                return;
            }
            let from = d["seq"].as_u64().unwrap_or(0);
            for (seq, text) in s.log.iter() {
                if *seq > from {
                    let _ = tx.send(Push::Text(text.clone()));
                }
            }
            push_dispatch(&mut s, "RESUMED", json!({}));
        }
        Some(8) => {
            s.gateway_commands.push(v.clone());
            if s.hold_chunks {
                return;
            }
            let gid = v["d"]["guild_id"].as_str().unwrap_or_default().to_string();
            let Some(g) = s.guilds.iter().find(|g| g.id == gid).cloned() else {
                return;
            };
            let by_user: HashMap<&Value, &Value> =
                g.presences.iter().map(|p| (&p["user"]["id"], p)).collect();
            let chunks: Vec<&[Value]> = g.members.chunks(1000).collect();
            let count = chunks.len();
            for (i, chunk) in chunks.into_iter().enumerate() {
                let presences: Vec<&Value> = chunk
                    .iter()
                    .filter_map(|m| by_user.get(&m["user"]["id"]).copied())
                    .collect();
                push_dispatch(
                    &mut s,
                    "GUILD_MEMBERS_CHUNK",
                    json!({
                        "guild_id": gid, "members": chunk, "chunk_index": i, "chunk_count": count,
                        "presences": presences
                    }),
                );
            }
        }
        _ => s.gateway_commands.push(v.clone()),
    }
}

/// IDENTIFY: the token and intents checked, then READY and a GUILD_CREATE
/// per guild.
fn identify(s: &mut State, tx: &mpsc::UnboundedSender<Push>, v: &Value, gateway: SocketAddr) {
    let token = v["d"]["token"].as_str().unwrap_or_default();
    if token != BOT_TOKEN && token != format!("Bot {BOT_TOKEN}") {
        let _ = tx.send(Push::Close(4004));
        return;
    }
    let intents = v["d"]["intents"].as_u64().unwrap_or(0);
    let privileged = INTENT_MEMBERS | INTENT_PRESENCES | INTENT_MESSAGE_CONTENT;
    if intents & privileged & !s.allowed_intents != 0 {
        let _ = tx.send(Push::Close(4014));
        return;
    }
    s.session_id = Some(format!("session-{}", s.identifies.len()));
    s.seq = 0;
    s.log.clear();
    let guilds: Vec<Value> = s
        .guilds
        .iter()
        .map(|g| json!({"id": g.id, "unavailable": true}))
        .collect();
    let ready = json!({
        "v": 10, "user": {"id": BOT_ID, "username": "dzone-bot", "discriminator": "0", "avatar": null, "bot": true},
        "guilds": guilds, "session_id": s.session_id, "resume_gateway_url": format!("ws://{gateway}"),
        "shard": [0, 1], "application": {"id": APP_ID, "flags": s.app_flags}
    });
    push_dispatch(s, "READY", ready);
    let creates: Vec<Value> = s.guilds.iter().map(guild_create).collect();
    for c in creates {
        push_dispatch(s, "GUILD_CREATE", c);
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

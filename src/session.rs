//! The WebSocket session actor: one per browser.
//!
//! It sends the server list on open, answers `connect` by asking the
//! [`crate::providers::Providers`] (spawned, never `wait`ed, so a
//! slow callback freezes nothing), joins the guild's hub through the
//! registry, and writes what the hub delivers. It leaves its hub in exactly
//! one place, `Session::leave`, called on re-join and from `stopped`.
//!
//! Outbound backlog is measured, not guessed: the response body stream is
//! wrapped in [`Metered`], which counts the bytes the HTTP layer has taken
//! towards the socket, and everything queued for the session (by the hub
//! before it even reaches the mailbox, or by the session itself) is counted
//! in the same [`Meter`]. The actor is only polled while the socket accepts
//! data, so a session cannot police itself once its reader stalls; the hub
//! does, reading the meter before each delivery. A browser that stops
//! reading therefore costs a bounded amount of memory and nobody else's
//! latency, and the kernel (TCP_USER_TIMEOUT) finally drops its socket.

use std::cell::RefCell;
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use actix::prelude::*;
use actix_web_actors::ws::{self, CloseCode, CloseReason, ProtocolError};
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use futures_util::Stream;
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::Value;

use crate::app::AppState;
use crate::hub::{Deliver, Evict, GoingAway, SessionId};
use crate::limits::{Attempts, RateLimit, Slot};
use crate::model::{DiscordUser, Presence, ServerInfo, Status, User};
use crate::protocol::{self, errors, Connect};
use crate::providers::{
    mock, GetClientId, GetServers, GetUsers, Providers, ValidateUser, Validation,
};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A session's outbound accounting, shared by the session, its hub and its
/// response body.
#[derive(Default)]
pub struct Meter {
    /// Wire bytes queued for the session (mailbox or context).
    queued: AtomicU64,
    /// Wire bytes the HTTP layer has taken towards the socket.
    taken: AtomicU64,
}

impl Meter {
    /// Counts a frame of this payload size as queued.
    pub fn queue(&self, payload: usize) {
        self.add(wire_len(payload));
    }

    /// Counts this many wire bytes as queued.
    pub fn add(&self, wire: u64) {
        self.queued.fetch_add(wire, Ordering::Relaxed);
    }

    /// Bytes queued and not yet taken by the HTTP layer.
    pub fn backlog(&self) -> u64 {
        let taken = self.taken.load(Ordering::Relaxed);
        self.queued.load(Ordering::Relaxed).saturating_sub(taken)
    }
}

/// The session's response body, counting what leaves it.
pub struct Metered<S> {
    pub inner: S,
    pub meter: Arc<Meter>,
}

impl<S, E> Stream for Metered<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &polled {
            self.meter
                .taken
                .fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        polled
    }
}

/// Size on the wire of an unmasked server frame with this payload.
pub fn wire_len(payload: usize) -> u64 {
    let header = match payload {
        0..=125 => 2,
        126..=65535 => 4,
        _ => 10,
    };
    (header + payload) as u64
}

struct Joined {
    guild: Arc<str>,
    /// Mock chat and presence timers, cancelled on leave.
    mock_timers: Vec<SpawnHandle>,
}

/// A fragmented message being reassembled.
struct Fragments {
    binary: bool,
    buf: BytesMut,
}

/// One browser connection.
pub struct Session {
    id: SessionId,
    ip: IpAddr,
    app: Arc<AppState>,
    /// This worker's providers.
    providers: Addr<Providers>,
    /// The server-list frame, sent on start.
    greeting: Option<String>,
    meter: Arc<Meter>,
    joined: Option<Joined>,
    /// Bumped per `connect`; answers to an older one are dropped.
    attempt: u64,
    last_heard: Instant,
    fragments: Option<Fragments>,
    rate: RateLimit,
    /// Frames refused by the rate limit since the last accepted one.
    rate_strikes: u32,
    /// Refused credentials of this session (shared with its join futures).
    auth_failures: Rc<RefCell<Attempts>>,
    /// Released when the session is dropped.
    _slot: Slot,
}

impl Session {
    pub(crate) fn new(
        app: Arc<AppState>,
        providers: Addr<Providers>,
        server_list: String,
        ip: IpAddr,
        slot: Slot,
        meter: Arc<Meter>,
    ) -> Self {
        let rate = RateLimit::new(app.config.rate_burst, app.config.rate_per_sec);
        Session {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            ip,
            app,
            providers,
            greeting: Some(server_list),
            meter,
            joined: None,
            attempt: 0,
            last_heard: Instant::now(),
            fragments: None,
            rate,
            rate_strikes: 0,
            auth_failures: Rc::default(),
            _slot: slot,
        }
    }

    fn send(&mut self, ctx: &mut ws::WebsocketContext<Self>, text: impl Into<ByteString>) {
        let text = text.into();
        self.meter.queue(text.len());
        ctx.text(text);
    }

    fn send_error(&mut self, ctx: &mut ws::WebsocketContext<Self>, message: &str) {
        self.send(ctx, protocol::error(message));
    }

    fn close(&mut self, ctx: &mut ws::WebsocketContext<Self>, code: CloseCode, why: &str) {
        self.meter.queue(2 + why.len());
        ctx.close(Some(CloseReason {
            code,
            description: Some(why.to_string()),
        }));
        ctx.stop();
    }

    /// Leaves the current hub, if any, and stops the mock traffic. The one
    /// place a session unregisters.
    fn leave(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        if let Some(joined) = self.joined.take() {
            for timer in joined.mock_timers {
                ctx.cancel_future(timer);
            }
            self.app.registry.leave(&joined.guild, self.id);
        }
    }

    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        match protocol::parse_client_frame(text) {
            Ok(connect) => self.connect(connect, ctx),
            Err(message) => {
                log::debug!("session {}: refused frame: {message}", self.id);
                self.send_error(ctx, message);
            }
        }
    }

    /// Counts one inbound message against the rate limit; false to drop it.
    fn admit(&mut self, ctx: &mut ws::WebsocketContext<Self>) -> bool {
        if self.rate.take() {
            self.rate_strikes = 0;
            return true;
        }
        self.rate_strikes += 1;
        if self.rate_strikes == 1 {
            log::info!("session {} ({}): inbound rate limit hit", self.id, self.ip);
            self.send_error(ctx, errors::RATE_LIMITED);
        } else if self.rate_strikes > self.app.config.rate_burst.max(10) {
            log::warn!(
                "session {} ({}): kept flooding; closing with 1008",
                self.id,
                self.ip
            );
            self.close(ctx, CloseCode::Policy, "rate limit exceeded");
        }
        false
    }

    fn on_message(&mut self, binary: bool, payload: Bytes, ctx: &mut ws::WebsocketContext<Self>) {
        if !self.admit(ctx) {
            return;
        }
        if binary {
            match std::str::from_utf8(&payload) {
                Ok(text) => self.on_text(text, ctx),
                Err(_) => self.send_error(ctx, errors::INVALID_BINARY),
            }
        } else {
            match std::str::from_utf8(&payload) {
                Ok(text) => self.on_text(text, ctx),
                Err(_) => self.close(ctx, CloseCode::Invalid, "text frame is not UTF-8"),
            }
        }
    }

    fn on_fragment(&mut self, item: actix_http::ws::Item, ctx: &mut ws::WebsocketContext<Self>) {
        let (first, chunk, last) = match item {
            actix_http::ws::Item::FirstText(b) => (Some(false), b, false),
            actix_http::ws::Item::FirstBinary(b) => (Some(true), b, false),
            actix_http::ws::Item::Continue(b) => (None, b, false),
            actix_http::ws::Item::Last(b) => (None, b, true),
        };
        if let Some(binary) = first {
            self.fragments = Some(Fragments {
                binary,
                buf: BytesMut::new(),
            });
        }
        let Some(frags) = self.fragments.as_mut() else {
            self.close(
                ctx,
                CloseCode::Protocol,
                "continuation without a first frame",
            );
            return;
        };
        if frags.buf.len() + chunk.len() > self.app.config.max_frame_bytes {
            log::info!(
                "session {} ({}): fragmented message over the limit",
                self.id,
                self.ip
            );
            self.close(ctx, CloseCode::Size, "message too big");
            return;
        }
        frags.buf.extend_from_slice(&chunk);
        if last {
            if let Some(f) = self.fragments.take() {
                self.on_message(f.binary, f.buf.freeze(), ctx);
            }
        }
    }

    fn connect(&mut self, req: Connect, ctx: &mut ws::WebsocketContext<Self>) {
        self.attempt += 1;
        let attempt = self.attempt;
        self.leave(ctx);
        let join = resolve_join(
            self.app.clone(),
            self.providers.clone(),
            self.ip,
            self.auth_failures.clone(),
            req,
        );
        ctx.spawn(join.into_actor(self).map(move |outcome, act, ctx| {
            if act.attempt != attempt {
                return; // superseded by a newer connect
            }
            match outcome {
                Ok(ok) => act.joined(ok, ctx),
                Err(refused) => {
                    log::info!(
                        "session {} ({}) refused {:?}: {}",
                        act.id,
                        act.ip,
                        refused.requested,
                        refused.message
                    );
                    act.send_error(ctx, refused.message);
                }
            }
        }));
    }

    fn joined(&mut self, ok: JoinOk, ctx: &mut ws::WebsocketContext<Self>) {
        let guild: Arc<str> = ok.server.snowflake.as_str().into();
        let addr = ctx.address();
        self.app.registry.join(
            &guild,
            self.id,
            addr.clone().recipient(),
            addr.recipient(),
            self.meter.clone(),
        );
        let frame = protocol::server_join(
            &ok.users,
            &ok.requested,
            ok.password.as_deref(),
            &ok.server.name,
            ok.client_id.as_deref(),
        );
        self.send(ctx, frame);
        log::info!(
            "session {} ({}) joined {} ({}), {} users",
            self.id,
            self.ip,
            ok.server.name,
            guild,
            ok.users.len()
        );
        let mut mock_timers = Vec::new();
        let cfg = &self.app.config;
        if self.app.mock_users && cfg.mock_traffic && !ok.users.is_empty() {
            let users = Rc::new(ok.users);
            let (g, u) = (guild.clone(), users.clone());
            mock_timers.push(ctx.run_interval(cfg.mock_chat_every, move |act, ctx| {
                let mut rng = rand::thread_rng();
                if let (Some(user), Some(line)) =
                    (u.choose(&mut rng), mock::CHAT_LINES.choose(&mut rng))
                {
                    act.send(
                        ctx,
                        protocol::message(&g, &user.uid, line, mock::MOCK_CHANNEL),
                    );
                }
            }));
            let g = guild.clone();
            mock_timers.push(ctx.run_interval(cfg.mock_presence_every, move |act, ctx| {
                let mut rng = rand::thread_rng();
                if let Some(user) = users.choose(&mut rng) {
                    let status = Status::ALL[rng.gen_range(0..Status::ALL.len())];
                    let p = Presence::new(&*g, &user.uid, status)
                        .username(&user.username)
                        .role_color(user.role_color.clone());
                    act.send(ctx, protocol::presence(&p));
                }
            }));
        }
        self.joined = Some(Joined { guild, mock_timers });
    }

    fn heartbeat(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        if self.last_heard.elapsed() > self.app.config.client_timeout {
            log::info!(
                "session {} ({}): silent past the timeout; closing",
                self.id,
                self.ip
            );
            self.close(ctx, CloseCode::Away, "timeout");
            return;
        }
        self.meter.queue(0);
        ctx.ping(b"");
    }
}

impl Actor for Session {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Hub fan-out uses try_send: the mailbox bounds queued frames, the
        // meter bounds queued bytes.
        ctx.set_mailbox_capacity(self.app.config.max_backlog_frames.max(1));
        self.app
            .registry
            .session_opened(self.id, ctx.address().recipient());
        log::info!("session {} ({}) connected", self.id, self.ip);
        ctx.run_interval(self.app.config.heartbeat_interval, Self::heartbeat);
        // Queued before the first poll of the body, so it leaves in the
        // same write as the 101 response.
        if let Some(list) = self.greeting.take() {
            self.send(ctx, list);
        }
    }

    fn stopped(&mut self, ctx: &mut Self::Context) {
        self.leave(ctx);
        self.app.registry.session_closed(self.id);
        log::info!("session {} ({}) closed", self.id, self.ip);
    }
}

impl StreamHandler<Result<ws::Message, ProtocolError>> for Session {
    fn handle(&mut self, item: Result<ws::Message, ProtocolError>, ctx: &mut Self::Context) {
        self.last_heard = Instant::now();
        match item {
            Ok(ws::Message::Text(text)) => self.on_message(false, text.into_bytes(), ctx),
            Ok(ws::Message::Binary(bin)) => self.on_message(true, bin, ctx),
            Ok(ws::Message::Continuation(item)) => self.on_fragment(item, ctx),
            Ok(ws::Message::Ping(p)) => {
                self.meter.queue(p.len());
                ctx.pong(&p);
            }
            Ok(ws::Message::Pong(_)) | Ok(ws::Message::Nop) => {}
            Ok(ws::Message::Close(reason)) => {
                self.meter.queue(2);
                ctx.close(reason.map(|r| CloseReason::from(r.code)));
                ctx.stop();
            }
            Err(ProtocolError::Overflow) => {
                log::info!(
                    "session {} ({}): frame over the limit; closing with 1009",
                    self.id,
                    self.ip
                );
                self.close(ctx, CloseCode::Size, "message too big");
            }
            // The only Io error raised for an intact stream is the UTF-8
            // check of a text frame.
            Err(ProtocolError::Io(e)) if e.to_string().contains("utf-8") => {
                log::info!(
                    "session {} ({}): text frame is not UTF-8; closing with 1007",
                    self.id,
                    self.ip
                );
                self.close(ctx, CloseCode::Invalid, "text frame is not UTF-8");
            }
            Err(e) => {
                log::info!(
                    "session {} ({}): protocol error: {e}; closing",
                    self.id,
                    self.ip
                );
                self.close(ctx, CloseCode::Protocol, "protocol error");
            }
        }
    }
}

impl Handler<Deliver> for Session {
    type Result = ();

    fn handle(&mut self, Deliver(batch): Deliver, ctx: &mut Self::Context) {
        // Already counted in the meter by the hub. Queued together, the
        // frames leave in one write.
        for frame in batch.iter() {
            ctx.text(frame.clone());
        }
    }
}

impl Handler<Evict> for Session {
    type Result = ();
    fn handle(&mut self, _: Evict, ctx: &mut Self::Context) {
        // The hub already dropped us; `stopped` still leaves through the
        // registry (which counts us), and the hub ignores the repeat.
        self.close(ctx, CloseCode::Policy, "too slow");
    }
}

impl Handler<GoingAway> for Session {
    type Result = ();
    fn handle(&mut self, _: GoingAway, ctx: &mut Self::Context) {
        self.close(ctx, CloseCode::Away, "server shutting down");
    }
}

/// A successful join, ready to send.
struct JoinOk {
    server: ServerInfo,
    requested: String,
    password: Option<String>,
    users: Vec<User>,
    client_id: Option<String>,
}

struct Refused {
    requested: Option<String>,
    message: &'static str,
}

/// The provider side of `connect`: find the server, check credentials, load
/// users and the client id. Runs off the actor, so the session keeps
/// answering pings meanwhile.
async fn resolve_join(
    app: Arc<AppState>,
    providers: Addr<Providers>,
    ip: IpAddr,
    session_failures: Rc<RefCell<Attempts>>,
    req: Connect,
) -> Result<JoinOk, Refused> {
    let refuse = |message| Refused {
        requested: req.server.clone(),
        message,
    };
    let servers = providers.send(GetServers).await.unwrap_or_default();
    let Some(requested) = req.server.clone() else {
        return Err(refuse(errors::NO_SUCH_SERVER));
    };
    let server = find_server(&servers, &requested)
        .ok_or_else(|| refuse(errors::NO_SUCH_SERVER))?
        .clone();
    if server.passworded {
        authorize(&app, &providers, ip, &session_failures, &req, &server)
            .await
            .map_err(refuse)?;
    }
    let snowflake = server.snowflake.clone();
    let (users, client_id) = futures_util::future::join(
        providers.send(GetUsers(snowflake.clone())),
        providers.send(GetClientId(snowflake)),
    )
    .await;
    Ok(JoinOk {
        server,
        requested,
        password: req.password,
        users: users.unwrap_or_default(),
        client_id: client_id.unwrap_or_default(),
    })
}

/// The first server whose id matches; `"default"` also matches the first
/// server marked default, and falls back to the first server so a client
/// asking for the default never loops on an error.
pub fn find_server<'a>(servers: &'a [ServerInfo], requested: &str) -> Option<&'a ServerInfo> {
    let wants_default = requested == "default";
    servers
        .iter()
        .find(|s| s.id == requested || (wants_default && s.default))
        .or_else(|| if wants_default { servers.first() } else { None })
}

/// Compares without an early exit, so timing does not reveal a prefix.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn well_formed_user(
    token: &Option<String>,
    user: &Option<serde_json::Map<String, Value>>,
) -> Option<(String, DiscordUser)> {
    let token = token.as_ref().filter(|t| !t.is_empty())?;
    let raw = user.as_ref().filter(|u| !u.is_empty())?;
    let text = |k: &str| match raw.get(k) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let user = DiscordUser {
        id: text("id")?,
        username: text("username")?,
        raw: raw.clone(),
    };
    Some((token.clone(), user))
}

/// Decides a join to a protected server. Refused credentials count against
/// the IP and the session; past the limit the validator is not asked.
async fn authorize(
    app: &AppState,
    providers: &Addr<Providers>,
    ip: IpAddr,
    session_failures: &RefCell<Attempts>,
    req: &Connect,
    server: &ServerInfo,
) -> Result<(), &'static str> {
    let presented =
        req.discord_token.is_some() || req.discord_user.is_some() || req.password.is_some();
    if !presented {
        return Err(errors::AUTH_REQUIRED);
    }
    let (limit, window) = app.auth.limit();
    if app.auth.ip_exhausted(ip) || session_failures.borrow_mut().exhausted(limit, window) {
        log::info!("{ip}: authentication throttled for {}", server.snowflake);
        return Err(errors::AUTH_THROTTLED);
    }
    let password_ok = match (&req.password, &server.password) {
        (Some(given), Some(expected)) => same_secret(given, expected),
        _ => false,
    };
    let mut failure = errors::AUTH_REQUIRED;
    if let Some((token, user)) = well_formed_user(&req.discord_token, &req.discord_user) {
        if app.auth.cached(&token, &user.id, &server.snowflake) {
            return Ok(());
        }
        let user_id = user.id.clone();
        let verdict = providers
            .send(ValidateUser {
                token: token.clone(),
                user,
                server: server.snowflake.clone(),
            })
            .await
            .unwrap_or(Validation::Rejected);
        match verdict {
            Validation::Accepted => {
                app.auth.remember(&token, &user_id, &server.snowflake);
                return Ok(());
            }
            Validation::NoValidator => log::warn!(
                "refusing Discord login to protected server {}: no validator is configured (fail closed)",
                server.snowflake
            ),
            Validation::Rejected => {}
        }
        failure = errors::AUTH_FAILED;
    }
    if password_ok {
        return Ok(());
    }
    app.auth.record_failure(ip);
    session_failures.borrow_mut().record(window);
    Err(failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_falls_back_to_first_server() {
        let servers = vec![
            ServerInfo::new("1", "a", "A"),
            ServerInfo::new("2", "b", "B"),
        ];
        assert_eq!(
            find_server(&servers, "default").map(|s| s.id.as_str()),
            Some("a")
        );
        let servers = vec![
            ServerInfo::new("1", "a", "A"),
            ServerInfo::new("2", "b", "B").default_server(),
        ];
        assert_eq!(
            find_server(&servers, "default").map(|s| s.id.as_str()),
            Some("b")
        );
        assert!(find_server(&servers, "c").is_none());
    }

    #[test]
    fn wire_lengths() {
        assert_eq!(wire_len(0), 2);
        assert_eq!(wire_len(125), 127);
        assert_eq!(wire_len(126), 130);
        assert_eq!(wire_len(70_000), 70_010);
    }
}

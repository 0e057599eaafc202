//! The WebSocket session actor: one per browser.
//!
//! It sends the server list on open, answers `connect` by asking
//! [`crate::join`] (spawned, never `wait`ed, so a slow callback freezes
//! nothing), enters the guild's hub through the registry, and writes what
//! the hub delivers. It leaves its hub in exactly one place,
//! `Session::leave`, called on re-join and from `stopped`.
//!
//! What it queues is counted in its [`Meter`] (see [`crate::outbound`]),
//! which the hub reads before each delivery: a browser that stops reading
//! costs a bounded amount of memory and nobody else's latency, and the
//! kernel (TCP_USER_TIMEOUT) finally drops its socket.

use std::cell::RefCell;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use actix_web_actors::ws::{self, CloseCode, CloseReason, ProtocolError};
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use rand::seq::SliceRandom;
use rand::Rng;

use crate::app::AppState;
use crate::hub::{Deliver, Delivery, Evict, GoingAway, Join, SessionId};
use crate::join::{self, Admitted, Joiner};
use crate::limits::{Attempts, RateLimit, Slot};
use crate::model::{Presence, Status};
use crate::outbound::Meter;
use crate::outbox::Outbox;
use crate::protocol::{self, errors, Connect};
use crate::providers::{mock, Providers};
use crate::socket::ConnSocket;

/// The hub a session is in, and what runs only while it is there.
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
pub(crate) struct Session {
    id: SessionId,
    ip: IpAddr,
    app: Arc<AppState>,
    /// This worker's providers.
    providers: Addr<Providers>,
    /// The server-list frame, sent on start.
    greeting: Option<ByteString>,
    meter: Arc<Meter>,
    /// Where hubs put this session's batches, for a taken-over connection;
    /// without one they come through the mailbox as [`Deliver`].
    outbox: Option<Arc<Outbox>>,
    /// The hub this session is in, if any.
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
    /// The join being resolved, cancelled when a newer `connect` supersedes it.
    pending_join: Option<SpawnHandle>,
    /// Set once a Close frame has gone out: the session only waits for the
    /// client's Close (or `close_timeout`) and then ends the connection.
    closing: bool,
    /// Ends the read side when the close handshake is over (see `socket`).
    socket: Option<ConnSocket>,
    /// Released when the session is dropped.
    _slot: Slot,
}

/// What the connection gives its session: who it is and how its bytes
/// leave.
pub(crate) struct Wiring {
    /// The client's address (behind trusted proxies, the forwarded one).
    pub(crate) ip: IpAddr,
    /// Its place under the connection caps.
    pub(crate) slot: Slot,
    /// Counts its queued bytes (read by hubs).
    pub(crate) meter: Arc<Meter>,
    /// Hubs' batches go here on a taken-over connection.
    pub(crate) outbox: Option<Arc<Outbox>>,
    /// Ends the read side after the close handshake (actix-web's path).
    pub(crate) socket: Option<ConnSocket>,
}

impl Session {
    pub(crate) fn new(
        app: Arc<AppState>,
        providers: Addr<Providers>,
        server_list: ByteString,
        wiring: Wiring,
    ) -> Self {
        let Wiring {
            ip,
            slot,
            meter,
            outbox,
            socket,
        } = wiring;
        let rate = RateLimit::new(app.config.rate_burst, app.config.rate_per_sec);
        Session {
            id: SessionId::next(),
            ip,
            app,
            providers,
            greeting: Some(server_list),
            meter,
            outbox,
            joined: None,
            attempt: 0,
            last_heard: Instant::now(),
            fragments: None,
            rate,
            rate_strikes: 0,
            auth_failures: Rc::default(),
            pending_join: None,
            closing: false,
            socket,
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

    /// Starts a server-side close: leaves the hub, sends Close with `code`,
    /// and ends the connection when the client answers or after
    /// `close_timeout`, whichever comes first.
    fn close(&mut self, ctx: &mut ws::WebsocketContext<Self>, code: CloseCode, why: &'static str) {
        if self.closing {
            return;
        }
        self.closing = true;
        self.app.metrics.closed(why);
        self.cancel_join(ctx);
        self.leave(ctx);
        if let Some(outbox) = &self.outbox {
            outbox.close();
        }
        self.meter.queue(2 + why.len());
        ctx.close(Some(CloseReason {
            code,
            description: Some(why.to_string()),
        }));
        ctx.run_later(self.app.config.close_timeout, |act, ctx| {
            log::debug!("session {}: no Close answer in time; closing", act.id);
            act.finish(ctx);
        });
    }

    /// Logs why the session closes (once, with who it is) and closes.
    fn close_because(
        &mut self,
        ctx: &mut ws::WebsocketContext<Self>,
        code: CloseCode,
        why: &'static str,
        cause: &str,
    ) {
        log::info!(
            "session {} ({}): {cause}; closing with {}",
            self.id,
            self.ip,
            u16::from(code)
        );
        self.close(ctx, code, why);
    }

    /// The close handshake is over: stop, and let the connection's TCP
    /// close as soon as the last frame is written.
    fn finish(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        ctx.stop();
        if let Some(socket) = self.socket.take() {
            socket.end_reading();
        }
    }

    /// Drops the join being resolved, if any: its answer would be stale.
    fn cancel_join(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        if let Some(task) = self.pending_join.take() {
            ctx.cancel_future(task);
        }
    }

    /// Leaves the current hub, if any, and stops the mock traffic. The one
    /// place a session unregisters.
    fn leave(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        if let Some(joined) = self.joined.take() {
            if let Some(outbox) = &self.outbox {
                // Nothing more of this hub's is written, even if queued.
                outbox.renew();
            }
            for timer in joined.mock_timers {
                ctx.cancel_future(timer);
            }
            self.app.registry.leave(&joined.guild, self.id);
        }
    }

    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        match protocol::parse_client_frame(text) {
            Ok(connect) => self.connect(connect, ctx),
            Err(refused) => {
                self.app.metrics.frame_error(refused.kind());
                let message = refused.message();
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
            self.close_because(
                ctx,
                CloseCode::Policy,
                "rate limit exceeded",
                "kept flooding",
            );
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
                Err(_) => self.close_because(
                    ctx,
                    CloseCode::Invalid,
                    "text frame is not UTF-8",
                    "text frame is not UTF-8",
                ),
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
            let why = "continuation without a first frame";
            self.close_because(ctx, CloseCode::Protocol, why, why);
            return;
        };
        if frags.buf.len() + chunk.len() > self.app.config.max_frame_bytes {
            let cause = "fragmented message over the limit";
            self.close_because(ctx, CloseCode::Size, "message too big", cause);
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
        self.cancel_join(ctx);
        self.leave(ctx);
        let joiner = Joiner {
            ip: self.ip,
            failures: self.auth_failures.clone(),
        };
        let join = join::resolve(self.app.clone(), self.providers.clone(), joiner, req);
        let task = ctx.spawn(join.into_actor(self).map(move |outcome, act, ctx| {
            if act.attempt != attempt || act.closing {
                return; // superseded by a newer connect, or closing
            }
            act.pending_join = None;
            match outcome {
                Ok(admitted) => act.enter(admitted, ctx),
                Err(refused) => {
                    let message = refused.why.message();
                    log::info!(
                        "session {} ({}) refused {:?}: {message}",
                        act.id,
                        act.ip,
                        refused.requested,
                    );
                    act.send_error(ctx, message);
                }
            }
        }));
        self.pending_join = Some(task);
    }

    /// Enters the hub of an admitted join and sends the `server-join`.
    fn enter(&mut self, ok: Admitted, ctx: &mut ws::WebsocketContext<Self>) {
        let guild: Arc<str> = ok.server.snowflake.as_str().into();
        let addr = ctx.address();
        let deliver = match &self.outbox {
            Some(outbox) => Delivery::Outbox(outbox.clone(), outbox.renew()),
            None => Delivery::Mailbox(addr.clone().recipient()),
        };
        self.app.registry.join(
            &guild,
            Join {
                id: self.id,
                deliver,
                evict: addr.recipient(),
                meter: self.meter.clone(),
            },
        );
        let frame = protocol::server_join(
            &ok.users,
            &ok.requested,
            ok.password.as_deref(),
            &ok.server.name,
            ok.client_id.as_deref(),
        );
        self.send(ctx, frame);
        crate::memory::joined(ok.users.len());
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
            let users = ok.users;
            let (g, u) = (guild.clone(), users.clone());
            mock_timers.push(ctx.run_interval(cfg.mock_chat_every, move |act, ctx| {
                let mut rng = rand::thread_rng();
                if let (Some(user), Some(line)) = (
                    u.users().choose(&mut rng),
                    mock::CHAT_LINES.choose(&mut rng),
                ) {
                    act.send(
                        ctx,
                        protocol::message(&g, &user.uid, line, mock::MOCK_CHANNEL),
                    );
                }
            }));
            let g = guild.clone();
            mock_timers.push(ctx.run_interval(cfg.mock_presence_every, move |act, ctx| {
                let mut rng = rand::thread_rng();
                if let Some(user) = users.users().choose(&mut rng) {
                    let status = Status::ALL[rng.gen_range(0..Status::ALL.len())];
                    let p = Presence::new(&*g, &user.uid, status)
                        .username(&user.username)
                        .role_color(user.role_color);
                    act.send(ctx, protocol::presence(&p));
                }
            }));
        }
        self.joined = Some(Joined { guild, mock_timers });
    }

    fn heartbeat(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        if self.closing {
            return;
        }
        if self.last_heard.elapsed() > self.app.config.client_timeout {
            let cause = "silent past the timeout";
            self.close_because(ctx, CloseCode::Away, "timeout", cause);
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
        if self.closing {
            // Only the client's Close matters now; anything else (data it
            // sent before seeing ours, or a broken stream) ends it too.
            if !matches!(item, Ok(ws::Message::Ping(_) | ws::Message::Pong(_))) {
                self.finish(ctx);
            }
            return;
        }
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
                // The client closes: answer with its code, then end at once.
                self.app.metrics.closed("client");
                self.meter.queue(2);
                ctx.close(reason.map(|r| CloseReason::from(r.code)));
                self.finish(ctx);
            }
            Err(ProtocolError::Overflow) => {
                let cause = "frame over the limit";
                self.close_because(ctx, CloseCode::Size, "message too big", cause);
            }
            // actix-web-actors flattens stream errors into text, so the
            // two ordinary ones are told apart by it: the UTF-8 check of a
            // text frame, and a connection dropped without a Close frame (a
            // closed tab, a lost network), which is no protocol error.
            Err(ProtocolError::Io(e)) if e.to_string().contains("utf-8") => {
                let why = "text frame is not UTF-8";
                self.close_because(ctx, CloseCode::Invalid, why, why);
            }
            Err(ProtocolError::Io(e)) if e.to_string().contains("reached EOF") => {
                log::info!(
                    "session {} ({}): disconnected without a Close frame",
                    self.id,
                    self.ip
                );
                ctx.stop();
            }
            Err(e) => {
                let cause = format!("protocol error: {e}");
                self.close_because(ctx, CloseCode::Protocol, "protocol error", &cause);
            }
        }
    }
}

impl Handler<Deliver> for Session {
    type Result = ();

    fn handle(&mut self, Deliver(batch, since): Deliver, ctx: &mut Self::Context) {
        if self.closing {
            return; // queued before we left the hub; our Close is out
        }
        self.app.metrics.delivered(batch.len(), since.elapsed());
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
        self.app.metrics.evicted();
        self.close(ctx, CloseCode::Policy, "too slow");
    }
}

impl Handler<GoingAway> for Session {
    type Result = ();
    fn handle(&mut self, _: GoingAway, ctx: &mut Self::Context) {
        self.close(ctx, CloseCode::Away, "server shutting down");
    }
}

//! The WebSocket session actor: one per browser.
//!
//! It sends the server list on open, answers `connect` by asking
//! [`crate::ws::join`] (spawned, never `wait`ed, so a slow callback freezes
//! nothing), enters the guild's hub through the registry before it reads
//! the guild's users (so no broadcast is lost in between), and sends the
//! `server-join` ahead of what the hub delivered meanwhile. It leaves its hub in exactly one place,
//! `Session::leave`, called on re-join and from `stopped`.
//!
//! Its text frames and its hubs' batches go through its [`Outbox`], in
//! wire form (compressed where the connection negotiated it, see
//! [`crate::deflate`]); only control frames go through the context. What
//! it queues is counted in its [`Meter`] (see [`crate::wire::outbound`]), which
//! the hub reads before each delivery: a browser that stops reading costs
//! a bounded amount of memory and nobody else's latency, and the kernel
//! (TCP_USER_TIMEOUT) finally drops its socket.

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

use crate::access::rate::RateLimit;
use crate::access::slots::Slot;
use crate::access::throttle::Attempts;
use crate::app::AppState;
use crate::deflate::{Refusal, Refusals};
use crate::hub::guild::{Evict, GoingAway, Join, SessionId};
use crate::protocol::frames::{self, errors, Connect};
use crate::protocol::model::{Presence, Status};
use crate::providers::{mock, Providers};
use crate::wire::outbound::{frame_for, Meter, Shared};
use crate::wire::outbox::Outbox;
use crate::ws::join::{self, Admitted, Joiner, Loaded};
use crate::ws::joinframe::join_frame;

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
    greeting: Option<Arc<Shared>>,
    meter: Arc<Meter>,
    /// Where this session's text frames and its hubs' batches queue.
    outbox: Arc<Outbox>,
    /// Where a compressed input leaves why it was refused.
    refusals: Option<Refusals>,
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
    /// Its text frames and its hubs' batches go here.
    pub(crate) outbox: Arc<Outbox>,
    /// Set when the connection negotiated compression: its input's
    /// refusals ([`crate::deflate::Inflating`]).
    pub(crate) refusals: Option<Refusals>,
}

impl Session {
    pub(crate) fn new(
        app: Arc<AppState>,
        providers: Addr<Providers>,
        server_list: Arc<Shared>,
        wiring: Wiring,
    ) -> Self {
        let Wiring {
            ip,
            slot,
            meter,
            outbox,
            refusals,
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
            refusals,
            joined: None,
            attempt: 0,
            last_heard: Instant::now(),
            fragments: None,
            rate,
            rate_strikes: 0,
            auth_failures: Rc::default(),
            pending_join: None,
            closing: false,
            _slot: slot,
        }
    }

    /// Queues a text frame of the session's own (compressed if the
    /// connection negotiated it and the frame is worth it).
    fn send(&mut self, text: impl Into<ByteString>) {
        let text = text.into();
        let (frame, packed) = frame_for(
            text.as_bytes(),
            self.outbox.compressed(),
            self.app.config.deflate(),
        );
        self.queue_own(vec![frame], "other", packed);
    }

    /// Queues a frame many sessions share (the server list).
    fn send_shared(&mut self, text: &Shared, kind: &'static str) {
        let (frame, packed) = text.frame(self.outbox.compressed(), self.app.config.deflate());
        self.queue_own(vec![frame], kind, packed);
    }

    fn queue_own(
        &mut self,
        chunks: Vec<Bytes>,
        kind: &'static str,
        packed: Option<(usize, usize)>,
    ) {
        if let Some((before, after)) = packed {
            self.app
                .metrics
                .compressed(kind, before as u64, after as u64);
        }
        self.outbox.own(chunks);
    }

    fn send_error(&mut self, message: &str) {
        self.send(frames::error(message));
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
        self.outbox.close();
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

    /// The close handshake is over: stop; the pump closes the connection's
    /// TCP as soon as the last frame is written.
    fn finish(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        ctx.stop();
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
            // Nothing more of this hub's is written, even if queued.
            self.outbox.renew();
            for timer in joined.mock_timers {
                ctx.cancel_future(timer);
            }
            self.app.registry.leave(&joined.guild, self.id);
        }
    }

    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        match frames::parse_client_frame(text) {
            Ok(connect) => self.connect(connect, ctx),
            Err(refused) => {
                self.app.metrics.frame_error(refused.kind());
                let message = refused.message();
                log::debug!("session {}: refused frame: {message}", self.id);
                self.send_error(message);
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
            self.send_error(errors::RATE_LIMITED);
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
                Err(_) => self.send_error(errors::INVALID_BINARY),
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
                Ok(admitted) => act.enter(admitted, attempt, ctx),
                Err(refused) => {
                    let message = refused.why.message();
                    log::info!(
                        "session {} ({}) refused {:?}: {message}",
                        act.id,
                        act.ip,
                        refused.requested,
                    );
                    act.send_error(message);
                }
            }
        }));
        self.pending_join = Some(task);
    }

    /// Enters the hub of an admitted join, held, and then reads its users:
    /// the subscription comes first, so no broadcast falls between the
    /// read and the hub. The `server-join` is sent when they are read.
    fn enter(&mut self, ok: Admitted, attempt: u64, ctx: &mut ws::WebsocketContext<Self>) {
        let guild: Arc<str> = ok.server.snowflake.as_str().into();
        let generation = self.outbox.renew();
        self.app.registry.join(
            &guild,
            Join {
                id: self.id,
                outbox: self.outbox.clone(),
                generation,
                evict: ctx.address().recipient(),
                meter: self.meter.clone(),
            },
        );
        self.joined = Some(Joined {
            guild,
            mock_timers: Vec::new(),
        });
        let load = join::load(
            self.app.clone(),
            self.providers.clone(),
            ok.server.snowflake.clone(),
        );
        let task = ctx.spawn(load.into_actor(self).map(move |loaded, act, ctx| {
            if act.attempt != attempt || act.closing {
                return;
            }
            act.pending_join = None;
            act.send_join(&ok, loaded, generation, ctx);
        }));
        self.pending_join = Some(task);
    }

    /// Queues the `server-join` of the membership `generation` ahead of
    /// what its hub sent while the users were read, and starts the mock
    /// traffic of a mock server.
    fn send_join(
        &mut self,
        ok: &Admitted,
        loaded: Loaded,
        generation: u64,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let (head, tail) = frames::server_join_parts(
            &ok.requested,
            ok.password.as_deref(),
            &ok.server.name,
            loaded.client_id.as_deref(),
        );
        let settings = self.app.config.deflate();
        let (chunks, packed) = join_frame(
            &head,
            &loaded.users,
            &tail,
            self.outbox.compressed(),
            settings,
        );
        if let Some((before, after)) = packed {
            self.app
                .metrics
                .compressed("server_join", before as u64, after as u64);
        }
        if !self.outbox.release(generation, chunks) {
            return;
        }
        let Some(joined) = self.joined.as_mut() else {
            return;
        };
        let guild = joined.guild.clone();
        crate::memory::joined(loaded.users.len());
        log::info!(
            "session {} ({}) joined {} ({}), {} users",
            self.id,
            self.ip,
            ok.server.name,
            guild,
            loaded.users.len()
        );
        let cfg = &self.app.config;
        if self.app.mock_users && cfg.mock_traffic && !loaded.users.is_empty() {
            let users = loaded.users;
            let (g, u) = (guild.clone(), users.clone());
            let chat = ctx.run_interval(cfg.mock_chat_every, move |act, _| {
                let mut rng = rand::thread_rng();
                if let (Some(user), Some(line)) = (
                    u.users().choose(&mut rng),
                    mock::CHAT_LINES.choose(&mut rng),
                ) {
                    act.send(frames::message(&g, &user.uid, line, mock::MOCK_CHANNEL));
                }
            });
            let g = guild;
            let presence = ctx.run_interval(cfg.mock_presence_every, move |act, _| {
                let mut rng = rand::thread_rng();
                if let Some(user) = users.users().choose(&mut rng) {
                    let status = Status::ALL[rng.gen_range(0..Status::ALL.len())];
                    let p = Presence::new(&*g, &user.uid, status)
                        .username(&user.username)
                        .role_color(user.role_color);
                    act.send(frames::presence(&p));
                }
            });
            if let Some(joined) = self.joined.as_mut() {
                joined.mock_timers.extend([chat, presence]);
            }
        }
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
        self.app
            .registry
            .session_opened(self.id, ctx.address().recipient());
        log::info!("session {} ({}) connected", self.id, self.ip);
        ctx.run_interval(self.app.config.heartbeat_interval, Self::heartbeat);
        // Queued before the first poll of the body, so it leaves in the
        // same write as the 101 response.
        if let Some(list) = self.greeting.take() {
            self.send_shared(&list, "server_list");
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
            // The compressed input's own refusals, told apart by what it
            // left for us (the context turns the error into text).
            Err(ProtocolError::Io(_))
                if self.refusals.as_ref().is_some_and(|r| r.get().is_some()) =>
            {
                let refusal = self.refusals.as_ref().and_then(|r| r.take());
                let (code, why, cause) = match refusal {
                    Some(Refusal::TooBig) => (
                        CloseCode::Size,
                        "message too big",
                        "compressed message over the limit",
                    ),
                    Some(Refusal::Corrupt) => (
                        CloseCode::Invalid,
                        "invalid compressed data",
                        "compressed message does not inflate",
                    ),
                    _ => (
                        CloseCode::Protocol,
                        "protocol error",
                        "RSV1 where permessage-deflate does not allow it",
                    ),
                };
                self.close_because(ctx, code, why, cause);
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

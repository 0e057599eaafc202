//! The WebSocket session actor, one per browser: the connection's life.
//!
//! A `Session` is the control plane of its connection. It sends the server
//! list on open, pings on the heartbeat and closes a client silent past the
//! timeout, joins and leaves hubs, and closes (with the right code, then
//! waiting `close_timeout` for the client's answer) when asked to by what
//! it reads, by its hub (`Evict`: too slow) or by the server
//! (`GoingAway`). It is not on the data path of broadcasts: a hub pushes
//! its batches straight into the session's [`Outbox`], which the
//! connection's pump drains (see `crate::ws`).
//!
//! Its own text frames go through the same outbox, in wire form
//! (compressed where the connection negotiated it, see [`crate::deflate`]);
//! only control frames go through the context. What it queues is counted
//! in its [`Meter`] (see [`crate::wire::outbound`]), which the hub reads
//! before each delivery: a browser that stops reading costs a bounded
//! amount of memory and nobody else's latency, and the kernel
//! (TCP_USER_TIMEOUT) finally drops its socket.
//!
//! One concept per file: this one is the connection's life; what it reads
//! is `inbound` (the items `wire::inbound` parsed and judged), how it joins a server (and leaves it, in exactly one
//! place, `Session::leave`, called on re-join and from `stopped`) is
//! `joining`.

mod inbound;
mod joining;

use std::cell::RefCell;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use actix_web_actors::ws::{self, CloseCode, CloseReason};
use bytes::Bytes;
use bytestring::ByteString;

use crate::access::rate::RateLimit;
use crate::access::slots::Slot;
use crate::access::throttle::Attempts;
use crate::app::AppState;
use crate::hub::guild::{Evict, GoingAway, SessionId};
use crate::protocol::frames;
use crate::providers::Providers;
use crate::wire::outbound::{frame_for, Meter, Shared};
use crate::wire::outbox::Outbox;

/// The hub a session is in, and what runs only while it is there.
struct Joined {
    guild: Arc<str>,
    /// Mock chat and presence timers, cancelled on leave.
    mock_timers: Vec<SpawnHandle>,
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
    /// The hub this session is in, if any.
    joined: Option<Joined>,
    /// Bumped per `connect`; answers to an older one are dropped.
    attempt: u64,
    last_heard: Instant,
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

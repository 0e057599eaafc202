//! How a session joins a server: a `connect` is resolved by
//! [`crate::ws::join`] (spawned, never `wait`ed, so a slow callback
//! freezes nothing; a newer `connect` supersedes it), the session enters
//! the guild's hub (held) before it reads the guild's users, so no
//! broadcast is lost in between, and the `server-join` is queued ahead of
//! what the hub delivered meanwhile. On a mock server the mock traffic
//! starts ([`crate::providers::traffic`]). [`Session::leave`] is the one
//! place a session unregisters from its hub.

use std::sync::Arc;

use actix::prelude::*;
use actix_web_actors::ws;

use crate::hub::guild::Join;
use crate::protocol::frames::{self, Connect};
use crate::providers::traffic::MockTraffic;
use crate::ws::join::{self, Admitted, Joiner, Loaded};
use crate::ws::joinframe::join_frame;

use super::{Joined, Session};

impl Session {
    pub(super) fn connect(&mut self, req: Connect, ctx: &mut ws::WebsocketContext<Self>) {
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
        let made = loaded
            .users
            .prepare(self.outbox.compressed(), settings.level);
        self.app.metrics.join_list(made.encoded, made.compressed);
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
            self.start_mock_traffic(MockTraffic::new(guild, loaded.users), ctx);
        }
    }

    /// Drops the join being resolved, if any: its answer would be stale.
    pub(super) fn cancel_join(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        if let Some(task) = self.pending_join.take() {
            ctx.cancel_future(task);
        }
    }

    /// Leaves the current hub, if any, and stops the mock traffic. The one
    /// place a session unregisters.
    pub(super) fn leave(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        if let Some(joined) = self.joined.take() {
            // Nothing more of this hub's is written, even if queued.
            self.outbox.renew();
            for timer in joined.mock_timers {
                ctx.cancel_future(timer);
            }
            self.app.registry.leave(&joined.guild, self.id);
        }
    }

    /// Sends a mock server's chat and presence on their timers until the
    /// session leaves (the timers are cancelled in [`Session::leave`]).
    fn start_mock_traffic(&mut self, traffic: MockTraffic, ctx: &mut ws::WebsocketContext<Self>) {
        let cfg = &self.app.config;
        let chat = traffic.clone();
        let chat = ctx.run_interval(cfg.mock_chat_every, move |act, _| {
            if let Some(frame) = chat.chat() {
                act.send(frame);
            }
        });
        let presence = ctx.run_interval(cfg.mock_presence_every, move |act, _| {
            if let Some(frame) = traffic.presence() {
                act.send(frame);
            }
        });
        if let Some(joined) = self.joined.as_mut() {
            joined.mock_timers.extend([chat, presence]);
        }
    }
}

//! The `Hub` actor: the sessions of one Discord server, and the messages
//! it exchanges with them.
//!
//! A hub holds the sessions joined to its guild. A broadcast reaches it as a
//! [`Broadcast`]; it encodes the frame once and hands the same shared bytes
//! to every member without waiting (its connection's [`Outbox`], or its
//! mailbox with `try_send`), so fan-out never blocks and a member whose
//! queue is full is evicted instead of slowing the rest.
//!
//! Batching adapts to the load instead of a clock: a broadcast that finds
//! no other one waiting in the hub's mailbox goes out at once; while more
//! are already queued behind it, frames collect and the last of the run
//! sends them together, one mailbox message per session and one socket
//! write for all of them. At a trickle nothing waits; under a burst the
//! per-frame cost (actor message, wake-up, `send` system call) is shared
//! by the frames of a batch, and a batch never waits for a timer.
//!
//! Hubs are created, placed on threads and stopped by the
//! [`Registry`](crate::registry::Registry); this file is only what one hub
//! does.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytes::Bytes;
use bytestring::ByteString;

use crate::broadcast::Broadcast;
use crate::outbound::{text_frame, wire_len, Meter};
use crate::outbox::{Outbox, Pushed};

/// Process-unique session number: the hub's key for a member, and the
/// number logs show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SessionId(u64);

impl SessionId {
    /// A number no other session of this process has had.
    pub(crate) fn next() -> SessionId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        SessionId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Encoded frames for a session to write, in order. Cloning is a refcount
/// bump: every session of the hub gets the same batch. The `Instant` is
/// when its oldest broadcast reached the hub (for the latency metric).
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub(crate) struct Deliver(pub(crate) Arc<[ByteString]>, pub(crate) Instant);

/// Tells a session its hub dropped it (mailbox full or closed).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Evict;

/// Tells a session the server is going away (close with 1001).
#[derive(Message, Clone, Copy)]
#[rtype(result = "()")]
pub(crate) struct GoingAway;

/// Where a member's batches go.
pub(crate) enum Delivery {
    /// The session actor's mailbox (connections actix-web serves itself).
    Mailbox(Recipient<Deliver>),
    /// Straight to a taken-over connection, for this membership.
    Outbox(Arc<Outbox>, u64),
}

/// Adds a session to the hub: where to deliver, whom to evict, and the
/// session's meter. The hub keeps it as the member's entry.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Join {
    pub(crate) id: SessionId,
    /// Where batches go.
    pub(crate) deliver: Delivery,
    /// Told once when the hub drops the session.
    pub(crate) evict: Recipient<Evict>,
    /// The session's outbound backlog, read before every delivery.
    pub(crate) meter: Arc<Meter>,
}

/// Removes a session; idempotent, as an evicted session is already gone.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Leave(pub(crate) SessionId);

/// Stops the hub; the registry sends it when the last member has left.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct StopHub;

/// Broadcasts a hub may have waiting in its mailbox; past this the
/// registry drops new ones (counted) instead of queueing without bound.
pub(crate) const MAX_QUEUED_BROADCASTS: usize = 65_536;

/// Frames one batch holds at most; a full batch is flushed at once.
const MAX_BATCH: usize = 256;

/// The sessions of one guild.
pub(crate) struct Hub {
    /// Guild snowflake, for logs.
    guild: Arc<str>,
    /// A vector, not a map: fan-out walks it every broadcast; joins and
    /// leaves are rare by comparison.
    members: Vec<Join>,
    /// A member with more than this queued is evicted, not sent more.
    max_backlog: u64,
    /// Broadcasts sent to this hub and not yet handled, shared with the
    /// registry, which checks it against [`MAX_QUEUED_BROADCASTS`]. (Each
    /// clone of an `Addr` is its own sender, so actix's mailbox capacity
    /// alone does not bound many senders.)
    queued: Arc<AtomicUsize>,
    /// Frames waiting for the next flush.
    pending: Vec<ByteString>,
    /// When the oldest of `pending` arrived.
    pending_since: Instant,
    /// The longest frames wait for broadcasts the queue count promised.
    batch_window: Duration,
    /// The bound's flush is already scheduled.
    flush_scheduled: bool,
}

impl Hub {
    pub(crate) fn new(
        guild: Arc<str>,
        queued: Arc<AtomicUsize>,
        max_backlog: u64,
        batch_window: Duration,
    ) -> Hub {
        Hub {
            guild,
            queued,
            members: Vec::new(),
            max_backlog,
            pending: Vec::new(),
            pending_since: Instant::now(),
            batch_window,
            flush_scheduled: false,
        }
    }

    /// Sends the pending frames to every member as one batch.
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let batch: Arc<[ByteString]> = self.pending.drain(..).collect();
        let wire: u64 = batch.iter().map(|f| wire_len(f.len())).sum();
        // The wire form for taken-over connections, made once if any is here.
        let mut framed: Option<Arc<[Bytes]>> = None;
        let (guild, max_backlog) = (&self.guild, self.max_backlog);
        self.members.retain(|m| {
            // A session whose reader stalled is not even polled any more;
            // its meter is the only place its backlog shows.
            let backlog = m.meter.backlog();
            let refused = if backlog + wire > max_backlog {
                "its outbound backlog is full"
            } else {
                m.meter.add(wire);
                match &m.deliver {
                    Delivery::Mailbox(to) => {
                        match to.try_send(Deliver(batch.clone(), self.pending_since)) {
                            Ok(()) => return true,
                            Err(SendError::Full(_)) => "its mailbox is full",
                            Err(SendError::Closed(_)) => return false,
                        }
                    }
                    Delivery::Outbox(to, generation) => {
                        let framed = framed.get_or_insert_with(|| {
                            batch.iter().map(|f| text_frame(f.as_bytes())).collect()
                        });
                        match to.push(*generation, framed, self.pending_since) {
                            Pushed::Queued => return true,
                            Pushed::Full => "its queue is full",
                            // Left or closed; its `Leave` is on the way.
                            Pushed::Stale | Pushed::Closed => {
                                m.meter.dropped(wire);
                                return false;
                            }
                        }
                    }
                }
            };
            log::warn!("hub {guild}: session {} is not reading ({refused}, {backlog} bytes queued); evicting it", m.id);
            // `do_send` ignores the mailbox bound; sent once, as the member
            // is removed here.
            m.evict.do_send(Evict);
            false
        });
    }
}

impl Actor for Hub {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // The bot side may burst; joins must never be refused.
        ctx.set_mailbox_capacity(MAX_QUEUED_BROADCASTS);
        log::debug!("hub {} started", self.guild);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        log::debug!("hub {} stopped", self.guild);
    }
}

impl Handler<Join> for Hub {
    type Result = ();
    fn handle(&mut self, member: Join, _: &mut Context<Self>) {
        self.members.push(member);
    }
}

impl Handler<Leave> for Hub {
    type Result = ();
    fn handle(&mut self, Leave(id): Leave, _: &mut Context<Self>) {
        // Idempotent: an evicted member is already gone.
        if let Some(i) = self.members.iter().position(|m| m.id == id) {
            self.members.swap_remove(i);
        }
    }
}

impl Handler<StopHub> for Hub {
    type Result = ();
    fn handle(&mut self, _: StopHub, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<Broadcast> for Hub {
    type Result = usize;

    fn handle(&mut self, msg: Broadcast, ctx: &mut Context<Self>) -> usize {
        let behind = self
            .queued
            .fetch_sub(1, Ordering::Relaxed)
            .saturating_sub(1);
        if self.pending.is_empty() {
            self.pending_since = Instant::now();
        }
        self.pending.push(ByteString::from(msg.encode()));
        if behind == 0 || self.pending.len() >= MAX_BATCH {
            // Nothing else is waiting (the hub is idle: send at once), or a
            // burst filled a batch (bound what waits here).
            self.flush();
        } else if !self.flush_scheduled {
            // More broadcasts are already in the mailbox: the last of them
            // flushes the batch. The timer is only a bound, for a counted
            // broadcast whose sender gave up before it was delivered.
            self.flush_scheduled = true;
            ctx.run_later(self.batch_window, |hub, _| {
                hub.flush_scheduled = false;
                hub.flush();
            });
        }
        // Sessions this broadcast is queued for (evictions may follow).
        self.members.len()
    }
}

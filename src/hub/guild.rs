//! The `Hub` actor: the sessions of one Discord server, and the messages
//! it exchanges with them.
//!
//! A hub holds the sessions joined to its guild. A broadcast reaches it as a
//! [`Broadcast`]; it encodes the frame once and hands the same shared bytes
//! to every member's [`Outbox`] without waiting, so fan-out never blocks
//! and a member whose queue is full is evicted instead of slowing the rest.
//! Members that negotiated compression get the batch compressed, once for
//! all of them (frames under `compression_min_bytes` stay plain).
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
//! [`Registry`](crate::hub::registry::Registry); this file is only what one hub
//! does.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytes::Bytes;
use bytestring::ByteString;

use crate::deflate::Settings;
use crate::hub::broadcast::Broadcast;
use crate::metrics::Metrics;
use crate::wire::outbound::{frame_for, Meter};
use crate::wire::outbox::{Outbox, Pushed};

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

/// Tells a session its hub dropped it (mailbox full or closed).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Evict;

/// Tells a session the server is going away (close with 1001).
#[derive(Message, Clone, Copy)]
#[rtype(result = "()")]
pub(crate) struct GoingAway;

/// Adds a session to the hub: where to deliver, whom to evict, and the
/// session's meter. The hub keeps it as the member's entry.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Join {
    pub(crate) id: SessionId,
    /// Where batches go: the session's outbox, for this membership.
    pub(crate) outbox: Arc<Outbox>,
    /// The membership ([`Outbox::renew`]) the batches are for.
    pub(crate) generation: u64,
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

/// What every hub is made with (the registry keeps one).
#[derive(Clone)]
pub(crate) struct Setup {
    /// A member with more than this queued is evicted, not sent more.
    pub(crate) max_backlog: u64,
    /// The longest frames wait for broadcasts the queue count promised.
    pub(crate) batch_window: Duration,
    /// How batches are compressed for members that negotiated it.
    pub(crate) deflate: Settings,
    pub(crate) metrics: Arc<Metrics>,
}

/// The sessions of one guild.
pub(crate) struct Hub {
    /// Guild snowflake, for logs.
    guild: Arc<str>,
    /// A vector, not a map: fan-out walks it every broadcast; joins and
    /// leaves are rare by comparison.
    members: Vec<Join>,
    setup: Setup,
    /// Broadcasts sent to this hub and not yet handled, shared with the
    /// registry, which checks it against [`MAX_QUEUED_BROADCASTS`]. (Each
    /// clone of an `Addr` is its own sender, so actix's mailbox capacity
    /// alone does not bound many senders.)
    queued: Arc<AtomicUsize>,
    /// Frames waiting for the next flush.
    pending: Vec<ByteString>,
    /// When the oldest of `pending` arrived.
    pending_since: Instant,
    /// The bound's flush is already scheduled.
    flush_scheduled: bool,
}

impl Hub {
    pub(crate) fn new(guild: Arc<str>, queued: Arc<AtomicUsize>, setup: Setup) -> Hub {
        Hub {
            guild,
            queued,
            members: Vec::new(),
            setup,
            pending: Vec::new(),
            pending_since: Instant::now(),
            flush_scheduled: false,
        }
    }

    /// Sends the pending frames to every member as one batch.
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let batch: Vec<ByteString> = std::mem::take(&mut self.pending);
        // Each form is made once, the first time a member needs it.
        let mut plain: Option<Framed> = None;
        let mut deflated: Option<Framed> = None;
        let mut compressed_members = 0u64;
        let (guild, setup, since) = (&self.guild, &self.setup, self.pending_since);
        self.members.retain(|m| {
            let compressed = m.outbox.compressed();
            let form = if compressed {
                compressed_members += 1;
                deflated.get_or_insert_with(|| Framed::new(&batch, true, setup.deflate))
            } else {
                plain.get_or_insert_with(|| Framed::new(&batch, false, setup.deflate))
            };
            // A session whose reader stalled is not even polled any more;
            // its meter is the only place its backlog shows.
            let backlog = m.meter.backlog_beyond_join();
            let refused = if backlog + form.wire > setup.max_backlog {
                "its outbound backlog is full"
            } else {
                m.meter.add(form.wire);
                match m.outbox.push(m.generation, &form.frames, since) {
                    Pushed::Queued => return true,
                    Pushed::Full => "its queue is full",
                    // Left or closed; its `Leave` is on the way.
                    Pushed::Stale | Pushed::Closed => {
                        m.meter.dropped(form.wire);
                        return false;
                    }
                }
            };
            let queued = m.meter.backlog();
            log::warn!("hub {guild}: session {} is not reading ({refused}, {queued} bytes queued); evicting it", m.id);
            // `do_send` ignores the mailbox bound; sent once, as the member
            // is removed here.
            m.evict.do_send(Evict);
            false
        });
        if let Some(form) = deflated {
            let (before, after) = form.compressed;
            setup.metrics.compressed(
                "broadcast",
                before * compressed_members,
                after * compressed_members,
            );
        }
        // The vector's allocation is kept for the next batch.
        self.pending = batch;
        self.pending.clear();
    }
}

/// A batch in one wire form, shared by every member that takes it.
struct Framed {
    frames: Arc<[Bytes]>,
    wire: u64,
    /// Payload bytes of the compressed frames, before and after.
    compressed: (u64, u64),
}

impl Framed {
    fn new(batch: &[ByteString], compressed: bool, settings: Settings) -> Framed {
        let mut sizes = (0, 0);
        let frames: Arc<[Bytes]> = batch
            .iter()
            .map(|text| {
                let (frame, packed) = frame_for(text.as_bytes(), compressed, settings);
                if let Some((before, after)) = packed {
                    sizes.0 += before as u64;
                    sizes.1 += after as u64;
                }
                frame
            })
            .collect();
        let wire = frames.iter().map(|f| f.len() as u64).sum();
        Framed {
            frames,
            wire,
            compressed: sizes,
        }
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
            ctx.run_later(self.setup.batch_window, |hub, _| {
                hub.flush_scheduled = false;
                hub.flush();
            });
        }
        // Sessions this broadcast is queued for (evictions may follow).
        self.members.len()
    }
}

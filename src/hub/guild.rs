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
//! Presences of one member within a batch go out once, as the last one
//! ([`Batch`]). A member whose backlog passes half the limit under a flood
//! of presences falls behind instead of being evicted: it keeps getting
//! chat, and the presences it lacks follow from [`Latest`] as its socket
//! drains, each member's last state once.
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
use crate::hub::batch::{Batch, Item};
use crate::hub::broadcast::Broadcast;
use crate::hub::catchup::Latest;
use crate::metrics::Metrics;
use crate::protocol::frames;
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
    members: Vec<Member>,
    setup: Setup,
    /// Broadcasts sent to this hub and not yet handled, shared with the
    /// registry, which checks it against [`MAX_QUEUED_BROADCASTS`]. (Each
    /// clone of an `Addr` is its own sender, so actix's mailbox capacity
    /// alone does not bound many senders.)
    queued: Arc<AtomicUsize>,
    /// Frames waiting for the next flush.
    pending: Batch,
    /// When the oldest of `pending` arrived.
    pending_since: Instant,
    /// The bound's flush is already scheduled.
    flush_scheduled: bool,
    /// Presences kept for members that fell behind.
    latest: Latest,
    /// A catch-up pass is scheduled.
    catch_up_scheduled: bool,
}

/// A joined session, and where it stands if it fell behind.
struct Member {
    join: Join,
    /// Behind: the last presence of [`Latest`] it has. `None` while it
    /// takes presences in batches.
    behind: Option<u64>,
}

/// How often a hub with members behind tries to send them more.
const CATCH_UP_EVERY: Duration = Duration::from_millis(50);

/// About how many bytes of presences one catch-up pass sends a member.
const CATCH_UP_BUDGET: usize = 64 * 1024;

impl Hub {
    pub(crate) fn new(guild: Arc<str>, queued: Arc<AtomicUsize>, setup: Setup) -> Hub {
        Hub {
            guild,
            queued,
            members: Vec::new(),
            setup,
            pending: Batch::default(),
            pending_since: Instant::now(),
            flush_scheduled: false,
            latest: Latest::default(),
            catch_up_scheduled: false,
        }
    }

    /// Sends the pending frames to every member as one batch: all of them
    /// to members keeping up, and all but the presences to members behind
    /// (who get those from [`Latest`]). A member whose backlog would pass
    /// half the limit with this batch's presences (or whose outbox holds
    /// half its batches) falls behind instead of taking them; one whose
    /// backlog would pass the limit is evicted.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.pending.is_empty() {
            return;
        }
        let before = self.latest.version();
        let mut all = Vec::with_capacity(self.pending.len());
        let mut others = Vec::new();
        let mut presences = Vec::new();
        for item in self.pending.take() {
            match item {
                Item::Frame(f) => {
                    others.push(f.clone());
                    all.push(f);
                }
                Item::Presence(p) => {
                    let f = ByteString::from(frames::presence(&p));
                    all.push(f.clone());
                    presences.push((p.uid, f));
                }
                Item::Replaced => {}
            }
        }
        let has_presences = !presences.is_empty();
        let mut forms = Forms::new(&all, &others, self.setup.deflate);
        let (guild, setup, since) = (&self.guild, &self.setup, self.pending_since);
        let falls_behind_at = setup.max_backlog / 2;
        self.members.retain_mut(|m| {
            let backlog = m.join.meter.backlog_beyond_join();
            let compressed = m.join.outbox.compressed();
            if m.behind.is_none() {
                let form = forms.all(compressed);
                let room = backlog + form.wire <= falls_behind_at && !m.join.outbox.crowded();
                if !has_presences || room {
                    return deliver(guild, setup, &m.join, form, since);
                }
                m.behind = Some(before);
                log::debug!(
                    "hub {guild}: session {} fell behind; presences follow as it drains",
                    m.join.id
                );
            }
            match forms.others(compressed) {
                Some(form) => deliver(guild, setup, &m.join, form, since),
                None => true,
            }
        });
        forms.count(&setup.metrics);
        // Kept only while someone is behind (numbered after `before`).
        if self.members.iter().any(|m| m.behind.is_some()) {
            for (uid, f) in presences {
                self.latest.record(&uid, f);
            }
        }
        self.catch_up(ctx);
    }

    /// Sends members behind the next presences they lack, as far as their
    /// backlog allows, and schedules the next pass while any is behind;
    /// forgets the presences every member has.
    fn catch_up(&mut self, ctx: &mut Context<Self>) {
        let (guild, setup, latest) = (&self.guild, &self.setup, &self.latest);
        let drained_at = setup.max_backlog / 4;
        self.members.retain_mut(|m| {
            let Some(cursor) = m.behind else {
                return true;
            };
            if m.join.meter.backlog_beyond_join() > drained_at || m.join.outbox.crowded() {
                return true;
            }
            let next = latest.after(cursor, CATCH_UP_BUDGET);
            m.behind = (!next.caught_up).then_some(next.cursor);
            if next.frames.is_empty() {
                return true;
            }
            let form = Framed::new(&next.frames, m.join.outbox.compressed(), setup.deflate);
            deliver(guild, setup, &m.join, &form, Instant::now())
        });
        let oldest = self.members.iter().filter_map(|m| m.behind).min();
        self.latest.forget(oldest);
        if oldest.is_some() && !self.catch_up_scheduled {
            self.catch_up_scheduled = true;
            ctx.run_later(CATCH_UP_EVERY, |hub, ctx| {
                hub.catch_up_scheduled = false;
                hub.catch_up(ctx);
            });
        }
    }
}

/// Queues a batch form for one member, or evicts it when its backlog would
/// pass the limit; false when it is no longer a member.
fn deliver(guild: &str, setup: &Setup, m: &Join, form: &Framed, since: Instant) -> bool {
    // A session whose reader stalled is not even polled any more; its
    // meter is the only place its backlog shows.
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
    log::warn!(
        "hub {guild}: session {} is not reading ({refused}, {queued} bytes queued); evicting it",
        m.id
    );
    // `do_send` ignores the mailbox bound; sent once, as the member is
    // removed by the caller.
    m.evict.do_send(Evict);
    false
}

/// A batch's wire forms, each made once, the first time a member needs it:
/// everything, or everything but the presences, each plain or compressed.
struct Forms<'a> {
    all: &'a [ByteString],
    others: &'a [ByteString],
    settings: Settings,
    made: [Option<Framed>; 4],
    /// Members that took each compressed form.
    compressed_takers: [u64; 2],
}

impl<'a> Forms<'a> {
    fn new(all: &'a [ByteString], others: &'a [ByteString], settings: Settings) -> Forms<'a> {
        Forms {
            all,
            others,
            settings,
            made: [None, None, None, None],
            compressed_takers: [0, 0],
        }
    }

    fn all(&mut self, compressed: bool) -> &Framed {
        self.form(false, compressed)
    }

    /// The batch without its presences; `None` when that is nothing.
    fn others(&mut self, compressed: bool) -> Option<&Framed> {
        if self.others.is_empty() {
            return None;
        }
        Some(self.form(true, compressed))
    }

    fn form(&mut self, others: bool, compressed: bool) -> &Framed {
        let i = usize::from(others) * 2 + usize::from(compressed);
        if compressed {
            self.compressed_takers[usize::from(others)] += 1;
        }
        let frames = if others { self.others } else { self.all };
        let settings = self.settings;
        self.made[i].get_or_insert_with(|| Framed::new(frames, compressed, settings))
    }

    /// Counts what compression did for the members that took it.
    fn count(&self, metrics: &Metrics) {
        for others in [false, true] {
            let i = usize::from(others) * 2 + 1;
            if let Some(form) = &self.made[i] {
                let n = self.compressed_takers[usize::from(others)];
                let (before, after) = form.compressed;
                metrics.compressed("broadcast", before * n, after * n);
            }
        }
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
    fn handle(&mut self, join: Join, _: &mut Context<Self>) {
        self.members.push(Member { join, behind: None });
    }
}

impl Handler<Leave> for Hub {
    type Result = ();
    fn handle(&mut self, Leave(id): Leave, _: &mut Context<Self>) {
        // Idempotent: an evicted member is already gone.
        if let Some(i) = self.members.iter().position(|m| m.join.id == id) {
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
        self.pending.push(msg);
        if behind == 0 || self.pending.len() >= MAX_BATCH {
            // Nothing else is waiting (the hub is idle: send at once), or a
            // burst filled a batch (bound what waits here).
            self.flush(ctx);
        } else if !self.flush_scheduled {
            // More broadcasts are already in the mailbox: the last of them
            // flushes the batch. The timer is only a bound, for a counted
            // broadcast whose sender gave up before it was delivered.
            self.flush_scheduled = true;
            ctx.run_later(self.setup.batch_window, |hub, ctx| {
                hub.flush_scheduled = false;
                hub.flush(ctx);
            });
        }
        // Sessions this broadcast is queued for (evictions may follow).
        self.members.len()
    }
}

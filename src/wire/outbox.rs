//! `Outbox`: the session's bounded, ordered queue of outgoing text frames,
//! where its hubs hand their batches and the session puts its own frames.
//!
//! Why: at 10 broadcasts/s to a thousand viewers, a delivery through the
//! session's mailbox cost an envelope and a queue node, a wake-up of the
//! session's context (which then polls every timer and stream the actor
//! has), and a copy of the frame into the context's write buffer, for a
//! frame the session only passes on. The hub instead pushes the batch
//! here, its frames encoded for the wire once for every member (plain, or
//! compressed once for the members that negotiated compression), and wakes
//! the connection's writer ([`crate::ws::outgoing`]), which writes the shared
//! bytes as they are and polls the session's context only when the
//! context itself was woken. The session actor still owns everything else:
//! it joins and leaves hubs, closes the outbox when it closes, and is
//! evicted by a message as before.
//!
//! The session's own text frames (the greeting, its `server-join`, errors)
//! go through the same queue ([`Outbox::own`]), so they and the hubs'
//! frames leave in the order they were queued, and a compressed frame the
//! session shares with others (a guild's user map) is written from the
//! same shared bytes. Only control frames (ping, pong, close) go through
//! the context, behind the text frames queued before them.
//!
//! Each membership gets a generation ([`Outbox::renew`]): batches a hub
//! pushed for an older membership (the session has since left it or moved
//! to another server) are dropped, never written after the new
//! `server-join`.
//!
//! A membership starts *held*: the session enters its hub before it reads
//! the guild's users, so no broadcast can fall between the read and the
//! subscription. What the hub pushes meanwhile is kept aside, in order, and
//! [`Outbox::release`] queues the `server-join` and then everything held
//! behind it: the viewer gets the snapshot and every broadcast sent after
//! it was read, in the hub's order.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::task::Context;
use std::time::Instant;

use bytes::Bytes;
use futures_util::task::AtomicWaker;

use crate::lock::lock;
use crate::metrics::Metrics;
use crate::wire::outbound::Meter;

/// A batch as the hub pushed it, or frames of the session's own.
pub(crate) struct Queued {
    /// The membership it was pushed for; [`OWN`] for the session's own.
    generation: u64,
    /// Wire bytes, in order ([`crate::wire::outbound::frame`]).
    chunks: Arc<[Bytes]>,
    /// When its oldest broadcast reached the hub (the latency metric).
    since: Instant,
}

/// The generation of the session's own frames: never stale.
const OWN: u64 = u64::MAX;

/// What became of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued, and the connection woken.
    Queued,
    /// Queued for a membership the session has ended; dropped.
    Stale,
    /// [`Outbox::capacity`] batches are already waiting.
    Full,
    /// The session has closed.
    Closed,
}

#[derive(Default)]
struct Inner {
    batches: VecDeque<Queued>,
    generation: u64,
    /// The current membership is held (its `server-join` is not queued
    /// yet): its hub's frames wait here, in order.
    held: Option<Held>,
    closed: bool,
}

/// A held membership's frames, waiting for its `server-join`.
struct Held {
    chunks: Vec<Bytes>,
    /// When the oldest of them reached the hub.
    since: Option<Instant>,
}

impl Held {
    fn wire(&self) -> u64 {
        self.chunks.iter().map(|c| c.len() as u64).sum()
    }
}

/// One taken-over connection's queue of hub batches.
pub(crate) struct Outbox {
    inner: Mutex<Inner>,
    /// The connection's pump, woken by a push.
    waker: AtomicWaker,
    /// Hub batches waiting at most (`Config::max_backlog_frames`).
    capacity: usize,
    meter: Arc<Meter>,
    metrics: Arc<Metrics>,
    /// The connection negotiated permessage-deflate: hubs push it their
    /// compressed batch.
    compressed: bool,
}

impl Outbox {
    pub(crate) fn new(
        capacity: usize,
        meter: Arc<Meter>,
        metrics: Arc<Metrics>,
        compressed: bool,
    ) -> Arc<Outbox> {
        Arc::new(Outbox {
            inner: Mutex::default(),
            waker: AtomicWaker::new(),
            capacity: capacity.max(1),
            meter,
            metrics,
            compressed,
        })
    }

    /// Half its batches' room is taken: a hub sends it no more presences
    /// in batches (they follow as it drains, see `crate::hub::catchup`).
    pub(crate) fn crowded(&self) -> bool {
        lock(&self.inner).batches.len() >= self.capacity / 2
    }

    /// Whether the connection takes compressed frames.
    pub(crate) fn compressed(&self) -> bool {
        self.compressed
    }

    /// Queues the session's own frame (its wire bytes, in order) behind
    /// what waits, and counts it in the meter. The session only runs inside
    /// its writer's poll, which drains the outbox right after, so nothing
    /// is woken. Dropped once the outbox is closed.
    pub(crate) fn own(&self, chunks: Vec<Bytes>) {
        let wire = chunks.iter().map(|c| c.len() as u64).sum();
        let mut inner = lock(&self.inner);
        if inner.closed {
            return;
        }
        self.meter.add(wire);
        inner.batches.push_back(Queued {
            generation: OWN,
            chunks: chunks.into(),
            since: Instant::now(),
        });
    }

    /// Ends the current membership and starts the next, held until
    /// [`release`](Self::release): the generation a hub `Join` is
    /// registered with. Batches of older ones are dropped.
    pub(crate) fn renew(&self) -> u64 {
        let mut inner = lock(&self.inner);
        inner.generation += 1;
        let old = inner.held.replace(Held {
            chunks: Vec::new(),
            since: None,
        });
        if let Some(old) = old {
            self.meter.dropped(old.wire());
        }
        inner.generation
    }

    /// Queues the `server-join` of membership `generation` (its wire
    /// chunks) and, behind it, what its hub pushed while it was held; from
    /// now on the hub's batches queue directly. The join's bytes are exempt
    /// from the hub's backlog limit until written (see
    /// [`Meter::exempt`]): a viewer is never evicted for the size of its
    /// own join. False when the membership has ended meanwhile.
    pub(crate) fn release(&self, generation: u64, join: Vec<Bytes>) -> bool {
        let wire: u64 = join.iter().map(|c| c.len() as u64).sum();
        {
            let mut inner = lock(&self.inner);
            if inner.closed || inner.generation != generation {
                return false;
            }
            let Some(held) = inner.held.take() else {
                return false;
            };
            let ahead: u64 = inner.batches.iter().map(Queued::wire).sum();
            if wire > 0 {
                self.meter.exempt(ahead, wire);
                self.meter.add(wire);
                inner.batches.push_back(Queued {
                    generation: OWN,
                    chunks: join.into(),
                    since: Instant::now(),
                });
            }
            if !held.chunks.is_empty() {
                inner.batches.push_back(Queued {
                    generation,
                    since: held.since.unwrap_or_else(Instant::now),
                    chunks: held.chunks.into(),
                });
            }
        }
        self.waker.wake();
        true
    }

    /// Nothing more is queued, and the hubs' batches that wait are dropped
    /// (the session's own frames still go out, before its Close).
    /// Idempotent.
    pub(crate) fn close(&self) {
        let dropped: VecDeque<Queued> = {
            let mut inner = lock(&self.inner);
            inner.closed = true;
            if let Some(held) = inner.held.take() {
                self.meter.dropped(held.wire());
            }
            let (own, hubs) = std::mem::take(&mut inner.batches)
                .into_iter()
                .partition(|q| q.generation == OWN);
            inner.batches = own;
            hubs
        };
        let wire = dropped.iter().map(Queued::wire).sum();
        self.meter.dropped(wire);
        self.waker.wake();
    }

    /// A hub's batch for the membership `generation`. The hub has counted
    /// its wire bytes in the session's meter already.
    pub(crate) fn push(&self, generation: u64, frames: &Arc<[Bytes]>, since: Instant) -> Pushed {
        {
            let mut inner = lock(&self.inner);
            if inner.closed {
                return Pushed::Closed;
            }
            if inner.generation != generation {
                return Pushed::Stale;
            }
            if let Some(held) = inner.held.as_mut() {
                // Not woken: nothing is written before the release.
                held.since.get_or_insert(since);
                held.chunks.extend(frames.iter().cloned());
                return Pushed::Queued;
            }
            if inner.batches.len() >= self.capacity {
                return Pushed::Full;
            }
            inner.batches.push_back(Queued {
                generation,
                chunks: frames.clone(),
                since,
            });
        }
        self.waker.wake();
        Pushed::Queued
    }

    /// Hands every waiting frame of the current membership to `each`, in
    /// order, and registers `cx` to be woken by the next push. `spare` is
    /// the caller's (empty) queue, swapped in so neither side allocates
    /// per batch. Batches of ended memberships leave the meter unwritten.
    pub(crate) fn drain(
        &self,
        cx: &Context<'_>,
        spare: &mut VecDeque<Queued>,
        mut each: impl FnMut(&Bytes),
    ) {
        // Registered first: a push after the swap below wakes us.
        self.waker.register(cx.waker());
        let generation = {
            let mut inner = lock(&self.inner);
            if inner.batches.is_empty() {
                return;
            }
            std::mem::swap(&mut inner.batches, spare);
            inner.generation
        };
        for batch in spare.drain(..) {
            if batch.generation == OWN {
                batch.chunks.iter().for_each(&mut each);
            } else if batch.generation == generation {
                batch.chunks.iter().for_each(&mut each);
                self.metrics
                    .delivered(batch.chunks.len(), batch.since.elapsed());
            } else {
                self.meter.dropped(batch.wire());
            }
        }
    }
}

impl Queued {
    fn wire(&self) -> u64 {
        self.chunks.iter().map(|c| c.len() as u64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::outbound::{text_frame, wire_len};
    use std::task::Waker;

    fn outbox(capacity: usize) -> (Arc<Outbox>, Arc<Meter>) {
        let meter = Arc::new(Meter::default());
        let metrics = Arc::new(Metrics::new());
        (Outbox::new(capacity, meter.clone(), metrics, false), meter)
    }

    fn batch(frames: &[&str]) -> Arc<[Bytes]> {
        frames.iter().map(|f| text_frame(f.as_bytes())).collect()
    }

    /// The payloads drained (each frame here has a two-byte header).
    fn drained(outbox: &Outbox) -> Vec<String> {
        let mut out = Vec::new();
        let cx = Context::from_waker(Waker::noop());
        outbox.drain(&cx, &mut VecDeque::new(), |f| {
            out.push(String::from_utf8_lossy(&f[2..]).into_owned())
        });
        out
    }

    #[test]
    fn batches_of_the_current_membership_come_out_in_order() {
        let (o, _) = outbox(8);
        let g = o.renew();
        assert!(o.release(g, Vec::new()));
        assert_eq!(
            o.push(g, &batch(&["a", "b"]), Instant::now()),
            Pushed::Queued
        );
        assert_eq!(o.push(g, &batch(&["c"]), Instant::now()), Pushed::Queued);
        assert_eq!(drained(&o), ["a", "b", "c"]);
        assert!(drained(&o).is_empty());
    }

    #[test]
    fn an_ended_membership_is_stale_and_its_queued_bytes_leave_the_meter() {
        let (o, meter) = outbox(8);
        let old = o.renew();
        o.release(old, Vec::new());
        meter.add(wire_len(3));
        assert_eq!(
            o.push(old, &batch(&["old"]), Instant::now()),
            Pushed::Queued
        );
        let new = o.renew();
        o.release(new, Vec::new());
        assert_eq!(
            o.push(old, &batch(&["late"]), Instant::now()),
            Pushed::Stale
        );
        assert_eq!(
            o.push(new, &batch(&["new"]), Instant::now()),
            Pushed::Queued
        );
        assert_eq!(
            drained(&o),
            ["new"],
            "the old membership's batch is dropped"
        );
        assert_eq!(meter.backlog(), 0, "and uncounted");
    }

    #[test]
    fn full_and_closed_are_refused() {
        let (o, _) = outbox(1);
        let g = o.renew();
        o.release(g, Vec::new());
        assert_eq!(o.push(g, &batch(&["a"]), Instant::now()), Pushed::Queued);
        assert_eq!(o.push(g, &batch(&["b"]), Instant::now()), Pushed::Full);
        o.close();
        assert_eq!(o.push(g, &batch(&["c"]), Instant::now()), Pushed::Closed);
        assert!(drained(&o).is_empty(), "closing drops what waited");
    }

    #[test]
    fn own_frames_keep_their_place_and_outlive_the_close() {
        let (o, meter) = outbox(8);
        let g = o.renew();
        o.release(g, Vec::new());
        o.own(vec![text_frame(b"join")]);
        meter.add(wire_len(3));
        o.push(g, &batch(&["hub"]), Instant::now());
        o.own(vec![text_frame(b"error")]);
        o.close();
        assert_eq!(drained(&o), ["join", "error"], "the hub's batch is dropped");
        o.own(vec![text_frame(b"late")]);
        assert!(drained(&o).is_empty(), "nothing is queued after the close");
        assert_eq!(meter.backlog(), (2 + 4) + (2 + 5), "own frames are metered");
    }

    #[test]
    fn a_held_membership_gets_its_join_first_then_what_the_hub_sent_meanwhile() {
        let (o, meter) = outbox(8);
        let g = o.renew();
        meter.add(wire_len(1) * 2);
        assert_eq!(o.push(g, &batch(&["a"]), Instant::now()), Pushed::Queued);
        assert_eq!(o.push(g, &batch(&["b"]), Instant::now()), Pushed::Queued);
        assert!(drained(&o).is_empty(), "nothing leaves before the join");
        assert!(o.release(g, vec![text_frame(b"join")]));
        o.push(g, &batch(&["c"]), Instant::now());
        assert_eq!(drained(&o), ["join", "a", "b", "c"]);
        assert!(!o.release(g, Vec::new()), "released once");
    }

    #[test]
    fn a_held_membership_that_ends_drops_what_it_held() {
        let (o, meter) = outbox(8);
        let g = o.renew();
        meter.add(wire_len(1));
        o.push(g, &batch(&["a"]), Instant::now());
        let next = o.renew();
        assert!(!o.release(g, vec![text_frame(b"stale join")]));
        assert_eq!(meter.backlog(), 0, "the held frame left the meter");
        assert!(o.release(next, vec![text_frame(b"join")]));
        assert_eq!(drained(&o), ["join"]);
    }

    #[test]
    fn the_join_is_exempt_from_the_backlog_until_written() {
        let (o, meter) = outbox(8);
        o.own(vec![text_frame(b"hello")]);
        let g = o.renew();
        let join = text_frame(&[b'x'; 1000]);
        let len = join.len() as u64;
        assert!(o.release(g, vec![join]));
        let greeting = wire_len(5);
        assert_eq!(meter.backlog(), greeting + len);
        assert_eq!(meter.backlog_beyond_join(), greeting);
        meter.add(10);
        assert_eq!(meter.backlog_beyond_join(), greeting + 10);
        meter.taken((greeting + len / 2) as usize);
        assert_eq!(meter.backlog_beyond_join(), 10, "half the join written");
        meter.taken((len - len / 2) as usize);
        assert_eq!(meter.backlog_beyond_join(), 10);
        assert_eq!(meter.backlog(), 10);
    }
}

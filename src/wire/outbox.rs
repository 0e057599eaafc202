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
    closed: bool,
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

    /// Ends the current membership and starts the next: the generation a
    /// hub `Join` is registered with. Batches of older ones are dropped.
    pub(crate) fn renew(&self) -> u64 {
        let mut inner = lock(&self.inner);
        inner.generation += 1;
        inner.generation
    }

    /// Nothing more is queued, and the hubs' batches that wait are dropped
    /// (the session's own frames still go out, before its Close).
    /// Idempotent.
    pub(crate) fn close(&self) {
        let dropped: VecDeque<Queued> = {
            let mut inner = lock(&self.inner);
            inner.closed = true;
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
        meter.add(wire_len(3));
        assert_eq!(
            o.push(old, &batch(&["old"]), Instant::now()),
            Pushed::Queued
        );
        let new = o.renew();
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
}

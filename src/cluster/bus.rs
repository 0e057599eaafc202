//! Publishing: one task takes every broadcast of this instance from a
//! bounded queue, in order, and PUBLISHes it on its guild's channel (a
//! burst goes out as one pipeline, still in order). Every instance, this
//! one included, delivers what its subscription receives, so Redis's
//! order on a channel is the one order every viewer of that guild sees.
//!
//! While Redis is down (or a publish fails) the broadcast is delivered to
//! this instance's viewers at once instead, so local viewers still get it.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::hub::broadcast::Broadcast;

use super::{channel, Cluster};

/// Broadcasts that may wait for the publisher; past this `publish` drops
/// (counted, logged rarely), as a full hub does.
pub(super) const QUEUE: usize = 65_536;

/// Broadcasts sent in one pipeline at most.
const BURST: usize = 256;

/// One broadcast for the publisher, and who waits for it to be sent.
pub(super) struct Outgoing {
    broadcast: Broadcast,
    sent: Option<oneshot::Sender<()>>,
}

impl Cluster {
    /// Queues a broadcast for every instance without waiting; dropped
    /// (counted) when the queue is full.
    pub(crate) fn publish(&self, broadcast: Broadcast) {
        let out = Outgoing {
            broadcast,
            sent: None,
        };
        match self.outgoing.try_send(out) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.redis_event("dropped");
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n == 1 || (n.is_power_of_two() && n >= 1 << 16) {
                    log::warn!("the Redis publish queue is full: {n} broadcasts dropped so far");
                }
            }
            // The publisher is gone (the server is stopping): local only.
            Err(mpsc::error::TrySendError::Closed(out)) => self.registry.broadcast(out.broadcast),
        }
    }

    /// Queues a broadcast, waiting for room and for it to be sent (which
    /// paces a caller to the publisher); answers the sessions of this
    /// instance that watch its guild.
    pub(crate) async fn publish_counted(&self, broadcast: Broadcast) -> usize {
        let watching = self.registry.members(broadcast.server());
        let (tx, rx) = oneshot::channel();
        let out = Outgoing {
            broadcast,
            sent: Some(tx),
        };
        match self.outgoing.send(out).await {
            Ok(()) => {
                let _ = rx.await;
            }
            Err(mpsc::error::SendError(out)) => {
                return self.registry.broadcast_counted(out.broadcast).await;
            }
        }
        watching
    }
}

/// The publisher task: in order, through Redis when it is up, else locally.
pub(super) async fn run(cluster: Arc<Cluster>, mut rx: mpsc::Receiver<Outgoing>) {
    let mut burst = Vec::with_capacity(BURST);
    while rx.recv_many(&mut burst, BURST).await > 0 {
        let published = match cluster.commands() {
            Some(conn) => publish_all(conn, &burst).await,
            None => false,
        };
        let mut presence = false;
        for out in burst.drain(..) {
            presence |= matches!(out.broadcast, Broadcast::Presence(_));
            if published {
                cluster.metrics.redis_event("published");
            } else {
                cluster.metrics.redis_event("local_fallback");
                cluster.registry.broadcast(out.broadcast);
            }
            if let Some(sent) = out.sent {
                let _ = sent.send(());
            }
        }
        if presence {
            cluster.snapshot_due.notify_one();
        }
    }
}

/// PUBLISHes a burst as one pipeline; false when it did not go out.
async fn publish_all(mut conn: redis::aio::ConnectionManager, burst: &[Outgoing]) -> bool {
    let mut pipe = redis::pipe();
    for out in burst {
        pipe.publish(channel(out.broadcast.server()), out.broadcast.encode())
            .ignore();
    }
    match tokio::time::timeout(super::OP_TIMEOUT, pipe.query_async::<()>(&mut conn)).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            log::debug!("redis publish failed ({e}); delivering locally");
            false
        }
        Err(_) => {
            log::debug!("redis publish timed out; delivering locally");
            false
        }
    }
}

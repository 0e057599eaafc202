//! Identifies paced as Discord wants them: one per bucket
//! (`shard_id % max_concurrency`) per `identify_interval` (five seconds).
//!
//! Each bucket is a task that lets its shards go one at a time. When
//! instances of a split bot share Redis, a turn is also a key
//! (`d-back:identify:{bucket}`, set only if absent, expiring after the
//! interval), so two machines never identify in one bucket within the
//! interval. A Redis that does not answer is not waited for: the local
//! pace still holds, and the line that says so is logged once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use twilight_gateway::queue::Queue;

/// A turn lasts the interval and a tenth more: an IDENTIFY reaches
/// Discord a little after its turn began, and two in a row must arrive an
/// interval apart whatever each one's delay.
fn turn(interval: Duration) -> Duration {
    interval + interval / 10
}

/// How long one Redis command may take before the turn goes on without it.
const REDIS_PATIENCE: Duration = Duration::from_secs(1);

/// The shared identify queue of this instance's shards (cheap to clone:
/// every shard's config holds one).
#[derive(Clone, Debug)]
pub(crate) struct IdentifyQueue {
    /// One sender per bucket; a shard's turn is a oneshot it waits on.
    buckets: Arc<[mpsc::UnboundedSender<oneshot::Sender<()>>]>,
}

impl IdentifyQueue {
    /// Starts one pacing task per bucket on the current runtime; they end
    /// when the last clone of the queue is dropped.
    pub(crate) fn new(max_concurrency: u16, interval: Duration, redis_url: Option<&str>) -> Self {
        let lock = redis_url.and_then(|url| match redis::Client::open(url) {
            Ok(c) => Some(Arc::new(Turns {
                client: c,
                warned: AtomicBool::new(false),
            })),
            Err(e) => {
                log::warn!("discord: identifies are not coordinated through Redis ({e}); each instance paces its own");
                None
            }
        });
        let buckets: Vec<_> = (0..max_concurrency.max(1))
            .map(|bucket| {
                let (tx, rx) = mpsc::unbounded_channel();
                actix_web::rt::spawn(pace(u32::from(bucket), rx, interval, lock.clone()));
                tx
            })
            .collect();
        IdentifyQueue {
            buckets: buckets.into(),
        }
    }
}

impl Queue for IdentifyQueue {
    fn enqueue(&self, shard: u32) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let bucket = shard as usize % self.buckets.len();
        // A closed bucket drops `tx`, and twilight asks again.
        let _ = self.buckets[bucket].send(tx);
        rx
    }
}

/// One bucket: a turn per `interval`, in the order asked.
async fn pace(
    bucket: u32,
    mut asks: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
    interval: Duration,
    turns: Option<Arc<Turns>>,
) {
    let mut conn: Option<ConnectionManager> = None;
    let mut next = Instant::now();
    while let Some(go) = asks.recv().await {
        tokio::time::sleep_until(next).await;
        if let Some(t) = &turns {
            t.take(&mut conn, bucket, interval).await;
        }
        if go.send(()).is_ok() {
            next = Instant::now() + turn(interval);
        }
    }
}

/// Turns shared between instances through Redis.
struct Turns {
    client: redis::Client,
    /// The "Redis does not answer" line is logged once.
    warned: AtomicBool,
}

impl Turns {
    /// Waits until this instance holds the bucket's key for `interval`.
    async fn take(&self, conn: &mut Option<ConnectionManager>, bucket: u32, interval: Duration) {
        let key = format!("d-back:identify:{bucket}");
        let ms = turn(interval).as_millis().max(1) as u64;
        loop {
            if conn.is_none() {
                match tokio::time::timeout(REDIS_PATIENCE, self.client.get_connection_manager())
                    .await
                {
                    Ok(Ok(c)) => *conn = Some(c),
                    _ => return self.unreachable(),
                }
            }
            let Some(c) = conn.as_mut() else { return };
            let mut set = redis::cmd("SET");
            set.arg(&key)
                .arg(std::process::id())
                .arg("NX")
                .arg("PX")
                .arg(ms);
            match tokio::time::timeout(REDIS_PATIENCE, set.query_async::<Option<String>>(c)).await {
                Ok(Ok(Some(_))) => return,
                Ok(Ok(None)) => {
                    // Another instance's turn: wait out what is left of it.
                    let mut left = redis::cmd("PTTL");
                    left.arg(&key);
                    let left = left.query_async::<i64>(c);
                    let wait = match tokio::time::timeout(REDIS_PATIENCE, left).await {
                        Ok(Ok(ms)) if ms > 0 => Duration::from_millis(ms as u64),
                        _ => Duration::from_millis(50),
                    };
                    tokio::time::sleep(wait).await;
                }
                _ => return self.unreachable(),
            }
        }
    }

    fn unreachable(&self) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            log::warn!("discord: Redis does not answer; identifies are paced by this instance alone until it does");
        }
    }
}

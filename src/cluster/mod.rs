//! Several d-back instances joined by Redis (`Config::redis_url`), so
//! they can run behind any load balancer.
//!
//! What goes through Redis, and only when a URL is set:
//!
//! * broadcasts: every one is PUBLISHed on its guild's channel and every
//!   instance delivers what its subscription receives, its own included,
//!   so each viewer gets each broadcast once, in Redis's order per guild
//!   (`bus`, `subscriptions`);
//! * the server list, users and client ids: an instance with a data source
//!   writes a snapshot that `--source redis` instances answer from
//!   (`snapshot`, `source`). A guild's users are a hash that every presence
//!   PUBLISHed updates in the same script (`bus`), so a viewer who
//!   subscribes and then reads it misses nothing;
//! * the authentication throttle and the validation cache (`limits`).
//!
//! When Redis is down each instance keeps serving its own viewers (local
//! broadcasts are delivered locally), `/readyz` says so, and the
//! subscription task reconnects with backoff, resubscribes and resyncs the
//! viewers' presences from the snapshot. No session or hub ever waits for
//! Redis: all of it runs in tasks fed by bounded channels or by wake-ups.
//!
//! # Layout
//!
//! * `bus`: publishing, in order, with the local fallback.
//! * `subscriptions`: the pub/sub connection: (un)subscribe as hubs start
//!   and stop, deliver, reconnect, resync.
//! * `snapshot`: the writer of the server list, users and client ids.
//! * `source`: the callbacks of a `--source redis` instance.
//! * `split`: a bot split over machines: each instance's part of the
//!   server list, and the union every instance serves.
//! * `limits`: the shared authentication throttle and validation cache.

mod bus;
mod limits;
mod snapshot;
mod source;
mod split;
mod subscriptions;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::{mpsc, Notify};

use crate::config::{Config, DataSource};
use crate::health::Flag;
use crate::hub::registry::Registry;
use crate::lock::lock;
use crate::metrics::Metrics;
use crate::providers::Callbacks;

pub(crate) use limits::hashed;

/// How long one Redis command may take before the caller falls back.
const OP_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a join waits for the subscription to its guild.
const SUBSCRIBE_PATIENCE: Duration = Duration::from_secs(2);

/// What `/readyz` says while Redis is not reachable.
pub(crate) const REDIS_DOWN: &str = "degraded: redis unreachable";

/// The pub/sub channel of a guild's broadcasts.
fn channel(guild: &str) -> String {
    format!("d-back:{guild}")
}

/// The key of the server list snapshot.
const SERVERS_KEY: &str = "d-back:servers";

/// The key of a guild's users snapshot: a hash from uid to the user as
/// `server-join` sends it, plus its place in the list (`pos`).
fn members_key(guild: &str) -> String {
    format!("d-back:members:{guild}")
}

/// The key of the next `pos` for a member added by a presence.
fn members_next_key(guild: &str) -> String {
    format!("d-back:members-next:{guild}")
}

/// The key of a guild's client id snapshot.
fn client_id_key(guild: &str) -> String {
    format!("d-back:client-id:{guild}")
}

/// This process's link to the other instances.
pub(crate) struct Cluster {
    client: redis::Client,
    /// Up while the subscription is, which is when broadcasts go through
    /// Redis; backs the `/readyz` check.
    connected: Arc<Flag>,
    /// Commands (publish, snapshot, limits): a new one per connect of the
    /// subscription, reconnecting by itself in between.
    commands: Mutex<Option<ConnectionManager>>,
    registry: Arc<Registry>,
    metrics: Arc<Metrics>,
    /// Broadcasts waiting for the publisher, in order.
    outgoing: mpsc::Sender<bus::Outgoing>,
    /// Broadcasts dropped at a full publisher queue, for the rare log line.
    dropped: AtomicU64,
    /// The publisher's end, taken when the server runs.
    outgoing_rx: Mutex<Option<mpsc::Receiver<bus::Outgoing>>>,
    /// Woken by the registry when a hub starts or stops.
    hubs_changed: Arc<Notify>,
    /// Guilds whose channel this instance's subscription listens to now.
    live: Mutex<HashSet<Arc<str>>>,
    /// Woken (all waiters) when `live` grows.
    live_changed: Notify,
    /// Woken when the whole snapshot is to be written again.
    snapshot_due: Arc<Notify>,
    /// Broadcasts queued per guild ([`Cluster::published`]).
    published: Mutex<bus::Published>,
    /// Redis came back (maybe empty): the writer rewrites every key.
    rewrite: AtomicBool,
    source: DataSource,
    snapshot_every: Duration,
    /// The last value read for each snapshot key, answered while Redis is
    /// down (bounded by the guilds of the server list).
    last_read: Mutex<HashMap<String, Option<String>>>,
    /// Legacy passwords of the snapshot's servers, as (salt, salted hash)
    /// by snowflake (a `--source redis` instance).
    passwords: Mutex<HashMap<String, (String, String)>>,
    /// This writer's salt for the legacy passwords it writes.
    salt: String,
    /// This instance's part of a split bot's server list (its shard
    /// range), written under a key of its own (see `split`).
    part: Option<String>,
    /// The parts named in Redis when last read, answered while it is down.
    parts_read: Mutex<Vec<String>>,
    /// The callbacks the snapshot writer reads when they differ from the
    /// served ones (a split bot's own, without the other parts).
    writer_callbacks: Mutex<Option<Callbacks>>,
}

impl Cluster {
    /// Checks the URL; nothing connects until [`start`](Self::start).
    pub(crate) fn new(
        config: &Config,
        part: Option<String>,
        registry: Arc<Registry>,
        metrics: Arc<Metrics>,
    ) -> io::Result<Option<Arc<Cluster>>> {
        let Some(url) = config.redis_url.as_deref() else {
            if config.source == DataSource::Redis {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "--source redis needs a Redis URL (--redis-url)",
                ));
            }
            return Ok(None);
        };
        // The URL may hold a password: the error names neither.
        let client = redis::Client::open(url).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the Redis URL is not valid ({:?})", e.kind()),
            )
        })?;
        let (outgoing, rx) = mpsc::channel(bus::QUEUE);
        let hubs_changed = Arc::new(Notify::new());
        registry.watch_hubs(hubs_changed.clone());
        Ok(Some(Arc::new(Cluster {
            client,
            connected: Flag::new(REDIS_DOWN),
            commands: Mutex::new(None),
            registry,
            metrics,
            outgoing,
            dropped: AtomicU64::new(0),
            outgoing_rx: Mutex::new(Some(rx)),
            hubs_changed,
            live: Mutex::new(HashSet::new()),
            live_changed: Notify::new(),
            snapshot_due: Arc::new(Notify::new()),
            published: Mutex::new(bus::Published::new()),
            rewrite: AtomicBool::new(true),
            source: config.source,
            snapshot_every: config.snapshot_every,
            last_read: Mutex::new(HashMap::new()),
            passwords: Mutex::new(HashMap::new()),
            salt: format!("{:032x}", rand::random::<u128>()),
            part,
            parts_read: Mutex::new(Vec::new()),
            writer_callbacks: Mutex::new(None),
        })))
    }

    /// The `/readyz` condition "Redis is reachable".
    pub(crate) fn ready(&self) -> crate::health::Check {
        self.connected.check()
    }

    /// Starts the publisher, the subscription and (with a local data
    /// source) the snapshot writer, on the current actix system.
    pub(crate) fn start(self: &Arc<Self>, callbacks: &Callbacks, provider_timeout: Duration) {
        if let Some(rx) = lock(&self.outgoing_rx).take() {
            actix_web::rt::spawn(bus::run(self.clone(), rx));
        }
        actix_web::rt::spawn(subscriptions::run(self.clone()));
        if self.source == DataSource::Local {
            let own = lock(&self.writer_callbacks).take();
            let providers = crate::providers::Providers::start(
                own.as_ref().unwrap_or(callbacks),
                provider_timeout,
                self.metrics.clone(),
            );
            actix_web::rt::spawn(snapshot::run(self.clone(), providers));
        }
    }

    /// The callbacks of a `--source redis` instance, installed over
    /// `callbacks` (see `source`).
    pub(crate) fn install_source(self: &Arc<Self>, callbacks: &mut Callbacks) {
        if self.source == DataSource::Redis {
            source::install(self, callbacks);
        } else if self.part.is_some() {
            split::install(self, callbacks);
        }
    }

    fn set_connected(&self, up: bool) {
        self.connected.set(up);
        self.metrics.redis_connected(up);
    }

    /// The command connection, while Redis is reachable.
    fn commands(&self) -> Option<ConnectionManager> {
        if !self.connected.is_up() {
            return None;
        }
        lock(&self.commands).clone()
    }

    /// Runs one command with the command connection and [`OP_TIMEOUT`];
    /// `None` when Redis is down, slow or failing (the caller falls back).
    async fn run<T, F, Fut>(&self, what: &str, f: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let conn = self.commands()?;
        match tokio::time::timeout(OP_TIMEOUT, f(conn)).await {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                log::debug!("redis {what} failed: {e}");
                None
            }
            Err(_) => {
                log::debug!("redis {what} took longer than {OP_TIMEOUT:?}");
                None
            }
        }
    }

    /// Returns once this instance's subscription listens to `guild`'s
    /// channel, so a join can read its users knowing every later broadcast
    /// reaches the hub; at once while Redis is down (broadcasts are local
    /// then), and after [`SUBSCRIBE_PATIENCE`] at most.
    pub(crate) async fn subscribed(&self, guild: &str) {
        let deadline = tokio::time::Instant::now() + SUBSCRIBE_PATIENCE;
        loop {
            let changed = self.live_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if !self.connected.is_up() || lock(&self.live).contains(guild) {
                return;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                log::warn!("redis: the subscription to {guild} is not live after {SUBSCRIBE_PATIENCE:?}; joining anyway");
                return;
            }
        }
    }

    /// The subscription now listens to exactly these guilds.
    fn set_live(&self, guilds: &HashSet<Arc<str>>) {
        *lock(&self.live) = guilds.clone();
        self.live_changed.notify_waiters();
    }

    /// Asks the snapshot writer for a full rewrite (Redis came back).
    fn rewrite_snapshot(&self) {
        self.rewrite.store(true, Ordering::Relaxed);
        self.snapshot_due.notify_one();
    }
}

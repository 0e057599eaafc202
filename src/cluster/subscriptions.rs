//! The pub/sub connection: one task that SUBSCRIBEs to the channel of
//! every guild with a hub here and UNSUBSCRIBEs when its hub stops (the
//! registry wakes it; it reads the set itself, so wake-ups coalesce and
//! never queue), and hands every message received to the local hub.
//!
//! It also owns the connection state: when the connection is lost it marks
//! Redis down (broadcasts then stay local), reconnects with backoff, makes
//! a fresh command connection, resubscribes to the guilds that still have
//! hubs, and resyncs their viewers' presences from the snapshot.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSubSink};
use redis::{IntoConnectionInfo, Msg};

use crate::hub::broadcast::Broadcast;
use crate::lock::lock;
use crate::protocol::model::{Presence, User};

use super::{channel, Cluster, OP_TIMEOUT};

/// The first wait after a failed connect; doubled up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How often the idle subscription is pinged, to notice a dead Redis.
const PING_EVERY: Duration = Duration::from_secs(1);

/// How long a resync waits for the writer to (re)write a guild's users.
const RESYNC_PATIENCE: Duration = Duration::from_secs(10);

/// Connects, serves until the connection is lost, and starts over, forever.
pub(super) async fn run(cluster: Arc<Cluster>) {
    let mut backoff = MIN_BACKOFF;
    let mut was_up = false;
    let mut logged_down = false;
    let addr = match cluster
        .client
        .get_connection_info()
        .clone()
        .into_connection_info()
    {
        Ok(info) => info.addr.to_string(),
        Err(_) => "redis".to_string(),
    };
    loop {
        match connect(&cluster).await {
            Ok(pubsub) => {
                backoff = MIN_BACKOFF;
                logged_down = false;
                log::info!("connected to Redis at {addr}");
                serve(&cluster, pubsub, was_up).await;
                cluster.set_live(&HashSet::new());
                was_up = true;
                cluster.set_connected(false);
                log::warn!("lost Redis at {addr}: serving local viewers only until it is back");
            }
            Err(e) => {
                if !logged_down {
                    log::warn!(
                        "cannot reach Redis at {addr} ({e}); serving local viewers only, retrying"
                    );
                    logged_down = true;
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// A subscription connection and a fresh command connection.
async fn connect(cluster: &Cluster) -> Result<redis::aio::PubSub, String> {
    let pubsub = tokio::time::timeout(OP_TIMEOUT, cluster.client.get_async_pubsub())
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(OP_TIMEOUT)
        .set_response_timeout(OP_TIMEOUT)
        .set_number_of_retries(1);
    let commands = tokio::time::timeout(
        OP_TIMEOUT * 2,
        ConnectionManager::new_with_config(cluster.client.clone(), config),
    )
    .await
    .map_err(|_| "timed out".to_string())?
    .map_err(|e| e.to_string())?;
    *lock(&cluster.commands) = Some(commands);
    Ok(pubsub)
}

/// Subscribes to the current guilds, then delivers and follows the hubs
/// until the connection fails.
async fn serve(cluster: &Arc<Cluster>, pubsub: redis::aio::PubSub, was_up: bool) {
    let (mut sink, mut stream) = pubsub.split();
    let mut subscribed = HashSet::new();
    if follow_hubs(cluster, &mut sink, &mut subscribed)
        .await
        .is_err()
    {
        return;
    }
    cluster.set_connected(true);
    cluster.rewrite_snapshot();
    if was_up {
        cluster.metrics.redis_event("reconnect");
        actix_web::rt::spawn(resync(cluster.clone(), subscribed.clone()));
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(msg) => deliver(cluster, &msg),
                None => return,
            },
            () = cluster.hubs_changed.notified() => {
                if follow_hubs(cluster, &mut sink, &mut subscribed).await.is_err() {
                    return;
                }
            }
            _ = ping.tick() => {
                let pong = tokio::time::timeout(OP_TIMEOUT, sink.ping::<redis::Value>()).await;
                if !matches!(pong, Ok(Ok(_))) {
                    return;
                }
            }
        }
    }
}

/// Brings the subscriptions to the guilds that have hubs now: one command
/// per channel, so every reply pairs with its request.
async fn follow_hubs(
    cluster: &Cluster,
    sink: &mut PubSubSink,
    subscribed: &mut HashSet<Arc<str>>,
) -> Result<(), ()> {
    let want: HashSet<Arc<str>> = cluster.registry.guilds().into_iter().collect();
    for guild in subscribed.difference(&want) {
        timed(sink.unsubscribe(channel(guild))).await?;
    }
    subscribed.retain(|g| want.contains(g));
    for guild in want.difference(&subscribed.clone()) {
        timed(sink.subscribe(channel(guild))).await?;
        // Live once Redis confirmed it: joins waiting for it read now.
        subscribed.insert(guild.clone());
        cluster.set_live(subscribed);
    }
    cluster.set_live(subscribed);
    Ok(())
}

async fn timed(f: impl std::future::Future<Output = redis::RedisResult<()>>) -> Result<(), ()> {
    match tokio::time::timeout(OP_TIMEOUT, f).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            log::debug!("redis (un)subscribe failed: {e}");
            Err(())
        }
        Err(_) => Err(()),
    }
}

/// One message from Redis, to the hub of its guild here.
fn deliver(cluster: &Cluster, msg: &Msg) {
    cluster.metrics.redis_event("received");
    match Broadcast::decode(msg.get_payload_bytes()) {
        Ok(b) if channel(b.server()) == msg.get_channel_name() => cluster.registry.broadcast(b),
        Ok(_) => log::warn!(
            "redis: a broadcast on {} is for another guild; dropped",
            msg.get_channel_name()
        ),
        Err(e) => log::warn!(
            "redis: an unreadable broadcast on {} ({e}); dropped",
            msg.get_channel_name()
        ),
    }
}

/// After a reconnect: every user of each guild still watched here, as a
/// presence from the snapshot, so viewers catch up with what they missed
/// while Redis was away. Waits a while for the writer to rewrite a guild
/// Redis may have lost.
async fn resync(cluster: Arc<Cluster>, guilds: HashSet<Arc<str>>) {
    let start = tokio::time::Instant::now();
    let mut pending: Vec<Arc<str>> = guilds.into_iter().collect();
    while !pending.is_empty() && start.elapsed() < RESYNC_PATIENCE {
        let mut left = Vec::new();
        for guild in pending {
            if !cluster.connected.is_up() {
                // Redis went away again; the next reconnect resyncs.
                return;
            }
            match cluster.members(&guild).await {
                Some(users) if !users.is_empty() => presences(&cluster, &guild, users),
                _ => left.push(guild),
            }
        }
        pending = left;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn presences(cluster: &Cluster, guild: &str, users: Vec<User>) {
    log::info!("resyncing {} presences of {guild} from Redis", users.len());
    for u in users {
        let p = Presence::new(guild, u.uid, u.status)
            .username(u.username)
            .role_color(u.role_color);
        cluster.registry.broadcast(Broadcast::Presence(p));
    }
}

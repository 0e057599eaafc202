//! Publishing: one task takes every broadcast of this instance from a
//! bounded queue, in order, and PUBLISHes it on its guild's channel (a
//! burst goes out as one pipeline, still in order). Every instance, this
//! one included, delivers what its subscription receives, so Redis's
//! order on a channel is the one order every viewer of that guild sees.
//!
//! A presence is PUBLISHed by a script that first applies it to the
//! guild's members hash (the users snapshot, see `snapshot`), in the same
//! atomic step: a `--source redis` instance that subscribes and then reads
//! the hash has every change either in the hash or on its channel. The
//! snapshot writer's whole lists come through this same queue
//! ([`Cluster::write_users`]), so they are ordered with the presences too.
//!
//! While Redis is down (or a publish fails) the broadcast is delivered to
//! this instance's viewers at once instead, so local viewers still get it.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::hub::broadcast::Broadcast;
use crate::lock::lock;
use crate::protocol::model::User;

use super::{channel, members_key, members_next_key, Cluster};

/// Applies a presence to its guild's members hash and PUBLISHes its frame,
/// atomically. KEYS: the hash, the next-`pos` counter. ARGV: channel,
/// frame, uid, status, username, roleColor ('' when absent), delete ('1').
/// A member the hash does not hold is added only with a username (a
/// client cannot draw it without one either).
const PRESENCE_SCRIPT: &str = r#"
local hash, uid = KEYS[1], ARGV[3]
if ARGV[7] == '1' then
  redis.call('HDEL', hash, uid)
else
  local cur = redis.call('HGET', hash, uid)
  local u = nil
  if cur then
    u = cjson.decode(cur)
  elseif ARGV[5] ~= '' then
    u = {uid = uid, roleColor = '#ffffff', pos = redis.call('INCR', KEYS[2])}
  end
  if u then
    u.status = ARGV[4]
    if ARGV[5] ~= '' then u.username = ARGV[5] end
    if ARGV[6] ~= '' then u.roleColor = ARGV[6] end
    redis.call('HSET', hash, uid, cjson.encode(u))
  end
end
return redis.call('PUBLISH', ARGV[1], ARGV[2])
"#;

/// Broadcasts that may wait for the publisher; past this `publish` drops
/// (counted, logged rarely), as a full hub does.
pub(super) const QUEUE: usize = 65_536;

/// Broadcasts sent in one pipeline at most.
const BURST: usize = 256;

/// One item for the publisher, and who waits for it to be sent.
pub(super) struct Outgoing {
    item: Item,
    sent: Option<oneshot::Sender<()>>,
}

/// What the publisher sends, in queue order.
enum Item {
    Broadcast(Broadcast),
    /// A guild's whole users list, replacing its members hash.
    Users {
        guild: String,
        users: Vec<User>,
    },
}

impl Cluster {
    /// Queues a broadcast for every instance without waiting; dropped
    /// (counted) when the queue is full.
    pub(crate) fn publish(&self, broadcast: Broadcast) {
        let guild = broadcast.server().to_string();
        let out = Outgoing {
            item: Item::Broadcast(broadcast),
            sent: None,
        };
        let mut published = lock(&self.published);
        *published.entry(guild).or_default() += 1;
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
            Err(mpsc::error::TrySendError::Closed(out)) => {
                if let Item::Broadcast(b) = out.item {
                    self.registry.broadcast(b);
                }
            }
        }
    }

    /// How many broadcasts of `guild` this instance has queued so far: the
    /// snapshot writer reads it around a read of the users.
    pub(super) fn published(&self, guild: &str) -> u64 {
        lock(&self.published).get(guild).copied().unwrap_or(0)
    }

    /// Queues a guild's whole users list behind the broadcasts queued so
    /// far, if no broadcast of the guild was queued since `published`
    /// (read before the users were): then the list holds every change
    /// queued before it, and every later one follows it. False (nothing
    /// queued) otherwise, or when the queue is full.
    pub(super) fn write_users(&self, guild: &str, users: Vec<User>, published: u64) -> bool {
        let counts = lock(&self.published);
        if counts.get(guild).copied().unwrap_or(0) != published {
            return false;
        }
        let out = Outgoing {
            item: Item::Users {
                guild: guild.to_string(),
                users,
            },
            sent: None,
        };
        self.outgoing.try_send(out).is_ok()
    }

    /// Queues a broadcast, waiting for room and for it to be sent (which
    /// paces a caller to the publisher); answers the sessions of this
    /// instance that watch its guild.
    pub(crate) async fn publish_counted(&self, broadcast: Broadcast) -> usize {
        let watching = self.registry.members(broadcast.server());
        let (tx, rx) = oneshot::channel();
        let guild = broadcast.server().to_string();
        let out = Outgoing {
            item: Item::Broadcast(broadcast),
            sent: Some(tx),
        };
        // Counted when queued, under the same lock as the queueing (see
        // `write_users`): a permit first, so the lock is never held across
        // a wait.
        let Ok(permit) = self.outgoing.reserve().await else {
            let Item::Broadcast(b) = out.item else {
                unreachable!("built as a broadcast above")
            };
            return self.registry.broadcast_counted(b).await;
        };
        {
            let mut published = lock(&self.published);
            *published.entry(guild).or_default() += 1;
            permit.send(out);
        }
        let _ = rx.await;
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
        for out in burst.drain(..) {
            // A list that did not reach Redis is written again whole after
            // the reconnect (`Cluster::rewrite_snapshot`).
            if let Item::Broadcast(b) = out.item {
                if published {
                    cluster.metrics.redis_event("published");
                } else {
                    cluster.metrics.redis_event("local_fallback");
                    cluster.registry.broadcast(b);
                }
            }
            if let Some(sent) = out.sent {
                let _ = sent.send(());
            }
        }
    }
}

/// PUBLISHes a burst as one pipeline, presences through the script and
/// users lists as a replaced hash; false when it did not go out.
async fn publish_all(mut conn: redis::aio::ConnectionManager, burst: &[Outgoing]) -> bool {
    // One transaction: a users list's DEL and HSETs are never seen half
    // done, and EVAL (not EVALSHA) needs no script cache that a restarted
    // Redis would have lost (Redis keeps the compiled script by its hash).
    let mut pipe = redis::pipe();
    pipe.atomic();
    for out in burst {
        match &out.item {
            Item::Broadcast(b @ Broadcast::Presence(p)) => {
                pipe.cmd("EVAL")
                    .arg(PRESENCE_SCRIPT)
                    .arg(2)
                    .arg(members_key(&p.server))
                    .arg(members_next_key(&p.server))
                    .arg(channel(&p.server))
                    .arg(b.encode())
                    .arg(&p.uid)
                    .arg(p.status.as_str())
                    .arg(p.username.as_deref().unwrap_or(""))
                    .arg(
                        p.role_color
                            .map(|c| c.as_str().to_string())
                            .unwrap_or_default(),
                    )
                    .arg(if p.delete { "1" } else { "0" })
                    .ignore();
            }
            Item::Broadcast(b) => {
                pipe.publish(channel(b.server()), b.encode()).ignore();
            }
            Item::Users { guild, users } => replace_members(&mut pipe, guild, users),
        }
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

/// Replaces a guild's members hash with `users`, their list order kept in
/// `pos`.
fn replace_members(pipe: &mut redis::Pipeline, guild: &str, users: &[User]) {
    let hash = members_key(guild);
    pipe.del(&hash).ignore();
    let fields: Vec<(String, String)> = users
        .iter()
        .enumerate()
        .map(|(pos, u)| {
            let mut entry = serde_json::to_value(u).unwrap_or_default();
            entry["pos"] = pos.into();
            (u.uid.clone(), entry.to_string())
        })
        .collect();
    for chunk in fields.chunks(1000) {
        pipe.hset_multiple(&hash, chunk).ignore();
    }
    pipe.set(members_next_key(guild), users.len()).ignore();
}

/// Per-guild counts of broadcasts queued (see [`Cluster::published`]).
pub(super) type Published = HashMap<String, u64>;

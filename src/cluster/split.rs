//! A Discord bot split over machines (`--shard-range` with `--redis-url`):
//! each instance holds the guilds of its own shards, and every instance
//! serves every guild.
//!
//! Each bot instance writes its part of the server list under its own key
//! (`d-back:servers:part:{part}`, named in the set `d-back:servers:parts`)
//! instead of the one `d-back:servers`, so parts never overwrite each
//! other; users and client ids are per guild already. What is read is the
//! union: a `--source redis` instance merges every part (`servers`), and a
//! bot instance answers its own guilds from its own cache and every other
//! guild from Redis, like a `--source redis` instance (`install`). Its
//! snapshot writer still reads only its own callbacks, so a part never
//! holds another part's guilds. Only the first `default` server of the
//! union stays the default.

use std::collections::HashSet;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::lock::lock;
use crate::protocol::model::{IntoServers, ServerInfo};
use crate::providers::userlist::UserList;
use crate::providers::{per_thread, Callbacks, ClientIdFn, LocalFut, ServersFn, UsersFn};

use super::{client_id_key, Cluster, SERVERS_KEY};

/// The set that names every part written.
pub(super) const PARTS_KEY: &str = "d-back:servers:parts";

/// The shortest lease of a part's key (see [`Cluster::register_part`]).
pub(super) const PART_LEASE: Duration = Duration::from_secs(30);

/// The server list key of one part.
pub(super) fn part_key(part: &str) -> String {
    format!("d-back:servers:part:{part}")
}

impl Cluster {
    /// The key this instance's snapshot writer keeps its server list in.
    pub(super) fn servers_key(&self) -> String {
        match &self.part {
            Some(p) => part_key(p),
            None => SERVERS_KEY.to_string(),
        }
    }

    /// Names this instance's part in the set of parts and renews its
    /// lease (each writer round). A part whose instance stopped writing
    /// expires after [`PART_LEASE`] and readers drop it from the set, so an
    /// old shard range does not stay listed. If the key was gone (expired
    /// while the writer was stalled) the next round writes it again.
    pub(super) async fn register_part(&self) {
        let Some(part) = self.part.clone() else {
            return;
        };
        let key = part_key(&part);
        let lease = self.part_lease();
        let renewed = self
            .run("register part", |mut c| async move {
                redis::pipe()
                    .cmd("SADD")
                    .arg(PARTS_KEY)
                    .arg(part)
                    .ignore()
                    .cmd("PEXPIRE")
                    .arg(key)
                    .arg(lease.as_millis() as u64)
                    .query_async::<(bool,)>(&mut c)
                    .await
            })
            .await;
        if renewed == Some((false,)) {
            self.rewrite
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// How long a part outlives its last renewal: several writer rounds.
    pub(super) fn part_lease(&self) -> Duration {
        (self.snapshot_every * 6).max(PART_LEASE)
    }

    /// The whole server list: `d-back:servers` and every part, merged in
    /// that order (a snowflake in two keys keeps its first entry).
    pub(super) async fn servers(&self) -> Value {
        let mut keys = vec![SERVERS_KEY.to_string()];
        let parts = self
            .run("read parts", |mut c| async move {
                redis::cmd("SMEMBERS")
                    .arg(PARTS_KEY)
                    .query_async::<Vec<String>>(&mut c)
                    .await
            })
            .await;
        let parts = match parts {
            Some(mut p) => {
                p.sort();
                *lock(&self.parts_read) = p.clone();
                p
            }
            None => lock(&self.parts_read).clone(),
        };
        keys.extend(parts.iter().map(|p| part_key(p)));
        let mut merged = Map::new();
        let mut has_default = false;
        for key in keys {
            let Some(text) = self.read(&key).await else {
                self.forget_part(&key).await;
                continue;
            };
            let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            for (snowflake, mut entry) in map {
                if merged.contains_key(&snowflake) {
                    continue;
                }
                if entry["default"] == true {
                    if has_default {
                        entry["default"] = Value::Bool(false);
                    }
                    has_default = true;
                }
                merged.insert(snowflake, entry);
            }
        }
        Value::Object(merged)
    }
}

impl Cluster {
    /// A part named in the set whose key has expired: its instance stopped
    /// writing it (a shard range given up), so it leaves the set.
    async fn forget_part(&self, key: &str) {
        let Some(part) = key.strip_prefix(&part_key("")) else {
            return;
        };
        let (part, key) = (part.to_string(), key.to_string());
        // Only a key that is gone, not one a failed read could not see.
        self.run("forget part", |mut c| async move {
            let exists: bool = redis::cmd("EXISTS").arg(&key).query_async(&mut c).await?;
            if !exists {
                redis::cmd("SREM")
                    .arg(PARTS_KEY)
                    .arg(part)
                    .query_async::<()>(&mut c)
                    .await?;
            }
            Ok(())
        })
        .await;
    }
}

/// Over a bot instance's own callbacks: the union of the server list, and
/// the other parts' guilds answered from Redis. The own callbacks are kept
/// for the snapshot writer.
pub(super) fn install(cluster: &Arc<Cluster>, callbacks: &mut Callbacks) {
    let own = callbacks.clone();
    *lock(&cluster.writer_callbacks) = Some(own.clone());
    let (Some(own_servers), Some(own_users), own_client_id) = (
        own.servers.clone(),
        own.users.clone(),
        own.client_id.clone(),
    ) else {
        return;
    };
    let c = cluster.clone();
    callbacks.servers = per_thread((c.clone(), own_servers.clone()), |f| -> ServersFn {
        let (c, mine) = (f.0.clone(), (f.1)());
        Rc::new(move || {
            let (c, mine) = (c.clone(), mine.clone());
            Box::pin(async move {
                let mut list = mine().await?;
                let held: HashSet<String> = list.iter().map(|s| s.snowflake.clone()).collect();
                let has_default = list.iter().any(|s| s.default);
                let others: Vec<ServerInfo> = c
                    .servers()
                    .await
                    .into_servers()
                    .into_iter()
                    .filter(|s| !held.contains(&s.snowflake))
                    .map(|mut s| {
                        s.default &= !has_default;
                        s
                    })
                    .collect();
                list.extend(others);
                Ok(list)
            }) as LocalFut<_>
        })
    });
    callbacks.users = per_thread(
        (c.clone(), own_servers.clone(), own_users),
        |f| -> UsersFn {
            let (c, servers, users) = (f.0.clone(), (f.1)(), (f.2)());
            Rc::new(move |guild: String| {
                let (c, servers, users) = (c.clone(), servers.clone(), users.clone());
                Box::pin(async move {
                    if servers().await?.iter().any(|s| s.snowflake == guild) {
                        return users(guild).await;
                    }
                    let theirs = c.members(&guild).await.unwrap_or_default();
                    Ok(Arc::new(UserList::new(theirs)).into())
                }) as LocalFut<_>
            })
        },
    );
    callbacks.client_id = per_thread((c, own_servers, own_client_id), |f| -> ClientIdFn {
        let (c, servers, mine) = (f.0.clone(), (f.1)(), f.2.as_ref().map(|m| m()));
        Rc::new(move |guild: String| {
            let (c, servers, mine) = (c.clone(), servers.clone(), mine.clone());
            Box::pin(async move {
                let held = servers().await?.iter().any(|s| s.snowflake == guild);
                match (held, mine) {
                    (true, Some(mine)) => mine(guild).await,
                    (true, None) => Ok(None),
                    (false, _) => Ok(c.read(&client_id_key(&guild)).await),
                }
            }) as LocalFut<_>
        })
    });
}

//! The snapshot writer, on an instance with a data source (its callbacks,
//! the built-in Discord bot, or the mock data): asks its own `Providers`
//! for the server list and each server's users and client id, and keeps
//! them in Redis for the `--source redis` instances:
//!
//! * `d-back:servers` (a split bot's instance: its part's key, see
//!   `split`): the server list as the original's dictionary
//!   (`{snowflake: {id, name, passworded, default}}`); a legacy password is
//!   never written, only its salted SHA-256 (`passwordSalt`,
//!   `passwordHash`), so other instances can check one;
//! * `d-back:members:{guild}`: a hash from uid to the user as `server-join`
//!   sends it, with its place in the list (`pos`); every presence the bus
//!   publishes updates it in the same step, so it is written whole only at
//!   start, for a guild new to the list, after Redis came back, and every
//!   [`USERS_REFRESH`] rounds (for a provider whose users change without a
//!   broadcast);
//! * `d-back:client-id:{guild}`: the OAuth client id (absent when none).
//!
//! The server list and client ids are written every
//! `Config::snapshot_every`, a key only when its value changed. A whole
//! users list goes through the bus's queue behind the broadcasts it already
//! holds, and only when none of its guild was queued while the list was
//! read (see `Cluster::write_users`), so it never undoes a later change.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use serde_json::{json, Map, Value};

use crate::protocol::model::ServerInfo;
use crate::providers::userlist::UserList;
use crate::providers::{answer_or_default, GetClientId, GetServers, GetUsers, Providers};

use super::limits::salted;
use super::{client_id_key, Cluster};

/// How long after a wake-up the writer waits, so a burst costs one round.
const SETTLE: Duration = Duration::from_millis(50);

/// Every this many rounds each guild's users are written whole again.
const USERS_REFRESH: u32 = 12;

/// Reads of a guild's users tried in one round before it waits for the
/// next (each retried because a broadcast of it was queued meanwhile).
const USERS_TRIES: usize = 8;

/// What a key should hold: a value, or nothing (deleted).
type Wanted = Option<String>;

pub(super) async fn run(cluster: Arc<Cluster>, providers: Addr<Providers>) {
    // What each key holds in Redis, as this writer last wrote it.
    let mut written: HashMap<String, Wanted> = HashMap::new();
    // The users list each guild's hash was last written from.
    let mut users_written: HashMap<String, Arc<UserList>> = HashMap::new();
    let mut round: u32 = 0;
    loop {
        if cluster.connected.is_up() {
            if cluster.rewrite.swap(false, Ordering::Relaxed) {
                written.clear();
                users_written.clear();
            }
            round = round.wrapping_add(1);
            let refresh = round % USERS_REFRESH == 0;
            let servers = answer_or_default("the server list", providers.send(GetServers).await);
            let key = cluster.servers_key();
            for (key, value) in collect(&providers, &servers, &cluster.salt, key).await {
                if written.get(&key) == Some(&value) {
                    continue;
                }
                if write(&cluster, &key, value.as_deref()).await {
                    written.insert(key, value);
                } else {
                    // Tried again on the next round.
                    written.remove(&key);
                }
            }
            // After the write, which clears a key's expiry.
            cluster.register_part().await;
            for s in servers.iter() {
                let guild = &s.snowflake;
                let known = users_written.get(guild);
                if known.is_some() && !refresh {
                    continue;
                }
                if let Some(list) = write_users(&cluster, &providers, guild, known).await {
                    users_written.insert(guild.clone(), list);
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(cluster.snapshot_every) => {}
            () = cluster.snapshot_due.notified() => tokio::time::sleep(SETTLE).await,
        }
    }
}

/// Reads a guild's users and queues them whole, unless they are the list
/// last written; retried while broadcasts of the guild are queued during
/// the read. The list written (or found unchanged), if any.
async fn write_users(
    cluster: &Cluster,
    providers: &Addr<Providers>,
    guild: &str,
    known: Option<&Arc<UserList>>,
) -> Option<Arc<UserList>> {
    for _ in 0..USERS_TRIES {
        let before = cluster.published(guild);
        let users = answer_or_default(
            "the users",
            providers.send(GetUsers(guild.to_string())).await,
        );
        if known.is_some_and(|k| Arc::ptr_eq(k, &users)) {
            return Some(users);
        }
        if cluster.write_users(guild, users.users().to_vec(), before) {
            return Some(users);
        }
    }
    log::debug!("redis snapshot: {guild} kept changing while read; next round");
    None
}

/// The server list and client id keys, as the providers answer now.
async fn collect(
    providers: &Addr<Providers>,
    servers: &[ServerInfo],
    salt: &str,
    servers_key: String,
) -> Vec<(String, Wanted)> {
    let mut out = vec![(servers_key, Some(server_list(servers, salt)))];
    for s in servers {
        let client_id = providers.send(GetClientId(s.snowflake.clone())).await;
        out.push((
            client_id_key(&s.snowflake),
            answer_or_default("the client id", client_id),
        ));
    }
    out
}

/// The original's server dictionary, with salted password hashes only.
fn server_list(servers: &[ServerInfo], salt: &str) -> String {
    let map: Map<String, Value> = servers
        .iter()
        .map(|s| {
            let mut entry = json!({
                "id": s.id,
                "name": s.name,
                "passworded": s.passworded,
                "default": s.default,
            });
            if let Some(password) = &s.password {
                entry["passwordSalt"] = json!(salt);
                entry["passwordHash"] = json!(salted(salt, password));
            }
            (s.snowflake.clone(), entry)
        })
        .collect();
    Value::Object(map).to_string()
}

async fn write(cluster: &Cluster, key: &str, value: Option<&str>) -> bool {
    let (key, value) = (key.to_string(), value.map(str::to_string));
    cluster
        .run("snapshot write", |mut c| async move {
            match value {
                Some(v) => {
                    redis::cmd("SET")
                        .arg(&key)
                        .arg(v)
                        .query_async::<()>(&mut c)
                        .await
                }
                None => redis::cmd("DEL").arg(&key).query_async::<()>(&mut c).await,
            }
        })
        .await
        .is_some()
}

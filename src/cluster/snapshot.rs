//! The snapshot writer, on an instance with a data source (its callbacks,
//! the built-in Discord bot, or the mock data): asks its own `Providers`
//! for the server list and each server's users and client id, and keeps
//! them in Redis for the `--source redis` instances:
//!
//! * `d-back:servers`: the server list as the original's dictionary
//!   (`{snowflake: {id, name, passworded, default}}`); a legacy password is
//!   never written, only its salted SHA-256 (`passwordSalt`,
//!   `passwordHash`), so other instances can check one;
//! * `d-back:users:{guild}`: the users as `server-join` sends them;
//! * `d-back:client-id:{guild}`: the OAuth client id (absent when none).
//!
//! Written at start, every `Config::snapshot_every`, soon after a presence
//! broadcast, and whole again after Redis comes back; a key is SET only
//! when its value changed.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use serde_json::{json, Map, Value};

use crate::protocol::model::ServerInfo;
use crate::providers::{answer_or_default, GetClientId, GetServers, GetUsers, Providers};

use super::limits::salted;
use super::{client_id_key, users_key, Cluster, SERVERS_KEY};

/// How long after a wake-up the writer waits, so a burst of presences
/// costs one rewrite.
const SETTLE: Duration = Duration::from_millis(50);

/// What a key should hold: a value, or nothing (deleted).
type Wanted = Option<String>;

pub(super) async fn run(cluster: Arc<Cluster>, providers: Addr<Providers>) {
    // What each key holds in Redis, as this writer last wrote it.
    let mut written: HashMap<String, Wanted> = HashMap::new();
    loop {
        if cluster.connected.is_up() {
            if cluster.rewrite.swap(false, Ordering::Relaxed) {
                written.clear();
            }
            let wanted = collect(&providers, &cluster.salt).await;
            for (key, value) in wanted {
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
        }
        tokio::select! {
            () = tokio::time::sleep(cluster.snapshot_every) => {}
            () = cluster.snapshot_due.notified() => tokio::time::sleep(SETTLE).await,
        }
    }
}

/// Every key of the snapshot, as the providers answer now.
async fn collect(providers: &Addr<Providers>, salt: &str) -> Vec<(String, Wanted)> {
    let servers = answer_or_default("the server list", providers.send(GetServers).await);
    let mut out = vec![(SERVERS_KEY.to_string(), Some(server_list(&servers, salt)))];
    for s in servers.iter() {
        let (users, client_id) = futures_util::future::join(
            providers.send(GetUsers(s.snowflake.clone())),
            providers.send(GetClientId(s.snowflake.clone())),
        )
        .await;
        let users = answer_or_default("the users", users);
        out.push((
            users_key(&s.snowflake),
            Some(String::from_utf8_lossy(users.encoded()).into_owned()),
        ));
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

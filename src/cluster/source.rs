//! The data source of a `--source redis` instance: server list, users and
//! client id callbacks that read the snapshot another instance writes
//! (see `snapshot`), so a viewer gets the same `server-list` and
//! `server-join` whichever instance it lands on.
//!
//! Each read is one GET with a short deadline; while Redis is down or slow
//! the last value read answers, so joins go on from the last snapshot.
//!
//! Logins to protected servers: no validator runs here (the built-in bot's
//! runs where the bot does), so a Discord login is accepted when the shared
//! validation cache holds it and refused (fail closed) otherwise; a legacy
//! password is checked against the snapshot's salted hash
//! ([`Cluster::password_matches`], asked by `crate::ws::join`).

use std::rc::Rc;
use std::sync::Arc;

use serde_json::Value;

use crate::lock::lock;
use crate::protocol::model::{IntoServers, IntoUsers, User};
use crate::providers::userlist::UserList;
use crate::providers::{by_key, per_thread, BoxError, Callbacks, LocalFut, ServersFn, UsersFn};

use super::{client_id_key, members_key, Cluster};

/// Installs the three data callbacks over whatever was set.
pub(super) fn install(cluster: &Arc<Cluster>, callbacks: &mut Callbacks) {
    callbacks.servers = per_thread(cluster.clone(), |c| -> ServersFn {
        Rc::new(move || {
            let c = c.clone();
            Box::pin(async move {
                let servers = c.servers().await;
                c.remember_passwords(&servers);
                Ok(servers.into_servers())
            }) as LocalFut<_>
        })
    });
    callbacks.users = per_thread(cluster.clone(), |c| -> UsersFn {
        Rc::new(move |guild: String| {
            let c = c.clone();
            Box::pin(async move {
                let users = c.members(&guild).await.unwrap_or_default();
                Ok(Arc::new(UserList::new(users)).into())
            }) as LocalFut<_>
        })
    });
    let c = cluster.clone();
    callbacks.client_id = by_key(move |guild: String| {
        let c = c.clone();
        async move { Ok::<_, BoxError>(c.read(&client_id_key(&guild)).await) }
    });
}

/// The members hash's fields as the original's `{uid: user}` dictionary,
/// in their list order (`pos`, then uid), without `pos`.
fn ordered_members(fields: Vec<(String, String)>) -> String {
    let mut entries: Vec<(u64, String, Value)> = fields
        .into_iter()
        .filter_map(|(uid, json)| {
            let mut v: Value = serde_json::from_str(&json).ok()?;
            let pos = v
                .as_object_mut()?
                .remove("pos")?
                .as_u64()
                .unwrap_or(u64::MAX);
            Some((pos, uid, v))
        })
        .collect();
    entries.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let map: serde_json::Map<String, Value> =
        entries.into_iter().map(|(_, uid, v)| (uid, v)).collect();
    Value::Object(map).to_string()
}

/// A snapshot value as JSON; nothing yet is an empty dictionary.
fn parse(json: Option<String>) -> Value {
    json.and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_else(|| Value::Object(Default::default()))
}

impl Cluster {
    /// Keeps the salted password hashes of the server list just read.
    fn remember_passwords(&self, servers: &Value) {
        let Some(map) = servers.as_object() else {
            return;
        };
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let passwords = map
            .iter()
            .filter_map(|(snowflake, entry)| {
                Some((
                    snowflake.clone(),
                    (text(entry, "passwordSalt")?, text(entry, "passwordHash")?),
                ))
            })
            .collect();
        *lock(&self.passwords) = passwords;
    }

    /// A guild's users from its members hash, in list order (`pos`); its
    /// last value read when Redis does not answer, `None` when never read.
    pub(super) async fn members(&self, guild: &str) -> Option<Vec<User>> {
        let key = members_key(guild);
        let k = key.clone();
        let got = self
            .run("snapshot read", |mut c| async move {
                redis::cmd("HGETALL")
                    .arg(&k)
                    .query_async::<Vec<(String, String)>>(&mut c)
                    .await
            })
            .await;
        let json = match got {
            Some(fields) => {
                let json = ordered_members(fields);
                lock(&self.last_read).insert(key, Some(json.clone()));
                json
            }
            None => lock(&self.last_read).get(&key).cloned().flatten()?,
        };
        Some(parse(Some(json)).into_users())
    }

    /// A snapshot key, or its last value read when Redis does not answer.
    pub(super) async fn read(&self, key: &str) -> Option<String> {
        let k = key.to_string();
        let got = self
            .run("snapshot read", |mut c| async move {
                redis::cmd("GET")
                    .arg(&k)
                    .query_async::<Option<String>>(&mut c)
                    .await
            })
            .await;
        let mut last = lock(&self.last_read);
        match got {
            Some(value) => {
                last.insert(key.to_string(), value.clone());
                value
            }
            None => last.get(key).cloned().flatten(),
        }
    }
}

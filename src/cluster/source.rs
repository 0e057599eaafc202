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
use crate::protocol::model::{IntoServers, IntoUsers};
use crate::providers::userlist::UserList;
use crate::providers::{by_key, per_thread, BoxError, Callbacks, LocalFut, ServersFn, UsersFn};

use super::{client_id_key, users_key, Cluster, SERVERS_KEY};

/// Installs the three data callbacks over whatever was set.
pub(super) fn install(cluster: &Arc<Cluster>, callbacks: &mut Callbacks) {
    callbacks.servers = per_thread(cluster.clone(), |c| -> ServersFn {
        Rc::new(move || {
            let c = c.clone();
            Box::pin(async move {
                let servers = parse(c.read(SERVERS_KEY).await);
                c.remember_passwords(&servers);
                Ok(servers.into_servers())
            }) as LocalFut<_>
        })
    });
    callbacks.users = per_thread(cluster.clone(), |c| -> UsersFn {
        Rc::new(move |guild: String| {
            let c = c.clone();
            Box::pin(async move {
                let json = c.read(&users_key(&guild)).await;
                Ok(Arc::new(UserList::new(parse(json).into_users())).into())
            }) as LocalFut<_>
        })
    });
    let c = cluster.clone();
    callbacks.client_id = by_key(move |guild: String| {
        let c = c.clone();
        async move { Ok::<_, BoxError>(c.read(&client_id_key(&guild)).await) }
    });
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

    /// A snapshot key, or its last value read when Redis does not answer.
    async fn read(&self, key: &str) -> Option<String> {
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

//! The authentication limits shared by every instance, so a brute force
//! cannot multiply its attempts by the number of instances:
//!
//! * the per-IP throttle: a counter per IP key (IPv6: per /64) that lives
//!   one `auth_window` from its first attempt (a fixed window, where the
//!   local throttle slides; both allow `auth_attempts` per window);
//! * the validation cache: one key per accepted (token, user, guild) that
//!   expires after `auth_cache_ttl`.
//!
//! Keys never hold a token: the cache is keyed by the SHA-256 of the
//! triple, the same on every instance (the local cache's keyed hash is per
//! process). Legacy passwords reach the snapshot only as a salted SHA-256
//! ([`salted`]), which a `--source redis` instance checks a given password
//! against. Every call answers `None` when Redis does not, and the
//! caller (`crate::limits::AuthGuard`) falls back to its local state.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::Cluster;

/// The throttle key of an IP key.
fn attempts_key(ip: &str) -> String {
    format!("d-back:auth-attempts:{ip}")
}

/// The cache key of an accepted login.
fn accepted_key(hash: &str) -> String {
    format!("d-back:auth-ok:{hash}")
}

/// The hex SHA-256 of (token, user id, guild), each length-prefixed so no
/// two triples share an encoding.
pub(crate) fn hashed(token: &str, user_id: &str, guild: &str) -> String {
    let mut h = Sha256::new();
    for part in [token, user_id, guild] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The hex SHA-256 of `salt` then `password`.
pub(super) fn salted(salt: &str, password: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update([0]);
    h.update(password.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl Cluster {
    /// Whether `given` is the legacy password of `snowflake`, per the
    /// server list snapshot last read (compared in constant time).
    pub(crate) fn password_matches(&self, snowflake: &str, given: &str) -> bool {
        let Some((salt, hash)) = crate::lock::lock(&self.passwords).get(snowflake).cloned() else {
            return false;
        };
        let mine = salted(&salt, given);
        mine.len() == hash.len()
            && mine
                .bytes()
                .zip(hash.bytes())
                .fold(0u8, |acc, (x, y)| acc | (x ^ y))
                == 0
    }

    /// Takes one attempt of `ip` if fewer than `limit` were taken in this
    /// window; `None` when Redis does not answer.
    pub(crate) async fn take_attempt(
        &self,
        ip: &str,
        limit: u32,
        window: Duration,
    ) -> Option<bool> {
        let key = attempts_key(ip);
        let ms = window.as_millis().max(1) as u64;
        let taken = self
            .run("auth throttle", |mut c| async move {
                let (count,): (u64,) = redis::pipe()
                    .atomic()
                    .cmd("SET")
                    .arg(&key)
                    .arg(0)
                    .arg("PX")
                    .arg(ms)
                    .arg("NX")
                    .ignore()
                    .cmd("INCR")
                    .arg(&key)
                    .query_async(&mut c)
                    .await?;
                if count > u64::from(limit) {
                    redis::cmd("DECR")
                        .arg(&key)
                        .query_async::<()>(&mut c)
                        .await?;
                    return Ok(false);
                }
                Ok(true)
            })
            .await;
        taken
    }

    /// Gives back an attempt of `ip` that succeeded.
    pub(crate) async fn give_back_attempt(&self, ip: &str) {
        let key = attempts_key(ip);
        self.run("auth throttle", |mut c| async move {
            // Only while the window lives: DECR on a missing key would make one.
            redis::cmd("EVAL")
                .arg("if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end return 0")
                .arg(1)
                .arg(&key)
                .query_async::<i64>(&mut c)
                .await
        })
        .await;
    }

    /// Whether a login with this hash (see [`hashed`]) was accepted within
    /// the TTL by any instance.
    pub(crate) async fn was_accepted(&self, hash: &str) -> Option<bool> {
        let key = accepted_key(hash);
        self.run("auth cache", |mut c| async move {
            redis::cmd("EXISTS")
                .arg(&key)
                .query_async::<bool>(&mut c)
                .await
        })
        .await
    }

    /// Remembers an accepted login for `ttl`, for every instance.
    pub(crate) async fn remember_accepted(&self, hash: &str, ttl: Duration) {
        let key = accepted_key(hash);
        let ms = ttl.as_millis().max(1) as u64;
        self.run("auth cache", |mut c| async move {
            redis::cmd("SET")
                .arg(&key)
                .arg(1)
                .arg("PX")
                .arg(ms)
                .query_async::<()>(&mut c)
                .await
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::hashed;

    /// The same login hashes the same on every instance; moving a byte
    /// between the parts changes it; the token does not show.
    #[test]
    fn login_hash_is_stable_and_unambiguous() {
        let h = hashed("token", "42", "1");
        assert_eq!(h, hashed("token", "42", "1"));
        assert_eq!(h.len(), 64);
        assert_ne!(h, hashed("token4", "2", "1"));
        assert_ne!(h, hashed("token", "421", ""));
        assert!(!h.contains("token"));
    }
}

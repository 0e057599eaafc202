//! The authentication throttle (failed attempts per address in a sliding
//! window) and the cache of accepted validations, local or shared through
//! Redis.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::PRUNE_AT;
use crate::cluster::{hashed, Cluster};
use crate::config::Config;
use crate::lock::lock;
use crate::proxy::limit_key;

/// Failed-attempt times within a sliding window.
#[derive(Default)]
pub(crate) struct Attempts(VecDeque<Instant>);

impl Attempts {
    fn prune(&mut self, window: Duration, now: Instant) {
        while self
            .0
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            self.0.pop_front();
        }
    }

    /// Takes one attempt if fewer than `limit` are counted within `window`;
    /// false when the limit is reached. Taken *before* the validator is
    /// asked, so concurrent attempts cannot all pass the check; an attempt
    /// that succeeds is given back with [`release`](Self::release), one
    /// that fails stays counted.
    pub(crate) fn try_take(&mut self, limit: u32, window: Duration) -> bool {
        let now = Instant::now();
        self.prune(window, now);
        if self.0.len() >= limit as usize {
            return false;
        }
        self.0.push_back(now);
        true
    }

    /// Gives back one attempt taken by `try_take`.
    pub(crate) fn release(&mut self) {
        self.0.pop_back();
    }
}

/// Per-IP (IPv6: per /64) refused-credential counts and the cache of accepted validations.
pub(crate) struct AuthGuard {
    limit: u32,
    window: Duration,
    ttl: Duration,
    per_ip: Mutex<HashMap<IpAddr, Attempts>>,
    /// Keyed by a keyed hash of (token, user id, guild): tokens themselves
    /// are never stored.
    accepted: Mutex<HashMap<u64, Instant>>,
    hasher: RandomState,
    /// The limits shared with the other instances, when joined by Redis.
    shared: Option<Arc<Cluster>>,
}

/// One attempt taken by [`AuthGuard::try_take`], to give back on success.
pub(crate) struct Taken {
    ip: IpAddr,
    /// Taken from the shared throttle (else the local one).
    shared: bool,
}

impl AuthGuard {
    pub(crate) fn new(config: &Config, shared: Option<Arc<Cluster>>) -> Arc<Self> {
        Arc::new(AuthGuard {
            limit: config.auth_attempts,
            window: config.auth_window,
            ttl: config.auth_cache_ttl,
            per_ip: Mutex::default(),
            accepted: Mutex::default(),
            hasher: RandomState::new(),
            shared,
        })
    }

    pub(crate) fn limit(&self) -> (u32, Duration) {
        (self.limit, self.window)
    }

    /// Takes one authentication attempt for `ip`, from the shared throttle
    /// when Redis answers, else the local one (see [`Attempts::try_take`]);
    /// `None` when the limit is reached.
    pub(crate) async fn try_take(&self, ip: IpAddr) -> Option<Taken> {
        if let Some(shared) = &self.shared {
            let key = limit_key(ip).to_string();
            if let Some(ok) = shared.take_attempt(&key, self.limit, self.window).await {
                return ok.then_some(Taken { ip, shared: true });
            }
        }
        self.try_take_local(ip)
            .then_some(Taken { ip, shared: false })
    }

    fn try_take_local(&self, ip: IpAddr) -> bool {
        let ip = limit_key(ip);
        let mut m = lock(&self.per_ip);
        if m.len() > PRUNE_AT {
            let (window, now) = (self.window, Instant::now());
            m.retain(|_, a| {
                a.prune(window, now);
                !a.0.is_empty()
            });
        }
        m.entry(ip).or_default().try_take(self.limit, self.window)
    }

    /// Gives back an attempt that succeeded, where it was taken.
    pub(crate) async fn release(&self, taken: Taken) {
        if taken.shared {
            if let Some(shared) = &self.shared {
                shared
                    .give_back_attempt(&limit_key(taken.ip).to_string())
                    .await;
            }
            return;
        }
        if let Some(a) = lock(&self.per_ip).get_mut(&limit_key(taken.ip)) {
            a.release();
        }
    }

    fn key(&self, token: &str, user_id: &str, guild: &str) -> u64 {
        self.hasher.hash_one((token, user_id, guild))
    }

    /// A validation accepted within the TTL, here or (with Redis) by any
    /// instance.
    pub(crate) async fn cached(&self, token: &str, user_id: &str, guild: &str) -> bool {
        let key = self.key(token, user_id, guild);
        let here = lock(&self.accepted)
            .get(&key)
            .is_some_and(|t| *t > Instant::now());
        if here {
            return true;
        }
        match &self.shared {
            Some(shared) if !self.ttl.is_zero() => shared
                .was_accepted(&hashed(token, user_id, guild))
                .await
                .unwrap_or(false),
            _ => false,
        }
    }

    pub(crate) async fn remember(&self, token: &str, user_id: &str, guild: &str) {
        if self.ttl.is_zero() {
            return;
        }
        if let Some(shared) = &self.shared {
            shared
                .remember_accepted(&hashed(token, user_id, guild), self.ttl)
                .await;
        }
        let key = self.key(token, user_id, guild);
        let mut m = lock(&self.accepted);
        let now = Instant::now();
        if m.len() > PRUNE_AT {
            m.retain(|_, t| *t > now);
        }
        m.insert(key, now + self.ttl);
    }
}

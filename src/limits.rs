//! What one client may take: connection slots, inbound frame rate, and
//! authentication attempts, plus the cache that spares the Discord API and
//! the constant-time comparison of secrets.
//!
//! All state here is small, bounded, and pruned as it is touched, so an
//! attacker rotating addresses cannot grow it without limit. With Redis
//! (`Config::redis_url`) the authentication throttle and cache are shared
//! by every instance (`crate::cluster`), and the local ones answer while
//! Redis does not.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cluster::{hashed, Cluster};
use crate::config::Config;
use crate::lock::lock;
use crate::proxy::limit_key;

/// Entries kept per map before a prune sweeps out stale ones.
const PRUNE_AT: usize = 4096;

/// Counts open WebSocket sessions, in total and per IP (IPv6: per /64).
pub(crate) struct Connections {
    max_total: usize,
    max_per_ip: usize,
    state: Mutex<ConnState>,
}

#[derive(Default)]
struct ConnState {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
    /// When a refusal for an IP was last logged, so floods log once a minute.
    refusal_logged: HashMap<IpAddr, Instant>,
}

/// Which cap refused a connection slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotRefused {
    /// The server is at `max_connections`.
    Total,
    /// This address is at `max_connections_per_ip`.
    PerIp,
}

impl Connections {
    pub(crate) fn new(config: &Config) -> Arc<Self> {
        Arc::new(Connections {
            max_total: config.max_connections,
            max_per_ip: config.max_connections_per_ip,
            state: Mutex::default(),
        })
    }

    /// Takes a slot for `ip` (IPv6 counted per /64), released when the
    /// returned guard drops.
    pub(crate) fn acquire(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, SlotRefused> {
        let ip = limit_key(ip);
        let mut st = lock(&self.state);
        if st.total >= self.max_total {
            return Err(SlotRefused::Total);
        }
        let n = st.per_ip.entry(ip).or_insert(0);
        if *n >= self.max_per_ip {
            return Err(SlotRefused::PerIp);
        }
        *n += 1;
        st.total += 1;
        Ok(Slot {
            owner: self.clone(),
            ip,
        })
    }

    /// True when this refusal should be logged (once per IP per minute).
    pub(crate) fn should_log_refusal(&self, ip: IpAddr) -> bool {
        let ip = limit_key(ip);
        let mut st = lock(&self.state);
        let now = Instant::now();
        if st.refusal_logged.len() > PRUNE_AT {
            st.refusal_logged
                .retain(|_, t| now.duration_since(*t) < Duration::from_secs(60));
        }
        match st.refusal_logged.get(&ip) {
            Some(t) if now.duration_since(*t) < Duration::from_secs(60) => false,
            _ => {
                st.refusal_logged.insert(ip, now);
                true
            }
        }
    }
}

/// One connection slot; dropping it gives the slot back.
pub(crate) struct Slot {
    owner: Arc<Connections>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut st = lock(&self.owner.state);
        st.total -= 1;
        if let Some(n) = st.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                st.per_ip.remove(&self.ip);
            }
        }
    }
}

/// Inbound frame budget of one session: a bucket of `burst` tokens refilled
/// at `per_sec`.
pub(crate) struct RateLimit {
    tokens: f64,
    burst: f64,
    per_sec: f64,
    last: Instant,
}

impl RateLimit {
    pub(crate) fn new(burst: u32, per_sec: u32) -> Self {
        RateLimit {
            tokens: burst as f64,
            burst: burst as f64,
            per_sec: per_sec as f64,
            last: Instant::now(),
        }
    }

    /// Spends one token; false when the bucket is empty.
    pub(crate) fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.per_sec;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

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

/// Compares without an early exit, so timing does not reveal a prefix.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Whether a request presents `expected` as its `Authorization: Bearer`
/// token (the bot-side endpoints and `/metrics`), compared in constant time.
pub(crate) fn bearer_matches(req: &actix_web::HttpRequest, expected: &str) -> bool {
    let given = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    same_secret(given, expected)
}

/// Raises the soft open-files limit to the hard limit, so that the
/// connection caps, not the process's descriptor table (often 1,024 by
/// default), decide how many clients fit. Returns the soft limit in effect.
#[cfg(unix)]
pub fn raise_open_files_limit() -> std::io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    // rlim_t is u64 here but not on every Unix.
    #[allow(clippy::unnecessary_cast)]
    Ok(lim.rlim_cur as u64)
}

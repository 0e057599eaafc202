//! Connection slots: open WebSocket sessions counted in total and per
//! address (IPv6 per /64), each held by a guard that gives it back.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::PRUNE_AT;
use crate::config::Config;
use crate::lock::lock;
use crate::proxy::limit_key;

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

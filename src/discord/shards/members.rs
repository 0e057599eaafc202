//! Member requests (REQUEST_GUILD_MEMBERS, op 8) for large guilds, whose
//! GUILD_CREATE leaves the offline members out: only for guilds that are
//! shown, each with a nonce, sent again when no chunk comes within the
//! timeout, and after `retry_after` when Discord answers `RATE_LIMITED`
//! (one whole-list request per guild per 30 s). The chunks themselves go
//! to the cache as they come, so a viewer who joins meanwhile sees the
//! members arrive.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Deserialize;
use twilight_model::gateway::payload::outgoing::RequestGuildMembers;
use twilight_model::id::Id;

/// One guild's request still waiting for its last chunk.
struct Pending {
    nonce: String,
    /// When it is sent again: no chunk by then, or after `retry_after`.
    due: Instant,
}

/// The member requests of the bot (one per guild at a time).
pub(crate) struct MemberRequests {
    pending: HashMap<u64, Pending>,
    /// Makes each nonce unique for the process.
    sent: u64,
    timeout: Duration,
}

/// A `RATE_LIMITED` dispatch (`d`), as Discord sends it for op 8.
#[derive(Deserialize)]
pub(crate) struct RateLimited {
    #[serde(default)]
    opcode: u8,
    #[serde(default)]
    retry_after: f64,
    #[serde(default)]
    meta: Meta,
}

#[derive(Deserialize, Default)]
struct Meta {
    #[serde(default)]
    guild_id: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

impl MemberRequests {
    pub(crate) fn new(timeout: Duration) -> MemberRequests {
        MemberRequests {
            pending: HashMap::new(),
            sent: 0,
            timeout,
        }
    }

    /// A request for `guild`'s whole list, with a fresh nonce, now
    /// pending; `None` when the id is not a snowflake.
    pub(crate) fn ask(&mut self, guild: u64, now: Instant) -> Option<RequestGuildMembers> {
        let id = Id::new_checked(guild)?;
        self.sent += 1;
        // At most 32 bytes, as Discord allows: the count in hex, unique in
        // the process (the guild comes with it in chunks and RATE_LIMITED).
        let nonce = format!("d{:x}", self.sent);
        let request = RequestGuildMembers::builder(id)
            .presences(true)
            .nonce(nonce.clone())
            .query("", None);
        self.pending.insert(
            guild,
            Pending {
                nonce,
                due: now + self.timeout,
            },
        );
        Some(request)
    }

    /// A chunk of `guild` came: the request is alive (or done, after the
    /// last chunk). A chunk of an older nonce of the guild still counts
    /// as members; only the deadline follows the current one.
    pub(crate) fn chunk(&mut self, guild: u64, nonce: Option<&str>, last: bool, now: Instant) {
        let Some(p) = self.pending.get_mut(&guild) else {
            return;
        };
        if nonce.is_some_and(|n| n != p.nonce) {
            return;
        }
        if last {
            self.pending.remove(&guild);
        } else {
            p.due = now + self.timeout;
        }
    }

    /// Discord refused a request for now: it goes again after `retry_after`.
    /// Answers the guild, for the log line.
    pub(crate) fn rate_limited(
        &mut self,
        r: &RateLimited,
        now: Instant,
    ) -> Option<(u64, Duration)> {
        if r.opcode != 8 {
            return None;
        }
        let guild: u64 = r.meta.guild_id.as_deref()?.parse().ok()?;
        let p = self.pending.get_mut(&guild)?;
        if r.meta.nonce.as_deref().is_some_and(|n| n != p.nonce) {
            return None;
        }
        let wait = Duration::try_from_secs_f64(r.retry_after.max(0.0)).unwrap_or(self.timeout);
        p.due = now + wait;
        Some((guild, wait))
    }

    /// The guild is gone (deleted, unavailable): nothing more to ask.
    pub(crate) fn forget(&mut self, guild: u64) {
        self.pending.remove(&guild);
    }

    /// Guilds whose request is due again.
    pub(crate) fn due(&self, now: Instant) -> Vec<u64> {
        self.pending
            .iter()
            .filter(|(_, p)| p.due <= now)
            .map(|(g, _)| *g)
            .collect()
    }

    #[cfg(test)]
    fn is_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limited(guild: u64, nonce: &str, after: f64) -> RateLimited {
        serde_json::from_value(serde_json::json!({
            "opcode": 8, "retry_after": after, "meta": {"guild_id": guild.to_string(), "nonce": nonce}
        }))
        .unwrap()
    }

    #[test]
    fn a_request_times_out_is_kept_alive_by_chunks_and_ends_with_the_last() {
        let t0 = Instant::now();
        let mut m = MemberRequests::new(Duration::from_secs(10));
        assert!(m.ask(1 << 22, t0).is_some());
        assert!(m.due(t0 + Duration::from_secs(9)).is_empty());
        assert_eq!(m.due(t0 + Duration::from_secs(10)), vec![1 << 22]);
        let nonce = m.pending[&(1 << 22)].nonce.clone();
        m.chunk(1 << 22, Some(&nonce), false, t0 + Duration::from_secs(5));
        assert!(m.due(t0 + Duration::from_secs(14)).is_empty());
        m.chunk(1 << 22, Some("another"), true, t0);
        assert!(m.is_pending());
        m.chunk(1 << 22, Some(&nonce), true, t0);
        assert!(!m.is_pending());
    }

    #[test]
    fn rate_limited_waits_retry_after_for_its_nonce_only() {
        let t0 = Instant::now();
        let mut m = MemberRequests::new(Duration::from_secs(10));
        m.ask(7 << 22, t0);
        let nonce = m.pending[&(7 << 22)].nonce.clone();
        assert!(m.rate_limited(&limited(7 << 22, "old", 1.0), t0).is_none());
        let (g, wait) = m.rate_limited(&limited(7 << 22, &nonce, 25.5), t0).unwrap();
        assert_eq!((g, wait), (7 << 22, Duration::from_millis(25_500)));
        assert!(m.due(t0 + Duration::from_secs(25)).is_empty());
        assert_eq!(m.due(t0 + Duration::from_secs(26)), vec![7 << 22]);
    }

    #[test]
    fn nonces_fit_discords_32_bytes() {
        let mut m = MemberRequests::new(Duration::from_secs(1));
        m.sent = u64::MAX - 1;
        m.ask(u64::MAX, Instant::now());
        assert!(m.pending[&u64::MAX].nonce.len() <= 32);
    }
}

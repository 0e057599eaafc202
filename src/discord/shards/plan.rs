//! Which shards this instance runs, out of how many, and how many of them
//! may identify at once: the configuration first (`--shard-range` with
//! `--shard-total`, or `--shards N`), else Discord's recommendation from
//! `GET /gateway/bot`.

use std::ops::Range;

use twilight_http::Client;

use crate::discord::DiscordConfig;

/// The shards to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The shard ids this instance runs.
    pub(crate) ids: Range<u32>,
    /// Every instance's shard count (what IDENTIFY says after the id).
    pub(crate) total: u32,
    /// Identify buckets (`shard_id % max_concurrency`).
    pub(crate) max_concurrency: u16,
}

/// What `GET /gateway/bot` tells, when it answers.
struct Recommended {
    shards: u32,
    max_concurrency: u16,
}

impl Plan {
    /// The plan for a start; `outgrown` is the shard count Discord just
    /// refused with 4011, so an automatic count grows past it.
    pub(crate) async fn read(config: &DiscordConfig, http: &Client, outgrown: Option<u32>) -> Plan {
        let asked = recommended(http).await;
        let max_concurrency = asked.as_ref().map_or(1, |r| r.max_concurrency.max(1));
        let (ids, total) = match (&config.shard_range, config.shard_total, config.shards) {
            (Some(range), Some(total), _) => (range.clone(), total),
            (_, _, Some(n)) => (0..n, n),
            _ => {
                let mut n = asked.as_ref().map_or(1, |r| r.shards.max(1));
                if let Some(old) = outgrown {
                    n = n.max(old + 1);
                }
                (0..n, n)
            }
        };
        Plan {
            ids,
            total,
            max_concurrency,
        }
    }

    /// Whether the shard count follows Discord (it may grow after a 4011).
    pub(crate) fn automatic(config: &DiscordConfig) -> bool {
        config.shards.is_none() && config.shard_range.is_none()
    }

    /// Whether this instance runs the shard of `guild`.
    pub(crate) fn runs(&self, shard: u32) -> bool {
        self.ids.contains(&shard)
    }
}

async fn recommended(http: &Client) -> Option<Recommended> {
    let answer = match http.gateway().authed().await {
        Ok(r) => r.model().await,
        Err(e) => {
            // Debug only: when Discord cannot be reached, the gateway's own
            // lines (`reach`) say where and why; a wrong count is fixed by
            // the 4011 restart, which reads it again.
            log::debug!("discord: could not read the recommended shard count (GET /gateway/bot): {e}; starting one shard");
            return None;
        }
    };
    match answer {
        Ok(info) => Some(Recommended {
            shards: info.shards,
            max_concurrency: info.session_start_limit.max_concurrency,
        }),
        Err(e) => {
            log::warn!("discord: GET /gateway/bot did not parse: {e}; starting one shard");
            None
        }
    }
}

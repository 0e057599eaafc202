//! The bot's gateway shards: how many, which, their identifies, their
//! states, and the member requests each guild's shard sends.
//!
//! Discord puts each guild on shard `(guild_id >> 22) % total` and closes
//! a shard that would hold too many guilds (4011, "sharding required").
//! So the bot asks `GET /gateway/bot` how many shards to run and how many
//! may identify at once (`max_concurrency`), starts them (all, or this
//! instance's range of a bot split over machines), lets them identify one
//! per bucket per five seconds, and sends every command about a guild on
//! the shard that owns it. A 4011 never ends the server: the plan is read
//! again and the shards start over with more.
//!
//! # Layout
//!
//! * `plan`: how many shards and which run here (`--shards`,
//!   `--shard-range`, `--shard-total`, `GET /gateway/bot`).
//! * `queue`: identifies paced per bucket, through Redis between
//!   instances.
//! * `runner`: one task per shard, their messages into one stream, and
//!   commands to the shard that owns a guild.
//! * `status`: each shard's state, for `/readyz` and `/metrics`.
//! * `members`: member requests of shown guilds: nonce, timeout,
//!   `RATE_LIMITED` retries.

mod members;
mod plan;
mod queue;
mod runner;
mod status;

pub(crate) use members::{MemberRequests, RateLimited};
pub(crate) use plan::Plan;
pub(crate) use queue::IdentifyQueue;
pub(crate) use runner::Runner;
pub(crate) use status::ShardStatus;

/// The shard of `guild` among `total`, as Discord routes it.
pub(crate) fn shard_of(guild: u64, total: u32) -> u32 {
    ((guild >> 22) % u64::from(total.max(1))) as u32
}

#[cfg(test)]
mod tests {
    #[test]
    fn guilds_route_by_their_timestamp_bits() {
        // A real guild id, 4 shards: (id >> 22) % 4.
        assert_eq!(super::shard_of(41_771_983_423_143_937, 4), 2);
        assert_eq!(super::shard_of(41_771_983_423_143_937, 1), 0);
        assert_eq!(super::shard_of(5 << 22, 3), 2);
    }
}

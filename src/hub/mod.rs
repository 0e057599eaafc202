//! The hubs: one `Hub` actor per Discord server with viewers, the
//! `Registry` that finds or starts it, and the `Broadcast` events it fans
//! out.
//!
//! A broadcast reaches the registry (from the `Handle`, `POST
//! /api/broadcast`, the built-in bot or Redis), which sends it to the
//! guild's hub; the hub encodes it once and hands the same bytes to every
//! member's outbox (see `ws` for the whole path). May import `wire`,
//! `protocol`, `deflate`, `metrics` and `lock`; sessions and the HTTP
//! front import it, never the other way.

pub(crate) mod batch;
pub(crate) mod broadcast;
pub(crate) mod catchup;
pub(crate) mod guild;
pub(crate) mod registry;

//! The WebSocket side: one `Session` actor per browser, and everything
//! between its socket and its hubs.
//!
//! Owns the session actor (`session`), answering a `connect` (`join`), the
//! `server-join` frame built from shared parts (`joinframe`), the writer
//! that puts the session's outbox and control frames on the wire in order
//! (`outgoing`), admitting an upgrade and starting its session (`start`),
//! and the connection taken over from the HTTP/1 dispatcher with its pump
//! (`upgrade/`): one path from the upgrade request to a started session,
//! `upgrade::take_over` -> `start::{admit_upgrade, negotiate,
//! session_queues, start_session}` -> `upgrade::pump::Pump`. May import `wire`, `hub`,
//! `providers`, `protocol`, `deflate`, `access`, `app` and the leaf modules; nothing
//! below imports it (the HTTP front in `web` does).
//!
//! The `Session` actor is the control plane of its connection (greeting,
//! `connect`, joining and leaving hubs, heartbeat, closing, eviction); it
//! is not on the data path. How a broadcast travels, hop by hop:
//!
//! ```text
//! Handle::broadcast_message(guild, uid, text, channel)      web/handle.rs
//!   │ Broadcast::Message, counted, sent as an actor message
//!   ▼
//! Registry::broadcast ── finds the guild's hub ──────────────  hub/registry.rs
//!   │ (or PUBLISH to Redis, which brings it back here: cluster/)
//!   ▼
//! Hub (actor)  encodes the JSON once; batches what queued   hub/guild.rs
//!   │ behind it; frames the batch once per wire form (plain,
//!   │ and deflated once for members that negotiated it)
//!   │ per member: backlog check on its Meter, then
//!   ▼
//! Outbox::push(generation, shared frames) ── bounded, ────── wire/outbox.rs
//!   │ belongs to the session; wakes its writer; a full or
//!   │ stale outbox gets the member evicted (Evict message)
//!   ▼
//! Outgoing::fill  runs the session's context if it was     ws/outgoing.rs
//!   │ woken, takes the outbox's frames (the session's own
//!   │ frames and hub batches, in order), then the context's
//!   │ control frames
//!   ▼
//! Pump (the taken-over socket: vectored write, uncopied)    ws/upgrade/pump.rs
//!   ▼
//! the socket
//! ```

pub(crate) mod join;
pub(crate) mod joinframe;
pub(crate) mod outgoing;
pub(crate) mod session;
pub(crate) mod start;
pub(crate) mod upgrade;

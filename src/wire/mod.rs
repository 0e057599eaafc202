//! Bytes on their way to a session: the wire form of text frames (plain
//! or RSV1-compressed), the per-session `Meter` of queued bytes, and the
//! session's `Outbox`, the bounded queue its hubs push batches into.
//!
//! Why a folder of its own, below both `hub` and `ws`: the hub writes into
//! a session's outbox and reads its meter, and the session joins hubs, so
//! what they share sits under both and imports neither. May import
//! `deflate`, `metrics` and `lock`.

pub(crate) mod outbound;
pub(crate) mod outbox;

//! Bytes on their way to and from a session: the wire form of text frames
//! (plain or RSV1-compressed), the per-session `Meter` of queued bytes, the
//! session's `Outbox`, the bounded queue its hubs push batches into, and
//! the connection's input (`inbound`: frames parsed and judged, whole
//! messages or one typed refusal).
//!
//! Why a folder of its own, below both `hub` and `ws`: the hub writes into
//! a session's outbox and reads its meter, and the session joins hubs, so
//! what they share sits under both and imports neither. May import
//! `deflate`, `metrics` and `lock`.

pub(crate) mod inbound;
pub(crate) mod outbound;
pub(crate) mod outbox;

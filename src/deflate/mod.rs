//! permessage-deflate (RFC 7692): the WebSocket compression browsers
//! offer, built on the frames we already write ourselves (actix-http has no
//! WebSocket extensions).
//!
//! Why: a viewer's biggest frame is the `server-join` with the whole member
//! list (about a megabyte of JSON for a 10,000-member guild), sent on every
//! page load and reconnect; deflated it is a fifteenth of that. The design
//! keeps the server's rule that a frame is encoded once and its bytes are
//! shared: the server answers every offer with `server_no_context_takeover`,
//! so each message it sends is compressed on its own, and one compressed
//! message is valid for every viewer. There is no compressor per
//! connection: the shared frames (the user map of a guild, the server list,
//! a hub's broadcasts) are compressed once, and the rare one-off frame
//! borrows the thread's compressor. The server also answers
//! `client_no_context_takeover`, so each client message inflates on its own
//! with the thread's inflater, and no connection keeps an inflate window.
//!
//! - [`offer`]: reads the client's offers and chooses the answer.
//! - [`compress`]: whole messages and the segments a join is made of.
//! - [`inflate`]: inflating a compressed client message (its frames are
//!   parsed and judged by `crate::wire::inbound`).
//!
//! What goes out compressed on a connection that negotiated it: the
//! `server-list` and `server-join` frames always (they are shared, so they
//! are compressed once), any other text frame when it is at least
//! `compression_min_bytes` long; control frames never.
//!
//! This folder imports nothing of the crate; the framing (`wire`), the
//! session, the hub and the upgrade path import it.

mod compress;
mod inflate;
mod offer;

pub(crate) use compress::{message, segment, stored, MESSAGE_END};
pub(crate) use inflate::{inflate, InflateError};
pub(crate) use offer::negotiate;

/// How the server compresses: the `compression_*` settings of the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Settings {
    /// Negotiated at all (`--compression on`).
    pub(crate) enabled: bool,
    /// zlib level, 0 (stored) to 9 (smallest).
    pub(crate) level: u32,
    /// Frames shorter than this go out uncompressed.
    pub(crate) min_bytes: usize,
}

impl Settings {
    /// Whether a frame of `len` bytes is worth compressing.
    pub(crate) fn worth(&self, len: usize) -> bool {
        len >= self.min_bytes
    }
}

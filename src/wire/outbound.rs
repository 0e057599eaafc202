//! Outbound accounting: how many bytes are queued for one session, measured
//! where they really are; and the wire form of the text frames sessions and
//! hubs send, plain or compressed (RSV1, see [`crate::deflate`]).
//!
//! The connection's pump counts the bytes it has written to the socket
//! ([`Meter::taken`]); everything queued for the session (by its hubs or by the session itself, in its
//! outbox or its context) is counted in the same [`Meter`]. The actor is
//! only polled while the socket accepts data, so a session cannot police
//! itself once its reader stalls; the hub does, reading the meter before
//! each delivery. This module sits below both, so the import graph runs one
//! way: session -> hub -> outbound.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use bytes::{BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use crate::deflate::{self, Settings};
use crate::frame;

/// A session's outbound accounting, shared by the session, its hubs and
/// its connection's pump.
#[derive(Default)]
pub(crate) struct Meter {
    /// Wire bytes queued for the session (outbox or context).
    queued: AtomicU64,
    /// Wire bytes the pump has written to the socket.
    taken: AtomicU64,
    /// Where the session's last `server-join` ends in the stream of taken
    /// bytes, and its length: those bytes do not count against the hub's
    /// backlog limit ([`Meter::exempt`]).
    join_end: AtomicU64,
    join_len: AtomicU64,
}

impl Meter {
    /// Counts a frame of this payload size as queued.
    pub(crate) fn queue(&self, payload: usize) {
        self.add(wire_len(payload));
    }

    /// Counts this many wire bytes as queued.
    pub(crate) fn add(&self, wire: u64) {
        self.queued.fetch_add(wire, Ordering::Relaxed);
    }

    /// Bytes queued and not yet written by the pump.
    pub(crate) fn backlog(&self) -> u64 {
        let taken = self.taken.load(Ordering::Relaxed);
        self.queued.load(Ordering::Relaxed).saturating_sub(taken)
    }

    pub(crate) fn taken(&self, bytes: usize) {
        self.taken.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Marks the next `len` bytes queued, behind `ahead` bytes already
    /// waiting, as the session's own `server-join`: until they are taken,
    /// [`backlog_beyond_join`](Self::backlog_beyond_join) leaves them out.
    pub(crate) fn exempt(&self, ahead: u64, len: u64) {
        let end = self.taken.load(Ordering::Relaxed) + ahead + len;
        self.join_len.store(len, Ordering::Relaxed);
        self.join_end.store(end, Ordering::Relaxed);
    }

    /// The backlog the hub judges a member by: everything queued and not
    /// yet taken, less what remains of its own `server-join` (a big guild's
    /// join may be larger than the limit by itself).
    pub(crate) fn backlog_beyond_join(&self) -> u64 {
        let taken = self.taken.load(Ordering::Relaxed);
        let queued = self.queued.load(Ordering::Relaxed).saturating_sub(taken);
        let join_left = self
            .join_end
            .load(Ordering::Relaxed)
            .saturating_sub(taken)
            .min(self.join_len.load(Ordering::Relaxed));
        queued.saturating_sub(join_left)
    }

    /// Queued wire bytes that will never be written (a batch for a hub
    /// the session has left): out of the backlog as if written.
    pub(crate) fn dropped(&self, wire: u64) {
        self.taken.fetch_add(wire, Ordering::Relaxed);
    }
}

/// Writes the header of an unmasked, final text frame (RFC 6455 §5.2)
/// with `len` payload bytes; `compressed` sets RSV1 (RFC 7692).
pub(crate) fn text_header(len: usize, compressed: bool, out: &mut BytesMut) {
    frame::Header::server(frame::TEXT, len, compressed).write(out);
}

/// An unmasked, final text frame of `payload`, as a server writes it:
/// [`wire_len`] bytes. `compressed` marks a deflated payload.
pub(crate) fn frame(payload: &[u8], compressed: bool) -> Bytes {
    let mut out = BytesMut::with_capacity(wire_len(payload.len()) as usize);
    text_header(payload.len(), compressed, &mut out);
    out.put_slice(payload);
    out.freeze()
}

/// A plain text frame of `payload`.
pub(crate) fn text_frame(payload: &[u8]) -> Bytes {
    frame(payload, false)
}

/// A text frame for a connection: deflated when it negotiated compression
/// and `text` is long enough to be worth it, else plain. With the sizes
/// before and after compression when it was compressed.
pub(crate) fn frame_for(
    text: &[u8],
    compressed: bool,
    settings: Settings,
) -> (Bytes, Option<(usize, usize)>) {
    if compressed && settings.worth(text.len()) {
        if let Some(packed) = deflate::message(text, settings.level) {
            return (frame(&packed, true), Some((text.len(), packed.len())));
        }
    }
    (text_frame(text), None)
}

/// A text message many sessions send (the `server-list` greeting): its
/// JSON, and its compressed payload, made the first time a connection
/// that negotiated compression needs it.
#[derive(Debug)]
pub(crate) struct Shared {
    text: ByteString,
    deflated: OnceLock<Option<Bytes>>,
}

impl Shared {
    pub(crate) fn new(text: impl Into<ByteString>) -> Shared {
        Shared {
            text: text.into(),
            deflated: OnceLock::new(),
        }
    }

    #[cfg(test)]
    pub(crate) fn text(&self) -> &ByteString {
        &self.text
    }

    /// The frame for a connection: compressed whenever it negotiated
    /// compression (whatever the size: a shared frame is compressed once),
    /// compressing at most once.
    pub(crate) fn frame(
        &self,
        compressed: bool,
        settings: Settings,
    ) -> (Bytes, Option<(usize, usize)>) {
        let text = self.text.as_bytes();
        if compressed {
            let packed = self
                .deflated
                .get_or_init(|| deflate::message(text, settings.level));
            if let Some(packed) = packed {
                return (frame(packed, true), Some((text.len(), packed.len())));
            }
        }
        (text_frame(text), None)
    }
}

/// Size on the wire of an unmasked server frame with this payload.
pub(crate) fn wire_len(payload: usize) -> u64 {
    (frame::header_len(payload as u64, false) + payload) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_frames_match_actix_codec() {
        for len in [0usize, 1, 125, 126, 65535, 65536, 1 << 20] {
            let payload = "x".repeat(len);
            let ours = text_frame(payload.as_bytes());
            let mut theirs = bytes::BytesMut::new();
            let mut codec = actix_http::ws::Codec::new().max_size(usize::MAX);
            actix_codec::Encoder::encode(
                &mut codec,
                actix_http::ws::Message::Text(payload.into()),
                &mut theirs,
            )
            .expect("encodes");
            assert_eq!(ours, theirs, "payload of {len}");
            assert_eq!(ours.len() as u64, wire_len(len));
        }
    }

    #[test]
    fn compressed_frames_set_rsv1_and_small_ones_stay_plain() {
        let settings = Settings {
            enabled: true,
            level: 6,
            min_bytes: 100,
        };
        let long = "y".repeat(1000);
        let (plain, none) = frame_for(long.as_bytes(), false, settings);
        assert_eq!((plain[0], none), (0x81, None));
        let (packed, sizes) = frame_for(long.as_bytes(), true, settings);
        assert_eq!(packed[0], 0xc1, "RSV1 and FIN, text");
        let (before, after) = sizes.unwrap();
        assert_eq!((before, packed.len()), (1000, after + 2));
        let (short, none) = frame_for(b"short", true, settings);
        assert_eq!((&short[..], none), (&b"\x81\x05short"[..], None));
        let shared = Shared::new(long);
        assert_eq!(shared.frame(true, settings).0, packed, "the same bytes");
        assert_eq!(shared.frame(false, settings).0, plain);
        let small = Shared::new("small");
        assert_eq!(small.frame(true, settings).0[0], 0xc1, "shared: always");
    }

    #[test]
    fn wire_lengths() {
        assert_eq!(wire_len(0), 2);
        assert_eq!(wire_len(125), 127);
        assert_eq!(wire_len(126), 130);
        assert_eq!(wire_len(70_000), 70_010);
    }
}

//! Outbound accounting: how many bytes are queued for one session, measured
//! where they really are; and the wire form of the text frames hubs send.
//!
//! The session's response body stream is wrapped in [`Metered`], which
//! counts the bytes the HTTP layer has taken towards the socket; everything
//! queued for the session (by the hub before it even reaches the mailbox,
//! or by the session itself) is counted in the same [`Meter`]. The actor is
//! only polled while the socket accepts data, so a session cannot police
//! itself once its reader stalls; the hub does, reading the meter before
//! each delivery. This module sits below both, so the import graph runs one
//! way: session -> hub -> outbound.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::Stream;

/// A session's outbound accounting, shared by the session, its hub and its
/// response body.
#[derive(Default)]
pub(crate) struct Meter {
    /// Wire bytes queued for the session (mailbox or context).
    queued: AtomicU64,
    /// Wire bytes the HTTP layer has taken towards the socket.
    taken: AtomicU64,
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

    /// Bytes queued and not yet taken by the HTTP layer.
    pub(crate) fn backlog(&self) -> u64 {
        let taken = self.taken.load(Ordering::Relaxed);
        self.queued.load(Ordering::Relaxed).saturating_sub(taken)
    }

    pub(crate) fn taken(&self, bytes: usize) {
        self.taken.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Queued wire bytes that will never be written (a batch for a hub
    /// the session has left): out of the backlog as if written.
    pub(crate) fn dropped(&self, wire: u64) {
        self.taken.fetch_add(wire, Ordering::Relaxed);
    }
}

/// The session's response body, counting what leaves it.
pub(crate) struct Metered<S> {
    inner: S,
    meter: Arc<Meter>,
}

impl<S> Metered<S> {
    pub(crate) fn new(inner: S, meter: Arc<Meter>) -> Self {
        Metered { inner, meter }
    }
}

impl<S, E> Stream for Metered<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &polled {
            self.meter.taken(chunk.len());
        }
        polled
    }
}

/// An unmasked, final text frame (RFC 6455 §5.2) of `payload`, as a
/// server writes it: [`wire_len`] bytes.
pub(crate) fn text_frame(payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(wire_len(payload.len()) as usize);
    out.put_u8(0x81);
    match payload.len() {
        len @ 0..=125 => out.put_u8(len as u8),
        len @ 126..=65535 => {
            out.put_u8(126);
            out.put_u16(len as u16);
        }
        len => {
            out.put_u8(127);
            out.put_u64(len as u64);
        }
    }
    out.put_slice(payload);
    out.freeze()
}

/// Size on the wire of an unmasked server frame with this payload.
pub(crate) fn wire_len(payload: usize) -> u64 {
    let header = match payload {
        0..=125 => 2,
        126..=65535 => 4,
        _ => 10,
    };
    (header + payload) as u64
}

#[cfg(test)]
mod tests {
    use super::{text_frame, wire_len};

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
    fn wire_lengths() {
        assert_eq!(wire_len(0), 2);
        assert_eq!(wire_len(125), 127);
        assert_eq!(wire_len(126), 130);
        assert_eq!(wire_len(70_000), 70_010);
    }
}

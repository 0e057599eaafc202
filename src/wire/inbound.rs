//! The input of a connection, parsed and judged in one place: the socket's
//! bytes become whole messages for the session, or one typed [`Refusal`]
//! that says which close it calls for.
//!
//! Frame headers are read with [`crate::frame`]. Every rule is checked
//! where the frame is parsed, as soon as its header is in: client frames
//! are masked; RSV2 and RSV3 are never set, RSV1 only on the first frame of
//! a data message of a connection that negotiated permessage-deflate;
//! control frames are final and at most 125 bytes; opcodes are known;
//! fragments continue a message that was started, and a new message does
//! not start inside one; a message (single frame, fragments gathered, or
//! inflated) is at most the size limit, refused from its header before its
//! payload is buffered; a compressed message inflates (a deflate bomb costs
//! at most the limit, once); text is UTF-8. The session receives
//! [`Received`] items and a refusal as a value, never as error text. After
//! a refusal the input goes on (the refused frame skipped unbuffered), so
//! the session, closing, still sees the client's Close.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use bytestring::ByteString;
use futures_util::Stream;

use crate::deflate::{inflate, InflateError};
use crate::frame::{self, Header};

/// A whole message or control frame from the client.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Received {
    /// A text message, reassembled and inflated, checked to be UTF-8.
    Text(ByteString),
    /// A binary message, reassembled and inflated.
    Binary(Bytes),
    Ping(Bytes),
    Pong(Bytes),
    /// The client's Close, with its status code if it gave one.
    Close(Option<u16>),
}

/// Why the input was refused; the session closes with its code and reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A message over the size limit: 1009 "message too big".
    TooBig(&'static str),
    /// A compressed message that does not inflate: 1007 "invalid
    /// compressed data".
    Corrupt,
    /// A text message that is not UTF-8: 1007.
    NotUtf8,
    /// Anything else RFC 6455 or 7692 forbids: 1002 "protocol error".
    Protocol(&'static str),
}

impl Refusal {
    /// The close it calls for: (code, reason sent, cause logged).
    pub(crate) fn close(self) -> (u16, &'static str, &'static str) {
        match self {
            Refusal::TooBig(cause) => (1009, "message too big", cause),
            Refusal::Corrupt => (
                1007,
                "invalid compressed data",
                "compressed message does not inflate",
            ),
            Refusal::NotUtf8 => (1007, "text frame is not UTF-8", "text frame is not UTF-8"),
            Refusal::Protocol(cause) => (1002, "protocol error", cause),
        }
    }
}

/// A fragmented (or compressed) message being gathered.
struct Partial {
    binary: bool,
    compressed: bool,
    buf: BytesMut,
}

/// A connection's input: `S` yields the socket's bytes as they arrive.
pub(crate) struct Inbound<S> {
    input: S,
    /// Bytes read and not yet parsed.
    buf: BytesMut,
    /// The message-size limit.
    max: usize,
    /// The connection negotiated permessage-deflate.
    deflate: bool,
    partial: Option<Partial>,
    /// Bytes of a refused frame still to be skipped.
    skip: u64,
    /// The input ended.
    done: bool,
}

impl<S> Inbound<S> {
    pub(crate) fn new(input: S, max: usize, deflate: bool) -> Self {
        Inbound {
            input,
            buf: BytesMut::new(),
            max,
            deflate,
            partial: None,
            skip: 0,
            done: false,
        }
    }

    /// Judges the header at the front of `buf` before its payload is in.
    fn judge(&self, h: &Header) -> Result<(), Refusal> {
        if h.mask.is_none() {
            return Err(Refusal::Protocol("unmasked client frame"));
        }
        if h.rsv2 || h.rsv3 {
            return Err(Refusal::Protocol("RSV2 or RSV3 set"));
        }
        let known = matches!(
            h.opcode,
            frame::CONTINUATION
                | frame::TEXT
                | frame::BINARY
                | frame::CLOSE
                | frame::PING
                | frame::PONG
        );
        if !known {
            return Err(Refusal::Protocol("unknown opcode"));
        }
        if h.is_control() {
            if h.rsv1 {
                return Err(Refusal::Protocol(
                    "RSV1 where permessage-deflate does not allow it",
                ));
            }
            if !h.fin {
                return Err(Refusal::Protocol("fragmented control frame"));
            }
            if h.payload > 125 {
                return Err(Refusal::Protocol("control frame over 125 bytes"));
            }
            return Ok(());
        }
        let continuation = h.opcode == frame::CONTINUATION;
        if h.rsv1 && (!self.deflate || continuation) {
            return Err(Refusal::Protocol(
                "RSV1 where permessage-deflate does not allow it",
            ));
        }
        match (&self.partial, continuation) {
            (None, true) => return Err(Refusal::Protocol("continuation without a first frame")),
            (Some(_), false) => {
                return Err(Refusal::Protocol("a new message inside a fragmented one"))
            }
            _ => {}
        }
        let gathered = self.partial.as_ref().map_or(0, |p| p.buf.len() as u64);
        if gathered.saturating_add(h.payload) > self.max as u64 {
            let compressed = h.rsv1 || self.partial.as_ref().is_some_and(|p| p.compressed);
            return Err(Refusal::TooBig(
                match (compressed, continuation || !h.fin) {
                    (true, _) => "compressed message over the limit",
                    (false, true) => "fragmented message over the limit",
                    (false, false) => "frame over the limit",
                },
            ));
        }
        Ok(())
    }

    /// The next item `buf` holds whole, `None` to read more.
    fn next_item(&mut self) -> Result<Option<Received>, Refusal> {
        loop {
            if self.skip > 0 {
                let n = self.skip.min(self.buf.len() as u64);
                self.buf.advance(n as usize);
                self.skip -= n;
                if self.skip > 0 {
                    return Ok(None);
                }
            }
            let Some(h) = Header::parse(&self.buf) else {
                return Ok(None);
            };
            if let Err(refusal) = self.judge(&h) {
                // Skipped as it arrives, never buffered.
                self.skip = h.len() as u64 + h.payload;
                self.partial = None;
                return Err(refusal);
            }
            let (start, len) = (h.len(), h.payload as usize);
            if self.buf.len() < start + len {
                return Ok(None);
            }
            self.buf.advance(start);
            let mut payload = self.buf.split_to(len);
            if let Some(mask) = h.mask {
                frame::apply_mask(&mut payload, mask);
            }
            if self.buf.is_empty() {
                // An idle connection keeps no buffer.
                self.buf = BytesMut::new();
            }
            let payload = match h.opcode {
                frame::PING => return Ok(Some(Received::Ping(payload.freeze()))),
                frame::PONG => return Ok(Some(Received::Pong(payload.freeze()))),
                frame::CLOSE => return close(&payload).map(Some),
                _ => payload,
            };
            let mut partial = match self.partial.take() {
                Some(mut p) => {
                    p.buf.extend_from_slice(&payload);
                    p
                }
                None => Partial {
                    binary: h.opcode == frame::BINARY,
                    compressed: h.rsv1,
                    buf: payload,
                },
            };
            if !h.fin {
                self.partial = Some(partial);
                continue;
            }
            if partial.compressed {
                partial.buf = match inflate(&partial.buf, self.max) {
                    Ok(inflated) => BytesMut::from(&inflated[..]),
                    Err(InflateError::TooBig) => {
                        return Err(Refusal::TooBig("compressed message over the limit"))
                    }
                    Err(_) => return Err(Refusal::Corrupt),
                };
            }
            let data = partial.buf.freeze();
            if partial.binary {
                return Ok(Some(Received::Binary(data)));
            }
            return ByteString::try_from(data)
                .map(|text| Some(Received::Text(text)))
                .map_err(|_| Refusal::NotUtf8);
        }
    }
}

/// A Close frame's payload: empty, or a status code and a reason.
fn close(payload: &[u8]) -> Result<Received, Refusal> {
    match payload {
        [] => Ok(Received::Close(None)),
        [_] => Err(Refusal::Protocol("a Close frame of one byte")),
        [a, b, ..] => {
            let code = u16::from_be_bytes([*a, *b]);
            // RFC 6455 §7.4: codes a peer may send.
            let valid = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            if valid {
                Ok(Received::Close(Some(code)))
            } else {
                Err(Refusal::Protocol("a Close frame with an invalid code"))
            }
        }
    }
}

impl<S, E> Stream for Inbound<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    type Item = Result<Received, Refusal>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match this.next_item() {
                Ok(Some(item)) => return Poll::Ready(Some(Ok(item))),
                Ok(None) => {}
                Err(refusal) => return Poll::Ready(Some(Err(refusal))),
            }
            match Pin::new(&mut this.input).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => this.buf.extend_from_slice(&chunk),
                Poll::Ready(Some(Err(e))) => {
                    // A reset or a broken TLS stream: the connection is gone.
                    log::debug!("websocket input ended: {e}");
                    this.done = true;
                }
                // The end of the input, inside a frame or between frames.
                Poll::Ready(None) => this.done = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(first: u8, payload: &[u8]) -> Vec<u8> {
        frame::encode(Header::from_first(first, Some([9, 8, 7, 6])), payload)
    }

    /// Feeds `input` in 3-byte reads; the items, and the refusal if any.
    fn run(input: Vec<u8>, max: usize, deflate: bool) -> Vec<Result<Received, Refusal>> {
        let chunks: Vec<Result<Bytes, std::io::Error>> = input
            .chunks(3)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let inbound = Inbound::new(futures_util::stream::iter(chunks), max, deflate);
        let mut inbound = std::pin::pin!(inbound);
        let mut out = Vec::new();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        // The input is all there: every poll is ready.
        while let Poll::Ready(Some(item)) = inbound.as_mut().poll_next(&mut cx) {
            out.push(item);
        }
        out
    }

    #[test]
    fn messages_arrive_whole() {
        let mut input = client(0x01, b"he");
        input.extend(client(0x89, b"p")); // a ping between fragments
        input.extend(client(0x80, b"llo"));
        input.extend(client(0x82, &[0xff]));
        input.extend(client(0x88, &1000u16.to_be_bytes()));
        assert_eq!(
            run(input, 100, false),
            [
                Ok(Received::Ping(Bytes::from_static(b"p"))),
                Ok(Received::Text("hello".into())),
                Ok(Received::Binary(Bytes::from_static(&[0xff]))),
                Ok(Received::Close(Some(1000))),
            ]
        );
    }

    #[test]
    fn refusals_are_typed_and_end_the_input() {
        let cases: Vec<(Vec<u8>, Refusal)> = vec![
            (
                frame::encode(Header::from_first(0x81, None), b"x"),
                Refusal::Protocol("unmasked client frame"),
            ),
            (client(0x81, &[0xc3, 0x28]), Refusal::NotUtf8),
            (
                client(0x81, &[b'x'; 11]),
                Refusal::TooBig("frame over the limit"),
            ),
            (
                client(0xc1, b"x"),
                Refusal::Protocol("RSV1 where permessage-deflate does not allow it"),
            ),
            (
                client(0x80, b"x"),
                Refusal::Protocol("continuation without a first frame"),
            ),
            (client(0x83, b""), Refusal::Protocol("unknown opcode")),
            (
                client(0x09, b""),
                Refusal::Protocol("fragmented control frame"),
            ),
            (
                client(0x88, &[3]),
                Refusal::Protocol("a Close frame of one byte"),
            ),
        ];
        for (mut input, refusal) in cases {
            // The refused frame is skipped; what follows is read.
            input.extend(client(0x88, &1000u16.to_be_bytes()));
            assert_eq!(
                run(input, 10, false),
                [Err(refusal), Ok(Received::Close(Some(1000)))],
                "{refusal:?}"
            );
        }
    }

    fn compressed(text: &[u8]) -> Vec<u8> {
        crate::deflate::message(text, 6).unwrap().to_vec()
    }

    /// With permessage-deflate: a compressed message arrives inflated, also
    /// gathered from fragments with a ping between them.
    #[test]
    fn compressed_messages_arrive_inflated() {
        let packed = compressed(b"fragmented message");
        let (a, b) = packed.split_at(5);
        let mut input = client(0xc1, &compressed(b"hello hello hello"));
        input.extend(client(0x41, a));
        input.extend(client(0x89, b""));
        input.extend(client(0x80, b));
        input.extend(client(0x81, b"plain"));
        assert_eq!(
            run(input, 1024, true),
            [
                Ok(Received::Text("hello hello hello".into())),
                Ok(Received::Ping(Bytes::new())),
                Ok(Received::Text("fragmented message".into())),
                Ok(Received::Text("plain".into())),
            ]
        );
    }

    /// Bombs, garbage and RSV1 where RFC 7692 forbids it.
    #[test]
    fn compressed_refusals() {
        let bomb = compressed(&vec![b'a'; 100_000]);
        let mut cont = client(0x01, b"a");
        cont.extend(client(0xc0, b"b"));
        let rsv1 = Refusal::Protocol("RSV1 where permessage-deflate does not allow it");
        let cases: Vec<(Vec<u8>, Refusal)> = vec![
            (
                client(0xc1, &bomb),
                Refusal::TooBig("compressed message over the limit"),
            ),
            (client(0xc1, b"\xff\xfe\xfd garbage"), Refusal::Corrupt),
            (client(0xc9, b""), rsv1),
            (client(0xe1, b""), Refusal::Protocol("RSV2 or RSV3 set")),
            (cont, rsv1),
        ];
        for (input, refusal) in cases {
            let items = run(input, 4096, true);
            assert_eq!(items.first(), Some(&Err(refusal)), "{refusal:?}");
        }
    }
}

//! The input of a connection that negotiated compression: compressed client
//! messages are inflated before actix-http's frame parser sees them.
//!
//! [`Inflating`] sits between the socket's bytes and the session's
//! `WebsocketContext`. Frames without RSV1 pass through untouched (in one
//! chunk per read, not copied). A compressed message (RSV1 on its first
//! frame) is gathered, inflated with the thread's inflater, and handed on
//! as one unfragmented, unflagged frame, so the context then checks UTF-8
//! and size and the session sees an ordinary message. The inflated size is
//! bounded by the message-size limit while inflating: a deflate bomb costs
//! at most that much memory, once.
//!
//! A message that breaks the extension's rules ends the input with an error
//! and leaves its [`Refusal`] in the shared [`Refusals`] cell, where the
//! session reads which close code to send (the context flattens stream
//! errors into text).

use std::cell::{Cell, RefCell};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_http::error::PayloadError;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use flate2::{Decompress, FlushDecompress, Status};

use crate::frame;
use futures_util::Stream;

/// Why a connection's compressed input was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Inflated (or still compressed) past the message-size limit: 1009.
    TooBig,
    /// Not valid deflate data: 1007.
    Corrupt,
    /// RSV1 on a control or continuation frame, RSV2 or RSV3 at all, or a
    /// new message inside a compressed one: 1002.
    Protocol,
}

/// Where the input leaves its refusal for the session.
pub(crate) type Refusals = Rc<Cell<Option<Refusal>>>;

/// The RFC 7692 trailer the sender left off.
const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

thread_local! {
    /// This thread's inflater, reset per message.
    static INFLATER: RefCell<Decompress> = RefCell::new(Decompress::new(false));
}

/// A frame's header as the client sent it, in the form this module
/// judges it by (read with [`crate::frame::Header::parse`]).
struct Header {
    fin: bool,
    rsv1: bool,
    /// RSV2 or RSV3: no extension of ours defines them.
    rsv_other: bool,
    opcode: u8,
    /// Zeros for an unmasked frame, which is passed on for actix-http to
    /// refuse.
    mask: [u8; 4],
    /// Header bytes, mask included.
    len: usize,
    payload: usize,
}

/// Reads one client frame header from the front of `buf`, or `None` when
/// it is not all there yet.
fn header(buf: &[u8]) -> Option<Header> {
    let h = frame::Header::parse(buf)?;
    Some(Header {
        fin: h.fin,
        rsv1: h.rsv1,
        rsv_other: h.rsv2 || h.rsv3,
        opcode: h.opcode,
        mask: h.mask.unwrap_or([0; 4]),
        len: h.len(),
        payload: usize::try_from(h.payload).unwrap_or(usize::MAX),
    })
}

/// The input stream of a connection with permessage-deflate.
pub(crate) struct Inflating<S> {
    input: S,
    /// Bytes read and not yet handed on.
    buf: BytesMut,
    /// The message-size limit, for inflated messages and gathered frames.
    max: usize,
    /// A compressed message's opcode and payload, gathered frame by frame.
    gathering: Option<(u8, BytesMut)>,
    /// A frame too big to gather was passed on; everything after it too.
    passing: bool,
    refusals: Refusals,
    ended: bool,
}

impl<S> Inflating<S> {
    pub(crate) fn new(input: S, max: usize, refusals: Refusals) -> Self {
        Inflating {
            input,
            buf: BytesMut::new(),
            max,
            gathering: None,
            passing: false,
            refusals,
            ended: false,
        }
    }

    /// The next chunk to hand on from what `buf` holds, `None` to read more.
    fn next_out(&mut self) -> Result<Option<Bytes>, Refusal> {
        if self.passing {
            return Ok((!self.buf.is_empty()).then(|| self.buf.split().freeze()));
        }
        // Plain frames at the front are handed on together.
        let mut plain = 0;
        while let Some(h) = header(&self.buf[plain..]) {
            if h.rsv_other {
                return Err(Refusal::Protocol);
            }
            let control = h.opcode & 0x08 != 0;
            let continuation = h.opcode == 0;
            let ours = h.rsv1 || (continuation && self.gathering.is_some());
            if !ours {
                if !control && !continuation && self.gathering.is_some() {
                    return Err(Refusal::Protocol);
                }
                if h.payload > self.max.max(125) {
                    // actix-http refuses it by its length (1009); no
                    // reason to hold it.
                    self.passing = true;
                    return Ok(Some(self.buf.split().freeze()));
                }
                let whole = h.len + h.payload;
                if self.buf.len() - plain < whole {
                    break;
                }
                plain += whole;
                continue;
            }
            if control || (h.rsv1 && continuation) || (h.rsv1 && self.gathering.is_some()) {
                return Err(Refusal::Protocol);
            }
            if plain > 0 {
                break; // hand on the plain frames before this one first
            }
            let gathered = self.gathering.as_ref().map_or(0, |(_, g)| g.len());
            if gathered.saturating_add(h.payload) > self.max {
                return Err(Refusal::TooBig);
            }
            if self.buf.len() < h.len + h.payload {
                return Ok(None);
            }
            self.buf.advance(h.len);
            let mut payload = self.buf.split_to(h.payload);
            frame::apply_mask(&mut payload, h.mask);
            let (opcode, mut message) = match self.gathering.take() {
                Some(g) => g,
                None => (h.opcode, BytesMut::new()),
            };
            if message.is_empty() {
                message = payload;
            } else {
                message.extend_from_slice(&payload);
            }
            if !h.fin {
                self.gathering = Some((opcode, message));
                continue;
            }
            let inflated = inflate(&message, self.max)?;
            return Ok(Some(inflated_frame(opcode, &inflated)));
        }
        if plain > 0 {
            return Ok(Some(self.buf.split_to(plain).freeze()));
        }
        if self.buf.is_empty() {
            // An idle connection keeps no buffer.
            self.buf = BytesMut::new();
        }
        Ok(None)
    }
}

impl<S> Stream for Inflating<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.ended {
                return Poll::Ready(None);
            }
            match this.next_out() {
                Ok(Some(chunk)) => return Poll::Ready(Some(Ok(chunk))),
                Ok(None) => {}
                Err(refusal) => {
                    this.ended = true;
                    this.refusals.set(Some(refusal));
                    let e = io::Error::new(io::ErrorKind::InvalidData, "permessage-deflate");
                    return Poll::Ready(Some(Err(PayloadError::Io(e))));
                }
            }
            match Pin::new(&mut this.input).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    if this.buf.is_empty() && this.passing {
                        return Poll::Ready(Some(Ok(chunk)));
                    }
                    this.buf.extend_from_slice(&chunk);
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => {
                    // A partial frame at the end goes on for the parser
                    // to see the connection end inside it.
                    this.ended = true;
                    let rest = this.buf.split().freeze();
                    return Poll::Ready((!rest.is_empty()).then_some(Ok(rest)));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// A compressed message's payload inflated, at most `max` bytes.
fn inflate(compressed: &[u8], max: usize) -> Result<Vec<u8>, Refusal> {
    let mut input = Vec::with_capacity(compressed.len() + SYNC_TAIL.len());
    input.extend_from_slice(compressed);
    input.extend_from_slice(&SYNC_TAIL);
    INFLATER.with(|cell| {
        let mut d = cell.borrow_mut();
        d.reset(false);
        let start = d.total_in();
        let mut out = Vec::with_capacity((compressed.len() * 4).clamp(64, max + 1));
        loop {
            if out.len() == out.capacity() {
                // Room for one byte past the limit, to see it crossed.
                out.reserve_exact(out.capacity().min(max + 1 - out.len()).max(1));
            }
            let consumed = (d.total_in() - start) as usize;
            let before = (d.total_in(), d.total_out());
            let status = d
                .decompress_vec(&input[consumed..], &mut out, FlushDecompress::Sync)
                .map_err(|_| Refusal::Corrupt)?;
            if out.len() > max {
                return Err(Refusal::TooBig);
            }
            let all_in = (d.total_in() - start) as usize == input.len();
            if status == Status::StreamEnd || (all_in && out.len() < out.capacity()) {
                return Ok(out);
            }
            if (d.total_in(), d.total_out()) == before && out.len() < out.capacity() {
                return Err(Refusal::Corrupt); // no progress with room to spare
            }
        }
    })
}

/// An unflagged, final, masked client frame (mask of zeros) of
/// `payload`: an inflated message, as actix-http's parser expects it.
fn inflated_frame(opcode: u8, payload: &[u8]) -> Bytes {
    let header = frame::Header::client(opcode, payload.len(), [0; 4]);
    let mut out = BytesMut::with_capacity(header.len() + payload.len());
    header.write(&mut out);
    out.put_slice(payload);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        frame::encode(
            frame::Header::from_first(first, Some([1, 2, 3, 4])),
            payload,
        )
    }

    fn run(input: Vec<u8>, max: usize) -> (Vec<u8>, Option<Refusal>) {
        let refusals = Refusals::default();
        let chunks: Vec<Result<Bytes, PayloadError>> = input
            .chunks(7)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let stream = Inflating::new(futures_util::stream::iter(chunks), max, refusals.clone());
        let mut stream = std::pin::pin!(stream);
        let mut out = Vec::new();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        // The input is all there: every poll is ready.
        while let Poll::Ready(Some(Ok(chunk))) = stream.as_mut().poll_next(&mut cx) {
            out.extend_from_slice(&chunk);
        }
        (out, refusals.get())
    }

    fn compressed(text: &[u8]) -> Vec<u8> {
        crate::deflate::message(text, 6).unwrap().to_vec()
    }

    #[test]
    fn plain_frames_pass_and_compressed_ones_arrive_inflated() {
        let ping = client_frame(0x89, b"p");
        let mut input = ping.clone();
        input.extend(client_frame(0xc1, &compressed(b"hello hello hello")));
        input.extend(client_frame(0x81, b"plain"));
        let (out, refused) = run(input, 1024);
        assert_eq!(refused, None);
        let mut expected = ping;
        expected.extend([0x81, 0x80 | 17, 0, 0, 0, 0]);
        expected.extend(b"hello hello hello");
        expected.extend(client_frame(0x81, b"plain"));
        assert_eq!(out, expected);
    }

    #[test]
    fn a_fragmented_compressed_message_is_gathered() {
        let packed = compressed(b"fragmented message");
        let (a, b) = packed.split_at(5);
        let mut input = client_frame(0x41, a);
        input.extend(client_frame(0x89, b"")); // a ping between fragments
        input.extend(client_frame(0x80, b));
        let (out, refused) = run(input, 1024);
        assert_eq!(refused, None);
        let mut expected = client_frame(0x89, b"");
        expected.extend([0x81, 0x80 | 18, 0, 0, 0, 0]);
        expected.extend(b"fragmented message");
        assert_eq!(out, expected);
    }

    #[test]
    fn bombs_garbage_and_misplaced_rsv1_are_refused() {
        let bomb = compressed(&vec![b'a'; 100_000]);
        assert!(bomb.len() < 1024);
        assert_eq!(
            run(client_frame(0xc1, &bomb), 4096).1,
            Some(Refusal::TooBig)
        );
        assert_eq!(
            run(client_frame(0xc1, b"\xff\xfe\xfd garbage"), 4096).1,
            Some(Refusal::Corrupt)
        );
        assert_eq!(
            run(client_frame(0xc9, b""), 4096).1,
            Some(Refusal::Protocol)
        );
        assert_eq!(
            run(client_frame(0xe1, b""), 4096).1,
            Some(Refusal::Protocol)
        );
        let mut cont = client_frame(0x01, b"a");
        cont.extend(client_frame(0xc0, b"b"));
        assert_eq!(run(cont, 4096).1, Some(Refusal::Protocol));
    }
}

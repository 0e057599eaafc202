//! Raw deflate as RFC 7692 frames carry it: a message is deflate blocks
//! ending in a sync flush whose last four bytes (`00 00 ff ff`) are left
//! off; the receiver puts them back before inflating.
//!
//! A message may also be assembled from byte-aligned segments, each made
//! without reference to the others: a `server-join` is a stored block of
//! its head, the guild's user map compressed once ([`segment`]) and shared
//! by every join, and a stored block of its tail. Deflate's back-references
//! only reach into data already inflated, so segments made apart are valid
//! side by side, and the 1 MiB user map costs one compression per change,
//! not one per viewer.
//!
//! Each thread keeps one compressor (reset per message), so no connection
//! holds compressor state.

use std::cell::RefCell;

use bytes::{BufMut, Bytes, BytesMut};
use flate2::{Compress, Compression, FlushCompress, Status};

/// The trailer a sync flush ends with, which RFC 7692 frames leave off.
const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The last byte of a message made of segments: the header of an empty
/// stored block, which the receiver's `00 00 ff ff` completes.
pub(crate) const MESSAGE_END: u8 = 0x00;

/// Largest stored block (its length field is 16 bits).
const MAX_STORED: usize = u16::MAX as usize;

thread_local! {
    /// This thread's compressor and the level it was made for.
    static COMPRESSOR: RefCell<Option<(u32, Compress)>> = const { RefCell::new(None) };
}

/// `data` deflated at `level` and sync-flushed: an independent,
/// byte-aligned run of blocks ending in `00 00 ff ff`. `None` only if the
/// compressor fails, which zlib does not for in-memory input.
pub(crate) fn segment(data: &[u8], level: u32) -> Option<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        let compressor = match &mut *cell {
            Some((made_for, c)) if *made_for == level => {
                c.reset();
                c
            }
            slot => {
                let fresh = Compress::new(Compression::new(level.min(9)), false);
                &mut slot.insert((level, fresh)).1
            }
        };
        let start_in = compressor.total_in();
        let mut out = Vec::with_capacity(data.len() / 3 + 64);
        loop {
            let done = (compressor.total_in() - start_in) as usize;
            let status = compressor
                .compress_vec(&data[done..], &mut out, FlushCompress::Sync)
                .ok()?;
            let consumed = (compressor.total_in() - start_in) as usize == data.len();
            // The flush is complete once all input is in and the output
            // had room to spare.
            if consumed && out.len() < out.capacity() && status != Status::BufError {
                break;
            }
            out.reserve(out.capacity().max(4096));
        }
        out.ends_with(&SYNC_TAIL).then_some(out)
    })
}

/// `data` as one compressed message payload (RSV1 frames), or `None` when
/// compressing fails.
pub(crate) fn message(data: &[u8], level: u32) -> Option<Bytes> {
    let mut out = segment(data, level)?;
    out.truncate(out.len() - SYNC_TAIL.len());
    Some(Bytes::from(out))
}

/// Appends `data` as stored (uncompressed) deflate blocks, starting and
/// ending on a byte boundary: for the small per-join parts around a shared
/// segment, where compressing would save a few bytes at the cost of a
/// compressor reset.
pub(crate) fn stored(data: &[u8], out: &mut BytesMut) {
    for chunk in data.chunks(MAX_STORED) {
        // BFINAL 0, BTYPE 00, padded to the byte: one zero byte.
        out.put_u8(0x00);
        out.put_u16_le(chunk.len() as u16);
        out.put_u16_le(!(chunk.len() as u16));
        out.put_slice(chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Decompress, FlushDecompress};

    /// What a receiver does: append the tail, inflate.
    fn inflate(payload: &[u8]) -> Vec<u8> {
        let mut input = payload.to_vec();
        input.extend_from_slice(&SYNC_TAIL);
        let mut d = Decompress::new(false);
        let mut out = Vec::with_capacity(1 << 22);
        d.decompress_vec(&input, &mut out, FlushDecompress::Sync)
            .expect("inflates");
        assert_eq!(d.total_in() as usize, input.len(), "all input used");
        out
    }

    #[test]
    fn a_message_inflates_back_and_is_smaller() {
        let text = r#"{"type":"message","data":{"uid":"1","message":"hello"}}"#.repeat(50);
        let packed = message(text.as_bytes(), 6).unwrap();
        assert!(packed.len() < text.len() / 5, "{} bytes", packed.len());
        assert!(!packed.ends_with(&SYNC_TAIL), "the tail is left off");
        assert_eq!(inflate(&packed), text.as_bytes());
        // The thread's compressor is reset between messages: the same
        // input gives the same bytes, at another level other bytes.
        assert_eq!(message(text.as_bytes(), 6).unwrap(), packed);
        assert_eq!(
            inflate(&message(text.as_bytes(), 1).unwrap()),
            text.as_bytes()
        );
        assert_eq!(inflate(&message(b"", 6).unwrap()), b"");
    }

    #[test]
    fn segments_made_apart_join_into_one_message() {
        let users =
            r#""12345":{"uid":"12345","username":"someone","status":"online"},"#.repeat(3000);
        let shared = segment(users.as_bytes(), 6).unwrap();
        let mut whole = BytesMut::new();
        stored(b"{\"head\":", &mut whole);
        whole.extend_from_slice(&shared);
        stored(&vec![b'x'; 70_000], &mut whole);
        whole.put_u8(MESSAGE_END);
        let mut expected = b"{\"head\":".to_vec();
        expected.extend_from_slice(users.as_bytes());
        expected.extend(std::iter::repeat_n(b'x', 70_000));
        assert_eq!(inflate(&whole), expected);
    }
}

//! Inflating a compressed client message (RFC 7692 §7.2.2): the payload
//! with the `00 00 ff ff` tail the sender left off put back, inflated with
//! the thread's inflater (reset per message: the server answers
//! `client_no_context_takeover`, so no connection keeps a window). The
//! inflated size is bounded while inflating: a deflate bomb costs at most
//! the limit, once. The frames around it are parsed and judged by
//! `crate::wire::inbound`, which calls this for a message that had RSV1.

use std::cell::RefCell;

use flate2::{Decompress, FlushDecompress, Status};

/// Why a compressed message did not inflate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// Inflated past the size limit.
    TooBig,
    /// Not valid deflate data.
    Corrupt,
}

/// The RFC 7692 trailer the sender left off.
const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

thread_local! {
    /// This thread's inflater, reset per message.
    static INFLATER: RefCell<Decompress> = RefCell::new(Decompress::new(false));
}

/// A compressed message's payload inflated, at most `max` bytes.
pub(crate) fn inflate(compressed: &[u8], max: usize) -> Result<Vec<u8>, InflateError> {
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
                .map_err(|_| InflateError::Corrupt)?;
            if out.len() > max {
                return Err(InflateError::TooBig);
            }
            let all_in = (d.total_in() - start) as usize == input.len();
            if status == Status::StreamEnd || (all_in && out.len() < out.capacity()) {
                return Ok(out);
            }
            if (d.total_in(), d.total_out()) == before && out.len() < out.capacity() {
                return Err(InflateError::Corrupt); // no progress with room to spare
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compressed(text: &[u8]) -> Vec<u8> {
        crate::deflate::message(text, 6).unwrap().to_vec()
    }

    #[test]
    fn messages_inflate_and_bombs_and_garbage_do_not() {
        assert_eq!(
            inflate(&compressed(b"hello hello hello"), 1024).unwrap(),
            b"hello hello hello"
        );
        let bomb = compressed(&vec![b'a'; 100_000]);
        assert!(bomb.len() < 1024);
        assert_eq!(inflate(&bomb, 4096), Err(InflateError::TooBig));
        assert_eq!(
            inflate(b"\xff\xfe\xfd garbage", 4096),
            Err(InflateError::Corrupt)
        );
    }
}

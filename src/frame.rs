//! WebSocket frames on the wire (RFC 6455 §5.2), read and written in one
//! place: the header (FIN, RSV1 to RSV3, opcode, the mask, the three
//! length forms) and the masking of a payload.
//!
//! Everything that writes a frame uses [`Header::write`]: the text frames
//! sessions and hubs send (`wire::outbound`), the `server-join` written in
//! chunks (`ws::joinframe`), and the inflated messages handed on to the
//! context (`deflate::inflate`). Everything that reads one uses
//! [`Header::parse`]: the compressed input (`deflate::inflate`) and the
//! tests' raw clients, which include this file by path (it imports nothing
//! of the crate, only `bytes`), so a test frames and parses exactly as the
//! server does.

#![allow(dead_code)]

use bytes::BufMut;

/// Opcodes (RFC 6455 §5.2).
pub const CONTINUATION: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xa;

/// A frame's header, as sent or as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The last frame of its message.
    pub fin: bool,
    /// Set on the first frame of a compressed message (RFC 7692).
    pub rsv1: bool,
    /// RSV2 and RSV3: no extension we speak defines them.
    pub rsv2: bool,
    pub rsv3: bool,
    pub opcode: u8,
    /// Clients mask every frame; servers never do.
    pub mask: Option<[u8; 4]>,
    /// The payload's length in bytes.
    pub payload: u64,
}

impl Header {
    /// A final, unmasked frame as a server sends it; `compressed` sets RSV1.
    pub fn server(opcode: u8, payload: usize, compressed: bool) -> Header {
        Header {
            fin: true,
            rsv1: compressed,
            rsv2: false,
            rsv3: false,
            opcode,
            mask: None,
            payload: payload as u64,
        }
    }

    /// A final frame as a client sends it, masked with `mask`.
    pub fn client(opcode: u8, payload: usize, mask: [u8; 4]) -> Header {
        Header {
            mask: Some(mask),
            ..Header::server(opcode, payload, false)
        }
    }

    /// A header from its first byte (FIN, RSV1 to RSV3, opcode), as a test
    /// writes a frame byte by byte; the length is set by [`encode`].
    pub fn from_first(first: u8, mask: Option<[u8; 4]>) -> Header {
        Header {
            fin: first & 0x80 != 0,
            rsv1: first & 0x40 != 0,
            rsv2: first & 0x20 != 0,
            rsv3: first & 0x10 != 0,
            opcode: first & 0x0f,
            mask,
            payload: 0,
        }
    }

    /// Close, Ping and Pong.
    pub fn is_control(&self) -> bool {
        self.opcode & 0x08 != 0
    }

    /// Bytes the header takes on the wire (mask included).
    pub fn len(&self) -> usize {
        header_len(self.payload, self.mask.is_some())
    }

    /// Appends the header to `out`.
    pub fn write(&self, out: &mut impl BufMut) {
        let bit = |on: bool, b: u8| if on { b } else { 0 };
        out.put_u8(
            bit(self.fin, 0x80)
                | bit(self.rsv1, 0x40)
                | bit(self.rsv2, 0x20)
                | bit(self.rsv3, 0x10)
                | (self.opcode & 0x0f),
        );
        let masked = bit(self.mask.is_some(), 0x80);
        match self.payload {
            0..=125 => out.put_u8(masked | self.payload as u8),
            126..=65535 => {
                out.put_u8(masked | 126);
                out.put_u16(self.payload as u16);
            }
            _ => {
                out.put_u8(masked | 127);
                out.put_u64(self.payload);
            }
        }
        if let Some(mask) = self.mask {
            out.put_slice(&mask);
        }
    }

    /// Reads the header at the front of `buf`; `None` while it is not all
    /// there yet.
    pub fn parse(buf: &[u8]) -> Option<Header> {
        let (first, second) = (*buf.first()?, *buf.get(1)?);
        let (mut at, payload) = match second & 0x7f {
            126 => (
                4,
                u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as u64,
            ),
            127 => (10, u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?)),
            n => (2, n as u64),
        };
        let mask = if second & 0x80 != 0 {
            let mask: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
            at += 4;
            Some(mask)
        } else {
            None
        };
        debug_assert_eq!(at, header_len(payload, mask.is_some()));
        Some(Header {
            payload,
            ..Header::from_first(first, mask)
        })
    }
}

/// The length of a header for a payload of `payload` bytes.
pub fn header_len(payload: u64, masked: bool) -> usize {
    let length = match payload {
        0..=125 => 2,
        126..=65535 => 4,
        _ => 10,
    };
    length + if masked { 4 } else { 0 }
}

/// Masks or unmasks `payload` in place (the same operation, RFC 6455 §5.3).
pub fn apply_mask(payload: &mut [u8], mask: [u8; 4]) {
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

/// A whole frame: `header` (its length set to the payload's) and the
/// payload, masked when the header has a mask.
pub fn encode(header: Header, payload: &[u8]) -> Vec<u8> {
    let header = Header {
        payload: payload.len() as u64,
        ..header
    };
    let mut out = Vec::with_capacity(header.len() + payload.len());
    header.write(&mut out);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(mask) = header.mask {
        apply_mask(&mut out[start..], mask);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length form and flag written is read back the same.
    #[test]
    fn headers_round_trip() {
        for payload in [0u64, 1, 125, 126, 65535, 65536, 1 << 33] {
            for mask in [None, Some([1, 2, 3, 4])] {
                for (rsv1, opcode) in [(false, TEXT), (true, TEXT), (false, CLOSE)] {
                    let h = Header {
                        fin: opcode != CONTINUATION,
                        rsv1,
                        rsv2: false,
                        rsv3: true,
                        opcode,
                        mask,
                        payload,
                    };
                    let mut out = Vec::new();
                    h.write(&mut out);
                    assert_eq!(out.len(), h.len());
                    assert_eq!(Header::parse(&out), Some(h));
                    assert_eq!(Header::parse(&out[..out.len() - 1]), None);
                }
            }
        }
    }

    /// The exact bytes RFC 6455 §5.7 gives for "Hello", unmasked and masked.
    #[test]
    fn the_rfcs_examples() {
        assert_eq!(
            encode(Header::server(TEXT, 0, false), b"Hello"),
            [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
        );
        assert_eq!(
            encode(Header::client(TEXT, 0, [0x37, 0xfa, 0x21, 0x3d]), b"Hello"),
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
        let mut out = Vec::new();
        Header::server(BINARY, 256, false).write(&mut out);
        assert_eq!(out, [0x82, 0x7e, 0x01, 0x00]);
    }
}

//! A WebSocket client that speaks permessage-deflate (RFC 7692) the way
//! Chromium does: it offers `permessage-deflate; client_max_window_bits`,
//! compresses every data message it sends (RSV1, raw deflate, sync flush,
//! the `00 00 ff ff` tail left off) and inflates every RSV1 message it
//! receives. tokio-tungstenite has no compression, so the tests' own.
//! Written from the RFCs, with the frame headers read and written by the
//! server's own `src/frame.rs`; it checks what it reads (masking, RSV
//! bits, control-frame rules) so a server that breaks them fails the test.

use std::net::SocketAddr;

/// The server's own frame header code, so the tests frame and parse
/// exactly as it does (it imports nothing of the crate); the other raw
/// clients of the tests use it from here.
#[path = "../../src/frame.rs"]
pub mod frame;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The offer Chromium, Firefox and python websockets send.
pub const BROWSER_OFFER: &str = "permessage-deflate; client_max_window_bits";

/// One frame as the server sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub rsv1: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

pub struct DeflateWs {
    tcp: TcpStream,
    buf: Vec<u8>,
    /// The handshake response's head, as it arrived.
    pub response: String,
    /// The server accepted the offer.
    pub negotiated: bool,
    /// Whether data messages this client sends are compressed.
    pub compress_sends: bool,
    /// Whether the last message `recv_text` returned came compressed.
    pub last_compressed: bool,
}

/// The value of a response header (first one), case-insensitive.
pub fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    response.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// `data` as an RFC 7692 message payload.
pub fn deflate(data: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::new(6), false);
    let mut out = Vec::with_capacity(data.len() + 64);
    c.compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]) && c.total_in() as usize == data.len());
    out.truncate(out.len() - 4);
    out
}

/// An RFC 7692 message payload inflated (the tail put back).
pub fn inflate(payload: &[u8]) -> Vec<u8> {
    let mut input = payload.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut d = Decompress::new(false);
    let mut out = Vec::with_capacity(payload.len() * 8 + 1024);
    loop {
        let at = d.total_in() as usize;
        d.decompress_vec(&input[at..], &mut out, FlushDecompress::Sync)
            .expect("the server's deflate data inflates");
        if d.total_in() as usize == input.len() && out.len() < out.capacity() {
            return out;
        }
        out.reserve(out.capacity());
    }
}

/// A masked client frame (`first` is FIN/RSV/opcode), written by the
/// server's own frame code (`src/frame.rs`).
pub fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    frame::encode(frame::Header::from_first(first, Some(mask)), payload)
}

impl DeflateWs {
    /// Connects to `path` offering `offer` (none: no extension header).
    pub async fn connect(addr: SocketAddr, path: &str, offer: Option<&str>) -> DeflateWs {
        let mut tcp = TcpStream::connect(addr).await.expect("connects");
        let offer = offer.map_or(String::new(), |o| {
            format!("Sec-WebSocket-Extensions: {o}\r\n")
        });
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(super::WAIT, tcp.read(&mut chunk))
                .await
                .expect("a handshake answer in time")
                .unwrap();
            assert!(n > 0, "closed during the handshake");
            buf.extend_from_slice(&chunk[..n]);
        };
        let response = String::from_utf8(buf[..end].to_vec()).unwrap();
        assert!(response.starts_with("HTTP/1.1 101"), "{response}");
        let negotiated = header(&response, "sec-websocket-extensions").is_some();
        buf.drain(..end);
        DeflateWs {
            tcp,
            buf,
            response,
            negotiated,
            compress_sends: negotiated,
            last_compressed: false,
        }
    }

    /// Connects with the browser offer and requires it accepted.
    pub async fn browser(addr: SocketAddr, path: &str) -> DeflateWs {
        let ws = DeflateWs::connect(addr, path, Some(BROWSER_OFFER)).await;
        assert_eq!(
            header(&ws.response, "sec-websocket-extensions"),
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
            "{}",
            ws.response
        );
        ws
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.tcp.write_all(bytes).await.expect("send");
    }

    /// A data message (opcode 1 or 2), compressed if `compress_sends`.
    pub async fn send_message(&mut self, opcode: u8, data: &[u8]) {
        let frame = if self.compress_sends {
            client_frame(0xc0 | opcode, &deflate(data))
        } else {
            client_frame(0x80 | opcode, data)
        };
        self.send_raw(&frame).await;
    }

    /// The next frame, or `None` at EOF.
    pub async fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(h) = frame::Header::parse(&self.buf) {
                assert_eq!(h.mask, None, "server frames are not masked");
                assert!(!h.rsv2 && !h.rsv3, "RSV2 and RSV3 stay clear");
                let (start, len) = (h.len(), h.payload as usize);
                if self.buf.len() >= start + len {
                    let payload = self.buf[start..start + len].to_vec();
                    self.buf.drain(..start + len);
                    let frame = Frame {
                        fin: h.fin,
                        rsv1: h.rsv1,
                        opcode: h.opcode,
                        payload,
                    };
                    if frame.rsv1 {
                        assert!(self.negotiated, "RSV1 without the extension");
                        assert!(frame.opcode & 0x08 == 0, "a compressed control frame");
                    }
                    return Some(frame);
                }
            }
            let mut chunk = vec![0u8; 64 * 1024];
            let n = tokio::time::timeout(super::WAIT, self.tcp.read(&mut chunk))
                .await
                .expect("a frame within the wait")
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next data message, inflated if it came compressed (pings are
    /// answered, pongs skipped). `None` if a Close or EOF came first.
    pub async fn next_message(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            let frame = self.next_frame().await?;
            match frame.opcode {
                0x9 => {
                    let pong = client_frame(0x8a, &frame.payload);
                    self.send_raw(&pong).await;
                }
                0xa => {}
                0x8 => {
                    self.buf.splice(0..0, close_bytes(&frame));
                    return None;
                }
                1 | 2 => {
                    assert!(frame.fin, "the server does not fragment");
                    self.last_compressed = frame.rsv1;
                    let data = if frame.rsv1 {
                        inflate(&frame.payload)
                    } else {
                        frame.payload
                    };
                    return Some((frame.opcode, data));
                }
                other => panic!("unexpected opcode {other}"),
            }
        }
    }

    /// The Close frame's code and reason, answered with a Close; `None`
    /// if the connection ended without one.
    pub async fn recv_close(&mut self) -> Option<(u16, String)> {
        loop {
            let frame = self.next_frame().await?;
            if frame.opcode == 0x8 {
                assert!(!frame.rsv1, "a compressed Close");
                let code = u16::from_be_bytes([frame.payload[0], frame.payload[1]]);
                let reason = String::from_utf8(frame.payload[2..].to_vec()).unwrap();
                let _ = self
                    .tcp
                    .write_all(&client_frame(0x88, &frame.payload[..2]))
                    .await;
                return Some((code, reason));
            }
        }
    }

    /// Sends Close with `code` (no reason).
    pub async fn send_close(&mut self, code: Option<u16>) {
        let payload = code.map_or(Vec::new(), |c| c.to_be_bytes().to_vec());
        self.send_raw(&client_frame(0x88, &payload)).await;
    }
}

/// A Close frame put back in wire form (for `recv_close` after
/// `next_message` met it).
fn close_bytes(frame: &Frame) -> Vec<u8> {
    let mut out = vec![0x88, frame.payload.len() as u8];
    out.extend_from_slice(&frame.payload);
    out
}

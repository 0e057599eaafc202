//! The WebSocket close handshake as RFC 6455 §7.1.1 clients see it: after
//! Close frames are exchanged the server closes TCP at once; when the server
//! closes, it waits a bounded time for the client's Close. Timed from
//! outside with a raw socket, so nothing in a client library hides a delay.

mod common;

use std::time::{Duration, Instant};

use common::deflate::frame;
use common::*;
use d_back::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Far below the old one-second linger, far above a loaded machine's jitter.
const PROMPT: Duration = Duration::from_millis(300);

/// A raw WebSocket client: our own bytes on a TCP socket.
struct Raw {
    tcp: TcpStream,
    buf: Vec<u8>,
}

/// One server frame: opcode and payload.
#[derive(Debug, PartialEq)]
struct Frame {
    op: u8,
    payload: Vec<u8>,
}

impl Raw {
    async fn connect(srv: &TestServer) -> Raw {
        let mut tcp = TcpStream::connect(srv.addr).await.unwrap();
        let req = format!(
            "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            srv.addr
        );
        tcp.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Raw {
            tcp,
            buf: Vec::new(),
        };
        loop {
            if let Some(end) = raw.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&raw.buf[..end]).to_string();
                assert!(head.starts_with("HTTP/1.1 101"), "{head}");
                raw.buf.drain(..end + 4);
                break;
            }
            assert!(raw.fill().await > 0, "closed during the handshake");
        }
        let list = raw.frame().await.expect("server-list");
        assert_eq!(list.op, 1);
        raw
    }

    async fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(WAIT, self.tcp.read(&mut chunk))
            .await
            .expect("data or EOF within the wait")
            .unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    /// The next frame, or `None` at EOF (headers read by the server's own
    /// frame code).
    async fn frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(h) = frame::Header::parse(&self.buf) {
                let (head, len) = (h.len(), h.payload as usize);
                if self.buf.len() >= head + len {
                    let payload = self.buf[head..head + len].to_vec();
                    self.buf.drain(..head + len);
                    return Some(Frame {
                        op: h.opcode,
                        payload,
                    });
                }
            }
            if self.fill().await == 0 {
                return None;
            }
        }
    }

    /// The next Close frame, skipping data and pings.
    async fn close_frame(&mut self) -> Frame {
        loop {
            let f = self.frame().await.expect("a Close frame before EOF");
            if f.op == 8 {
                return f;
            }
        }
    }

    /// Sends one final, masked frame.
    async fn send(&mut self, op: u8, payload: &[u8]) {
        let out = frame::encode(frame::Header::client(op, 0, [7, 13, 42, 99]), payload);
        self.tcp.write_all(&out).await.unwrap();
    }

    async fn send_close(&mut self, code: u16) {
        self.send(8, &code.to_be_bytes()).await;
    }

    /// Reads until EOF; how long it took from `since`.
    async fn eof_after(&mut self, since: Instant) -> Duration {
        while self.frame().await.is_some() {}
        since.elapsed()
    }
}

fn close_code(f: &Frame) -> u16 {
    u16::from_be_bytes([f.payload[0], f.payload[1]])
}

/// A client that sends Close gets the server's Close and then EOF at once,
/// not after a linger.
#[actix_web::test]
async fn client_close_is_answered_and_tcp_closed_at_once() {
    let srv = start();
    for _ in 0..3 {
        let mut c = Raw::connect(&srv).await;
        let t = Instant::now();
        c.send_close(1000).await;
        let answer = c.close_frame().await;
        assert_eq!(close_code(&answer), 1000);
        let took = c.eof_after(t).await;
        assert!(took < PROMPT, "EOF {took:?} after the client's Close");
    }
}

/// A joined client that closes is gone from its hub as promptly.
#[actix_web::test]
async fn joined_client_close_is_prompt() {
    let srv = start();
    let mut c = Raw::connect(&srv).await;
    c.send(1, br#"{"type":"connect","data":{"server":"dworld"}}"#)
        .await;
    let join = c.frame().await.unwrap();
    assert!(String::from_utf8_lossy(&join.payload).contains("server-join"));
    let t = Instant::now();
    c.send_close(1001).await;
    assert_eq!(close_code(&c.close_frame().await), 1001);
    let took = c.eof_after(t).await;
    assert!(took < PROMPT, "EOF {took:?} after the client's Close");
    srv.until("hub gone", |h| h.hub_count() == 0 && h.joined_count() == 0)
        .await;
}

/// The server closes (1007, bad UTF-8); a client that answers the Close
/// sees EOF right after its answer.
#[actix_web::test]
async fn server_close_answered_by_client_ends_at_once() {
    let srv = start();
    let mut c = Raw::connect(&srv).await;
    c.send(1, &[0xff, 0xfe]).await;
    let close = c.close_frame().await;
    assert_eq!(close_code(&close), 1007);
    let t = Instant::now();
    c.send_close(1007).await;
    let took = c.eof_after(t).await;
    assert!(took < PROMPT, "EOF {took:?} after the client's answer");
}

/// A client that never answers the server's Close is cut at the configured
/// bound, neither before nor long after.
#[actix_web::test]
async fn server_close_unanswered_is_cut_at_the_bound() {
    let bound = Duration::from_millis(600);
    let srv = start_with(move |b| {
        b.config(Config {
            close_timeout: bound,
            ..quiet()
        })
    });
    let mut c = Raw::connect(&srv).await;
    c.send(1, &[0xc3, 0x28]).await;
    let close = c.close_frame().await;
    let t = Instant::now();
    assert_eq!(close_code(&close), 1007);
    let took = c.eof_after(t).await;
    assert!(
        took + Duration::from_millis(100) >= bound && took < bound + PROMPT,
        "EOF {took:?} after the server's Close; bound {bound:?}"
    );
}

/// Shutdown (1001) with a client that answers: the answer ends the
/// connection without waiting for the bound.
#[actix_web::test]
async fn shutdown_close_answered_is_prompt() {
    let srv = start_with(|b| {
        b.config(Config {
            close_timeout: Duration::from_secs(3),
            ..quiet()
        })
    });
    let mut c = Raw::connect(&srv).await;
    let handle = srv.handle.clone();
    let stop = tokio::spawn(async move { handle.shutdown().await });
    let close = c.close_frame().await;
    assert_eq!(close_code(&close), 1001);
    let t = Instant::now();
    c.send_close(1001).await;
    let took = c.eof_after(t).await;
    assert!(took < PROMPT, "EOF {took:?} after the client's answer");
    tokio::time::timeout(WAIT, stop).await.unwrap().unwrap();
}

/// A storm of clients that close like browsers (tungstenite: send Close,
/// wait for the server's Close and EOF): 200 cycles, 10 at a time, each
/// close prompt.
#[actix_web::test]
async fn storm_of_proper_closes() {
    use futures_util::StreamExt;
    let srv = start();
    let url = format!("ws://{}/ws", srv.addr);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut worst = Duration::ZERO;
            for _ in 0..20 {
                let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
                let _list = ws.next().await;
                let t = Instant::now();
                ws.close(None).await.unwrap();
                // tungstenite yields the server's Close, then ends at EOF.
                while let Some(Ok(_)) = ws.next().await {}
                worst = worst.max(t.elapsed());
            }
            worst
        }));
    }
    let mut worst = Duration::ZERO;
    for t in tasks {
        worst = worst.max(t.await.unwrap());
    }
    let total = started.elapsed();
    println!("200 proper closes in {total:?}, slowest close {worst:?}");
    assert!(worst < PROMPT, "slowest close {worst:?}");
    srv.until("all closed", |h| h.connection_count() == 0).await;
}

/// An HTTP refusal sent before the body is read (401 with a large body
/// still in flight) reaches the client whole.
#[actix_web::test]
async fn http_refusal_with_unread_body_arrives_intact() {
    let srv = start_with(|b| {
        b.config(Config {
            publish_token: Some("right".into()),
            ..quiet()
        })
    });
    let body = "x".repeat(200 * 1024);
    let req = format!(
        "POST /api/broadcast HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer wrong\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (status, _, answer) = http_raw(srv.addr, &req).await;
    assert_eq!(status, 401);
    assert_eq!(
        String::from_utf8_lossy(&answer),
        r#"{"error":"missing or wrong bearer token"}"#
    );
}

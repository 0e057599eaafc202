//! Test harness: the real server on 127.0.0.1:0 in its own actix system
//! thread, and small real clients (WebSocket and raw HTTP) to talk to it.

#![allow(dead_code)]

pub mod deflate;
pub mod fake_discord;
pub mod redis_server;
pub mod storm;

use std::net::SocketAddr;
use std::time::Duration;

use d_back::{Builder, Config, DBack, Handle};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The address a just-started d-back binary prints on its first stdout
/// line (`d-back listening on <scheme>://<addr>`).
pub fn listening_addr(child: &mut std::process::Child, scheme: &str) -> SocketAddr {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout piped"))
        .read_line(&mut line)
        .unwrap();
    line.trim()
        .strip_prefix(&format!("d-back listening on {scheme}://"))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap()
}

/// How long a test waits for a frame it expects.
pub const WAIT: Duration = Duration::from_secs(5);

pub struct TestServer {
    pub addr: SocketAddr,
    pub handle: Handle,
}

/// Config for protocol tests: no mock traffic, so frames are exact.
pub fn quiet() -> Config {
    Config {
        mock_traffic: false,
        handle_signals: false,
        ..Config::default()
    }
}

/// Starts a server with default (mock) providers and quiet config.
pub fn start() -> TestServer {
    start_with(|b| b.config(quiet()))
}

/// Starts a server configured by `f` (which must set the config it wants).
pub fn start_with(f: impl FnOnce(Builder) -> Builder + Send + 'static) -> TestServer {
    // RUST_LOG=d_back=debug shows the server's side of a failing test.
    let _ = env_logger::builder().is_test(true).try_init();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = f(DBack::builder().bind(("127.0.0.1", 0)))
                .build()
                .expect("server builds");
            tx.send((server.local_addr(), server.handle())).unwrap();
            server.run().await.expect("server runs");
        })
    });
    let (addr, handle) = rx.recv_timeout(WAIT).expect("server started");
    TestServer { addr, handle }
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A test's WebSocket client: tokio-tungstenite, or (for the protocol
/// suites run with `D_BACK_TEST_DEFLATE=1`) the compressing client of
/// [`deflate`], behind the same methods.
pub struct Client {
    transport: Transport,
}

enum Transport {
    Plain(Box<Ws>),
    Deflate(deflate::DeflateWs),
}

/// Whether this run's clients negotiate permessage-deflate: the
/// conformance suites run once without and once with it (tests/run.sh).
pub fn deflate_clients() -> bool {
    std::env::var_os("D_BACK_TEST_DEFLATE").is_some_and(|v| v == "1")
}

impl TestServer {
    /// A WebSocket client on `/ws`, with the server list already read.
    pub async fn client(&self) -> Client {
        let mut c = self.client_at("/ws").await;
        let list = c.recv_json().await;
        assert_eq!(list["type"], "server-list");
        c.assert_compressed(&list);
        c
    }

    /// A WebSocket client on `path`, nothing read yet.
    pub async fn client_at(&self, path: &str) -> Client {
        if deflate_clients() {
            let ws = deflate::DeflateWs::browser(self.addr, path).await;
            return Client {
                transport: Transport::Deflate(ws),
            };
        }
        let url = format!("ws://{}{}", self.addr, path);
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects");
        Client::plain(ws)
    }

    /// A client joined to `server` (short id), with the server-join read.
    pub async fn joined(&self, server: &str) -> Client {
        let mut c = self.client().await;
        let join = c.join(server).await;
        assert_eq!(join["type"], "server-join", "{join}");
        c.assert_compressed(&join);
        c
    }

    /// Waits until `cond` holds (sessions register asynchronously).
    pub async fn until(&self, what: &str, cond: impl Fn(&Handle) -> bool) {
        let start = std::time::Instant::now();
        while !cond(&self.handle) {
            assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Client {
    /// A tungstenite client.
    pub fn plain(ws: Ws) -> Client {
        Client {
            transport: Transport::Plain(Box::new(ws)),
        }
    }

    /// With compressing clients, the `server-list` or `server-join` just
    /// read came compressed (they always do): the suite really runs
    /// compressed.
    fn assert_compressed(&self, frame: &Value) {
        if let Transport::Deflate(ws) = &self.transport {
            assert!(ws.last_compressed, "{frame}");
        }
    }

    /// The tungstenite stream, for tests that drive frames themselves.
    pub fn ws(&mut self) -> &mut Ws {
        match &mut self.transport {
            Transport::Plain(ws) => ws,
            Transport::Deflate(_) => panic!("this test needs the tungstenite client"),
        }
    }

    pub async fn send_text(&mut self, text: &str) {
        match &mut self.transport {
            Transport::Plain(ws) => ws.send(Message::text(text)).await.expect("send"),
            Transport::Deflate(ws) => ws.send_message(1, text.as_bytes()).await,
        }
    }

    pub async fn send_binary(&mut self, data: &[u8]) {
        match &mut self.transport {
            Transport::Plain(ws) => ws.send(Message::binary(data.to_vec())).await.expect("send"),
            Transport::Deflate(ws) => ws.send_message(2, data).await,
        }
    }

    /// The next data frame as text (binary frames fail the test).
    pub async fn recv_text(&mut self) -> String {
        match &mut self.transport {
            Transport::Plain(ws) => next_text(ws).await,
            Transport::Deflate(ws) => match ws.next_message().await {
                Some((1, text)) => String::from_utf8(text).expect("text is UTF-8"),
                other => panic!("expected text, got {other:?}"),
            },
        }
    }

    pub async fn recv_json(&mut self) -> Value {
        serde_json::from_str(&self.recv_text().await).expect("server frames are JSON")
    }

    /// Asserts that no data frame arrives within `d`.
    pub async fn assert_silent(&mut self, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        let ws = match &mut self.transport {
            Transport::Plain(ws) => ws,
            Transport::Deflate(ws) => {
                // Pings are answered inside; anything else is a frame.
                if let Ok(got) = tokio::time::timeout_at(deadline, ws.next_message()).await {
                    panic!("expected silence, got {got:?}");
                }
                return;
            }
        };
        loop {
            match tokio::time::timeout_at(deadline, ws.next()).await {
                Err(_) => return,
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                Ok(other) => panic!("expected silence, got {other:?}"),
            }
        }
    }

    /// Sends a connect for `server` and returns the answer.
    pub async fn join(&mut self, server: &str) -> Value {
        self.send_text(&format!(
            r#"{{"type":"connect","data":{{"server":"{server}"}}}}"#
        ))
        .await;
        self.recv_json().await
    }

    /// Reads until the server closes; returns the close frame.
    pub async fn recv_close(&mut self) -> Option<CloseFrame<'static>> {
        let ws = match &mut self.transport {
            Transport::Plain(ws) => ws,
            Transport::Deflate(ws) => {
                let (code, reason) = ws.recv_close().await?;
                return Some(CloseFrame {
                    code: code.into(),
                    reason: reason.into(),
                });
            }
        };
        loop {
            match tokio::time::timeout(WAIT, ws.next())
                .await
                .expect("close within the wait")
            {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.into_owned()),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }
}

/// The exact error frame for `message`.
/// The next data frame of any WebSocket stream as text (pings and pongs
/// skipped; a binary frame, a close or the wait running out fail the test).
pub async fn next_text<S>(ws: &mut WebSocketStream<S>) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a frame within the wait")
            .expect("stream open")
            .expect("frame ok");
        match msg {
            Message::Text(t) => return t.to_string(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected text, got {other:?}"),
        }
    }
}

/// The stderr of a run of the binary that must fail with exactly one line
/// (the one sentence the binary prints for a bad start).
pub fn one_line_failure(out: std::process::Output) -> String {
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(err.lines().count(), 1, "{err}");
    err
}

pub fn error_frame(message: &str) -> String {
    serde_json::json!({"type": "error", "data": {"message": message}}).to_string()
}

/// A raw HTTP/1.1 GET (paths sent exactly as given, unlike HTTP clients that
/// normalise them). Returns (status, lower-cased headers, body).
pub async fn http_get(addr: SocketAddr, raw_path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    http_raw(
        addr,
        &format!("GET {raw_path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
    )
    .await
}

pub async fn http_raw(addr: SocketAddr, request: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut s = TcpStream::connect(addr).await.expect("tcp connects");
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut buf))
        .await
        .expect("response within the wait")
        .unwrap();
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let body = buf[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body)
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

//! Slow and dead clients, limits on what a client may do, and bookkeeping
//! that must come back to zero. Each test fails without its protection.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use d_back::errors;
use d_back::{Config, ServerInfo, User};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

const DWORLD: &str = "232769614004748288";

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

/// A WebSocket client with a tiny receive buffer, so that when it stops
/// reading the server notices within kilobytes, not megabytes.
async fn small_buffer_client(addr: SocketAddr) -> Client {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(
        format!("ws://{addr}/ws"),
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
    )
    .await
    .unwrap();
    Client::plain(ws)
}

/// Whether the kernel still holds the IPv4 TCP socket `local` -> `remote`
/// (any state, FIN_WAIT and orphans included), from /proc/net/tcp.
fn tcp_socket_exists(local: SocketAddr, remote: SocketAddr) -> bool {
    let hex = |a: SocketAddr| match a {
        SocketAddr::V4(v4) => format!(
            "{:08X}:{:04X}",
            u32::from_le_bytes(v4.ip().octets()),
            v4.port()
        ),
        SocketAddr::V6(_) => unreachable!("IPv4 test sockets"),
    };
    let (local, remote) = (hex(local), hex(remote));
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap()
        .lines()
        .skip(1)
        .any(|l| {
            let mut cols = l.split_whitespace().skip(1);
            cols.next() == Some(local.as_str()) && cols.next() == Some(remote.as_str())
        })
}

/// The server pings; a client that answers stays, a silent one is closed.
#[tokio::test]
async fn heartbeat_closes_silent_clients() {
    let srv = start_with(|b| {
        b.config(Config {
            heartbeat_interval: Duration::from_millis(100),
            client_timeout: Duration::from_millis(400),
            // The silent one cannot answer our Close; cut it well within the
            // second `alive` reads for.
            close_timeout: Duration::from_millis(100),
            ..quiet()
        })
    });
    let mut alive = srv.joined("dworld").await;
    let mut silent = srv.joined("dworld").await;
    // `alive` reads (and so answers pings) for a second.
    let mut pings = 0;
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1000) {
        if let Ok(Some(Ok(Message::Ping(_)))) =
            tokio::time::timeout(Duration::from_millis(200), alive.ws().next()).await
        {
            pings += 1;
        }
    }
    assert!(pings >= 5, "only {pings} pings in 1 s");
    srv.until("silent one closed", |h| {
        h.joined_count() == 1 && h.connection_count() == 1
    })
    .await;
    // The silent client, reading now, finds a close (1001) waiting, or a
    // reset if its queued pong answers hit the closed socket first.
    if let Some(close) = silent.recv_close().await {
        assert_eq!(close.code, CloseCode::Away);
    }
}

/// A client that stops reading while megabytes flow is closed; the others
/// get every frame promptly and the server's memory stays bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_reader_is_closed_and_costs_bounded_memory() {
    let srv = start_with(|b| {
        b.config(Config {
            max_backlog_bytes: 1024 * 1024,
            write_timeout: Duration::from_secs(1),
            ..quiet()
        })
    });
    let mut stalled = small_buffer_client(srv.addr).await;
    let _ = stalled.recv_json().await;
    assert_eq!(stalled.join("dworld").await["type"], "server-join");
    let mut healthy = Vec::new();
    for _ in 0..2 {
        healthy.push(srv.joined("dworld").await);
    }
    srv.until("three joined", |h| h.joined_count() == 3).await;
    let baseline = rss_bytes();

    const COUNT: usize = 2000;
    let text = "x".repeat(16 * 1024);
    let progress: Vec<Arc<AtomicUsize>> = (0..healthy.len()).map(|_| Arc::default()).collect();
    let readers: Vec<_> = healthy
        .into_iter()
        .zip(progress.clone())
        .map(|(mut c, got)| {
            tokio::spawn(async move {
                while got.load(Ordering::Relaxed) < COUNT + 1 {
                    let f = c.recv_text().await;
                    assert!(f.starts_with(r#"{"type":"message""#));
                    got.fetch_add(1, Ordering::Relaxed);
                }
                (c, Instant::now())
            })
        })
        .collect();
    let mut peak = 0;
    for i in 0..COUNT {
        // Counted: waits for the hub, so the flood sits in sessions, not in
        // the hub's mailbox.
        let broadcast = d_back::Broadcast::Message {
            server: DWORLD.into(),
            uid: "u".into(),
            message: text.clone(),
            channel: "c".into(),
        };
        srv.handle.broadcast_counted(broadcast).await;
        // Healthy readers keep up (this debug-built test client is slower
        // than the server); the stalled one falls behind without bound.
        while progress.iter().any(|p| p.load(Ordering::Relaxed) + 16 < i) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if i % 100 == 0 {
            peak = peak.max(rss_bytes());
        }
    }
    srv.until("stalled one closed", |h| h.joined_count() == 2)
        .await;
    let probe_sent = Instant::now();
    srv.handle.broadcast_message(DWORLD, "u", "probe", "c");
    for r in readers {
        let (_, done) = tokio::time::timeout(Duration::from_secs(30), r)
            .await
            .unwrap()
            .unwrap();
        let lag = done.saturating_duration_since(probe_sent);
        assert!(
            lag < Duration::from_millis(1000),
            "healthy reader lagged {lag:?}"
        );
    }
    peak = peak.max(rss_bytes());
    let growth = peak.saturating_sub(baseline);
    eprintln!("RSS baseline {} MB, peak {} MB", baseline >> 20, peak >> 20);
    // Without the bound the stalled session pins every 16 KiB frame (32 MB);
    // bounded only by its mailbox, 1024 of them (16 MB).
    assert!(growth < 8 << 20, "RSS grew {} MB", growth >> 20);
    // The kernel gives up on the stalled socket (TCP_USER_TIMEOUT): the
    // server's end of it leaves the kernel's table while the client still
    // reads nothing; then the client, reading again, reaches the end.
    let client = match stalled.ws().get_ref() {
        tokio_tungstenite::MaybeTlsStream::Plain(s) => s.local_addr().unwrap(),
        _ => unreachable!("a plain client"),
    };
    let start = Instant::now();
    while tcp_socket_exists(srv.addr, client) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the server's end of the stalled connection is still open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(_)) = stalled.ws().next().await {}
    })
    .await;
    assert!(ended.is_ok(), "stalled connection still open");
}

/// Thousands of connects and disconnects over every path (close frame,
/// dropped socket, protocol error, re-join) end with nothing registered and
/// memory near its baseline.
#[tokio::test]
async fn churn_leaves_nothing_registered() {
    let srv = start_with(|b| {
        b.config(Config {
            max_connections_per_ip: 100_000,
            ..quiet()
        })
    });
    async fn round(srv: &TestServer, n: usize) {
        let mut tasks = Vec::new();
        for i in 0..n {
            let addr = srv.addr;
            tasks.push(tokio::spawn(async move {
                let url = format!("ws://{addr}/ws");
                let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
                let _ = ws.next().await;
                let server = ["dworld", "docs", "repos"][i % 3];
                ws.send(Message::text(format!(
                    r#"{{"type":"connect","data":{{"server":"{server}"}}}}"#
                )))
                .await
                .unwrap();
                let _ = ws.next().await;
                match i % 4 {
                    0 => {
                        let _ = ws.close(None).await;
                        while let Some(Ok(_)) = ws.next().await {}
                    }
                    1 => drop(ws),
                    2 => {
                        let bad = Frame::message(vec![0xc3, 0x28], OpCode::Data(Data::Text), true);
                        let _ = ws.send(Message::Frame(bad)).await;
                        while let Some(Ok(_)) = ws.next().await {}
                    }
                    _ => {
                        ws.send(Message::text(
                            r#"{"type":"connect","data":{"server":"docs"}}"#,
                        ))
                        .await
                        .unwrap();
                        let _ = ws.next().await;
                        drop(ws);
                    }
                }
            }));
            if tasks.len() >= 100 {
                for t in tasks.drain(..) {
                    t.await.unwrap();
                }
            }
        }
        for t in tasks {
            t.await.unwrap();
        }
        srv.until("all gone", |h| {
            h.connection_count() == 0 && h.joined_count() == 0 && h.hub_count() == 0
        })
        .await;
    }
    round(&srv, 1000).await;
    let baseline = rss_bytes();
    for _ in 0..3 {
        round(&srv, 1000).await;
    }
    let growth = rss_bytes().saturating_sub(baseline);
    assert!(
        growth < 8 << 20,
        "RSS grew {} MB over 3000 sessions",
        growth >> 20
    );
}

/// Frames over the limit close with 1009; fragments are reassembled up to
/// the limit; invalid UTF-8 in a text frame closes with 1007.
#[tokio::test]
async fn frame_limits() {
    let srv = start_with(|b| {
        b.config(Config {
            max_frame_bytes: 1024,
            ..quiet()
        })
    });
    let mut c = srv.client().await;
    let frag =
        |data: &[u8], op: OpCode, fin: bool| Message::Frame(Frame::message(data.to_vec(), op, fin));
    c.ws()
        .send(frag(br#"{"type":"conn"#, OpCode::Data(Data::Text), false))
        .await
        .unwrap();
    c.ws()
        .send(frag(
            br#"ect","data":{"server""#,
            OpCode::Data(Data::Continue),
            false,
        ))
        .await
        .unwrap();
    c.ws()
        .send(frag(br#":"docs"}}"#, OpCode::Data(Data::Continue), true))
        .await
        .unwrap();
    assert_eq!(c.recv_json().await["data"]["serverName"], "Docs (WIP)");

    let mut c = srv.client().await;
    c.send_text(&"x".repeat(2000)).await;
    assert_eq!(c.recv_close().await.map(|f| f.code), Some(CloseCode::Size));

    let mut c = srv.client().await;
    c.ws()
        .send(frag(&[b' '; 500], OpCode::Data(Data::Text), false))
        .await
        .unwrap();
    c.ws()
        .send(frag(&[b' '; 500], OpCode::Data(Data::Continue), false))
        .await
        .unwrap();
    c.ws()
        .send(frag(&[b' '; 500], OpCode::Data(Data::Continue), true))
        .await
        .unwrap();
    assert_eq!(c.recv_close().await.map(|f| f.code), Some(CloseCode::Size));

    let mut c = srv.client().await;
    c.ws()
        .send(frag(&[0xff, 0xfe], OpCode::Data(Data::Text), true))
        .await
        .unwrap();
    assert_eq!(
        c.recv_close().await.map(|f| f.code),
        Some(CloseCode::Invalid)
    );
}

/// A burst is allowed; beyond it an error, and persisting closes with 1008.
#[tokio::test]
async fn inbound_rate_limit() {
    let srv = start_with(|b| {
        b.config(Config {
            rate_burst: 20,
            rate_per_sec: 1,
            ..quiet()
        })
    });
    let mut c = srv.client().await;
    for _ in 0..20 {
        c.send_text("{}").await;
        assert_eq!(c.recv_text().await, error_frame(errors::UNKNOWN_TYPE));
    }
    c.send_text("{}").await;
    assert_eq!(c.recv_text().await, error_frame(errors::RATE_LIMITED));
    for _ in 0..40 {
        if c.ws().send(Message::text("{}")).await.is_err() {
            break;
        }
    }
    assert_eq!(
        c.recv_close().await.map(|f| f.code),
        Some(CloseCode::Policy)
    );
    // Another client is unaffected.
    let mut other = srv.client().await;
    assert_eq!(other.join("dworld").await["type"], "server-join");
}

async fn upgrade_status(addr: SocketAddr, origin: Option<&str>) -> u16 {
    let origin = origin
        .map(|o| format!("Origin: {o}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{origin}\r\n"
    );
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(WAIT, s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    head.split(' ').nth(1).unwrap().parse().unwrap()
}

/// Connection caps: per IP and in total, refused with 503, logged once.
#[tokio::test]
async fn connection_caps() {
    let srv = start_with(|b| {
        b.config(Config {
            max_connections_per_ip: 3,
            max_connections: 5,
            ..quiet()
        })
    });
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(srv.client().await);
    }
    assert_eq!(upgrade_status(srv.addr, None).await, 503);
    assert_eq!(upgrade_status(srv.addr, None).await, 503);
    drop(held.pop());
    srv.until("slot freed", |h| h.connection_count() == 2).await;
    assert_eq!(upgrade_status(srv.addr, None).await, 101);

    let total = start_with(|b| {
        b.config(Config {
            max_connections: 2,
            ..quiet()
        })
    });
    let _a = total.client().await;
    let _b = total.client().await;
    assert_eq!(upgrade_status(total.addr, None).await, 503);
}

/// A request that never completes its head is dropped.
#[tokio::test]
async fn slow_handshake_is_dropped() {
    let srv = start_with(|b| {
        b.config(Config {
            handshake_timeout: Duration::from_millis(300),
            ..quiet()
        })
    });
    let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: web")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut buf))
        .await
        .expect("connection dropped within 3 s");
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// Origin allow-list: listed origins only.
#[tokio::test]
async fn origin_allow_list() {
    let srv = start_with(|b| {
        b.config(Config {
            allowed_origins: vec!["https://dzone.example".into()],
            ..quiet()
        })
    });
    assert_eq!(
        upgrade_status(srv.addr, Some("https://dzone.example")).await,
        101
    );
    assert_eq!(
        upgrade_status(srv.addr, Some("https://evil.example")).await,
        403
    );
    assert_eq!(upgrade_status(srv.addr, None).await, 403);
    let open = start();
    assert_eq!(
        upgrade_status(open.addr, Some("https://anything.example")).await,
        101
    );
}

fn auth_server(calls: Arc<AtomicUsize>, cfg: Config) -> TestServer {
    start_with(move |b| {
        b.config(cfg)
            .on_get_server_data(|| async {
                Ok(vec![ServerInfo::new("1", "locked", "L").with_password("pw")])
            })
            .on_get_user_data(|_| async { Ok(Vec::<User>::new()) })
            .on_validate_discord_user(move |token, _, _| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move { Ok(token == "good") }
            })
    })
}

fn login(token: &str) -> String {
    json!({"type":"connect","data":{"server":"locked","discordToken":token,"discordUser":{"id":"1","username":"u"}}})
        .to_string()
}

/// Refused credentials are limited per session, without calling the validator.
#[tokio::test]
async fn auth_attempts_limited_per_session() {
    let calls = Arc::new(AtomicUsize::new(0));
    let srv = auth_server(calls.clone(), Config { ..quiet() });
    let mut c = srv.client().await;
    for i in 0..5 {
        if i % 2 == 0 {
            c.send_text(&login("bad")).await;
            assert_eq!(c.recv_text().await, error_frame(errors::AUTH_FAILED));
        } else {
            c.send_text(r#"{"type":"connect","data":{"server":"locked","password":"nope"}}"#)
                .await;
            assert_eq!(c.recv_text().await, error_frame(errors::AUTH_REQUIRED));
        }
    }
    let before = calls.load(Ordering::SeqCst);
    c.send_text(&login("good")).await;
    assert_eq!(c.recv_text().await, error_frame(errors::AUTH_THROTTLED));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        before,
        "validator called while throttled"
    );
}

/// Refused credentials are limited per IP across sessions, in a window.
#[tokio::test]
async fn auth_attempts_limited_per_ip() {
    let calls = Arc::new(AtomicUsize::new(0));
    let srv = auth_server(
        calls.clone(),
        Config {
            auth_window: Duration::from_millis(1500),
            ..quiet()
        },
    );
    let first_failure = Instant::now();
    for _ in 0..5 {
        let mut c = srv.client().await;
        c.send_text(&login("bad")).await;
        assert_eq!(c.recv_text().await, error_frame(errors::AUTH_FAILED));
    }
    let mut c = srv.client().await;
    c.send_text(&login("good")).await;
    assert_eq!(c.recv_text().await, error_frame(errors::AUTH_THROTTLED));
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    // Throttled (and the validator not asked) until the oldest failure
    // leaves the window, then the good login passes.
    loop {
        c.send_text(&login("good")).await;
        let answer = c.recv_json().await;
        if answer["type"] == "server-join" {
            break;
        }
        assert_eq!(answer.to_string(), error_frame(errors::AUTH_THROTTLED));
        assert_eq!(calls.load(Ordering::SeqCst), 5);
        assert!(first_failure.elapsed() < WAIT, "still throttled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        first_failure.elapsed() >= Duration::from_millis(1500),
        "released after {:?}, within the window",
        first_failure.elapsed()
    );
    assert_eq!(calls.load(Ordering::SeqCst), 6);
}

/// Accepted validations are cached for the TTL.
#[tokio::test]
async fn accepted_validations_are_cached() {
    let calls = Arc::new(AtomicUsize::new(0));
    let srv = auth_server(
        calls.clone(),
        Config {
            auth_cache_ttl: Duration::from_millis(1500),
            ..quiet()
        },
    );
    let mut c = srv.client().await;
    let before_first = Instant::now();
    for _ in 0..3 {
        c.send_text(&login("good")).await;
        assert_eq!(c.recv_json().await["type"], "server-join");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // Every login answers from the cache until the entry expires; the
    // first one after that asks the validator again.
    while calls.load(Ordering::SeqCst) == 1 {
        assert!(before_first.elapsed() < WAIT, "never validated again");
        tokio::time::sleep(Duration::from_millis(50)).await;
        c.send_text(&login("good")).await;
        assert_eq!(c.recv_json().await["type"], "server-join");
    }
    assert!(
        before_first.elapsed() >= Duration::from_millis(1500),
        "validated again after {:?}, within the TTL",
        before_first.elapsed()
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// Shutdown: a client that never reads does not hold the process past the grace.
#[tokio::test]
async fn shutdown_with_stalled_client_respects_grace() {
    let srv = start_with(|b| {
        b.config(Config {
            shutdown_grace: Duration::from_secs(1),
            ..quiet()
        })
    });
    let mut stalled = small_buffer_client(srv.addr).await;
    let _ = stalled.recv_json().await;
    let _ = stalled.join("dworld").await;
    srv.until("joined", |h| h.joined_count() == 1).await;
    for _ in 0..200 {
        srv.handle
            .broadcast_message(DWORLD, "u", &"y".repeat(8000), "c");
    }
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), srv.handle.shutdown())
        .await
        .expect("shutdown within 5 s");
    assert!(started.elapsed() < Duration::from_secs(4));
}

/// A validator that takes its time and refuses, counting its calls.
fn slow_refusing_server(calls: Arc<AtomicUsize>) -> TestServer {
    start_with(move |b| {
        b.config(quiet())
            .on_get_server_data(|| async {
                Ok(vec![ServerInfo::new("1", "locked", "L").with_password("pw")])
            })
            .on_get_user_data(|_| async { Ok(Vec::<User>::new()) })
            .on_validate_discord_user(move |_, _, _| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Ok(false)
                }
            })
    })
}

/// 50 refused logins sent at once on one session reach the validator at
/// most `auth_attempts` times: the attempt is counted before the validator
/// is awaited.
#[tokio::test]
async fn concurrent_attempts_on_one_session_are_limited() {
    let calls = Arc::new(AtomicUsize::new(0));
    let srv = slow_refusing_server(calls.clone());
    let mut c = srv.client().await;
    for _ in 0..50 {
        c.ws().feed(Message::text(login("bad"))).await.unwrap();
    }
    c.ws().flush().await.unwrap();
    // Superseded joins are cancelled: only throttled refusals and the last
    // attempt's answer come back, never a stale one after it.
    let mut answers = Vec::new();
    loop {
        let a = c.recv_text().await;
        let last = a == error_frame(errors::AUTH_FAILED) || answers.len() == 49;
        answers.push(a);
        if last {
            break;
        }
    }
    c.assert_silent(Duration::from_millis(400)).await;
    let n = calls.load(Ordering::SeqCst);
    assert!(n <= 5, "the validator was asked {n} times");
}

/// 50 refused logins at once from one IP over 50 sessions reach the
/// validator at most `auth_attempts` times.
#[tokio::test]
async fn concurrent_attempts_from_one_ip_are_limited() {
    let calls = Arc::new(AtomicUsize::new(0));
    let srv = slow_refusing_server(calls.clone());
    let mut clients = Vec::new();
    for _ in 0..50 {
        clients.push(srv.client().await);
    }
    for c in clients.iter_mut() {
        c.send_text(&login("bad")).await;
    }
    let mut throttled = 0;
    for c in clients.iter_mut() {
        let a = c.recv_text().await;
        if a == error_frame(errors::AUTH_THROTTLED) {
            throttled += 1;
        } else {
            assert_eq!(a, error_frame(errors::AUTH_FAILED));
        }
    }
    let n = calls.load(Ordering::SeqCst);
    assert!(n <= 5, "the validator was asked {n} times");
    assert_eq!(throttled, 50 - n);
}

/// A bot calling `broadcast_message` ten million times in a tight loop
/// cannot grow the server's memory without bound: the hub's queue is a
/// bound, and what does not fit is dropped and counted. Bounded means the
/// last eight million calls add (almost) nothing to what the first two
/// million took (the allocator keeps some freed memory, so the first
/// figure is not zero).
#[tokio::test]
async fn tight_broadcast_loop_is_bounded() {
    let srv = start();
    let _viewer = srv.joined("dworld").await;
    srv.until("joined", |h| h.joined_count() == 1).await;
    let handle = srv.handle.clone();
    let before = rss_bytes();
    let worker = std::thread::spawn(move || {
        let text = "x".repeat(100);
        let mut after_two_million = 0;
        for i in 0..10_000_000u32 {
            if i == 2_000_000 {
                after_two_million = rss_bytes();
            }
            handle.broadcast_message(DWORLD, "1", &text, "c");
        }
        (handle, after_two_million)
    });
    let (handle, after_two_million) = tokio::task::spawn_blocking(move || worker.join().unwrap())
        .await
        .unwrap();
    let end = rss_bytes();
    let (first, rest) = (
        after_two_million.saturating_sub(before) >> 20,
        end.saturating_sub(after_two_million) >> 20,
    );
    println!(
        "RSS: +{first} MiB for the first 2M calls, +{rest} MiB for the next 8M; {} dropped",
        handle.dropped_broadcasts()
    );
    assert!(rest < 64, "RSS grew {rest} MiB over the last 8M calls");
    assert!(first < 1024, "RSS grew {first} MiB over the first 2M calls");
    assert!(handle.dropped_broadcasts() > 0);
}

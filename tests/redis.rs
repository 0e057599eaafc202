//! Several instances joined by a real Redis (`redis-server`, started per
//! test on a free port): broadcasts reach every instance once and in
//! order, `--source redis` instances serve the same frames, the auth
//! throttle is shared, an outage keeps the local path working and heals,
//! and no subscription outlives its last viewer.

mod common;

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::redis_server::{Redis, HEAL};
use common::storm;
use common::*;
use d_back::config::DataSource;
use d_back::{errors, Builder, Config, Presence, RoleColor, ServerInfo, Status, User};
use serde_json::json;

const GUILD: &str = "111111111111111111";
const LOCKED: &str = "333333333333333333";

/// The settings of an instance joined by `redis`.
fn joined_config(redis: &Redis, source: DataSource) -> Config {
    Config {
        redis_url: Some(redis.url()),
        source,
        publish_token: Some("tok".into()),
        snapshot_every: Duration::from_millis(200),
        auth_attempts: 3,
        ..quiet()
    }
}

/// An instance on mock data, once Redis is connected.
async fn mock_instance(redis: &Redis) -> TestServer {
    let config = joined_config(redis, DataSource::Local);
    let srv = start_with(move |b| b.config(config));
    until_ready(&srv, 200, HEAL).await;
    srv
}

/// A `--source redis` instance, once Redis is connected.
async fn redis_source_instance(redis: &Redis) -> TestServer {
    let config = joined_config(redis, DataSource::Redis);
    let srv = start_with(move |b| b.config(config));
    until_ready(&srv, 200, HEAL).await;
    srv
}

/// Waits until `/readyz` answers `status`; answers its body.
async fn until_ready(srv: &TestServer, status: u16, within: Duration) -> String {
    let start = Instant::now();
    loop {
        let (got, _, body) = http_get(srv.addr, "/readyz").await;
        if got == status {
            return String::from_utf8(body).unwrap();
        }
        assert!(start.elapsed() < within, "/readyz never answered {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `b` serves the server list `a` serves (from the snapshot).
async fn until_same_list(a: &TestServer, b: &TestServer) {
    let list = a.client_at("/ws").await.recv_text().await;
    let start = Instant::now();
    while b.client_at("/ws").await.recv_text().await != list {
        assert!(start.elapsed() < WAIT, "B never served A's server list");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn post(body: &str) -> String {
    format!(
        "POST /api/broadcast HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\nAuthorization: Bearer tok\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn message(guild: &str, text: &str) -> String {
    json!({"type": "message", "server": guild, "data": {"uid": "u", "message": text, "channel": "c"}})
        .to_string()
}

/// A source with two servers (one protected, with a legacy password),
/// users whose first member's status the test controls, a client id, and a
/// validator that accepts the token "good".
fn source(b: Builder, status: Arc<Mutex<Status>>) -> Builder {
    b.on_get_server_data(|| async {
        Ok(vec![
            ServerInfo::new(GUILD, "alpha", "Alpha").default_server(),
            ServerInfo::new(LOCKED, "locked", "Locked").with_password("pw-secret"),
        ])
    })
    .on_get_user_data(move |guild| {
        let status = *status.lock().unwrap();
        async move {
            Ok(match guild.as_str() {
                GUILD => vec![
                    User::new("1", "Pip", status, RoleColor::parse("#ff0000")?),
                    User::new("2", "Moss", Status::Online, RoleColor::parse("#00ff00")?),
                ],
                _ => vec![User::new(
                    "9",
                    "Guard",
                    Status::Idle,
                    RoleColor::parse("#0000ff")?,
                )],
            })
        }
    })
    .on_get_client_id(|guild| async move { Ok((guild == GUILD).then(|| "777".to_string())) })
    .on_validate_discord_user(|token, _, _| async move { Ok(token == "good") })
}

async fn source_instance(redis: &Redis, status: Arc<Mutex<Status>>) -> TestServer {
    let config = joined_config(redis, DataSource::Local);
    let srv = start_with(move |b| source(b.config(config), status));
    until_ready(&srv, 200, HEAL).await;
    srv
}

/// A broadcast made on A (its handle and its `POST /api/broadcast`)
/// reaches the viewers of B and C, and A's own, exactly once each, in
/// the order published.
#[tokio::test]
async fn broadcasts_reach_every_instance_once_in_order() {
    let redis = Redis::start();
    let (a, b, c) = (
        mock_instance(&redis).await,
        mock_instance(&redis).await,
        mock_instance(&redis).await,
    );
    let dworld = d_back::mock::DWORLD;
    let mut viewers = vec![
        a.joined("dworld").await,
        b.joined("dworld").await,
        c.joined("dworld").await,
        c.joined("dworld").await,
    ];
    redis.until_subscribers(dworld, 3).await;
    let mut expected = Vec::new();
    for i in 0..50 {
        let text = format!("n{i}");
        if i % 2 == 0 {
            a.handle.broadcast_message(dworld, "u", &text, "c");
        } else {
            let (status, _, body) = http_raw(a.addr, &post(&message(dworld, &text))).await;
            assert_eq!(status, 202);
            // The viewers of A's guild on A itself.
            assert_eq!(body, br#"{"delivered":1}"#);
        }
        expected.push(message(dworld, &text));
    }
    for v in &mut viewers {
        for want in &expected {
            assert_eq!(&v.recv_text().await, want);
        }
    }
    for v in &mut viewers {
        v.assert_silent(Duration::from_millis(300)).await;
    }
    // Guilds nobody watches here get no subscription.
    assert_eq!(redis.subscribers(d_back::mock::DOCS), 0);
}

/// A `--source redis` instance answers `server-list` and `server-join`
/// with exactly the source's frames, and decides legacy passwords alike;
/// passwords never reach Redis.
#[tokio::test]
async fn redis_source_serves_the_same_frames() {
    let redis = Redis::start();
    let a = source_instance(&redis, Arc::new(Mutex::new(Status::Online))).await;
    let b = redis_source_instance(&redis).await;
    until_same_list(&a, &b).await;
    for server in ["alpha", "default"] {
        let mut on_a = a.client().await;
        let mut on_b = b.client().await;
        on_a.send_text(&format!(
            r#"{{"type":"connect","data":{{"server":"{server}"}}}}"#
        ))
        .await;
        on_b.send_text(&format!(
            r#"{{"type":"connect","data":{{"server":"{server}"}}}}"#
        ))
        .await;
        let join = on_a.recv_text().await;
        assert!(join.contains(r#""clientId":"777""#), "{join}");
        assert_eq!(on_b.recv_text().await, join);
    }
    // The legacy password: accepted on both (B checks the snapshot's
    // salted hash), a wrong one refused alike.
    for (password, joins) in [("pw-secret", true), ("wrong", false)] {
        let frame = json!({"type": "connect", "data": {"server": "locked", "password": password}})
            .to_string();
        let on_a = try_login(a.addr, &frame).await;
        assert_eq!(on_a == "server-join", joins, "{on_a}");
        assert_eq!(try_login(b.addr, &frame).await, on_a);
    }
    let keys: Vec<String> = redis.cmd(redis::cmd("KEYS").arg("*"));
    for key in keys {
        let kind: String = redis.cmd(redis::cmd("TYPE").arg(&key));
        if kind == "string" {
            let value: String = redis.cmd(redis::cmd("GET").arg(&key));
            assert!(!value.contains("pw-secret"), "{key} holds the password");
        }
    }
}

/// Attempts split between two instances are throttled at the same total
/// as on one; a login accepted on one instance is accepted on the other
/// from the shared cache, and no token is stored.
#[tokio::test]
async fn auth_limits_are_shared() {
    let redis = Redis::start();
    let a = source_instance(&redis, Arc::new(Mutex::new(Status::Online))).await;
    let b = redis_source_instance(&redis).await;
    until_same_list(&a, &b).await;
    let login = |token: &str| {
        json!({"type": "connect", "data": {"server": "locked", "discordToken": token,
            "discordUser": {"id": "42", "username": "me"}}})
        .to_string()
    };
    // Accepted on A (its validator), then on B from the shared cache (B has
    // no validator and would refuse).
    assert_eq!(try_login(a.addr, &login("good")).await, "server-join");
    assert_eq!(try_login(b.addr, &login("good")).await, "server-join");
    let keys: Vec<String> = redis.cmd(redis::cmd("KEYS").arg("*"));
    assert!(keys.iter().all(|k| !k.contains("good")), "{keys:?}");
    // Three refused attempts in all, split between the instances ...
    let failed = error_frame(errors::AUTH_FAILED);
    assert_eq!(try_login(a.addr, &login("bad")).await, failed);
    assert_eq!(try_login(b.addr, &login("bad")).await, failed);
    assert_eq!(try_login(a.addr, &login("bad")).await, failed);
    // ... and both throttle, even A, which has seen only two.
    let throttled = error_frame(errors::AUTH_THROTTLED);
    assert_eq!(try_login(b.addr, &login("bad")).await, throttled);
    assert_eq!(try_login(a.addr, &login("good")).await, throttled);
}

async fn connect(addr: std::net::SocketAddr) -> Client {
    let url = format!("ws://{addr}/ws");
    let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut c = Client::plain(ws);
    assert_eq!(c.recv_json().await["type"], "server-list");
    c
}

/// One login on a new connection: the answer's type when it joined, else
/// the whole error frame.
async fn try_login(addr: std::net::SocketAddr, frame: &str) -> String {
    let mut c = connect(addr).await;
    c.send_text(frame).await;
    let answer = c.recv_text().await;
    let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
    if v["type"] == "server-join" {
        "server-join".into()
    } else {
        answer
    }
}

/// Redis killed and restarted: local broadcasts still reach local
/// viewers, `/readyz` says why it is degraded and heals, subscriptions
/// come back, and viewers get the presences they missed.
#[tokio::test]
async fn redis_outage_keeps_local_viewers_and_heals() {
    let mut redis = Redis::start();
    let status = Arc::new(Mutex::new(Status::Online));
    let a = source_instance(&redis, status.clone()).await;
    let b = redis_source_instance(&redis).await;
    until_same_list(&a, &b).await;
    let mut on_a = a.joined("alpha").await;
    let mut on_b = b.joined("alpha").await;
    redis.until_subscribers(GUILD, 2).await;
    a.handle.broadcast_message(GUILD, "u", "before", "c");
    assert_eq!(on_a.recv_text().await, message(GUILD, "before"));
    assert_eq!(on_b.recv_text().await, message(GUILD, "before"));

    redis.kill();
    for srv in [&a, &b] {
        let body = until_ready(srv, 503, WAIT).await;
        assert_eq!(
            body,
            json!({"status": "unavailable", "reason": "degraded: redis unreachable"}).to_string()
        );
    }
    a.handle.broadcast_message(GUILD, "u", "during", "c");
    assert_eq!(on_a.recv_text().await, message(GUILD, "during"));
    *status.lock().unwrap() = Status::Idle;
    a.handle
        .broadcast_presence(Presence::new(GUILD, "1", Status::Idle));
    assert_eq!(
        on_a.recv_text().await,
        r#"{"type":"presence","server":"111111111111111111","data":{"uid":"1","status":"idle"}}"#
    );
    on_b.assert_silent(Duration::from_millis(200)).await;

    redis.spawn();
    for srv in [&a, &b] {
        until_ready(srv, 200, HEAL).await;
    }
    // Both resync from the snapshot A rewrote: B learns that Pip is idle.
    let resynced = [
        r##"{"type":"presence","server":"111111111111111111","data":{"uid":"1","status":"idle","username":"Pip","roleColor":"#ff0000"}}"##,
        r##"{"type":"presence","server":"111111111111111111","data":{"uid":"2","status":"online","username":"Moss","roleColor":"#00ff00"}}"##,
    ];
    for v in [&mut on_a, &mut on_b] {
        for want in resynced {
            assert_eq!(v.recv_text().await, want);
        }
    }
    redis.until_subscribers(GUILD, 2).await;
    a.handle.broadcast_message(GUILD, "u", "after", "c");
    assert_eq!(on_a.recv_text().await, message(GUILD, "after"));
    assert_eq!(on_b.recv_text().await, message(GUILD, "after"));
    on_a.assert_silent(Duration::from_millis(200)).await;
    on_b.assert_silent(Duration::from_millis(200)).await;
}

/// The last viewer of a guild leaving ends its subscription.
#[tokio::test]
async fn no_subscription_outlives_its_last_viewer() {
    let redis = Redis::start();
    let a = mock_instance(&redis).await;
    let dworld = d_back::mock::DWORLD;
    let first = a.joined("dworld").await;
    let second = a.joined("dworld").await;
    redis.until_subscribers(dworld, 1).await;
    drop(first);
    a.until("one viewer left", |h| h.joined_count() == 1).await;
    assert_eq!(redis.subscribers(dworld), 1);
    drop(second);
    a.until("no viewer left", |h| h.hub_count() == 0).await;
    redis.until_subscribers(dworld, 0).await;
    let channels: Vec<String> = redis.cmd(redis::cmd("PUBSUB").arg("CHANNELS").arg("d-back:*"));
    assert!(channels.is_empty(), "{channels:?}");
}

/// The binary: `D_BACK_REDIS_URL` pointing at a Redis that is not there
/// still serves its own viewers and says so on `/readyz`; `--source
/// redis` without a URL is refused with a sentence.
#[tokio::test]
async fn binary_without_its_redis_serves_locally() {
    let bin = env!("CARGO_BIN_EXE_d-back");
    let out = Command::new(bin)
        .args(["--port", "0", "--source", "redis"])
        .env_remove("D_BACK_REDIS_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "d-back: --source redis needs a Redis URL (--redis-url)"
    );
    let gone = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(bin)
        .args(["--host", "127.0.0.1", "--port", "0", "--no-mock-traffic"])
        .env("D_BACK_REDIS_URL", format!("redis://127.0.0.1:{gone}/"))
        .env("D_BACK_PUBLISH_TOKEN", "tok")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = listening_addr(&mut child, "http");
    // The helpers' clients need only the address; the handle is a spare
    // in-process server's, never used.
    let srv = TestServer {
        addr,
        handle: start().handle,
    };
    let body = until_ready(&srv, 503, WAIT).await;
    assert!(body.contains("degraded: redis unreachable"), "{body}");
    let mut viewer = srv.joined("dworld").await;
    let frame = message(d_back::mock::DWORLD, "local");
    let (status, _, _) = http_raw(addr, &post(&frame)).await;
    assert_eq!(status, 202);
    assert_eq!(viewer.recv_text().await, frame);
    let _ = child.kill();
    let _ = child.wait();
}

/// Viewers of a `--source redis` instance who join while the source's bot
/// storms presences get their snapshot from Redis and then every later
/// change, in order: the members hash and the channel are updated in one
/// step, and a join reads the hash only once its subscription is live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_source_viewers_joining_during_a_storm_miss_nothing() {
    let redis = Redis::start();
    let truth = storm::truth();
    let read = truth.clone();
    let config = joined_config(&redis, DataSource::Local);
    let bot = start_with(move |b| storm::provide(b.config(config), read));
    until_ready(&bot, 200, HEAL).await;
    let viewers = redis_source_instance(&redis).await;
    until_same_list(&bot, &viewers).await;
    // The source has written the guild's users (the storm starts from a
    // snapshot, as after any start).
    let members = format!("d-back:members:{}", storm::GUILD);
    let start = Instant::now();
    while redis.cmd::<usize>(redis::cmd("HLEN").arg(&members)) < storm::MEMBERS {
        assert!(
            start.elapsed() < HEAL,
            "the users snapshot was never written"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    storm::run(&bot, &viewers, &truth, 3_000, 16).await;
}

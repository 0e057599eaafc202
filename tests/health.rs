//! `/healthz` and `/readyz`: alive, ready on mock data, not ready while a
//! provider hangs or the Discord gateway is down, ready once it connects.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fake_discord::*;
use common::*;
use d_back::discord::{Discord, DiscordConfig};
use d_back::{Config, ServerInfo};
use tokio::net::TcpListener;

/// (status, content-type, body) of a GET.
async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let (status, headers, body) = http_get(addr, path).await;
    let ct = header(&headers, "content-type").unwrap_or("").to_string();
    (status, ct, String::from_utf8(body).unwrap())
}

const READY: &str = r#"{"status":"ready"}"#;

fn unavailable(reason: &str) -> String {
    serde_json::json!({"status": "unavailable", "reason": reason}).to_string()
}

/// `/healthz` answers while the process is alive, and `/readyz` is ready on
/// mock data; both JSON, both for HEAD too.
#[tokio::test]
async fn alive_and_ready_on_mock_data() {
    let srv = start();
    let (status, ct, body) = get(srv.addr, "/healthz").await;
    assert_eq!(
        (status, ct.as_str(), body.as_str()),
        (200, "application/json", r#"{"status":"ok"}"#)
    );
    let (status, ct, body) = get(srv.addr, "/readyz").await;
    assert_eq!(
        (status, ct.as_str(), body.as_str()),
        (200, "application/json", READY)
    );
    let (status, _, _) = http_raw(
        srv.addr,
        "HEAD /readyz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200);
}

/// A server-list provider that never answers: `/readyz` is 503 within the
/// readiness deadline, while `/healthz` still says alive.
#[tokio::test]
async fn hung_provider_is_not_ready() {
    let srv = start_with(|b| {
        b.config(Config {
            // Longer than the probe's deadline, so the provider is still
            // hanging (not yet answered by its safe default) when it gives up.
            provider_timeout: Duration::from_secs(30),
            readiness_timeout: Duration::from_millis(300),
            ..quiet()
        })
        .on_get_server_data(|| async {
            std::future::pending::<()>().await;
            Ok(Vec::<ServerInfo>::new())
        })
    });
    let t = Instant::now();
    let (status, ct, body) = get(srv.addr, "/readyz").await;
    let took = t.elapsed();
    assert_eq!(status, 503);
    assert_eq!(ct, "application/json");
    assert_eq!(body, unavailable("providers not answering"));
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(2),
        "answered after {took:?}"
    );
    assert_eq!(get(srv.addr, "/healthz").await.0, 200);
}

/// A provider that answers is ready even with real (non-mock) data.
#[tokio::test]
async fn answering_provider_is_ready() {
    let srv = start_with(|b| {
        b.config(quiet())
            .on_get_server_data(|| async { Ok(vec![ServerInfo::new("1", "one", "One")]) })
    });
    assert_eq!(get(srv.addr, "/readyz").await.2, READY);
}

/// Forwards every connection on `listener` to `to` (the fake gateway
/// appearing on the port d-back was told).
/// A gateway address that fails every connection (accepted, then dropped
/// at once), counting them, until `up` is set; from then on it forwards
/// each connection to `to`.
async fn gateway_until_up(
    listener: TcpListener,
    to: SocketAddr,
    up: Arc<AtomicBool>,
    failed: Arc<AtomicUsize>,
) {
    while let Ok((mut inbound, _)) = listener.accept().await {
        if !up.load(Ordering::SeqCst) {
            failed.fetch_add(1, Ordering::SeqCst);
            drop(inbound);
            continue;
        }
        tokio::spawn(async move {
            if let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

/// The built-in bot with its gateway failing every connection: 503 with
/// the reason. Once the gateway comes up there (forwarding to the live
/// fake), the bot connects and `/readyz` turns 200.
#[tokio::test]
async fn discord_gateway_down_then_up() {
    let fake = FakeDiscord::start(vec![FakeGuild::new("111111111111111111", "Island")]);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let up = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicUsize::new(0));
    tokio::spawn(gateway_until_up(
        listener,
        fake.gateway,
        up.clone(),
        failed.clone(),
    ));
    let cfg = DiscordConfig {
        token: Some(BOT_TOKEN.into()),
        gateway_url: Some(format!("ws://127.0.0.1:{port}")),
        api_url: Some(fake.api_url()),
        rest_timeout: Duration::from_millis(500),
        ..DiscordConfig::default()
    };
    let srv = start_with(move |b| b.config(quiet()).discord(Discord::new(cfg).unwrap()));
    // The reason names each shard that is not active once the shards run.
    let down = |body: &str| {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        v["status"] == "unavailable"
            && v["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("the Discord gateway is not connected"))
    };
    let (status, ct, body) = get(srv.addr, "/readyz").await;
    assert_eq!((status, ct.as_str()), (503, "application/json"));
    assert!(down(&body), "{body}");
    // twilight's first attempt is 1 s after the start: wait (polling, with
    // a deadline) until it has failed there.
    let start = Instant::now();
    while failed.load(Ordering::SeqCst) == 0 {
        assert!(start.elapsed() < WAIT, "the bot never tried the gateway");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!fake.connected());
    let body = get(srv.addr, "/readyz").await.2;
    assert_eq!(
        body,
        serde_json::json!({
            "status": "unavailable",
            "reason": "the Discord gateway is not connected: shard 0/1 disconnected",
            "shards": [{"shard": 0, "total": 1, "state": "disconnected"}]
        })
        .to_string()
    );
    assert_eq!(get(srv.addr, "/healthz").await.0, 200);

    up.store(true, Ordering::SeqCst);
    // The next attempt comes 2 s after the failed one.
    let start = Instant::now();
    loop {
        let (status, _, body) = get(srv.addr, "/readyz").await;
        if status == 200 {
            let ready = serde_json::json!({
                "status": "ready",
                "shards": [{"shard": 0, "total": 1, "state": "active"}]
            });
            assert_eq!(body, ready.to_string());
            break;
        }
        assert!(down(&body), "{body}");
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never ready after the gateway came up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(fake.connected());

    // The gateway drops us: not ready until the bot is back (twilight
    // reconnects at once, so the fake leaves the resume unanswered).
    fake.hold_resumes();
    fake.drop_connection();
    let start = Instant::now();
    loop {
        let (status, _, body) = get(srv.addr, "/readyz").await;
        if status == 503 {
            assert!(down(&body), "{body}");
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "still ready after the gateway dropped"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

//! `GET /metrics`: off by default (404), token-protected when asked (401),
//! and exact counts after a scripted session, read with a real Prometheus
//! text parser.

mod common;

use common::{error_frame, http_raw, quiet, start_with, TestServer};
use d_back::{errors, Broadcast, Config};
use prometheus_parse::{Scrape, Value};

const TOKEN: &str = "metrics-secret-token";

fn metrics_on(token: Option<&str>) -> Config {
    Config {
        metrics: true,
        metrics_token: token.map(String::from),
        ..quiet()
    }
}

async fn get_metrics(srv: &TestServer, auth: Option<&str>) -> (u16, String) {
    let auth = auth
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let (status, _, body) = http_raw(
        srv.addr,
        &format!("GET /metrics HTTP/1.1\r\nHost: t\r\n{auth}Connection: close\r\n\r\n"),
    )
    .await;
    (status, String::from_utf8(body).expect("UTF-8 body"))
}

/// Parsed samples: `value("dback_closes_total", &[("reason", "client")])`.
struct Samples(Scrape);

impl Samples {
    fn parse(text: &str) -> Samples {
        let lines = text.lines().map(|l| Ok(l.to_string()));
        Samples(Scrape::parse(lines).expect("valid Prometheus text"))
    }

    /// The sample's value; 0 when the series does not exist (yet).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<f64> = self
            .0
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
                ref other => panic!("{name} is not a number: {other:?}"),
            })
            .collect();
        assert!(found.len() <= 1, "{name} {labels:?} matches {found:?}");
        found.first().copied().unwrap_or(0.0)
    }

    /// Observations of a histogram (its `+Inf` bucket).
    fn histogram_count(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<f64> = self
            .0
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match &s.value {
                Value::Histogram(buckets) => buckets.last().expect("+Inf bucket").count,
                other => panic!("{name} is not a histogram: {other:?}"),
            })
            .collect();
        assert_eq!(found.len(), 1, "{name} {labels:?}");
        found[0]
    }
}

/// Without `metrics` the path is an ordinary 404.
#[tokio::test]
async fn metrics_are_off_by_default() {
    let srv = start_with(|b| b.config(quiet()));
    let (status, _) = get_metrics(&srv, None).await;
    assert_eq!(status, 404);
}

/// With a token, a scrape without it or with a wrong one gets 401.
#[tokio::test]
async fn metrics_token_is_required() {
    let srv = start_with(|b| b.config(metrics_on(Some(TOKEN))));
    assert_eq!(get_metrics(&srv, None).await.0, 401);
    assert_eq!(get_metrics(&srv, Some("metrics-secret-tokeX")).await.0, 401);
    assert_eq!(get_metrics(&srv, Some("")).await.0, 401);
    let (status, body) = get_metrics(&srv, Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(
        Samples::parse(&body).value("dback_open_connections", &[]),
        0.0
    );
}

/// Connect, join, a broadcast, a malformed frame, a refused protected
/// join, a refused upgrade, a close: each is counted exactly.
#[tokio::test]
async fn a_scripted_session_is_counted_exactly() {
    let srv = start_with(|b| {
        b.config(Config {
            max_connections_per_ip: 1,
            ..metrics_on(None)
        })
    });
    let mut c = srv.joined("dworld").await;
    // The per-IP cap is one: this upgrade is refused.
    assert!(
        tokio_tungstenite::connect_async(format!("ws://{}/ws", srv.addr))
            .await
            .is_err()
    );
    let queued = srv
        .handle
        .broadcast_counted(Broadcast::Message {
            server: "232769614004748288".into(),
            uid: "1".into(),
            message: "hi".into(),
            channel: "general".into(),
        })
        .await;
    assert_eq!(queued, 1);
    assert_eq!(c.recv_json().await["type"], "message");
    c.send_text("{not json").await;
    assert_eq!(c.recv_text().await, error_frame(errors::INVALID_JSON));
    assert_eq!(
        c.join("oauth").await["data"]["message"],
        errors::AUTH_REQUIRED
    );

    let (status, body) = get_metrics(&srv, None).await;
    assert_eq!(status, 200);
    let m = Samples::parse(&body);
    assert_eq!(m.value("dback_open_connections", &[]), 1.0);
    // The refused protected join left the session without a server.
    assert_eq!(m.value("dback_joined_sessions", &[]), 0.0);
    assert_eq!(
        m.value("dback_broadcasts_total", &[("type", "message")]),
        1.0
    );
    assert_eq!(
        m.value("dback_broadcasts_total", &[("type", "presence")]),
        0.0
    );
    assert_eq!(m.value("dback_deliveries_total", &[]), 1.0);
    assert_eq!(
        m.value("dback_frame_errors_total", &[("kind", "invalid_json")]),
        1.0
    );
    assert_eq!(
        m.value("dback_auth_attempts_total", &[("outcome", "required")]),
        1.0
    );
    assert_eq!(
        m.value("dback_auth_attempts_total", &[("outcome", "accepted")]),
        0.0
    );
    assert_eq!(
        m.value("dback_refused_upgrades_total", &[("reason", "ip_limit")]),
        1.0
    );
    assert_eq!(
        m.value("dback_refused_upgrades_total", &[("reason", "origin")]),
        0.0
    );
    assert_eq!(m.value("dback_evictions_total", &[]), 0.0);
    assert_eq!(m.histogram_count("dback_delivery_seconds", &[]), 1.0);

    c.ws().close(None).await.expect("close");
    let _ = c.recv_close().await;
    srv.until("the session is gone", |h| h.connection_count() == 0)
        .await;
    let m = Samples::parse(&get_metrics(&srv, None).await.1);
    assert_eq!(m.value("dback_open_connections", &[]), 0.0);
    assert_eq!(m.value("dback_hubs", &[]), 0.0);
    assert_eq!(m.value("dback_closes_total", &[("reason", "client")]), 1.0);
}

/// The built-in bot's join list is encoded once per change and shared by
/// every join on every worker until a member changes.
#[tokio::test]
async fn join_lists_are_made_once_per_change() {
    use common::fake_discord::fixtures::{island, ALICE, G1};
    use common::fake_discord::{presence, FakeDiscord};
    use d_back::discord::Discord;
    let fake = FakeDiscord::start(vec![island()]);
    let cfg = fake.bot_config();
    let srv = start_with(move |b| {
        b.config(Config {
            max_connections_per_ip: 16,
            ..metrics_on(None)
        })
        .discord(Discord::new(cfg).expect("valid config"))
    });
    let encoded = |m: &Samples| m.value("dback_join_lists_total", &[("kind", "encoded")]);
    let users = |j: &serde_json::Value| j["data"]["users"].as_object().map_or(0, |u| u.len());
    let start = std::time::Instant::now();
    let mut viewers = Vec::new();
    while viewers.len() < 4 {
        let mut c = srv.client().await;
        let j = c.join("island-life").await;
        if users(&j) == 3 {
            viewers.push(c);
        }
        assert!(start.elapsed() < common::WAIT, "the guild never came: {j}");
    }
    let m = Samples::parse(&get_metrics(&srv, None).await.1);
    let first = encoded(&m);
    assert!(first >= 1.0);
    assert_eq!(
        m.value("dback_join_lists_total", &[("kind", "compressed")]),
        0.0,
        "no viewer asked for compression"
    );
    // Four more joins of the unchanged guild make nothing.
    for _ in 0..4 {
        let mut c = srv.client().await;
        assert_eq!(users(&c.join("island-life").await), 3);
    }
    let m = Samples::parse(&get_metrics(&srv, None).await.1);
    assert_eq!(encoded(&m), first, "joins of an unchanged list share it");
    // A drawn change: the next join makes one new list.
    fake.dispatch("PRESENCE_UPDATE", presence(ALICE, G1, "dnd"));
    assert_eq!(viewers[0].recv_json().await["data"]["status"], "dnd");
    let mut c = srv.client().await;
    assert_eq!(users(&c.join("island-life").await), 3);
    let m = Samples::parse(&get_metrics(&srv, None).await.1);
    assert_eq!(encoded(&m), first + 1.0);
}

/// Provider callbacks are counted by callback and outcome, with latency.
#[tokio::test]
async fn provider_calls_are_counted_with_latency() {
    use d_back::{ServerInfo, User};
    let srv = start_with(|b| {
        b.config(metrics_on(None))
            .on_get_server_data(|| async { Ok(vec![ServerInfo::new("1", "one", "One")]) })
            .on_get_user_data(|_| async { Err::<Vec<User>, _>("down".into()) })
    });
    let c = srv.joined("one").await;
    let m = Samples::parse(&get_metrics(&srv, None).await.1);
    let calls = |callback, outcome| {
        m.value(
            "dback_provider_calls_total",
            &[("callback", callback), ("outcome", outcome)],
        )
    };
    // Asked at the upgrade (the list) and again by the join.
    assert_eq!(calls("on_get_server_data", "ok"), 2.0);
    assert_eq!(calls("on_get_user_data", "error"), 1.0);
    assert_eq!(calls("on_get_user_data", "ok"), 0.0);
    let observed: Vec<f64> =
        m.0.samples
            .iter()
            .filter(|s| s.metric == "dback_provider_seconds")
            .filter(|s| s.labels.get("callback") == Some("on_get_server_data"))
            .map(|s| match &s.value {
                Value::Histogram(buckets) => buckets.last().expect("+Inf bucket").count,
                other => panic!("not a histogram: {other:?}"),
            })
            .collect();
    assert_eq!(observed, [2.0]);
    drop(c);
}

/// Metrics until `cond` holds (the gateway runs on its own).
async fn scrape_until(srv: &TestServer, what: &str, cond: impl Fn(&Samples) -> bool) -> Samples {
    let start = std::time::Instant::now();
    loop {
        let m = Samples::parse(&get_metrics(srv, None).await.1);
        if cond(&m) {
            return m;
        }
        assert!(
            start.elapsed() < common::WAIT,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// With the built-in bot: its gateway state, events by type, reconnects.
#[tokio::test]
async fn discord_gateway_is_counted() {
    use common::fake_discord::{FakeDiscord, FakeGuild};
    use d_back::discord::Discord;
    let fake = FakeDiscord::start(vec![FakeGuild::new("222222222222222201", "Island")]);
    let cfg = fake.bot_config();
    let srv = start_with(move |b| {
        b.config(metrics_on(None))
            .discord(Discord::new(cfg).expect("valid config"))
    });
    let event = |m: &Samples, t| m.value("dback_discord_gateway_events_total", &[("type", t)]);
    let m = scrape_until(&srv, "the guild", |m| event(m, "GUILD_CREATE") == 1.0).await;
    assert_eq!(m.value("dback_discord_gateway_state", &[]), 1.0);
    assert_eq!(event(&m, "READY"), 1.0);
    assert_eq!(m.value("dback_discord_gateway_reconnects_total", &[]), 0.0);
    fake.drop_connection();
    let m = scrape_until(&srv, "the resume", |m| event(m, "RESUMED") == 1.0).await;
    assert_eq!(m.value("dback_discord_gateway_reconnects_total", &[]), 1.0);
    assert_eq!(m.value("dback_discord_gateway_state", &[]), 1.0);
    assert_eq!(event(&m, "READY"), 1.0);
}

//! Clients behind a reverse proxy: with `trusted_proxies` the per-IP cap,
//! its IPv6 /64 grouping and the authentication throttle follow the
//! forwarded address; from an untrusted peer the headers are ignored.

mod common;

use common::{error_frame, quiet, start_with, Client, TestServer};
use d_back::{errors, Config, ServerInfo, User};
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Error as WsError;

/// Two sessions per address, 127.0.0.1 trusted or not.
fn capped(trusted: bool) -> Config {
    Config {
        max_connections_per_ip: 2,
        trusted_proxies: if trusted {
            vec!["127.0.0.1/32".into()]
        } else {
            Vec::new()
        },
        ..quiet()
    }
}

/// Opens `/ws` with the header `name: value`; the upgrade's status (101
/// or the refusal's) and, on 101, the client.
async fn open(srv: &TestServer, name: &str, value: &str) -> (u16, Option<Client>) {
    let mut req = format!("ws://{}/ws", srv.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert(http_name(name), value.parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, resp)) => (resp.status().as_u16(), Some(Client::plain(ws))),
        Err(WsError::Http(resp)) => (resp.status().as_u16(), None),
        Err(e) => panic!("upgrade failed: {e}"),
    }
}

fn http_name(name: &str) -> tokio_tungstenite::tungstenite::http::HeaderName {
    name.parse().unwrap()
}

async fn statuses(srv: &TestServer, name: &str, values: &[&str]) -> (Vec<u16>, Vec<Client>) {
    let (mut codes, mut keep) = (Vec::new(), Vec::new());
    for v in values {
        let (code, c) = open(srv, name, v).await;
        codes.push(code);
        keep.extend(c);
    }
    (codes, keep)
}

/// Behind a trusted proxy each forwarded address has its own cap: the third
/// session of one address is refused, another address still gets in.
#[tokio::test]
async fn forwarded_clients_are_capped_separately() {
    let srv = start_with(|b| b.config(capped(true)));
    let (codes, _open) = statuses(
        &srv,
        "x-forwarded-for",
        &[
            "203.0.113.1",
            "203.0.113.1",
            "203.0.113.1",
            "203.0.113.2",
            "198.51.100.9, 203.0.113.2",
        ],
    )
    .await;
    assert_eq!(codes, [101, 101, 503, 101, 101]);
    // The last one was 203.0.113.2's second: its cap is reached now too.
    let (code, _) = open(&srv, "x-forwarded-for", "203.0.113.2").await;
    assert_eq!(code, 503);
}

/// RFC 7239 `Forwarded`, with its quoted `"[v6]:port"` form, names the
/// client the same way.
#[tokio::test]
async fn forwarded_header_is_read_too() {
    let srv = start_with(|b| b.config(capped(true)));
    let (codes, _open) = statuses(
        &srv,
        "forwarded",
        &[
            r#"for="[2001:db8::1]:4711""#,
            "for=192.0.2.7;proto=http",
            r#"for="[2001:db8::2]""#,
            r#"for="[2001:db8::3]:80""#,
        ],
    )
    .await;
    // 2001:db8::1..3 share one /64.
    assert_eq!(codes, [101, 101, 101, 503]);
}

/// From an untrusted peer the headers are spoofable and ignored: the cap
/// applies to 127.0.0.1 whatever they say.
#[tokio::test]
async fn spoofed_headers_from_untrusted_peers_are_ignored() {
    let srv = start_with(|b| b.config(capped(false)));
    let (codes, _open) = statuses(
        &srv,
        "x-forwarded-for",
        &["203.0.113.1", "203.0.113.2", "203.0.113.3"],
    )
    .await;
    assert_eq!(codes, [101, 101, 503]);
}

/// A malformed header from a trusted proxy counts as the proxy itself.
#[tokio::test]
async fn malformed_headers_count_as_the_proxy() {
    let srv = start_with(|b| b.config(capped(true)));
    let (codes, _open) = statuses(
        &srv,
        "x-forwarded-for",
        &["unknown", "203.0.113.1, garbage", "", "203.0.113.1"],
    )
    .await;
    assert_eq!(codes, [101, 101, 503, 101]);
}

/// IPv6 clients are capped per /64: two addresses in one /64 share the
/// cap, an address in the next /64 does not.
#[tokio::test]
async fn ipv6_clients_share_a_cap_per_64() {
    let srv = start_with(|b| b.config(capped(true)));
    let (codes, _open) = statuses(
        &srv,
        "x-forwarded-for",
        &[
            "2001:db8:0:1::a",
            "2001:db8:0:1:ffff::b",
            "2001:db8:0:1::c",
            "2001:db8:0:2::a",
        ],
    )
    .await;
    assert_eq!(codes, [101, 101, 503, 101]);
}

/// The authentication throttle counts per forwarded address.
#[tokio::test]
async fn auth_throttle_follows_the_forwarded_address() {
    let srv = start_with(|b| {
        b.config(Config {
            auth_attempts: 2,
            trusted_proxies: vec!["127.0.0.1/32".into()],
            ..quiet()
        })
        .on_get_server_data(|| async {
            Ok(vec![
                ServerInfo::new("1", "locked", "L").with_password("right")
            ])
        })
        .on_get_user_data(|_| async { Ok(Vec::<User>::new()) })
    });
    let wrong = json!({"type":"connect","data":{"server":"locked","password":"wrong"}}).to_string();
    let mut answers = Vec::new();
    // A fresh session per attempt, so only the per-address count applies.
    for who in ["203.0.113.1", "203.0.113.1", "203.0.113.1", "203.0.113.2"] {
        let (code, c) = open(&srv, "x-forwarded-for", who).await;
        assert_eq!(code, 101);
        let mut c = c.unwrap();
        assert_eq!(c.recv_json().await["type"], "server-list");
        c.send_text(&wrong).await;
        answers.push(c.recv_text().await);
    }
    let refused = error_frame(errors::AUTH_REQUIRED);
    let throttled = error_frame(errors::AUTH_THROTTLED);
    assert_eq!(
        answers,
        [refused.clone(), refused.clone(), throttled, refused]
    );
}

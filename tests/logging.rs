//! What the server writes to its log: refusals once per IP per minute, and
//! never a Discord token or a password.

mod common;

use std::sync::Mutex;

use common::*;
use d_back::{Config, ServerInfo, User};
use serde_json::json;

static RECORDS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        RECORDS
            .lock()
            .unwrap()
            .push(format!("{} {}", record.target(), record.args()));
    }
    fn flush(&self) {}
}

fn capture() {
    let _ = log::set_logger(&Capture);
    log::set_max_level(log::LevelFilter::Trace);
}

fn records_containing(needle: &str) -> Vec<String> {
    RECORDS
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.contains(needle))
        .cloned()
        .collect()
}

/// A flood of refused upgrades from one IP logs one line.
#[tokio::test]
async fn refusals_are_logged_once_per_ip() {
    capture();
    let srv = start_with(|b| {
        b.config(Config {
            max_connections_per_ip: 1,
            ..quiet()
        })
    });
    let _held = srv.client().await;
    for _ in 0..20 {
        let err = tokio_tungstenite::connect_async(format!("ws://{}/ws", srv.addr)).await;
        assert!(err.is_err());
    }
    let lines = records_containing("refused WebSocket");
    assert_eq!(lines.len(), 1, "{lines:#?}");
}

/// Tokens and passwords appear in no log record, at any level, whatever
/// the outcome of the login.
#[tokio::test]
async fn secrets_are_never_logged() {
    capture();
    const TOKEN: &str = "mfa.VERY-SECRET-TOKEN-123";
    const PASSWORD: &str = "hunter2-SECRET-PASSWORD";
    let srv = start_with(|b| {
        b.config(Config {
            auth_attempts: 3,
            ..quiet()
        })
        .on_get_server_data(|| async {
            Ok(vec![
                ServerInfo::new("1", "locked", "L").with_password("other")
            ])
        })
        .on_get_user_data(|_| async { Ok(Vec::<User>::new()) })
        .on_validate_discord_user(|token, _, _| async move { Ok(token.ends_with("ok")) })
    });
    let mut c = srv.client().await;
    let tokens = [format!("{TOKEN}ok"), TOKEN.to_string()];
    for token in tokens.iter().chain(tokens.iter()).chain(tokens.iter()) {
        c.send_text(
            &json!({"type":"connect","data":{"server":"locked","discordToken":token,"discordUser":{"id":"1","username":"u"}}})
                .to_string(),
        )
        .await;
        let _ = c.recv_json().await;
        c.send_text(
            &json!({"type":"connect","data":{"server":"locked","password":PASSWORD}}).to_string(),
        )
        .await;
        let _ = c.recv_json().await;
    }
    assert!(!RECORDS.lock().unwrap().is_empty());
    assert!(
        records_containing("SECRET").is_empty(),
        "{:#?}",
        records_containing("SECRET")
    );
}

/// Forwarding headers from a peer that is not a trusted proxy log one hint
/// (per process), naming the option, however many arrive.
#[tokio::test]
async fn untrusted_forwarding_headers_log_one_hint() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    capture();
    let srv = start();
    let mut open = Vec::new();
    for forwarded in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        let mut req = format!("ws://{}/ws", srv.addr)
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("x-forwarded-for", forwarded.parse().unwrap());
        open.push(
            tokio_tungstenite::connect_async(req)
                .await
                .expect("upgrade"),
        );
    }
    let lines = records_containing("--trusted-proxy");
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("127.0.0.1"), "{lines:#?}");
}

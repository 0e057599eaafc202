//! Callbacks that fail, panic, hang or answer malformed data: the session
//! gets the safe default and keeps working; other sessions are unaffected.

mod common;

use std::time::Duration;

use common::*;
use d_back::errors;
use d_back::{Config, ServerInfo, User};
use serde_json::json;

fn fast() -> Config {
    Config {
        provider_timeout: Duration::from_millis(200),
        ..quiet()
    }
}

/// A failing server list answers an empty list; the session still answers.
#[tokio::test]
async fn server_list_error_is_empty() {
    let srv = start_with(|b| {
        b.config(fast())
            .on_get_server_data(|| async { Err::<Vec<ServerInfo>, _>("database down".into()) })
    });
    let mut c = srv.client_at("/").await;
    assert_eq!(c.recv_text().await, r#"{"type":"server-list","data":{}}"#);
    assert_eq!(
        c.join("x").await,
        json!({"type":"error","data":{"message":errors::NO_SUCH_SERVER}})
    );
}

/// A panicking server list answers an empty list; the server lives on.
#[tokio::test]
async fn server_list_panic_is_empty() {
    let srv = start_with(|b| {
        b.config(fast()).on_get_server_data(|| async {
            if true {
                panic!("provider bug");
            }
            Ok(Vec::<ServerInfo>::new())
        })
    });
    for _ in 0..3 {
        let mut c = srv.client_at("/").await;
        assert_eq!(c.recv_text().await, r#"{"type":"server-list","data":{}}"#);
    }
}

/// A hanging user list times out into no users; a second session, joined
/// meanwhile, is not held up.
#[tokio::test]
async fn user_list_timeout_and_panic() {
    let srv = start_with(|b| {
        b.config(Config {
            provider_timeout: Duration::from_secs(3),
            ..quiet()
        })
        .on_get_user_data(|guild| async move {
            match guild.as_str() {
                "232769614004748288" => {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    Ok(json!({}))
                }
                "482241773318701056" => panic!("users bug"),
                _ => Ok(json!({"1": {"uid": "1", "username": "ok", "status": "online", "roleColor": "#ffffff"}})),
            }
        })
    });
    let mut slow = srv.client().await;
    slow.send_text(r#"{"type":"connect","data":{"server":"dworld"}}"#)
        .await;
    let mut other = srv.client().await;
    let started = std::time::Instant::now();
    let repos = other.join("repos").await;
    assert!(
        started.elapsed() < Duration::from_millis(150),
        "held up by a slow provider"
    );
    assert_eq!(repos["data"]["users"]["1"]["username"], "ok");
    let j = slow.recv_json().await;
    assert_eq!(j["data"]["users"], json!({}));
    assert_eq!(j["data"]["serverName"], "D-World");
    let docs = other.join("docs").await;
    assert_eq!(docs["data"]["users"], json!({}));
}

/// Malformed users are skipped one by one; good ones still arrive.
#[tokio::test]
async fn malformed_users_are_skipped() {
    let srv = start_with(|b| {
        b.config(fast()).on_get_user_data(|_| async {
            Ok(json!({
                "1": {"uid": "1", "username": "good", "status": "idle", "roleColor": "#123456"},
                "2": {"uid": "2", "username": "bad status", "status": "away", "roleColor": "#123456"},
                "3": {"uid": "3", "username": "bad colour", "status": "online", "roleColor": "blue"},
                "4": {"uid": "4", "status": "online", "roleColor": "#123456"},
                "5": "junk"
            }))
        })
    });
    let mut c = srv.client().await;
    let j = c.join("dworld").await;
    assert_eq!(
        j["data"]["users"],
        json!({"1": {"uid": "1", "username": "good", "status": "idle", "roleColor": "#123456"}})
    );
}

/// A validator that errors, panics or hangs refuses (fails closed).
#[tokio::test]
async fn validator_faults_refuse() {
    let srv = start_with(|b| {
        b.config(fast())
            .on_get_server_data(|| async {
                Ok(vec![ServerInfo::new("1", "locked", "L").protected()])
            })
            .on_get_user_data(|_| async { Ok(Vec::<User>::new()) })
            .on_validate_discord_user(|token, _, _| async move {
                match token.as_str() {
                    "err" => Err("discord down".into()),
                    "panic" => panic!("validator bug"),
                    "hang" => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        Ok(true)
                    }
                    _ => Ok(true),
                }
            })
            .on_get_client_id(|_| async { Err("no ids".into()) })
    });
    for token in ["err", "panic", "hang"] {
        let mut c = srv.client().await;
        c.send_text(
            &json!({"type":"connect","data":{"server":"locked","discordToken":token,"discordUser":{"id":"1","username":"u"}}})
                .to_string(),
        )
        .await;
        assert_eq!(
            c.recv_text().await,
            error_frame(errors::AUTH_FAILED),
            "{token}"
        );
    }
    let mut c = srv.client().await;
    c.send_text(r#"{"type":"connect","data":{"server":"locked","discordToken":"fine","discordUser":{"id":"1","username":"u"}}}"#)
        .await;
    // The failing client-id provider means no clientId field.
    assert_eq!(
        c.recv_text().await,
        r#"{"type":"server-join","data":{"users":{},"request":{"server":"locked"},"serverName":"L"}}"#
    );
}

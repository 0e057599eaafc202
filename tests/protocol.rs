//! Every rule of PROTOCOL.md over real WebSocket connections.

mod common;

use std::time::Duration;

use common::*;
use d_back::errors;
use d_back::{Config, Presence, RoleColor, ServerInfo, Status, User};
use serde_json::json;

const DWORLD: &str = "232769614004748288";
const DOCS: &str = "482241773318701056";
const OAUTH: &str = "123456789012345678";
const REPOS: &str = "987654321098765432";

const SERVER_LIST: &str = r#"{"type":"server-list","data":{"232769614004748288":{"id":"dworld","name":"D-World","passworded":false,"default":true},"482241773318701056":{"id":"docs","name":"Docs (WIP)","passworded":false},"123456789012345678":{"id":"oauth","name":"OAuth2 Protected Server","passworded":true},"987654321098765432":{"id":"repos","name":"My Repos","passworded":false}}}"#;

const DWORLD_USERS: &str = r##"{"100000000000000001":{"uid":"100000000000000001","username":"Pixel Pip","status":"online","roleColor":"#ff6b6b"},"100000000000000002":{"uid":"100000000000000002","username":"Moss","status":"idle","roleColor":"#5bc0de"},"100000000000000003":{"uid":"100000000000000003","username":"Captain Byte","status":"dnd","roleColor":"#f0ad4e"},"100000000000000004":{"uid":"100000000000000004","username":"Lumen","status":"online","roleColor":"#9b59b6"}}"##;

fn dworld_join(requested: &str) -> String {
    format!(
        r#"{{"type":"server-join","data":{{"users":{DWORLD_USERS},"request":{{"server":"{requested}"}},"serverName":"D-World"}}}}"#
    )
}

/// The server list arrives at once on open, exactly, on any path.
#[tokio::test]
async fn server_list_on_open_on_any_path() {
    let srv = start();
    for path in ["/", "/ws", "/dzone", "/some/deep/path?x=1"] {
        let mut c = srv.client_at(path).await;
        assert_eq!(c.recv_text().await, SERVER_LIST, "path {path}");
    }
}

/// Missing, null, empty and blank server ids all mean "default".
#[tokio::test]
async fn default_resolution() {
    let srv = start();
    let mut c = srv.client().await;
    for frame in [
        r#"{"type":"connect"}"#,
        r#"{"type":"connect","data":null}"#,
        r#"{"type":"connect","data":{}}"#,
        r#"{"type":"connect","data":{"server":null}}"#,
        r#"{"type":"connect","data":{"server":""}}"#,
        r#"{"type":"connect","data":{"server":"   "}}"#,
        r#"{"type":"connect","data":{"server":"default"}}"#,
    ] {
        c.send_text(frame).await;
        assert_eq!(c.recv_text().await, dworld_join("default"), "{frame}");
    }
}

/// Ids are trimmed and echoed as normalised; a join by id answers that server.
#[tokio::test]
async fn join_by_id_trims_and_echoes() {
    let srv = start();
    let mut c = srv.client().await;
    c.send_text(r#"{"type":"connect","data":{"server":"  dworld "}}"#)
        .await;
    assert_eq!(c.recv_text().await, dworld_join("dworld"));
    let docs = c.join("docs").await;
    assert_eq!(
        docs,
        json!({"type":"server-join","data":{"users":{"200000000000000001":{"uid":"200000000000000001","username":"Scribe","status":"online","roleColor":"#2ecc71"}},"request":{"server":"docs"},"serverName":"Docs (WIP)"}})
    );
    let repos = c.join("repos").await;
    assert_eq!(repos["data"]["users"].as_object().unwrap().len(), 21);
}

/// A numeric id is matched as its decimal string; other types match nothing.
#[tokio::test]
async fn numeric_and_odd_ids() {
    let srv = start_with(|b| {
        b.config(quiet()).on_get_server_data(|| async {
            Ok(vec![
                ServerInfo::new("555", "42", "Answer"),
                ServerInfo::new("556", "b", "B"),
            ])
        })
    });
    let mut c = srv.client().await;
    c.send_text(r#"{"type":"connect","data":{"server":42}}"#)
        .await;
    let j = c.recv_json().await;
    assert_eq!(j["data"]["request"], json!({"server": "42"}));
    assert_eq!(j["data"]["serverName"], "Answer");
    for odd in ["true", "[1]", r#"{"a":1}"#, r#""nope""#] {
        c.send_text(&format!(
            r#"{{"type":"connect","data":{{"server":{odd}}}}}"#
        ))
        .await;
        assert_eq!(
            c.recv_text().await,
            error_frame(errors::NO_SUCH_SERVER),
            "{odd}"
        );
    }
}

/// With no server marked default, "default" is the first server.
#[tokio::test]
async fn default_without_marked_default_is_first() {
    let srv = start_with(|b| {
        b.config(quiet()).on_get_server_data(|| async {
            Ok(json!({"9": {"id": "first", "name": "First"}, "8": {"id": "second", "name": "Second"}}))
        })
    });
    let mut c = srv.client().await;
    let j = c.join("default").await;
    assert_eq!(j["data"]["serverName"], "First");
}

/// Each malformed frame gets its exact error, and the session goes on.
#[tokio::test]
async fn exact_errors_never_close() {
    let srv = start();
    let mut c = srv.client().await;
    let cases: &[(&str, &str)] = &[
        ("not json", errors::INVALID_JSON),
        ("{\"type\":", errors::INVALID_JSON),
        ("", errors::INVALID_JSON),
        (r#"{"data":{}}"#, errors::UNKNOWN_TYPE),
        (r#"{"type":"hello"}"#, errors::UNKNOWN_TYPE),
        (r#"{"type":7}"#, errors::UNKNOWN_TYPE),
        (r#"{"type":"CONNECT"}"#, errors::UNKNOWN_TYPE),
        ("[1,2]", errors::INVALID_FORMAT),
        ("\"connect\"", errors::INVALID_FORMAT),
        ("42", errors::INVALID_FORMAT),
        (
            r#"{"type":"connect","data":"dworld"}"#,
            errors::INVALID_FORMAT,
        ),
        (
            r#"{"type":"connect","data":{"server":"oauth","password":5}}"#,
            errors::INVALID_FORMAT,
        ),
        (
            r#"{"type":"connect","data":{"server":"oauth","discordToken":{}}}"#,
            errors::INVALID_FORMAT,
        ),
        (
            r#"{"type":"connect","data":{"server":"oauth","discordUser":"me"}}"#,
            errors::INVALID_FORMAT,
        ),
        (
            r#"{"type":"connect","data":{"server":"nowhere"}}"#,
            errors::NO_SUCH_SERVER,
        ),
    ];
    for (frame, message) in cases {
        c.send_text(frame).await;
        assert_eq!(c.recv_text().await, error_frame(message), "frame {frame:?}");
    }
    assert_eq!(
        c.join("dworld").await.to_string().len(),
        dworld_join("dworld").len()
    );
}

/// Binary frames are decoded as UTF-8 and handled as text; others get an error.
#[tokio::test]
async fn binary_frames() {
    let srv = start();
    let mut c = srv.client().await;
    c.send_binary(&[0xff, 0xfe, 0x00]).await;
    assert_eq!(c.recv_text().await, error_frame(errors::INVALID_BINARY));
    c.send_binary(br#"{"type":"connect","data":{"server":"dworld"}}"#)
        .await;
    assert_eq!(c.recv_text().await, dworld_join("dworld"));
}

/// The mock protected server: no credentials, malformed ones, then a login.
#[tokio::test]
async fn mock_protected_server() {
    let srv = start();
    let mut c = srv.client().await;
    assert_eq!(
        c.join("oauth").await,
        json!({"type":"error","data":{"message":errors::AUTH_REQUIRED}})
    );
    for (data, refusal) in [
        (
            json!({"server":"oauth","discordToken":"","discordUser":{"id":"1","username":"a"}}),
            errors::AUTH_REQUIRED,
        ),
        (
            json!({"server":"oauth","discordToken":"t","discordUser":{}}),
            errors::AUTH_REQUIRED,
        ),
        // A token and a user object, incomplete: the login failed (the
        // d-zone client logs out on this string).
        (
            json!({"server":"oauth","discordToken":"t","discordUser":{"id":"1"}}),
            errors::AUTH_FAILED,
        ),
        (
            json!({"server":"oauth","discordToken":"t"}),
            errors::AUTH_REQUIRED,
        ),
    ] {
        c.send_text(&json!({"type":"connect","data":data}).to_string())
            .await;
        assert_eq!(c.recv_text().await, error_frame(refusal), "{data}");
    }
    // A fresh session: the four malformed attempts above are throttled per session.
    let mut c = srv.client().await;
    c.send_text(
        &json!({"type":"connect","data":{"server":"oauth","discordToken":"tok","discordUser":{"id":"77","username":"me"}}})
            .to_string(),
    )
    .await;
    assert_eq!(
        c.recv_json().await,
        json!({"type":"server-join","data":{
            "users":{"300000000000000001":{"uid":"300000000000000001","username":"Gatekeeper","status":"online","roleColor":"#e67e22"}},
            "request":{"server":"oauth"},"serverName":"OAuth2 Protected Server","clientId":"1048576000000000000"}})
    );
}

/// A non-empty token with a non-empty user object that lacks `id` or
/// `username` is a failed login, whatever else; without both it is a
/// request to log in.
#[tokio::test]
async fn incomplete_discord_user_is_a_failed_login() {
    let srv = start_with(|b| {
        b.config(Config {
            auth_attempts: 100,
            ..quiet()
        })
        .on_get_server_data(|| async { Ok(protected_servers()) })
        .on_get_user_data(|_| async { Ok(Vec::<User>::new()) })
        .on_validate_discord_user(|_, _, _| async { Ok(true) })
    });
    let mut c = srv.client().await;
    for (data, refusal) in [
        (
            json!({"discordToken":"t","discordUser":{"id":"42"}}),
            errors::AUTH_FAILED,
        ),
        (
            json!({"discordToken":"t","discordUser":{"username":"u"}}),
            errors::AUTH_FAILED,
        ),
        (
            json!({"discordToken":"t","discordUser":{"id":"","username":"u"}}),
            errors::AUTH_FAILED,
        ),
        (
            json!({"discordToken":"t","discordUser":{"id":"42"},"password":"wrong"}),
            errors::AUTH_FAILED,
        ),
        (
            json!({"discordToken":"t","discordUser":{}}),
            errors::AUTH_REQUIRED,
        ),
        (
            json!({"discordToken":"","discordUser":{"id":"42"}}),
            errors::AUTH_REQUIRED,
        ),
        (
            json!({"discordUser":{"id":"42","username":"u"}}),
            errors::AUTH_REQUIRED,
        ),
    ] {
        let mut data = data;
        data["server"] = json!("locked");
        c.send_text(&json!({"type":"connect","data":data}).to_string())
            .await;
        assert_eq!(c.recv_text().await, error_frame(refusal), "{data}");
    }
}

fn protected_servers() -> Vec<ServerInfo> {
    vec![
        ServerInfo::new("1", "open", "Open").default_server(),
        ServerInfo::new("2", "locked", "Locked").with_password("s3cret"),
    ]
}

/// Real data: the validator decides; the password is never sent to clients.
#[tokio::test]
async fn validator_and_legacy_password() {
    let srv = start_with(|b| {
        b.config(quiet())
            .on_get_server_data(|| async { Ok(protected_servers()) })
            .on_get_user_data(|_| async { Ok(Vec::<User>::new()) })
            .on_validate_discord_user(|token, user, guild| async move {
                Ok(token == "good" && user.id == "42" && guild == "2")
            })
            .on_get_client_id(|guild| async move { Ok((guild == "2").then(|| "cid".to_string())) })
    });
    let mut c = srv.client_at("/").await;
    let list = c.recv_text().await;
    assert_eq!(
        list,
        r#"{"type":"server-list","data":{"1":{"id":"open","name":"Open","passworded":false,"default":true},"2":{"id":"locked","name":"Locked","passworded":true}}}"#
    );
    assert!(!list.contains("s3cret"));
    let connect = |data: serde_json::Value| json!({"type":"connect","data":data}).to_string();
    c.send_text(&connect(
        json!({"server":"locked","discordToken":"bad","discordUser":{"id":"42","username":"u"}}),
    ))
    .await;
    assert_eq!(c.recv_text().await, error_frame(errors::AUTH_FAILED));
    c.send_text(&connect(json!({"server":"locked","password":"wrong"})))
        .await;
    assert_eq!(c.recv_text().await, error_frame(errors::AUTH_REQUIRED));
    c.send_text(&connect(json!({"server":"locked","password":"s3cret"})))
        .await;
    assert_eq!(
        c.recv_text().await,
        r#"{"type":"server-join","data":{"users":{},"request":{"server":"locked","password":"s3cret"},"serverName":"Locked","clientId":"cid"}}"#
    );
    c.send_text(&connect(
        json!({"server":"locked","discordToken":"good","discordUser":{"id":"42","username":"u"}}),
    ))
    .await;
    assert_eq!(
        c.recv_text().await,
        r#"{"type":"server-join","data":{"users":{},"request":{"server":"locked"},"serverName":"Locked","clientId":"cid"}}"#
    );
}

/// Real data without a validator: Discord logins are refused (fail closed).
#[tokio::test]
async fn no_validator_fails_closed() {
    let srv = start_with(|b| {
        b.config(quiet())
            .on_get_server_data(|| async { Ok(protected_servers()) })
    });
    let mut c = srv.client().await;
    c.send_text(
        &json!({"type":"connect","data":{"server":"locked","discordToken":"any","discordUser":{"id":"1","username":"u"}}})
            .to_string(),
    )
    .await;
    assert_eq!(c.recv_text().await, error_frame(errors::AUTH_FAILED));
}

/// A refused session gets no users and no broadcasts of that server.
#[tokio::test]
async fn refused_session_gets_nothing() {
    let srv = start();
    let mut insider = srv.client().await;
    insider
        .send_text(r#"{"type":"connect","data":{"server":"oauth","discordToken":"t","discordUser":{"id":"1","username":"u"}}}"#)
        .await;
    assert_eq!(insider.recv_json().await["type"], "server-join");
    let mut outsider = srv.client().await;
    assert_eq!(outsider.join("oauth").await["type"], "error");
    srv.until("one joined", |h| h.joined_count() == 1).await;
    srv.handle
        .broadcast_message(OAUTH, "300000000000000001", "secret plans", "c");
    assert_eq!(insider.recv_json().await["data"]["message"], "secret plans");
    outsider.assert_silent(Duration::from_millis(300)).await;
}

/// Each broadcast type reaches only its guild, with its exact shape.
#[tokio::test]
async fn broadcasts_are_exact_and_isolated() {
    let srv = start();
    let mut a = srv.joined("dworld").await;
    let mut b = srv.joined("docs").await;
    let mut idle = srv.client().await; // never joined
    srv.until("two joined", |h| h.joined_count() == 2).await;
    let h = &srv.handle;

    h.broadcast_message(DWORLD, "u1", "hi \"there\"", "general");
    assert_eq!(
        a.recv_text().await,
        r#"{"type":"message","server":"232769614004748288","data":{"uid":"u1","message":"hi \"there\"","channel":"general"}}"#
    );
    h.broadcast_presence(Presence::new(DWORLD, "u1", Status::Dnd));
    assert_eq!(
        a.recv_text().await,
        r#"{"type":"presence","server":"232769614004748288","data":{"uid":"u1","status":"dnd"}}"#
    );
    h.broadcast_presence(
        Presence::new(DWORLD, "u2", Status::Offline)
            .username("Zed")
            .role_color(RoleColor::parse("#00FF00").unwrap())
            .delete(),
    );
    assert_eq!(
        a.recv_text().await,
        r##"{"type":"presence","server":"232769614004748288","data":{"uid":"u2","status":"offline","username":"Zed","roleColor":"#00ff00","delete":true}}"##
    );
    h.broadcast_client_id_update(DWORLD, "999");
    assert_eq!(
        a.recv_text().await,
        r#"{"type":"update-clientid","server":"232769614004748288","data":{"clientId":"999"}}"#
    );
    // Docs got none of the four; now one for docs reaches only docs.
    h.broadcast_message(DOCS, "d", "docs only", "c");
    assert_eq!(b.recv_json().await["data"]["message"], "docs only");
    a.assert_silent(Duration::from_millis(300)).await;
    b.assert_silent(Duration::from_millis(10)).await;
    idle.assert_silent(Duration::from_millis(10)).await;
    // A guild nobody watches: no hub, nothing happens.
    h.broadcast_message(REPOS, "r", "nobody", "c");
}

/// Re-joining switches servers: the old one's broadcasts stop.
#[tokio::test]
async fn rejoin_switches() {
    let srv = start();
    let mut c = srv.joined("dworld").await;
    let _ = c.join("docs").await;
    srv.until("hub of dworld gone", |h| h.hub_count() == 1)
        .await;
    srv.handle.broadcast_message(DWORLD, "u", "old", "c");
    srv.handle.broadcast_message(DOCS, "u", "new", "c");
    assert_eq!(c.recv_json().await["data"]["message"], "new");
    c.assert_silent(Duration::from_millis(200)).await;
    assert_eq!(srv.handle.joined_count(), 1);
}

/// Mock chat and presence arrive while joined on mock data, do not stack on
/// re-join, and stop on leave to an empty server and on close.
#[tokio::test]
async fn mock_traffic_arrives_and_stops() {
    let srv = start_with(|b| {
        b.config(Config {
            mock_chat_every: Duration::from_millis(100),
            mock_presence_every: Duration::from_millis(80),
            handle_signals: false,
            ..Config::default()
        })
        .on_get_server_data(|| async {
            Ok(json!({
                "232769614004748288": {"id": "dworld", "name": "D-World", "default": true},
                "1": {"id": "empty", "name": "Empty"}
            }))
        })
    });
    let mut c = srv.joined("dworld").await;
    // Re-join twice: timers must not stack.
    let _ = c.join("dworld").await;
    let mut seen = (0, 0);
    let start = std::time::Instant::now();
    let mut window_frames = 0;
    while start.elapsed() < Duration::from_millis(1000) {
        let f = c.recv_json().await;
        match f["type"].as_str().unwrap() {
            "message" => {
                seen.0 += 1;
                assert_eq!(f["server"], DWORLD);
                assert_eq!(f["data"]["channel"], "527964146659229701");
            }
            "presence" => {
                seen.1 += 1;
                assert!(["online", "idle", "dnd", "offline"]
                    .contains(&f["data"]["status"].as_str().unwrap()));
                assert!(f["data"]["username"].is_string());
            }
            "server-join" => {}
            other => panic!("unexpected {other}"),
        }
        window_frames += 1;
    }
    assert!(seen.0 >= 5 && seen.1 >= 5, "{seen:?}");
    // 1 s at 10/s + 12.5/s is ~22 frames; stacked timers would double it.
    assert!(
        window_frames <= 30,
        "timers stacked: {window_frames} frames in 1 s"
    );
    // An empty server: no traffic at all.
    let j = c.join("empty").await;
    // Frames already queued before the switch may still arrive; skip to the join.
    let mut j = j;
    while j["type"] != "server-join" {
        j = c.recv_json().await;
    }
    c.assert_silent(Duration::from_millis(400)).await;
}

/// Mock traffic stops when the session closes: chat and presence frames
/// flow every 50 ms until the client's Close; the server's Close answers
/// it, and not one frame follows that Close though several mock frames
/// fall due meanwhile (the bytes are read raw, so nothing after the Close
/// is hidden by a client library); then the session and its hub are gone.
#[tokio::test]
async fn mock_traffic_stops_on_close() {
    use common::deflate::DeflateWs;
    const EVERY: Duration = Duration::from_millis(50);
    let srv = start_with(|b| {
        b.config(Config {
            mock_chat_every: EVERY,
            mock_presence_every: EVERY,
            handle_signals: false,
            ..Config::default()
        })
    });
    let mut ws = DeflateWs::connect(srv.addr, "/ws", None).await;
    let text = |f: &common::deflate::Frame| -> serde_json::Value {
        assert_eq!(f.opcode, 1, "{f:?}");
        serde_json::from_slice(&f.payload).unwrap()
    };
    let list = ws.next_frame().await.expect("server-list");
    assert_eq!(text(&list)["type"], "server-list");
    ws.send_message(1, br#"{"type":"connect","data":{"server":"dworld"}}"#)
        .await;
    let join = ws.next_frame().await.expect("server-join");
    assert_eq!(text(&join)["type"], "server-join");
    // The traffic flows: two mock frames (chat or presence) arrive.
    for _ in 0..2 {
        let frame = ws.next_frame().await.expect("mock traffic");
        let kind = text(&frame)["type"].as_str().unwrap().to_string();
        assert!(kind == "message" || kind == "presence", "{kind}");
    }
    ws.send_close(Some(1000)).await;
    // Several mock frames fall due before the rest is read.
    tokio::time::sleep(EVERY * 6).await;
    // Frames written before the server read our Close may come first.
    let close = loop {
        let frame = ws.next_frame().await.expect("the server's Close");
        if frame.opcode == 8 {
            break frame;
        }
        let kind = text(&frame)["type"].as_str().unwrap().to_string();
        assert!(kind == "message" || kind == "presence", "{kind}");
    };
    assert_eq!(close.payload[..2], 1000u16.to_be_bytes());
    let after = ws.next_frame().await;
    assert_eq!(after, None, "a frame after the server's Close");
    srv.until("session and hub gone", |h| {
        h.connection_count() == 0 && h.hub_count() == 0
    })
    .await;
}

/// Refusals that check no secret cost no attempt: 20 logins without a
/// username and 20 passwords sent to a Discord-only server from one
/// address each get their own answer, and a real failed login is still
/// throttled at the configured limit afterwards.
#[tokio::test]
async fn only_secret_checks_are_throttled() {
    let srv = start_with(|b| {
        b.config(Config {
            auth_attempts: 3,
            ..quiet()
        })
        .on_get_server_data(|| async {
            Ok(vec![
                ServerInfo::new("1", "open", "Open").default_server(),
                ServerInfo::new("2", "locked", "Locked").with_password("s3cret"),
                ServerInfo::new("3", "discord", "Discord only").protected(),
            ])
        })
        .on_get_user_data(|_| async { Ok(Vec::<User>::new()) })
        .on_validate_discord_user(|_, _, _| async { Ok(false) })
    });
    let mut c = srv.client().await;
    let connect = |data: serde_json::Value| json!({"type":"connect","data":data}).to_string();
    for _ in 0..20 {
        c.send_text(&connect(
            json!({"server":"locked","discordToken":"t","discordUser":{"id":"42"}}),
        ))
        .await;
        assert_eq!(c.recv_text().await, error_frame(errors::AUTH_FAILED));
        c.send_text(&connect(json!({"server":"discord","password":"guess"})))
            .await;
        assert_eq!(c.recv_text().await, error_frame(errors::AUTH_REQUIRED));
    }
    for _ in 0..3 {
        c.send_text(&connect(json!({"server":"locked","password":"wrong"})))
            .await;
        assert_eq!(c.recv_text().await, error_frame(errors::AUTH_REQUIRED));
    }
    c.send_text(&connect(json!({"server":"locked","password":"wrong"})))
        .await;
    assert_eq!(c.recv_text().await, error_frame(errors::AUTH_THROTTLED));
    c.send_text(&connect(
        json!({"server":"discord","discordToken":"t","discordUser":{"id":"42","username":"u"}}),
    ))
    .await;
    assert_eq!(c.recv_text().await, error_frame(errors::AUTH_THROTTLED));
}

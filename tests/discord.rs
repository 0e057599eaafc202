//! The built-in Discord bot against the fake Discord
//! (`tests/common/fake_discord/`, the shared guilds in its `fixtures.rs`):
//! real WebSockets both sides, exact frames at a real d-zone client.

mod common;

use std::time::Duration;

use common::fake_discord::fixtures::*;
use common::fake_discord::*;
use common::*;
use d_back::discord::{Discord, DiscordConfig, ServerConfig};
use d_back::ServerInfo;
use serde_json::{json, Value};

fn config(fake: &FakeDiscord) -> DiscordConfig {
    DiscordConfig {
        rest_timeout: Duration::from_millis(500),
        // The fake does not pace identifies unless asked; a fresh session
        // need not wait Discord's 5 s.
        identify_interval: Duration::from_millis(100),
        ..fake.bot_config()
    }
}

/// d-back with the built-in bot, started once the bot knows `guilds` guilds.
async fn start_bot(_fake: &FakeDiscord, cfg: DiscordConfig, guilds: usize) -> TestServer {
    let srv = start_with(move |b| {
        b.config(quiet())
            .discord(Discord::new(cfg).expect("valid config"))
    });
    wait_for_servers(&srv, guilds).await;
    srv
}

async fn server_list(srv: &TestServer) -> Value {
    let mut c = srv.client_at("/ws").await;
    let list = c.recv_json().await;
    assert_eq!(list["type"], "server-list");
    list["data"].clone()
}

async fn wait_for_servers(srv: &TestServer, n: usize) {
    let start = std::time::Instant::now();
    loop {
        let list = server_list(srv).await;
        if list.as_object().map_or(0, |m| m.len()) == n {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "server list never had {n}: {list}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn user(uid: &str, name: &str, status: &str, color: &str) -> Value {
    json!({"uid": uid, "username": name, "status": status, "roleColor": color})
}

/// Joins `id` and returns the server-join's data.
async fn join_users(srv: &TestServer, id: &str) -> (Client, Value) {
    let mut c = srv.client().await;
    let j = c.join(id).await;
    assert_eq!(j["type"], "server-join", "{j}");
    (c, j["data"].clone())
}

/// Without configured servers, every guild is listed (by snowflake), the
/// short id comes from the name, and exactly the first is the default.
#[tokio::test]
async fn every_guild_is_listed_with_derived_ids() {
    let fake = FakeDiscord::start(vec![harbour(), island()]);
    let srv = start_bot(&fake, config(&fake), 2).await;
    let mut c = srv.client_at("/").await;
    assert_eq!(
        c.recv_text().await,
        json!({"type": "server-list", "data": {
            G1: {"id": "island-life", "name": "Island Life", "passworded": false, "default": true},
            G2: {"id": "harbour", "name": "Harbour", "passworded": false}
        }})
        .to_string()
    );
    // The bot identified with the three privileged intents and the others it needs.
    let identify = &fake.identifies()[0];
    let intents = identify["intents"].as_u64().unwrap();
    assert_eq!(
        intents & (INTENT_MEMBERS | INTENT_PRESENCES | INTENT_MESSAGE_CONTENT),
        INTENT_MEMBERS | INTENT_PRESENCES | INTENT_MESSAGE_CONTENT
    );
    assert_eq!(intents & 1, 1, "GUILDS");
    assert_eq!(intents & (1 << 9), 1 << 9, "GUILD_MESSAGES");
}

/// Configured servers: config order, alias as name and short id source,
/// the configured default, password and protected make `passworded`,
/// and an id the bot is not in is skipped.
#[tokio::test]
async fn configured_servers_in_order_with_alias_and_default() {
    let fake = FakeDiscord::start(vec![island(), harbour()]);
    let mut cfg = config(&fake);
    cfg.servers = vec![
        ServerConfig {
            alias: Some("The Harbour".into()),
            protected: true,
            ..ServerConfig::new(G2)
        },
        ServerConfig::new("999999999999999999"),
        ServerConfig {
            default: true,
            password: Some("pw".into()),
            ..ServerConfig::new(G1)
        },
    ];
    let srv = start_bot(&fake, cfg, 2).await;
    let mut c = srv.client_at("/").await;
    assert_eq!(
        c.recv_text().await,
        json!({"type": "server-list", "data": {
            G2: {"id": "the-harbour", "name": "The Harbour", "passworded": true},
            G1: {"id": "island-life", "name": "Island Life", "passworded": true, "default": true}
        }})
        .to_string()
    );
    // The legacy password still opens it and is echoed as the protocol says.
    c.send_text(r#"{"type":"connect","data":{"server":"default","password":"pw"}}"#)
        .await;
    let j = c.recv_json().await;
    assert_eq!(j["type"], "server-join");
    assert_eq!(
        j["data"]["request"],
        json!({"server": "default", "password": "pw"})
    );
    assert_eq!(j["data"]["serverName"], "Island Life");
}

/// Users: presence (offline when none), display name (nick, global name,
/// username), the highest coloured role, and the client id (the bot's
/// application id when none is configured).
#[tokio::test]
async fn users_have_names_presence_and_colours() {
    let fake = FakeDiscord::start(vec![island()]);
    let srv = start_bot(&fake, config(&fake), 1).await;
    let mut c = srv.client().await;
    c.send_text(r#"{"type":"connect","data":{"server":"island-life"}}"#)
        .await;
    assert_eq!(
        c.recv_text().await,
        json!({"type": "server-join", "data": {
            "users": {
                ALICE: user(ALICE, "Alice A", "online", "#ff0000"),
                BOB: user(BOB, "bob", "idle", "#0000ff"),
                CAROL: user(CAROL, "Caz", "offline", "#ffffff"),
            },
            "request": {"server": "island-life"},
            "serverName": "Island Life",
            "clientId": APP_ID
        }})
        .to_string()
    );
}

/// Chat: clean text (mentions, roles, channels, custom emoji), the channel
/// id, only to viewers of that guild; the bot's own messages are not shown.
#[tokio::test]
async fn chat_is_cleaned_and_routed() {
    let fake = FakeDiscord::start(vec![island(), harbour()]);
    let srv = start_bot(&fake, config(&fake), 2).await;
    let (mut c, _) = join_users(&srv, "island-life").await;
    let (mut other, _) = join_users(&srv, "harbour").await;
    srv.until("two joined", |h| h.joined_count() == 2).await;
    fake.dispatch(
        "MESSAGE_CREATE",
        message(G1, GENERAL, BOT_ID, "dzone-bot", "I am the bot"),
    );
    let text = format!(
        "hi <@{BOB}> and <@!{CAROL}>, <@&{RED}> see <#{RANDOM}> <:party:123456> <a:wave:42> <b>"
    );
    fake.dispatch(
        "MESSAGE_CREATE",
        message(G1, GENERAL, ALICE, "alice", &text),
    );
    assert_eq!(
        c.recv_text().await,
        json!({"type": "message", "server": G1, "data": {
            "uid": ALICE, "message": "hi @bob and @Caz, @Red see #random :party: :wave: <b>", "channel": GENERAL
        }})
        .to_string()
    );
    let mut attach = message(G1, RANDOM, BOB, "bob", "");
    attach["attachments"] =
        json!([{"id": "1", "filename": "cat.png", "size": 1, "url": "u", "proxy_url": "p"}]);
    fake.dispatch("MESSAGE_CREATE", attach);
    assert_eq!(
        c.recv_json().await,
        json!({"type": "message", "server": G1, "data": {"uid": BOB, "message": "[attachment]", "channel": RANDOM}})
    );
    other.assert_silent(Duration::from_millis(200)).await;
}

/// Presence: status changes, a member joining (with name and colour),
/// leaving (delete), and nickname and role changes (new name and colour).
#[tokio::test]
async fn presence_join_leave_rename_and_role_colour() {
    let fake = FakeDiscord::start(vec![island()]);
    let srv = start_bot(&fake, config(&fake), 1).await;
    let (mut c, _) = join_users(&srv, "island-life").await;
    srv.until("joined", |h| h.joined_count() == 1).await;
    fake.dispatch("PRESENCE_UPDATE", presence(ALICE, G1, "dnd"));
    assert_eq!(
        c.recv_json().await,
        json!({"type": "presence", "server": G1, "data": {"uid": ALICE, "status": "dnd"}})
    );
    let dave = "444444444444444404";
    let mut add = member(dave, "dave", None, None, &[BLUE]);
    add["guild_id"] = json!(G1);
    fake.dispatch("GUILD_MEMBER_ADD", add);
    assert_eq!(
        c.recv_json().await,
        json!({"type": "presence", "server": G1, "data": {"uid": dave, "status": "offline", "username": "dave", "roleColor": "#0000ff"}})
    );
    let mut upd = member(ALICE, "alice", Some("Alice A"), Some("Ally"), &[RED]);
    upd["guild_id"] = json!(G1);
    fake.dispatch("GUILD_MEMBER_UPDATE", upd);
    assert_eq!(
        c.recv_json().await,
        json!({"type": "presence", "server": G1, "data": {"uid": ALICE, "status": "dnd", "username": "Ally", "roleColor": "#ff0000"}})
    );
    fake.dispatch(
        "GUILD_ROLE_UPDATE",
        json!({"guild_id": G1, "role": role(RED, "Red", 0x00ff00, 1)}),
    );
    assert_eq!(
        c.recv_json().await,
        json!({"type": "presence", "server": G1, "data": {"uid": ALICE, "status": "dnd", "username": "Ally", "roleColor": "#00ff00"}})
    );
    fake.dispatch(
        "GUILD_MEMBER_REMOVE",
        json!({"guild_id": G1, "user": {"id": BOB, "username": "bob"}}),
    );
    assert_eq!(
        c.recv_json().await,
        json!({"type": "presence", "server": G1, "data": {"uid": BOB, "status": "offline", "delete": true}})
    );
    // A new viewer sees the same state the broadcasts built.
    let (_, data) = join_users(&srv, "island-life").await;
    assert_eq!(
        data["users"],
        json!({
            ALICE: user(ALICE, "Ally", "dnd", "#00ff00"),
            CAROL: user(CAROL, "Caz", "offline", "#ffffff"),
            dave: user(dave, "dave", "offline", "#0000ff"),
        })
    );
}

fn login(server: &str, token: &str, uid: &str) -> String {
    json!({"type": "connect", "data": {"server": server, "discordToken": token,
        "discordUser": {"id": uid, "username": "someone"}}})
    .to_string()
}

async fn protected_bot(fake: &FakeDiscord) -> TestServer {
    let mut cfg = config(fake);
    cfg.servers = vec![ServerConfig {
        protected: true,
        ..ServerConfig::new(G1)
    }];
    start_bot(fake, cfg, 1).await
}

/// The validator accepts a token issued to our client id for the claimed
/// user who is a member; refuses another app's token, another user's, a
/// non-member's, and an unknown (401) token.
#[tokio::test]
async fn validator_accepts_and_refuses() {
    let fake = FakeDiscord::start(vec![island()]);
    fake.add_token("good", valid_token(ALICE, &[G1]));
    fake.add_token(
        "other-app",
        Token::Valid {
            app: "1".into(),
            user: ALICE.into(),
            expires: "2999-01-01T00:00:00+00:00".into(),
            guilds: vec![],
        },
    );
    fake.add_token("stranger", valid_token("444444444444444499", &[]));
    fake.add_token(
        "expired",
        Token::Valid {
            app: APP_ID.into(),
            user: ALICE.into(),
            expires: "2001-01-01T00:00:00+00:00".into(),
            guilds: vec![],
        },
    );
    let srv = protected_bot(&fake).await;
    let mut c = srv.client().await;
    c.send_text(&login("island-life", "good", ALICE)).await;
    let j = c.recv_json().await;
    assert_eq!(j["type"], "server-join", "{j}");
    assert_eq!(j["data"]["clientId"], APP_ID);
    for (token, uid) in [
        ("other-app", ALICE),
        ("good", BOB),
        ("stranger", "444444444444444499"),
        ("junk", ALICE),
        ("expired", ALICE),
    ] {
        let mut c = srv.client().await;
        c.send_text(&login("island-life", token, uid)).await;
        assert_eq!(
            c.recv_text().await,
            error_frame(d_back::errors::AUTH_FAILED),
            "{token}"
        );
    }
}

/// A 429 refuses and pauses every question to Discord for retry_after; a
/// hanging Discord times out into a refusal; refusals are cached.
#[tokio::test]
async fn validator_obeys_429_timeout_and_caches() {
    let fake = FakeDiscord::start(vec![island()]);
    fake.add_token("limited", Token::RateLimited(1.0));
    fake.add_token("good", valid_token(ALICE, &[G1]));
    fake.add_token("hang", Token::Hang);
    let srv = protected_bot(&fake).await;
    let failed = error_frame(d_back::errors::AUTH_FAILED);
    let mut c = srv.client().await;
    c.send_text(&login("island-life", "limited", ALICE)).await;
    assert_eq!(c.recv_text().await, failed);
    let asked = fake.rest_count("/oauth2/@me");
    assert_eq!(asked, 1);
    // Paused: a good token is refused without asking Discord.
    c.send_text(&login("island-life", "good", ALICE)).await;
    assert_eq!(c.recv_text().await, failed);
    assert_eq!(fake.rest_count("/oauth2/@me"), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut c2 = srv.client().await;
    c2.send_text(&login("island-life", "good", ALICE)).await;
    assert_eq!(c2.recv_json().await["type"], "server-join");
    // Timeout.
    let mut c3 = srv.client().await;
    let started = std::time::Instant::now();
    c3.send_text(&login("island-life", "hang", ALICE)).await;
    assert_eq!(c3.recv_text().await, failed);
    assert!(started.elapsed() < Duration::from_secs(3));
    // A refused verdict is remembered: the second ask does not reach Discord.
    let mut c4 = srv.client().await;
    c4.send_text(&login("island-life", "good", BOB)).await;
    assert_eq!(c4.recv_text().await, failed);
    let n = fake.rest_count("/oauth2/@me");
    let mut c5 = srv.client().await;
    c5.send_text(&login("island-life", "good", BOB)).await;
    assert_eq!(c5.recv_text().await, failed);
    assert_eq!(fake.rest_count("/oauth2/@me"), n);
}

/// d-zone's filters: ignoreChannels, listenChannels (by name or id),
/// ignoreUsers (left out of users and chat), hideOffline (offline members
/// hidden, their chat dropped, offline is a delete, online brings name and colour).
#[tokio::test]
async fn dzone_filters() {
    let fake = FakeDiscord::start(vec![island()]);
    let mut cfg = config(&fake);
    cfg.servers = vec![ServerConfig {
        ignore_channels: vec!["random".into()],
        ignore_users: vec![BOB.into()],
        hide_offline: Some(true),
        ..ServerConfig::new(G1)
    }];
    let srv = start_bot(&fake, cfg, 1).await;
    let (mut c, data) = join_users(&srv, "island-life").await;
    assert_eq!(
        data["users"],
        json!({ALICE: user(ALICE, "Alice A", "online", "#ff0000")})
    );
    srv.until("joined", |h| h.joined_count() == 1).await;
    fake.dispatch(
        "MESSAGE_CREATE",
        message(G1, RANDOM, ALICE, "alice", "ignored channel"),
    );
    fake.dispatch(
        "MESSAGE_CREATE",
        message(G1, GENERAL, BOB, "bob", "ignored user"),
    );
    fake.dispatch(
        "MESSAGE_CREATE",
        message(G1, GENERAL, CAROL, "carol", "offline"),
    );
    fake.dispatch("PRESENCE_UPDATE", presence(BOB, G1, "online"));
    fake.dispatch(
        "MESSAGE_CREATE",
        message(G1, GENERAL, ALICE, "alice", "shown"),
    );
    assert_eq!(
        c.recv_json().await,
        json!({"type": "message", "server": G1, "data": {"uid": ALICE, "message": "shown", "channel": GENERAL}})
    );
    fake.dispatch("PRESENCE_UPDATE", presence(ALICE, G1, "offline"));
    assert_eq!(
        c.recv_json().await,
        json!({"type": "presence", "server": G1, "data": {"uid": ALICE, "status": "offline", "delete": true}})
    );
    fake.dispatch("PRESENCE_UPDATE", presence(CAROL, G1, "idle"));
    assert_eq!(
        c.recv_json().await,
        json!({"type": "presence", "server": G1, "data": {"uid": CAROL, "status": "idle", "username": "Caz", "roleColor": "#ffffff"}})
    );
    c.assert_silent(Duration::from_millis(200)).await;

    // listenChannels by id: only that channel.
    let fake = FakeDiscord::start(vec![island()]);
    let mut cfg = config(&fake);
    cfg.servers = vec![ServerConfig {
        listen_channels: vec![RANDOM.into()],
        ..ServerConfig::new(G1)
    }];
    let srv = start_bot(&fake, cfg, 1).await;
    let (mut c, _) = join_users(&srv, "island-life").await;
    srv.until("joined", |h| h.joined_count() == 1).await;
    fake.dispatch(
        "MESSAGE_CREATE",
        message(G1, GENERAL, ALICE, "alice", "not listened"),
    );
    fake.dispatch(
        "MESSAGE_CREATE",
        message(G1, RANDOM, ALICE, "alice", "listened"),
    );
    assert_eq!(c.recv_json().await["data"]["message"], "listened");
    c.assert_silent(Duration::from_millis(200)).await;
}

/// A dropped gateway connection resumes; events sent meanwhile are replayed
/// and reach viewers, who kept their sessions.
#[tokio::test]
async fn resume_replays_missed_presences() {
    let fake = FakeDiscord::start(vec![island()]);
    let srv = start_bot(&fake, config(&fake), 1).await;
    let (mut c, _) = join_users(&srv, "island-life").await;
    srv.until("joined", |h| h.joined_count() == 1).await;
    fake.drop_connection();
    fake.dispatch("PRESENCE_UPDATE", presence(CAROL, G1, "online"));
    assert_eq!(
        c.recv_json().await,
        json!({"type": "presence", "server": G1, "data": {"uid": CAROL, "status": "online"}})
    );
    assert_eq!(fake.resumes(), 1);
    assert_eq!(fake.identifies().len(), 1);
}

/// A session Discord forgot (INVALID_SESSION false) identifies afresh; the
/// new GUILD_CREATE is diffed against what viewers saw.
#[tokio::test]
async fn fresh_session_catches_up() {
    let fake = FakeDiscord::start(vec![island()]);
    let srv = start_bot(&fake, config(&fake), 1).await;
    let (mut c, _) = join_users(&srv, "island-life").await;
    srv.until("joined", |h| h.joined_count() == 1).await;
    let changed = FakeGuild::new(G1, "Island Life")
        .role(RED, "Red", 0xff0000, 1)
        .channel(GENERAL, "general")
        .member(member(ALICE, "alice", Some("Alice A"), None, &[RED]))
        .member(member(CAROL, "carol", Some("Carol G"), Some("Caz"), &[]))
        .presence(ALICE, "idle");
    fake.set_guild(changed);
    fake.invalidate_session(false);
    let mut got = Vec::new();
    for _ in 0..2 {
        got.push(
            tokio::time::timeout(Duration::from_secs(15), c.recv_json())
                .await
                .unwrap(),
        );
    }
    got.sort_by_key(|v| v["data"]["uid"].as_str().unwrap().to_string());
    assert_eq!(
        got,
        vec![
            json!({"type": "presence", "server": G1, "data": {"uid": ALICE, "status": "idle"}}),
            json!({"type": "presence", "server": G1, "data": {"uid": BOB, "status": "offline", "delete": true}}),
        ]
    );
    assert_eq!(fake.identifies().len(), 2);
}

/// The info command answers url?s=<id> once per cooldown per channel.
#[tokio::test]
async fn info_command_replies_with_cooldown() {
    let fake = FakeDiscord::start(vec![island()]);
    let mut cfg = config(&fake);
    cfg.info_command = Some("!dzone".into());
    cfg.url = Some("http://example.test/".into());
    let srv = start_bot(&fake, cfg, 1).await;
    let activity = &fake.identifies()[0]["presence"]["activities"][0];
    assert_eq!(activity["name"], "!dzone");
    fake.dispatch(
        "MESSAGE_CREATE",
        message(G1, GENERAL, ALICE, "alice", "!dzone"),
    );
    fake.dispatch(
        "MESSAGE_CREATE",
        message(G1, GENERAL, ALICE, "alice", "!dzone"),
    );
    fake.until("reply", Duration::from_secs(5), |f| !f.posted().is_empty())
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let posted = fake.posted();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0].0, GENERAL);
    assert_eq!(posted[0].1["content"], "http://example.test/?s=island-life");
    drop(srv);
}

/// A guild that goes unavailable leaves the server list.
#[tokio::test]
async fn unavailable_guild_leaves_the_list() {
    let fake = FakeDiscord::start(vec![island(), harbour()]);
    let srv = start_bot(&fake, config(&fake), 2).await;
    fake.dispatch("GUILD_DELETE", json!({"id": G2, "unavailable": true}));
    wait_for_servers(&srv, 1).await;
    assert!(server_list(&srv).await.get(G2).is_none());
}

fn bin_with(fake: &FakeDiscord, token: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_d-back"))
        .args(["--host", "127.0.0.1", "--port", "0"])
        .env("DISCORD_TOKEN", token)
        .env("D_BACK_DISCORD_GATEWAY_URL", fake.gateway_url())
        .env("D_BACK_DISCORD_API_URL", fake.api_url())
        .env("RUST_LOG", "off")
        .output()
        .unwrap()
}

/// Close 4004 (wrong token) and 4014 (intents): the binary exits non-zero
/// with one sentence naming the fix, and never prints the token.
#[tokio::test]
async fn fatal_close_codes_exit_with_a_sentence() {
    let fake = FakeDiscord::start(vec![island()]);
    let out = bin_with(&fake, "wrong-secret-token");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("4004") && err.contains("DISCORD_TOKEN"),
        "{err}"
    );
    assert!(!err.contains("wrong-secret-token"));
    let fake = FakeDiscord::start(vec![island()]);
    fake.deny(1 << 12, INTENT_PRESENCES);
    let err = one_line_failure(bin_with(&fake, BOT_TOKEN));
    for intent in ["Server Members", "Presence", "Message Content"] {
        assert!(err.contains(intent), "{err}");
    }
}

/// Without the Message Content intent the bot connects without asking for it.
#[tokio::test]
async fn missing_message_content_is_not_fatal() {
    let fake = FakeDiscord::start(vec![island()]);
    fake.deny(1 << 18, INTENT_MESSAGE_CONTENT);
    let _srv = start_bot(&fake, config(&fake), 1).await;
    let intents = fake.identifies()[0]["intents"].as_u64().unwrap();
    assert_eq!(intents & INTENT_MESSAGE_CONTENT, 0);
}

/// d-zone's own discord-config.json works as it is, via --config.
#[tokio::test]
async fn dzone_json_config_file() {
    let fake = FakeDiscord::start(vec![island(), harbour()]);
    let path = std::env::temp_dir().join(format!("d-back-dzone-{}.json", std::process::id()));
    std::fs::write(&path, json!({"servers": [{"id": G2, "alias": "Port", "default": true, "hideOffline": true}], "infoCommand": "!dzone", "url": "http://x/"}).to_string()).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_d-back"))
        .args(["--host", "127.0.0.1", "--port", "0", "--config"])
        .arg(&path)
        .env("DISCORD_TOKEN", BOT_TOKEN)
        .env("D_BACK_DISCORD_GATEWAY_URL", fake.gateway_url())
        .env("D_BACK_DISCORD_API_URL", fake.api_url())
        .env("RUST_LOG", "off")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let addr: std::net::SocketAddr = line
        .trim()
        .strip_prefix("d-back listening on http://")
        .unwrap()
        .parse()
        .unwrap();
    let start = std::time::Instant::now();
    let list = loop {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
            .await
            .unwrap();
        let mut c = Client::plain(ws);
        let list = c.recv_json().await;
        if !list["data"].as_object().unwrap().is_empty() {
            break list;
        }
        assert!(start.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(
        list,
        json!({"type": "server-list", "data": {G2: {"id": "port", "name": "Port", "passworded": false, "default": true}}})
    );
}

/// A large guild (offline members left out of GUILD_CREATE): the bot asks
/// for the member list and viewers get every member.
#[tokio::test]
async fn large_guild_requests_members() {
    let mut g = FakeGuild::new(G1, "Big").channel(GENERAL, "general");
    for i in 0..1500u64 {
        let uid = format!("{}", 600000000000000000u64 + i);
        g = g.member(member(&uid, &format!("m{i}"), None, None, &[]));
    }
    g = g.presence("600000000000000000", "online");
    let fake = FakeDiscord::start(vec![g]);
    let srv = start_bot(&fake, config(&fake), 1).await;
    fake.until("a member request", Duration::from_secs(5), |f| {
        f.gateway_commands()
            .iter()
            .any(|c| c["op"] == 8 && c["d"]["guild_id"] == G1)
    })
    .await;
    let start = std::time::Instant::now();
    loop {
        let (_, data) = join_users(&srv, "big").await;
        let n = data["users"].as_object().unwrap().len();
        if n == 1500 {
            assert_eq!(data["users"]["600000000000000000"]["status"], "online");
            assert_eq!(data["users"]["600000000000000001"]["status"], "offline");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "only {n} members");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// RECONNECT (op 7): the bot reconnects and resumes the same session; a
/// presence sent while it does reaches viewers already joined, once, and
/// later events keep coming, without a reload.
#[tokio::test]
async fn reconnect_request_resumes_and_delivers_presences() {
    let fake = FakeDiscord::start(vec![island()]);
    let srv = start_bot(&fake, config(&fake), 1).await;
    let (mut c, _) = join_users(&srv, "island-life").await;
    srv.until("joined", |h| h.joined_count() == 1).await;
    fake.request_reconnect();
    // Sent behind the RECONNECT: the old connection is closing, so it is
    // delivered on resume (replayed) or before the close, never twice.
    fake.dispatch("PRESENCE_UPDATE", presence(CAROL, G1, "online"));
    assert_eq!(
        c.recv_text().await,
        json!({"type": "presence", "server": G1, "data": {"uid": CAROL, "status": "online"}})
            .to_string()
    );
    fake.until("a resume", Duration::from_secs(10), |f| f.resumes() == 1)
        .await;
    assert_eq!(fake.connections(), 2);
    assert_eq!(fake.identifies().len(), 1, "resumed, not identified afresh");
    fake.dispatch("PRESENCE_UPDATE", presence(BOB, G1, "dnd"));
    assert_eq!(
        c.recv_text().await,
        json!({"type": "presence", "server": G1, "data": {"uid": BOB, "status": "dnd"}})
            .to_string()
    );
    c.assert_silent(Duration::from_millis(200)).await;
    assert_eq!(srv.handle.joined_count(), 1);
}

/// GUILD_DELETE (the bot removed): the server leaves the list for new
/// viewers; viewers still joined see each of its members leave (a delete
/// presence each) and then nothing of it; viewers of other servers are
/// untouched. If it comes back, its viewers get every member anew.
#[tokio::test]
async fn removed_guild_empties_for_its_viewers_and_can_return() {
    let fake = FakeDiscord::start(vec![island(), harbour()]);
    let srv = start_bot(&fake, config(&fake), 2).await;
    let (mut port, _) = join_users(&srv, "harbour").await;
    let (mut isle, _) = join_users(&srv, "island-life").await;
    srv.until("two joined", |h| h.joined_count() == 2).await;
    fake.dispatch("GUILD_DELETE", json!({"id": G2}));
    assert_eq!(
        port.recv_text().await,
        json!({"type": "presence", "server": G2, "data": {"uid": ALICE, "status": "offline", "delete": true}})
            .to_string()
    );
    assert_eq!(
        server_list(&srv).await,
        json!({G1: {"id": "island-life", "name": "Island Life", "passworded": false, "default": true}})
    );
    let mut late = srv.client().await;
    late.send_text(r#"{"type":"connect","data":{"server":"harbour"}}"#)
        .await;
    assert_eq!(
        late.recv_text().await,
        error_frame(d_back::errors::NO_SUCH_SERVER)
    );
    // Its events no longer reach anyone; the other guild's still do.
    fake.dispatch("PRESENCE_UPDATE", presence(ALICE, G2, "online"));
    fake.dispatch(
        "MESSAGE_CREATE",
        message(G2, "333333333333333399", ALICE, "alice", "gone"),
    );
    fake.dispatch("PRESENCE_UPDATE", presence(BOB, G1, "online"));
    assert_eq!(
        isle.recv_json().await,
        json!({"type": "presence", "server": G1, "data": {"uid": BOB, "status": "online"}})
    );
    port.assert_silent(Duration::from_millis(200)).await;
    // Invited back: listed again, and its viewers see its members return.
    fake.dispatch("GUILD_CREATE", guild_create(&harbour()));
    assert_eq!(
        port.recv_text().await,
        json!({"type": "presence", "server": G2, "data": {"uid": ALICE, "status": "dnd", "username": "alice", "roleColor": "#ffffff"}})
            .to_string()
    );
    wait_for_servers(&srv, 2).await;
}

/// `ignoreUsers` by name (username, global name or nickname, not only the
/// id), `listenChannels` by channel name (with or without `#`) and
/// `ignoreChannels` by id.
#[tokio::test]
async fn filters_by_user_and_channel_name() {
    const OFFTOPIC: &str = "333333333333333303";
    let fake = FakeDiscord::start(vec![island().channel(OFFTOPIC, "off-topic")]);
    let mut cfg = config(&fake);
    cfg.servers = vec![ServerConfig {
        // Alice's username (she is drawn as "Alice A"), Carol's nickname.
        ignore_users: vec!["alice".into(), "Caz".into()],
        listen_channels: vec!["#general".into(), "random".into()],
        ignore_channels: vec![RANDOM.into()],
        ..ServerConfig::new(G1)
    }];
    let srv = start_bot(&fake, cfg, 1).await;
    let (mut c, data) = join_users(&srv, "island-life").await;
    assert_eq!(
        data["users"],
        json!({BOB: user(BOB, "bob", "idle", "#0000ff")})
    );
    srv.until("joined", |h| h.joined_count() == 1).await;
    for (channel, author, name, text) in [
        (GENERAL, ALICE, "alice", "ignored by username"),
        (GENERAL, CAROL, "carol", "ignored by nickname"),
        (RANDOM, BOB, "bob", "listened by name but ignored by id"),
        (OFFTOPIC, BOB, "bob", "not listened"),
    ] {
        fake.dispatch("MESSAGE_CREATE", message(G1, channel, author, name, text));
    }
    fake.dispatch("PRESENCE_UPDATE", presence(ALICE, G1, "dnd"));
    fake.dispatch("PRESENCE_UPDATE", presence(CAROL, G1, "online"));
    fake.dispatch("MESSAGE_CREATE", message(G1, GENERAL, BOB, "bob", "shown"));
    assert_eq!(
        c.recv_text().await,
        json!({"type": "message", "server": G1, "data": {"uid": BOB, "message": "shown", "channel": GENERAL}})
            .to_string()
    );
    c.assert_silent(Duration::from_millis(200)).await;
}

/// `update-clientid`: with no client id configured, the OAuth client id is
/// the bot's application id, known at READY. A viewer who joined a
/// protected server before READY (the server list here is the user's own,
/// the password is the legacy one) got no `clientId`, and receives it when
/// READY tells it; a server with its own client id gets no such frame, and
/// a fresh session with the same application id sends none again.
#[tokio::test]
async fn client_id_known_at_ready_is_sent_to_joined_viewers() {
    let fake = FakeDiscord::start(vec![island(), harbour()]);
    fake.hold_ready();
    let mut cfg = config(&fake);
    // Only the harbour is configured (with its own client id); the island
    // is a guild of the bot shown by the user's own list.
    cfg.servers = vec![ServerConfig {
        client_id: Some("777".into()),
        ..ServerConfig::new(G2)
    }];
    let srv = start_with(move |b| {
        b.config(quiet())
            .on_get_server_data(|| async {
                Ok(vec![
                    ServerInfo::new(G1, "isle", "Isle")
                        .with_password("pw")
                        .default_server(),
                    ServerInfo::new(G2, "port", "Port"),
                ])
            })
            .discord(Discord::new(cfg).expect("valid config"))
    });
    fake.until("the IDENTIFY", Duration::from_secs(5), |f| {
        !f.identifies().is_empty()
    })
    .await;
    let mut c = srv.client().await;
    c.send_text(r#"{"type":"connect","data":{"server":"isle","password":"pw"}}"#)
        .await;
    let j = c.recv_json().await;
    assert_eq!(j["type"], "server-join", "{j}");
    assert!(j["data"].get("clientId").is_none(), "{j}");
    let (mut port, pj) = join_users(&srv, "port").await;
    assert_eq!(pj["clientId"], "777");
    srv.until("two joined", |h| h.joined_count() == 2).await;
    fake.release_ready();
    assert_eq!(
        c.recv_text().await,
        json!({"type": "update-clientid", "server": G1, "data": {"clientId": APP_ID}}).to_string()
    );
    // The same application id again after a fresh session: nothing new.
    fake.invalidate_session(false);
    fake.until("a second IDENTIFY", Duration::from_secs(15), |f| {
        f.identifies().len() == 2
    })
    .await;
    fake.dispatch("PRESENCE_UPDATE", presence(ALICE, G2, "idle"));
    // Dispatches are handled in order: READY is behind us once this arrives.
    assert_eq!(
        port.recv_json().await,
        json!({"type": "presence", "server": G2, "data": {"uid": ALICE, "status": "idle"}})
    );
    c.assert_silent(Duration::from_millis(200)).await;
    port.assert_silent(Duration::from_millis(100)).await;
    // A later viewer gets the id in its server-join.
    let mut late = srv.client().await;
    late.send_text(r#"{"type":"connect","data":{"server":"isle","password":"pw"}}"#)
        .await;
    assert_eq!(late.recv_json().await["data"]["clientId"], APP_ID);
}

/// The validator's membership fallback: in a large guild whose member
/// list is not complete yet, a user not in the bot's member cache is
/// accepted when `/users/@me/guilds` lists the guild, and refused when it
/// does not; a cached member needs no such question.
#[tokio::test]
async fn validator_asks_users_me_guilds_while_the_cache_is_incomplete() {
    let mut g = FakeGuild::new(G1, "Big").channel(GENERAL, "general");
    for i in 0..300u64 {
        let uid = format!("{}", 600000000000000000u64 + i);
        g = g.member(member(&uid, &format!("m{i}"), None, None, &[]));
    }
    g = g.presence("600000000000000000", "online");
    let fake = FakeDiscord::start(vec![g]);
    fake.hold_member_chunks();
    // An offline member (not in GUILD_CREATE), a stranger, and an online (cached) member.
    fake.add_token(
        "offline-member",
        valid_token("600000000000000007", &[G2, G1]),
    );
    fake.add_token("stranger", valid_token("444444444444444499", &[G2]));
    fake.add_token("cached", valid_token("600000000000000000", &[]));
    let mut cfg = config(&fake);
    cfg.servers = vec![ServerConfig {
        protected: true,
        ..ServerConfig::new(G1)
    }];
    let srv = start_bot(&fake, cfg, 1).await;
    fake.until("a member request", Duration::from_secs(5), |f| {
        f.gateway_commands().iter().any(|c| c["op"] == 8)
    })
    .await;
    let mut c = srv.client().await;
    c.send_text(&login("big", "cached", "600000000000000000"))
        .await;
    let j = c.recv_json().await;
    assert_eq!(j["type"], "server-join", "{j}");
    assert_eq!(fake.rest_count("/users/@me/guilds"), 0);
    let mut c = srv.client().await;
    c.send_text(&login("big", "offline-member", "600000000000000007"))
        .await;
    let j = c.recv_json().await;
    assert_eq!(j["type"], "server-join", "{j}");
    assert_eq!(j["data"]["serverName"], "Big");
    assert_eq!(fake.rest_count("/users/@me/guilds"), 1);
    let mut c = srv.client().await;
    c.send_text(&login("big", "stranger", "444444444444444499"))
        .await;
    assert_eq!(
        c.recv_text().await,
        error_frame(d_back::errors::AUTH_FAILED)
    );
    assert_eq!(fake.rest_count("/users/@me/guilds"), 2);
}

/// A guild that removed the bot while it was disconnected is missing from
/// the fresh session's READY: it leaves the list and its viewers see its
/// members leave, as with GUILD_DELETE.
#[tokio::test]
async fn guild_missing_from_a_fresh_ready_empties_for_its_viewers() {
    let fake = FakeDiscord::start(vec![island(), harbour()]);
    let srv = start_bot(&fake, config(&fake), 2).await;
    let (mut port, _) = join_users(&srv, "harbour").await;
    srv.until("joined", |h| h.joined_count() == 1).await;
    fake.remove_guild(G2);
    fake.invalidate_session(false);
    // twilight waits a moment before identifying afresh.
    fake.until("a second IDENTIFY", Duration::from_secs(15), |f| {
        f.identifies().len() == 2
    })
    .await;
    assert_eq!(
        port.recv_text().await,
        json!({"type": "presence", "server": G2, "data": {"uid": ALICE, "status": "offline", "delete": true}})
            .to_string()
    );
    wait_for_servers(&srv, 1).await;
    assert!(server_list(&srv).await.get(G2).is_none());
    port.assert_silent(Duration::from_millis(200)).await;
}

/// A guild above `large_guild_members` shows its online members only by
/// default (Carol, offline, is left out, and her chat with her); its server
/// entry's `hide_offline = false` shows everyone again.
#[tokio::test]
async fn big_guilds_show_online_members_unless_told_otherwise() {
    let fake = FakeDiscord::start(vec![island()]);
    let cfg = DiscordConfig {
        large_guild_members: 2,
        ..config(&fake)
    };
    let srv = start_bot(&fake, cfg, 1).await;
    let (mut c, data) = join_users(&srv, "island-life").await;
    assert_eq!(
        data["users"],
        json!({
            ALICE: user(ALICE, "Alice A", "online", "#ff0000"),
            BOB: user(BOB, "bob", "idle", "#0000ff"),
        })
    );
    srv.until("joined", |h| h.joined_count() == 1).await;
    fake.dispatch(
        "MESSAGE_CREATE",
        message(G1, GENERAL, CAROL, "carol", "from offline"),
    );
    fake.dispatch("PRESENCE_UPDATE", presence(BOB, G1, "offline"));
    assert_eq!(
        c.recv_json().await,
        json!({"type": "presence", "server": G1, "data": {"uid": BOB, "status": "offline", "delete": true}})
    );
    c.assert_silent(Duration::from_millis(200)).await;

    // The same guild, its entry saying to show offline members.
    let fake = FakeDiscord::start(vec![island()]);
    let cfg = DiscordConfig {
        large_guild_members: 2,
        servers: vec![ServerConfig {
            hide_offline: Some(false),
            ..ServerConfig::new(G1)
        }],
        ..config(&fake)
    };
    let srv = start_bot(&fake, cfg, 1).await;
    let (_, data) = join_users(&srv, "island-life").await;
    assert_eq!(
        data["users"][CAROL],
        user(CAROL, "Caz", "offline", "#ffffff")
    );
    assert_eq!(data["users"].as_object().unwrap().len(), 3);
}

/// A viewer's scene: each uid's status and name, from its join's users and
/// then each presence frame, until nothing came for `quiet`.
async fn scene_until_quiet(
    c: &mut Client,
    users: &Value,
    quiet: Duration,
) -> std::collections::BTreeMap<String, (String, String)> {
    let mut scene: std::collections::BTreeMap<String, (String, String)> = users
        .as_object()
        .unwrap()
        .iter()
        .map(|(uid, u)| {
            let (s, n) = (&u["status"], &u["username"]);
            (
                uid.clone(),
                (s.as_str().unwrap().into(), n.as_str().unwrap().into()),
            )
        })
        .collect();
    while let Ok(f) = tokio::time::timeout(quiet, c.recv_json()).await {
        assert_eq!(f["type"], "presence", "{f}");
        let d = &f["data"];
        let uid = d["uid"].as_str().unwrap().to_string();
        if d["delete"] == true {
            assert!(scene.remove(&uid).is_some(), "{uid} deleted unseen");
            continue;
        }
        let entry = scene.entry(uid).or_default();
        entry.0 = d["status"].as_str().unwrap().into();
        if let Some(name) = d["username"].as_str() {
            entry.1 = name.into();
        }
    }
    scene
}

/// A fresh session's member list of a large guild takes a while: a viewer
/// who joins meanwhile is sent what the viewers already there were shown,
/// and both end with the guild as it now is (the one that left gone, the
/// one renamed and the one now idle told, the members who did not change
/// still there).
#[tokio::test]
async fn joined_during_a_fresh_sessions_catch_up_ends_with_the_truth() {
    let uid = |i: u64| format!("{}", 600000000000000000u64 + i);
    let big = |members: std::ops::Range<u64>, idle: Option<u64>, renamed: Option<u64>| {
        let mut g = FakeGuild::new(G1, "Big").channel(GENERAL, "general");
        for i in members {
            let name = if renamed == Some(i) {
                "renamed".to_string()
            } else {
                format!("m{i}")
            };
            g = g.member(member(&uid(i), &name, None, None, &[]));
            if i < 10 {
                let status = if idle == Some(i) { "idle" } else { "online" };
                g = g.presence(&uid(i), status);
            }
        }
        g
    };
    let fake = FakeDiscord::start(vec![big(0..600, None, None)]);
    let mut cfg = config(&fake);
    cfg.member_request_timeout = Duration::from_secs(2);
    let srv = start_bot(&fake, cfg, 1).await;
    let start = std::time::Instant::now();
    let (mut early, early_users) = loop {
        let (c, data) = join_users(&srv, "big").await;
        if data["users"].as_object().unwrap().len() == 600 {
            break (c, data["users"].clone());
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never 600 members"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Away from Discord: member 0 leaves, 1 goes idle, 2 is renamed.
    fake.set_guild(big(1..600, Some(1), Some(2)));
    fake.lose_member_requests(1);
    fake.invalidate_session(false);
    fake.until(
        "the new session's member request",
        Duration::from_secs(10),
        |f| f.member_requests().len() == 2,
    )
    .await;
    // Its answer was lost; the bot asks again in 2 s. Join meanwhile.
    let (mut late, late_data) = join_users(&srv, "big").await;
    let late_users = late_data["users"].clone();
    assert!(
        late_users == early_users,
        "a join during the catch-up gets what viewers were shown ({} users, not 600)",
        late_users.as_object().map_or(0, |u| u.len())
    );
    let quiet = Duration::from_secs(4);
    let (early_scene, late_scene) = tokio::join!(
        scene_until_quiet(&mut early, &early_users, quiet),
        scene_until_quiet(&mut late, &late_users, quiet)
    );
    let mut truth = std::collections::BTreeMap::new();
    for i in 1..600u64 {
        let status = match i {
            1 => "idle",
            _ if i < 10 => "online",
            _ => "offline",
        };
        let name = if i == 2 {
            "renamed".to_string()
        } else {
            format!("m{i}")
        };
        truth.insert(uid(i), (status.to_string(), name));
    }
    let wrong = |scene: &std::collections::BTreeMap<String, (String, String)>| {
        truth
            .iter()
            .filter(|(uid, t)| scene.get(*uid) != Some(t))
            .count()
            + scene.keys().filter(|uid| !truth.contains_key(*uid)).count()
    };
    assert_eq!(
        wrong(&early_scene),
        0,
        "members wrong at the viewer joined before"
    );
    assert_eq!(
        wrong(&late_scene),
        0,
        "members wrong at the viewer joined during"
    );
    assert_eq!(fake.member_requests().len(), 3, "asked again once");
}

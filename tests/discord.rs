//! The built-in Discord bot against a fake Discord (tests/common/fake_discord.rs):
//! real WebSockets both sides, exact frames at a real d-zone client.

mod common;
#[path = "common/fake_discord.rs"]
mod fake_discord;

use std::time::Duration;

use fake_discord::*;
use common::*;
use d_back::discord::{Discord, DiscordConfig, ServerConfig};
use serde_json::{json, Value};

const G1: &str = "111111111111111111";
const G2: &str = "222222222222222222";
const GENERAL: &str = "333333333333333301";
const RANDOM: &str = "333333333333333302";
const ALICE: &str = "444444444444444401";
const BOB: &str = "444444444444444402";
const CAROL: &str = "444444444444444403";
const RED: &str = "555555555555555501";
const BLUE: &str = "555555555555555502";

/// A small guild: Alice (red, online), Bob (blue and red; blue is higher, idle),
/// Carol (no colour, offline, nickname).
fn island() -> FakeGuild {
    FakeGuild::new(G1, "Island Life")
        .role(RED, "Red", 0xff0000, 1)
        .role(BLUE, "Blue", 0x0000ff, 2)
        .channel(GENERAL, "general")
        .channel(RANDOM, "random")
        .member(member(ALICE, "alice", Some("Alice A"), None, &[RED]))
        .member(member(BOB, "bob", None, None, &[RED, BLUE]))
        .member(member(CAROL, "carol", Some("Carol G"), Some("Caz"), &[]))
        .presence(ALICE, "online")
        .presence(BOB, "idle")
}

fn harbour() -> FakeGuild {
    FakeGuild::new(G2, "Harbour")
        .channel("333333333333333399", "docks")
        .member(member(ALICE, "alice", None, None, &[]))
        .presence(ALICE, "dnd")
}

fn config(fake: &FakeDiscord) -> DiscordConfig {
    DiscordConfig {
        token: Some(BOT_TOKEN.into()),
        gateway_url: Some(fake.gateway_url()),
        api_url: Some(fake.api_url()),
        rest_timeout: Duration::from_millis(500),
        ..DiscordConfig::default()
    }
}

/// d-back with the built-in bot, started once the bot knows `guilds` guilds.
async fn start_bot(_fake: &FakeDiscord, cfg: DiscordConfig, guilds: usize) -> TestServer {
    let srv = start_with(move |b| b.config(quiet()).discord(Discord::new(cfg).expect("valid config")));
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
        assert!(start.elapsed() < Duration::from_secs(10), "server list never had {n}: {list}");
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
    assert_eq!(intents & (INTENT_MEMBERS | INTENT_PRESENCES | INTENT_MESSAGE_CONTENT), INTENT_MEMBERS | INTENT_PRESENCES | INTENT_MESSAGE_CONTENT);
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
        ServerConfig { alias: Some("The Harbour".into()), protected: true, ..ServerConfig::new(G2) },
        ServerConfig::new("999999999999999999"),
        ServerConfig { default: true, password: Some("pw".into()), ..ServerConfig::new(G1) },
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
    c.send_text(r#"{"type":"connect","data":{"server":"default","password":"pw"}}"#).await;
    let j = c.recv_json().await;
    assert_eq!(j["type"], "server-join");
    assert_eq!(j["data"]["request"], json!({"server": "default", "password": "pw"}));
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
    c.send_text(r#"{"type":"connect","data":{"server":"island-life"}}"#).await;
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
    srv.until("two joined", |h| h.session_count() == 2).await;
    fake.dispatch("MESSAGE_CREATE", message(G1, GENERAL, BOT_ID, "dzone-bot", "I am the bot"));
    let text = format!("hi <@{BOB}> and <@!{CAROL}>, <@&{RED}> see <#{RANDOM}> <:party:123456> <a:wave:42> <b>");
    fake.dispatch("MESSAGE_CREATE", message(G1, GENERAL, ALICE, "alice", &text));
    assert_eq!(
        c.recv_text().await,
        json!({"type": "message", "server": G1, "data": {
            "uid": ALICE, "message": "hi @bob and @Caz, @Red see #random :party: :wave: <b>", "channel": GENERAL
        }})
        .to_string()
    );
    let mut attach = message(G1, RANDOM, BOB, "bob", "");
    attach["attachments"] = json!([{"id": "1", "filename": "cat.png", "size": 1, "url": "u", "proxy_url": "p"}]);
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
    srv.until("joined", |h| h.session_count() == 1).await;
    fake.dispatch("PRESENCE_UPDATE", presence(ALICE, G1, "dnd"));
    assert_eq!(c.recv_json().await, json!({"type": "presence", "server": G1, "data": {"uid": ALICE, "status": "dnd"}}));
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
    fake.dispatch("GUILD_ROLE_UPDATE", json!({"guild_id": G1, "role": role(RED, "Red", 0x00ff00, 1)}));
    assert_eq!(
        c.recv_json().await,
        json!({"type": "presence", "server": G1, "data": {"uid": ALICE, "status": "dnd", "username": "Ally", "roleColor": "#00ff00"}})
    );
    fake.dispatch("GUILD_MEMBER_REMOVE", json!({"guild_id": G1, "user": {"id": BOB, "username": "bob"}}));
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

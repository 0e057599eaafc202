//! The `d-back` binary with the built-in bot against the fake Discord
//! (`tests/common/fake_discord/`, the shared guilds in its `fixtures.rs`):
//! `--config` in TOML and in d-zone's own `discord-config.json`, the
//! Message Content warning, and the fatal close codes, with exact frames at a real WebSocket client and the binary's
//! real stderr.

mod common;

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::fake_discord::fixtures::*;
use common::fake_discord::*;
use common::*;
use serde_json::{json, Value};

/// The binary pointed at the fake, with the default log level.
fn bin(fake: &FakeDiscord, token: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_d-back"));
    c.args(["--host", "127.0.0.1", "--port", "0"])
        .env_remove("D_BACK_PORT")
        .env_remove("D_BACK_HOST")
        .env_remove("D_BACK_CONFIG")
        .env_remove("DISCORD_CLIENT_ID")
        .env_remove("RUST_LOG")
        .env("DISCORD_TOKEN", token)
        .env("D_BACK_DISCORD_GATEWAY_URL", fake.gateway_url())
        .env("D_BACK_DISCORD_API_URL", fake.api_url());
    c
}

/// A running binary and the address it printed.
struct Running {
    child: Child,
    addr: SocketAddr,
}

impl Running {
    fn start(cmd: &mut Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let addr = listening_addr(&mut child, "http");
        Running { child, addr }
    }

    async fn connect(&self) -> (Client, Value) {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", self.addr))
            .await
            .unwrap();
        let mut c = Client::plain(ws);
        let list = c.recv_json().await;
        (c, list)
    }

    /// A client once the server list has `n` servers, and that list.
    async fn client_when_listed(&self, n: usize) -> (Client, Value) {
        let start = Instant::now();
        loop {
            let (c, list) = self.connect().await;
            assert_eq!(list["type"], "server-list");
            if list["data"].as_object().map_or(0, |m| m.len()) == n {
                return (c, list);
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the server list never had {n}: {list}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the binary and answers what it wrote on stderr.
    fn stop(mut self) -> String {
        self.child.kill().unwrap();
        let _ = self.child.wait();
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        err
    }
}

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("d-back-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

fn user(uid: &str, name: &str, status: &str, color: &str) -> Value {
    json!({"uid": uid, "username": name, "status": status, "roleColor": color})
}

/// The list, the default server's users and the password server's join,
/// as one config file (TOML or d-zone's JSON) describes them.
async fn check_configured(run: &Running, harbour_id: &str, harbour_name: &str) {
    let (mut c, list) = run.client_when_listed(2).await;
    assert_eq!(
        list.to_string(),
        json!({"type": "server-list", "data": {
            G2: {"id": harbour_id, "name": harbour_name, "passworded": true},
            G1: {"id": "isle", "name": "Isle", "passworded": false, "default": true},
        }})
        .to_string()
    );
    // The default: hide_offline leaves Carol out, ignore_users Bob.
    c.send_text(r#"{"type":"connect","data":{"server":"default"}}"#)
        .await;
    assert_eq!(
        c.recv_text().await,
        json!({"type": "server-join", "data": {
            "users": {ALICE: user(ALICE, "Alice A", "online", "#ff0000")},
            "request": {"server": "default"},
            "serverName": "Isle",
            "clientId": APP_ID
        }})
        .to_string()
    );
    // The password server: refused without it, joined with it.
    c.send_text(&json!({"type": "connect", "data": {"server": harbour_id}}).to_string())
        .await;
    assert_eq!(
        c.recv_text().await,
        error_frame(d_back::errors::AUTH_REQUIRED)
    );
    c.send_text(
        &json!({"type": "connect", "data": {"server": harbour_id, "password": "pw"}}).to_string(),
    )
    .await;
    let j = c.recv_json().await;
    assert_eq!(j["type"], "server-join", "{j}");
    assert_eq!(
        j["data"]["users"],
        json!({ALICE: user(ALICE, "alice", "dnd", "#ffffff")})
    );
    assert_eq!(j["data"]["serverName"], harbour_name);
}

/// `--config FILE.toml` with `[discord]` and `[[discord.servers]]`: alias,
/// default, password, ignore_users, hide_offline, as a client sees them.
#[tokio::test]
async fn toml_config_file_drives_the_bot() {
    let fake = FakeDiscord::start(vec![island(), harbour()]);
    let path = temp_file(
        "bot.toml",
        &format!(
            r#"
no_mock_traffic = true

[discord]
info_command = "!dzone"
url = "http://dzone.test/"

[[discord.servers]]
id = "{G2}"
alias = "The Port"
password = "pw"

[[discord.servers]]
id = "{G1}"
alias = "Isle"
default = true
ignore_users = ["bob"]
hide_offline = true
"#
        ),
    );
    let run = Running::start(bin(&fake, BOT_TOKEN).arg("--config").arg(&path));
    check_configured(&run, "the-port", "The Port").await;
    let err = run.stop();
    std::fs::remove_file(&path).unwrap();
    assert!(!err.contains(BOT_TOKEN), "the token was logged: {err}");
    // The info command reached the gateway as the bot's activity.
    assert_eq!(
        fake.identifies()[0]["presence"]["activities"][0]["name"],
        "!dzone"
    );
}

/// d-zone's own `discord-config.json`, as it is, via `--config file.json`.
#[tokio::test]
async fn dzone_json_config_file_drives_the_bot() {
    let fake = FakeDiscord::start(vec![island(), harbour()]);
    let path = temp_file(
        "discord-config.json",
        &json!({
            "servers": [
                {"id": G2, "password": "pw", "ignoreChannels": [], "ignoreUsers": [], "listenChannels": []},
                {"id": G1, "alias": "Isle", "default": true, "ignoreUsers": ["bob"], "hideOffline": true}
            ],
            "infoCommand": "!dzone",
            "url": "http://dzone.test/"
        })
        .to_string(),
    );
    let run = Running::start(bin(&fake, BOT_TOKEN).arg("--config").arg(&path));
    check_configured(&run, "harbour", "Harbour").await;
    run.stop();
    std::fs::remove_file(&path).unwrap();
}

/// Without the Message Content intent: one warning at start naming it and
/// the Developer Portal, and chat still arrives, without text (Discord
/// sends such messages with empty content).
#[tokio::test]
async fn missing_message_content_warns_once_and_chat_has_no_text() {
    let fake = FakeDiscord::start(vec![island()]);
    fake.deny(1 << 18, INTENT_MESSAGE_CONTENT);
    let run = Running::start(&mut bin(&fake, BOT_TOKEN));
    let (mut c, _) = run.client_when_listed(1).await;
    c.send_text(r#"{"type":"connect","data":{"server":"island-life"}}"#)
        .await;
    assert_eq!(c.recv_json().await["type"], "server-join");
    // Joined once the server answered; the chat goes out after that.
    let start = Instant::now();
    loop {
        fake.dispatch("MESSAGE_CREATE", message(G1, GENERAL, ALICE, "alice", ""));
        match tokio::time::timeout(Duration::from_millis(300), c.recv_text()).await {
            Ok(frame) => {
                assert_eq!(
                    frame,
                    json!({"type": "message", "server": G1, "data": {"uid": ALICE, "message": "", "channel": GENERAL}})
                        .to_string()
                );
                break;
            }
            Err(_) => assert!(start.elapsed() < Duration::from_secs(5), "no chat"),
        }
    }
    let err = run.stop();
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("Message Content"))
        .collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(warnings[0].contains("WARN"), "{err}");
    assert!(warnings[0].contains("Developer Portal"), "{err}");
    let intents = fake.identifies()[0]["intents"].as_u64().unwrap();
    assert_eq!(intents & INTENT_MESSAGE_CONTENT, 0);
}

/// The binary's exit and last stderr line for a gateway close code.
fn fatal(fake: &FakeDiscord, token: &str) -> (std::process::ExitStatus, String) {
    let mut cmd = bin(fake, token);
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(15) {
            child.kill().unwrap();
            panic!("the binary did not exit on a fatal close code");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status, err)
}

/// Close 4004 (wrong token) through the binary, at the default log level:
/// non-zero exit, the token never printed, and the last line one sentence
/// saying what to set, written once.
#[test]
fn wrong_token_exits_with_one_sentence() {
    let fake = FakeDiscord::start(vec![island()]);
    let (status, err) = fatal(&fake, "wrong-secret-token");
    assert!(!status.success());
    assert_ne!(status.code(), Some(0));
    assert!(!err.contains("wrong-secret-token"), "{err}");
    let sentence = "d-back: Discord refused the bot token (gateway close 4004): set DISCORD_TOKEN to the token on the Bot page of your application in the Discord Developer Portal.";
    assert_eq!(err.lines().last(), Some(sentence), "{err}");
    assert_eq!(err.matches("gateway close 4004").count(), 1, "{err}");
    assert!(
        !err.contains("INFO  twilight"),
        "twilight's info noise: {err}"
    );
}

/// Close 4014 (a privileged intent not enabled) through the binary:
/// non-zero exit and one sentence naming the three intents to enable.
#[test]
fn disallowed_intents_exit_with_one_sentence() {
    for denied in [INTENT_MEMBERS, INTENT_PRESENCES] {
        let fake = FakeDiscord::start(vec![island()]);
        // The application's flags still claim the intents: only the
        // gateway's close tells.
        fake.deny(0, denied);
        let (status, err) = fatal(&fake, BOT_TOKEN);
        assert!(!status.success());
        let sentence = "d-back: Discord refused the bot's privileged intents (gateway close 4014): in the Discord Developer Portal, open your application's Bot page and enable Server Members Intent, Presence Intent and Message Content Intent under Privileged Gateway Intents.";
        assert_eq!(err.lines().last(), Some(sentence), "{err}");
        assert_eq!(err.matches("gateway close 4014").count(), 1, "{err}");
        assert!(
            !err.contains("INFO  twilight"),
            "twilight's info noise: {err}"
        );
        assert!(!err.contains(BOT_TOKEN), "{err}");
    }
}

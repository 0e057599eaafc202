//! Every way a first start goes wrong that people report, each answered
//! by one sentence that says what to do: no token, a wrong token, the
//! privileged intents not enabled, the bot in no server, the port in use.
//! (A page opened as a file and a wrong socket URL on the page are in the
//! browser suite, tests/browser/run.mjs.) Each runs the real binary.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};

use common::fake_discord::{FakeDiscord, FakeGuild, APP_ID, BOT_TOKEN, INTENT_PRESENCES};

/// The binary with an empty environment and the default log filter.
fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_d-back"));
    c.env_clear().args(["--host", "127.0.0.1", "--port", "0"]);
    c
}

/// Starts `cmd`, waits until it listens and until its stderr holds a line
/// ending in `sentence` (or it exits); answers those lines.
fn lines_ending_with(cmd: &mut Command, sentence: &str) -> Vec<String> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    common::listening_addr(&mut child, "http");
    let mut stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut all = String::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.push_str(&String::from_utf8_lossy(&buf[..n]));
            let _ = tx.send(all.clone());
        }
    });
    let deadline = std::time::Instant::now() + common::WAIT;
    let mut seen = String::new();
    while std::time::Instant::now() < deadline {
        if let Ok(all) = rx.recv_timeout(std::time::Duration::from_millis(50)) {
            seen = all;
        }
        if seen.lines().any(|l| l.ends_with(sentence)) {
            break;
        }
    }
    child.kill().unwrap();
    let _ = child.wait();
    let found: Vec<String> = seen
        .lines()
        .filter(|l| l.ends_with(sentence))
        .map(String::from)
        .collect();
    assert!(!found.is_empty(), "no line ends with {sentence:?}:\n{seen}");
    found
}

fn with_fake(fake: &FakeDiscord, token: &str) -> Command {
    let mut c = bin();
    c.env("DISCORD_TOKEN", token)
        .env("D_BACK_DISCORD_GATEWAY_URL", fake.gateway_url())
        .env("D_BACK_DISCORD_API_URL", fake.api_url());
    c
}

/// No token: the demo starts on mock servers and says how to show your own.
#[test]
fn no_token_says_how_to_show_your_own_server() {
    let found = lines_ending_with(
        &mut bin(),
        "no Discord bot token, so mock servers are shown: to show your own, set DISCORD_TOKEN to the token on the Bot page of your application in the Discord Developer Portal.",
    );
    assert_eq!(found.len(), 1);
}

/// Servers configured but no token: a warning with the same fix.
#[test]
fn servers_without_a_token_say_to_set_it() {
    let dir = std::env::temp_dir().join(format!("d-back-setup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("servers.toml");
    std::fs::write(&file, "[[discord.servers]]\nid = \"232769614004748288\"\n").unwrap();
    let found = lines_ending_with(
        bin().arg("--config").arg(&file),
        "Discord servers are configured but no bot token is set, so mock servers are shown: set DISCORD_TOKEN to the token on the Bot page of your application in the Discord Developer Portal.",
    );
    assert!(found[0].contains("WARN"), "{found:?}");
}

/// A token Discord refuses (close 4004): exit non-zero with exactly the
/// sentence, never the token.
#[test]
fn a_wrong_token_exits_with_one_sentence() {
    let fake = FakeDiscord::start(vec![FakeGuild::new("111111111111111111", "One")]);
    let out = with_fake(&fake, "not-the-token")
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    let err = common::one_line_failure(out);
    assert_eq!(
        err.trim_end(),
        "d-back: Discord refused the bot token (gateway close 4004): set DISCORD_TOKEN to the token on the Bot page of your application in the Discord Developer Portal."
    );
}

/// Privileged intents not enabled (close 4014): exactly the sentence naming them.
#[test]
fn intents_not_enabled_exit_with_one_sentence() {
    let fake = FakeDiscord::start(vec![FakeGuild::new("111111111111111111", "One")]);
    fake.deny(1 << 12, INTENT_PRESENCES);
    let out = with_fake(&fake, BOT_TOKEN)
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert_eq!(
        common::one_line_failure(out).trim_end(),
        "d-back: Discord refused the bot's privileged intents (gateway close 4014): in the Discord Developer Portal, open your application's Bot page and enable Server Members Intent, Presence Intent and Message Content Intent under Privileged Gateway Intents."
    );
}

/// A bot in no server: one warning with the invite link for its application.
#[test]
fn a_bot_in_no_server_says_how_to_invite_it() {
    let fake = FakeDiscord::start(vec![]);
    let found = lines_ending_with(
        &mut with_fake(&fake, BOT_TOKEN),
        &format!(
            "discord: the bot is in no Discord server, so none is shown: invite it with https://discord.com/oauth2/authorize?client_id={APP_ID}&scope=bot, and the server appears without a restart."
        ),
    );
    assert_eq!(found.len(), 1);
    assert!(found[0].contains("WARN"), "{found:?}");
}

/// A port in use: exactly one sentence naming it and the way out.
#[test]
fn a_port_in_use_exits_with_one_sentence() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = Command::new(env!("CARGO_BIN_EXE_d-back"))
        .env_clear()
        .env("RUST_LOG", "off")
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .output()
        .unwrap();
    assert_eq!(
        common::one_line_failure(out).trim_end(),
        format!("d-back: port {port} on 127.0.0.1 is already in use by another program: stop that program, or start d-back on another port with --port (D_BACK_PORT).")
    );
}

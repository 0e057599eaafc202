//! What the server writes to its log: refusals once per IP per minute,
//! never a Discord token or a password, and what an operator reads first
//! (the binary's own log): an unreachable Discord gateway with its address,
//! cause and retries, and where a `source = "redis"` instance's servers
//! come from.

mod common;

use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// The binary's log (stderr, its default filter: no RUST_LOG) as
/// `LEVEL message` lines, read until `enough` holds for them or the wait
/// runs out; the process is killed then.
fn binary_log(
    cmd: &mut Command,
    enough: impl Fn(&[String]) -> bool,
    wait: Duration,
) -> Vec<String> {
    let mut child = cmd
        .env_remove("RUST_LOG")
        .args(["--host", "127.0.0.1", "--port", "0", "--no-mock-traffic"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
            let Ok(line) = line else { break };
            // "[<time> <LEVEL> <target>] <message>"
            let shown = match line.strip_prefix('[').and_then(|l| l.split_once("] ")) {
                Some((head, message)) => {
                    let level = head.split_whitespace().nth(1).unwrap_or_default();
                    format!("{level} {message}")
                }
                None => line,
            };
            if tx.send(shown).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + wait;
    let mut lines = Vec::new();
    while !enough(&lines) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    lines
}

/// A port on 127.0.0.1 where nothing listens (bound, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A bot whose gateway and API are at `gateway` and `api`, with a token
/// that must never be logged.
fn bot_at(gateway: &str, api: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_d-back"));
    cmd.env_clear()
        .env("DISCORD_TOKEN", BOT_TOKEN)
        .env("D_BACK_DISCORD_GATEWAY_URL", gateway)
        .env("D_BACK_DISCORD_API_URL", api);
    cmd
}

const BOT_TOKEN: &str = "MTIz.SECRET-BOT-TOKEN.xyz";

/// The discord lines of a log, and that nothing else (a library's per-shard
/// chatter, the token) is in it.
fn discord_lines(lines: &[String]) -> Vec<String> {
    for line in lines {
        assert!(!line.contains("SECRET"), "the token is logged: {line}");
        assert!(line.contains(" discord: "), "an unexpected line: {line}");
    }
    lines.to_vec()
}

/// Nothing listens at the gateway's address: one line with the address,
/// the cause and what to check, then a short line per retry with its
/// number and the next delay (twilight's: 2, 4, 8 s ...).
#[test]
fn an_unreachable_gateway_says_where_why_and_when_next() {
    let port = closed_port();
    let gateway = format!("ws://127.0.0.1:{port}");
    let lines = binary_log(
        &mut bot_at(&gateway, &format!("http://127.0.0.1:{port}")),
        |l| l.len() >= 3,
        WAIT,
    );
    assert_eq!(
        discord_lines(&lines),
        [
            "INFO discord: connecting to the gateway".to_string(),
            format!("WARN discord: cannot reach the Discord gateway at {gateway}: connection refused; nothing listens there: check D_BACK_DISCORD_GATEWAY_URL (gateway_url) if set, or a firewall that rejects the connection. Next try in 2 s"),
            "WARN discord: the gateway is still unreachable (connection refused), attempt 2; next try in 4 s".to_string(),
        ]
    );
}

/// A gateway host that does not resolve is named as a DNS failure.
#[test]
fn a_gateway_that_does_not_resolve_is_a_dns_failure() {
    let lines = binary_log(
        &mut bot_at("ws://d-back-test.invalid", "http://d-back-test.invalid"),
        |l| l.len() >= 2,
        WAIT,
    );
    assert_eq!(
        discord_lines(&lines),
        [
            "INFO discord: connecting to the gateway",
            "WARN discord: cannot reach the Discord gateway at ws://d-back-test.invalid: DNS lookup failed; check this machine's DNS and network (a container needs a network with DNS). Next try in 2 s",
        ]
    );
}

/// A gateway that does not speak TLS on wss:// is a TLS failure, with
/// rustls' reason.
#[test]
fn a_gateway_without_tls_is_a_tls_failure() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let _ = std::io::Write::write_all(
                &mut stream,
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
            );
        }
    });
    let lines = binary_log(
        &mut bot_at(
            &format!("wss://127.0.0.1:{port}"),
            &format!("http://127.0.0.1:{}", closed_port()),
        ),
        |l| l.len() >= 2,
        WAIT,
    );
    let lines = discord_lines(&lines);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    let prefix = format!(
        "WARN discord: cannot reach the Discord gateway at wss://127.0.0.1:{port}: TLS handshake failed: "
    );
    let reason = lines[1]
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert!(
        reason.ends_with(
            "; check the system clock and any proxy that intercepts TLS. Next try in 2 s"
        ),
        "{reason}"
    );
}

/// A `source = "redis"` instance says where its servers come from (with
/// the URL's password hidden), not that mock servers are shown.
#[test]
fn a_redis_source_says_where_its_servers_come_from() {
    let url = format!("redis://:SECRET-PASSWORD@127.0.0.1:{}/", closed_port());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_d-back"));
    cmd.env_clear()
        .env("D_BACK_REDIS_URL", &url)
        .env("D_BACK_SOURCE", "redis");
    let lines = binary_log(
        &mut cmd,
        |l| l.iter().any(|l| l.contains("servers come from")),
        WAIT,
    );
    let port = url.rsplit(':').next().unwrap();
    let said = format!(
        "INFO servers come from Redis at redis://:<redacted>@127.0.0.1:{port}: this instance (source = \"redis\") shows the server list, members and client ids that an instance with source = \"local\" writes there; it runs no Discord bot"
    );
    assert!(lines.contains(&said), "{lines:#?}");
    assert!(
        !lines.iter().any(|l| l.contains("mock servers")),
        "{lines:#?}"
    );
    assert!(!lines.iter().any(|l| l.contains("SECRET")), "{lines:#?}");
}

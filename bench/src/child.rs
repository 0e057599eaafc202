//! A d-back binary run as a child process and read from outside, as an
//! operator would: its `/metrics`, the gateway dispatches its bot has read,
//! its resident memory and when its CPU goes quiet. The Discord benches
//! (`discord_storm`, `discord_memory`) share these readings.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

use crate::driver::cpu_seconds_of;

/// The child, killed when dropped.
pub struct Server(pub Child);

impl Server {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The d-back `binary` as a bot against a (fake) Discord at `gateway` and
/// `api` with `token`, listening on 127.0.0.1:`port` with `/metrics` on,
/// plus `args`; logs at `RUST_LOG` (default warn) to this process's stderr.
pub fn spawn_bot(
    binary: &Path,
    port: u16,
    (gateway, api, token): (&str, &str, &str),
    args: &[&str],
) -> Server {
    let child = Command::new(binary)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--metrics",
        ])
        .args(args)
        .env("DISCORD_TOKEN", token)
        .env("D_BACK_DISCORD_GATEWAY_URL", gateway)
        .env("D_BACK_DISCORD_API_URL", api)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
    Server(child)
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The process's VmRSS in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS")
}

/// A `/proc/PID/status` field in KiB (VmRSS, VmHWM).
pub fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The `/metrics` text of the server at `addr` (`host:port`), if served.
pub async fn metrics(addr: &str) -> Option<String> {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut body = String::new();
    tcp.read_to_string(&mut body).await.ok()?;
    Some(body)
}

/// The value of the first sample of `metric` whose labels include every one
/// of `labels` (`kind="encoded"`); `None` without one.
pub fn sample(text: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.contains(metric))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// How many gateway dispatches of `kind` the bot at `addr` has read (over
/// every shard).
pub async fn gateway_events(addr: &str, kind: &str) -> Option<u64> {
    let text = metrics(addr).await?;
    let label = format!("\"{kind}\"");
    Some(
        text.lines()
            .filter(|l| !l.starts_with('#') && l.contains("gateway_events") && l.contains(&label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64,
    )
}

/// Returns once the process used under 2% of a core for a whole second.
pub async fn quiet(pid: u32) {
    loop {
        let before = cpu_seconds_of(pid);
        tokio::time::sleep(Duration::from_secs(1)).await;
        if cpu_seconds_of(pid) - before < 0.02 {
            return;
        }
    }
}

/// Waits until the bot at `addr` has read `guilds` GUILD_CREATEs and
/// `chunks` member chunks (within 10 minutes), then until its CPU is quiet;
/// how long the reading took.
pub async fn read_by_bot(addr: &str, pid: u32, guilds: u64, chunks: u64) -> Duration {
    let began = Instant::now();
    while gateway_events(addr, "GUILD_CREATE").await.unwrap_or(0) < guilds
        || gateway_events(addr, "GUILD_MEMBERS_CHUNK")
            .await
            .unwrap_or(0)
            < chunks
    {
        assert!(
            began.elapsed() < Duration::from_secs(600),
            "the bot never read every guild and chunk"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let read = began.elapsed();
    quiet(pid).await;
    read
}

/// A plain viewer's socket.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text frame (pings and the like skipped); panics if the
/// connection ends first.
pub async fn next_text(ws: &mut Ws) -> String {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return t.to_string(),
            Some(Ok(_)) => continue,
            other => panic!("connection ended: {other:?}"),
        }
    }
}

//! Soak: a d-back process under 1,000 churning clients and steady
//! broadcasts for a long while, watched from outside.
//!
//! ```text
//! cargo build --release
//! cargo run --release -p d-back-bench --bin soak -- --minutes 10
//! ```
//!
//! It starts `target/release/d-back` (or `$D_BACK_BIN`) on a free port with
//! mock traffic on, keeps `--clients` connections cycling (connect, join a
//! random server, read for 2-30 s, sometimes re-join, leave by close frame
//! or by dropping the socket), has a bot broadcast chat and presence to
//! every mock server through `POST /api/broadcast`, and every 30 s prints
//! the server's RSS (from /proc) and its own counts (`GET /api/stats`).
//! At the end it stops the clients and reports RSS at start and end, the
//! errors seen, and the sessions still registered (expected: 0).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "soak-token";
const GUILDS: [&str; 3] = [
    "232769614004748288",
    "482241773318701056",
    "987654321098765432",
];
const IDS: [&str; 3] = ["dworld", "docs", "repos"];

#[derive(Default)]
struct Counts {
    sessions: AtomicU64,
    frames: AtomicU64,
    errors: AtomicU64,
    broadcasts: AtomicU64,
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

async fn http(addr: &str, request: String) -> std::io::Result<String> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(request.as_bytes()).await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    Ok(out.split("\r\n\r\n").nth(1).unwrap_or_default().to_string())
}

async fn stats(addr: &str) -> String {
    let req = format!("GET /api/stats HTTP/1.1\r\nHost: s\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n");
    http(addr, req)
        .await
        .unwrap_or_else(|e| format!("error: {e}"))
}

async fn publish(addr: &str, body: String) -> std::io::Result<String> {
    let req = format!(
        "POST /api/broadcast HTTP/1.1\r\nHost: s\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    http(addr, req).await
}

/// One client slot: connect, join, read a while, leave; again until stopped.
async fn client_loop(addr: String, stop: Arc<AtomicBool>, counts: Arc<Counts>) {
    while !stop.load(Ordering::Relaxed) {
        let (server, stay, rejoin, polite) = {
            let mut rng = rand::thread_rng();
            (
                rng.gen_range(0..IDS.len()),
                Duration::from_millis(rng.gen_range(2_000..30_000)),
                rng.gen_bool(0.2),
                rng.gen_bool(0.5),
            )
        };
        let Ok((mut ws, _)) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await
        else {
            counts.errors.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        counts.sessions.fetch_add(1, Ordering::Relaxed);
        let join = format!(
            r#"{{"type":"connect","data":{{"server":"{}"}}}}"#,
            IDS[server]
        );
        if ws.send(Message::text(join)).await.is_err() {
            counts.errors.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let deadline = tokio::time::Instant::now() + stay;
        let mut rejoined = !rejoin;
        loop {
            match tokio::time::timeout_at(deadline, ws.next()).await {
                Err(_) => break,
                Ok(Some(Ok(Message::Text(t)))) => {
                    counts.frames.fetch_add(1, Ordering::Relaxed);
                    if t.contains(r#""type":"error""#) {
                        counts.errors.fetch_add(1, Ordering::Relaxed);
                    }
                    if !rejoined && t.contains("server-join") {
                        rejoined = true;
                        let other = format!(
                            r#"{{"type":"connect","data":{{"server":"{}"}}}}"#,
                            IDS[(server + 1) % 3]
                        );
                        let _ = ws.send(Message::text(other)).await;
                    }
                }
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(_)) | None) => {
                    counts.errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
        if polite {
            let _ = ws.close(None).await;
        }
    }
}

#[tokio::main]
async fn main() {
    let minutes = arg("--minutes", 10);
    let clients = arg("--clients", 1000);
    let _ = d_back::raise_open_files_limit();
    let bin = std::env::var("D_BACK_BIN").unwrap_or_else(|_| "target/release/d-back".into());
    let mut child = tokio::process::Command::new(&bin)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--publish-token",
            TOKEN,
        ])
        .args(["--max-connections-per-ip", "100000"])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e} (run cargo build --release first)"));
    let pid = child.id().expect("pid");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .await
        .unwrap();
    let addr = line
        .trim()
        .trim_start_matches("d-back listening on http://")
        .to_string();
    let rss_start = rss_kb(pid);
    println!("soak: {clients} clients for {minutes} min against pid {pid} at {addr}; RSS at start {rss_start} KB");

    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let mut tasks = Vec::new();
    for i in 0..clients {
        tasks.push(tokio::spawn(client_loop(
            addr.clone(),
            stop.clone(),
            counts.clone(),
        )));
        if i % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let bot = {
        let (addr, stop, counts) = (addr.clone(), stop.clone(), counts.clone());
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let guild = GUILDS[(n % 3) as usize];
                let body = if n % 2 == 0 {
                    format!(
                        r#"{{"type":"message","server":"{guild}","data":{{"uid":"soak","message":"tick {n}","channel":"soak"}}}}"#
                    )
                } else {
                    format!(
                        r##"{{"type":"presence","server":"{guild}","data":{{"uid":"soak{}","status":"online","username":"Soaker","roleColor":"#336699"}}}}"##,
                        n % 50
                    )
                };
                match publish(&addr, body).await {
                    Ok(r) if r.contains("delivered") => {
                        counts.broadcasts.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        counts.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let start = Instant::now();
    let end = Duration::from_secs(minutes * 60);
    while start.elapsed() < end {
        tokio::time::sleep(Duration::from_secs(30).min(end.saturating_sub(start.elapsed()))).await;
        println!(
            "t={:>4}s rss={} KB stats={} sessions_opened={} frames={} broadcasts={} errors={}",
            start.elapsed().as_secs(),
            rss_kb(pid),
            stats(&addr).await,
            counts.sessions.load(Ordering::Relaxed),
            counts.frames.load(Ordering::Relaxed),
            counts.broadcasts.load(Ordering::Relaxed),
            counts.errors.load(Ordering::Relaxed)
        );
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let _ = bot.await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let final_stats = stats(&addr).await;
    println!("--- soak result ---");
    println!(
        "duration: {} s, clients: {clients}",
        start.elapsed().as_secs()
    );
    println!("RSS start: {rss_start} KB, RSS end: {} KB", rss_kb(pid));
    println!(
        "sessions opened: {}, frames received: {}, broadcasts: {}, errors: {}",
        counts.sessions.load(Ordering::Relaxed),
        counts.frames.load(Ordering::Relaxed),
        counts.broadcasts.load(Ordering::Relaxed),
        counts.errors.load(Ordering::Relaxed)
    );
    println!("registered at end: {final_stats}");
    let _ = child.kill().await;
}

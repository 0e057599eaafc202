//! Fan-out through Redis against one instance, in the same run: the same
//! load (N viewers of one guild, chat broadcasts `t=<unix micros> seq=<n>`
//! POSTed at `--rate` per second to `POST /api/broadcast`) against
//!
//! 1. one d-back (no Redis), all viewers on it;
//! 2. two d-backs joined by a `redis-server` started here, the viewers split
//!    between them, every broadcast posted to the first.
//!
//! Servers, Redis and the load generators are child processes (the release
//! `d-back` and `loadgen` binaries); the loadgens' file protocol (start,
//! sent, done) paces the run. Prints delivered/s, p99 and loss of both.
//!
//! ```text
//! cargo build --release -p d-back --bin d-back -p d-back-bench --bin loadgen --bin redis_fanout
//! target/release/redis_fanout --clients 1000 --rate 100 --duration 5
//! ```

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Parser, Debug)]
#[command(about = "d-back fan-out: one instance vs two joined by Redis")]
struct Args {
    /// Viewers in all (split evenly between the two instances).
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Broadcasts per second.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Seconds of broadcasting per phase.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    #[arg(long, default_value = "target/release/d-back")]
    server: PathBuf,
    #[arg(long, default_value = "target/release/loadgen")]
    loadgen: PathBuf,
    #[arg(long, default_value = "/usr/bin/redis-server")]
    redis_server: PathBuf,
    /// Worker threads of each loadgen.
    #[arg(long, default_value_t = 1)]
    loadgen_threads: usize,
}

const DWORLD: &str = "232769614004748288";
const TOKEN: &str = "bench";

/// Kills its process when dropped.
struct Kid(Child);

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start_redis(bin: &Path) -> (Kid, String) {
    let port = free_port();
    let kid = Kid(Command::new(bin)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server starts"));
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "redis-server did not listen"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (kid, format!("redis://127.0.0.1:{port}/"))
}

/// A d-back child on a free port; its address from its first stdout line.
fn start_server(bin: &Path, redis: Option<&str>) -> (Kid, SocketAddr) {
    let mut cmd = Command::new(bin);
    cmd.args(["--host", "127.0.0.1", "--port", "0", "--no-mock-traffic"])
        .args([
            "--max-connections-per-ip",
            "1000000",
            "--publish-token",
            TOKEN,
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped());
    if let Some(url) = redis {
        cmd.args(["--redis-url", url]);
    }
    let mut child = cmd.spawn().expect("d-back starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("d-back listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    (Kid(child), addr)
}

async fn until_ready(addr: SocketAddr) {
    let start = Instant::now();
    loop {
        if let Ok(mut s) = TcpStream::connect(addr).await {
            let _ = s
                .write_all(b"GET /readyz HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
                .await;
            let mut buf = Vec::new();
            let _ = s.read_to_end(&mut buf).await;
            if buf.starts_with(b"HTTP/1.1 200") {
                return;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{addr} never ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One loadgen child for `clients` viewers of `addr`, with its own start
/// and done files and the shared sent file.
fn start_loadgen(args: &Args, dir: &Path, name: &str, addr: SocketAddr, clients: usize) -> Child {
    Command::new(&args.loadgen)
        .args([
            "--url",
            &format!("ws://{addr}/ws"),
            "--clients",
            &clients.to_string(),
        ])
        .args(["--threads", &args.loadgen_threads.to_string()])
        .arg("--start-file")
        .arg(dir.join(format!("start-{name}")))
        .arg("--done-file")
        .arg(dir.join(format!("done-{name}")))
        .arg("--sent-file")
        .arg(dir.join("sent"))
        .args(["--duration", &(args.duration * 4.0 + 30.0).to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("loadgen starts")
}

async fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no {}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn unix_micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

/// POSTs `total` chat broadcasts to `addr` at `rate`, on one keep-alive
/// connection.
async fn post_all(addr: SocketAddr, rate: f64, total: u64) {
    let mut s = TcpStream::connect(addr).await.expect("connects");
    s.set_nodelay(true).unwrap();
    let t0 = tokio::time::Instant::now();
    let mut buf = vec![0u8; 4096];
    for seq in 0..total {
        tokio::time::sleep_until(t0 + Duration::from_secs_f64(seq as f64 / rate)).await;
        let body = serde_json::json!({"type": "message", "server": DWORLD, "data": {
            "uid": "123456789012345001", "message": format!("t={} seq={seq}", unix_micros()),
            "channel": "527964146659229701"}})
        .to_string();
        let req = format!(
            "POST /api/broadcast HTTP/1.1\r\nHost: b\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        // One small response per request: read until its body is complete.
        let mut got = Vec::new();
        loop {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "the server closed the publishing connection");
            got.extend_from_slice(&buf[..n]);
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if got.len() >= end + 4 + len {
                    assert!(head.starts_with("http/1.1 202"), "{head}");
                    break;
                }
            }
        }
    }
}

/// One phase: servers already running, viewers split over `targets`,
/// broadcasts posted to the first. Answers each loadgen's JSON report.
async fn phase(args: &Args, name: &str, targets: &[SocketAddr]) -> Vec<Value> {
    let dir = std::env::temp_dir().join(format!("redis-fanout-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for t in targets {
        until_ready(*t).await;
    }
    let share = args.clients / targets.len();
    let kids: Vec<Child> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| start_loadgen(args, &dir, &i.to_string(), *t, share))
        .collect();
    for i in 0..targets.len() {
        wait_for(&dir.join(format!("start-{i}"))).await;
    }
    let total = (args.rate * args.duration).round() as u64;
    post_all(targets[0], args.rate, total).await;
    let tmp = dir.join("sent.tmp");
    std::fs::write(&tmp, format!("{total}\n")).unwrap();
    std::fs::rename(&tmp, dir.join("sent")).unwrap();
    let mut reports = Vec::new();
    for kid in kids {
        let out = kid.wait_with_output().expect("loadgen ends");
        let text = String::from_utf8_lossy(&out.stdout);
        let last = text.lines().last().unwrap_or("{}");
        reports.push(serde_json::from_str(last).unwrap_or(Value::Null));
    }
    let _ = std::fs::remove_dir_all(&dir);
    reports
}

/// Totals of a phase: delivered/s and loss summed, the worst p50/p99/max.
fn row(name: &str, reports: &[Value]) -> String {
    let sum = |k: &str| {
        reports
            .iter()
            .map(|r| r[k].as_f64().unwrap_or(0.0))
            .sum::<f64>()
    };
    let worst = |k: &str| {
        reports
            .iter()
            .map(|r| r[k].as_f64().unwrap_or(f64::NAN))
            .fold(0.0, f64::max)
    };
    format!(
        "| {name} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.0} |",
        sum("connected"),
        sum("delivered"),
        sum("deliveries_per_s"),
        worst("latency_p50_ms"),
        worst("latency_p99_ms"),
        worst("latency_max_ms"),
        sum("loss"),
    )
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let _ = d_back::raise_open_files_limit();
    let one = {
        let (_a, a) = start_server(&args.server, None);
        phase(&args, "one", &[a]).await
    };
    let two = {
        let (_redis, url) = start_redis(&args.redis_server);
        let (_a, a) = start_server(&args.server, Some(&url));
        let (_b, b) = start_server(&args.server, Some(&url));
        phase(&args, "two", &[a, b]).await
    };
    println!(
        "{} viewers of one guild, {} broadcasts/s for {} s, posted to the first instance",
        args.clients, args.rate, args.duration
    );
    println!(
        "| setup | viewers joined | delivered | delivered/s | p50 ms | p99 ms | max ms | loss |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    println!("{}", row("one instance", &one));
    println!("{}", row("two instances + Redis", &two));
    println!("{}", serde_json::json!({ "one": one, "two": two }));
}

//! Discord scale benchmark: many viewers join one big guild at once.
//!
//! Starts the test suite's fake Discord (a real gateway and REST API on
//! 127.0.0.1) holding one guild of `--members` members, then the d-back
//! binary as a child process with `DISCORD_TOKEN` and the fake's URLs, waits
//! until the bot shows the whole guild, and has `--viewers` viewers connect
//! and join it, spread evenly over `--over-secs`. Prints join latency
//! percentiles and the server process's own CPU time and memory, read from
//! /proc so the clients and the fake are not counted.
//!
//! ```text
//! cargo build --release --bin d-back -p d-back
//! cargo run --release -p d-back-bench --bin discord_scale -- --viewers 1000 --members 10000
//! ```
//!
//! `--deflate` has every viewer offer permessage-deflate as Chromium does
//! (the test suite's compressing client), so the run shows what compressed
//! joins cost the server and how many bytes they move.
//!
//! The Python original has no gateway bot, so there is nothing of its to
//! compare here.

#[path = "../../../tests/common/fake_discord/mod.rs"]
mod fake_discord;

/// The test suite's permessage-deflate client.
#[path = "../../../tests/common/deflate.rs"]
#[allow(dead_code)]
mod deflate;

/// How long the compressing client waits for a frame.
const WAIT: Duration = Duration::from_secs(60);

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use d_back_bench::child::{free_port, next_text, spawn_bot, status_kib, Server, Ws};
use d_back_bench::driver::cpu_seconds_of as cpu_seconds;
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

use fake_discord::{member, FakeDiscord, FakeGuild, BOT_TOKEN};

const GUILD: &str = "500000000000000001";

#[derive(Parser)]
struct Args {
    /// The d-back binary to run.
    #[arg(long, default_value = "target/release/d-back")]
    server: PathBuf,
    #[arg(long, default_value_t = 1000)]
    viewers: u64,
    #[arg(long, default_value_t = 10_000)]
    members: u64,
    /// Joins start evenly spread over this many seconds.
    #[arg(long, default_value_t = 5.0)]
    over_secs: f64,
    /// Viewers negotiate permessage-deflate.
    #[arg(long)]
    deflate: bool,
}

fn big_guild(members: u64) -> FakeGuild {
    let mut g = FakeGuild::new(GUILD, "Big").channel("500000000000000002", "general");
    for i in 0..members {
        let uid = format!("{}", 600_000_000_000_000_000u64 + i);
        g = g.member(member(&uid, &format!("member{i}"), None, None, &[]));
        if i % 3 == 0 {
            g = g.presence(&uid, "online");
        }
    }
    g
}

fn start_server(args: &Args, fake: &FakeDiscord, port: u16) -> Server {
    let discord = (&*fake.gateway_url(), &*fake.api_url(), BOT_TOKEN);
    let cap = (args.viewers + 10).to_string();
    spawn_bot(
        &args.server,
        port,
        discord,
        &["--no-mock-traffic", "--max-connections-per-ip", &cap],
    )
}

/// Connects and joins the big guild; the `server-join` frame's length.
async fn join(url: &str) -> (Ws, usize) {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let list = next_text(&mut ws).await;
    assert!(list.starts_with(r#"{"type":"server-list""#), "{list:.80}");
    // The short id d-back derives from the guild's name.
    let connect = r#"{"type":"connect","data":{"server":"big"}}"#;
    ws.send(Message::Text(connect.into())).await.expect("send");
    let joined = next_text(&mut ws).await;
    assert!(
        joined.starts_with(r#"{"type":"server-join""#),
        "{joined:.80}"
    );
    (ws, joined.len())
}

/// A viewer of either kind, kept open until the end.
enum Viewer {
    Plain(Box<Ws>),
    Deflate(Box<deflate::DeflateWs>),
}

/// Connects with the Chromium offer and joins; the `server-join` frame's
/// bytes on the wire and its JSON's length.
async fn join_deflate(url: &str) -> (Viewer, usize, usize) {
    let addr = url
        .trim_start_matches("ws://")
        .trim_end_matches("/ws")
        .parse()
        .expect("an address");
    let mut ws = deflate::DeflateWs::browser(addr, "/ws").await;
    let (_, list) = ws.next_message().await.expect("server list");
    assert!(list.starts_with(br#"{"type":"server-list""#));
    ws.send_message(1, br#"{"type":"connect","data":{"server":"big"}}"#)
        .await;
    let frame = ws.next_frame().await.expect("server join");
    assert!(frame.rsv1, "the join comes compressed");
    let wire = frame.payload.len() + if frame.payload.len() > 65535 { 10 } else { 4 };
    let json = deflate::inflate(&frame.payload);
    assert!(json.starts_with(br#"{"type":"server-join""#));
    (Viewer::Deflate(Box::new(ws)), wire, json.len())
}

/// Waits until a join shows every member (the bot has the whole guild).
async fn wait_for_guild(url: &str, members: u64) {
    let began = Instant::now();
    loop {
        if tokio::net::TcpStream::connect(url.trim_start_matches("ws://").trim_end_matches("/ws"))
            .await
            .is_ok()
        {
            let (mut ws, _) = tokio_tungstenite::connect_async(url)
                .await
                .expect("connect");
            let list = next_text(&mut ws).await;
            if list.contains(GUILD) {
                drop(ws);
                let (_, len) = join(url).await;
                // Each member's entry is well over 50 bytes.
                if len as u64 > members * 50 {
                    return;
                }
            }
        }
        assert!(
            began.elapsed() < Duration::from_secs(60),
            "the bot never showed the guild"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args = Args::parse();
    let fake = FakeDiscord::start(vec![big_guild(args.members)]);
    let port = free_port();
    let server = start_server(&args, &fake, port);
    let pid = server.0.id();
    let url = format!("ws://127.0.0.1:{port}/ws");
    wait_for_guild(&url, args.members).await;
    let rss0 = status_kib(pid, "VmRSS");
    let cpu0 = cpu_seconds(pid);
    let began = Instant::now();
    let gap = Duration::from_secs_f64(args.over_secs / args.viewers as f64);
    let mut tasks = Vec::new();
    let deflate = args.deflate;
    for i in 0..args.viewers {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(gap * i as u32).await;
            let t = Instant::now();
            let (ws, wire, json) = if deflate {
                join_deflate(&url).await
            } else {
                let (ws, len) = join(&url).await;
                // The frame's header: 10 bytes past 64 KiB.
                (Viewer::Plain(Box::new(ws)), len + 10, len)
            };
            (t.elapsed(), ws, wire, json)
        }));
    }
    let mut lat = Vec::new();
    let mut clients = Vec::new();
    let (mut bytes, mut json_bytes) = (0, 0);
    for t in tasks {
        let (d, ws, wire, json) = t.await.expect("a viewer");
        lat.push(d);
        clients.push(ws);
        bytes += wire;
        json_bytes += json;
    }
    let total = began.elapsed();
    let cpu = cpu_seconds(pid) - cpu0;
    let (rss, hwm) = (status_kib(pid, "VmRSS"), status_kib(pid, "VmHWM"));
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "discord-scale: {} viewers joined a {}-member guild in {:.2} s (joins spread over {} s); \
         join latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; server-join frames: {:.1} MiB on the wire, \
         {:.1} MiB of JSON ({})",
        lat.len(),
        args.members,
        total.as_secs_f64(),
        args.over_secs,
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(lat[lat.len() - 1]),
        bytes as f64 / 1048576.0,
        json_bytes as f64 / 1048576.0,
        if args.deflate {
            "permessage-deflate"
        } else {
            "uncompressed"
        },
    );
    println!(
        "discord-scale: server CPU {cpu:.2} s; server RSS {:.1} MiB before, {:.1} MiB with every viewer joined, peak {:.1} MiB",
        rss0 as f64 / 1024.0,
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0,
    );
    for viewer in clients {
        match viewer {
            Viewer::Plain(ws) => {
                let mut ws = *ws;
                let _ = ws.close(None).await;
            }
            Viewer::Deflate(mut ws) => ws.send_close(Some(1000)).await,
        }
    }
    drop(server);
}

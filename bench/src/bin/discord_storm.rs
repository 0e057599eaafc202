//! Discord storm benchmark: presence storms and bulk changes in a big guild
//! through the built-in bot, with every viewer's final scene checked
//! against the truth.
//!
//! Starts the test suite's fake Discord holding one guild of `--members`
//! members (`--online-pct` of them online), then the d-back binary as a
//! child process against it (the guild's offline members hidden, as d-zone
//! advises for big servers), and runs two phases:
//!
//! * **storm**: `--steady` viewers stay joined while the fake dispatches
//!   `--rate` PRESENCE_UPDATEs a second for `--secs` seconds (random online
//!   members, random online/idle/dnd) and `--joins-per-sec` more viewers
//!   join. Prints the server's CPU (cores), join p50/p99, bytes per viewer,
//!   viewers evicted, and how many viewers end with a wrong scene.
//! * **catch-up**: `--catchup` members change status while the bot's
//!   session is invalidated (a fresh session, op 9, not resumable); the new
//!   session's GUILD_CREATE carries the changes, which the bot diffs into
//!   presences. Prints bytes per viewer, evictions, wrong scenes and when
//!   the last viewer got its last update. `--secs 0` runs it alone.
//!
//! ```text
//! cargo build --release --bin d-back -p d-back
//! cargo run --release -p d-back-bench --bin discord_storm -- --server target/release/d-back
//! ```
//!
//! Viewers read as fast as they can and close like a browser when done.
//! `--deflate` has them offer permessage-deflate as Chromium does, so
//! joins and broadcasts go out compressed and the server's CPU includes
//! compressing them.

#[path = "../../../tests/common/fake_discord/mod.rs"]
mod fake_discord;

/// The test suite's permessage-deflate client (`--deflate`).
#[path = "../../../tests/common/deflate.rs"]
#[allow(dead_code)]
mod deflate;

/// How long the compressing client waits for a frame.
const WAIT: Duration = Duration::from_secs(60);

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use d_back_bench::child::{free_port, metrics, read_by_bot, sample, spawn_bot, Server};
use d_back_bench::driver::cpu_seconds_of as cpu_seconds;
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use fake_discord::{member, presence, FakeDiscord, FakeGuild, BOT_TOKEN};

const GUILD: &str = "500000000000000001";

#[derive(Parser)]
struct Args {
    /// The d-back binary to run.
    #[arg(long, default_value = "target/release/d-back")]
    server: PathBuf,
    #[arg(long, default_value_t = 100_000)]
    members: usize,
    #[arg(long, default_value_t = 10)]
    online_pct: usize,
    /// Presence updates a second during the storm.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    #[arg(long, default_value_t = 15)]
    secs: u64,
    /// Viewers joined before the storm.
    #[arg(long, default_value_t = 20)]
    steady: usize,
    #[arg(long, default_value_t = 10)]
    joins_per_sec: u64,
    /// Members changed behind a fresh session in the catch-up phase (0: no
    /// catch-up phase).
    #[arg(long, default_value_t = 30_000)]
    catchup: usize,
    /// Viewers of the catch-up phase.
    #[arg(long, default_value_t = 20)]
    catchup_viewers: usize,
    /// Viewers negotiate permessage-deflate, as Chromium does.
    #[arg(long)]
    deflate: bool,
}

/// Whether viewers offer permessage-deflate (`--deflate`), set once.
static DEFLATE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Each member's status as the fake last told it (online members only:
/// the guild hides its offline ones).
type Truth = Arc<Mutex<HashMap<String, String>>>;

fn uid(i: usize) -> String {
    format!("{}", 600_000_000_000_000_000u64 + i as u64)
}

fn guild(args: &Args, statuses: &HashMap<String, String>) -> FakeGuild {
    let mut g = FakeGuild::new(GUILD, "big").channel("510000000000000001", "general");
    for i in 0..args.members {
        let id = uid(i);
        g = g.member(member(&id, &format!("member{i}"), None, None, &[]));
        if let Some(s) = statuses.get(&id) {
            g = g.presence(&id, s);
        }
    }
    g
}

fn start_server(args: &Args, fake: &FakeDiscord, port: u16, dir: &std::path::Path) -> Server {
    // The guild's offline members hidden, as for any big server.
    let config = dir.join("d-back.toml");
    std::fs::write(
        &config,
        format!("[[discord.servers]]\nid = \"{GUILD}\"\nhide_offline = true\n"),
    )
    .expect("config written");
    let discord = (&*fake.gateway_url(), &*fake.api_url(), BOT_TOKEN);
    let config = config.to_string_lossy();
    spawn_bot(&args.server, port, discord, &["--config", &config])
}

/// A viewer: its scene from its join on, and what it cost.
struct Viewer {
    scene: HashMap<String, String>,
    bytes: u64,
    evicted: bool,
    /// When its last data frame came.
    last: Instant,
}

/// A viewer's socket: plain, or compressing as Chromium's (`--deflate`).
enum Sock {
    Plain(Box<Ws>),
    Deflate(Box<deflate::DeflateWs>),
}

impl Sock {
    async fn connect(url: &str) -> Option<Sock> {
        if DEFLATE.load(Ordering::Relaxed) {
            let addr = url
                .strip_prefix("ws://")?
                .strip_suffix("/ws")?
                .parse()
                .ok()?;
            // The client panics on a refused connection; the server may not
            // listen yet.
            tokio::net::TcpStream::connect(addr).await.ok()?;
            return Some(Sock::Deflate(Box::new(
                deflate::DeflateWs::browser(addr, "/ws").await,
            )));
        }
        let (ws, _) = tokio_tungstenite::connect_async(url).await.ok()?;
        Some(Sock::Plain(Box::new(ws)))
    }

    async fn send(&mut self, text: &str) -> Option<()> {
        match self {
            Sock::Plain(ws) => ws.send(Message::text(text)).await.ok(),
            Sock::Deflate(ws) => {
                ws.send_message(1, text.as_bytes()).await;
                Some(())
            }
        }
    }

    /// The next text message (inflated); `None` at a Close or EOF.
    async fn next_text(&mut self) -> Option<String> {
        match self {
            Sock::Plain(ws) => next_text(ws).await,
            Sock::Deflate(ws) => {
                let (_, data) = ws.next_message().await?;
                String::from_utf8(data).ok()
            }
        }
    }

    /// Closes like a browser: Close, the server's Close, EOF.
    async fn close(self) {
        match self {
            Sock::Plain(ws) => {
                let mut ws = *ws;
                let _ = ws.close(None).await;
                while let Some(Ok(_)) = ws.next().await {}
            }
            Sock::Deflate(mut ws) => {
                ws.send_close(Some(1000)).await;
                let _ = ws.recv_close().await;
                while ws.next_frame().await.is_some() {}
            }
        }
    }
}

/// Joins the guild; the socket, the scene of the join, its bytes and the
/// join's latency.
async fn join(url: &str) -> Option<(Sock, HashMap<String, String>, u64, Duration)> {
    let t = Instant::now();
    let mut ws = Sock::connect(url).await?;
    ws.next_text().await?; // the server list
    ws.send(r#"{"type":"connect","data":{"server":"big"}}"#)
        .await?;
    let joined = ws.next_text().await?;
    let took = t.elapsed();
    let v: Value = serde_json::from_str(&joined).ok()?;
    let scene = v["data"]["users"]
        .as_object()?
        .iter()
        .map(|(uid, u)| (uid.clone(), u["status"].as_str().unwrap_or("").to_string()))
        .collect();
    Some((ws, scene, joined.len() as u64, took))
}

async fn next_text(ws: &mut Ws) -> Option<String> {
    loop {
        match ws.next().await? {
            Ok(Message::Text(t)) => return Some(t.to_string()),
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            _ => return None,
        }
    }
}

/// Reads presences into the scene until `quiet` passes with nothing, then
/// closes like a browser (Close, the server's Close, EOF).
async fn watch(ws: Sock, scene: HashMap<String, String>, quiet: Arc<AtomicU64>) -> Viewer {
    watch_for(ws, scene, quiet, false).await
}

/// [`watch`]; with `first`, the quiet spell only counts once a data frame
/// came (a bulk change may take a while to start), within 3 minutes.
async fn watch_for(
    mut ws: Sock,
    mut scene: HashMap<String, String>,
    quiet: Arc<AtomicU64>,
    first: bool,
) -> Viewer {
    let mut bytes = 0;
    let started = Instant::now();
    let mut last = Instant::now();
    let mut got_any = false;
    loop {
        // Until told how long a quiet spell (no data frame; pings do not
        // count) ends it, wait in seconds.
        let q = quiet.load(Ordering::Relaxed);
        let counting = !first || got_any || started.elapsed() > Duration::from_secs(180);
        if q != u64::MAX && counting && last.elapsed() >= Duration::from_millis(q) {
            break;
        }
        let next = match tokio::time::timeout(Duration::from_millis(200), ws.next_text()).await {
            Err(_) => continue,
            Ok(next) => next,
        };
        let text = match next {
            Some(t) => t,
            None => {
                return Viewer {
                    scene,
                    bytes,
                    evicted: true,
                    last,
                }
            }
        };
        last = Instant::now();
        got_any = true;
        bytes += text.len() as u64;
        let f: Value = serde_json::from_str(&text).unwrap_or_default();
        if f["type"] != "presence" {
            continue;
        }
        let d = &f["data"];
        let uid = d["uid"].as_str().unwrap_or("").to_string();
        if d["delete"] == true {
            scene.remove(&uid);
        } else {
            scene.insert(uid, d["status"].as_str().unwrap_or("").to_string());
        }
    }
    ws.close().await;
    Viewer {
        scene,
        bytes,
        evicted: false,
        last,
    }
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// Viewers whose scene differs from the truth, and the members they differ in.
fn wrong(viewers: &[Viewer], truth: &HashMap<String, String>) -> (usize, usize) {
    let mut n = 0;
    let mut members = 0;
    for v in viewers.iter().filter(|v| !v.evicted) {
        let differ = truth
            .iter()
            .filter(|(k, s)| v.scene.get(*k) != Some(s))
            .count()
            + v.scene.keys().filter(|k| !truth.contains_key(*k)).count();
        if differ > 0 {
            n += 1;
            members += differ;
        }
    }
    (n, members)
}

async fn wait_for_guild(url: &str, online: usize) {
    let began = Instant::now();
    loop {
        if let Some((_, scene, _, _)) = join(url).await {
            if scene.len() >= online {
                return;
            }
        }
        assert!(
            began.elapsed() < Duration::from_secs(300),
            "the bot never showed the guild"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args = Args::parse();
    DEFLATE.store(args.deflate, Ordering::Relaxed);
    let online = args.members * args.online_pct / 100;
    let truth: Truth = Arc::new(Mutex::new(
        (0..online)
            .map(|i| (uid(i), "online".to_string()))
            .collect(),
    ));
    let fake = FakeDiscord::start(vec![guild(&args, &truth.lock().unwrap())]);
    let dir = std::env::temp_dir().join(format!("discord-storm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let server = start_server(&args, &fake, port, &dir);
    let pid = server.pid();
    let addr = format!("127.0.0.1:{port}");
    let url = format!("ws://{addr}/ws");
    let ready = Instant::now();
    wait_for_guild(&url, online).await;
    let shown = ready.elapsed();
    // The storm starts once every member chunk was read and the bot is idle
    // (a guild whose GUILD_CREATE lists every member has no chunks).
    let chunks = if online < args.members {
        args.members.div_ceil(1000) as u64
    } else {
        0
    };
    read_by_bot(&addr, pid, 1, chunks).await;
    let loaded = ready.elapsed();
    println!(
        "discord-storm: {} ({}): {} members, {online} online, shown after {:.1} s, every member read after {:.1} s",
        args.server.display(),
        std::fs::metadata(&args.server).map_or(0, |m| m.len()),
        args.members,
        shown.as_secs_f64(),
        loaded.as_secs_f64(),
    );

    if args.secs > 0 {
        storm(&args, &fake, &truth, &url, pid, online).await;
    }
    if args.catchup > 0 {
        catch_up(&args, &fake, &truth, &url, pid, online).await;
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The join lists made so far (`dback_join_lists_total`: encoded,
/// compressed) by the server of the socket at `url`; `None` from a server
/// without that metric.
async fn lists_made(url: &str) -> Option<(u64, u64)> {
    let addr = url.trim_start_matches("ws://").trim_end_matches("/ws");
    let text = metrics(addr).await?;
    let count = |kind: &str| sample(&text, "join_lists_total", &[&format!("\"{kind}\"")]);
    text.contains("join_lists").then(|| {
        (
            count("encoded").unwrap_or(0.0) as u64,
            count("compressed").unwrap_or(0.0) as u64,
        )
    })
}

/// The storm phase: steady viewers, then presences and joins.
async fn storm(args: &Args, fake: &FakeDiscord, truth: &Truth, url: &str, pid: u32, online: usize) {
    let url = url.to_string();
    let quiet = Arc::new(AtomicU64::new(u64::MAX));
    let mut watchers = Vec::new();
    let mut join_lat = Vec::new();
    let mut join_bytes = 0;
    for _ in 0..args.steady {
        let (ws, scene, b, _) = join(&url).await.expect("a steady viewer joins");
        join_bytes = b;
        watchers.push(tokio::spawn(watch(ws, scene, quiet.clone())));
    }
    let cpu0 = cpu_seconds(pid);
    let made0 = lists_made(&url).await;
    let began = Instant::now();
    let storm = {
        let (truth, rate, secs) = (truth.clone(), args.rate, args.secs);
        let fake = fake.clone();
        tokio::spawn(async move {
            let statuses = ["online", "idle", "dnd"];
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            let per_tick = (rate / 100).max(1);
            let end = Instant::now() + Duration::from_secs(secs);
            while Instant::now() < end {
                tick.tick().await;
                let mut t = truth.lock().unwrap();
                let mut rng = rand::thread_rng();
                for _ in 0..per_tick {
                    let id = uid(rng.gen_range(0..online));
                    let s = statuses[rng.gen_range(0..statuses.len())];
                    t.insert(id.clone(), s.to_string());
                    fake.dispatch("PRESENCE_UPDATE", presence(&id, GUILD, s));
                }
            }
        })
    };
    let gap = Duration::from_secs_f64(1.0 / args.joins_per_sec as f64);
    let mut joiners = Vec::new();
    while began.elapsed() < Duration::from_secs(args.secs) {
        let (url, quiet) = (url.clone(), quiet.clone());
        joiners.push(tokio::spawn(async move {
            let (ws, scene, _, took) = join(&url).await?;
            Some((took, tokio::spawn(watch(ws, scene, quiet))))
        }));
        tokio::time::sleep(gap).await;
    }
    storm.await.unwrap();
    let storm_cpu = cpu_seconds(pid) - cpu0;
    let storm_secs = began.elapsed().as_secs_f64();
    let made = match (made0, lists_made(&url).await) {
        (Some((e0, c0)), Some((e1, c1))) => format!(
            "{:.1} list encodings/s, {:.1} compressions/s",
            (e1 - e0) as f64 / storm_secs,
            (c1 - c0) as f64 / storm_secs
        ),
        _ => "list encodings not counted by this server".to_string(),
    };
    for j in joiners {
        if let Some((took, w)) = j.await.unwrap() {
            join_lat.push(took);
            watchers.push(w);
        }
    }
    // Done when nothing has come for a second.
    quiet.store(1000, Ordering::Relaxed);
    let mut viewers = Vec::new();
    for w in watchers {
        viewers.push(w.await.unwrap());
    }
    join_lat.sort();
    let t = truth.lock().unwrap().clone();
    let (bad, bad_members) = wrong(&viewers, &t);
    let evicted = viewers.iter().filter(|v| v.evicted).count();
    let bytes: u64 = viewers.iter().map(|v| v.bytes).sum();
    println!(
        "discord-storm: storm {} presences/s for {} s, {} steady + {} joining viewers: server CPU {:.2} cores; \
         join p50 {:.1} ms, p99 {:.1} ms (a join is {:.2} MiB); {made}; {:.2} MiB of updates per viewer; \
         evicted {evicted}; wrong scenes {bad} of {} ({bad_members} members)",
        args.rate,
        args.secs,
        args.steady,
        join_lat.len(),
        storm_cpu / storm_secs,
        pct(&join_lat, 0.50),
        pct(&join_lat, 0.99),
        join_bytes as f64 / 1048576.0,
        bytes as f64 / viewers.len().max(1) as f64 / 1048576.0,
        viewers.len(),
    );
}

/// The catch-up phase: the changes happen while the bot's session is gone.
async fn catch_up(
    args: &Args,
    fake: &FakeDiscord,
    truth: &Truth,
    url: &str,
    pid: u32,
    online: usize,
) {
    {
        let quiet = Arc::new(AtomicU64::new(u64::MAX));
        let mut watchers = Vec::new();
        let mut join_bytes = 0;
        for _ in 0..args.catchup_viewers {
            let (ws, scene, b, _) = join(url).await.expect("a viewer joins");
            join_bytes = b;
            watchers.push(tokio::spawn(watch_for(ws, scene, quiet.clone(), true)));
        }
        let changed = {
            let mut t = truth.lock().unwrap();
            let mut rng = rand::thread_rng();
            let mut n = 0;
            for i in 0..online {
                if n == args.catchup {
                    break;
                }
                let id = uid(i);
                let now = t[&id].clone();
                let next = ["online", "idle", "dnd"]
                    .into_iter()
                    .filter(|s| *s != now)
                    .nth(rng.gen_range(0..2))
                    .unwrap();
                t.insert(id, next.to_string());
                n += 1;
            }
            fake.set_guild(guild(args, &t));
            n
        };
        let cpu0 = cpu_seconds(pid);
        let began = Instant::now();
        fake.invalidate_session(false);
        // The phase ends 3 s after the last update a viewer got (the fresh
        // session, its GUILD_CREATE and the diff may take a while).
        quiet.store(3_000, Ordering::Relaxed);
        let mut viewers = Vec::new();
        for w in watchers {
            viewers.push(w.await.unwrap());
        }
        let converge = viewers
            .iter()
            .map(|v| v.last.saturating_duration_since(began).as_secs_f64())
            .fold(0.0, f64::max);
        let t = truth.lock().unwrap().clone();
        let (bad, bad_members) = wrong(&viewers, &t);
        let evicted = viewers.iter().filter(|v| v.evicted).count();
        let bytes: u64 = viewers.iter().map(|v| v.bytes).sum();
        println!(
            "discord-storm: catch-up of {changed} changes to {} viewers: {:.2} MiB per viewer (a join is {:.2} MiB); \
             evicted {evicted}; wrong scenes {bad} ({bad_members} members); converged within {:.1} s; server CPU {:.2} s",
            viewers.len(),
            bytes as f64 / viewers.len().max(1) as f64 / 1048576.0,
            join_bytes as f64 / 1048576.0,
            converge,
            cpu_seconds(pid) - cpu0,
        );
    }
}

//! Discord shards benchmark: a bot in 3,000 guilds, and the gateway bytes
//! of a 100,000-member guild's member chunks with and without transport
//! compression.
//!
//! Both parts start the test suite's fake Discord (a real gateway and REST
//! API on 127.0.0.1, with Discord's rules at scale: a shard over 2,500
//! guilds is closed with 4011, one identify per bucket per 5 s, large
//! guilds without offline members, chunks of 1,000) and the d-back binary
//! as a child process, and measure from outside.
//!
//! * `guilds`: `--guilds` one-member guilds; `GET /gateway/bot` recommends
//!   `--recommend` shards (default: one per 1,000 guilds, as Discord does;
//!   `--recommend 1` is a stale recommendation, answered with 4011). Prints
//!   the shards started, the identifies and the time until a viewer's
//!   server list holds every guild.
//! * `chunks`: one guild of `--members` members, 10% online: the bot asks
//!   for the member list and the fake counts the GUILD_MEMBERS_CHUNK bytes
//!   it writes, once with zlib-stream transport compression (which d-back
//!   asks for) and once with the fake sending text; and the time until the
//!   last chunk is written. (Above `large_guild_members`, 10,000, a join
//!   shows the online members only, so a viewer cannot count them.)
//!
//! ```text
//! cargo build --release --bin d-back -p d-back
//! cargo run --release -p d-back-bench --bin discord_shards -- guilds
//! cargo run --release -p d-back-bench --bin discord_shards -- chunks
//! ```

#[path = "../../../tests/common/fake_discord/mod.rs"]
mod fake_discord;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use d_back_bench::child::{free_port, next_text, spawn_bot, Server};
use futures_util::SinkExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use fake_discord::{member, FakeDiscord, FakeGuild, Rules, BOT_TOKEN};

#[derive(Parser)]
struct Args {
    /// The d-back binary to run.
    #[arg(long, default_value = "target/release/d-back")]
    server: PathBuf,
    #[command(subcommand)]
    part: Part,
}

#[derive(Subcommand)]
enum Part {
    /// A bot in many guilds: shards and the time until every guild is listed.
    Guilds {
        #[arg(long, default_value_t = 3_000)]
        guilds: u64,
        /// What GET /gateway/bot recommends (default: one per 1,000 guilds).
        #[arg(long)]
        recommend: Option<u32>,
        /// Seconds between two identifies of one bucket (Discord: 5).
        #[arg(long, default_value_t = 5.0)]
        identify_secs: f64,
    },
    /// One big guild's member chunks, with and without transport compression.
    Chunks {
        #[arg(long, default_value_t = 100_000)]
        members: u64,
    },
}

fn start_server(server: &Path, fake: &FakeDiscord, port: u16) -> Server {
    let discord = (&*fake.gateway_url(), &*fake.api_url(), BOT_TOKEN);
    spawn_bot(server, port, discord, &["--no-mock-traffic"])
}

/// A viewer's server list, once the server listens.
async fn server_list(port: u16) -> Option<Value> {
    let url = format!("ws://127.0.0.1:{port}/ws");
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.ok()?;
    let list: Value = serde_json::from_str(&next_text(&mut ws).await).ok()?;
    let _ = ws.close(None).await;
    Some(list["data"].clone())
}

/// The users a join of `server` shows.
async fn joined_users(port: u16, server: &str) -> usize {
    let url = format!("ws://127.0.0.1:{port}/ws");
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(&url).await else {
        return 0;
    };
    next_text(&mut ws).await;
    let connect = format!(r#"{{"type":"connect","data":{{"server":"{server}"}}}}"#);
    if ws.send(Message::Text(connect)).await.is_err() {
        return 0;
    }
    let joined: Value = serde_json::from_str(&next_text(&mut ws).await).unwrap_or_default();
    let _ = ws.close(None).await;
    joined["data"]["users"].as_object().map_or(0, |u| u.len())
}

/// A guild id on shard `shard` of `total`, unique by `n`.
fn guild_id(n: u64) -> String {
    ((((1u64 << 20) + n) << 22) | n).to_string()
}

async fn guilds(server: &Path, n: u64, recommend: Option<u32>, identify_secs: f64) {
    let guilds: Vec<FakeGuild> = (0..n)
        .map(|i| {
            let id = guild_id(i);
            let uid = (700_000_000_000_000_000u64 + i).to_string();
            FakeGuild::new(&id, &format!("Guild {i}"))
                .member(member(&uid, "someone", None, None, &[]))
                .presence(&uid, "online")
        })
        .collect();
    let fake = FakeDiscord::with_rules(
        guilds,
        Rules {
            recommended_shards: recommend,
            identify_interval: Duration::from_secs_f64(identify_secs),
            member_request_window: Duration::from_secs(30),
            ..Rules::default()
        },
    );
    let port = free_port();
    let began = Instant::now();
    let server = start_server(server, &fake, port);
    let mut first_listed = None;
    loop {
        if let Some(list) = server_list(port).await {
            let have = list.as_object().map_or(0, |m| m.len()) as u64;
            if have > 0 && first_listed.is_none() {
                first_listed = Some(began.elapsed());
            }
            if have == n {
                break;
            }
        }
        assert!(
            began.elapsed() < Duration::from_secs(300),
            "never listed every guild"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all = began.elapsed();
    let refused = fake
        .identifies()
        .iter()
        .filter(|i| i["shard"][1].as_u64() != Some(u64::from(fake.shard_total())))
        .count();
    println!(
        "discord-shards guilds: {n} guilds; GET /gateway/bot asked {} time(s), recommending {}; \
         shards started {} ({} up); {} identifies ({} of an outgrown shard count, {} refused as too early); \
         first guild listed after {:.2} s, every guild listed after {:.2} s (identify pace {identify_secs} s per bucket)",
        fake.rest_count("/gateway/bot"),
        recommend.map_or("one per 1,000 guilds".to_string(), |r| r.to_string()),
        fake.shard_total(),
        fake.shards_up().len(),
        fake.identifies().len(),
        refused,
        fake.early_identifies(),
        first_listed.unwrap_or_default().as_secs_f64(),
        all.as_secs_f64(),
    );
    drop(server);
}

async fn chunks(server: &Path, members: u64) {
    for compress in [true, false] {
        let mut g = FakeGuild::new(&guild_id(1), "Big").channel("500000000000000002", "general");
        for i in 0..members {
            let uid = (600_000_000_000_000_000u64 + i).to_string();
            g = g.member(member(&uid, &format!("member{i}"), None, None, &[]));
            if i % 10 == 0 {
                g = g.presence(&uid, "online");
            }
        }
        let fake = FakeDiscord::with_rules(
            vec![g],
            Rules {
                transport_compression: compress,
                ..Rules::default()
            },
        );
        let port = free_port();
        let began = Instant::now();
        let server = start_server(server, &fake, port);
        fake.until("a member request", Duration::from_secs(60), |f| {
            !f.member_requests().is_empty()
        })
        .await;
        let asked = began.elapsed();
        let expected = members.div_ceil(1000);
        fake.until("every chunk written", Duration::from_secs(120), |f| {
            f.chunk_bytes().2 == expected
        })
        .await;
        let complete = began.elapsed();
        let online = joined_users(port, "big").await;
        let (wire, json, _) = fake.chunk_bytes();
        println!(
            "discord-shards chunks: {members}-member guild (10% online), transport compression {}: \
             {} GUILD_MEMBERS_CHUNK bytes on the wire ({:.1} MiB) for {} bytes of JSON ({:.1} MiB), {:.1}% ; \
             all gateway bytes {} ({:.1} MiB); member request after {:.2} s, last of {expected} chunks written after {:.2} s; \
             a join then shows {online} (online) members",
            if compress { "on (zlib-stream)" } else { "off (text)" },
            wire,
            wire as f64 / 1048576.0,
            json,
            json as f64 / 1048576.0,
            100.0 * wire as f64 / json.max(1) as f64,
            fake.gateway_bytes(),
            fake.gateway_bytes() as f64 / 1048576.0,
            asked.as_secs_f64(),
            complete.as_secs_f64(),
        );
        drop(server);
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args = Args::parse();
    match args.part {
        Part::Guilds {
            guilds: n,
            recommend,
            identify_secs,
        } => guilds(&args.server, n, recommend, identify_secs).await,
        Part::Chunks { members } => chunks(&args.server, members).await,
    }
}

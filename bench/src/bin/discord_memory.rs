//! Discord memory benchmark: the bytes the built-in bot's cache costs per
//! member, as the server process's resident memory shows it.
//!
//! For each `--server` binary (give several to compare them in one run),
//! starts the test suite's fake Discord with `--guilds` guilds sharing
//! `--members` members (a few coloured roles, some global names and
//! nicknames, `--online-pct` online), runs the binary against it with
//! `/metrics` on, and waits until the bot has read every member chunk and
//! its CPU has gone quiet. It reads VmRSS then (no viewers), joins one
//! viewer to every guild, and reads it again (with viewers: the joins'
//! cached lists). The same is done with one member per guild; the
//! difference divided by the members is the cost of a member.
//!
//! ```text
//! cargo build --release --bin d-back -p d-back
//! cargo run --release -p d-back-bench --bin discord_memory -- --server target/release/d-back
//! ```
//!
//! Guilds of up to 10,000 members show everyone (the default
//! `large_guild_members`), so every member is in a viewer's list; bigger
//! guilds show their online members only.

#[path = "../../../tests/common/fake_discord/mod.rs"]
mod fake_discord;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use d_back_bench::child::{free_port, read_by_bot, rss_kib, spawn_bot};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use fake_discord::{member, FakeDiscord, FakeGuild, BOT_TOKEN};

#[derive(Parser)]
struct Args {
    /// The d-back binaries to measure, in turn.
    #[arg(long, required = true)]
    server: Vec<PathBuf>,
    #[arg(long, default_value_t = 300_000)]
    members: u64,
    #[arg(long, default_value_t = 30)]
    guilds: u64,
    #[arg(long, default_value_t = 10)]
    online_pct: u64,
}

const ROLES: u64 = 8;

fn guild_id(g: u64) -> String {
    (500_000_000_000_000_000u64 + g).to_string()
}

fn role_id(g: u64, r: u64) -> String {
    (510_000_000_000_000_000u64 + g * 100 + r).to_string()
}

/// Guild `g` with `members` members: ids unique across guilds, one or two
/// of eight coloured roles each, every third with a global name, every
/// tenth with a nickname.
fn guild(g: u64, members: u64, online_pct: u64) -> FakeGuild {
    let mut fg = FakeGuild::new(&guild_id(g), &format!("Guild {g}"))
        .channel(&(520_000_000_000_000_000u64 + g).to_string(), "general");
    for r in 0..ROLES {
        fg = fg.role(
            &role_id(g, r),
            &format!("role{r}"),
            0x102030 * (r as u32 + 1),
            r as i64,
        );
    }
    for i in 0..members {
        let uid = (600_000_000_000_000_000u64 + g * 10_000_000 + i).to_string();
        let (r1, r2) = (role_id(g, i % ROLES), role_id(g, (i / ROLES) % ROLES));
        let roles: Vec<&str> = if i % 2 == 0 {
            vec![&r1]
        } else {
            vec![&r1, &r2]
        };
        let global = (i % 3 == 0).then(|| format!("Member {i}"));
        let nick = (i % 10 == 0).then(|| format!("nick{i}"));
        let username = format!("member{i}");
        fg = fg.member(member(
            &uid,
            &username,
            global.as_deref(),
            nick.as_deref(),
            &roles,
        ));
        if i % 100 < online_pct {
            fg = fg.presence(&uid, if i % 2 == 0 { "online" } else { "idle" });
        }
    }
    fg
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A viewer joined to guild `g`, and the users it was sent.
async fn join(port: u16, g: u64) -> (Ws, usize) {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws"))
        .await
        .expect("a viewer connects");
    let _list = ws.next().await;
    let msg = serde_json::json!({"type": "connect", "data": {"server": format!("guild-{g}")}});
    ws.send(Message::text(msg.to_string())).await.unwrap();
    loop {
        let Some(Ok(Message::Text(t))) = ws.next().await else {
            panic!("the join was not answered");
        };
        let v: serde_json::Value = serde_json::from_str(&t).unwrap();
        if v["type"] == "server-join" {
            let users = v["data"]["users"].as_object().map_or(0, |u| u.len());
            return (ws, users);
        }
    }
}

struct Reading {
    idle_kib: u64,
    viewers_kib: u64,
    listed: usize,
    loaded: Duration,
}

async fn measure(server: &std::path::Path, args: &Args, per_guild: u64) -> Reading {
    let guilds: Vec<FakeGuild> = (0..args.guilds)
        .map(|g| guild(g, per_guild, args.online_pct))
        .collect();
    let chunks: u64 = guilds
        .iter()
        .filter(|g| g.members.len() > 250)
        .map(|g| g.members.len().div_ceil(1000) as u64)
        .sum();
    let fake = FakeDiscord::start(guilds);
    let port = free_port();
    let discord = (&*fake.gateway_url(), &*fake.api_url(), BOT_TOKEN);
    let server = spawn_bot(server, port, discord, &[]);
    let pid = server.pid();
    let addr = format!("127.0.0.1:{port}");
    let loaded = read_by_bot(&addr, pid, args.guilds, chunks).await;
    let idle_kib = rss_kib(pid);
    let mut viewers = Vec::new();
    let mut listed = 0;
    for g in 0..args.guilds {
        let (ws, users) = join(port, g).await;
        listed += users;
        viewers.push(ws);
    }
    read_by_bot(&addr, pid, args.guilds, chunks).await;
    let viewers_kib = rss_kib(pid);
    for mut ws in viewers {
        let _ = ws.close(None).await;
        while let Some(Ok(_)) = ws.next().await {}
    }
    drop(server);
    Reading {
        idle_kib,
        viewers_kib,
        listed,
        loaded,
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let per_guild = args.members / args.guilds;
    let members = per_guild * args.guilds;
    for server in &args.server {
        let base = measure(server, &args, 1).await;
        let full = measure(server, &args, per_guild).await;
        let per =
            |a: u64, b: u64| (a.saturating_sub(b) * 1024) as f64 / (members - args.guilds) as f64;
        println!(
            "discord-memory: {}: {members} members in {} guilds ({} listed to one viewer each), read in {:.1} s; \
             VmRSS {:.1} MiB ({:.1} MiB with 1 member a guild), with viewers {:.1} MiB ({:.1}); \
             {:.0} bytes per member, {:.0} with viewers",
            server.display(),
            args.guilds,
            full.listed,
            full.loaded.as_secs_f64(),
            full.idle_kib as f64 / 1024.0,
            base.idle_kib as f64 / 1024.0,
            full.viewers_kib as f64 / 1024.0,
            base.viewers_kib as f64 / 1024.0,
            per(full.idle_kib, base.idle_kib),
            per(full.viewers_kib, base.viewers_kib),
        );
    }
}

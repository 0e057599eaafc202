//! The built-in bot with several gateway shards, against the fake Discord
//! with Discord's rules at scale (`Rules`): guilds on each shard, 4011,
//! member requests with nonce, timeout and RATE_LIMITED, each shard in
//! `/readyz` and `/metrics`. Real servers, real WebSockets, exact frames.

mod common;

use std::time::{Duration, Instant};

use common::fake_discord::*;
use common::redis_server::Redis;
use common::*;
use d_back::discord::{Discord, DiscordConfig};
use d_back::Config;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(15);

/// A guild id on shard `shard` of `total` (Discord routes by the id's
/// timestamp bits: `(id >> 22) % total`), made unique by `n`.
fn guild_on(shard: u64, total: u64, n: u64) -> String {
    (((1_000 * total + shard + n * total) << 22) | n).to_string()
}

/// A bare guild named after its id, for each id.
fn named(ids: &[String]) -> Vec<FakeGuild> {
    ids.iter()
        .map(|id| FakeGuild::new(id, &format!("G{id}")))
        .collect()
}

fn config(fake: &FakeDiscord) -> DiscordConfig {
    DiscordConfig {
        rest_timeout: Duration::from_millis(500),
        identify_interval: Duration::from_millis(50),
        ..fake.bot_config()
    }
}

/// Two instances of a bot split over shards 0..2 and 2..4 of 4 (`a`, `b`:
/// their settings), joined by `redis`.
fn split_pair(redis: &Redis, a: DiscordConfig, b: DiscordConfig) -> (TestServer, TestServer) {
    use d_back::config::DataSource;
    let (ca, cb) = (
        cluster_config(redis, DataSource::Local),
        cluster_config(redis, DataSource::Local),
    );
    (
        start_with(move |s| s.config(ca).discord(Discord::new(a).unwrap())),
        start_with(move |s| s.config(cb).discord(Discord::new(b).unwrap())),
    )
}

fn start_bot(cfg: DiscordConfig) -> TestServer {
    start_with(move |b| {
        b.config(Config {
            metrics: true,
            ..quiet()
        })
        .discord(Discord::new(cfg).expect("valid config"))
    })
}

async fn server_list(srv: &TestServer) -> Value {
    let mut c = srv.client_at("/ws").await;
    let list = c.recv_json().await;
    assert_eq!(list["type"], "server-list");
    list["data"].clone()
}

/// Waits until the server list holds exactly `ids`.
async fn until_listed(srv: &TestServer, ids: &[String]) {
    let start = Instant::now();
    loop {
        let list = server_list(srv).await;
        let mut have: Vec<String> = list.as_object().unwrap().keys().cloned().collect();
        have.sort();
        let mut want = ids.to_vec();
        want.sort();
        if have == want {
            return;
        }
        assert!(
            start.elapsed() < WAIT,
            "server list never had {want:?}: {list}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A guild of `n` members, the first `online` of them online.
fn big_guild(id: &str, name: &str, n: u64, online: u64) -> FakeGuild {
    let mut g = FakeGuild::new(id, name);
    for i in 0..n {
        let uid = (600_000_000_000_000_000u64 + i).to_string();
        g = g.member(member(&uid, &format!("m{i}"), None, None, &[]));
        if i < online {
            g = g.presence(&uid, "online");
        }
    }
    g
}

/// Joins `server` until its server-join lists `n` users.
async fn until_members(srv: &TestServer, server: &str, n: usize) -> Value {
    let start = Instant::now();
    loop {
        let mut c = srv.client().await;
        let j = c.join(server).await;
        // Before the guild is listed the join is refused; ask again.
        let have = j["data"]["users"].as_object().map_or(0, |u| u.len());
        if have == n {
            return j["data"]["users"].clone();
        }
        assert!(start.elapsed() < WAIT, "only {have} of {n} members: {j}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn get(srv: &TestServer, path: &str) -> (u16, String) {
    let (status, _, body) = http_get(srv.addr, path).await;
    (status, String::from_utf8(body).unwrap())
}

/// The value of one series in `/metrics` text (0 when absent).
fn series(text: &str, line_start: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Discord recommends 3 shards: the bot identifies each (`shard: [i, 3]`,
/// large_threshold 250), lists the guilds of all three, and sends the
/// member request of a large guild on shard 2 on shard 2, with a nonce;
/// a viewer then sees every member.
#[tokio::test]
async fn three_shards_list_every_guild_and_route_member_requests() {
    let ids: Vec<String> = (0..3).map(|s| guild_on(s, 3, 1)).collect();
    let big = guild_on(2, 3, 2);
    let mut guilds: Vec<FakeGuild> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| FakeGuild::new(id, &format!("Guild {i}")))
        .collect();
    guilds.push(big_guild(&big, "Big", 1_200, 10));
    let fake = FakeDiscord::with_rules(
        guilds,
        Rules {
            recommended_shards: Some(3),
            identify_interval: Duration::from_millis(50),
            ..Rules::default()
        },
    );
    let srv = start_bot(config(&fake));
    let mut all = ids.clone();
    all.push(big.clone());
    until_listed(&srv, &all).await;
    let mut shards: Vec<Value> = fake
        .identifies()
        .iter()
        .map(|i| i["shard"].clone())
        .collect();
    shards.sort_by_key(|s| s[0].as_u64());
    assert_eq!(shards, vec![json!([0, 3]), json!([1, 3]), json!([2, 3])]);
    assert!(fake
        .identifies()
        .iter()
        .all(|i| i["large_threshold"] == 250));
    assert_eq!(fake.early_identifies(), 0);
    let users = until_members(&srv, "big", 1_200).await;
    assert_eq!(users["600000000000000000"]["status"], "online");
    assert_eq!(users["600000000000001199"]["status"], "offline");
    let requests = fake.member_requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let (on, r) = &requests[0];
    assert_eq!(*on, 2);
    assert_eq!(r["d"]["guild_id"], big.as_str());
    assert_eq!(r["d"]["presences"], true);
    assert!(r["d"]["nonce"]
        .as_str()
        .is_some_and(|n| !n.is_empty() && n.len() <= 32));
}

/// One shard would hold more guilds than Discord allows: it is closed
/// with 4011; d-back reads /gateway/bot again, restarts with more shards,
/// lists every guild, and keeps serving.
#[tokio::test]
async fn sharding_required_restarts_with_more_shards() {
    // With 2 shards: two guilds on shard 0, one on shard 1.
    let ids = vec![guild_on(0, 2, 1), guild_on(0, 2, 2), guild_on(1, 2, 3)];
    let fake = FakeDiscord::with_rules(
        named(&ids),
        Rules {
            recommended_shards: Some(1),
            max_guilds_per_shard: 2,
            ..Rules::default()
        },
    );
    let srv = start_bot(config(&fake));
    until_listed(&srv, &ids).await;
    assert_eq!(fake.shard_total(), 2);
    assert!(fake.rest_count("/gateway/bot") >= 2);
    let first = &fake.identifies()[0];
    assert_eq!(first["shard"], json!([0, 1]));
    fake.until("both shards up", WAIT, |f| f.shards_up() == vec![0, 1])
        .await;
    // Still serving: a viewer joins a guild of each shard.
    let list = server_list(&srv).await;
    for id in [&ids[0], &ids[2]] {
        let short = list[id.as_str()]["id"].as_str().unwrap();
        let mut c = srv.client().await;
        let j = c.join(short).await;
        assert_eq!(j["type"], "server-join", "{j}");
    }
}

/// A member request that gets no chunk is sent again after the timeout,
/// with a new nonce. A viewer who joined while the list held only the
/// online members sees each other member arrive (one presence frame
/// each, offline, with name and colour); a later join lists every member.
#[tokio::test]
async fn a_lost_member_request_is_sent_again() {
    let big = guild_on(0, 1, 7);
    let fake = FakeDiscord::start(vec![big_guild(&big, "Big", 600, 5)]);
    fake.lose_member_requests(1);
    let cfg = DiscordConfig {
        member_request_timeout: Duration::from_millis(1_000),
        ..config(&fake)
    };
    let srv = start_bot(cfg);
    fake.until("the first request", WAIT, |f| {
        f.member_requests().len() == 1
    })
    .await;
    let mut viewer = srv.client().await;
    let j = viewer.join("big").await;
    assert_eq!(j["type"], "server-join", "{j}");
    let first: Vec<String> = j["data"]["users"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(first.len(), 5, "only the online members before the chunks");
    let mut arrived = std::collections::HashSet::new();
    while arrived.len() < 595 {
        let frame = tokio::time::timeout(WAIT, viewer.recv_json())
            .await
            .expect("the members arrive");
        assert_eq!(frame["type"], "presence", "{frame}");
        let d = &frame["data"];
        assert_eq!(d["status"], "offline", "{frame}");
        assert!(
            d["username"].as_str().is_some_and(|n| n.starts_with('m')),
            "{frame}"
        );
        let uid = d["uid"].as_str().unwrap().to_string();
        assert!(!first.contains(&uid), "{frame}");
        assert!(arrived.insert(uid), "a member came twice: {frame}");
    }
    until_members(&srv, "big", 600).await;
    let requests = fake.member_requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_ne!(requests[0].1["d"]["nonce"], requests[1].1["d"]["nonce"]);
}

/// A fresh session asks for a large guild's members again within
/// Discord's window: RATE_LIMITED, retried after `retry_after`; a viewer
/// joined meanwhile sees the members come back, and a later join sees
/// every member.
#[tokio::test]
async fn rate_limited_member_request_is_retried_after_retry_after() {
    let big = guild_on(0, 1, 9);
    let fake = FakeDiscord::with_rules(
        vec![big_guild(&big, "Big", 400, 4)],
        Rules {
            member_request_window: Duration::from_millis(1_500),
            ..Rules::default()
        },
    );
    let srv = start_bot(config(&fake));
    until_members(&srv, "big", 400).await;
    // A fresh session: GUILD_CREATE again without offline members.
    fake.invalidate_session(false);
    fake.until("a second request", WAIT, |f| f.member_requests().len() >= 2)
        .await;
    let asked = Instant::now();
    fake.until("the retry", WAIT, |f| f.member_requests().len() >= 3)
        .await;
    // Discord said to wait what was left of 1.5 s since the first request.
    assert!(
        asked.elapsed() >= Duration::from_millis(300),
        "{:?}",
        asked.elapsed()
    );
    until_members(&srv, "big", 400).await;
    let requests = fake.member_requests();
    assert_eq!(requests.len(), 3, "{requests:?}");
}

/// `/readyz` is ready when every shard is active and names a shard that
/// is not, listing every shard's state either way; `/metrics` has an up
/// gauge per shard and the shard count.
#[tokio::test]
async fn readyz_and_metrics_name_each_shard() {
    let ids = vec![guild_on(0, 2, 1), guild_on(1, 2, 2)];
    let fake = FakeDiscord::with_rules(
        named(&ids),
        Rules {
            recommended_shards: Some(2),
            ..Rules::default()
        },
    );
    let srv = start_bot(config(&fake));
    until_listed(&srv, &ids).await;
    let start = Instant::now();
    while get(&srv, "/readyz").await.0 != 200 {
        assert!(start.elapsed() < WAIT, "never ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, body) = get(&srv, "/readyz").await;
    assert_eq!(
        body,
        json!({"status": "ready", "shards": [
            {"shard": 0, "total": 2, "state": "active"},
            {"shard": 1, "total": 2, "state": "active"}
        ]})
        .to_string()
    );
    let (_, text) = get(&srv, "/metrics").await;
    assert_eq!(series(&text, "dback_discord_shards "), 2.0);
    assert_eq!(series(&text, "dback_discord_shard_up{shard=\"0\"}"), 1.0);
    assert_eq!(series(&text, "dback_discord_shard_up{shard=\"1\"}"), 1.0);
    assert_eq!(series(&text, "dback_discord_gateway_state "), 1.0);
    assert!(
        text.contains("dback_discord_gateway_events_total{type=\"READY\",shard=\"1\"} 1"),
        "{text}"
    );
    // Shard 1 drops and cannot resume: named in /readyz, down in /metrics.
    fake.hold_resumes();
    fake.close_shard(1, 4000);
    let start = Instant::now();
    loop {
        let (status, body) = get(&srv, "/readyz").await;
        if status == 503 {
            let v: Value = serde_json::from_str(&body).unwrap();
            let reason = v["reason"].as_str().unwrap();
            assert!(
                reason.starts_with("the Discord gateway is not connected: shard 1/2 "),
                "{reason}"
            );
            assert!(!reason.contains("shard 0/2"), "{reason}");
            assert_eq!(
                v["shards"][0],
                json!({"shard": 0, "total": 2, "state": "active"})
            );
            assert_eq!(v["shards"][1]["shard"], 1);
            assert_ne!(v["shards"][1]["state"], "active");
            break;
        }
        assert!(start.elapsed() < WAIT, "still ready");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (_, text) = get(&srv, "/metrics").await;
    assert_eq!(series(&text, "dback_discord_shard_up{shard=\"0\"}"), 1.0);
    assert_eq!(series(&text, "dback_discord_shard_up{shard=\"1\"}"), 0.0);
    assert_eq!(series(&text, "dback_discord_gateway_state "), 0.0);
}

/// One identify per bucket per interval: three shards in one bucket
/// under Discord's pace (here 300 ms) are never refused for coming early.
#[tokio::test]
async fn identifies_keep_the_pace_of_their_bucket() {
    let ids: Vec<String> = (0..3).map(|s| guild_on(s, 3, 4)).collect();
    let fake = FakeDiscord::with_rules(
        named(&ids),
        Rules {
            recommended_shards: Some(3),
            identify_interval: Duration::from_millis(300),
            ..Rules::default()
        },
    );
    let cfg = DiscordConfig {
        identify_interval: Duration::from_millis(300),
        ..config(&fake)
    };
    let started = Instant::now();
    let srv = start_bot(cfg);
    until_listed(&srv, &ids).await;
    assert!(started.elapsed() >= Duration::from_millis(600));
    assert_eq!(fake.identifies().len(), 3);
    assert_eq!(fake.early_identifies(), 0);
}

fn cluster_config(redis: &Redis, source: d_back::config::DataSource) -> Config {
    Config {
        redis_url: Some(redis.url()),
        source,
        snapshot_every: Duration::from_millis(200),
        ..quiet()
    }
}

/// A bot split over two instances (shards 0..2 and 2..4 of 4) sharing a
/// real Redis, and a `--source redis` viewer instance: the instances take
/// turns to identify (none refused for coming early in their one bucket),
/// every instance lists every guild and answers a join of each with its
/// members, and a presence on one instance's shard reaches a viewer of
/// that guild on the other.
#[tokio::test]
async fn two_instances_split_the_shards_and_serve_every_guild() {
    use d_back::config::DataSource;
    let redis = Redis::start();
    let ids: Vec<String> = (0..4).map(|s| guild_on(s, 4, 5)).collect();
    let uid = |i: usize| (700_000_000_000_000_000u64 + i as u64).to_string();
    let guilds = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            FakeGuild::new(id, &format!("Guild {i}"))
                .member(member(&uid(i), &format!("user{i}"), None, None, &[]))
                .presence(&uid(i), "online")
        })
        .collect();
    let fake = FakeDiscord::with_rules(
        guilds,
        Rules {
            recommended_shards: Some(4),
            identify_interval: Duration::from_millis(200),
            ..Rules::default()
        },
    );
    let half = |range: std::ops::Range<u32>| DiscordConfig {
        shard_range: Some(range),
        shard_total: Some(4),
        identify_interval: Duration::from_millis(200),
        ..config(&fake)
    };
    let (a, b) = split_pair(&redis, half(0..2), half(2..4));
    let cv = cluster_config(&redis, DataSource::Redis);
    let viewer = start_with(move |b| b.config(cv));
    for srv in [&a, &b, &viewer] {
        until_listed(srv, &ids).await;
    }
    let mut shards: Vec<u64> = fake
        .identifies()
        .iter()
        .map(|i| i["shard"][0].as_u64().unwrap())
        .collect();
    shards.sort();
    assert_eq!(shards, vec![0, 1, 2, 3]);
    assert!(fake.identifies().iter().all(|i| i["shard"][1] == 4));
    assert_eq!(fake.early_identifies(), 0);
    // Every guild joinable on every instance, with its member.
    let list = server_list(&viewer).await;
    for srv in [&a, &b, &viewer] {
        for (i, id) in ids.iter().enumerate() {
            let short = list[id.as_str()]["id"].as_str().unwrap().to_string();
            let start = Instant::now();
            loop {
                let mut c = srv.client().await;
                let j = c.join(&short).await;
                if j["data"]["users"][uid(i).as_str()]["status"] == "online" {
                    break;
                }
                assert!(start.elapsed() < WAIT, "{id} on an instance: {j}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    // A presence of a guild on B's shard 3 reaches a viewer of it on A.
    let short = list[ids[3].as_str()]["id"].as_str().unwrap().to_string();
    let mut c = a.client().await;
    assert_eq!(c.join(&short).await["type"], "server-join");
    a.until("joined", |h| h.joined_count() == 1).await;
    // The hub's subscription to the guild's channel is live once a
    // presence published after it arrives; publish until one does.
    let start = Instant::now();
    loop {
        fake.dispatch("PRESENCE_UPDATE", presence(&uid(3), &ids[3], "idle"));
        let got = tokio::time::timeout(Duration::from_millis(500), c.recv_json()).await;
        if let Ok(frame) = got {
            assert_eq!(
                frame,
                json!({"type": "presence", "server": ids[3], "data": {"uid": uid(3), "status": "idle"}})
            );
            break;
        }
        assert!(start.elapsed() < WAIT, "no presence through Redis");
    }
}

/// A protected guild on one instance's shards takes Discord logins on the
/// other instance too: that instance does not hold the guild's members, so
/// it asks Discord whether the user is in it (`/users/@me/guilds`).
#[tokio::test]
async fn a_split_bot_checks_logins_to_another_instances_guild() {
    use d_back::discord::ServerConfig;
    let redis = Redis::start();
    let ids: Vec<String> = (0..4).map(|s| guild_on(s, 4, 6)).collect();
    let fake = FakeDiscord::with_rules(
        named(&ids),
        Rules {
            recommended_shards: Some(4),
            ..Rules::default()
        },
    );
    let member_of_3 = "700000000000000011";
    fake.add_token("member", valid_token(member_of_3, &[&ids[3]]));
    fake.add_token("stranger", valid_token("700000000000000012", &[&ids[0]]));
    let servers: Vec<ServerConfig> = ids
        .iter()
        .map(|id| ServerConfig {
            protected: *id == ids[3],
            ..ServerConfig::new(id.as_str())
        })
        .collect();
    let half = |range: std::ops::Range<u32>| DiscordConfig {
        shard_range: Some(range),
        shard_total: Some(4),
        servers: servers.clone(),
        ..config(&fake)
    };
    let (a, _b) = split_pair(&redis, half(0..2), half(2..4));
    until_listed(&a, &ids).await;
    let list = server_list(&a).await;
    let short = list[ids[3].as_str()]["id"].as_str().unwrap().to_string();
    assert_eq!(list[ids[3].as_str()]["passworded"], true, "{list}");
    let login = |token: &str, uid: &str| {
        json!({"type": "connect", "data": {"server": short, "discordToken": token,
            "discordUser": {"id": uid, "username": "someone"}}})
        .to_string()
    };
    let mut c = a.client().await;
    c.send_text(&login("member", member_of_3)).await;
    let j = c.recv_json().await;
    assert_eq!(j["type"], "server-join", "{j}");
    let mut c = a.client().await;
    c.send_text(&login("stranger", "700000000000000012")).await;
    assert_eq!(
        c.recv_text().await,
        error_frame(d_back::errors::AUTH_FAILED)
    );
}

/// A split bot's part of the server list is leased: its key expires unless
/// its instance keeps writing, and a part whose key is gone (a shard range
/// given up) leaves the set of parts when it is read.
#[tokio::test]
async fn a_given_up_shard_range_leaves_the_server_list() {
    use d_back::config::DataSource;
    let redis = Redis::start();
    // A part an earlier deployment left: named, its key long expired.
    let _: i64 = redis.cmd(
        redis::cmd("SADD")
            .arg("d-back:servers:parts")
            .arg("0..1of9"),
    );
    let ids = vec![guild_on(0, 1, 7)];
    let fake = FakeDiscord::with_rules(named(&ids), Rules::default());
    let cfg = DiscordConfig {
        shard_range: Some(0..1),
        shard_total: Some(1),
        ..config(&fake)
    };
    let c = cluster_config(&redis, DataSource::Local);
    let bot = start_with(move |b| b.config(c).discord(Discord::new(cfg).unwrap()));
    until_listed(&bot, &ids).await;
    let start = Instant::now();
    loop {
        let parts: Vec<String> = redis.cmd(redis::cmd("SMEMBERS").arg("d-back:servers:parts"));
        if parts == ["0..1of1"] {
            break;
        }
        assert!(start.elapsed() < WAIT, "parts: {parts:?}");
        until_listed(&bot, &ids).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    loop {
        let lease: i64 = redis.cmd(redis::cmd("PTTL").arg("d-back:servers:part:0..1of1"));
        if lease > 0 {
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "the live part has no lease ({lease})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

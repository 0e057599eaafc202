//! Bulk changes without floods: tens of thousands of presences at once (a
//! gateway session's catch-up, a role colour touching every member) keep
//! every viewer connected, and each converges to the truth, receiving about
//! the bytes of a fresh join rather than being evicted for its backlog, at
//! the hub and through the built-in bot against the fake Discord.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use d_back::{Presence, RoleColor, ServerInfo, Status, User};
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

const GUILD: &str = "515151515151515151";
const MEMBERS: usize = 30_000;
const VIEWERS: usize = 20;

fn users() -> Vec<User> {
    let gray = RoleColor::parse("#99aab5").unwrap();
    (0..MEMBERS)
        .map(|i| User::new(i.to_string(), format!("member {i}"), Status::Online, gray))
        .collect()
}

/// A viewer's scene, from its join and then every presence, and the bytes
/// it received after the join.
struct Viewer {
    ws: Ws,
    statuses: HashMap<String, String>,
    join_bytes: usize,
    after_join: usize,
}

async fn viewer(srv: &TestServer) -> Viewer {
    let url = format!("ws://{}/ws", srv.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    next_text(&mut ws).await; // the server list
    use futures_util::SinkExt;
    ws.send(Message::text(
        r#"{"type":"connect","data":{"server":"bulk"}}"#,
    ))
    .await
    .unwrap();
    let join = next_text(&mut ws).await;
    let v: serde_json::Value = serde_json::from_str(&join).unwrap();
    assert_eq!(v["type"], "server-join");
    let statuses = v["data"]["users"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(uid, u)| (uid.clone(), u["status"].as_str().unwrap().to_string()))
        .collect();
    Viewer {
        ws,
        statuses,
        join_bytes: join.len(),
        after_join: 0,
    }
}

impl Viewer {
    /// Reads until every member shows `status`, or fails the test on a
    /// close or after the deadline.
    async fn converge(&mut self, status: &str, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        let mut wrong = self.statuses.values().filter(|s| *s != status).count();
        while wrong > 0 {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("{wrong} members still not {status}"))
                .expect("the viewer stays connected")
                .expect("frames are fine");
            let text = match msg {
                Message::Text(t) => t,
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("viewer closed or got {other:?}"),
            };
            self.after_join += text.len();
            let f: serde_json::Value = serde_json::from_str(&text).unwrap();
            if f["type"] != "presence" {
                continue;
            }
            let uid = f["data"]["uid"].as_str().unwrap().to_string();
            let new = f["data"]["status"].as_str().unwrap().to_string();
            let old = self.statuses.insert(uid, new.clone());
            match (old.as_deref() == Some(status), new == status) {
                (false, true) => wrong -= 1,
                (true, false) => wrong += 1,
                _ => {}
            }
        }
    }
}

/// 30,000 presences at once (every member goes idle, then every member
/// comes back online) to 20 viewers with the default 1 MiB backlog: no
/// viewer is evicted, every one converges, and none receives much more than
/// a fresh join's bytes per wave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_of_every_member_converges_without_evictions() {
    let list = users();
    // The viewers are read only between waves: a long client timeout keeps
    // the first ones from being closed as silent while the others join on
    // a busy machine (this test is not about heartbeats).
    let config = d_back::Config {
        client_timeout: Duration::from_secs(300),
        ..quiet()
    };
    let srv = start_with(move |b| {
        b.config(config)
            .on_get_server_data(|| async { Ok(vec![ServerInfo::new(GUILD, "bulk", "Bulk")]) })
            .on_get_user_data(move |_| {
                let list = list.clone();
                async move { Ok(list) }
            })
    });
    let mut viewers = Vec::new();
    for _ in 0..VIEWERS {
        viewers.push(viewer(&srv).await);
    }
    srv.until("every viewer joined", |h| h.joined_count() == VIEWERS)
        .await;
    for (wave, status) in [(Status::Idle, "idle"), (Status::Online, "online")] {
        for uid in 0..MEMBERS {
            srv.handle
                .broadcast_presence(Presence::new(GUILD, uid.to_string(), wave));
        }
        let readers: Vec<_> = viewers
            .into_iter()
            .map(|mut v| {
                tokio::spawn(async move {
                    v.converge(status, Duration::from_secs(60)).await;
                    v
                })
            })
            .collect();
        viewers = Vec::new();
        for r in readers {
            viewers.push(r.await.expect("the viewer converged"));
        }
        assert_eq!(srv.handle.joined_count(), VIEWERS, "nobody was evicted");
        for v in &mut viewers {
            assert!(
                v.after_join < v.join_bytes * 2,
                "a viewer got {} bytes for a wave, a join is {}",
                v.after_join,
                v.join_bytes
            );
            v.after_join = 0;
        }
    }
}

/// Through the built-in bot: a role colour held by 20,000 members changes
/// (one GUILD_ROLE_UPDATE), and 10 viewers of the guild each get every
/// member's new colour, none evicted, for under twice a join's bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_colour_over_every_member_through_the_bot() {
    use common::fake_discord::{member, role, FakeDiscord, FakeGuild};
    use d_back::discord::Discord;
    const GUILD: &str = "525252525252525252";
    const RED: &str = "535353535353535301";
    const N: u64 = 20_000;
    let mut g = FakeGuild::new(GUILD, "bulk").role(RED, "Red", 0xff0000, 1);
    for i in 0..N {
        let uid = (600_000_000_000_000_000u64 + i).to_string();
        g = g
            .member(member(&uid, &format!("m{i}"), None, None, &[RED]))
            .presence(&uid, "online");
    }
    let fake = FakeDiscord::start(vec![g]);
    let cfg = fake.bot_config();
    let config = d_back::Config {
        client_timeout: Duration::from_secs(300),
        ..quiet()
    };
    let srv = start_with(move |b| {
        b.config(config)
            .discord(Discord::new(cfg).expect("valid config"))
    });
    // Joined once the bot lists the guild and shows every member.
    let start = std::time::Instant::now();
    loop {
        let url = format!("ws://{}/ws", srv.addr);
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        if next_text(&mut ws).await.contains(GUILD) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "never listed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut viewers = Vec::new();
    while viewers.len() < 10 {
        let v = viewer(&srv).await;
        if v.statuses.len() == N as usize {
            viewers.push(v);
        } else {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the guild never came whole"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    srv.until("every viewer joined", |h| h.joined_count() == 10)
        .await;
    fake.dispatch(
        "GUILD_ROLE_UPDATE",
        serde_json::json!({"guild_id": GUILD, "role": role(RED, "Red", 0x0000ff, 1)}),
    );
    let readers: Vec<_> = viewers
        .into_iter()
        .map(|mut v| {
            tokio::spawn(async move {
                let (colours, bytes) = v.colours(N as usize, Duration::from_secs(60)).await;
                (colours, bytes, v)
            })
        })
        .collect();
    let mut kept = Vec::new();
    for r in readers {
        let (colours, bytes, v) = r.await.expect("the viewer converged");
        assert_eq!(colours, N as usize, "every member is blue");
        let join = v.join_bytes;
        assert!(
            bytes < join * 2,
            "{bytes} bytes for the change, a join is {join}"
        );
        kept.push(v);
    }
    assert_eq!(srv.handle.joined_count(), 10, "nobody was evicted");
}

impl Viewer {
    /// Reads presences until `n` members were told the new colour
    /// (`#0000ff`); the count and the bytes read.
    async fn colours(&mut self, n: usize, within: Duration) -> (usize, usize) {
        let deadline = tokio::time::Instant::now() + within;
        let mut blue = std::collections::HashSet::new();
        let mut bytes = 0;
        while blue.len() < n {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("only {} members told", blue.len()))
                .expect("the viewer stays connected")
                .expect("frames are fine");
            let Message::Text(text) = msg else {
                continue;
            };
            bytes += text.len();
            let f: serde_json::Value = serde_json::from_str(&text).unwrap();
            if f["type"] == "presence" && f["data"]["roleColor"] == "#0000ff" {
                blue.insert(f["data"]["uid"].as_str().unwrap().to_string());
            }
        }
        (blue.len(), bytes)
    }
}

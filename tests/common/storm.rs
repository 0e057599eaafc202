//! A presence storm with viewers joining through it: the bot side changes
//! members' statuses as fast as it can (each change and its broadcast under
//! one lock, so the broadcasts' order is the truth's), viewers join while
//! it runs, and each viewer's view is checked against the bot's history:
//! a snapshot, then every later change in order, without a gap.
//!
//! Used by `tests/join_storm.rs` (one instance) and `tests/redis.rs` (the
//! bot on one instance, the viewers on a `--source redis` one).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use d_back::{Builder, Presence, RoleColor, ServerInfo, Status, User};
use rand::Rng;
use serde_json::Value;

use super::{Client, TestServer};

pub const GUILD: &str = "424242424242424242";
pub const MEMBERS: usize = 1_000;
const MARKER: &str = "end of storm";

/// The bot's side: each member's status, and every change in order.
pub struct Bot {
    statuses: Vec<Status>,
    history: Vec<(usize, Status)>,
}

/// The bot's state, shared with the users callback that reads it.
pub type Truth = Arc<Mutex<Bot>>;

pub fn truth() -> Truth {
    Arc::new(Mutex::new(Bot {
        statuses: vec![Status::Online; MEMBERS],
        history: Vec::new(),
    }))
}

/// The storm server's callbacks: one server, `storm`, whose users are read
/// from `truth` and answered after a short random delay (a provider's I/O
/// after its read, the window in which a broadcast used to be lost).
pub fn provide(b: Builder, truth: Truth) -> Builder {
    b.on_get_server_data(|| async { Ok(vec![ServerInfo::new(GUILD, "storm", "Storm")]) })
        .on_get_user_data(move |_guild| {
            let gray = RoleColor::parse("#99aab5").unwrap();
            let list: Vec<User> = truth
                .lock()
                .unwrap()
                .statuses
                .iter()
                .enumerate()
                .map(|(i, s)| User::new(i.to_string(), format!("member {i}"), *s, gray))
                .collect();
            async move {
                let pause = rand::thread_rng().gen_range(0..8);
                actix_web::rt::time::sleep(Duration::from_millis(pause)).await;
                Ok(list)
            }
        })
}

/// Runs `changes` changes through `bot` while `viewers` viewers join
/// `watched` (the first before the storm), then checks every viewer.
/// Panics naming each viewer that went wrong.
pub async fn run(
    bot: &TestServer,
    watched: &TestServer,
    truth: &Truth,
    changes: usize,
    viewers: usize,
) {
    let mut watching = vec![tokio::spawn(watch(watched.client().await))];
    watched
        .until("the first viewer joined", |h| h.joined_count() == 1)
        .await;
    let join_every = changes / viewers;
    for i in 0..changes {
        {
            let mut t = truth.lock().unwrap();
            let mut rng = rand::thread_rng();
            let uid = rng.gen_range(0..MEMBERS);
            let status = Status::ALL[rng.gen_range(0..Status::ALL.len())];
            t.statuses[uid] = status;
            t.history.push((uid, status));
            // The change's number rides in the username.
            let p = Presence::new(GUILD, uid.to_string(), status).username(format!("s{i}"));
            bot.handle.broadcast_presence(p);
        }
        if i % join_every == join_every / 2 && watching.len() < viewers {
            watching.push(tokio::spawn(watch(watched.client().await)));
        }
        if i % 8 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let n = watching.len();
    assert_eq!(n, viewers);
    watched
        .until("every viewer joined", |h| h.joined_count() == n)
        .await;
    bot.handle.broadcast_message(GUILD, "0", MARKER, "general");

    let history = truth.lock().unwrap().history.clone();
    let mut wrong = Vec::new();
    for (i, v) in watching.into_iter().enumerate() {
        let seen = tokio::time::timeout(Duration::from_secs(30), v)
            .await
            .expect("viewer finished")
            .expect("viewer did not panic");
        if let Err(why) = check(&seen, &history) {
            wrong.push(format!("viewer {i}: {why}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {n} viewers went wrong: {wrong:?}",
        wrong.len()
    );
}

fn status_text(s: Status) -> String {
    serde_json::to_value(s)
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

/// The state after the first `k` changes.
fn state_after(history: &[(usize, Status)], k: usize) -> Vec<String> {
    let mut state = vec![Status::Online; MEMBERS];
    for (uid, status) in &history[..k] {
        state[*uid] = *status;
    }
    state.into_iter().map(status_text).collect()
}

/// What a viewer saw: the statuses of its `server-join`, and the changes
/// after it (number, uid, status), up to the marker.
struct Seen {
    snapshot: Vec<String>,
    changes: Vec<(usize, usize, String)>,
}

async fn watch(mut c: Client) -> Seen {
    let join = c.join("storm").await;
    assert_eq!(join["type"], "server-join", "{join}");
    let users = join["data"]["users"].as_object().unwrap();
    let snapshot = (0..MEMBERS)
        .map(|uid| {
            users[&uid.to_string()]["status"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut changes = Vec::new();
    loop {
        let frame: Value = c.recv_json().await;
        let d = &frame["data"];
        match frame["type"].as_str() {
            Some("presence") => changes.push((
                d["username"].as_str().unwrap()[1..].parse().unwrap(),
                d["uid"].as_str().unwrap().parse().unwrap(),
                d["status"].as_str().unwrap().to_string(),
            )),
            Some("message") if d["message"] == MARKER => return Seen { snapshot, changes },
            _ => panic!("unexpected frame {frame}"),
        }
    }
}

/// Why a viewer's view is wrong, if it is. Its changes come in history
/// order, each as it was made; one it skipped after its first must be
/// followed by a later change of the same member that it got (several
/// changes of one member within a flush go out as the last one); and its
/// snapshot with its changes applied is the bot's final truth. With about
/// four changes per member, a change lost between the read and the
/// subscription almost always leaves a member wrong at the end.
fn check(seen: &Seen, history: &[(usize, Status)]) -> Result<(), String> {
    let mut got = vec![false; history.len()];
    let mut last = None;
    for (n, uid, status) in &seen.changes {
        if last.is_some_and(|l| *n <= l) {
            return Err(format!("change {n} came after change {}", last.unwrap()));
        }
        last = Some(*n);
        if (*uid, status.as_str()) != (history[*n].0, status_text(history[*n].1).as_str()) {
            return Err(format!("change {n} arrived altered"));
        }
        got[*n] = true;
    }
    if let Some(first) = seen.changes.first().map(|c| c.0) {
        let end = last.unwrap_or(first);
        for n in first..end {
            let uid = history[n].0;
            let covered = got[n] || (n + 1..history.len()).any(|m| got[m] && history[m].0 == uid);
            if !covered {
                return Err(format!(
                    "change {n} missing, and no later one of member {uid}"
                ));
            }
        }
    }
    let mut scene = seen.snapshot.clone();
    for (_, uid, status) in &seen.changes {
        scene[*uid] = status.clone();
    }
    let truth = state_after(history, history.len());
    let wrong = (0..MEMBERS).filter(|&u| scene[u] != truth[u]).count();
    if wrong > 0 {
        return Err(format!("{wrong} members end wrong"));
    }
    Ok(())
}

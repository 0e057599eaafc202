//! No lost update between a join's read of the users and its entry into
//! the hub: viewers join while a bot changes presences as fast as it can,
//! and every viewer must get a snapshot and then, in order and without a
//! gap, every change made after it, ending with the bot's truth.
//!
//! The users callback answers after a short, random delay (a provider doing
//! I/O), which is exactly the window in which a broadcast used to be lost.
//! Nothing waits on a timer for correctness: the storm runs while viewers
//! join, and a final marker message tells each viewer it has everything.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use d_back::{Presence, RoleColor, ServerInfo, Status, User};
use rand::Rng;
use serde_json::Value;

const GUILD: &str = "424242424242424242";
const MEMBERS: usize = 200;
const VIEWERS: usize = 24;
const CHANGES: usize = 4_000;
const MARKER: &str = "end of storm";

/// The bot's side: each member's status, and every change in order.
#[derive(Default)]
struct Bot {
    statuses: Vec<Status>,
    history: Vec<(usize, Status)>,
}

/// The state after the first `k` changes.
fn state_after(history: &[(usize, Status)], k: usize) -> Vec<String> {
    let mut state = vec![Status::Online; MEMBERS];
    for (uid, status) in &history[..k] {
        state[*uid] = *status;
    }
    state.into_iter().map(status_text).collect()
}

fn status_text(s: Status) -> String {
    serde_json::to_value(s)
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

/// What a viewer saw: the statuses of its `server-join`, and the change
/// numbers of the presences after it (each carries its number as the
/// username), up to the marker.
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

/// Why a viewer's view is wrong, if it is: its snapshot must be the state
/// at or after the change before its first one (changes the snapshot
/// already holds may come again; none after it may be missing), and the
/// changes must follow without a gap up to the last one.
fn check(seen: &Seen, history: &[(usize, Status)]) -> Result<(), String> {
    let first = seen.changes.first().map_or(history.len(), |c| c.0);
    let mut state = state_after(history, first);
    let mut k = first;
    while state != seen.snapshot {
        let Some((uid, status)) = history.get(k) else {
            return Err(format!(
                "its snapshot is no state at or after change {first}, its first"
            ));
        };
        state[*uid] = status_text(*status);
        k += 1;
    }
    for (i, (n, uid, status)) in seen.changes.iter().enumerate() {
        if *n != first + i {
            return Err(format!("change {} missing (got {n} next)", first + i));
        }
        if (*uid, status.as_str()) != (history[*n].0, status_text(history[*n].1).as_str()) {
            return Err(format!("change {n} arrived altered"));
        }
    }
    if first + seen.changes.len() != history.len() {
        return Err(format!(
            "changes after {} missing",
            first + seen.changes.len()
        ));
    }
    Ok(())
}

/// Every viewer who joined during a presence storm gets its snapshot and
/// then every later change, in order: no broadcast is lost between the
/// read and the subscription.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_viewer_joining_during_a_storm_ends_with_the_truth() {
    let bot = Arc::new(Mutex::new(Bot {
        statuses: vec![Status::Online; MEMBERS],
        history: Vec::new(),
    }));
    let read = bot.clone();
    let srv = start_with(move |b| {
        b.config(quiet())
            .on_get_server_data(|| async { Ok(vec![ServerInfo::new(GUILD, "storm", "Storm")]) })
            .on_get_user_data(move |_guild| {
                let gray = RoleColor::parse("#99aab5").unwrap();
                let list: Vec<User> = read
                    .lock()
                    .unwrap()
                    .statuses
                    .iter()
                    .enumerate()
                    .map(|(i, s)| User::new(i.to_string(), format!("member {i}"), *s, gray))
                    .collect();
                async move {
                    // A provider's I/O after its read: broadcasts go on.
                    let pause = rand::thread_rng().gen_range(0..8);
                    actix_web::rt::time::sleep(Duration::from_millis(pause)).await;
                    Ok(list)
                }
            })
    });

    // The first viewer makes the hub exist before the storm.
    let mut viewers = vec![tokio::spawn(watch(srv.client().await))];
    srv.until("the first viewer joined", |h| h.joined_count() == 1)
        .await;

    let join_every = CHANGES / VIEWERS;
    for i in 0..CHANGES {
        {
            // The truth changes and its broadcast leaves under one lock, so
            // the broadcasts' order is the truth's.
            let mut bot = bot.lock().unwrap();
            let mut rng = rand::thread_rng();
            let uid = rng.gen_range(0..MEMBERS);
            let status = Status::ALL[rng.gen_range(0..Status::ALL.len())];
            bot.statuses[uid] = status;
            bot.history.push((uid, status));
            let p = Presence::new(GUILD, uid.to_string(), status).username(format!("s{i}"));
            srv.handle.broadcast_presence(p);
        }
        if i % join_every == join_every / 2 && viewers.len() < VIEWERS {
            viewers.push(tokio::spawn(watch(srv.client().await)));
        }
        if i % 8 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let n = viewers.len();
    assert_eq!(n, VIEWERS);
    srv.until("every viewer joined", |h| h.joined_count() == n)
        .await;
    srv.handle.broadcast_message(GUILD, "0", MARKER, "general");

    let history = bot.lock().unwrap().history.clone();
    let mut wrong = Vec::new();
    for (i, v) in viewers.into_iter().enumerate() {
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

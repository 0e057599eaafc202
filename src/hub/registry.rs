//! The `Registry`: finds or creates the hub of a guild, and knows every
//! open session.
//!
//! Sessions join and leave through it, the bot side ([`crate::Handle`] and
//! `POST /api/broadcast`) sends broadcasts through it. It counts members
//! under one lock, which makes "last one out stops the hub" race-free: a hub
//! is stopped only when no session holds, or is about to send, a join for
//! it.
//!
//! Hubs run on the HTTP worker threads, spread round-robin, so several busy
//! guilds do not share one thread and no extra threads wake up per join or
//! broadcast (on a small machine context switches, not code, dominate).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use actix::prelude::*;
use tokio::sync::Notify;

use crate::hub::broadcast::Broadcast;
use crate::hub::guild::{
    GoingAway, Hub, Join, Leave, SessionId, Setup, StopHub, MAX_QUEUED_BROADCASTS,
};
use crate::lock::lock;

struct Entry {
    hub: Addr<Hub>,
    /// Broadcasts queued at the hub (see `Hub::queued`).
    queued: Arc<AtomicUsize>,
    /// Sessions that joined and have not yet left, counted under the lock.
    members: usize,
}

/// Finds or creates the hub of a guild; the bot side and sessions both go
/// through it.
pub(crate) struct Registry {
    hubs: Mutex<HashMap<Arc<str>, Entry>>,
    /// The worker threads' arbiters, registered as the workers start; hubs
    /// are placed on them round-robin.
    arbiters: Mutex<Vec<ArbiterHandle>>,
    next: AtomicUsize,
    /// Sessions joined to some hub.
    joined: AtomicUsize,
    /// Broadcasts dropped at a full hub mailbox.
    dropped: AtomicU64,
    /// What every hub is made with.
    setup: Setup,
    /// Every open session, for the shutdown close.
    sessions: Mutex<HashMap<SessionId, Recipient<GoingAway>>>,
    /// Woken when a hub starts or stops (the Redis subscriptions follow
    /// the set of guilds with hubs).
    hubs_changed: OnceLock<Arc<Notify>>,
}

impl Registry {
    pub(crate) fn new(setup: Setup) -> Arc<Registry> {
        Arc::new(Registry {
            hubs: Mutex::new(HashMap::new()),
            arbiters: Mutex::new(Vec::new()),
            next: AtomicUsize::new(0),
            joined: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
            setup,
            sessions: Mutex::new(HashMap::new()),
            hubs_changed: OnceLock::new(),
        })
    }

    /// Wakes `notify` whenever a hub starts or stops (never blocks).
    pub(crate) fn watch_hubs(&self, notify: Arc<Notify>) {
        let _ = self.hubs_changed.set(notify);
    }

    fn hubs_changed(&self) {
        if let Some(n) = self.hubs_changed.get() {
            n.notify_one();
        }
    }

    /// The guilds that have a hub now.
    pub(crate) fn guilds(&self) -> Vec<Arc<str>> {
        lock(&self.hubs).keys().cloned().collect()
    }

    /// Sessions joined to this guild's hub.
    pub(crate) fn members(&self, guild: &str) -> usize {
        lock(&self.hubs).get(guild).map_or(0, |e| e.members)
    }

    /// Adds a session to the guild's hub, starting the hub if needed.
    pub(crate) fn join(&self, guild: &Arc<str>, member: Join) {
        let mut hubs = lock(&self.hubs);
        let entry = hubs.entry(guild.clone()).or_insert_with(|| {
            let queued = Arc::new(AtomicUsize::new(0));
            self.hubs_changed();
            Entry {
                hub: self.start_hub(guild.clone(), queued.clone()),
                queued,
                members: 0,
            }
        });
        entry.members += 1;
        entry.hub.do_send(member);
        self.joined.fetch_add(1, Ordering::Relaxed);
    }

    fn start_hub(&self, guild: Arc<str>, queued: Arc<AtomicUsize>) -> Addr<Hub> {
        let arbiter = {
            let arbiters = lock(&self.arbiters);
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            // Joins come from sessions, which run on workers, so a worker
            // has always registered by now; the current arbiter is only a
            // fallback.
            arbiters
                .get(i % arbiters.len().max(1))
                .cloned()
                .unwrap_or_else(Arbiter::current)
        };
        let setup = self.setup.clone();
        Hub::start_in_arbiter(&arbiter, move |_| Hub::new(guild, queued, setup))
    }

    /// Removes a session from the guild's hub; the last one out stops it.
    /// Call exactly once per successful `join`.
    pub(crate) fn leave(&self, guild: &Arc<str>, id: SessionId) {
        let mut hubs = lock(&self.hubs);
        let Some(entry) = hubs.get_mut(guild) else {
            log::error!("leave for guild {guild} without a hub (session {id})");
            return;
        };
        entry.hub.do_send(Leave(id));
        entry.members -= 1;
        if entry.members == 0 {
            if let Some(entry) = hubs.remove(guild) {
                entry.hub.do_send(StopHub);
                self.hubs_changed();
            }
        }
        self.joined.fetch_sub(1, Ordering::Relaxed);
    }

    /// The hub of a guild, if anyone is watching it, with its queue count
    /// already raised for one broadcast (`None` too when it is full).
    fn hub_for_broadcast(&self, guild: &str, wait: bool) -> Option<Addr<Hub>> {
        let hubs = lock(&self.hubs);
        let entry = hubs.get(guild)?;
        let before = entry.queued.fetch_add(1, Ordering::Relaxed);
        if !wait && before >= MAX_QUEUED_BROADCASTS {
            entry.queued.fetch_sub(1, Ordering::Relaxed);
            drop(hubs);
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            // The first drop, then ever more rarely (powers of two from 65,536).
            if dropped == 1 || (dropped.is_power_of_two() && dropped >= 1 << 16) {
                log::warn!(
                    "hub {guild} is {before} broadcasts behind: {dropped} dropped so far (is a bot sending faster than it can fan out?)"
                );
            }
            return None;
        }
        Some(entry.hub.clone())
    }

    /// Queues a broadcast at its guild's hub without waiting; dropped when
    /// no one watches the guild, and dropped (counted, with a warning) when
    /// the hub has [`MAX_QUEUED_BROADCASTS`] waiting, so a bot calling this
    /// in a tight loop cannot grow memory without bound.
    pub(crate) fn broadcast(&self, broadcast: Broadcast) {
        if let Some(hub) = self.hub_for_broadcast(broadcast.server(), false) {
            hub.do_send(broadcast);
        }
    }

    /// Sends a broadcast to its guild's hub, never dropped for a full hub,
    /// and answers how many sessions it was queued for (0 when no one
    /// watches). Awaiting the answer paces a caller to the hub's speed.
    pub(crate) async fn broadcast_counted(&self, broadcast: Broadcast) -> usize {
        match self.hub_for_broadcast(broadcast.server(), true) {
            Some(hub) => hub.send(broadcast).await.unwrap_or(0),
            None => 0,
        }
    }

    /// Broadcasts dropped because a hub's mailbox was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Sessions joined to some hub.
    pub(crate) fn joined(&self) -> usize {
        self.joined.load(Ordering::Relaxed)
    }

    /// Hubs alive.
    pub(crate) fn hub_count(&self) -> usize {
        lock(&self.hubs).len()
    }

    /// Offers a worker thread to run hubs on.
    pub(crate) fn add_arbiter(&self, arbiter: ArbiterHandle) {
        lock(&self.arbiters).push(arbiter);
    }

    pub(crate) fn session_opened(&self, id: SessionId, r: Recipient<GoingAway>) {
        lock(&self.sessions).insert(id, r);
    }

    pub(crate) fn session_closed(&self, id: SessionId) {
        lock(&self.sessions).remove(&id);
    }

    /// Open sessions, joined or not.
    pub(crate) fn open_sessions(&self) -> usize {
        lock(&self.sessions).len()
    }

    /// Asks every open session to close with 1001.
    pub(crate) fn going_away(&self) {
        for r in lock(&self.sessions).values() {
            r.do_send(GoingAway);
        }
    }
}

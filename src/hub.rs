//! One `Hub` actor per Discord server, and the `Registry` that finds or
//! creates it.
//!
//! A hub holds the sessions joined to its guild. A broadcast reaches it as a
//! [`Broadcast`]; it encodes the frame once and hands the same shared bytes
//! to every member with `try_send`, so fan-out never blocks and a member
//! whose mailbox is full is evicted instead of slowing the rest.
//!
//! Broadcasts that follow each other within `batch_window` are coalesced:
//! the first goes out at once, later ones wait until the window since the
//! last flush has passed and then go out together, one mailbox message per
//! session and one socket write for all of them. At a trickle nothing waits;
//! under a burst the per-frame cost (actor message, wake-up, `send` system
//! call) is shared by the frames of a batch.
//!
//! Hubs run on the HTTP worker threads, spread round-robin, so several busy
//! guilds do not share one thread and no extra threads wake up per join or
//! broadcast (on a small machine context switches, not code, dominate). The registry counts members under a
//! lock, which makes "last one out stops the hub" race-free: a hub is stopped
//! only when no session holds, or is about to send, a join for it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytestring::ByteString;

use crate::model::Presence;
use crate::protocol;
use crate::session::{wire_len, Meter};

/// Process-unique session number, used as the hub's key for a member.
pub type SessionId = u64;

/// Encoded frames for a session to write, in order. Cloning is a refcount
/// bump: every session of the hub gets the same batch.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Deliver(pub Arc<[ByteString]>);

/// Tells a session its hub dropped it (mailbox full or closed).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Evict;

/// Tells a session the server is going away (close with 1001).
#[derive(Message, Clone, Copy)]
#[rtype(result = "()")]
pub struct GoingAway;

/// A broadcast from the bot side, before encoding.
#[derive(Message, Clone, Debug)]
#[rtype(result = "usize")]
pub enum Broadcast {
    Message {
        server: String,
        uid: String,
        message: String,
        channel: String,
    },
    Presence(Presence),
    ClientId {
        server: String,
        client_id: String,
    },
}

impl Broadcast {
    /// The guild snowflake this broadcast is for.
    pub fn server(&self) -> &str {
        match self {
            Broadcast::Message { server, .. } | Broadcast::ClientId { server, .. } => server,
            Broadcast::Presence(p) => &p.server,
        }
    }

    fn encode(&self) -> String {
        match self {
            Broadcast::Message {
                server,
                uid,
                message,
                channel,
            } => protocol::message(server, uid, message, channel),
            Broadcast::Presence(p) => protocol::presence(p),
            Broadcast::ClientId { server, client_id } => {
                protocol::update_client_id(server, client_id)
            }
        }
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Join {
    id: SessionId,
    deliver: Recipient<Deliver>,
    evict: Recipient<Evict>,
    meter: Arc<Meter>,
}

#[derive(Message)]
#[rtype(result = "()")]
struct Leave(SessionId);

#[derive(Message)]
#[rtype(result = "()")]
struct StopHub;

struct Member {
    id: SessionId,
    deliver: Recipient<Deliver>,
    evict: Recipient<Evict>,
    /// The session's outbound backlog, read before every delivery.
    meter: Arc<Meter>,
}

/// The sessions of one guild.
pub struct Hub {
    /// Guild snowflake, for logs.
    guild: Arc<str>,
    /// A vector, not a map: fan-out walks it every broadcast; joins and
    /// leaves are rare by comparison.
    members: Vec<Member>,
    /// A member with more than this queued is evicted, not sent more.
    max_backlog: u64,
    /// Frames waiting for the next flush.
    pending: Vec<ByteString>,
    /// Coalescing window (zero: every broadcast flushes at once).
    batch_window: Duration,
    last_flush: Option<Instant>,
    flush_scheduled: bool,
}

impl Hub {
    fn new(guild: Arc<str>, max_backlog: u64, batch_window: Duration) -> Hub {
        Hub {
            guild,
            members: Vec::new(),
            max_backlog,
            pending: Vec::new(),
            batch_window,
            last_flush: None,
            flush_scheduled: false,
        }
    }

    /// Sends the pending frames to every member as one batch.
    fn flush(&mut self) {
        self.last_flush = Some(Instant::now());
        if self.pending.is_empty() {
            return;
        }
        let batch: Arc<[ByteString]> = self.pending.drain(..).collect();
        let wire: u64 = batch.iter().map(|f| wire_len(f.len())).sum();
        let (guild, max_backlog) = (&self.guild, self.max_backlog);
        self.members.retain(|m| {
            // A session whose reader stalled is not even polled any more;
            // its meter is the only place its backlog shows.
            let backlog = m.meter.backlog();
            let refused = if backlog + wire > max_backlog {
                "its outbound backlog is full"
            } else {
                m.meter.add(wire);
                match m.deliver.try_send(Deliver(batch.clone())) {
                    Ok(()) => return true,
                    Err(SendError::Full(_)) => "its mailbox is full",
                    Err(SendError::Closed(_)) => return false,
                }
            };
            log::warn!("hub {guild}: session {} is not reading ({refused}, {backlog} bytes queued); evicting it", m.id);
            // `do_send` ignores the mailbox bound; sent once, as the member
            // is removed here.
            m.evict.do_send(Evict);
            false
        });
    }
}

impl Actor for Hub {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // The bot side may burst; joins must never be refused.
        ctx.set_mailbox_capacity(65_536);
        log::debug!("hub {} started", self.guild);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        log::debug!("hub {} stopped", self.guild);
    }
}

impl Handler<Join> for Hub {
    type Result = ();
    fn handle(&mut self, msg: Join, _: &mut Context<Self>) {
        self.members.push(Member {
            id: msg.id,
            deliver: msg.deliver,
            evict: msg.evict,
            meter: msg.meter,
        });
    }
}

impl Handler<Leave> for Hub {
    type Result = ();
    fn handle(&mut self, Leave(id): Leave, _: &mut Context<Self>) {
        // Idempotent: an evicted member is already gone.
        if let Some(i) = self.members.iter().position(|m| m.id == id) {
            self.members.swap_remove(i);
        }
    }
}

impl Handler<StopHub> for Hub {
    type Result = ();
    fn handle(&mut self, _: StopHub, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<Broadcast> for Hub {
    type Result = usize;

    fn handle(&mut self, msg: Broadcast, ctx: &mut Context<Self>) -> usize {
        self.pending.push(ByteString::from(msg.encode()));
        if !self.flush_scheduled {
            let since = self.last_flush.map_or(Duration::MAX, |t| t.elapsed());
            if since >= self.batch_window {
                self.flush();
            } else {
                self.flush_scheduled = true;
                ctx.run_later(self.batch_window - since, |hub, _| {
                    hub.flush_scheduled = false;
                    hub.flush();
                });
            }
        }
        // Sessions this broadcast is queued for (evictions may follow).
        self.members.len()
    }
}

struct Entry {
    hub: Addr<Hub>,
    /// Sessions that joined and have not yet left, counted under the lock.
    members: usize,
}

/// Finds or creates the hub of a guild; the bot-side handle and sessions
/// both go through it.
pub struct Registry {
    hubs: Mutex<HashMap<Arc<str>, Entry>>,
    /// Threads hubs run on, chosen round-robin.
    /// The worker threads' arbiters, registered as the workers start.
    arbiters: Mutex<Vec<ArbiterHandle>>,
    next: AtomicUsize,
    /// Sessions joined to some hub.
    joined: AtomicUsize,
    /// Outbound bytes a member may have queued (see `Hub::max_backlog`).
    max_backlog: u64,
    /// See `Hub::batch_window`.
    batch_window: Duration,
    /// Every open session, for the shutdown close.
    sessions: Mutex<HashMap<SessionId, Recipient<GoingAway>>>,
}

impl Registry {
    pub fn new(max_backlog: u64, batch_window: Duration) -> Arc<Registry> {
        Arc::new(Registry {
            hubs: Mutex::new(HashMap::new()),
            arbiters: Mutex::new(Vec::new()),
            next: AtomicUsize::new(0),
            joined: AtomicUsize::new(0),
            max_backlog,
            batch_window,
            sessions: Mutex::new(HashMap::new()),
        })
    }

    fn hubs(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Entry>> {
        // A panic while holding this lock cannot leave the map inconsistent
        // (every update is a single insert/remove), so poisoning is ignored.
        self.hubs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a session to the guild's hub, starting the hub if needed.
    pub fn join(
        &self,
        guild: &Arc<str>,
        id: SessionId,
        deliver: Recipient<Deliver>,
        evict: Recipient<Evict>,
        meter: Arc<Meter>,
    ) {
        let mut hubs = self.hubs();
        let entry = hubs.entry(guild.clone()).or_insert_with(|| {
            let arbiter = {
                let arbiters = self.arbiters.lock().unwrap_or_else(|e| e.into_inner());
                let i = self.next.fetch_add(1, Ordering::Relaxed);
                // Joins come from sessions, which run on workers, so a
                // worker has always registered by now; the current arbiter
                // is only a fallback.
                arbiters
                    .get(i % arbiters.len().max(1))
                    .cloned()
                    .unwrap_or_else(Arbiter::current)
            };
            let g = guild.clone();
            let (max_backlog, window) = (self.max_backlog, self.batch_window);
            let hub = Hub::start_in_arbiter(&arbiter, move |_| Hub::new(g, max_backlog, window));
            Entry { hub, members: 0 }
        });
        entry.members += 1;
        entry.hub.do_send(Join {
            id,
            deliver,
            evict,
            meter,
        });
        self.joined.fetch_add(1, Ordering::Relaxed);
    }

    /// Removes a session from the guild's hub; the last one out stops it.
    /// Call exactly once per successful `join`.
    pub fn leave(&self, guild: &Arc<str>, id: SessionId) {
        let mut hubs = self.hubs();
        let Some(entry) = hubs.get_mut(guild) else {
            log::error!("leave for guild {guild} without a hub (session {id})");
            return;
        };
        entry.hub.do_send(Leave(id));
        entry.members -= 1;
        if entry.members == 0 {
            if let Some(entry) = hubs.remove(guild) {
                entry.hub.do_send(StopHub);
            }
        }
        self.joined.fetch_sub(1, Ordering::Relaxed);
    }

    /// Sends a broadcast to its guild's hub, if anyone is watching it.
    pub fn hub_of(&self, guild: &str) -> Option<Addr<Hub>> {
        self.hubs().get(guild).map(|e| e.hub.clone())
    }

    /// Sessions joined to some hub.
    pub fn joined(&self) -> usize {
        self.joined.load(Ordering::Relaxed)
    }

    /// Hubs alive.
    pub fn hub_count(&self) -> usize {
        self.hubs().len()
    }

    /// Offers a worker thread to run hubs on.
    pub(crate) fn add_arbiter(&self, arbiter: ArbiterHandle) {
        self.arbiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(arbiter);
    }

    pub(crate) fn session_opened(&self, id: SessionId, r: Recipient<GoingAway>) {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, r);
    }

    pub(crate) fn session_closed(&self, id: SessionId) {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }

    /// Open sessions, joined or not.
    pub fn open_sessions(&self) -> usize {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Asks every open session to close with 1001.
    pub(crate) fn going_away(&self) {
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        for r in sessions.values() {
            r.do_send(GoingAway);
        }
    }
}

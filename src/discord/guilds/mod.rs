//! The bot's memory of its guilds, and what d-zone draws from it.
//!
//! [`Guilds`] is written by the gateway task and read by the provider
//! callbacks on every worker thread. Each guild has its own lock, and the
//! map of guilds is locked only to find, add or remove one, so a join into
//! one guild never waits for work on another. Nothing locked leaves this
//! module: callers hand in a parsed dispatch and get back the presences to
//! broadcast, or ask a question (the users of a server, the text of a
//! message) and get an owned answer.
//!
//! Every change goes through one rule (`diff`): how each touched member was
//! shown before and after the change, turned into `presence` broadcasts.
//!
//! # Layout
//!
//! * `guild`: one guild: members by `u64` id, roles, channels, the cached
//!   join list.
//! * `member`: one compact member, and `ignoreUsers`.
//! * `roles`: roles and the shared role sets with their colours.
//! * `view`: how a member looks, and a server's filters.
//! * `diff`: before and after as broadcasts; the catch-up of a fresh session.
//! * `chat`: which messages are shown, and their readable text.
//! * `naming`: the server list and its ids.

mod chat;
mod diff;
mod guild;
mod member;
mod naming;
mod roles;
mod view;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use crate::protocol::model::{Presence, ServerInfo, Status};
use crate::providers::userlist::UserList;

use super::config::{DiscordConfig, ServerConfig};
use super::events::{
    ChannelObject, GuildCreate, GuildUpdate, MemberObject, MembersChunk, MessageCreate, RoleObject,
};
use diff::{catch_up, difference, shown};
use guild::Guild;
use member::Arrival;
use roles::{Role, Roles};
use view::{Look, View};

/// The shared cache.
pub(crate) struct Guilds {
    pub(crate) config: DiscordConfig,
    map: RwLock<HashMap<u64, Arc<Mutex<Guild>>>>,
    session: Mutex<Session>,
}

/// What the bot knows beyond its guilds.
#[derive(Default)]
struct Session {
    /// The bot's own user id (its messages are not shown).
    bot_id: Option<u64>,
    /// The bot's application id: the OAuth2 client id when none is configured.
    application_id: Option<String>,
    /// The server list, until a guild arrives, leaves or is renamed.
    servers: Option<Arc<Vec<ServerInfo>>>,
    /// Bumped whenever the server list is dropped, so a list made from
    /// older guilds is not kept.
    version: u64,
    /// Guilds that left (GUILD_DELETE) while viewers may still be joined to
    /// them: if one comes back, its viewers get every member anew.
    departed: HashSet<u64>,
}

// Every update under these locks is a plain insert or remove, so a panic
// elsewhere cannot leave one half-done; poisoning is ignored.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn role_from(r: &RoleObject) -> (u64, Role) {
    (r.id, Role::new(&r.name, r.color, r.position))
}

/// One guild being changed, with the presences its changes cause.
struct Change<'a> {
    server: String,
    view: View,
    cfg: Option<&'a ServerConfig>,
    guild: &'a mut Guild,
    out: Vec<Presence>,
}

impl Change<'_> {
    /// Applies `f` to the guild, then broadcasts the difference for `ids`.
    /// A change that changes nothing drawn (an activity-only presence, a
    /// role edit that keeps the colour) keeps the joins' list.
    fn touching(&mut self, ids: &[u64], f: impl FnOnce(&mut Guild)) {
        let before: Vec<Option<Look>> = ids.iter().map(|&id| self.guild.look(id)).collect();
        f(self.guild);
        let mut changed = false;
        for (&id, before) in ids.iter().zip(before) {
            let after = self.guild.look(id);
            if after == before {
                continue;
            }
            changed = true;
            let now = self.view.filter(after);
            let known = self.guild.member(id).is_some();
            match &mut self.guild.catching_up {
                // Viewers have what they were shown, not the new copy's
                // `before`; a member the new copy does not have yet waits
                // for its chunk (or the catch-up).
                Some(shown) => {
                    if now.is_none() && !known {
                        continue;
                    }
                    let was = shown.remove(&id);
                    let diff = difference(&self.server, id, was.as_ref(), now.as_ref());
                    self.out.extend(diff);
                    if let Some(now) = now {
                        shown.insert(id, now);
                    }
                }
                None => {
                    let was = self.view.filter(before);
                    let diff = difference(&self.server, id, was.as_ref(), now.as_ref());
                    self.out.extend(diff);
                }
            }
        }
        if changed {
            self.guild.changed();
        }
    }
}

impl Guilds {
    pub(crate) fn new(config: DiscordConfig) -> Arc<Guilds> {
        Arc::new(Guilds {
            config,
            map: RwLock::new(HashMap::new()),
            session: Mutex::new(Session::default()),
        })
    }

    fn slot(&self, id: u64) -> Option<Arc<Mutex<Guild>>> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.get(&id).cloned()
    }

    fn cfg(&self, id: u64) -> Option<&ServerConfig> {
        if self.config.servers.is_empty() {
            return None;
        }
        self.config.server(&id.to_string())
    }

    fn view(&self, cfg: Option<&ServerConfig>, guild: &Guild) -> View {
        View::new(cfg, guild.member_count, self.config.large_guild_members)
    }

    /// The server list must be made again.
    fn relist(&self) {
        let mut s = lock(&self.session);
        s.servers = None;
        s.version += 1;
    }

    /// Runs `f` on guild `id` if it is known; the presences to broadcast.
    fn change(&self, id: u64, f: impl FnOnce(&mut Change<'_>)) -> Vec<Presence> {
        let Some(slot) = self.slot(id) else {
            return Vec::new();
        };
        let mut guild = lock(&slot);
        let cfg = self.cfg(id);
        let mut c = Change {
            server: id.to_string(),
            view: self.view(cfg, &guild),
            cfg,
            guild: &mut guild,
            out: Vec::new(),
        };
        f(&mut c);
        c.out
    }

    /// Whether viewers may see guild `id`: it is configured, or none is.
    pub(crate) fn is_shown(&self, id: u64) -> bool {
        self.config.servers.is_empty() || self.cfg(id).is_some()
    }

    pub(crate) fn application_id(&self) -> Option<String> {
        lock(&self.session).application_id.clone()
    }

    /// READY: a fresh session of the shard that owns the guilds `owns`
    /// says yes to. Its guilds the session does not list are gone (as by
    /// GUILD_DELETE: the answer is the delete presences for their
    /// viewers); the others stay until their GUILD_CREATE replaces them.
    /// Other shards' guilds are not touched.
    pub(crate) fn ready(
        &self,
        bot_id: u64,
        application_id: Option<&str>,
        guild_ids: &[u64],
        owns: impl Fn(u64) -> bool,
    ) -> Vec<Presence> {
        {
            let mut s = lock(&self.session);
            s.bot_id = Some(bot_id);
            if let Some(app) = application_id {
                s.application_id = Some(app.to_string());
            }
        }
        self.relist();
        let keep: HashSet<u64> = guild_ids.iter().copied().collect();
        let gone: Vec<u64> = {
            let map = self.map.read().unwrap_or_else(|e| e.into_inner());
            map.keys()
                .filter(|&&id| owns(id) && !keep.contains(&id))
                .copied()
                .collect()
        };
        for s in &self.config.servers {
            let elsewhere = s.id.parse().is_ok_and(|id| !owns(id) || keep.contains(&id));
            if !elsewhere {
                log::warn!(
                    "discord: configured server {} is not a guild the bot is in; skipped (invite the bot to it)",
                    s.id
                );
            }
        }
        gone.into_iter()
            .flat_map(|id| self.guild_delete(id))
            .collect()
    }

    /// GUILD_CREATE: the whole guild (`complete` unless it is large and its
    /// members are still to be requested). Returns the presences that bring
    /// viewers of an earlier copy up to date (the catch-up after a fresh
    /// session).
    pub(crate) fn guild_create(&self, c: &GuildCreate, complete: bool) -> Vec<Presence> {
        let cfg = self.cfg(c.id);
        let departed = lock(&self.session).departed.remove(&c.id);
        let channels = c.channels.iter().chain(&c.threads);
        let mut guild = Guild::new(
            c.name.clone(),
            Roles::new(c.roles.iter().map(role_from)),
            channels
                .map(|ch| (ch.id, ch.name.as_deref().unwrap_or_default().into()))
                .collect(),
            c.member_count.unwrap_or(c.members.len() as u64),
            complete,
        );
        for p in &c.presences {
            guild.set_status(p.user.id, p.status);
        }
        for m in &c.members {
            if let Some(a) = Arrival::of(m, cfg) {
                guild.upsert(a);
            }
        }
        let slot = {
            let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
            map.entry(c.id).or_default().clone()
        };
        let out = {
            let mut current = lock(&slot);
            // What viewers of an earlier copy were shown: a still-unfinished
            // catch-up's older view if one is pending; nobody after a
            // GUILD_DELETE; nothing to catch up for a new guild.
            guild.catching_up = if let Some(earlier) = current.catching_up.take() {
                Some(earlier)
            } else if current.len() > 0 || current.complete {
                let old_view = self.view(cfg, &current);
                Some(shown(&current, old_view))
            } else {
                departed.then(HashMap::new)
            };
            let view = self.view(cfg, &guild);
            let out = if guild.complete {
                catch_up(&c.id.to_string(), &mut guild, view)
            } else {
                Vec::new()
            };
            *current = guild;
            out
        };
        self.relist();
        out
    }

    /// GUILD_MEMBERS_CHUNK: part of a large guild's member list.
    pub(crate) fn members_chunk(&self, c: &MembersChunk) -> Vec<Presence> {
        let last = c.chunk_index + 1 >= c.chunk_count;
        self.change(c.guild_id, |ch| {
            let cfg = ch.cfg;
            let arrivals: Vec<Arrival> = c
                .members
                .iter()
                .filter_map(|m| Arrival::of(m, cfg))
                .collect();
            let ids: Vec<u64> = arrivals.iter().map(|a| a.id).collect();
            ch.touching(&ids, |g| {
                for p in &c.presences {
                    g.set_status(p.user.id, p.status);
                }
                for a in arrivals {
                    g.upsert(a);
                }
            });
            if last {
                ch.guild.complete = true;
                let view = ch.view;
                let server = ch.server.clone();
                let caught = catch_up(&server, ch.guild, view);
                ch.out.extend(caught);
            }
        })
    }

    pub(crate) fn guild_update(&self, u: &GuildUpdate) -> Vec<Presence> {
        if let (Some(name), Some(slot)) = (&u.name, self.slot(u.id)) {
            lock(&slot).name = name.clone();
            self.relist();
        }
        let Some(roles) = &u.roles else {
            return Vec::new();
        };
        self.change(u.id, |c| {
            let ids: Vec<u64> = c.guild.ids().collect();
            c.touching(&ids, |g| g.roles.replace(roles.iter().map(role_from)));
        })
    }

    /// GUILD_DELETE (the bot was removed, or the guild is unavailable): it
    /// leaves the server list, and viewers still joined to it see every
    /// member leave (a `delete` presence each), so their view is not left
    /// frozen. If it comes back, its GUILD_CREATE brings them all back.
    pub(crate) fn guild_delete(&self, id: u64) -> Vec<Presence> {
        let removed = {
            let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
            map.remove(&id)
        };
        let Some(slot) = removed else {
            return Vec::new();
        };
        lock(&self.session).departed.insert(id);
        self.relist();
        let old = lock(&slot);
        let cfg = self.cfg(id);
        let was: Vec<u64> = match &old.catching_up {
            Some(before) => before.keys().copied().collect(),
            None => shown(&old, self.view(cfg, &old)).into_keys().collect(),
        };
        let server = id.to_string();
        was.into_iter()
            .map(|uid| Presence::new(&server, uid.to_string(), Status::Offline).delete())
            .collect()
    }

    pub(crate) fn presence_update(&self, id: u64, uid: u64, status: Status) -> Vec<Presence> {
        self.change(id, |c| c.touching(&[uid], |g| g.set_status(uid, status)))
    }

    pub(crate) fn member_upsert(&self, id: u64, member: &MemberObject) -> Vec<Presence> {
        self.change(id, |c| {
            let Some(a) = Arrival::of(member, c.cfg) else {
                return;
            };
            c.touching(&[a.id], |g| g.upsert(a))
        })
    }

    pub(crate) fn member_remove(&self, id: u64, uid: u64) -> Vec<Presence> {
        self.change(id, |c| c.touching(&[uid], |g| g.remove(uid)))
    }

    pub(crate) fn role_upsert(&self, id: u64, role: &RoleObject) -> Vec<Presence> {
        self.change(id, |c| {
            let ids = c.guild.holders(role.id);
            let (rid, r) = role_from(role);
            c.touching(&ids, |g| g.roles.upsert(rid, r))
        })
    }

    pub(crate) fn role_delete(&self, id: u64, role_id: u64) -> Vec<Presence> {
        self.change(id, |c| {
            let ids = c.guild.holders(role_id);
            c.touching(&ids, |g| g.roles.remove(role_id))
        })
    }

    pub(crate) fn channel_upsert(&self, channel: &ChannelObject) {
        let Some(slot) = channel.guild_id.and_then(|g| self.slot(g)) else {
            return;
        };
        let name = channel.name.as_deref().unwrap_or_default();
        lock(&slot).channels.insert(channel.id, name.into());
    }

    pub(crate) fn channel_delete(&self, channel: &ChannelObject) {
        if let Some(slot) = channel.guild_id.and_then(|g| self.slot(g)) {
            lock(&slot).channels.remove(&channel.id);
        }
    }

    /// The text viewers are shown for a message, or `None` when it is not
    /// shown (not in a guild, from a webhook or the bot itself, from a
    /// server not configured, or filtered out by the server's settings).
    pub(crate) fn message(&self, m: &MessageCreate) -> Option<String> {
        let gid = m.guild_id?;
        if m.webhook_id.is_some() || !self.is_shown(gid) {
            return None;
        }
        if lock(&self.session).bot_id == Some(m.author.id) {
            return None;
        }
        let slot = self.slot(gid)?;
        let guild = lock(&slot);
        let cfg = self.cfg(gid);
        chat::shown(m, &guild, cfg, self.view(cfg, &guild))
    }

    /// The server list: configured guilds the bot is in (in config order),
    /// or every guild (by snowflake) when none is configured.
    pub(crate) fn servers(&self) -> Arc<Vec<ServerInfo>> {
        let version = {
            let s = lock(&self.session);
            if let Some(list) = &s.servers {
                return list.clone();
            }
            s.version
        };
        let slots: Vec<(u64, Arc<Mutex<Guild>>)> = {
            let map = self.map.read().unwrap_or_else(|e| e.into_inner());
            map.iter().map(|(id, g)| (*id, g.clone())).collect()
        };
        let names: Vec<(u64, String)> = slots
            .into_iter()
            .map(|(id, g)| (id, lock(&g).name.clone()))
            .collect();
        let list = Arc::new(naming::server_list(&self.config, &names));
        let mut s = lock(&self.session);
        if s.version == version {
            s.servers = Some(list.clone());
        }
        list
    }

    /// The users a viewer joining `id` sees: the cached list, made again
    /// only after something drawn changed.
    pub(crate) fn users(&self, id: &str) -> Arc<UserList> {
        let Some(slot) = id.parse().ok().and_then(|id| self.slot(id)) else {
            return Arc::default();
        };
        let mut guild = lock(&slot);
        let cfg = self.config.server(id);
        let view = self.view(cfg, &guild);
        guild.listing(view)
    }

    /// Whether `user` is a member of `guild` as far as the cache knows:
    /// `None` for a guild it does not hold; `Some((false, false))` while
    /// the guild's member list is still incomplete.
    pub(crate) fn membership(&self, guild: &str, user: &str) -> Option<(bool, bool)> {
        let slot = self.slot(guild.parse().ok()?)?;
        let g = lock(&slot);
        let member = user.parse().ok().is_some_and(|u| g.member(u).is_some());
        Some((member, g.complete))
    }

    /// The OAuth2 client id of a server: its own, else the global one,
    /// else the bot's application id.
    pub(crate) fn client_id(&self, id: &str) -> Option<String> {
        self.config
            .server(id)
            .and_then(|s| s.client_id.clone())
            .or_else(|| self.config.client_id.clone())
            .or_else(|| self.application_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_change_that_changes_nothing_drawn_keeps_the_joins_list() {
        let g = Guilds::new(DiscordConfig::default());
        let create: GuildCreate = parse(serde_json::json!({
            "id": "1", "name": "Isle",
            "members": [{"user": {"id": "7", "username": "pip"}, "roles": []}],
            "presences": [{"user": {"id": "7"}, "status": "online"}],
        }));
        g.guild_create(&create, true);
        let first = g.users("1");
        // Same status, as a presence that only changed its activity.
        assert!(g.presence_update(1, 7, Status::Online).is_empty());
        assert!(Arc::ptr_eq(&first, &g.users("1")), "the list is kept");
        assert_eq!(g.presence_update(1, 7, Status::Idle).len(), 1);
        let second = g.users("1");
        assert!(
            !Arc::ptr_eq(&first, &second),
            "a drawn change makes a new list"
        );
        assert_eq!(second.users()[0].status, Status::Idle);
    }

    /// A viewer who joins while a fresh session's member list is still
    /// coming is sent what the others were shown, and the broadcasts that
    /// follow take both to the truth.
    #[test]
    fn joins_during_a_catch_up_get_what_viewers_have() {
        let g = Guilds::new(DiscordConfig::default());
        let member = |id: &str| serde_json::json!({"user": {"id": id, "username": id}});
        let online = |id: &str| serde_json::json!({"user": {"id": id}, "status": "online"});
        let first: GuildCreate = parse(serde_json::json!({
            "id": "1", "name": "Isle",
            "members": [member("7"), member("8")],
            "presences": [online("7"), online("8")],
        }));
        g.guild_create(&first, true);
        // A fresh session: a large guild, its members still to come.
        let again: GuildCreate = parse(serde_json::json!({
            "id": "1", "name": "Isle", "large": true, "member_count": 2,
        }));
        assert!(g.guild_create(&again, false).is_empty());
        let scene = |list: &UserList| -> Vec<(String, Status)> {
            list.users()
                .iter()
                .map(|u| (u.uid.clone(), u.status))
                .collect()
        };
        let joined = g.users("1");
        assert_eq!(
            scene(&joined),
            [("7".into(), Status::Online), ("8".into(), Status::Online)]
        );
        // Not in the new copy yet: nothing to say until its chunk comes.
        assert!(g.presence_update(1, 7, Status::Dnd).is_empty());
        let chunk: MembersChunk = parse(serde_json::json!({
            "guild_id": "1", "members": [member("7")],
            "presences": [{"user": {"id": "7"}, "status": "dnd"}],
            "chunk_index": 0, "chunk_count": 1,
        }));
        let out = g.members_chunk(&chunk);
        assert_eq!(
            out,
            [
                Presence::new("1", "7", Status::Dnd),
                Presence::new("1", "8", Status::Offline).delete(),
            ]
        );
        assert_eq!(scene(&g.users("1")), [("7".into(), Status::Dnd)]);
    }
}

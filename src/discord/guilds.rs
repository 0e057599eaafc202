//! The bot's memory of its guilds: members, roles, channels and presences
//! as the gateway reported them, and what d-zone draws from them.
//!
//! Every change goes through one rule: look at how each touched member is
//! seen (after the server's filters) before and after the change, and turn
//! the difference into a `presence` broadcast. Joins, leaves, renames, role
//! colours, `hideOffline`, member chunks and the catch-up after a fresh
//! session all follow from it, and cannot disagree with the user list a new
//! viewer gets.
//!
//! The typed user of every member is kept up to date as events arrive, and
//! the filtered list a join answers is cached until the guild changes, so a
//! join into a big guild never recomputes names and colours.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::protocol::model::{Presence, RoleColor, ServerInfo, Status, User};
use crate::providers::userlist::UserList;

use super::config::{DiscordConfig, ServerConfig};
use super::events::{ChannelObject, MemberObject, PresenceObject, RoleObject};

/// The colour of a member without a coloured role.
pub(crate) const NEUTRAL_COLOR: u32 = 0xffffff;

#[derive(Clone, Debug)]
pub(crate) struct Member {
    pub username: String,
    pub global_name: Option<String>,
    pub nick: Option<String>,
    pub roles: Vec<String>,
}

impl Member {
    /// Guild nickname, else global display name, else username.
    pub fn display_name(&self) -> &str {
        [&self.nick, &self.global_name]
            .into_iter()
            .flatten()
            .find(|n| !n.is_empty())
            .map_or(self.username.as_str(), String::as_str)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Role {
    pub name: String,
    pub color: u32,
    pub position: i64,
}

/// One guild as the bot knows it.
#[derive(Debug, Default)]
pub(crate) struct Guild {
    pub name: String,
    pub roles: HashMap<String, Role>,
    /// Channel names by id (text channels, threads, categories alike).
    pub channels: HashMap<String, String>,
    pub members: HashMap<String, Member>,
    pub presences: HashMap<String, Status>,
    /// Every member as d-zone draws it, before filters; kept in step with
    /// `members`, `roles` and `presences`.
    users: BTreeMap<String, User>,
    /// All members are known (not a large guild still being chunked).
    pub complete: bool,
    /// Members in the guild, as GUILD_CREATE counted them.
    pub member_count: u64,
    /// The members as they were before a fresh session replaced them, to
    /// diff against once the new member list is complete.
    before: Option<BTreeMap<String, Option<User>>>,
    /// The filtered list answered to joins, until something changes.
    listing: Option<Arc<UserList>>,
}

impl Guild {
    fn color_of(&self, m: &Member) -> RoleColor {
        let top = m
            .roles
            .iter()
            .filter_map(|r| self.roles.get(r))
            .filter(|r| r.color != 0)
            .max_by_key(|r| r.position);
        RoleColor::from_rgb(top.map_or(NEUTRAL_COLOR, |r| r.color))
    }

    fn user_of(&self, uid: &str) -> Option<User> {
        let m = self.members.get(uid)?;
        let status = self.presences.get(uid).copied().unwrap_or(Status::Offline);
        Some(User::new(uid, m.display_name(), status, self.color_of(m)))
    }

    /// Recomputes the drawn user of `uid` from the raw data. A change that
    /// changes nothing drawn (a presence with only a new activity, a role
    /// update that leaves the colour) keeps the joins' list.
    fn refresh(&mut self, uid: &str) {
        let now = self.user_of(uid);
        if self.users.get(uid) == now.as_ref() {
            return;
        }
        self.listing = None;
        match now {
            Some(u) => {
                self.users.insert(uid.to_string(), u);
            }
            None => {
                self.users.remove(uid);
            }
        }
    }

    fn refresh_all(&mut self) {
        self.listing = None;
        let users = self
            .members
            .keys()
            .filter_map(|uid| self.user_of(uid).map(|u| (uid.clone(), u)))
            .collect();
        self.users = users;
    }

    /// Members holding any of `roles`.
    fn holders(&self, roles: &HashSet<&str>) -> Vec<String> {
        self.members
            .iter()
            .filter(|(_, m)| m.roles.iter().any(|r| roles.contains(r.as_str())))
            .map(|(uid, _)| uid.clone())
            .collect()
    }
}

/// How a server's filters see one user: `None` means not drawn.
/// `members` gives the member's other names (username, global name), which
/// `ignoreUsers` may use as well as the drawn one.
fn visible(
    cfg: Option<&ServerConfig>,
    hide_offline: bool,
    members: &HashMap<String, Member>,
    user: Option<&User>,
) -> Option<User> {
    let u = user?;
    if hide_offline && u.status == Status::Offline {
        return None;
    }
    if let Some(cfg) = cfg {
        if ignores_member(cfg, &u.uid, members.get(&u.uid), &u.username) {
            return None;
        }
    }
    Some(u.clone())
}

/// Whether a guild's offline members are hidden: as its server entry says,
/// else when it has more than `large` members.
pub(crate) fn hides_offline(cfg: Option<&ServerConfig>, guild: &Guild, large: u64) -> bool {
    cfg.and_then(|c| c.hide_offline)
        .unwrap_or(guild.member_count > large)
}

/// `ignoreUsers` names members by id or by (display or user) name.
fn is_ignored(cfg: &ServerConfig, uid: &str, name: &str) -> bool {
    cfg.ignore_users.iter().any(|i| i == uid || i == name)
}

/// `ignoreUsers` against a member: its id, or any of its names (username,
/// global display name, guild nickname), or `name` (e.g. a message's author
/// name when the member is not cached).
pub(crate) fn ignores_member(
    cfg: &ServerConfig,
    uid: &str,
    member: Option<&Member>,
    name: &str,
) -> bool {
    if is_ignored(cfg, uid, name) {
        return true;
    }
    member.is_some_and(|m| {
        [Some(&m.username), m.global_name.as_ref(), m.nick.as_ref()]
            .into_iter()
            .flatten()
            .any(|n| is_ignored(cfg, uid, n))
    })
}

/// The broadcast that turns `before` into `after` at a viewer.
fn difference(
    server: &str,
    uid: &str,
    before: Option<User>,
    after: Option<User>,
) -> Option<Presence> {
    match (before, after) {
        (None, None) => None,
        (Some(_), None) => Some(Presence::new(server, uid, Status::Offline).delete()),
        (None, Some(a)) => Some(
            Presence::new(server, uid, a.status)
                .username(a.username)
                .role_color(a.role_color),
        ),
        (Some(b), Some(a)) if b.username != a.username || b.role_color != a.role_color => Some(
            Presence::new(server, uid, a.status)
                .username(a.username)
                .role_color(a.role_color),
        ),
        (Some(b), Some(a)) if b.status != a.status => Some(Presence::new(server, uid, a.status)),
        _ => None,
    }
}

/// Discord's status words; `invisible` looks offline to everyone else.
pub(crate) fn parse_status(s: Option<&str>) -> Status {
    match s {
        Some("online") => Status::Online,
        Some("idle") => Status::Idle,
        Some("dnd") => Status::Dnd,
        _ => Status::Offline,
    }
}

fn member_from(m: &MemberObject) -> Option<(String, Member)> {
    let user = m.user.as_ref()?;
    Some((
        user.id.clone(),
        Member {
            username: user.username.clone().unwrap_or_else(|| user.id.clone()),
            global_name: user.global_name.clone(),
            nick: m.nick.clone(),
            roles: m.roles.clone(),
        },
    ))
}

fn role_from(r: &RoleObject) -> (String, Role) {
    (
        r.id.clone(),
        Role {
            name: r.name.clone(),
            color: r.color,
            position: r.position,
        },
    )
}

#[derive(Default)]
pub(crate) struct Inner {
    pub guilds: HashMap<String, Guild>,
    /// The bot's own user id (its messages are not shown).
    pub bot_id: Option<String>,
    /// The bot's application id: the OAuth2 client id when none is configured.
    pub application_id: Option<String>,
    /// The server list, until a guild arrives, leaves or is renamed.
    servers: Option<Arc<Vec<ServerInfo>>>,
    /// Guilds that left (GUILD_DELETE) while viewers may still be joined to
    /// them: if one comes back, its viewers get every member anew.
    departed: HashSet<String>,
}

/// The shared cache: written by the gateway task, read by the provider
/// callbacks on every worker thread.
pub(crate) struct Guilds {
    pub config: DiscordConfig,
    inner: RwLock<Inner>,
}

/// Changes to one guild, with the presences they cause.
pub(crate) struct Change<'a> {
    server: &'a str,
    cfg: Option<&'a ServerConfig>,
    hide_offline: bool,
    guild: &'a mut Guild,
    out: &'a mut Vec<Presence>,
}

impl Change<'_> {
    /// Applies `f` to the guild, then broadcasts the difference for `uids`.
    fn touching(&mut self, uids: &[String], f: impl FnOnce(&mut Guild)) {
        let before: Vec<Option<User>> = uids
            .iter()
            .map(|u| {
                visible(
                    self.cfg,
                    self.hide_offline,
                    &self.guild.members,
                    self.guild.users.get(u),
                )
            })
            .collect();
        f(self.guild);
        for (uid, before) in uids.iter().zip(before) {
            self.guild.refresh(uid);
            let after = visible(
                self.cfg,
                self.hide_offline,
                &self.guild.members,
                self.guild.users.get(uid),
            );
            self.out.extend(difference(self.server, uid, before, after));
        }
    }
}

impl Guilds {
    pub fn new(config: DiscordConfig) -> Arc<Guilds> {
        Arc::new(Guilds {
            config,
            inner: RwLock::new(Inner::default()),
        })
    }

    // Every update under the lock is a plain insert or remove, so a panic
    // elsewhere cannot leave it half-done; poisoning is ignored.
    pub fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the guild `id` if it is known, returning the presences to
    /// broadcast.
    fn change(&self, id: &str, f: impl FnOnce(&mut Change<'_>)) -> Vec<Presence> {
        let mut inner = self.write();
        let mut out = Vec::new();
        if let Some(guild) = inner.guilds.get_mut(id) {
            let cfg = self.config.server(id);
            let mut c = Change {
                server: id,
                cfg,
                hide_offline: hides_offline(cfg, guild, self.config.large_guild_members),
                guild,
                out: &mut out,
            };
            f(&mut c);
        }
        out
    }

    /// READY: a fresh session. Guilds the session does not list are gone
    /// (as by GUILD_DELETE: the answer is the delete presences for their
    /// viewers); the others stay until their GUILD_CREATE replaces them.
    pub fn ready(
        &self,
        bot_id: &str,
        application_id: Option<&str>,
        guild_ids: &[String],
    ) -> Vec<Presence> {
        let keep: HashSet<&String> = guild_ids.iter().collect();
        let gone: Vec<String> = {
            let mut inner = self.write();
            inner.bot_id = Some(bot_id.to_string());
            if let Some(app) = application_id {
                inner.application_id = Some(app.to_string());
            }
            inner.servers = None;
            inner
                .guilds
                .keys()
                .filter(|id| !keep.contains(id))
                .cloned()
                .collect()
        };
        let out = gone.iter().flat_map(|id| self.guild_delete(id)).collect();
        for s in &self.config.servers {
            if !keep.contains(&s.id) {
                log::warn!(
                    "discord: configured server {} is not a guild the bot is in; skipped (invite the bot to it)",
                    s.id
                );
            }
        }
        out
    }

    /// GUILD_CREATE: the whole guild. Returns the presences that bring
    /// viewers of an earlier copy up to date (catch-up after a fresh
    /// session), and whether the member list must be requested.
    #[allow(clippy::too_many_arguments)]
    pub fn guild_create(
        &self,
        id: &str,
        name: &str,
        roles: &[RoleObject],
        channels: &[ChannelObject],
        members: &[MemberObject],
        presences: &[PresenceObject],
        member_count: Option<u64>,
        complete: bool,
    ) -> Vec<Presence> {
        let cfg = self.config.server(id);
        let mut inner = self.write();
        inner.servers = None;
        let departed = inner.departed.remove(id);
        let large = self.config.large_guild_members;
        let before = inner.guilds.remove(id).map(|old| {
            let hide = hides_offline(cfg, &old, large);
            let mut seen: BTreeMap<String, Option<User>> = old
                .users
                .iter()
                .map(|(uid, u)| (uid.clone(), visible(cfg, hide, &old.members, Some(u))))
                .collect();
            if let Some(earlier) = old.before {
                // A still-unfinished catch-up: the oldest view is what viewers have.
                seen = earlier;
            }
            seen
        });
        // Back after a GUILD_DELETE: its viewers were shown nobody.
        let before = before.or_else(|| departed.then(BTreeMap::new));
        let mut guild = Guild {
            name: name.to_string(),
            roles: roles.iter().map(role_from).collect(),
            channels: channels
                .iter()
                .map(|c| (c.id.clone(), c.name.clone().unwrap_or_default()))
                .collect(),
            members: members.iter().filter_map(member_from).collect(),
            presences: presences
                .iter()
                .map(|p| (p.user.id.clone(), parse_status(p.status.as_deref())))
                .collect(),
            complete,
            member_count: member_count.unwrap_or(members.len() as u64),
            before,
            ..Guild::default()
        };
        guild.refresh_all();
        let out = if guild.complete {
            catch_up(id, cfg, large, &mut guild)
        } else {
            Vec::new()
        };
        inner.guilds.insert(id.to_string(), guild);
        out
    }

    /// GUILD_MEMBERS_CHUNK: part of a large guild's member list.
    pub fn members_chunk(
        &self,
        id: &str,
        members: &[MemberObject],
        presences: &[PresenceObject],
        last: bool,
    ) -> Vec<Presence> {
        let cfg = self.config.server(id);
        let mut inner = self.write();
        let mut out = Vec::new();
        let Some(guild) = inner.guilds.get_mut(id) else {
            return out;
        };
        let mut touched = Vec::with_capacity(members.len());
        for m in members {
            if let Some((uid, member)) = member_from(m) {
                guild.members.insert(uid.clone(), member);
                touched.push(uid);
            }
        }
        for p in presences {
            guild
                .presences
                .insert(p.user.id.clone(), parse_status(p.status.as_deref()));
        }
        let catching_up = guild.before.is_some();
        let large = self.config.large_guild_members;
        let hide = hides_offline(cfg, guild, large);
        for uid in &touched {
            let before = visible(cfg, hide, &guild.members, guild.users.get(uid));
            guild.refresh(uid);
            if !catching_up {
                let after = visible(cfg, hide, &guild.members, guild.users.get(uid));
                out.extend(difference(id, uid, before, after));
            }
        }
        if last {
            guild.complete = true;
            out.extend(catch_up(id, cfg, large, guild));
        }
        out
    }

    pub fn guild_update(
        &self,
        id: &str,
        name: Option<&str>,
        roles: Option<&[RoleObject]>,
    ) -> Vec<Presence> {
        {
            let mut inner = self.write();
            if let Some(name) = name {
                if let Some(g) = inner.guilds.get_mut(id) {
                    g.name = name.to_string();
                }
                inner.servers = None;
            }
        }
        match roles {
            Some(roles) => self.change(id, |c| {
                let uids: Vec<String> = c.guild.members.keys().cloned().collect();
                c.touching(&uids, |g| g.roles = roles.iter().map(role_from).collect());
            }),
            None => Vec::new(),
        }
    }

    /// GUILD_DELETE: unavailable or the bot was removed; it leaves the list.
    /// GUILD_DELETE (the bot was removed, or the guild is unavailable): it
    /// leaves the server list, and viewers still joined to it see every
    /// member leave (a `delete` presence each), so their view is not left
    /// frozen. If it comes back, its GUILD_CREATE brings them all back.
    pub fn guild_delete(&self, id: &str) -> Vec<Presence> {
        let cfg = self.config.server(id);
        let mut inner = self.write();
        let Some(old) = inner.guilds.remove(id) else {
            return Vec::new();
        };
        inner.servers = None;
        inner.departed.insert(id.to_string());
        // What viewers were shown: a catch-up's older view if one is pending.
        let shown: Vec<String> = match &old.before {
            Some(before) => before
                .iter()
                .filter(|(_, u)| u.is_some())
                .map(|(uid, _)| uid.clone())
                .collect(),
            None => old
                .users
                .values()
                .filter_map(|u| {
                    let hide = hides_offline(cfg, &old, self.config.large_guild_members);
                    visible(cfg, hide, &old.members, Some(u))
                })
                .map(|u| u.uid)
                .collect(),
        };
        shown
            .into_iter()
            .map(|uid| Presence::new(id, &uid, Status::Offline).delete())
            .collect()
    }

    pub fn presence_update(&self, id: &str, uid: &str, status: Status) -> Vec<Presence> {
        self.change(id, |c| {
            c.touching(&[uid.to_string()], |g| {
                g.presences.insert(uid.to_string(), status);
            })
        })
    }

    pub fn member_upsert(&self, id: &str, member: &MemberObject) -> Vec<Presence> {
        let Some((uid, m)) = member_from(member) else {
            return Vec::new();
        };
        self.change(id, |c| {
            c.touching(std::slice::from_ref(&uid), |g| {
                g.members.insert(uid.clone(), m);
            })
        })
    }

    pub fn member_remove(&self, id: &str, uid: &str) -> Vec<Presence> {
        self.change(id, |c| {
            c.touching(&[uid.to_string()], |g| {
                g.members.remove(uid);
                g.presences.remove(uid);
            })
        })
    }

    pub fn role_upsert(&self, id: &str, role: &RoleObject) -> Vec<Presence> {
        self.change(id, |c| {
            let uids = c.guild.holders(&HashSet::from([role.id.as_str()]));
            c.touching(&uids, |g| {
                let (rid, r) = role_from(role);
                g.roles.insert(rid, r);
            })
        })
    }

    pub fn role_delete(&self, id: &str, role_id: &str) -> Vec<Presence> {
        self.change(id, |c| {
            let uids = c.guild.holders(&HashSet::from([role_id]));
            c.touching(&uids, |g| {
                g.roles.remove(role_id);
            })
        })
    }

    pub fn channel_upsert(&self, channel: &ChannelObject) {
        let Some(gid) = &channel.guild_id else { return };
        if let Some(g) = self.write().guilds.get_mut(gid) {
            g.channels
                .insert(channel.id.clone(), channel.name.clone().unwrap_or_default());
        }
    }

    pub fn channel_delete(&self, channel: &ChannelObject) {
        let Some(gid) = &channel.guild_id else { return };
        if let Some(g) = self.write().guilds.get_mut(gid) {
            g.channels.remove(&channel.id);
        }
    }

    /// The server list: configured guilds the bot is in (in config order),
    /// or every guild (by snowflake) when none is configured.
    pub fn servers(&self) -> Arc<Vec<ServerInfo>> {
        if let Some(s) = &self.read().servers {
            return s.clone();
        }
        let mut inner = self.write();
        let list = Arc::new(build_server_list(&self.config, &inner.guilds));
        inner.servers = Some(list.clone());
        list
    }

    /// The users a viewer joining `id` sees.
    pub(crate) fn users(&self, id: &str) -> Arc<UserList> {
        if let Some(l) = self.read().guilds.get(id).and_then(|g| g.listing.clone()) {
            return l;
        }
        let cfg = self.config.server(id);
        let mut inner = self.write();
        let Some(g) = inner.guilds.get_mut(id) else {
            return Arc::default();
        };
        let hide = hides_offline(cfg, g, self.config.large_guild_members);
        let list = Arc::new(UserList::new(
            g.users
                .values()
                .filter_map(|u| visible(cfg, hide, &g.members, Some(u)))
                .collect(),
        ));
        g.listing = Some(list.clone());
        list
    }

    /// The OAuth2 client id of a server: its own, else the global one,
    /// else the bot's application id.
    pub fn client_id(&self, id: &str) -> Option<String> {
        self.config
            .server(id)
            .and_then(|s| s.client_id.clone())
            .or_else(|| self.config.client_id.clone())
            .or_else(|| self.read().application_id.clone())
    }
}

/// Once a replaced guild's member list is complete: the presences that take
/// viewers from what they were shown to what is true now.
fn catch_up(
    server: &str,
    cfg: Option<&ServerConfig>,
    large: u64,
    guild: &mut Guild,
) -> Vec<Presence> {
    let Some(before) = guild.before.take() else {
        return Vec::new();
    };
    let hide = hides_offline(cfg, guild, large);
    let mut out = Vec::new();
    for (uid, was) in &before {
        let now = visible(cfg, hide, &guild.members, guild.users.get(uid));
        out.extend(difference(server, uid, was.clone(), now));
    }
    for (uid, u) in &guild.users {
        if !before.contains_key(uid) {
            out.extend(difference(
                server,
                uid,
                None,
                visible(cfg, hide, &guild.members, Some(u)),
            ));
        }
    }
    out
}

/// A short id from a name: lower-case letters and digits, other runs as `-`.
pub(crate) fn slug(name: &str) -> String {
    let mut s = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            s.push(c);
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    s.trim_matches('-').to_string()
}

fn build_server_list(config: &DiscordConfig, guilds: &HashMap<String, Guild>) -> Vec<ServerInfo> {
    let mut order: Vec<(&str, Option<&ServerConfig>)> = if config.servers.is_empty() {
        let mut ids: Vec<&str> = guilds.keys().map(String::as_str).collect();
        ids.sort_by_key(|id| (id.len(), *id));
        ids.into_iter().map(|id| (id, None)).collect()
    } else {
        config
            .servers
            .iter()
            .filter(|s| guilds.contains_key(&s.id))
            .map(|s| (s.id.as_str(), Some(s)))
            .collect()
    };
    let mut taken = HashSet::new();
    let mut list = Vec::with_capacity(order.len());
    for (snowflake, cfg) in order.drain(..) {
        let guild = &guilds[snowflake];
        let name = cfg
            .and_then(|c| c.alias.clone())
            .filter(|a| !a.trim().is_empty())
            .unwrap_or_else(|| guild.name.clone());
        let base = Some(slug(&name))
            .filter(|s| !s.is_empty() && s != "default")
            .unwrap_or_else(|| snowflake.to_string());
        let mut id = base.clone();
        let mut n = 2;
        while !taken.insert(id.clone()) {
            id = format!("{base}-{n}");
            n += 1;
        }
        let mut info = ServerInfo::new(snowflake, id, name);
        if let Some(c) = cfg {
            info.default = c.default;
            info.passworded = c.protected || c.password.is_some();
            info.password = c.password.clone();
        }
        list.push(info);
    }
    // Exactly one default: the first configured one, else the first server.
    let first_default = list.iter().position(|s| s.default).unwrap_or(0);
    for (i, s) in list.iter_mut().enumerate() {
        s.default = i == first_default;
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("My  Cool Server!"), "my-cool-server");
        assert_eq!(slug("***"), "");
    }

    #[test]
    fn one_default_and_unique_ids() {
        let mut guilds = HashMap::new();
        for (id, name) in [("1", "Same"), ("2", "Same"), ("3", "Other")] {
            guilds.insert(
                id.to_string(),
                Guild {
                    name: name.into(),
                    ..Guild::default()
                },
            );
        }
        let list = build_server_list(&DiscordConfig::default(), &guilds);
        let ids: Vec<&str> = list.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["same", "same-2", "other"]);
        assert_eq!(list.iter().filter(|s| s.default).count(), 1);
        assert!(list[0].default);
    }

    #[test]
    fn a_change_that_changes_nothing_drawn_keeps_the_joins_list() {
        let g = Guilds::new(DiscordConfig::default());
        let member: MemberObject = serde_json::from_value(serde_json::json!({
            "user": {"id": "7", "username": "pip"}, "roles": []
        }))
        .unwrap();
        let presence: PresenceObject = serde_json::from_value(serde_json::json!({
            "user": {"id": "7"}, "status": "online"
        }))
        .unwrap();
        g.guild_create("1", "Isle", &[], &[], &[member], &[presence], None, true);
        let first = g.users("1");
        // Same status, as a presence that only changed its activity.
        assert!(g.presence_update("1", "7", Status::Online).is_empty());
        assert!(Arc::ptr_eq(&first, &g.users("1")), "the list is kept");
        assert_eq!(g.presence_update("1", "7", Status::Idle).len(), 1);
        let second = g.users("1");
        assert!(
            !Arc::ptr_eq(&first, &second),
            "a drawn change makes a new list"
        );
        assert_eq!(second.users()[0].status, Status::Idle);
    }
}

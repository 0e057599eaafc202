//! The gateway payloads the bot reads, as lenient typed structs: only the
//! fields d-zone needs, every one optional or defaulted, so a payload that
//! Discord grows or trims never stops the bot (a dispatch that does not
//! parse is logged and skipped).

use serde::Deserialize;

/// `op 0` envelope: the dispatch name and its data.
#[derive(Deserialize)]
pub(crate) struct Envelope {
    pub op: u8,
    #[serde(default)]
    pub t: Option<String>,
    #[serde(default)]
    pub d: serde_json::Value,
}

#[derive(Deserialize, Clone, Default)]
pub(crate) struct UserObject {
    pub id: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub global_name: Option<String>,
}

#[derive(Deserialize, Clone, Default)]
pub(crate) struct MemberObject {
    #[serde(default)]
    pub user: Option<UserObject>,
    #[serde(default)]
    pub nick: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
}

#[derive(Deserialize, Clone)]
pub(crate) struct RoleObject {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub color: u32,
    #[serde(default)]
    pub position: i64,
}

#[derive(Deserialize, Clone)]
pub(crate) struct ChannelObject {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub guild_id: Option<String>,
}

#[derive(Deserialize, Clone)]
pub(crate) struct PresenceObject {
    pub user: UserObject,
    #[serde(default)]
    pub guild_id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct Ready {
    pub user: UserObject,
    #[serde(default)]
    pub guilds: Vec<UnavailableGuild>,
    #[serde(default)]
    pub application: Option<PartialApplication>,
}

#[derive(Deserialize)]
pub(crate) struct PartialApplication {
    pub id: String,
    #[serde(default)]
    pub flags: Option<u64>,
}

#[derive(Deserialize)]
pub(crate) struct UnavailableGuild {
    pub id: String,
    #[serde(default)]
    pub unavailable: Option<bool>,
}

#[derive(Deserialize)]
pub(crate) struct GuildCreate {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub unavailable: Option<bool>,
    #[serde(default)]
    pub large: bool,
    #[serde(default)]
    pub member_count: Option<u64>,
    #[serde(default)]
    pub roles: Vec<RoleObject>,
    #[serde(default)]
    pub channels: Vec<ChannelObject>,
    #[serde(default)]
    pub threads: Vec<ChannelObject>,
    #[serde(default)]
    pub members: Vec<MemberObject>,
    #[serde(default)]
    pub presences: Vec<PresenceObject>,
}

#[derive(Deserialize)]
pub(crate) struct GuildUpdate {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub roles: Option<Vec<RoleObject>>,
}

#[derive(Deserialize)]
pub(crate) struct MembersChunk {
    pub guild_id: String,
    #[serde(default)]
    pub members: Vec<MemberObject>,
    #[serde(default)]
    pub presences: Vec<PresenceObject>,
    #[serde(default)]
    pub chunk_index: u32,
    #[serde(default = "one")]
    pub chunk_count: u32,
}

fn one() -> u32 {
    1
}

/// GUILD_MEMBER_ADD and GUILD_MEMBER_UPDATE: a member with its guild.
#[derive(Deserialize)]
pub(crate) struct GuildMember {
    pub guild_id: String,
    #[serde(flatten)]
    pub member: MemberObject,
}

#[derive(Deserialize)]
pub(crate) struct GuildMemberRemove {
    pub guild_id: String,
    pub user: UserObject,
}

#[derive(Deserialize)]
pub(crate) struct GuildRole {
    pub guild_id: String,
    pub role: RoleObject,
}

#[derive(Deserialize)]
pub(crate) struct GuildRoleDelete {
    pub guild_id: String,
    pub role_id: String,
}

#[derive(Deserialize)]
pub(crate) struct Mention {
    pub id: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub global_name: Option<String>,
    #[serde(default)]
    pub member: Option<MemberObject>,
}

#[derive(Deserialize)]
pub(crate) struct MessageCreate {
    pub id: String,
    pub channel_id: String,
    #[serde(default)]
    pub guild_id: Option<String>,
    pub author: UserObject,
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub mentions: Vec<Mention>,
    #[serde(default)]
    pub attachments: Vec<serde_json::Value>,
    #[serde(default)]
    pub sticker_items: Vec<serde_json::Value>,
    #[serde(default)]
    pub webhook_id: Option<String>,
}

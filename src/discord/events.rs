//! The gateway payloads the bot reads, as lenient typed structs: only the
//! fields d-zone needs, every one optional or defaulted, so a payload that
//! Discord grows or trims never stops the bot (a dispatch that does not
//! parse is logged and skipped).
//!
//! A dispatch is parsed once: the envelope borrows its `d` as raw JSON
//! text, and only the arm that handles the event turns that text into its
//! struct. Snowflakes (Discord sends them as strings) become `u64` as they
//! are read, and statuses become [`Status`], so the cache never holds an id
//! as text.

use serde::de::{Deserializer, IgnoredAny};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::protocol::model::Status;

/// `op 0` envelope: the dispatch name and its data, not yet parsed.
#[derive(Deserialize)]
pub(crate) struct Envelope<'a> {
    pub op: u8,
    #[serde(default)]
    pub t: Option<&'a str>,
    #[serde(borrow, default)]
    pub d: Option<&'a RawValue>,
}

/// A snowflake as Discord sends it: a decimal string (a number is taken too).
struct Snowflake;

impl serde::de::Visitor<'_> for Snowflake {
    type Value = u64;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a snowflake")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<u64, E> {
        s.parse()
            .map_err(|_| E::custom("an id that is not a snowflake"))
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<u64, E> {
        Ok(n)
    }
}

pub(crate) fn id<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    d.deserialize_any(Snowflake)
}

/// One id inside an `Option` or a `Vec`.
struct Id(u64);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        id(d).map(Id)
    }
}

fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(Option::<Id>::deserialize(d)?.map(|i| i.0))
}

fn ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    struct List;
    impl<'de> serde::de::Visitor<'de> for List {
        type Value = Vec<u64>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of snowflakes")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u64>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(Id(i)) = seq.next_element()? {
                out.push(i);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(List)
}

/// Discord's status words; `invisible` (and anything unknown) looks offline.
fn status<'de, D: Deserializer<'de>>(d: D) -> Result<Status, D::Error> {
    Ok(
        match Option::<std::borrow::Cow<str>>::deserialize(d)?.as_deref() {
            Some("online") => Status::Online,
            Some("idle") => Status::Idle,
            Some("dnd") => Status::Dnd,
            _ => Status::Offline,
        },
    )
}

#[derive(Deserialize, Clone, Default)]
pub(crate) struct UserObject {
    #[serde(deserialize_with = "id")]
    pub id: u64,
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
    #[serde(default, deserialize_with = "ids")]
    pub roles: Vec<u64>,
}

#[derive(Deserialize, Clone)]
pub(crate) struct RoleObject {
    #[serde(deserialize_with = "id")]
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub color: u32,
    #[serde(default)]
    pub position: i64,
}

#[derive(Deserialize, Clone)]
pub(crate) struct ChannelObject {
    #[serde(deserialize_with = "id")]
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "opt_id")]
    pub guild_id: Option<u64>,
}

/// Only the user's id matters in a presence.
#[derive(Deserialize, Clone)]
pub(crate) struct UserId {
    #[serde(deserialize_with = "id")]
    pub id: u64,
}

#[derive(Deserialize, Clone)]
pub(crate) struct PresenceObject {
    pub user: UserId,
    #[serde(default, deserialize_with = "opt_id")]
    pub guild_id: Option<u64>,
    #[serde(default = "offline", deserialize_with = "status")]
    pub status: Status,
}

fn offline() -> Status {
    Status::Offline
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
    #[serde(deserialize_with = "id")]
    pub id: u64,
    #[serde(default)]
    pub unavailable: Option<bool>,
}

#[derive(Deserialize)]
pub(crate) struct GuildCreate {
    #[serde(deserialize_with = "id")]
    pub id: u64,
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
    #[serde(deserialize_with = "id")]
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub roles: Option<Vec<RoleObject>>,
}

#[derive(Deserialize)]
pub(crate) struct MembersChunk {
    #[serde(deserialize_with = "id")]
    pub guild_id: u64,
    #[serde(default)]
    pub members: Vec<MemberObject>,
    #[serde(default)]
    pub presences: Vec<PresenceObject>,
    #[serde(default)]
    pub chunk_index: u32,
    #[serde(default = "one")]
    pub chunk_count: u32,
    /// The nonce of the member request this chunk answers.
    #[serde(default)]
    pub nonce: Option<String>,
}

fn one() -> u32 {
    1
}

/// GUILD_MEMBER_ADD and GUILD_MEMBER_UPDATE: a member with its guild.
#[derive(Deserialize)]
pub(crate) struct GuildMember {
    #[serde(deserialize_with = "id")]
    pub guild_id: u64,
    #[serde(flatten)]
    pub member: MemberObject,
}

#[derive(Deserialize)]
pub(crate) struct GuildMemberRemove {
    #[serde(deserialize_with = "id")]
    pub guild_id: u64,
    pub user: UserId,
}

#[derive(Deserialize)]
pub(crate) struct GuildRole {
    #[serde(deserialize_with = "id")]
    pub guild_id: u64,
    pub role: RoleObject,
}

#[derive(Deserialize)]
pub(crate) struct GuildRoleDelete {
    #[serde(deserialize_with = "id")]
    pub guild_id: u64,
    #[serde(deserialize_with = "id")]
    pub role_id: u64,
}

#[derive(Deserialize)]
pub(crate) struct Mention {
    #[serde(deserialize_with = "id")]
    pub id: u64,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub global_name: Option<String>,
    #[serde(default)]
    pub member: Option<MemberObject>,
}

#[derive(Deserialize)]
pub(crate) struct MessageCreate {
    #[serde(deserialize_with = "id")]
    pub id: u64,
    #[serde(deserialize_with = "id")]
    pub channel_id: u64,
    #[serde(default, deserialize_with = "opt_id")]
    pub guild_id: Option<u64>,
    pub author: UserObject,
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub mentions: Vec<Mention>,
    #[serde(default)]
    pub attachments: Vec<IgnoredAny>,
    #[serde(default)]
    pub sticker_items: Vec<IgnoredAny>,
    #[serde(default)]
    pub webhook_id: Option<IgnoredAny>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snowflakes_and_statuses_are_read_as_they_arrive() {
        let json = r#"{"op":0,"t":"PRESENCE_UPDATE","s":3,
            "d":{"user":{"id":"444444444444444401"},"guild_id":"111111111111111111","status":"dnd"}}"#;
        let env: Envelope = serde_json::from_str(json).unwrap();
        assert_eq!((env.op, env.t), (0, Some("PRESENCE_UPDATE")));
        let p: PresenceObject = serde_json::from_str(env.d.unwrap().get()).unwrap();
        assert_eq!(p.user.id, 444444444444444401);
        assert_eq!(p.guild_id, Some(111111111111111111));
        assert_eq!(p.status, Status::Dnd);
        let invisible: PresenceObject =
            serde_json::from_str(r#"{"user":{"id":7},"status":"invisible"}"#).unwrap();
        assert_eq!(invisible.status, Status::Offline);
        assert!(serde_json::from_str::<UserId>(r#"{"id":"seven"}"#).is_err());
    }
}

//! Typed data that crosses the provider boundary: servers, users, presence.
//!
//! The original passed free-form dictionaries around and trusted them. Here a
//! provider answers with these types (or with the original's JSON shape, which
//! is validated entry by entry), so nothing malformed ever reaches a client.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

/// A Discord presence as d-zone draws it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Online,
    Idle,
    Dnd,
    Offline,
}

impl Status {
    /// Every status, in a fixed order (the mock traffic picks from it).
    pub const ALL: [Status; 4] = [Status::Online, Status::Idle, Status::Dnd, Status::Offline];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Online => "online",
            Status::Idle => "idle",
            Status::Dnd => "dnd",
            Status::Offline => "offline",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a value was refused at the boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataError(pub String);

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DataError {}

impl FromStr for Status {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "online" => Ok(Status::Online),
            "idle" => Ok(Status::Idle),
            "dnd" => Ok(Status::Dnd),
            "offline" => Ok(Status::Offline),
            other => Err(DataError(format!(
                "status {other:?} is not one of online, idle, dnd, offline"
            ))),
        }
    }
}

/// A role colour in the only form d-zone understands: `#rrggbb`.
///
/// Kept inline (seven ASCII bytes, `Copy`), not as a `String`: every user
/// carries one, and a list of users is copied and compared per join.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RoleColor([u8; 7]);

impl RoleColor {
    /// Accepts `#rrggbb` (either case); stored lower-case so equal colours
    /// compare equal.
    pub fn parse(s: &str) -> Result<Self, DataError> {
        let b = s.as_bytes();
        if b.len() == 7 && b[0] == b'#' && b[1..].iter().all(u8::is_ascii_hexdigit) {
            let mut out = [0u8; 7];
            out.copy_from_slice(b);
            out.make_ascii_lowercase();
            Ok(RoleColor(out))
        } else {
            Err(DataError(format!("role colour {s:?} is not #rrggbb")))
        }
    }

    /// From a packed `0xRRGGBB` integer, as Discord's API reports role colours.
    pub fn from_rgb(rgb: u32) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = *b"#000000";
        for (i, slot) in out[1..].iter_mut().enumerate() {
            *slot = HEX[((rgb >> (20 - 4 * i)) & 0xf) as usize];
        }
        RoleColor(out)
    }

    pub fn as_str(&self) -> &str {
        // Only ever made from `#` and hex digits, so always ASCII.
        std::str::from_utf8(&self.0).unwrap_or("#000000")
    }
}

impl std::fmt::Debug for RoleColor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RoleColor").field(&self.as_str()).finish()
    }
}

impl FromStr for RoleColor {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RoleColor::parse(s)
    }
}

impl Serialize for RoleColor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One Discord server (guild) offered to clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerInfo {
    /// The guild snowflake: the key of the server list and of broadcasts.
    pub snowflake: String,
    /// The short id clients ask for in `connect`.
    pub id: String,
    pub name: String,
    /// Joining needs Discord login (or the legacy password).
    pub passworded: bool,
    /// Answers a `connect` for `"default"`.
    pub default: bool,
    /// Legacy shared password. Never sent to any client.
    pub password: Option<String>,
}

impl ServerInfo {
    /// An open, non-default server.
    pub fn new(
        snowflake: impl Into<String>,
        id: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        ServerInfo {
            snowflake: snowflake.into(),
            id: id.into(),
            name: name.into(),
            passworded: false,
            default: false,
            password: None,
        }
    }

    /// Marks this server as the one `"default"` resolves to.
    pub fn default_server(mut self) -> Self {
        self.default = true;
        self
    }

    /// Requires Discord login to join.
    pub fn protected(mut self) -> Self {
        self.passworded = true;
        self
    }

    /// Requires Discord login, or this legacy password.
    pub fn with_password(mut self, password: impl Into<String>) -> Self {
        self.passworded = true;
        self.password = Some(password.into());
        self
    }
}

/// One member as d-zone draws it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    pub uid: String,
    pub username: String,
    pub status: Status,
    #[serde(rename = "roleColor")]
    pub role_color: RoleColor,
}

impl User {
    pub fn new(
        uid: impl Into<String>,
        username: impl Into<String>,
        status: Status,
        role_color: RoleColor,
    ) -> Self {
        User {
            uid: uid.into(),
            username: username.into(),
            status,
            role_color,
        }
    }
}

/// A presence change pushed by the bot side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Presence {
    /// Guild snowflake.
    pub server: String,
    pub uid: String,
    pub status: Status,
    /// Needed by clients that do not know the uid yet.
    pub username: Option<String>,
    pub role_color: Option<RoleColor>,
    /// The user leaves the scene (left the guild, or went offline for good).
    pub delete: bool,
}

impl Presence {
    pub fn new(server: impl Into<String>, uid: impl Into<String>, status: Status) -> Self {
        Presence {
            server: server.into(),
            uid: uid.into(),
            status,
            username: None,
            role_color: None,
            delete: false,
        }
    }

    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    pub fn role_color(mut self, color: RoleColor) -> Self {
        self.role_color = Some(color);
        self
    }

    pub fn delete(mut self) -> Self {
        self.delete = true;
        self
    }
}

/// The Discord user a client claims to be, as sent in `connect`.
#[derive(Clone, Debug, PartialEq)]
pub struct DiscordUser {
    pub id: String,
    pub username: String,
    /// Everything the client sent, for validators that want more fields.
    pub raw: Map<String, Value>,
}

/// What a server-data provider may answer: typed servers, or the original's
/// dictionary (`{snowflake: {id, name, passworded, default, password?}}`).
pub trait IntoServers {
    /// Converts, dropping (and logging once each) entries that are malformed.
    fn into_servers(self) -> Vec<ServerInfo>;
}

impl IntoServers for Vec<ServerInfo> {
    fn into_servers(self) -> Vec<ServerInfo> {
        let mut out: Vec<ServerInfo> = Vec::with_capacity(self.len());
        for s in self {
            if s.snowflake.is_empty() || s.id.is_empty() {
                log::warn!("server provider: skipped a server with an empty snowflake or id");
            } else if out.iter().any(|o| o.snowflake == s.snowflake) {
                log::warn!(
                    "server provider: skipped duplicate snowflake {}",
                    s.snowflake
                );
            } else {
                out.push(s);
            }
        }
        out
    }
}

/// Reads the original's `{key: {fields}}` dictionary, converting each entry
/// with `convert` and skipping (with one warning each) those it refuses.
fn entries_from_json<T>(
    value: Value,
    what: &str,
    convert: impl Fn(&str, &Map<String, Value>) -> Result<T, DataError>,
) -> Vec<T> {
    let Value::Object(map) = value else {
        log::warn!("{what} provider: answer is not an object; none taken");
        return Vec::new();
    };
    let mut out = Vec::with_capacity(map.len());
    for (key, entry) in &map {
        let converted = match entry {
            Value::Object(o) => convert(key, o),
            _ => Err(DataError("entry is not an object".into())),
        };
        match converted {
            Ok(t) => out.push(t),
            Err(e) => log::warn!("{what} provider: skipped {key:?}: {e}"),
        }
    }
    out
}

/// A field that must be a non-empty string.
fn required_text<'a>(o: &'a Map<String, Value>, k: &str) -> Result<&'a str, DataError> {
    match o.get(k) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        _ => Err(DataError(format!(
            "{k} is missing or not a non-empty string"
        ))),
    }
}

impl IntoServers for Value {
    fn into_servers(self) -> Vec<ServerInfo> {
        entries_from_json(self, "server", server_from_json).into_servers()
    }
}

fn server_from_json(snowflake: &str, o: &Map<String, Value>) -> Result<ServerInfo, DataError> {
    let text = |k: &str| required_text(o, k).map(str::to_string);
    let flag = |k: &str| -> Result<bool, DataError> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            _ => Err(DataError(format!("{k} is not a boolean"))),
        }
    };
    let password = match o.get("password") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        _ => return Err(DataError("password is not a string".into())),
    };
    Ok(ServerInfo {
        snowflake: snowflake.to_string(),
        id: text("id")?,
        name: text("name")?,
        passworded: flag("passworded")?,
        default: flag("default")?,
        password,
    })
}

/// What a user-data provider may answer: typed users, a shared list of
/// them, or the original's dictionary (`{uid: {uid, username, status,
/// roleColor}}`).
pub trait IntoUsers {
    /// Converts, dropping (and logging once each) entries that are malformed.
    fn into_users(self) -> Vec<User>;

    /// The shared list this answer is, if it is one. d-back recognizes the
    /// same `Arc` answered again and reuses what it made of it (checked and
    /// encoded), so a provider that keeps its users pays nothing per join.
    fn shared(&self) -> Option<Arc<[User]>> {
        None
    }
}

/// A list the provider keeps and hands out again: answer a clone of the
/// `Arc`, and make a new one when the members change.
impl IntoUsers for Arc<[User]> {
    fn into_users(self) -> Vec<User> {
        self.to_vec().into_users()
    }

    fn shared(&self) -> Option<Arc<[User]>> {
        Some(self.clone())
    }
}

impl IntoUsers for Vec<User> {
    fn into_users(self) -> Vec<User> {
        let mut seen = std::collections::HashSet::with_capacity(self.len());
        self.into_iter()
            .filter(|u| {
                if u.uid.is_empty() || u.username.is_empty() {
                    log::warn!("user provider: skipped a user with an empty uid or username");
                    false
                } else if !seen.insert(u.uid.clone()) {
                    log::warn!("user provider: skipped duplicate uid {}", u.uid);
                    false
                } else {
                    true
                }
            })
            .collect()
    }
}

impl IntoUsers for Value {
    fn into_users(self) -> Vec<User> {
        entries_from_json(self, "user", user_from_json).into_users()
    }
}

fn user_from_json(key: &str, o: &Map<String, Value>) -> Result<User, DataError> {
    let text = |k: &str| required_text(o, k);
    let uid = match o.get("uid") {
        None | Some(Value::Null) => key,
        _ => text("uid")?,
    };
    Ok(User {
        uid: uid.to_string(),
        username: text("username")?.to_string(),
        status: text("status")?.parse()?,
        role_color: RoleColor::parse(text("roleColor")?)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn role_colour_accepts_only_hex_triplets() {
        assert!(RoleColor::parse("#ff6B6b").is_ok());
        for bad in ["ff6b6b", "#ff6b6", "#ff6b6bb", "#gg0000", "", "#"] {
            assert!(RoleColor::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(RoleColor::from_rgb(0x12ab).as_str(), "#0012ab");
        assert_eq!(RoleColor::from_rgb(0xff6b6b).as_str(), "#ff6b6b");
        assert_eq!(RoleColor::from_rgb(0x1abcdef).as_str(), "#abcdef");
        assert_eq!(
            RoleColor::parse("#AbCdEf").unwrap(),
            RoleColor::from_rgb(0xabcdef)
        );
        assert_eq!(
            format!("{:?}", RoleColor::from_rgb(1)),
            "RoleColor(\"#000001\")"
        );
    }

    #[test]
    fn json_users_skip_bad_entries() {
        let users = json!({
            "1": {"uid": "1", "username": "a", "status": "online", "roleColor": "#ffffff"},
            "2": {"uid": "2", "username": "b", "status": "away", "roleColor": "#ffffff"},
            "3": {"uid": "3", "username": "c", "status": "idle", "roleColor": "red"},
            "4": 7
        })
        .into_users();
        assert_eq!(users.len(), 1);
        assert_eq!(users[0].uid, "1");
    }

    #[test]
    fn json_servers_keep_order_and_password() {
        let servers = json!({
            "2": {"id": "b", "name": "B", "passworded": true, "password": "pw"},
            "1": {"id": "a", "name": "A", "default": true},
            "3": {"id": 5, "name": "bad"}
        })
        .into_servers();
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[0].snowflake, "2");
        assert_eq!(servers[0].password.as_deref(), Some("pw"));
        assert!(servers[1].default);
    }
}

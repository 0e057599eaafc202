//! Discord settings: the token, where Discord is, and which guilds to show
//! with their filters. One type reads all three sources: code, the
//! `[discord]` table of d-back's TOML file, and d-zone's own
//! `discord-config.json` as it is (its camelCase names are aliases of ours),
//! so a d-zone user migrates by pointing d-back at the file they have.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Discord's own gateway, used unless `D_BACK_DISCORD_GATEWAY_URL` or
/// `gateway_url` says otherwise.
pub const DISCORD_GATEWAY_URL: &str = "wss://gateway.discord.gg";
/// Discord's own REST base (requests go to `{base}/api/v10/...`).
pub const DISCORD_API_URL: &str = "https://discord.com";

/// Everything the built-in bot needs. `Debug` never shows the token.
#[derive(Clone, Deserialize)]
#[serde(default)]
pub struct DiscordConfig {
    /// The bot token. Prefer `DISCORD_TOKEN` over writing it in a file.
    pub token: Option<String>,
    /// Guilds to show, in list order; empty shows every guild the bot is in.
    pub servers: Vec<ServerConfig>,
    /// A chat command (e.g. `!dzone`) answered with the page's address.
    #[serde(alias = "infoCommand")]
    pub info_command: Option<String>,
    /// The page's address, for the info command's answer.
    pub url: Option<String>,
    /// OAuth2 client id for every server without its own
    /// (`DISCORD_CLIENT_ID`); when unset, the bot's application id.
    #[serde(alias = "clientId")]
    pub client_id: Option<String>,
    /// `ws://` or `wss://` gateway (tests and proxies).
    #[serde(alias = "gatewayUrl")]
    pub gateway_url: Option<String>,
    /// REST base such as `http://127.0.0.1:8081` (tests and proxies).
    #[serde(alias = "apiUrl")]
    pub api_url: Option<String>,
    /// Guilds with more members than this show their online members only,
    /// unless their server entry sets `hide_offline = false`.
    #[serde(alias = "largeGuildMembers")]
    pub large_guild_members: u64,
    /// How many gateway shards: `None` (`shards = "auto"`) starts Discord's
    /// recommendation from `GET /gateway/bot`, and more when Discord
    /// closes a shard with 4011; a number starts that many.
    #[serde(deserialize_with = "shard_count")]
    pub shards: Option<u32>,
    /// The shards this instance runs (`"A..B"`, B excluded) out of
    /// [`shard_total`](Self::shard_total), for a bot split over machines.
    #[serde(deserialize_with = "shard_range")]
    pub shard_range: Option<std::ops::Range<u32>>,
    /// The shard count of every instance of a split bot.
    pub shard_total: Option<u32>,
    /// One IDENTIFY per bucket per this long (Discord: 5 s; tests shorten it).
    #[serde(skip)]
    pub identify_interval: Duration,
    /// A member request with no chunk for this long is sent again.
    #[serde(skip)]
    pub member_request_timeout: Duration,
    /// Per-channel pause between two answers to the info command.
    #[serde(skip)]
    pub info_cooldown: Duration,
    /// How long one question to Discord's REST API may take.
    #[serde(skip)]
    pub rest_timeout: Duration,
    /// How long a validator verdict is remembered (accepted and refused).
    #[serde(skip)]
    pub validation_cache_ttl: Duration,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        DiscordConfig {
            token: None,
            servers: Vec::new(),
            info_command: None,
            url: None,
            client_id: None,
            gateway_url: None,
            api_url: None,
            large_guild_members: 10_000,
            shards: None,
            shard_range: None,
            shard_total: None,
            identify_interval: Duration::from_secs(5),
            member_request_timeout: Duration::from_secs(15),
            info_cooldown: Duration::from_secs(30),
            rest_timeout: Duration::from_secs(3),
            validation_cache_ttl: Duration::from_secs(300),
        }
    }
}

impl fmt::Debug for DiscordConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordConfig")
            .field("token", &self.token.as_ref().map(|_| "<hidden>"))
            .field("servers", &self.servers)
            .field("info_command", &self.info_command)
            .field("url", &self.url)
            .field("client_id", &self.client_id)
            .field("gateway_url", &self.gateway_url)
            .field("api_url", &self.api_url)
            .field("large_guild_members", &self.large_guild_members)
            .field("shards", &self.shards)
            .field("shard_range", &self.shard_range)
            .field("shard_total", &self.shard_total)
            .finish()
    }
}

/// One guild to show, with d-zone's per-server options.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// The guild snowflake.
    #[serde(deserialize_with = "snowflake")]
    pub id: String,
    /// Shown name, and the source of the short id; else the guild's name.
    pub alias: Option<String>,
    /// Answers a `connect` for `"default"`.
    pub default: bool,
    /// Legacy shared password (makes the server passworded).
    pub password: Option<String>,
    /// Channels (names or ids) whose chat is not shown.
    #[serde(alias = "ignoreChannels", deserialize_with = "names")]
    pub ignore_channels: Vec<String>,
    /// Members (ids or usernames) left out of the scene and the chat.
    #[serde(alias = "ignoreUsers", deserialize_with = "names")]
    pub ignore_users: Vec<String>,
    /// When not empty, only these channels' chat is shown.
    #[serde(alias = "listenChannels", deserialize_with = "names")]
    pub listen_channels: Vec<String>,
    /// Offline members are not drawn and their messages not shown. Unset:
    /// so in a guild of more than
    /// [`large_guild_members`](DiscordConfig::large_guild_members) members
    /// (d-zone's advice for big servers), not in a smaller one.
    #[serde(alias = "hideOffline")]
    pub hide_offline: Option<bool>,
    /// Joining needs a Discord login.
    pub protected: bool,
    /// OAuth2 client id for this server (overrides the global one).
    #[serde(alias = "clientId")]
    pub client_id: Option<String>,
}

impl ServerConfig {
    /// A server entry for the guild `id`, with no options.
    pub fn new(id: impl Into<String>) -> Self {
        ServerConfig {
            id: id.into(),
            ..ServerConfig::default()
        }
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("id", &self.id)
            .field("alias", &self.alias)
            .field("default", &self.default)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("ignore_channels", &self.ignore_channels)
            .field("ignore_users", &self.ignore_users)
            .field("listen_channels", &self.listen_channels)
            .field("hide_offline", &self.hide_offline)
            .field("protected", &self.protected)
            .field("client_id", &self.client_id)
            .finish()
    }
}

/// Snowflakes are strings in d-zone's JSON, and may be integers in TOML.
#[derive(Deserialize)]
#[serde(untagged)]
enum TextOrNumber {
    Text(String),
    Number(u64),
}

impl TextOrNumber {
    fn into_string(self) -> String {
        match self {
            TextOrNumber::Text(s) => s.trim().to_string(),
            TextOrNumber::Number(n) => n.to_string(),
        }
    }
}

fn snowflake<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    TextOrNumber::deserialize(d).map(TextOrNumber::into_string)
}

/// `"auto"` or a number of shards (at least one).
pub fn parse_shards(text: &str) -> Result<Option<u32>, String> {
    match text.trim() {
        "auto" => Ok(None),
        n => match n.parse::<u32>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(format!(
                "shards must be auto or a number above 0, not {text:?}"
            )),
        },
    }
}

/// `"A..B"`: shards A up to B, B excluded.
pub fn parse_shard_range(text: &str) -> Result<std::ops::Range<u32>, String> {
    let bad = || format!("a shard range is written A..B (e.g. 0..4), not {text:?}");
    let (a, b) = text.trim().split_once("..").ok_or_else(bad)?;
    let (a, b) = (
        a.parse::<u32>().map_err(|_| bad())?,
        b.parse::<u32>().map_err(|_| bad())?,
    );
    if a >= b {
        return Err(format!("the shard range {text:?} holds no shard"));
    }
    Ok(a..b)
}

fn shard_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    parse_shards(&TextOrNumber::deserialize(d)?.into_string()).map_err(serde::de::Error::custom)
}

fn shard_range<'de, D: Deserializer<'de>>(d: D) -> Result<Option<std::ops::Range<u32>>, D::Error> {
    let text = String::deserialize(d)?;
    parse_shard_range(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn names<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Vec::<TextOrNumber>::deserialize(d)?
        .into_iter()
        .map(TextOrNumber::into_string)
        .collect())
}

/// Why a Discord configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl DiscordConfig {
    /// Reads d-zone's `discord-config.json` (`servers`, `infoCommand`, `url`,
    /// and the token if it is there).
    pub fn from_dzone_json(text: &str) -> Result<Self, ConfigError> {
        serde_json::from_str(text).map_err(|e| ConfigError(format!("{e}")))
    }

    /// Fills in what the environment says: `DISCORD_TOKEN`,
    /// `DISCORD_CLIENT_ID`, `D_BACK_DISCORD_GATEWAY_URL`,
    /// `D_BACK_DISCORD_API_URL` (each wins over the file).
    pub fn with_env(mut self) -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        if let Some(t) = var("DISCORD_TOKEN") {
            self.token = Some(t);
        }
        if let Some(c) = var("DISCORD_CLIENT_ID") {
            self.client_id = Some(c);
        }
        if let Some(g) = var("D_BACK_DISCORD_GATEWAY_URL") {
            self.gateway_url = Some(g);
        }
        if let Some(a) = var("D_BACK_DISCORD_API_URL") {
            self.api_url = Some(a);
        }
        self
    }

    /// Checks what can be checked before connecting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.token.as_deref().map(str::trim) {
            None | Some("") => {
                return Err(ConfigError(
                    "no Discord bot token: set DISCORD_TOKEN (or token in the config file)".into(),
                ))
            }
            Some(_) => {}
        }
        if let Some(g) = &self.gateway_url {
            if !(g.starts_with("ws://") || g.starts_with("wss://")) {
                return Err(ConfigError(format!(
                    "the Discord gateway URL {g:?} must start with ws:// or wss://"
                )));
            }
        }
        if let Some(a) = &self.api_url {
            if !(a.starts_with("http://") || a.starts_with("https://")) {
                return Err(ConfigError(format!(
                    "the Discord API URL {a:?} must start with http:// or https://"
                )));
            }
        }
        match (&self.shard_range, self.shard_total) {
            (Some(r), Some(total)) if r.end > total => {
                return Err(ConfigError(format!(
                    "the shard range {}..{} reaches past the shard total {total}",
                    r.start, r.end
                )))
            }
            (Some(_), None) => {
                return Err(ConfigError(
                    "a shard range needs the shard total of every instance (--shard-total)".into(),
                ))
            }
            (None, Some(_)) => {
                return Err(ConfigError(
                    "a shard total needs this instance's shard range (--shard-range A..B)".into(),
                ))
            }
            _ => {}
        }
        if self.shard_range.is_some() && self.shards.is_some() {
            return Err(ConfigError(
                "set either shards or a shard range with its total, not both".into(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for s in &self.servers {
            if s.id.is_empty() || !s.id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ConfigError(format!(
                    "server id {:?} is not a Discord guild id (a number)",
                    s.id
                )));
            }
            if !seen.insert(&s.id) {
                return Err(ConfigError(format!("server {} is listed twice", s.id)));
            }
        }
        Ok(())
    }

    /// The gateway base URL, without a trailing slash.
    pub(crate) fn gateway_base(&self) -> String {
        self.gateway_url
            .as_deref()
            .unwrap_or(DISCORD_GATEWAY_URL)
            .trim_end_matches('/')
            .to_string()
    }

    /// The REST base as twilight-http wants it: host (and port), and whether
    /// to speak plain HTTP.
    pub(crate) fn api_host(&self) -> Option<(String, bool)> {
        let base = self.api_url.as_deref()?;
        let (rest, plain) = match base.strip_prefix("http://") {
            Some(r) => (r, true),
            None => (base.strip_prefix("https://").unwrap_or(base), false),
        };
        Some((rest.trim_end_matches('/').to_string(), plain))
    }

    /// The options of the guild `snowflake`, when it is configured.
    pub(crate) fn server(&self, snowflake: &str) -> Option<&ServerConfig> {
        self.servers.iter().find(|s| s.id == snowflake)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dzone_json_reads_camel_case() {
        let c = DiscordConfig::from_dzone_json(
            r#"{"token":"t","servers":[{"id":"1","default":true,"alias":"a","password":"p",
            "ignoreChannels":["x",5],"ignoreUsers":["9"],"listenChannels":[],"hideOffline":true}],
            "infoCommand":"!dzone","url":"http://h/"}"#,
        )
        .unwrap();
        assert_eq!(c.token.as_deref(), Some("t"));
        let s = &c.servers[0];
        assert!(s.default && s.hide_offline == Some(true));
        assert_eq!(s.ignore_channels, vec!["x", "5"]);
        assert_eq!(c.info_command.as_deref(), Some("!dzone"));
        assert!(!format!("{c:?}").contains("\"t\""));
        c.validate().unwrap();
    }

    #[test]
    fn urls_are_checked() {
        let c = DiscordConfig {
            token: Some("t".into()),
            gateway_url: Some("http://x".into()),
            ..Default::default()
        };
        assert!(c.validate().is_err());
        let c = DiscordConfig {
            token: Some("t".into()),
            api_url: Some("http://127.0.0.1:9/".into()),
            ..Default::default()
        };
        assert_eq!(c.api_host(), Some(("127.0.0.1:9".into(), true)));
    }
}

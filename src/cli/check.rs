//! `d-back config check` and `d-back config example`: the configuration
//! an operator can read before starting. Both walk
//! [`KEYS`](crate::cli::keys::KEYS) and take each key's flag, environment
//! variable and help line from clap, so neither can drift from what a
//! start reads. `check` prints valid TOML (secrets as `"<redacted>"`), so
//! its output is itself a config file.

use std::fmt::Write as _;

use clap::Command;
use d_back::discord::DiscordConfig;

use crate::cli::keys::{Secrecy, KEYS};

/// Where a key's effective value came from, shown beside it.
pub enum Origin {
    Default,
    Flag(String),
    Env(String),
    File,
}

/// Shown instead of a secret.
const REDACTED: &str = "<redacted>";

fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// `redis://user:pw@host/` -> `redis://user:<redacted>@host/`.
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_string();
    };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:{REDACTED}{}", &rest[at..]),
        None => url.to_string(),
    }
}

fn shown(value: &toml::Value, secrecy: Secrecy) -> String {
    match (secrecy, value) {
        (Secrecy::Plain, v) => v.to_string(),
        (Secrecy::UrlPassword, toml::Value::String(s)) => quoted(&without_password(s)),
        _ => quoted(REDACTED),
    }
}

/// The effective configuration: every key with its value (or `# KEY: unset`)
/// and where it came from, then the Discord bot's settings.
pub fn effective(
    file: Option<&std::path::Path>,
    values: &toml::Table,
    origin: impl Fn(&str) -> Origin,
    discord: Option<&DiscordConfig>,
) -> String {
    let mut out = String::new();
    let from = file.map_or("no config file".to_string(), |f| {
        format!("config file {}", f.display())
    });
    let _ = writeln!(
        out,
        "# d-back {}: the effective configuration ({from}, the environment and the command line)",
        env!("CARGO_PKG_VERSION")
    );
    for key in KEYS {
        let Some(value) = values.get(key.name) else {
            let _ = writeln!(out, "# {}: unset", key.name);
            continue;
        };
        let line = format!("{} = {}", key.name, shown(value, key.secrecy));
        let _ = match origin(key.name) {
            Origin::Default => writeln!(out, "{line}"),
            Origin::Flag(f) => writeln!(out, "{line}  # from --{f}"),
            Origin::Env(e) => writeln!(out, "{line}  # from {e}"),
            Origin::File => writeln!(out, "{line}  # from the file"),
        };
    }
    match discord {
        None => {
            let _ = writeln!(
                out,
                "# [discord]: no bot token (DISCORD_TOKEN), so mock servers are shown"
            );
        }
        Some(d) => write_discord(&mut out, d),
    }
    out
}

fn write_discord(out: &mut String, d: &DiscordConfig) {
    let _ = writeln!(out, "\n[discord]");
    let optional = |out: &mut String, name: &str, v: &Option<String>, secret: bool| {
        let _ = match v {
            Some(_) if secret => writeln!(out, "{name} = {}", quoted(REDACTED)),
            Some(v) => writeln!(out, "{name} = {}", quoted(v)),
            None => writeln!(out, "# {name}: unset"),
        };
    };
    optional(out, "token", &d.token, true);
    optional(out, "info_command", &d.info_command, false);
    optional(out, "url", &d.url, false);
    optional(out, "client_id", &d.client_id, false);
    optional(out, "gateway_url", &d.gateway_url, false);
    optional(out, "api_url", &d.api_url, false);
    let _ = writeln!(out, "large_guild_members = {}", d.large_guild_members);
    let _ = match d.shards {
        Some(n) => writeln!(out, "shards = {n}"),
        None => writeln!(out, "shards = \"auto\""),
    };
    let _ = match &d.shard_range {
        Some(r) => writeln!(out, "shard_range = \"{}..{}\"", r.start, r.end),
        None => writeln!(out, "# shard_range: unset (this instance runs every shard)"),
    };
    let _ = match d.shard_total {
        Some(t) => writeln!(out, "shard_total = {t}"),
        None => writeln!(out, "# shard_total: unset"),
    };
    if d.servers.is_empty() {
        let _ = writeln!(out, "# servers: none listed, so every guild the bot is in");
    }
    let list = |v: &[String]| toml::Value::from(v.to_vec()).to_string();
    for s in &d.servers {
        let _ = writeln!(out, "\n[[discord.servers]]\nid = {}", quoted(&s.id));
        optional(out, "alias", &s.alias, false);
        let _ = writeln!(out, "default = {}", s.default);
        optional(out, "password", &s.password, true);
        let _ = writeln!(out, "ignore_channels = {}", list(&s.ignore_channels));
        let _ = writeln!(out, "ignore_users = {}", list(&s.ignore_users));
        let _ = writeln!(out, "listen_channels = {}", list(&s.listen_channels));
        match s.hide_offline {
            Some(hide) => {
                let _ = writeln!(out, "hide_offline = {hide}");
            }
            None => {
                let _ = writeln!(
                    out,
                    "# hide_offline: unset (offline members hidden above large_guild_members)"
                );
            }
        }
        let _ = writeln!(out, "protected = {}", s.protected);
        optional(out, "client_id", &s.client_id, false);
    }
}

/// The Discord part of the example: the bot's keys are not command-line
/// options, so their help lives here.
const DISCORD_EXAMPLE: &str = r#"
# The built-in Discord bot. Without a token d-back shows mock servers.
# [discord]
# The bot token; prefer the DISCORD_TOKEN environment variable (a secret).
# token = "..."
# A chat command answered with the page's address.
# info_command = "!dzone"
# The page's address, for the info command's answer.
# url = "https://dzone.example.org/"
# OAuth2 client id for protected servers (DISCORD_CLIENT_ID); default: the bot's application id.
# client_id = "123456789012345678"
# Discord's gateway and REST base (D_BACK_DISCORD_GATEWAY_URL, D_BACK_DISCORD_API_URL), for proxies and tests.
# gateway_url = "wss://gateway.discord.gg"
# api_url = "https://discord.com"
# Guilds with more members than this show their online members only, unless
# their entry sets hide_offline = false (d-zone's advice for big servers).
# large_guild_members = 10000
# Gateway shards (--shards): "auto" starts Discord's recommendation (GET /gateway/bot)
# and more when Discord asks (close 4011); a number starts that many.
# shards = "auto"
# A bot split over machines: each instance runs its range of the shards (A..B, B
# excluded) out of the same total, with the same --redis-url; they take turns to
# identify through Redis and every instance serves every guild.
# shard_range = "0..4"
# shard_total = 8

# One entry per guild to show, in list order; none shows every guild the bot is in.
# [[discord.servers]]
# The guild snowflake.
# id = "232769614004748288"
# Shown name, and the source of the short id; default: the guild's name.
# alias = "D-World"
# Answers a `connect` for "default".
# default = false
# Legacy shared password (a secret; makes the server passworded).
# password = "..."
# Channels (names or ids) whose chat is not shown.
# ignore_channels = []
# Members (ids or user names) left out of the scene and the chat.
# ignore_users = []
# When not empty, only these channels' chat is shown.
# listen_channels = []
# Offline members are not drawn and their messages not shown; default: so
# only in guilds above large_guild_members.
# hide_offline = false
# Joining needs a Discord login.
# protected = false
# OAuth2 client id for this server (overrides the global one).
# client_id = "123456789012345678"
"#;

/// A commented file with every key and its default; `defaults` is what the
/// options parse to with no flag, environment or file.
pub fn example(cli: &Command, defaults: &toml::Table) -> String {
    let mut out = String::from(
        "# d-back --config d-back.toml\n\
         # Every key with its default, commented out. The environment and the\n\
         # command line win over this file. Check it with: d-back config check d-back.toml\n",
    );
    for key in KEYS {
        let arg = cli.get_arguments().find(|a| a.get_id() == key.name);
        let _ = writeln!(out);
        if let Some(arg) = arg {
            if let Some(help) = arg.get_help() {
                let _ = writeln!(out, "# {help}");
            }
            let flag = arg.get_long().map(|l| format!("--{l}"));
            let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
            let names: Vec<String> = flag.into_iter().chain(env).collect();
            if !names.is_empty() {
                let _ = writeln!(out, "# ({})", names.join(", "));
            }
        }
        let _ = match (defaults.get(key.name), key.example) {
            (Some(v), _) => writeln!(out, "# {} = {v}", key.name),
            (None, Some(e)) => writeln!(out, "# {} = {e}  (default: unset)", key.name),
            (None, None) => writeln!(out, "# {}: unset by default", key.name),
        };
    }
    out.push_str(DISCORD_EXAMPLE);
    out
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn url_passwords_are_hidden() {
        assert_eq!(
            without_password("redis://:pw@h:6379/0"),
            "redis://:<redacted>@h:6379/0"
        );
        assert_eq!(
            without_password("redis://u:p@ss@h/"),
            "redis://u:<redacted>@h/"
        );
        assert_eq!(without_password("redis://h:6379/"), "redis://h:6379/");
        assert_eq!(without_password("redis://user@h/"), "redis://user@h/");
    }
}

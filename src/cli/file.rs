//! The `--config FILE` of the `d-back` command: a TOML file with every
//! command-line option (snake_case) and a `[discord]` table, or d-zone's
//! own `discord-config.json` as it is (chosen by the `.json` extension).
//! The command line and the environment win over the file.
//!
//! A TOML file is read twice: once by `toml_edit`, which keeps every key's
//! byte span, to refuse unknown keys (naming the nearest known one) and to
//! say which key a wrong value belongs to; then by serde into
//! [`FileOptions`]. Every error starts with `FILE:LINE:COLUMN:`.

use std::ops::Range;
use std::path::{Path, PathBuf};

use d_back::discord::DiscordConfig;
use serde::Deserialize;
use toml_edit::{Item, TableLike, Value};

use crate::cli::keys::{self, DISCORD, DISCORD_KEYS, KEYS, SERVER_KEYS};

/// What the file may set; `None` leaves the command line's value.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FileOptions {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub base_path: Option<String>,
    pub static_dir: Option<PathBuf>,
    pub allowed_origins: Option<Vec<String>>,
    pub publish_token: Option<String>,
    pub max_connections: Option<usize>,
    pub max_connections_per_ip: Option<usize>,
    pub max_frame_bytes: Option<usize>,
    pub max_backlog_bytes: Option<usize>,
    /// "on" or "off", as the flag.
    pub compression: Option<String>,
    pub compression_level: Option<u32>,
    pub compression_min_bytes: Option<usize>,
    pub heartbeat_secs: Option<f64>,
    pub client_timeout_secs: Option<f64>,
    pub provider_timeout_secs: Option<f64>,
    pub shutdown_grace_secs: Option<f64>,
    pub close_timeout_secs: Option<f64>,
    pub no_mock_traffic: Option<bool>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub trusted_proxies: Option<Vec<String>>,
    pub metrics: Option<bool>,
    pub metrics_token: Option<String>,
    pub redis_url: Option<String>,
    pub source: Option<String>,
    pub discord: Option<DiscordConfig>,
}

/// Reads `path`; the error is one sentence naming the file (and, for a
/// file that does not parse, the line and column).
pub fn load(path: &Path) -> Result<FileOptions, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the config file {}: {e}", path.display()))?;
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if is_json {
        // serde_json's message already ends "at line L column C".
        let discord = DiscordConfig::from_dzone_json(&text).map_err(|e| {
            format!(
                "the d-zone config file {} is not valid: {e}",
                path.display()
            )
        })?;
        Ok(FileOptions {
            discord: Some(discord),
            ..FileOptions::default()
        })
    } else {
        load_toml(&text).map_err(|(span, what)| {
            let (line, column) = line_column(&text, span.start);
            format!("{}:{line}:{column}: {what}", path.display())
        })
    }
}

/// A problem at a byte range of the file.
type Located = (Range<usize>, String);

fn load_toml(text: &str) -> Result<FileOptions, Located> {
    let doc = toml_edit::ImDocument::parse(text)
        .map_err(|e| (e.span().unwrap_or(0..0), first_line(e.message())))?;
    check_keys(doc.as_table())?;
    toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let message = first_line(e.message());
        let what = match owner(doc.as_table(), "", span.start) {
            Some(path) => match keys::key(&path) {
                Some(k) => format!("`{path}` expects {}: {message}", k.expects),
                None => format!("`{path}`: {message}"),
            },
            None => message,
        };
        (span, what)
    })
}

fn first_line(message: &str) -> String {
    message.trim().lines().next().unwrap_or("").to_string()
}

/// 1-based line and column (in characters) of byte `offset`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Refuses a key that is not one of ours, at the top level, in
/// `[discord]` and in each `[[discord.servers]]`.
fn check_keys(top: &dyn TableLike) -> Result<(), Located> {
    let names = KEYS.iter().map(|k| k.name).chain([DISCORD]);
    known_only(top, "", names)?;
    let Some(discord) = top.get(DISCORD) else {
        return Ok(());
    };
    let Some(discord) = discord.as_table_like() else {
        return Ok(()); // serde says what it must be
    };
    known_only(discord, "[discord]", DISCORD_KEYS.iter().map(|k| k.0))?;
    for server in servers(discord) {
        known_only(
            server,
            "[[discord.servers]]",
            SERVER_KEYS.iter().map(|k| k.0),
        )?;
    }
    Ok(())
}

/// The server tables of `[discord]`, written as `[[discord.servers]]` or inline.
pub(crate) fn servers(discord: &dyn TableLike) -> Vec<&dyn TableLike> {
    match discord.get("servers") {
        Some(Item::ArrayOfTables(a)) => a.iter().map(|t| t as &dyn TableLike).collect(),
        Some(Item::Value(Value::Array(a))) => a
            .iter()
            .filter_map(|v| v.as_inline_table().map(|t| t as &dyn TableLike))
            .collect(),
        _ => Vec::new(),
    }
}

fn known_only<'a>(
    table: &dyn TableLike,
    in_what: &str,
    known: impl Iterator<Item = &'a str> + Clone,
) -> Result<(), Located> {
    for (name, _) in table.iter() {
        if known.clone().any(|k| k == name) {
            continue;
        }
        let span = table
            .get_key_value(name)
            .and_then(|(k, _)| k.span())
            .unwrap_or(0..0);
        let place = if in_what.is_empty() {
            String::new()
        } else {
            format!(" in {in_what}")
        };
        let hint = keys::nearest(name, known.clone())
            .map(|n| format!("; the nearest known key is `{n}`"))
            .unwrap_or_default();
        return Err((span, format!("unknown key `{name}`{place}{hint}")));
    }
    Ok(())
}

/// The dotted path of the innermost key whose value holds byte `offset`.
fn owner(table: &dyn TableLike, prefix: &str, offset: usize) -> Option<String> {
    for (name, item) in table.iter() {
        let path = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        };
        let inner = match item {
            Item::Table(t) => owner(t, &path, offset),
            Item::ArrayOfTables(a) => a.iter().find_map(|t| owner(t, &path, offset)),
            Item::Value(Value::InlineTable(t)) => owner(t, &path, offset),
            Item::Value(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_inline_table)
                .find_map(|t| owner(t, &path, offset)),
            _ => None,
        };
        if inner.is_some() {
            return inner;
        }
        if item.span().is_some_and(|s| s.contains(&offset)) {
            return Some(path);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters() {
        assert_eq!(line_column("a\nbé = 1", 5), (2, 3));
        assert_eq!(line_column("x", 0), (1, 1));
    }
}
